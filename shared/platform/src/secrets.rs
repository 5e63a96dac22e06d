//! Where each secret setting comes from, and the demo's generated credentials.
//!
//! Every secret setting can be given inline (`city.toml`, `CITY_*`) or as a path to read it
//! from (`…_file` / `CITY_…_FILE`, as container secrets are mounted). [`SecretSource`] records
//! which, so `city config` can say where a value came from without showing it.
//!
//! [`DemoSecrets`] is the set a demo needs (WeChat app secrets, the Service Account token and
//! AES key, the WeChat Pay merchant and platform keys, the APIv3 key, identity's keys, the
//! internal token), generated on first start into the data directory with owner-only
//! permissions. Nothing here is a constant: the repository and the binary hold no key.
//!
//! Invariant: this module knows setting paths as text, never the `Settings` type, so the
//! configuration can use it without an import circle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// One secret setting.
#[derive(Debug, Clone, Copy)]
pub struct SecretKey {
    /// Its dotted path (`payments.api_v3_key`).
    pub path: &'static str,
    /// Part of the demo set: generated in `demo`, required in `production`.
    pub credential: bool,
}

/// Every secret setting, in the order `city config` lists them.
pub const SECRET_KEYS: &[SecretKey] = &[
    SecretKey { path: "wechat.mp_secret", credential: true },
    SecretKey { path: "wechat.oa_secret", credential: true },
    SecretKey { path: "wechat.oa_token", credential: true },
    SecretKey { path: "wechat.oa_aes_key", credential: true },
    SecretKey { path: "payments.merchant_private_key_pem", credential: true },
    SecretKey { path: "payments.api_v3_key", credential: true },
    SecretKey { path: "payments.platform_public_key_pem", credential: true },
    SecretKey { path: "identity.data_key", credential: true },
    SecretKey { path: "identity.hash_key", credential: true },
    SecretKey { path: "internal_token", credential: true },
    SecretKey { path: "payments.sandbox_platform_private_key_pem", credential: false },
    SecretKey { path: "database_url", credential: false },
    SecretKey { path: "redis_url", credential: false },
    SecretKey { path: "notify.smtp_url", credential: false },
];

/// Settings that are text however they look: read from the environment as written, so a
/// merchant id `1234567890` or a token `0123456789` stays the text it is.
const TEXT_KEYS: &[&str] = &[
    "payments.mchid",
    "payments.merchant_serial_no",
    "payments.platform_public_key_id",
    "wechat.mp_appid",
    "wechat.oa_appid",
    "wechat.oa_token",
];

/// The variable that sets `path` (`payments.api_v3_key` → `CITY_PAYMENTS__API_V3_KEY`).
pub fn env_name(path: &str) -> String {
    format!("CITY_{}", path.replace('.', "__").to_ascii_uppercase())
}

/// Where a secret's value came from. Never the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Not set anywhere.
    Unset,
    /// A `CITY_*` variable.
    Environment,
    /// `city.toml` (or the configuration handed to the loader).
    Configuration,
    /// Read from this file (`…_FILE`).
    File(PathBuf),
    /// The demo set generated in this file.
    Generated(PathBuf),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unset => f.write_str("unset"),
            Self::Environment => f.write_str("environment"),
            Self::Configuration => f.write_str("configuration file"),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Generated(path) => write!(f, "generated (demo) in {}", path.display()),
        }
    }
}

/// Where each secret came from, by path.
pub type SecretSources = BTreeMap<&'static str, SecretSource>;

/// The `CITY_*` variables as a figment provider: `__` nests, the flat WeChat and mail names
/// still work, test switches (`CITY_TEST_*`) are left out, and the [`TEXT_KEYS`] and every
/// secret keep their text exactly (figment would read `0123` as the number 123).
#[derive(Debug, Clone, Default)]
pub struct CityEnv;

