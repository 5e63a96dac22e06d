use super::*;
use sha2::Digest as _;

const KEY_PKCS8: &str = include_str!("../testdata/test_key_pkcs8.pem");
const KEY_PKCS1: &str = include_str!("../testdata/test_key_pkcs1.pem");
const PUB_SPKI: &str = include_str!("../testdata/test_pub_spki.pem");
const PUB_PKCS1: &str = include_str!("../testdata/test_pub_pkcs1.pem");
const CERT: &str = include_str!("../testdata/test_cert.pem");
const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

const MCHID: &str = "1900000001";
const APPID: &str = "wx1234567890abcdef";
const NONCE: &str = "593BEC0C930BF1AFEB40B4A08C8FB242";
const ORDER_BODY: &str = r#"{"appid":"wx1234567890abcdef","mchid":"1900000001","description":"Traffic fine 2023-001","out_trade_no":"FINE20231114000001","notify_url":"https://city.example.cn/api/pay/notify","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUser000000000000000000001"}}"#;
const ORDER_SIGNATURE: &str = "N63e33ulULMnRX/U/g0tTIySShLZBn/tKwC95d4D/ISCXdtivbtNB2ms9HTsUlQSK6uD40v61NWehTpP8PBtxTOYWwPRmElrLS6ft/7bF+7bj8xcG55xDKdYE5o/WgP3rrjpDL3Sj1PNg/4fHcDZu3E23s3rQGysOdkiajydRfM5v/E+DOdwq0HehkyJjdwQw3IHL12cO40xou52Gi7ZliaSbnhGrphj3rsfbdx+z8v8YyNRuZE5Euj4LAFmyU4/KZHNbS8OPx0XMTWM9qhBQZSpdv9fUxpK6GcElfB411s0XXU3G4tNwwdDXJ0pUXKsPGn3MU6qiVGm/kY8/N7p9Q==";
const QUERY_URL: &str = "/v3/pay/transactions/out-trade-no/FINE20231114000001?mchid=1900000001";
const QUERY_SIGNATURE: &str = "G5zz5Hm6a45ujT+6ZlVNQnL0HcbwWQXEa81VO2+Ij1/28Ic8HWveS7IFxX7H3pZr4d2cfvoHDHu14Cuw1b2e2R9jULuRfsScZXk4lppVTff6/LLSflQRgZ7extUA1ZczFzhc+aQTDWizDhOdDkaj6LtV9b1JRDOWljoldYUl2QgG9izCz55qKTwwmjb2Afs4LcaL8Hj47rVc3c6w2Uz3QJLsVk5g4Oe7MeK5lm+cLqlFF7bzrb7kUSOoL/+oHWDy5b3p8vROWWf+r8arlnR2wi+NUa9SgDCCPax8Bz5BGks3v8x0OFs/2KUkrLIARWWCcGEYVWopz0//LUHnxtw+pA==";
const PAY_SIGN: &str = "SBisOCR01rIf8+sv/iWL/cB2VeeGFJMx4Ien1i1S7kz/xJNjK9eRNmYOgasiNfYZb3Szrges6LLvyde9qXvEI394ZVoM19U9hnUA+bC+Q2vrD2YEUdQJUbwHr2xnWK/gSrqouRL9QiFJsYgX9n0e6er13SP+V/Q+GhH8kyOat3LsVy/4+xHjnmgyAypiJa9HhIXmtaZcnlJVF5s5v1DdJgxpj4RHx0+a6jNtN9tzAuUVSxjPME9Ghkxm4+R8H9s98jl6uOgS/zV6nNFr6tKDdyrEAm5C/xTjlD4TfWh/q44vKskY4ES1PoZs+thBUL4R00LdFM++jbpf1olxjlw6DQ==";

