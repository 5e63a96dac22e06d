//! Layered configuration: built-in defaults, then an optional `city.toml`, then `CITY_*` variables.
//!
//! Parsed once at start-up into typed values; nothing reads the environment after that.
//! A bad value stops the program with a message naming the key.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

pub use crate::secrets::{env_name, SecretSource, SecretSources};
pub use accounts::{service_accounts, AccountSettings, ServiceAccount, CITY_ACCOUNT};
pub use channel::{AnnouncementSettings, ChannelSettings};
pub use console::ConsoleSettings;
pub use conversations::{minute_of_day, ConversationSettings};
pub use services::{GatewaySettings, ServiceAddr, ServiceUrls, Topology};

mod accounts;
mod channel;
mod console;
mod conversations;
mod services;

/// A configuration value that must not reach logs: `Debug` prints `****`.
/// Serialisable so figment can layer it; `city config` masks it before printing. Empty means
/// unset. Digits are text too (`CITY_WECHAT__OA_TOKEN=12345678` in a TOML file as a number).
#[derive(Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        text_or_number(deserializer).map(Secret)
    }
}

/// Text, accepting a bare number as its digits: a merchant id `1234567890` is an id, not a
/// quantity, whether it comes from `city.toml` unquoted or from a variable.
fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string (digits are accepted as text)")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    deserializer.deserialize_any(Text)
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value itself, for the one place that needs it (a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether no value was given.
    pub fn is_unset(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the process is: a demo anyone can try, or a deployment (`CITY_PROFILE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The default of a bare `cargo run`: the WeChat sandbox is mounted and every credential
    /// not configured is generated into `<data_dir>/demo-secrets.toml` at first start.
    #[default]
    Demo,
    /// A deployment: no sandbox, real https WeChat endpoints, every credential configured;
    /// the program refuses to start otherwise, naming each missing or demo value.
    Production,
}

/// How the Service Account's pushes are protected, as chosen in WeChat's console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackMode {
    /// 明文模式: plaintext pushes only (the signature covers the query, not the body).
    Plaintext,
    /// 兼容模式: both; a push marked `encrypt_type=aes` is read from its `Encrypt` only.
    Compatible,
    /// 安全模式: encrypted pushes only; a plaintext push is refused.
    Safe,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for development.
    Pretty,
    /// One JSON object per line, for log shippers in distributed mode.
    Json,
}

/// The whole portal's settings. Every field has a default so the all-in-one portal runs with none.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `demo` (the default) or `production` (`CITY_PROFILE`).
    pub profile: Profile,
    /// Where the HTTP server listens (`CITY_LISTEN`).
    pub listen: SocketAddr,
    /// Where embedded data lives: SQLite files, the e-mail outbox (`CITY_DATA_DIR`).
    pub data_dir: PathBuf,
    /// PostgreSQL URL; unset means one SQLite file per service under `data_dir` (`CITY_DATABASE_URL`).
    pub database_url: Option<Secret>,
    /// Prefix for PostgreSQL schema names, so tests can get a fresh set of schemas each
    /// (`CITY_SCHEMA_PREFIX`). Empty in production: the schema is the service name.
    pub schema_prefix: String,
    /// Largest number of pooled connections per service.
    pub db_max_connections: u32,
    /// Redis URL; unset means the in-process cache and event bus (`CITY_REDIS_URL`).
    pub redis_url: Option<Secret>,
    /// Prefix for every Redis key and stream, so tests and cities can share one Redis.
    pub redis_prefix: String,
    /// `pretty` or `json` (`CITY_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// The `tracing` filter, e.g. `info,city=debug` (`CITY_LOG`).
    pub log: String,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS; empty allows any origin (the Mini Program has none).
    pub cors_origins: Vec<String>,
    /// Rate limits.
    pub rate_limit: RateLimitSettings,
    /// Proxies whose `X-Forwarded-For` is believed, as CIDRs or addresses (`["10.0.0.0/8"]`;
    /// `CITY_TRUSTED_PROXIES`). None by default: the socket peer is the client. Behind a load
    /// balancer or the gateway, list their addresses; the right-most hop they did not add is
    /// the client.
    pub trusted_proxies: Vec<String>,
    /// How long a stored `Idempotency-Key` response is replayed, in seconds.
    pub idempotency_ttl_secs: u64,
    /// Seconds that in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Load the demo seeds when a store is empty at start.
    pub seed_demo_data: bool,
    /// A lively demo (issue #25; demo profile with `seed_demo_data` only): reports in every
    /// state on the map, bills and fines in every surcharge state, some nearly full days at the
    /// hospitals (`CITY_DEMO_ACTIVITY`). Tests turn it off to start from the bare seeds.
    #[serde(default = "default_true")]
    pub demo_activity: bool,
    /// The air service (`CITY_AIR__*`).
    #[serde(default)]
    pub air: AirSettings,
    /// Where each service lives when the services run apart (`city serve --gateway`, `--only`).
    pub services: ServiceUrls,
    /// The gateway's upstream timeout and replica ejection (`CITY_GATEWAY__*`).
    pub gateway: GatewaySettings,
    /// In-process or apart: set by the binary from its mode, never configured or guessed.
    #[serde(skip)]
    pub topology: Topology,
    /// WeChat apps, WeChat Pay merchant, and where their servers are.
    pub wechat: WechatSettings,
    /// Sign-in sessions and the keys protecting personal data (the identity service).
    pub identity: IdentitySettings,
    /// The payments service: WeChat Pay merchant credentials, order expiry, background jobs.
    pub payments: PaymentsSettings,
    /// Notification delivery: e-mail transport, sender, retry schedule (`CITY_NOTIFY__*`).
    pub notify: NotifySettings,
    /// The incidents service's photo limits (`CITY_INCIDENTS__*`).
    #[serde(default)]
    pub incidents: IncidentsSettings,
    /// The clerks' console (`CITY_CONSOLE__*`; see `config/console.rs`).
    #[serde(default)]
    pub console: ConsoleSettings,
    /// The channel service (`CITY_CHANNEL__*`; see `config/channel.rs`).
    #[serde(default)]
    pub channel: ChannelSettings,
    /// The shared secret services present to each other's `/v1/internal/...` endpoints in the
    /// `X-Internal-Token` header (`CITY_INTERNAL_TOKEN`). Unset: a random value per process,
    /// which is enough all-in-one; services running apart must all be given the same one.
    /// A demo takes it from its generated set; production requires it.
    pub internal_token: Option<Secret>,
    /// Where each secret came from (`city config`); filled by the loader, never serialised.
    #[serde(skip)]
    pub secret_sources: SecretSources,
    /// Whether [`crate::profile::prepare`] has checked this profile and filled the demo set.
    #[serde(skip)]
    pub prepared: bool,
}

/// The air service's settings (`CITY_AIR__*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AirSettings {
    /// In the demo profile (with `seed_demo_data`), feed the demo stations simulated hourly
    /// readings through the ingestion use case: 30 days backfilled at first start, then every
    /// hour (`CITY_AIR__DEMO_FEED`). Production never feeds anything.
    pub demo_feed: bool,
}

impl Default for AirSettings {
    fn default() -> Self {
        Self { demo_feed: true }
    }
}

fn default_true() -> bool {
    true
}

/// How notifications leave (the channel service delivers them). `CITY_NOTIFY__SMTP_URL`,
/// `CITY_NOTIFY__FROM`, ...; the older `CITY_SMTP_URL` and `CITY_NOTIFY_FROM` still work.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// The SMTP server for e-mail: `smtp://[user:pass@]host[:port]` (plaintext, a relay on the same
    /// host or network), `smtps://…` (TLS) or `smtp+starttls://…`. Unset: `.eml` files in `outbox_dir`.
    pub smtp_url: Option<Secret>,
    /// The sender (`City Services <noreply@city.example.cn>`).
    pub from: String,
    /// Seconds before each retry of a failed delivery; after the last, it is dead-lettered.
    pub retry_secs: Vec<u64>,
    /// Where mail files go without SMTP. Unset: `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "City Services <noreply@city.example.cn>".into(),
            retry_secs: vec![10, 60, 300, 1800, 7200],
            outbox_dir: None,
        }
    }
}