impl CityEnv {
    fn variables() -> Vec<(String, String)> {
        std::env::vars()
            .filter_map(|(key, value)| {
                let rest = key.strip_prefix("CITY_")?;
                let lower = rest.to_ascii_lowercase();
                // Test switches and the staff command's password share the prefix but are not settings.
                if lower.starts_with("test_") || lower == "staff_password" || value.is_empty() {
                    return None;
                }
                Some((map_key(&lower), value))
            })
            .collect()
    }
}

/// `rate_limit__per_ip` → `rate_limit.per_ip`; the older flat names reach their sections.
fn map_key(lower: &str) -> String {
    let nested = lower.replace("__", ".");
    match nested.as_str() {
        "smtp_url" => return "notify.smtp_url".into(),
        "notify_from" => return "notify.from".into(),
        _ => {}
    }
    match nested.strip_prefix("wechat_") {
        Some(rest) => format!("wechat.{rest}"),
        None => nested,
    }
}

fn is_text_key(path: &str) -> bool {
    TEXT_KEYS.contains(&path)
        || path.ends_with("_file")
        || path.ends_with("_path")
        || SECRET_KEYS.iter().any(|k| k.path == path)
}

impl Provider for CityEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named("`CITY_` environment variable(s)")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (path, raw) in Self::variables() {
            let value = if is_text_key(&path) { Value::from(raw) } else { raw.parse().expect("infallible") };
            insert_path(&mut dict, &path, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Sets `path` (dotted) in `dict`, making the tables on the way.
pub(crate) fn insert_path(dict: &mut Dict, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            dict.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict.entry(head.to_owned()).or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

fn remove_path(dict: &mut Dict, path: &str) -> Option<Value> {
    match path.split_once('.') {
        None => dict.remove(path),
        Some((head, rest)) => match dict.get_mut(head) {
            Some(Value::Dict(_, inner)) => remove_path(inner, rest),
            _ => None,
        },
    }
}

fn get_path<'a>(dict: &'a Dict, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        None => dict.get(path),
        Some((head, rest)) => match dict.get(head) {
            Some(Value::Dict(_, inner)) => get_path(inner, rest),
            _ => None,
        },
    }
}

/// The merged configuration with every `…_file` read into its setting (and removed), and where
/// each secret came from. A file that cannot be read is an error naming the setting.
pub(crate) fn read_secret_files(figment: &Figment) -> Result<(Dict, SecretSources), String> {
    let mut dict: Dict = figment.extract().map_err(|e| e.to_string())?;
    let mut sources = SecretSources::new();
    for key in SECRET_KEYS {
        let file_key = format!("{}_file", key.path);
        // The merchant key's older spelling of the same thing.
        let legacy = (key.path == "payments.merchant_private_key_pem").then_some("payments.merchant_private_key_path");
        let file = remove_path(&mut dict, &file_key)
            .or_else(|| legacy.and_then(|l| remove_path(&mut dict, l)))
            .and_then(|v| v.into_string())
            .filter(|p| !p.is_empty());
        let source = if let Some(file) = file {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("{file_key} ({}_FILE): cannot read {file}: {e}", env_name(key.path)))?;
            // `echo secret > file` leaves a newline no secret ends with.
            insert_path(&mut dict, key.path, Value::from(text.trim_end().to_owned()));
            SecretSource::File(PathBuf::from(file))
        } else {
            let set = get_path(&dict, key.path).is_some_and(|v| match v {
                Value::String(_, s) => !s.is_empty(),
                Value::Empty(..) => false,
                _ => true,
            });
            if !set {
                SecretSource::Unset
            } else if figment.find_metadata(key.path).is_some_and(|m| m.name.contains("environment")) {
                SecretSource::Environment
            } else {
                SecretSource::Configuration
            }
        };
        sources.insert(key.path, source);
    }
    Ok((dict, sources))
}

