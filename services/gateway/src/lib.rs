//! The `city` gateway: composes every service's API into one portal (all-in-one), runs one
//! service alone (`--only`), or forwards each path prefix to the services (`--gateway`).
//!
//! Start reading at [`build`]: it turns settings and a [`Mode`] into an [`App`], the endpoint
//! with the cross-cutting middleware applied exactly once, plus its background tasks.
//!
//! Invariants: this crate holds no domain logic; it only composes. The middleware order is
//! fixed here and nowhere else.

pub mod cli;
pub mod compress;
mod document;
pub mod errors;
pub mod h5;
pub mod ops;
pub mod proxy;
pub mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use city_platform::auth::SharedAuthenticator;
use city_platform::config::{Profile, Topology};
use city_platform::edge::{self, RateLimiter};
use city_platform::idempotency::{Idempotency, IdempotencyStore, RedisIdempotencyStore, SqlIdempotencyStore};
use city_platform::outbox::Relay;
use city_platform::shutdown::{self, Shutdown, ShutdownTrigger};
use city_platform::{Db, Platform, Settings};
use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, IntoResponse, Route};
use poem_openapi::OpenApiService;
use sqlx::migrate::Migrator;
use tokio::task::JoinHandle;

use crate::ops::{CatalogueApi, OpsApi, Readiness};

/// The Service Account channel's name on the command line and in `services.*` (its store
/// keeps the name `wechat`, [`city_channel::NAME`]).
pub const CHANNEL: &str = "channel";

/// The services `city serve --only` can run.
pub const SERVICES: &[&str] =
    &[city_identity::NAME, city_booking::NAME, city_payments::NAME, city_incidents::NAME, city_air::NAME, CHANNEL];

/// Every service's API, in the order the document lists them.
type ServiceApis = (
    city_identity::IdentityApi,
    city_booking::BookingApi,
    city_payments::PaymentsApi,
    city_incidents::IncidentsApi,
    city_air::AirApi,
    city_channel::ChannelApi,
    // Reference data with no store: served by whichever process answers citizens.
    city_traffic::TrafficApi,
);

