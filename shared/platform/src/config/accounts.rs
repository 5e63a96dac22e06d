//! Networked Service Accounts (`[[channel.accounts]]`, issue #20): departmental accounts (the
//! health commission, the traffic police, ...) that the channel service handles beside the
//! city's own (`wechat.oa_*`, key `city`), each with its appid, AppSecret, server token,
//! EncodingAESKey, callback mode and menu, all served by one agent pool.
//!
//! Unset (`channel.accounts` absent): a demo has two departmental demo accounts ([`demo_accounts`])
//! whose credentials are derived from the demo's generated set (the city's own AppSecret, token
//! and key as filled by `profile::prepare`), so nothing is a constant of the source; production
//! has none. Configured in production, every account needs its own secret, token and key, none a
//! demo value, and no demo appid; the start is refused naming the account and key otherwise.
//!
//! In `city.toml`:
//! ```toml
//! [[channel.accounts]]
//! key = "health"
//! name_zh = "市卫健委"
//! name_en = "Health Commission"
//! appid = "wx..."
//! secret = "..."
//! token = "..."
//! aes_key = "..."
//! callback_mode = "safe"          # optional; the city's mode when unset
//! menu = "/etc/city/health-menu.json"   # optional; seeds/wechat/accounts/<key>/menu.json
//! ```

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CallbackMode, ConfigError, Profile, Secret, Settings};

/// The city's own account's key (its callback stays `/wechat/callback`).
pub const CITY_ACCOUNT: &str = "city";

/// One departmental Service Account as configured. The credentials are never serialised, so
/// `city config` cannot print them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// URL-safe slug (`health`): its callback is `/wechat/callback/<key>`.
    pub key: String,
    /// Its name in Chinese, as followers see it.
    pub name_zh: String,
    /// Its name in English.
    pub name_en: String,
    /// Its AppID.
    pub appid: String,
    /// Its AppSecret (demo: derived from the demo set).
    #[serde(default, skip_serializing)]
    pub secret: Secret,
    /// Its server-configuration Token (demo: derived).
    #[serde(default, skip_serializing)]
    pub token: Secret,
    /// Its 43-character EncodingAESKey (demo: derived).
    #[serde(default, skip_serializing)]
    pub aes_key: Secret,
    /// Its message protection; the city's (`wechat.oa_callback_mode`) when unset.
    #[serde(default)]
    pub callback_mode: Option<CallbackMode>,
    /// Its menu's JSON; `seeds/wechat/accounts/<key>/menu.json` when unset.
    #[serde(default)]
    pub menu: Option<PathBuf>,
}

impl PartialEq for AccountSettings {
    fn eq(&self, o: &Self) -> bool {
        (&self.key, &self.name_zh, &self.name_en, &self.appid, self.callback_mode, &self.menu)
            == (&o.key, &o.name_zh, &o.name_en, &o.appid, o.callback_mode, &o.menu)
            && self.secret.expose() == o.secret.expose()
            && self.token.expose() == o.token.expose()
            && self.aes_key.expose() == o.aes_key.expose()
    }
}

impl Eq for AccountSettings {}

/// The demo's departmental accounts' appids (identifiers of the sandbox; refused in production).
pub const DEMO_ACCOUNT_APPIDS: [&str; 2] = ["wxcity0000000oa02", "wxcity0000000oa03"];

/// The demo's departmental accounts, credentials left to [`service_accounts`].
pub fn demo_accounts() -> Vec<AccountSettings> {
    let account = |key: &str, zh: &str, en: &str, appid: &str| AccountSettings {
        key: key.into(),
        name_zh: zh.into(),
        name_en: en.into(),
        appid: appid.into(),
        ..Default::default()
    };
    vec![
        account("health", "市卫健委", "Health Commission", DEMO_ACCOUNT_APPIDS[0]),
        account("traffic", "市交警", "Traffic Police", DEMO_ACCOUNT_APPIDS[1]),
    ]
}

/// A Service Account ready to use: the city's or a departmental one, credentials filled.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    /// `city`, or the departmental key.
    pub key: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// AppID.
    pub appid: String,
    /// AppSecret.
    pub secret: Secret,
    /// Server token.
    pub token: Secret,
    /// EncodingAESKey.
    pub aes_key: Secret,
    /// Message protection in effect.
    pub callback_mode: CallbackMode,
    /// Where its menu comes from (`None`: the city's built-in seed).
    pub menu: Option<PathBuf>,
}

/// A demo credential of account `key`, derived from the city's corresponding demo value: stable
/// per data directory (every process of a split demo derives the same), valid nowhere else.
fn derived(city_value: &str, key: &str, what: &str) -> String {
    let digest = Sha256::digest(format!("city-account\0{key}\0{what}\0{city_value}").as_bytes());
    match what {
        "secret" => hex::encode(digest),
        // Letters and digits, 32 at most, as WeChat's console allows.
        "token" => hex::encode(&digest[..16]),
        // 32 bytes in base64 without the final `=`: exactly 43 characters.
        _ => base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest),
    }
}