/// The credentials of a demo: valid nowhere but this demo's own sandbox, generated once per
/// data directory, shared by every process of a split demo that reads that directory.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DemoSecrets {
    /// The Mini Program's AppSecret (32 hex digits, like WeChat's).
    pub mp_secret: String,
    /// The Service Account's AppSecret.
    pub oa_secret: String,
    /// The Service Account's server Token (32 letters and digits).
    pub oa_token: String,
    /// The Service Account's 43-character EncodingAESKey.
    pub oa_aes_key: String,
    /// The WeChat Pay APIv3 key (32 characters).
    pub api_v3_key: String,
    /// The merchant's API private key (PKCS#8 PEM).
    pub merchant_private_key_pem: String,
    /// The sandbox's WeChat Pay platform private key (PKCS#8 PEM): it signs answers and notifications.
    pub platform_private_key_pem: String,
    /// Its public half (SPKI PEM), what the merchant verifies with.
    pub platform_public_key_pem: String,
    /// Identity's key for personal data at rest.
    pub data_key: String,
    /// Identity's key for ID-number hashes.
    pub hash_key: String,
    /// What services present to each other's internal endpoints.
    pub internal_token: String,
}

impl std::fmt::Debug for DemoSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoSecrets(****)")
    }
}

/// The file name of the demo set inside the data directory.
pub const DEMO_SECRETS_FILE: &str = "demo-secrets.toml";

fn random_text(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

fn random_hex(len: usize) -> String {
    let bytes: Vec<u8> = (0..len.div_ceil(2)).map(|_| rand::thread_rng().gen()).collect();
    hex::encode(bytes)[..len].to_owned()
}

/// Two RSA-2048 key pairs take a second or two; a process (a test binary opens hundreds of
/// data directories) makes them once.
fn rsa_pairs() -> &'static (String, String, String) {
    static PAIRS: OnceLock<(String, String, String)> = OnceLock::new();
    PAIRS.get_or_init(new_rsa_pairs)
}

/// A merchant private key, a platform private key and the platform's public key, all new.
fn new_rsa_pairs() -> (String, String, String) {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let mut rng = rand::thread_rng();
    let merchant = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("an RSA key generates");
    let platform = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("an RSA key generates");
    let pem = |k: &rsa::RsaPrivateKey| k.to_pkcs8_pem(LineEnding::LF).expect("a key encodes").to_string();
    let public = platform.to_public_key().to_public_key_pem(LineEnding::LF).expect("a public key encodes").to_string();
    (pem(&merchant), pem(&platform), public)
}

impl DemoSecrets {
    /// A fresh set (the RSA keys are made once per process).
    pub fn generate() -> Self {
        Self::with_keys(rsa_pairs().clone())
    }

    /// A fresh set with key pairs of its own, never shared with another set of this process
    /// (a production configuration in tests).
    pub fn generate_unshared() -> Self {
        Self::with_keys(new_rsa_pairs())
    }

    fn with_keys((merchant, platform, platform_public): (String, String, String)) -> Self {
        use base64::Engine;
        let aes: [u8; 32] = rand::thread_rng().gen();
        Self {
            mp_secret: random_hex(32),
            oa_secret: random_hex(32),
            oa_token: random_text(32),
            // 32 random bytes in base64 without the final `=`: exactly 43 characters.
            oa_aes_key: base64::engine::general_purpose::STANDARD_NO_PAD.encode(aes),
            api_v3_key: random_text(32),
            merchant_private_key_pem: merchant,
            platform_private_key_pem: platform,
            platform_public_key_pem: platform_public,
            data_key: random_text(43),
            hash_key: random_text(43),
            internal_token: random_text(43),
        }
    }