struct Started {
    apis: ServiceApis,
    /// Routes that are not JSON operations (XML callbacks, Open311), each with the prefix it
    /// serves under, full paths kept.
    plain: Vec<(&'static str, Route)>,
    dbs: Vec<Db>,
    authenticator: SharedAuthenticator,
}

/// Identity's people, read in this process for booking (all-in-one): the very document
/// `GET /v1/me/people/{id}` answers, without the second trip through the HTTP stack.
struct LocalPeople {
    identity: Db,
}

#[async_trait::async_trait]
impl city_booking::people::PeopleDirectory for LocalPeople {
    async fn person(
        &self,
        citizen_id: &str,
        _authorization: &str,
        person_id: &str,
    ) -> Result<Option<city_booking::people::Person>, city_platform::Problem> {
        let shown = city_identity::person_as_shown(&self.identity, citizen_id, person_id).await.map_err(|err| {
            tracing::error!(error = %err, "reading a citizen's people failed");
            city_platform::Problem::unavailable("the identity store could not answer")
        })?;
        shown
            .map(|doc| {
                serde_json::from_value(doc).map_err(|err| {
                    tracing::error!(error = %err, "identity's person did not read as booking's");
                    city_platform::Problem::internal()
                })
            })
            .transpose()
    }
}

/// Starts every service over one platform (all-in-one).
async fn start_all(platform: &Platform) -> anyhow::Result<Started> {
    let (identity, identity_db, authenticator) = city_identity::IdentityService::start(platform.clone()).await?;
    // Booking reads a citizen's patients from identity's store in this process, instead of
    // asking identity over HTTP on the portal's own address (issue #24).
    let mut booking_options = city_booking::BookingOptions::for_platform(platform);
    booking_options.people = Arc::new(city_booking::people::CachedPeople::new(
        LocalPeople { identity: identity_db.clone() },
        Duration::from_secs(60),
    ));
    let (booking, booking_db, _) = city_booking::BookingService::start_with(platform.clone(), booking_options).await?;
    let (payments, payments_db) = city_payments::PaymentsService::start(platform.clone()).await?;
    let (incidents, incidents_db) = city_incidents::IncidentsService::start(platform.clone()).await?;
    let open311 = incidents.open311_routes();
    let (air, air_db) = city_air::AirService::start(platform.clone()).await?;
    let (channel, channel_routes, channel_db) = city_channel::ChannelService::start(platform.clone()).await?;
    let traffic = city_traffic::api().context("reading seeds/traffic")?;
    Ok(Started {
        apis: (identity, booking, payments, incidents, air, channel, traffic),
        // The callback alone: nested over all of `/wechat` it shadowed the channel's JSON
        // operations there (`POST /wechat/subscriptions` answered 404).
        plain: vec![("/wechat/callback", channel_routes), ("/open311/v2", open311)],
        dbs: vec![identity_db, booking_db, payments_db, incidents_db, air_db, channel_db],
        authenticator,
    })
}

/// The one OpenAPI service of the whole portal.
fn whole_api(
    catalogue: CatalogueApi,
    ops: OpsApi,
    apis: ServiceApis,
) -> OpenApiService<(CatalogueApi, OpsApi, ServiceApis), ()> {
    OpenApiService::new((catalogue, ops, apis), TITLE, env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// How this process serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Every service and the gateway's own routes in one process (the default).
    AllInOne,
    /// One service alone, with the operational routes (`channel`, not its store's `wechat`).
    Only(String),
    /// The gateway's own routes; every service prefix forwarded to its configured URL.
    Gateway,
}

/// A built portal: the endpoint to serve and what must stop with it.
pub struct App {
    /// The whole route tree with middleware.
    pub endpoint: BoxEndpoint<'static>,
    /// The OpenAPI document this process describes.
    pub spec: String,
    /// Fires the shutdown of background tasks.
    pub trigger: ShutdownTrigger,
    /// Background loops (outbox relays, sweepers).
    pub tasks: Vec<JoinHandle<()>>,
    /// Where the data lives, for the start-up banner.
    pub backend: String,
    /// The profile it runs in, for the start-up banner.
    pub profile: Profile,
    /// A demo's credentials file (`None` in production), for the start-up banner.
    pub demo_secrets: Option<std::path::PathBuf>,
}

/// `city serve --only sandbox`: the WeChat sandbox of a split demo, on `services.sandbox`.
pub const SANDBOX: &str = "sandbox";

/// The sandbox's routes from prepared settings.
fn sandbox(settings: &Settings) -> anyhow::Result<Route> {
    city_wechat_sandbox::endpoint(settings).map_err(|e| anyhow::anyhow!("starting the WeChat sandbox: {e}"))
}

/// In a split demo (`--only`, `--gateway`) the WeChat servers are the sandbox process's, and
/// browsers come through the gateway at the configured address: the defaults say so, so every
/// process agrees without configuration. All-in-one keeps its own address; production sets all.
fn demo_split_defaults(mut settings: Settings, mode: &Mode) -> Settings {
    if settings.profile == Profile::Demo && *mode != Mode::AllInOne {
        let sandbox = format!("{}/sandbox/wechat", settings.services.sandbox.first());
        settings.wechat.pay_api_base.get_or_insert_with(|| format!("{sandbox}/pay"));
        settings.wechat.api_base.get_or_insert(sandbox);
        // The browser's consent page, like every page a browser sees, comes through the gateway.
        let consent = format!("{}/sandbox/wechat", settings.public_base_url());
        settings.identity.oauth_authorize_base.get_or_insert(consent);
    }
    settings
}

/// In a split demo browsers come through the gateway at the configured `listen` (every process
/// of the demo is given the gateway's), so the OAuth `redirect_uri` and WeChat Pay's notify URLs
/// name the gateway, never the port of the process that makes them. Called with the configured
/// settings, before a `--only` process takes its own port as `listen`.
pub fn public_base_for(mut settings: Settings, mode: &Mode) -> Settings {
    if settings.profile == Profile::Demo && *mode != Mode::AllInOne {
        settings.identity.public_base_url.get_or_insert_with(|| format!("http://{}", settings.listen));
    }
    settings
}

/// The WeChat addresses a process in `mode` uses, for `city config`: (key, value) pairs.
pub fn wechat_bases(settings: &Settings, mode: &Mode) -> Vec<(&'static str, String)> {
    let s = demo_split_defaults(public_base_for(settings.clone(), mode), mode);
    let sandbox = s.profile == Profile::Demo;
    vec![
        ("wechat.api_base", s.wechat_api_base()),
        ("wechat.pay_api_base", s.wechat_pay_base()),
        (
            "identity.oauth_authorize_base",
            s.identity.oauth_authorize_base.clone().unwrap_or_else(|| s.wechat_api_base()),
        ),
        ("identity.public_base_url", s.public_base_url()),
        ("payments.notify_url", s.payments_notify_url()),
        ("payments.refund_notify_url", s.payments_refund_notify_url()),
        (
            "sandbox",
            if sandbox {
                format!(
                    "{}/sandbox/wechat",
                    match mode {
                        Mode::AllInOne => format!("http://{}", s.listen),
                        _ => s.services.sandbox.first().to_owned(),
                    }
                )
            } else {
                "none (production)".into()
            },
        ),
    ]
}

/// The topology follows the mode: every service in this process, or each in its own.
fn with_topology(mut settings: Settings, mode: &Mode) -> Settings {
    settings.topology = if *mode == Mode::AllInOne { Topology::Together } else { Topology::Apart };
    settings
}

const TITLE: &str = "City Services API";
const DESCRIPTION: &str = "The municipal City Services portal: doctor appointments, household bills and traffic fines, incident reports with Open311 GeoReport v2, and air quality. Errors are RFC 9457 application/problem+json with a stable `type`; unsafe requests accept an `Idempotency-Key` header.";

/// Builds the portal for `mode`.
pub async fn build(settings: Settings, mode: Mode) -> anyhow::Result<App> {
    city_platform::telemetry::prometheus();
    let (trigger, signal) = shutdown::channel();
    let process = format!("{}-{}", mode_name(&mode), std::process::id());
    let demo_secrets =
        (settings.profile == Profile::Demo).then(|| city_platform::secrets::DemoSecrets::path_in(&settings.data_dir));
    let platform =
        Platform::build(with_topology(demo_split_defaults(settings, &mode), &mode), &process, signal.clone())
            .await
            .context("starting the platform (profile, cache and event bus)")?;
    // The prepared settings: checked for the profile, with a demo's generated credentials.
    let settings = (*platform.settings).clone();
    let backend = if settings.is_distributed() {
        format!("PostgreSQL + {}", platform.cache.kind())
    } else {
        format!("SQLite in {} + in-process cache and bus", settings.data_dir.display())
    };
    let catalogue = ops::load_catalogue().context("reading seeds/services.json")?;
    let mut tasks = Vec::new();

    let (route, spec, idem_db, authenticator) = match &mode {
        Mode::AllInOne => {
            let gateway_db = open(&settings, "gateway", &Migrator::DEFAULT).await?;
            let all = start_all(&platform).await?;
            let mut dbs = vec![gateway_db.clone()];
            dbs.extend(all.dbs.iter().cloned());
            tasks.extend(relays(&dbs, &platform, &signal));
            let readiness =
                Readiness { dbs, cache: platform.cache.clone(), bus: platform.bus.clone(), upstreams: vec![] };
            let api =
                whole_api(CatalogueApi::new(&catalogue, platform.districts.clone()), OpsApi { readiness }, all.apis);
            let spec = api.spec();
            // The WeChat sandbox is a demo's WeChat; a production portal has no such path at all.
            let mut route = documented(api);
            if settings.profile == Profile::Demo {
                route = route.nest("/sandbox/wechat", sandbox(&settings)?);
            }
            for (prefix, plain) in all.plain {
                route = route.nest_no_strip(prefix, plain);
            }
            (route, spec, gateway_db, all.authenticator)
        }
        Mode::Only(name) => {
            let authenticator = city_identity::remote_authenticator(&platform);
            macro_rules! alone {
                ($start:expr) => {{
                    let (svc_api, db) = $start.await?;
                    let readiness = Readiness {
                        dbs: vec![db.clone()],
                        cache: platform.cache.clone(),
                        bus: platform.bus.clone(),
                        upstreams: vec![],
                    };
                    let api = OpenApiService::new((OpsApi { readiness }, svc_api), TITLE, env!("CARGO_PKG_VERSION"))
                        .description(DESCRIPTION);
                    let spec = api.spec();
                    (documented(api), spec, db)
                }};
            }
            let (route, spec, db, authenticator) = match name.as_str() {
                SANDBOX => {
                    anyhow::ensure!(
                        settings.profile == Profile::Demo,
                        "the WeChat sandbox runs only in the demo profile"
                    );
                    let db = open(&settings, SANDBOX, &Migrator::DEFAULT).await?;
                    let readiness = Readiness {
                        dbs: vec![db.clone()],
                        cache: platform.cache.clone(),
                        bus: platform.bus.clone(),
                        upstreams: vec![],
                    };
                    let api = OpenApiService::new(OpsApi { readiness }, TITLE, env!("CARGO_PKG_VERSION"))
                        .description(DESCRIPTION);
                    let spec = api.spec();
                    (documented(api).nest("/sandbox/wechat", sandbox(&settings)?), spec, db, authenticator)
                }
                city_identity::NAME => {
                    let (svc_api, db, local) = city_identity::IdentityService::start(platform.clone()).await?;
                    let readiness = Readiness {
                        dbs: vec![db.clone()],
                        cache: platform.cache.clone(),
                        bus: platform.bus.clone(),
                        upstreams: vec![],
                    };
                    let api = OpenApiService::new((OpsApi { readiness }, svc_api), TITLE, env!("CARGO_PKG_VERSION"))
                        .description(DESCRIPTION);
                    let spec = api.spec();
                    (documented(api), spec, db, local)
                }
                city_booking::NAME => {
                    let (r, s, d) = alone!(city_booking::BookingService::start(platform.clone()));
                    (r, s, d, authenticator)
                }
                city_payments::NAME => {
                    let (r, s, d) = alone!(city_payments::PaymentsService::start(platform.clone()));
                    (r, s, d, authenticator)
                }
                city_incidents::NAME => {
                    let (svc_api, db) = city_incidents::IncidentsService::start(platform.clone()).await?;
                    let open311 = svc_api.open311_routes();
                    let readiness = Readiness {
                        dbs: vec![db.clone()],
                        cache: platform.cache.clone(),
                        bus: platform.bus.clone(),
                        upstreams: vec![],
                    };
                    let api = OpenApiService::new((OpsApi { readiness }, svc_api), TITLE, env!("CARGO_PKG_VERSION"))
                        .description(DESCRIPTION);
                    let spec = api.spec();
                    (documented(api).nest_no_strip("/open311/v2", open311), spec, db, authenticator)
                }
                city_air::NAME => {
                    let (r, s, d) = alone!(city_air::AirService::start(platform.clone()));
                    (r, s, d, authenticator)
                }
                CHANNEL => {
                    let (svc_api, plain, db) = city_channel::ChannelService::start(platform.clone()).await?;
                    let readiness = Readiness {
                        dbs: vec![db.clone()],
                        cache: platform.cache.clone(),
                        bus: platform.bus.clone(),
                        upstreams: vec![],
                    };
                    let api = OpenApiService::new((OpsApi { readiness }, svc_api), TITLE, env!("CARGO_PKG_VERSION"))
                        .description(DESCRIPTION);
                    let spec = api.spec();
                    (documented(api).nest_no_strip("/wechat/callback", plain), spec, db, authenticator)
                }
                other => anyhow::bail!("unknown service `{other}`; one of: {}", SERVICES.join(", ")),
            };
            tasks.extend(relays(std::slice::from_ref(&db), &platform, &signal));
            (route, spec, db, authenticator)
        }
        Mode::Gateway => {
            let gateway_db = open(&settings, "gateway", &Migrator::DEFAULT).await?;
            let mut forwards = proxy::routes(&settings);
            // A demo's WeChat sandbox is a service like the others behind the gateway.
            if settings.profile == Profile::Demo {
                forwards.push(("/sandbox/wechat", settings.peer(SANDBOX, &settings.services.sandbox)));
            }
            let readiness = Readiness {
                dbs: vec![gateway_db.clone()],
                cache: platform.cache.clone(),
                bus: platform.bus.clone(),
                upstreams: forwards.iter().map(|(_, peer)| peer.clone()).collect(),
            };
            let own = OpenApiService::new(
                (
                    CatalogueApi::new(&catalogue, platform.districts.clone()),
                    OpsApi { readiness },
                    // Public reference data with no store: the gateway answers it itself.
                    city_traffic::api().context("reading seeds/traffic")?,
                ),
                TITLE,
                env!("CARGO_PKG_VERSION"),
            );
            // The whole portal's document, as the services generate it when they run together,
            // less the internal paths this gateway never forwards.
            let (spec, docs_html) = whole_document().await?;
            let spec = document::without_internal(&spec);
            let served_spec = spec.clone();
            let client = proxy::client();
            let mut route = Route::new()
                .nest("/", own)
                .at(
                    "/openapi.json",
                    poem::endpoint::make_sync(move |_| {
                        poem::Response::builder().content_type("application/json").body(served_spec.clone())
                    }),
                )
                .at("/docs", poem::endpoint::make_sync(move |_| poem::web::Html(docs_html.clone()).into_response()));
            let timeout = Duration::from_secs(settings.gateway.upstream_timeout_secs);
            for (prefix, peer) in forwards {
                route = route.nest_no_strip(prefix, proxy::Forward::new(peer, client.clone(), timeout));
            }
            // The gateway checks no credentials itself; each service does, so this one is unused.
            let authenticator = city_identity::remote_authenticator(&platform);
            (route, spec, gateway_db, authenticator)
        }
    };
    // The menu's and the sign-in's pages (issue #23): the gateway's own, wherever browsers come.
    let route = match mode {
        Mode::Only(_) => route,
        _ => route.nest("/h5", h5::routes(&catalogue, &settings.wechat.mp_appid)),
    };
    // On a clean shutdown, what only this process used on the bus (air's replica group) goes.
    let (bus, mut closing) = (platform.bus.clone(), signal.clone());
    tasks.push(tokio::spawn(async move {
        closing.wait().await;
        bus.close().await;
    }));
    let route = route.data(authenticator.clone()).data(platform.internal_token.clone()).boxed();
    let route = city_console::mount(route, &platform, console_reach(&mode, &settings));

    // Whose `X-Forwarded-For` (rate limits, anonymous idempotency) and `X-Forwarded-Proto` (HSTS)
    // count: only the configured proxies', none by default (issue #15).
    let proxies: Arc<[city_platform::caller::Cidr]> =
        city_platform::caller::parse_trusted(&settings.trusted_proxies).map_err(anyhow::Error::msg)?.into();
    let store: Arc<dyn IdempotencyStore> = match &settings.redis_url {
        Some(url) => Arc::new(
            RedisIdempotencyStore::connect(url.expose(), &settings.redis_prefix)
                .await
                .context("connecting the idempotency store to Redis")?,
        ),
        None => Arc::new(SqlIdempotencyStore::new(idem_db.clone())),
    };
    let idem = Idempotency {
        store,
        server_secret: city_platform::idempotency::ServerSecret::from_settings(&settings),
        ttl: Duration::from_secs(settings.idempotency_ttl_secs),
        trusted_proxies: proxies.clone(),
    };
    if settings.redis_url.is_none() {
        tasks.push(sweep_idempotency(SqlIdempotencyStore::new(idem_db), signal.clone()));
    }
    // In distributed mode the gateway limits rates and the services keep idempotency records:
    // each concern once, where it has what it needs.
    let limiter = RateLimiter::new(platform.cache.clone(), settings.rate_limit.clone(), proxies.to_vec())
        .exempting(platform.internal_token.clone())
        .verifying(authenticator);
    let with_idempotency = !matches!(mode, Mode::Gateway);
    let with_rate_limit = !matches!(mode, Mode::Only(_));
    let endpoint = edge::stack(route, &settings, limiter, with_rate_limit, with_idempotency.then_some(idem));
    let endpoint = endpoint.with(security::SecurityHeaders::new(proxies)).boxed();
    // Compressed once, at the edge: a service behind the gateway answers it uncompressed.
    let endpoint = match mode {
        Mode::Only(_) => endpoint,
        _ => endpoint.with(compress::Compression).boxed(),
    };
    Ok(App { endpoint, spec, trigger, tasks, backend, profile: settings.profile, demo_secrets })
}

/// Where the clerks' console (`/console`) finds the services: in-process all-in-one, over HTTP
/// behind the gateway, not at all in a lone service.
fn console_reach<'a>(mode: &Mode, settings: &'a Settings) -> city_console::Reach<'a> {
    match mode {
        Mode::AllInOne => city_console::Reach::InProcess,
        Mode::Gateway => city_console::Reach::Apart(&settings.services),
        Mode::Only(_) => city_console::Reach::None,
    }
}

