//! The clerks' console (`/console`): web pages where city staff work through incident tickets.
//!
//! A back end for this front end: server-rendered HTML (minijinja templates compiled into the
//! binary) with a little JavaScript and a vendored Leaflet, calling the services' APIs like any
//! client, with the clerk's own staff token. It owns no table: all-in-one it calls the portal's
//! routes in-process, apart it calls each service over HTTP (`upstream`).
//!
//! Entry point: [`mount`], called once by the gateway. Layout: `upstream` (the transports),
//! `clients` (the API calls), `session` (opaque console sessions in the shared cache, cookies,
//! CSRF), `i18n` (Chinese and English), `pages/` (sign-in, queue, map data, ticket and its
//! actions, embedded assets).
//!
//! Invariants: the cookie holds only a random id; every unsafe request carries the session's
//! CSRF token; whatever a page shows or does was decided by the service's API for this clerk.

mod clients;
mod i18n;
mod pages;
mod session;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use city_platform::config::ServiceUrls;
use city_platform::Platform;
use poem::endpoint::BoxEndpoint;
use poem::{Endpoint, EndpointExt, Request, Route};

pub use clients::Services;
pub use upstream::{Answer, Call, Http, InProcess, Unreachable, Upstream};

/// The path prefix the console owns.
pub const PREFIX: &str = "/console";

/// How the console reaches the services from this process.
pub enum Reach<'a> {
    /// Not served by this process (`--only <service>`).
    None,
    /// All-in-one: the services' routes in this process.
    InProcess,
    /// The services run apart at these URLs (the gateway).
    Apart(&'a ServiceUrls),
}

/// The console's settings as it runs with them, from the portal's `console` section
/// ([`city_platform::config::ConsoleSettings`], `CITY_CONSOLE__*`).
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// A session unused this long ends (default 15 minutes): tablets are shared.
    pub idle: Duration,
    /// A tile URL template (`{z}/{x}/{y}`) of GCJ-02 street tiles; unset: the district
    /// outlines are the only base layer, drawn in WGS-84.
    pub tile_url: Option<String>,
    /// The tiles' attribution text.
    pub tile_attribution: String,
    /// How often the queue asks for new tickets, in seconds (default 15).
    pub poll_secs: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self::from(&city_platform::config::ConsoleSettings::default())
    }
}

impl From<&city_platform::config::ConsoleSettings> for ConsoleSettings {
    fn from(s: &city_platform::config::ConsoleSettings) -> Self {
        Self {
            idle: Duration::from_secs(s.idle_minutes.max(1) * 60),
            tile_url: s.tile_url.clone(),
            tile_attribution: s.tile_attribution.clone(),
            poll_secs: s.poll_secs.max(2),
        }
    }
}

impl ConsoleSettings {
    /// The portal's `console` section, with the older `CONSOLE_*` variables still honoured
    /// (each logged as deprecated) where the section left a value at its default.
    pub fn of(settings: &city_platform::config::Settings) -> Result<Self, String> {
        let (s, warnings) =
            settings.console.clone().with_legacy(|name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        Ok(Self::from(&s))
    }
}

/// The console's shared state.
pub(crate) struct Console {
    pub services: Services,
    pub sessions: session::Sessions,
    pub settings: ConsoleSettings,
    pub pages: pages::Templates,
    /// Peers whose `X-Forwarded-Proto` is believed: the portal's `trusted_proxies`, as for HSTS
    /// (loopback was believed always, so a local client could claim https).
    pub trusted_proxies: Vec<city_platform::caller::Cidr>,
}

/// Puts the console at `/console` beside `inner` (the portal's routes with their request data),
/// reaching the services as `reach` says. Settings come from [`ConsoleSettings::of`]; a bad
/// old `CONSOLE_*` value is logged and the defaults used.
pub fn mount(inner: BoxEndpoint<'static>, platform: &Platform, reach: Reach<'_>) -> BoxEndpoint<'static> {
    let settings = ConsoleSettings::of(&platform.settings).unwrap_or_else(|err| {
        tracing::error!(error = %err, "console settings refused; using the defaults");
        ConsoleSettings::default()
    });
    mount_with(inner, platform, reach, settings)
}

/// [`mount`] with explicit settings (tests).
pub fn mount_with(
    inner: BoxEndpoint<'static>,
    platform: &Platform,
    reach: Reach<'_>,
    settings: ConsoleSettings,
) -> BoxEndpoint<'static> {
    let inner = Arc::new(inner);
    let upstream: Arc<dyn Upstream> = match reach {
        Reach::None => return Shared(inner).boxed(),
        Reach::InProcess => Arc::new(InProcess::new(inner.clone())),
        Reach::Apart(urls) => Arc::new(Http::new(
            vec![
                // The first replica of each: the console is one staff tool, not a balancer.
                ("/v1/staff", urls.identity.first().to_owned()),
                ("/v1/auth", urls.identity.first().to_owned()),
                ("/v1/incidents", urls.incidents.first().to_owned()),
                ("/v1/announcements", urls.channel.first().to_owned()),
                ("/v1/conversations", urls.channel.first().to_owned()),
                ("/v1/agents", urls.channel.first().to_owned()),
            ],
            InProcess::new(inner.clone()),
        )),
    };
    let console = Arc::new(Console {
        services: Services::new(upstream),
        sessions: session::Sessions::new(platform.cache.clone(), settings.idle),
        settings,
        pages: pages::Templates::new(),
        // Checked when the settings were loaded; an unreadable list trusts nobody.
        trusted_proxies: city_platform::caller::parse_trusted(&platform.settings.trusted_proxies).unwrap_or_default(),
    });
    Route::new().nest(PREFIX, pages::routes(console)).nest("/", Shared(inner)).boxed()
}

/// The portal's routes, shared between the outer tree and the in-process transport.
struct Shared(Arc<BoxEndpoint<'static>>);

impl Endpoint for Shared {
    type Output = poem::Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        self.0.call(req).await
    }
}