/// The payments service's WeChat Pay merchant account and timings. The identifiers default to
/// the sandbox's demo merchant and the keys to the demo set generated at first start (valid
/// nowhere but the local sandbox); production sets every one from `city.toml`, `CITY_PAYMENTS__*`
/// or `CITY_PAYMENTS__*_FILE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsSettings {
    /// The WeChat Pay merchant id (`mchid`): digits, read as text.
    #[serde(deserialize_with = "text_or_number")]
    pub mchid: String,
    /// Serial number of the merchant API certificate whose private key signs our requests.
    pub merchant_serial_no: String,
    /// The merchant API private key as PEM text (`CITY_PAYMENTS__MERCHANT_PRIVATE_KEY_PEM`, or
    /// a path in `CITY_PAYMENTS__MERCHANT_PRIVATE_KEY_PEM_FILE`). Unset: the demo set's.
    pub merchant_private_key_pem: Option<Secret>,
    /// The older spelling of `merchant_private_key_pem_file`: a file holding the key PEM.
    pub merchant_private_key_path: Option<PathBuf>,
    /// The 32-character APIv3 key that encrypts notifications (AEAD_AES_256_GCM).
    pub api_v3_key: Secret,
    /// Id of the WeChat Pay public key (`PUB_KEY_ID_...`) notifications and responses are signed with.
    pub platform_public_key_id: String,
    /// That public key as PEM (SPKI). Unset: the demo set's.
    pub platform_public_key_pem: Option<String>,
    /// DEMO ONLY: the sandbox's platform private key, which signs its answers and notifications.
    /// Unset: the demo set's. Unused in production, where there is no sandbox.
    pub sandbox_platform_private_key_pem: Option<Secret>,
    /// Where WeChat Pay posts payment notifications (https, no query). Unset:
    /// `http://<listen>/v1/payments/wechatpay/notify`.
    pub notify_url: Option<String>,
    /// Where WeChat Pay posts refund notifications. Unset:
    /// `http://<listen>/v1/payments/wechatpay/refund-notify`.
    pub refund_notify_url: Option<String>,
    /// Seconds an unpaid order stays payable (`time_expire`); fines also end at Beijing midnight.
    pub order_expiry_secs: u64,
    /// How often the background job runs (lost notifications, expiry, postings, refunds), in seconds.
    pub job_interval_secs: u64,
    /// A pending order older than this many seconds is queried at WeChat Pay (lost notification).
    pub query_after_secs: u64,
    /// Seconds between retries of a biller posting that failed or timed out.
    pub posting_retry_secs: u64,
    /// The sandbox's notification retry schedule in seconds after each failed delivery (WeChat:
    /// 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h); tests compress it.
    pub sandbox_notify_retry_secs: Vec<u64>,
}