fn documented<T: poem_openapi::OpenApi + 'static>(api: OpenApiService<T, ()>) -> Route {
    let spec = document::refine(&api.spec());
    let ui = api.swagger_ui();
    let served = poem::endpoint::make_sync(move |_| {
        poem::Response::builder().content_type("application/json").body(spec.clone())
    });
    Route::new().nest("/", api).at("/openapi.json", served).nest("/docs", ui)
}

async fn open(settings: &Settings, service: &'static str, migrator: &'static Migrator) -> anyhow::Result<Db> {
    Db::open(settings, service, migrator).await.with_context(|| format!("opening the {service} store"))
}

fn relays(dbs: &[Db], platform: &Platform, signal: &Shutdown) -> Vec<JoinHandle<()>> {
    dbs.iter()
        .map(|db| {
            let relay = Relay::new(db.clone(), platform.bus.clone());
            tokio::spawn(relay.run(Duration::from_millis(200), signal.clone()))
        })
        .collect()
}

fn sweep_idempotency(store: SqlIdempotencyStore, mut signal: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(300)) => {
                    if let Err(err) = store.sweep().await {
                        tracing::warn!(error = %err, "sweeping idempotency records failed");
                    }
                }
                _ = signal.wait() => return,
            }
        }
    })
}

fn mode_name(mode: &Mode) -> String {
    match mode {
        Mode::AllInOne => "portal".into(),
        Mode::Only(s) => s.clone(),
        Mode::Gateway => "gateway".into(),
    }
}

