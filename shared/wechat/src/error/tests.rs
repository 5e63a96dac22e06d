use super::*;

const KNOWN_ERRCODES: &[i64] = &[
    -1, 40001, 40003, 40013, 40014, 40029, 40037, 40125, 40163, 40164, 40226, 41001, 41030, 42001, 42002, 42003, 43004,
    43101, 45002, 45009, 45011, 45015, 45047, 46003, 47003, 48001, 87009, 87014,
];

#[test]
fn every_known_errcode_round_trips_through_its_variant_with_a_unique_kind() {
    let mut kinds = std::collections::HashSet::new();
    for &code in KNOWN_ERRCODES {
        let err = WechatError::from_errcode(code, "msg");
        assert_eq!(err.errcode(), Some(code), "{code}");
        assert!(!matches!(err, WechatError::OtherErrcode { .. }), "{code} should be typed");
        assert!(err.kind().starts_with("wechat-"), "{code}");
        assert!(kinds.insert(err.kind()), "kind of {code} is not unique");
    }
}

#[test]
fn code_been_used_is_typed_and_named_wechat_code_used() {
    let err = WechatError::from_errcode(40163, "code been used, rid: 1");
    assert!(matches!(err, WechatError::CodeUsed { ref errmsg } if errmsg == "code been used, rid: 1"));
    assert_eq!(err.kind(), "wechat-code-used");
}

#[test]
fn only_40001_40014_and_42001_ask_for_a_token_refresh() {
    for code in KNOWN_ERRCODES.iter().copied().chain([40016, 99999]) {
        let expected = matches!(code, 40001 | 40014 | 42001);
        assert_eq!(WechatError::from_errcode(code, "").is_token_invalid(), expected, "{code}");
    }
}

#[test]
fn menu_errcodes_share_one_variant_but_keep_the_exact_code() {
    for code in [40016, 40017, 40018, 40019, 40023, 40024, 40025, 40026, 40027, 40054, 40055] {
        let err = WechatError::from_errcode(code, "invalid button");
        assert_eq!(err.kind(), "wechat-invalid-menu");
        assert_eq!(err.errcode(), Some(code));
    }
}

#[test]
fn unknown_errcodes_are_kept_verbatim() {
    let err = WechatError::from_errcode(61024, "whatever");
    assert_eq!(err.kind(), "wechat-api-error");
    assert_eq!(err.errcode(), Some(61024));
    assert!(err.to_string().contains("61024"));
}

#[test]
fn errcode_status_zero_or_absent_is_success() {
    let ok: ErrcodeStatus = serde_json::from_str(r#"{"errcode":0,"errmsg":"ok"}"#).unwrap();
    assert!(ok.into_result().is_ok());
    let absent: ErrcodeStatus = serde_json::from_str(r#"{"access_token":"T","expires_in":7200}"#).unwrap();
    assert!(absent.into_result().is_ok());
    let failed: ErrcodeStatus = serde_json::from_str(r#"{"errcode":42001,"errmsg":"access_token expired"}"#).unwrap();
    assert!(failed.into_result().unwrap_err().is_token_invalid());
}

#[test]
fn pay_error_body_parses_code_message_and_detail() {
    let body = br#"{"code":"PARAM_ERROR","message":"bad amount","detail":{"field":"/amount/total","value":0,"issue":"must be > 0","location":"body"}}"#;
    let parsed = PayErrorBody::parse(body).unwrap();
    assert_eq!(parsed.code, PayErrorCode::ParamError);
    assert_eq!(parsed.message, "bad amount");
    let detail = parsed.detail.unwrap();
    assert_eq!(detail.field.as_deref(), Some("/amount/total"));
    assert_eq!(detail.value, Some(serde_json::json!(0)));
    assert_eq!(detail.location.as_deref(), Some("body"));
    let err = WechatError::from_pay_response(400, body);
    assert_eq!(err.kind(), "wechatpay-param-error");
    assert_eq!(err.errcode(), None);
}

#[test]
fn pay_error_codes_with_two_spellings_map_to_one_variant() {
    assert_eq!(PayErrorCode::from("NOTENOUGH".to_owned()), PayErrorCode::NotEnough);
    assert_eq!(PayErrorCode::from("ORDERNOTEXIST".to_owned()), PayErrorCode::OrderNotExist);
    let other = PayErrorCode::from("NEW_CODE".to_owned());
    assert_eq!(other.as_str(), "NEW_CODE");
    assert_eq!(other.kind(), "wechatpay-error");
    assert_eq!(serde_json::to_string(&other).unwrap(), r#""NEW_CODE""#);
}

#[test]
fn a_non_json_pay_error_body_still_keeps_the_status() {
    let err = WechatError::from_pay_response(502, b"<html>bad gateway</html>");
    assert!(matches!(err, WechatError::PayApi { status: 502, .. }));
    assert_eq!(err.kind(), "wechatpay-error");
}