const API_V3_KEY: &str = "0123456789abcdef0123456789abcdef";
const RESOURCE_NONCE: &str = "a1b2c3d4e5f6";
const TRANSACTION_JSON: &str = r#"{"mchid":"1900000001","appid":"wx1234567890abcdef","out_trade_no":"FINE20231114000001","transaction_id":"4200000000202311140000000001","trade_type":"JSAPI","trade_state":"SUCCESS","trade_state_desc":"ok","bank_type":"OTHERS","attach":"","success_time":"2023-11-14T22:13:20+08:00","payer":{"openid":"oUser000000000000000000001"},"amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}"#;
const RESOURCE_CIPHERTEXT: &str = "XB6Cd1TRZAa6voRFgdTB4CeZmKFSWRDOMgP6bbpVRLSdvbH+VDlQAzAGt/cwYDrmcAMJazp2UnXYqM2VnBzWazQqZRX3BZsflmDpHiPaGEGrRxylfFf2wGT514j+ETcd1hh7LF3IgtIBr+qZ2A3/QUH0N0vF01E/EThrDlNHPFaTCkasUoFwfYmIhdwU6N4fREQ2cU3Q2+CJVjUCgUBDzyBbQgKM9kmUuyd1klj7LtB8+QC54pOss07/x7uROi/6J8mA4bxBL+IHE2RSheO6SE8lzhl9WQ8+vUHuyIIvrib5RxqJw7N/7BJ3yVQIayPGVoXn+22dHiOjGWTOCLNoD45MEE61rUdTD1CQtPDUZ+BezCxuyYcgECfEq+UhLYaxFGq2uCuVW7YVWti4JsZ0nuHtpiyx8u829jWbcdG/at41Q9NxSIQGS40k8QplqMqecf65wXNuEvPxTiv4ndsEr46dHLSErBrzhS1pFNfGStieoIou1hIW0Fg4204l3h93xnhnJXYCUce4ccX4m2dnUoAD8q5t/OuNe/M/8kpV74pXC0a1w+9xbYA=";

const PLATFORM_SERIAL: &str = "PUB_KEY_ID_0119000000012023111400000000000001";
const NOTIFY_TIMESTAMP: &str = "1700000001";
const NOTIFY_NONCE: &str = "fd5a0c1f0c7e4b0e9a1d2c3b4a596877";
const NOTIFY_SIGNATURE: &str = "VG60Q5aFCLRw0KCb+HaIYP8ll4rg/4BLeuaqNQMVBCocrTIzoWVbMXdACTrtQRr7RikoEZJ7nWgxS8pffPuN7cMofvmzJs6ihxBwb0yjdELZaI68in9l+oNUTew7N0lPbNikQTSak+oaADg9yPe2cdw6jn9304m9/Pu7hFPtqK2wUh8cK48LKzQ8IsW2kqxrtcttqdMAdVEN42V/b7Y79wj4oPSsCoHvWNkmoyeBjuG9FGnqY2jYhk6vDCS14OZ8quGSxwrA5tfXFqkTxRg0RNMlE+fcj3fVvAfFa4AmJAHVKyAmBPlXk+DabMOszEUomMBWJi4YGVGqHzkMF/IZLg==";

fn key() -> PayPrivateKey {
    PayPrivateKey::from_pem(KEY_PKCS8).unwrap()
}

fn signer() -> MerchantSigner {
    MerchantSigner::new(MCHID, "MERCHANT_CERT_SERIAL", key())
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap()
}

fn notification_body() -> String {
    format!(
        r#"{{"id":"EV-2023111400000001","create_time":"2023-11-14T22:13:21+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"payment ok","resource":{{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"{RESOURCE_CIPHERTEXT}","associated_data":"transaction","nonce":"a1b2c3d4e5f6"}}}}"#
    )
}

fn notification_headers() -> WechatpayHeaders {
    WechatpayHeaders {
        timestamp: NOTIFY_TIMESTAMP.to_owned(),
        nonce: NOTIFY_NONCE.to_owned(),
        signature: NOTIFY_SIGNATURE.to_owned(),
        serial: PLATFORM_SERIAL.to_owned(),
        signature_type: Some(SIGNATURE_TYPE.to_owned()),
    }
}

fn platform_verifier() -> PayVerifier {
    let mut verifier = PayVerifier::new();
    verifier.add_key(PLATFORM_SERIAL, PayPublicKey::from_pem(PUB_SPKI).unwrap());
    verifier
}

fn resource(ciphertext: &str, associated_data: &str) -> EncryptedResource {
    EncryptedResource {
        original_type: Some("transaction".to_owned()),
        algorithm: AEAD_ALGORITHM.to_owned(),
        ciphertext: ciphertext.to_owned(),
        associated_data: associated_data.to_owned(),
        nonce: RESOURCE_NONCE.to_owned(),
    }
}