impl Default for PaymentsSettings {
    fn default() -> Self {
        // The sandbox merchant's identifiers (not secrets); production must set its own.
        Self {
            mchid: DEMO_MCHID.into(),
            merchant_serial_no: DEMO_MERCHANT_SERIAL.into(),
            merchant_private_key_pem: None,
            merchant_private_key_path: None,
            api_v3_key: Secret::default(),
            platform_public_key_id: DEMO_PLATFORM_KEY_ID.into(),
            platform_public_key_pem: None,
            sandbox_platform_private_key_pem: None,
            notify_url: None,
            refund_notify_url: None,
            order_expiry_secs: 30 * 60,
            job_interval_secs: 5,
            query_after_secs: 60,
            posting_retry_secs: 30,
            sandbox_notify_retry_secs: vec![
                15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
            ],
        }
    }
}

/// The identity service's keys and lifetimes. Unset keys come from the demo set generated at
/// first start; production requires `CITY_IDENTITY__DATA_KEY` and `CITY_IDENTITY__HASH_KEY`
/// (or their `_FILE` forms).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    /// Encrypts ID numbers, names and phones at rest (AES-256-GCM; any length, stretched by SHA-256).
    pub data_key: Secret,
    /// Keys the HMAC of ID numbers (uniqueness, `id_number_hash`); changing it breaks matching.
    pub hash_key: Secret,
    /// How long a citizen's bearer token lives, in seconds.
    pub citizen_session_secs: u64,
    /// How long a staff member's bearer token lives, in seconds.
    pub staff_session_secs: u64,
    /// Where browsers reach this portal, for the Service Account OAuth `redirect_uri`
    /// (`https://city.example.cn`). Unset: `http://<listen>`.
    pub public_base_url: Option<String>,
    /// Base of WeChat's OAuth consent page (`https://open.weixin.qq.com` in production). Unset:
    /// the WeChat API base (the sandbox serves the page too).
    pub oauth_authorize_base: Option<String>,
    /// Real names (issue #15): on how many accounts one resident ID number may be a family
    /// member. A second account must prove the phone first recorded for the number.
    #[serde(default = "default_max_accounts_per_id_number")]
    pub max_accounts_per_id_number: u32,
    /// Production only: start with the sandbox's real-name check, which takes any well-written
    /// name for any ID number (`CITY_IDENTITY__ALLOW_SANDBOX_REAL_NAME`). Off: production
    /// refuses to start unless a real authority is plugged in.
    #[serde(default)]
    pub allow_sandbox_real_name: bool,
}