/// The whole portal's OpenAPI document and its Swagger UI page, generated by building every
/// service over a throwaway embedded store (`city openapi`, and the gateway's `/openapi.json`).
pub async fn whole_document() -> anyhow::Result<(String, String)> {
    let dir = std::env::temp_dir().join(format!("city-openapi-{}", uuid_like()));
    let settings = Settings {
        data_dir: dir.clone(),
        database_url: None,
        redis_url: None,
        seed_demo_data: false,
        ..Settings::default()
    };
    let (trigger, signal) = shutdown::channel();
    trigger.fire();
    let platform = Platform::build(settings, "openapi", signal).await?;
    let all = start_all(&platform).await?;
    let readiness =
        Readiness { dbs: vec![], cache: platform.cache.clone(), bus: platform.bus.clone(), upstreams: vec![] };
    let catalogue = ops::load_catalogue()?;
    let api = whole_api(CatalogueApi::new(&catalogue, platform.districts.clone()), OpsApi { readiness }, all.apis);
    let spec = document::refine(&api.spec());
    let html = api.swagger_ui_html();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((spec, html))
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    )
}

/// Serves `app` on `listener` until `stop` resolves, then lets in-flight requests finish for
/// up to `grace` and stops the background tasks.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
    let result =
        poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(app.endpoint, stop, Some(grace)).await;
    app.trigger.fire();
    for task in app.tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    result
}