#[test]
fn order_request_signature_matches_vector_13_6a() {
    let message = request_message("POST", "/v3/pay/transactions/jsapi", 1700000000, NONCE, ORDER_BODY.as_bytes());
    let expected = format!("POST\n/v3/pay/transactions/jsapi\n1700000000\n{NONCE}\n{ORDER_BODY}\n");
    assert_eq!(message, expected.as_bytes());
    assert_eq!(key().sign(&message).unwrap(), ORDER_SIGNATURE);
}

#[test]
fn get_request_with_empty_body_signature_matches_vector_13_6b() {
    let message = request_message("GET", QUERY_URL, 1700000000, NONCE, b"");
    assert_eq!(message, format!("GET\n{QUERY_URL}\n1700000000\n{NONCE}\n\n").as_bytes());
    assert_eq!(key().sign(&message).unwrap(), QUERY_SIGNATURE);
}

#[test]
fn pkcs1_and_pkcs8_forms_of_the_test_key_sign_identically() {
    let pkcs1 = PayPrivateKey::from_pem(KEY_PKCS1).unwrap();
    let message = request_message("GET", QUERY_URL, 1700000000, NONCE, b"");
    assert_eq!(pkcs1.sign(&message).unwrap(), QUERY_SIGNATURE);
}

#[test]
fn jsapi_pay_params_match_vector_13_6c() {
    let params = signer()
        .jsapi_params(APPID, "wx141459550000000000000000000000", 1700000000, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")
        .unwrap();
    assert_eq!(params.pay_sign, PAY_SIGN);
    assert_eq!(params.package, "prepay_id=wx141459550000000000000000000000");
    assert_eq!(params.sign_type, "RSA");
    assert_eq!(params.time_stamp, "1700000000");
    let json = serde_json::to_value(&params).unwrap();
    assert_eq!(json["appId"], APPID);
    assert_eq!(json["timeStamp"], "1700000000");
    assert_eq!(json["nonceStr"], "5K8264ILTKCH16CQ2502SI8ZNMTM67VS");
    assert_eq!(json["signType"], "RSA");
    assert_eq!(json["paySign"], PAY_SIGN);
    assert!(params.verify(&key().public_key()).is_ok());
}

#[test]
fn notification_of_vector_13_6d_verifies_and_decrypts_to_the_13_5_transaction() {
    let body = notification_body();
    let digest = sha2::Sha256::digest(response_message(NOTIFY_TIMESTAMP, NOTIFY_NONCE, body.as_bytes()));
    assert_eq!(hex::encode(digest), "d513262f82e33ab54b4b5e5cfe51849dec916d75d0af9ff36d0e7a6b139d5843");

    platform_verifier().verify(&notification_headers(), body.as_bytes(), at(1700000001 + 5)).unwrap();
    let notification = Notification::parse(body.as_bytes()).unwrap();
    assert_eq!(notification.event_type, "TRANSACTION.SUCCESS");
    let plaintext = ApiV3Key::parse(API_V3_KEY).unwrap().decrypt_resource(&notification.resource).unwrap();
    assert_eq!(plaintext, TRANSACTION_JSON);
    let transaction: serde_json::Value = serde_json::from_str(&plaintext).unwrap();
    assert_eq!(transaction["amount"]["total"], 100);
}

#[test]
fn signing_the_notification_reproduces_the_13_6d_headers() {
    let headers =
        WechatpayHeaders::sign(&key(), PLATFORM_SERIAL, 1700000001, NOTIFY_NONCE, notification_body().as_bytes())
            .unwrap();
    assert_eq!(headers, notification_headers());
    let names: Vec<_> = headers.to_pairs().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, [HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SERIAL, HEADER_SIGNATURE_TYPE]);
}

#[test]
fn a_notification_with_one_flipped_body_byte_is_rejected() {
    let mut body = notification_body().into_bytes();
    body[10] ^= 1;
    let res = platform_verifier().verify(&notification_headers(), &body, at(1700000001));
    assert!(matches!(res, Err(WechatError::SignatureMismatch)));
}

#[test]
fn a_notification_from_an_unknown_serial_is_rejected() {
    let mut headers = notification_headers();
    headers.serial = "PUB_KEY_ID_0119000000012023111400000000000002".to_owned();
    let res = platform_verifier().verify(&headers, notification_body().as_bytes(), at(1700000001));
    assert!(matches!(res, Err(WechatError::UnknownSerial { .. })));
}