fn default_max_accounts_per_id_number() -> u32 {
    3
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            data_key: Secret::default(),
            hash_key: Secret::default(),
            citizen_session_secs: 7 * 24 * 3600,
            staff_session_secs: 12 * 3600,
            public_base_url: None,
            oauth_authorize_base: None,
            max_accounts_per_id_number: default_max_accounts_per_id_number(),
            allow_sandbox_real_name: false,
        }
    }
}

/// Photo uploads of the incidents service (issue #15): decoding is bounded in concurrency and
/// size, and uploads never attached to a report are collected.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsSettings {
    /// Photos decoded at once; 0 means the number of CPU cores.
    pub photo_decoders: usize,
    /// Largest photo accepted, in pixels (width × height), read from the header before decoding.
    pub photo_max_pixels: u64,
    /// Seconds an upload may stay unattached to a report before it is deleted.
    pub unattached_photo_secs: u64,
}

impl Default for IncidentsSettings {
    fn default() -> Self {
        // 40 megapixels: above any phone camera's original, far below a decompression bomb.
        Self { photo_decoders: 0, photo_max_pixels: 40_000_000, unattached_photo_secs: 24 * 3600 }
    }
}

/// WeChat credentials and server addresses. The appids default to the demo apps of the local
/// sandbox (served at `/sandbox/wechat` in a demo); the secrets to the demo set generated at
/// first start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatSettings {
    /// Base URL of WeChat's server API (`https://api.weixin.qq.com` in production;
    /// `CITY_WECHAT__API_BASE`). Unset: this portal's own sandbox, `http://<listen>/sandbox/wechat`.
    pub api_base: Option<String>,
    /// Base URL of WeChat Pay API v3 (`https://api.mch.weixin.qq.com` in production). Unset: the
    /// sandbox's merchant simulator, `http://<listen>/sandbox/wechat/pay`.
    pub pay_api_base: Option<String>,
    /// The Mini Program's AppID.
    pub mp_appid: String,
    /// The Mini Program's AppSecret.
    pub mp_secret: Secret,
    /// The Service Account's AppID (`CITY_WECHAT_OA_APPID` is also accepted as `CITY_WECHAT__OA_APPID`).
    pub oa_appid: String,
    /// The Service Account's AppSecret.
    pub oa_secret: Secret,
    /// The Service Account's server-configuration Token (signatures of pushes).
    pub oa_token: Secret,
    /// The Service Account's 43-character EncodingAESKey (safe mode).
    pub oa_aes_key: Secret,
    /// The message protection chosen in WeChat's console: `plaintext`, `compatible` or `safe`
    /// (`CITY_WECHAT__OA_CALLBACK_MODE`). Unset: `compatible` in a demo, `safe` in production.
    pub oa_callback_mode: Option<CallbackMode>,
}

impl Default for WechatSettings {
    fn default() -> Self {
        // The sandbox's demo apps; their secrets come from the generated demo set.
        Self {
            api_base: None,
            pay_api_base: None,
            mp_appid: DEMO_MP_APPID.into(),
            mp_secret: Secret::default(),
            oa_appid: DEMO_OA_APPID.into(),
            oa_secret: Secret::default(),
            oa_token: Secret::default(),
            oa_aes_key: Secret::default(),
            oa_callback_mode: None,
        }
    }
}

