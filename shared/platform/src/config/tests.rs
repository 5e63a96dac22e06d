//! The configuration's loading rules: layers, variables, files, masking.

use super::*;
use figment::providers::Serialized as S;

#[test]
fn defaults_run_the_embedded_portal_on_port_8080() {
    let s = Settings::load_from(Figment::new()).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert!(!s.is_distributed());
}

#[test]
fn a_bad_value_names_its_key_and_variable() {
    let err = Settings::load_from(Figment::new().merge(S::default("listen", "not-an-address"))).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("listen (CITY_LISTEN)"), "{msg}");
}

#[test]
fn a_mysql_url_is_refused_with_the_key_named() {
    let err = Settings::load_from(Figment::new().merge(S::default("database_url", "mysql://x"))).unwrap_err();
    assert!(err.to_string().contains("CITY_DATABASE_URL"), "{err}");
}

#[test]
fn flat_wechat_variables_reach_the_wechat_section() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("CITY_WECHAT_OA_APPID", "wx123");
        jail.set_env("CITY_WECHAT__MP_APPID", "wx456");
        jail.set_env("CITY_RATE_LIMIT__PER_IP", "7");
        let s = Settings::load_from(Figment::new().merge(env_provider())).unwrap();
        assert_eq!(s.wechat.oa_appid, "wx123");
        assert_eq!(s.wechat.mp_appid, "wx456");
        assert_eq!(s.rate_limit.per_ip, 7);
        Ok(())
    });
}

#[test]
fn mail_settings_come_from_the_notify_section_or_the_older_flat_variables() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("CITY_SMTP_URL", "smtp://relay:2525");
        jail.set_env("CITY_NOTIFY__FROM", "Chengdu <city@example.cn>");
        let s = Settings::load_from(Figment::new().merge(env_provider())).unwrap();
        assert_eq!(s.notify.smtp_url.as_ref().map(Secret::expose), Some("smtp://relay:2525"));
        assert_eq!(s.notify.from, "Chengdu <city@example.cn>");
        Ok(())
    });
    figment::Jail::expect_with(|jail| {
        jail.set_env("CITY_NOTIFY__SMTP_URL", "http://relay");
        let err = Settings::load_from(Figment::new().merge(env_provider())).unwrap_err();
        assert!(err.to_string().contains("CITY_NOTIFY__SMTP_URL"), "{err}");
        Ok(())
    });
}

#[test]
fn a_merchant_id_of_digits_is_text_from_a_variable_or_an_unquoted_toml_number() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("CITY_PAYMENTS__MCHID", "1234567890");
        jail.set_env("CITY_WECHAT__OA_TOKEN", "0123456789");
        let s = Settings::load_from(Figment::new().merge(env_provider())).unwrap();
        assert_eq!(s.payments.mchid, "1234567890");
        assert_eq!(s.wechat.oa_token.expose(), "0123456789", "a leading zero survives");
        assert_eq!(s.secret_sources["wechat.oa_token"], SecretSource::Environment);
        Ok(())
    });
    figment::Jail::expect_with(|jail| {
        jail.create_file("city.toml", "[payments]\nmchid = 1234567890\n")?;
        let s = Settings::load_from(Figment::new().merge(Toml::file("city.toml"))).unwrap();
        assert_eq!(s.payments.mchid, "1234567890");
        Ok(())
    });
    let err = Settings::load_from(Figment::new().merge(S::default("payments.mchid", "19x"))).unwrap_err();
    assert!(err.to_string().contains("CITY_PAYMENTS__MCHID"), "{err}");
}

#[test]
fn every_secret_reads_from_a_file_and_says_so_without_showing_it() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("v3key", "k3y0000000000000000000000000000a\n")?;
        jail.create_file("token", "filetoken\n")?;
        let dir = jail.directory().to_path_buf();
        jail.set_env("CITY_PAYMENTS__API_V3_KEY_FILE", dir.join("v3key").display().to_string());
        jail.set_env("CITY_INTERNAL_TOKEN_FILE", dir.join("token").display().to_string());
        jail.create_file("city.toml", "[identity]\ndata_key = \"from-toml-data-key\"\n")?;
        let s = Settings::load_from(Figment::new().merge(Toml::file("city.toml")).merge(env_provider())).unwrap();
        assert_eq!(s.payments.api_v3_key.expose(), "k3y0000000000000000000000000000a", "the newline is trimmed");
        assert_eq!(s.internal_token.as_ref().map(Secret::expose), Some("filetoken"));
        assert_eq!(s.secret_sources["payments.api_v3_key"], SecretSource::File(dir.join("v3key")));
        assert_eq!(s.secret_sources["identity.data_key"], SecretSource::Configuration);
        assert_eq!(s.secret_sources["wechat.oa_token"], SecretSource::Unset);
        let shown = s.to_masked_toml();
        assert!(!shown.contains("k3y000") && !shown.contains("filetoken") && !shown.contains("from-toml"), "{shown}");
        assert!(shown.contains("\"payments.api_v3_key\" = \"file "), "{shown}");
        assert!(shown.contains("profile = \"demo\""), "{shown}");
        Ok(())
    });
    figment::Jail::expect_with(|jail| {
        jail.set_env("CITY_WECHAT__OA_AES_KEY_FILE", "/nonexistent/aes");
        let err = Settings::load_from(Figment::new().merge(env_provider())).unwrap_err().to_string();
        assert!(err.contains("CITY_WECHAT__OA_AES_KEY_FILE") && err.contains("/nonexistent/aes"), "{err}");
        Ok(())
    });
}

#[test]
fn the_profile_comes_from_city_profile() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("CITY_PROFILE", "production");
        let s = Settings::load_from(Figment::new().merge(env_provider())).unwrap();
        assert_eq!(s.profile, Profile::Production);
        assert_eq!(s.oa_callback_mode(), CallbackMode::Safe);
        jail.set_env("CITY_PROFILE", "staging");
        let err = Settings::load_from(Figment::new().merge(env_provider())).unwrap_err();
        assert!(err.to_string().contains("profile (CITY_PROFILE)"), "{err}");
        Ok(())
    });
}

#[test]
fn the_masked_view_hides_passwords() {
    let s = Settings::load_from(
        Figment::new()
            .merge(S::default("database_url", "postgres://app:hunter2@db:5432/city"))
            .merge(S::default("notify", serde_json::json!({"smtp_url": "smtp://mail:s3cret@relay:25"}))),
    )
    .unwrap();
    let shown = s.to_masked_toml();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("s3cret") && shown.contains("smtp://****@relay:25"), "{shown}");
    assert!(shown.contains("postgres://****@db:5432/city"), "{shown}");
}