#[test]
fn a_stale_or_future_notification_is_rejected_even_with_a_valid_signature() {
    let body = notification_body();
    for now in [1700000001 + 301, 1700000001 - 301, Utc::now().timestamp()] {
        let res = platform_verifier().verify(&notification_headers(), body.as_bytes(), at(now));
        assert!(matches!(res, Err(WechatError::TimestampOutsideWindow { .. })), "now {now}");
    }
    for now in [1700000001 + 300, 1700000001 - 300] {
        assert!(platform_verifier().verify(&notification_headers(), body.as_bytes(), at(now)).is_ok(), "now {now}");
    }
}

#[test]
fn ring_verification_agrees_with_the_rsa_crate_on_good_and_bad_signatures() {
    let key = key();
    let public = key.public_key();
    assert!(public.ring_der.is_some(), "a 2048-bit key is verified by ring");
    let general = |message: &[u8], signature: &str| {
        let bytes = base64_decode("signature", signature).unwrap();
        Signature::try_from(bytes.as_slice()).ok().is_some_and(|s| public.verifying.verify(message, &s).is_ok())
    };
    for message in [&b""[..], b"a", ORDER_BODY.as_bytes(), &[0xffu8; 1000]] {
        let good = key.sign(message).unwrap();
        assert!(public.verify(message, &good).is_ok());
        assert!(general(message, &good));
        let mut other = message.to_vec();
        other.push(b'!');
        assert!(public.verify(&other, &good).is_err(), "another message");
        let mut bytes = base64_decode("signature", &good).unwrap();
        bytes[100] ^= 0x04;
        let flipped = base64_encode(&bytes);
        assert!(public.verify(message, &flipped).is_err() && !general(message, &flipped), "a flipped bit");
        assert!(public.verify(message, &base64_encode(&bytes[1..])).is_err(), "one byte short");
        let zeros = base64_encode(&vec![0u8; bytes.len()]);
        assert!(public.verify(message, &zeros).is_err(), "zero");
        let too_big = base64_encode(&vec![0xffu8; bytes.len()]);
        assert!(public.verify(message, &too_big).is_err(), "not below the modulus");
    }
}

#[test]
fn a_sign_test_probe_never_verifies() {
    let mut headers = notification_headers();
    headers.signature = format!("{SIGN_TEST_PREFIX}{NOTIFY_SIGNATURE}");
    let res = platform_verifier().verify(&headers, notification_body().as_bytes(), at(1700000001));
    assert!(matches!(res, Err(WechatError::SignatureMismatch)));
}

#[test]
fn another_signature_type_is_rejected() {
    let mut headers = notification_headers();
    headers.signature_type = Some("WECHATPAY2-SM2-WITH-SM3".to_owned());
    let res = platform_verifier().verify(&headers, notification_body().as_bytes(), at(1700000001));
    assert!(matches!(res, Err(WechatError::UnsupportedSignatureType(_))));
}

#[test]
fn a_garbage_signature_or_timestamp_is_an_error_not_a_panic() {
    let body = notification_body();
    for (signature, timestamp) in [
        ("", NOTIFY_TIMESTAMP),
        ("!!!", NOTIFY_TIMESTAMP),
        ("AAAA", NOTIFY_TIMESTAMP),
        (NOTIFY_SIGNATURE, "-1"),
        (NOTIFY_SIGNATURE, "abc"),
    ] {
        let mut headers = notification_headers();
        headers.signature = signature.to_owned();
        headers.timestamp = timestamp.to_owned();
        assert!(platform_verifier().verify(&headers, body.as_bytes(), at(1700000001)).is_err());
    }
}

#[test]
fn aead_resource_decrypts_as_in_vector_13_5() {
    let key = ApiV3Key::parse(API_V3_KEY).unwrap();
    assert_eq!(key.decrypt_resource(&resource(RESOURCE_CIPHERTEXT, "transaction")).unwrap(), TRANSACTION_JSON);
    let raw = base64_decode("ciphertext", RESOURCE_CIPHERTEXT).unwrap();
    assert_eq!(raw.len(), 425);
    assert_eq!(hex::encode(&raw[409..]), "f33ff24a55ef8a570b46b5c3ef716d80");
}