/// Where a mode listens by default: the configured address for the portal and the gateway,
/// the port of the service's configured URL for `--only`.
pub fn default_listen(settings: &Settings, mode: &Mode) -> SocketAddr {
    if let Mode::Only(name) = mode {
        let Some(addr) = settings.services.of(name) else { return settings.listen };
        if let Some(port) = addr.first().rsplit(':').next().and_then(|p| p.parse::<u16>().ok()) {
            return SocketAddr::new(settings.listen.ip(), port);
        }
    }
    settings.listen
}

/// Every table of error kinds in the portal, by owner: the platform's common kinds first.
pub fn error_kind_tables() -> Vec<(&'static str, &'static [&'static city_platform::ErrorKind])> {
    vec![
        ("platform (every service)", city_platform::problem::kind::COMMON),
        ("gateway", errors::KINDS),
        (city_identity::NAME, city_identity::ERROR_KINDS),
        (city_booking::NAME, city_booking::ERROR_KINDS),
        (city_payments::NAME, city_payments::ERROR_KINDS),
        (city_incidents::NAME, city_incidents::ERROR_KINDS),
        (city_air::NAME, city_air::ERROR_KINDS),
        (CHANNEL, city_channel::ERROR_KINDS),
    ]
}

/// `docs/errors.md`: every kind the portal can answer with, generated from the tables.
pub fn errors_markdown() -> String {
    city_platform::problem::kind::markdown(&error_kind_tables())
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_error_kind_is_defined_twice_across_the_portal() {
        let clashes = city_platform::problem::kind::defined_twice(&super::error_kind_tables());
        assert!(clashes.is_empty(), "error kinds defined twice: {clashes:?}");
    }

    #[test]
    fn every_service_contributes_its_table() {
        let owners: Vec<&str> = super::error_kind_tables().iter().map(|(o, _)| *o).collect();
        for service in super::SERVICES {
            assert!(owners.contains(service), "{service} has no table of error kinds in error_kind_tables()");
        }
    }
}