/// The demo values account `key` would get from the city's values `(secret, token, aes_key)`.
fn demo_values(city: (&str, &str, &str), key: &str) -> [String; 3] {
    [derived(city.0, key, "secret"), derived(city.1, key, "token"), derived(city.2, key, "aes_key")]
}

/// The departmental accounts in effect: configured ones, else the demo's in a demo.
fn configured(settings: &Settings) -> Vec<AccountSettings> {
    match (&settings.channel.accounts, settings.profile) {
        (Some(list), _) => list.clone(),
        (None, Profile::Demo) => demo_accounts(),
        (None, Profile::Production) => Vec::new(),
    }
}

/// Every Service Account the channel handles: the city's first, then the departmental ones. In
/// a demo, a credential left unset is derived from the city's (already filled) demo values.
pub fn service_accounts(settings: &Settings) -> Vec<ServiceAccount> {
    let w = &settings.wechat;
    let city_mode = settings.oa_callback_mode();
    let mut all = vec![ServiceAccount {
        key: CITY_ACCOUNT.into(),
        name_zh: "成都市民服务".into(),
        name_en: "City Services".into(),
        appid: w.oa_appid.clone(),
        secret: w.oa_secret.clone(),
        token: w.oa_token.clone(),
        aes_key: w.oa_aes_key.clone(),
        callback_mode: city_mode,
        menu: None,
    }];
    let city = (w.oa_secret.expose(), w.oa_token.expose(), w.oa_aes_key.expose());
    for a in configured(settings) {
        let [secret, token, aes_key] = demo_values(city, &a.key);
        let fill = |given: &Secret, demo: String| {
            if given.expose().is_empty() && settings.profile == Profile::Demo {
                Secret::new(demo)
            } else {
                given.clone()
            }
        };
        all.push(ServiceAccount {
            secret: fill(&a.secret, secret),
            token: fill(&a.token, token),
            aes_key: fill(&a.aes_key, aes_key),
            callback_mode: a.callback_mode.unwrap_or(city_mode),
            menu: Some(
                a.menu.clone().unwrap_or_else(|| PathBuf::from(format!("seeds/wechat/accounts/{}/menu.json", a.key))),
            ),
            key: a.key,
            name_zh: a.name_zh,
            name_en: a.name_en,
            appid: a.appid,
        });
    }
    all
}