#[test]
fn aead_encryption_reproduces_vector_13_5_and_round_trips() {
    let key = ApiV3Key::parse(API_V3_KEY).unwrap();
    let encrypted = key.encrypt_resource(Some("transaction"), "transaction", RESOURCE_NONCE, TRANSACTION_JSON).unwrap();
    assert_eq!(encrypted, resource(RESOURCE_CIPHERTEXT, "transaction"));
    let fresh = key.encrypt_resource(None, "", &new_resource_nonce(), "{}").unwrap();
    assert_eq!(key.decrypt_resource(&fresh).unwrap(), "{}");
}

#[test]
fn a_tampered_resource_fails_the_gcm_tag() {
    let key = ApiV3Key::parse(API_V3_KEY).unwrap();
    // 'A' -> 'E' changes only data bits of the last base64 character, so decoding still succeeds.
    let tampered = RESOURCE_CIPHERTEXT.replace("xbYA=", "xbYE=");
    for (res, why) in [
        (resource(&tampered, "transaction"), "last ciphertext character"),
        (resource(RESOURCE_CIPHERTEXT, ""), "empty associated_data"),
        (resource(RESOURCE_CIPHERTEXT, "refund"), "other associated_data"),
    ] {
        assert!(matches!(key.decrypt_resource(&res), Err(WechatError::DecryptionFailed)), "{why}");
    }
    let wrong_key = ApiV3Key::parse("fedcba9876543210fedcba9876543210").unwrap();
    assert!(matches!(
        wrong_key.decrypt_resource(&resource(RESOURCE_CIPHERTEXT, "transaction")),
        Err(WechatError::DecryptionFailed)
    ));
    // 'A' -> 'B' sets filler bits: still rejected, as invalid base64.
    let non_canonical = RESOURCE_CIPHERTEXT.replace("xbYA=", "xbYB=");
    assert!(key.decrypt_resource(&resource(&non_canonical, "transaction")).is_err());
}

#[test]
fn malformed_resources_are_errors_not_panics() {
    let key = ApiV3Key::parse(API_V3_KEY).unwrap();
    let mut bad_nonce = resource(RESOURCE_CIPHERTEXT, "transaction");
    bad_nonce.nonce = "short".to_owned();
    assert!(matches!(key.decrypt_resource(&bad_nonce), Err(WechatError::InvalidNonce { .. })));
    let mut bad_algorithm = resource(RESOURCE_CIPHERTEXT, "transaction");
    bad_algorithm.algorithm = "AEAD_SM4_GCM".to_owned();
    assert!(matches!(key.decrypt_resource(&bad_algorithm), Err(WechatError::UnsupportedAlgorithm(_))));
    assert!(matches!(
        key.decrypt_resource(&resource("AAAA", "transaction")),
        Err(WechatError::MalformedCiphertext { .. })
    ));
    assert!(matches!(
        key.decrypt_resource(&resource("not base64", "transaction")),
        Err(WechatError::InvalidBase64 { .. })
    ));
}

#[test]
fn api_v3_key_must_be_32_bytes() {
    assert!(ApiV3Key::parse(&API_V3_KEY[..31]).is_err());
    assert!(ApiV3Key::parse(&format!("{API_V3_KEY}0")).is_err());
    assert_eq!(format!("{:?}", ApiV3Key::parse(API_V3_KEY).unwrap()), "ApiV3Key(***)");
}

#[test]
fn authorization_header_renders_in_the_documented_shape_and_parses_back() {
    let header =
        signer().authorize("POST", "/v3/pay/transactions/jsapi", ORDER_BODY.as_bytes(), 1700000000, NONCE).unwrap();
    let rendered = header.to_string();
    assert_eq!(
        rendered,
        format!(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="{NONCE}",signature="{ORDER_SIGNATURE}",timestamp="1700000000",serial_no="MERCHANT_CERT_SERIAL""#
        )
    );
    assert_eq!(AuthorizationHeader::parse(&rendered).unwrap(), header);
}