/// The sandbox's demo Mini Program (an identifier, not a secret; refused in production).
pub const DEMO_MP_APPID: &str = "wxcity0000000mp01";
/// The sandbox's demo Service Account.
pub const DEMO_OA_APPID: &str = "wxcity0000000oa01";
/// The sandbox's demo merchant id.
pub const DEMO_MCHID: &str = "1900000001";
/// The serial the sandbox expects of the demo merchant's key.
pub const DEMO_MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
/// The id of the sandbox's platform key.
pub const DEMO_PLATFORM_KEY_ID: &str = "PUB_KEY_ID_0119000000012026112500000000000001";

impl Settings {
    /// The Service Account callback mode in effect (the profile's default when unset).
    pub fn oa_callback_mode(&self) -> CallbackMode {
        self.wechat.oa_callback_mode.unwrap_or(match self.profile {
            Profile::Demo => CallbackMode::Compatible,
            Profile::Production => CallbackMode::Safe,
        })
    }

    /// Where browsers reach this portal (`identity.public_base_url`, else `http://<listen>`),
    /// without a trailing slash.
    pub fn public_base_url(&self) -> String {
        self.identity
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    /// How this process reaches `service` at `addr`: its own address when every service runs in
    /// it, the configured replicas when apart (decided by [`Topology`], never by the URLs).
    pub fn peer(&self, service: &str, addr: &ServiceAddr) -> crate::peers::Peer {
        let eject_for = std::time::Duration::from_secs(self.gateway.eject_secs);
        match self.topology {
            Topology::Together => crate::peers::Peer::new(service, &[format!("http://{}", self.listen)], eject_for),
            Topology::Apart => crate::peers::Peer::new(service, addr.urls(), eject_for),
        }
    }

    /// Where this process's WeChat API calls go.
    pub fn wechat_api_base(&self) -> String {
        self.wechat.api_base.clone().unwrap_or_else(|| format!("http://{}/sandbox/wechat", self.listen))
    }

    /// Where this process's WeChat Pay calls go.
    pub fn wechat_pay_base(&self) -> String {
        self.wechat.pay_api_base.clone().unwrap_or_else(|| format!("http://{}/sandbox/wechat/pay", self.listen))
    }

    /// Where WeChat Pay sends payment notifications for our orders (the public base's
    /// `/v1/payments/wechatpay/notify` unless set).
    pub fn payments_notify_url(&self) -> String {
        self.payments
            .notify_url
            .clone()
            .unwrap_or_else(|| format!("{}/v1/payments/wechatpay/notify", self.public_base_url()))
    }

    /// Where WeChat Pay sends refund notifications for our refunds.
    pub fn payments_refund_notify_url(&self) -> String {
        self.payments
            .refund_notify_url
            .clone()
            .unwrap_or_else(|| format!("{}/v1/payments/wechatpay/refund-notify", self.public_base_url()))
    }
}

/// Requests allowed per window, per client IP and per identity (bearer token or API key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Turns rate limiting off entirely (load tests measure the ceiling with it on).
    pub enabled: bool,
    /// Length of one counting window, in seconds.
    pub window_secs: u64,
    /// Requests per window from one IP address.
    pub per_ip: u64,
    /// Requests per window for one identity, wherever it calls from.
    pub per_identity: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            profile: Profile::Demo,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            schema_prefix: String::new(),
            db_max_connections: 10,
            redis_url: None,
            redis_prefix: "city:".into(),
            log_format: LogFormat::Pretty,
            log: "info".into(),
            max_body_bytes: 2 * 1024 * 1024,
            cors_origins: Vec::new(),
            rate_limit: RateLimitSettings { enabled: true, window_secs: 60, per_ip: 1200, per_identity: 600 },
            trusted_proxies: Vec::new(),
            idempotency_ttl_secs: 24 * 3600,
            shutdown_grace_secs: 10,
            seed_demo_data: true,
            demo_activity: true,
            air: AirSettings::default(),
            services: ServiceUrls {
                identity: "http://127.0.0.1:8081".into(),
                booking: "http://127.0.0.1:8082".into(),
                payments: "http://127.0.0.1:8083".into(),
                incidents: "http://127.0.0.1:8084".into(),
                air: "http://127.0.0.1:8085".into(),
                channel: "http://127.0.0.1:8086".into(),
                sandbox: "http://127.0.0.1:8087".into(),
                wechat: None,
            },
            gateway: GatewaySettings::default(),
            topology: Topology::Together,
            wechat: WechatSettings::default(),
            identity: IdentitySettings::default(),
            payments: PaymentsSettings::default(),
            notify: NotifySettings::default(),
            incidents: IncidentsSettings::default(),
            console: ConsoleSettings::default(),
            channel: ChannelSettings::default(),
            internal_token: None,
            secret_sources: SecretSources::new(),
            prepared: false,
        }
    }
}