fn url_safe(key: &str) -> bool {
    !key.is_empty() && key.len() <= 32 && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Refuses accounts the channel could not serve, naming the account and key: keys not URL-safe
/// or repeated (or `city`), appids repeated or the city's, malformed tokens and keys; in
/// production also missing credentials, demo appids and demo values.
pub(crate) fn check(
    accounts: Option<&[AccountSettings]>,
    profile: Profile,
    data_dir: &Path,
    city_appid: &str,
) -> Result<(), ConfigError> {
    let Some(accounts) = accounts else { return Ok(()) };
    let demo_city = crate::secrets::DemoSecrets::read(&crate::secrets::DemoSecrets::path_in(data_dir)).ok().flatten();
    let mut findings = Vec::new();
    for (i, a) in accounts.iter().enumerate() {
        let at = |field: &str, why: &str| format!("channel.accounts[{i}].{field} (account `{}`): {why}", a.key);
        if !url_safe(&a.key) || a.key == CITY_ACCOUNT {
            findings.push(at("key", "1 to 32 of a-z, 0-9 and '-', not `city`"));
        }
        if accounts[..i].iter().any(|b| b.key == a.key) {
            findings.push(at("key", "used by another account"));
        }
        if a.appid.is_empty() || a.appid == city_appid || accounts[..i].iter().any(|b| b.appid == a.appid) {
            findings.push(at("appid", "required, and not another account's"));
        }
        let token = a.token.expose();
        if !token.is_empty() && !(3..=32).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
            findings.push(at("token", "3 to 32 letters and digits"));
        }
        let key = a.aes_key.expose();
        if !key.is_empty()
            && (key.len() != 43 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'))
        {
            findings.push(at("aes_key", "43 characters of base64"));
        }
        if profile != Profile::Production {
            continue;
        }
        if DEMO_ACCOUNT_APPIDS.contains(&a.appid.as_str()) {
            findings.push(at("appid", &format!("is the sandbox's demo value `{}`", a.appid)));
        }
        let demo = demo_city.as_ref().map(|d| demo_values((&d.oa_secret, &d.oa_token, &d.oa_aes_key), &a.key));
        for (n, (field, value)) in
            [("secret", &a.secret), ("token", &a.token), ("aes_key", &a.aes_key)].into_iter().enumerate()
        {
            if value.expose().is_empty() {
                findings.push(at(field, "missing"));
            } else if demo.as_ref().is_some_and(|d| d[n] == value.expose()) {
                findings.push(at(field, "is a demo value; configure the real one"));
            }
        }
    }
    if findings.is_empty() {
        Ok(())
    } else {
        Err(ConfigError(findings.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(profile: Profile) -> Settings {
        let mut s = Settings { profile, ..Settings::default() };
        s.wechat.oa_secret = Secret::new("a".repeat(32));
        s.wechat.oa_token = Secret::new("citytoken");
        s.wechat.oa_aes_key = Secret::new("b".repeat(43));
        s
    }

    fn real(key: &str, appid: &str) -> AccountSettings {
        AccountSettings {
            key: key.into(),
            name_zh: "卫健委".into(),
            name_en: "Health".into(),
            appid: appid.into(),
            secret: Secret::new("c".repeat(32)),
            token: Secret::new("healthtoken1"),
            aes_key: Secret::new("d".repeat(43)),
            ..Default::default()
        }
    }

    #[test]
    fn a_demo_has_two_departmental_accounts_with_derived_credentials_and_production_none() {
        let demo = service_accounts(&settings(Profile::Demo));
        let keys: Vec<&str> = demo.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["city", "health", "traffic"]);
        let health = &demo[1];
        assert_eq!(health.aes_key.expose().len(), 43);
        assert_eq!(health.secret.expose().len(), 64);
        assert!(health.token.expose().len() <= 32);
        assert_ne!(health.token.expose(), demo[2].token.expose(), "each account its own token");
        assert_ne!(health.token.expose(), "citytoken");
        // Stable: a second process of the same demo derives the same.
        assert_eq!(service_accounts(&settings(Profile::Demo))[1].token.expose(), health.token.expose());
        assert!(check(Some(&demo_accounts()), Profile::Demo, Path::new("/nonexistent"), "wxcity").is_ok());
        assert_eq!(service_accounts(&settings(Profile::Production)).len(), 1);
    }

    #[test]
    fn production_refuses_missing_and_demo_credentials_and_demo_appids_naming_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let city = "wx2b7e4d9a1c3f5068";
        assert!(check(Some(&[real("health", "wx11")]), Profile::Production, dir.path(), city).is_ok());
        let missing = AccountSettings { token: Secret::default(), ..real("health", "wx11") };
        let err = check(Some(&[missing]), Profile::Production, dir.path(), city).unwrap_err().0;
        assert!(err.contains("channel.accounts[0].token (account `health`): missing"), "{err}");
        let err = check(Some(&[real("health", DEMO_ACCOUNT_APPIDS[0])]), Profile::Production, dir.path(), city)
            .unwrap_err()
            .0;
        assert!(err.contains("appid") && err.contains("demo value"), "{err}");
        // The demo of this data directory derived its values: production recognises them.
        let (demo, _) = crate::secrets::DemoSecrets::load_or_create(dir.path()).unwrap();
        let [_, token, _] = demo_values((&demo.oa_secret, &demo.oa_token, &demo.oa_aes_key), "health");
        let copied = AccountSettings { token: Secret::new(token), ..real("health", "wx11") };
        let err = check(Some(std::slice::from_ref(&copied)), Profile::Production, dir.path(), city).unwrap_err().0;
        assert!(err.contains("token (account `health`): is a demo value"), "{err}");
        // A demo takes what production refuses.
        assert!(check(Some(&[copied]), Profile::Demo, dir.path(), city).is_ok());
    }

    #[test]
    fn keys_and_appids_must_be_usable_and_distinct() {
        let dir = Path::new("/nonexistent");
        let cases = [
            (vec![real("Health Dept", "wx11")], "[0].key"),
            (vec![real("city", "wx11")], "[0].key"),
            (vec![real("health", "wx11"), real("health", "wx12")], "[1].key"),
            (vec![real("health", "wx11"), real("traffic", "wx11")], "[1].appid"),
            (vec![real("health", "wxcity")], "[0].appid"),
            (vec![AccountSettings { token: Secret::new("no spaces!"), ..real("health", "wx11") }], "[0].token"),
            (vec![AccountSettings { aes_key: Secret::new("short"), ..real("health", "wx11") }], "[0].aes_key"),
        ];
        for (accounts, named) in cases {
            let err = check(Some(&accounts), Profile::Demo, dir, "wxcity").unwrap_err().0;
            assert!(err.contains(&format!("channel.accounts{named}")), "{named}: {err}");
        }
    }

    #[test]
    fn a_toml_array_configures_them_and_credentials_never_serialise() {
        let text = r#"
            [[accounts]]
            key = "health"
            name_zh = "卫健委"
            name_en = "Health"
            appid = "wx11"
            secret = "s3cr3t"
            token = "tok123"
            aes_key = "k"
            callback_mode = "safe"
        "#;
        use figment::providers::Format;
        let c: super::super::ChannelSettings =
            figment::Figment::from(figment::providers::Toml::string(text)).extract().unwrap();
        let a = &c.accounts.as_ref().unwrap()[0];
        assert_eq!((a.key.as_str(), a.token.expose(), a.callback_mode), ("health", "tok123", Some(CallbackMode::Safe)));
        let shown = serde_json::to_string(&c).unwrap();
        assert!(!shown.contains("s3cr3t") && !shown.contains("tok123"), "{shown}");
    }
}