    /// The value this set holds for the setting at `path`, if it is one of the set.
    pub fn value_of(&self, path: &str) -> Option<&str> {
        Some(match path {
            "wechat.mp_secret" => &self.mp_secret,
            "wechat.oa_secret" => &self.oa_secret,
            "wechat.oa_token" => &self.oa_token,
            "wechat.oa_aes_key" => &self.oa_aes_key,
            "payments.api_v3_key" => &self.api_v3_key,
            "payments.merchant_private_key_pem" => &self.merchant_private_key_pem,
            "payments.platform_public_key_pem" => &self.platform_public_key_pem,
            "payments.sandbox_platform_private_key_pem" => &self.platform_private_key_pem,
            "identity.data_key" => &self.data_key,
            "identity.hash_key" => &self.hash_key,
            "internal_token" => &self.internal_token,
            _ => return None,
        })
    }

    /// Whether the set holds a value for the setting at `path`.
    pub fn covers(path: &str) -> bool {
        SECRET_KEYS.iter().any(|k| k.path == path && (k.credential || path.starts_with("payments.sandbox_")))
    }

    /// Where the set of a data directory lives.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(DEMO_SECRETS_FILE)
    }

    /// Reads the set at `path`, if there is one.
    pub fn read(path: &Path) -> Result<Option<Self>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => figment::Figment::from(<figment::providers::Toml as figment::providers::Format>::string(&text))
                .extract()
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// The set of `data_dir`, generated and written (owner read/write only) when there is none
    /// yet; `true` when this call made it. Two processes starting at once agree: the file is
    /// created exclusively, and the loser reads the winner's.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, bool), String> {
        let path = Self::path_in(data_dir);
        if let Some(existing) = Self::read(&path)? {
            return Ok((existing, false));
        }
        std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let fresh = Self::generate();
        match fresh.write_new(&path) {
            Ok(()) => Ok((fresh, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Another process of the demo is writing it: wait for the whole file.
                for _ in 0..50 {
                    if let Ok(Some(theirs)) = Self::read(&path) {
                        return Ok((theirs, false));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Self::read(&path)?.map(|s| (s, false)).ok_or_else(|| format!("{}: unreadable", path.display()))
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn write_new(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        file.write_all(self.to_toml().as_bytes())?;
        file.sync_all()
    }

    fn to_toml(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or_default();
        let mut out = String::from(
            "# DEMO credentials of this data directory, generated at first start (`city demo-secrets init`).\n\
             # Valid only against this demo's own WeChat sandbox. Never use them in production.\n",
        );
        if let Some(map) = value.as_object() {
            for (key, v) in map {
                // A JSON string is a valid TOML basic string.
                out.push_str(&format!("{key} = {v}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demo_set_is_written_owner_only_once_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = DemoSecrets::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (again, created_again) = DemoSecrets::load_or_create(dir.path()).unwrap();
        assert!(!created_again);
        assert!(first == again, "a second start reads the same set");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(DemoSecrets::path_in(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(first.oa_aes_key.len(), 43);
        assert_eq!(first.api_v3_key.len(), 32);
        assert!(first.oa_token.len() <= 32 && first.oa_token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(first.merchant_private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(first.platform_public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    }

    #[test]
    fn two_data_directories_get_different_secrets() {
        let (a, b) = (DemoSecrets::generate(), DemoSecrets::generate());
        assert_ne!(a.oa_token, b.oa_token);
        assert_ne!(a.data_key, b.data_key);
        assert_ne!(a.api_v3_key, b.api_v3_key);
    }

    #[test]
    fn variables_map_to_their_settings() {
        assert_eq!(map_key("rate_limit__per_ip"), "rate_limit.per_ip");
        assert_eq!(map_key("wechat_oa_appid"), "wechat.oa_appid");
        assert_eq!(map_key("smtp_url"), "notify.smtp_url");
        assert_eq!(env_name("payments.api_v3_key"), "CITY_PAYMENTS__API_V3_KEY");
        assert!(is_text_key("payments.mchid") && is_text_key("payments.api_v3_key_file"));
        assert!(!is_text_key("rate_limit.per_ip"));
    }
}