/// Why the configuration could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub(crate) String);

impl Settings {
    /// Defaults, then `city.toml` in the working directory when present, then `CITY_*` variables
    /// (`CITY_RATE_LIMIT__PER_IP` sets `rate_limit.per_ip`). Every secret also accepts a path
    /// to read it from (`api_v3_key_file`, `CITY_PAYMENTS__API_V3_KEY_FILE`).
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(Figment::new().merge(Toml::file("city.toml")).merge(env_provider()))
    }

    /// Defaults overlaid by the given providers; for tests and `--config`.
    pub fn load_from(overlay: Figment) -> Result<Self, ConfigError> {
        let merged = Figment::from(Serialized::defaults(Settings::default())).merge(overlay);
        let (values, sources) = crate::secrets::read_secret_files(&merged).map_err(ConfigError)?;
        let mut settings = Figment::from(Serialized::defaults(values))
            .extract::<Settings>()
            .map_err(|err| ConfigError(describe(err)))?;
        settings.secret_sources = sources;
        settings.checked()
    }

    /// Whether the stores are PostgreSQL (and the cache Redis) rather than the embedded ones.
    pub fn is_distributed(&self) -> bool {
        self.database_url.is_some()
    }

    /// The effective configuration as TOML, with every secret masked (`city config`).
    pub fn to_masked_toml(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(identity) = value.get_mut("identity").and_then(|w| w.as_object_mut()) {
            for key in ["data_key", "hash_key"] {
                identity.insert(key.into(), serde_json::Value::String("****".into()));
            }
        }
        if let Some(map) = value.as_object_mut() {
            for key in ["database_url", "redis_url"] {
                if let Some(v) = map.get_mut(key) {
                    if let Some(url) = v.as_str() {
                        *v = serde_json::Value::String(mask_url(url));
                    }
                }
            }
            if let Some(v) = map.get_mut("notify").and_then(|n| n.get_mut("smtp_url")) {
                if let Some(url) = v.as_str() {
                    *v = serde_json::Value::String(mask_url(url));
                }
            }
            if map.get("internal_token").is_some_and(|v| !v.is_null()) {
                map.insert("internal_token".into(), serde_json::Value::String("****".into()));
            }
            for section in ["wechat", "payments"] {
                if let Some(wechat) = map.get_mut(section).and_then(|w| w.as_object_mut()) {
                    for (key, v) in wechat.iter_mut() {
                        if key.contains("secret") || key.contains("token") || key.contains("key") {
                            *v = serde_json::Value::String("****".into());
                        }
                    }
                }
            }
        }
        let mut shown = toml_from_json(&value);
        shown.push_str("\n# Where each secret came from; values are never shown.\n[secret_sources]\n");
        let demo_file = crate::secrets::DemoSecrets::path_in(&self.data_dir);
        for key in crate::secrets::SECRET_KEYS {
            let mut source = self.secret_sources.get(key.path).cloned().unwrap_or(SecretSource::Unset);
            if source == SecretSource::Unset
                && self.profile == Profile::Demo
                && crate::secrets::DemoSecrets::covers(key.path)
            {
                source = SecretSource::Generated(demo_file.clone());
            }
            shown.push_str(&format!("\"{}\" = {:?}\n", key.path, source.to_string()));
        }
        shown
    }

    fn checked(mut self) -> Result<Self, ConfigError> {
        if let Some(old) = self.services.wechat.take() {
            self.services.channel = old;
        }
        for name in ["identity", "booking", "payments", "incidents", "air", "channel", "sandbox"] {
            let addr = self.services.of(name).map(ServiceAddr::urls).unwrap_or_default();
            let env = format!("CITY_SERVICES__{}", name.to_ascii_uppercase());
            if addr.is_empty() || addr.iter().any(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
                return Err(ConfigError(format!(
                    "services.{name} ({env}): one http(s):// URL or a list of them, e.g. \"http://127.0.0.1:8082\""
                )));
            }
        }
        if self.gateway.upstream_timeout_secs == 0 {
            return Err(ConfigError(
                "gateway.upstream_timeout_secs (CITY_GATEWAY__UPSTREAM_TIMEOUT_SECS): must be at least 1".into(),
            ));
        }
        // An empty variable means "unset", so `CITY_DATABASE_URL=` goes back to SQLite.
        if self.internal_token.as_ref().is_some_and(|t| t.expose().is_empty()) {
            self.internal_token = None;
        }
        if self.database_url.as_ref().is_some_and(|u| u.expose().is_empty()) {
            self.database_url = None;
        }
        if self.redis_url.as_ref().is_some_and(|u| u.expose().is_empty()) {
            self.redis_url = None;
        }
        if self.notify.smtp_url.as_ref().is_some_and(|u| u.expose().is_empty()) {
            self.notify.smtp_url = None;
        }
        if let Some(url) = &self.notify.smtp_url {
            if !url.expose().starts_with("smtp://") {
                return Err(ConfigError(
                    "notify.smtp_url (CITY_NOTIFY__SMTP_URL): must be an smtp:// URL; leave it unset for .eml files"
                        .into(),
                ));
            }
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError(
                    "database_url (CITY_DATABASE_URL): must be a postgres:// URL; leave it unset for SQLite".into(),
                ));
            }
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError("redis_url (CITY_REDIS_URL): must be a redis:// URL".into()));
            }
        }
        if self.payments.mchid.is_empty() || !self.payments.mchid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError("payments.mchid (CITY_PAYMENTS__MCHID): a merchant id is digits".into()));
        }
        if !self.schema_prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(ConfigError(
                "schema_prefix (CITY_SCHEMA_PREFIX): only lowercase letters, digits and '_'".into(),
            ));
        }
        if self.rate_limit.window_secs == 0 {
            return Err(ConfigError(
                "rate_limit.window_secs (CITY_RATE_LIMIT__WINDOW_SECS): must be at least 1".into(),
            ));
        }
        if let Err(why) = crate::caller::parse_trusted(&self.trusted_proxies) {
            return Err(ConfigError(format!("trusted_proxies (CITY_TRUSTED_PROXIES): {why}")));
        }
        self.console.check()?;
        self.channel.check(self.profile, &self.data_dir, &self.wechat.oa_appid)?;
        if self.max_body_bytes < 1024 {
            return Err(ConfigError("max_body_bytes (CITY_MAX_BODY_BYTES): must be at least 1024".into()));
        }
        Ok(self)
    }
}