#[test]
fn the_sandbox_can_verify_a_signed_request_from_its_header() {
    let header =
        signer().authorize("POST", "/v3/pay/transactions/jsapi", ORDER_BODY.as_bytes(), 1700000000, NONCE).unwrap();
    let parsed = AuthorizationHeader::parse(&header.to_string()).unwrap();
    let merchant_public = PayPublicKey::from_pem(PUB_PKCS1).unwrap();
    assert!(parsed
        .verify(&merchant_public, "POST", "/v3/pay/transactions/jsapi", ORDER_BODY.as_bytes(), at(1700000100))
        .is_ok());
    let tampered = ORDER_BODY.replace("100", "1");
    let res =
        parsed.verify(&merchant_public, "POST", "/v3/pay/transactions/jsapi", tampered.as_bytes(), at(1700000100));
    assert!(matches!(res, Err(WechatError::SignatureMismatch)));
    let res =
        parsed.verify(&merchant_public, "POST", "/v3/pay/transactions/jsapi", ORDER_BODY.as_bytes(), at(1700000400));
    assert!(matches!(res, Err(WechatError::TimestampOutsideWindow { .. })));
}

#[test]
fn authorization_header_parsing_tolerates_spaces_and_order_but_not_gaps() {
    let loose = format!(
        r#"WECHATPAY2-SHA256-RSA2048 serial_no="S", timestamp="1700000000", signature="{ORDER_SIGNATURE}", nonce_str="{NONCE}", mchid="1900000001""#
    );
    let parsed = AuthorizationHeader::parse(&loose).unwrap();
    assert_eq!(parsed.serial_no, "S");
    assert_eq!(parsed.timestamp, 1700000000);

    let cases = [
        ("", "empty"),
        ("WECHATPAY2-SHA256-RSA2048", "no parameters"),
        (r#"Bearer mchid="1""#, "other scheme"),
        (r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",signature="s",timestamp="1""#, "serial_no missing"),
        (r#"WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="n",signature="s",timestamp="1",serial_no="x""#, "unquoted"),
        (
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="n",signature="s",timestamp="1",serial_no="x""#,
            "repeated",
        ),
        (
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",signature="s",timestamp="soon",serial_no="x""#,
            "bad timestamp",
        ),
        (
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",signature="s",timestamp="-5",serial_no="x""#,
            "negative timestamp",
        ),
    ];
    for (value, why) in cases {
        assert!(AuthorizationHeader::parse(value).is_err(), "{why}");
    }
}

#[test]
fn public_keys_load_from_spki_pkcs1_and_certificate_pem() {
    let message = request_message("GET", QUERY_URL, 1700000000, NONCE, b"");
    for pem in [PUB_SPKI, PUB_PKCS1, CERT] {
        assert!(PayPublicKey::from_pem(pem).unwrap().verify(&message, QUERY_SIGNATURE).is_ok());
    }
    assert!(key().public_key().verify(&message, QUERY_SIGNATURE).is_ok());
}

#[test]
fn platform_certificate_exposes_its_upper_case_serial_and_validity() {
    let cert = PlatformCertificate::from_pem(CERT).unwrap();
    assert_eq!(cert.serial_no, CERT_SERIAL);
    assert_eq!(cert.not_before, "2023-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
    assert_eq!(cert.not_after, "2043-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());

    let mut verifier = PayVerifier::new();
    verifier.add_certificate(cert);
    assert!(verifier.has_key(&CERT_SERIAL.to_ascii_lowercase()));
    let body = notification_body();
    let headers = WechatpayHeaders::sign(&key(), CERT_SERIAL, 1700000001, NOTIFY_NONCE, body.as_bytes()).unwrap();
    assert!(verifier.verify(&headers, body.as_bytes(), at(1700000001)).is_ok());
}

#[test]
fn unreadable_key_material_is_an_error() {
    for pem in ["", "garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", PUB_SPKI] {
        assert!(matches!(PayPrivateKey::from_pem(pem), Err(WechatError::InvalidPrivateKey { .. })));
    }
    for pem in ["", "garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", KEY_PKCS8] {
        assert!(matches!(PayPublicKey::from_pem(pem), Err(WechatError::InvalidPublicKey { .. })));
    }
    assert_eq!(format!("{:?}", key()), "PayPrivateKey(***)");
}

#[test]
fn nonces_have_the_documented_shapes_and_differ() {
    let nonce = new_nonce();
    assert_eq!(nonce.len(), 32);
    assert!(nonce.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
    assert_ne!(nonce, new_nonce());
    let resource_nonce = new_resource_nonce();
    assert_eq!(resource_nonce.len(), 12);
    assert!(resource_nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
}