/// `CITY_*` variables; `__` separates nested keys. Empty values count as unset, so
/// `CITY_DATABASE_URL=` goes back to SQLite. Secrets and identifiers keep their text exactly.
pub fn env_provider() -> crate::secrets::CityEnv {
    crate::secrets::CityEnv
}

fn describe(err: figment::Error) -> String {
    let mut parts = Vec::new();
    for e in err {
        let key = e.path.join(".");
        let env_name = format!("CITY_{}", e.path.join("__").to_ascii_uppercase());
        if key.is_empty() {
            parts.push(e.kind.to_string());
        } else {
            parts.push(format!("{key} ({env_name}): {}", e.kind));
        }
    }
    parts.join("; ")
}

fn mask_url(url: &str) -> String {
    // Keep scheme, host and path; hide the user-info part, where passwords live.
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => format!("{}://****{}", &url[..scheme_end], &url[at..]),
        _ => url.to_owned(),
    }
}

fn toml_from_json(value: &serde_json::Value) -> String {
    // Scalars first, then one [table] per nested object, as a person would write the file.
    fn scalar(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::Object(_) => None,
            other => Some(other.to_string()),
        }
    }
    let mut out = String::new();
    let mut tables = String::new();
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            match v {
                serde_json::Value::Object(inner) => {
                    tables.push_str(&format!("\n[{k}]\n"));
                    for (ik, iv) in inner {
                        if let Some(s) = scalar(iv) {
                            tables.push_str(&format!("{ik} = {s}\n"));
                        }
                    }
                }
                serde_json::Value::Null => out.push_str(&format!("# {k} is unset\n")),
                other => {
                    if let Some(s) = scalar(other) {
                        out.push_str(&format!("{k} = {s}\n"));
                    }
                }
            }
        }
    }
    out + &tables
}

#[cfg(test)]
mod tests;
