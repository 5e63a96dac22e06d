//! The processes under load: the portal (`city serve`, demo profile, production's limiter, edge
//! and idempotency settings, loopback trusted as the proxy so each simulated citizen's own
//! `X-Forwarded-For` address is the one limited), and the bare poem-openapi handler it is held
//! against. The backend is PostgreSQL + Redis when `LOAD_DATABASE_URL`/`LOAD_REDIS_URL` are
//! set (fresh schemas and key prefix, dropped at the end), else the embedded stores.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the portal keeps its data.
pub struct Backend {
    /// PostgreSQL URL (and the schema prefix of this run).
    pub database: Option<(String, String)>,
    /// Redis URL (and the key prefix of this run).
    pub redis: Option<(String, String)>,
    pub dir: tempfile::TempDir,
}

impl Backend {
    pub fn from_env() -> Self {
        // The same prefixes as the test suites', so CI's cleanup of interrupted runs covers these.
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Backend {
            database: var("LOAD_DATABASE_URL").map(|url| (url, format!("t{tag}_"))),
            redis: var("LOAD_REDIS_URL").map(|url| (url, format!("test:{tag}:"))),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn name(&self) -> &'static str {
        if self.database.is_some() {
            "PostgreSQL + Redis"
        } else {
            "embedded (SQLite, in-process cache)"
        }
    }

    /// `city ARGS` on this backend's stores (the operator's command line, as tests use it).
    pub fn command(&self, args: &[&str]) -> Command {
        // LOAD_CITY_BIN runs another build of `city` (a copy kept from before a change) under the
        // same harness, for a before/after pair measured the same way.
        let bin = std::env::var("LOAD_CITY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_city").to_owned());
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CITY_DATA_DIR", self.dir.path())
            .env("CITY_LOG", "warn")
            .env("CITY_DEMO_ACTIVITY", "false")
            // As the image sets it (deploy/Dockerfile): freed pages go back after 1 s.
            .env("_RJEM_MALLOC_CONF", "dirty_decay_ms:1000");
        if let Some((url, prefix)) = &self.database {
            cmd.env("CITY_DATABASE_URL", url).env("CITY_SCHEMA_PREFIX", prefix);
        }
        if let Some((url, prefix)) = &self.redis {
            cmd.env("CITY_REDIS_URL", url).env("CITY_REDIS_PREFIX", prefix);
        }
        cmd
    }

    /// Runs `city ARGS` to completion; panics with its stderr when it fails.
    pub fn city(&self, args: &[&str]) -> String {
        let out = self.command(args).stderr(Stdio::piped()).output().expect("the city binary runs");
        assert!(out.status.success(), "city {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Drops this run's PostgreSQL schemas and Redis keys.
    pub async fn cleanup(&self) {
        if let Some((url, prefix)) = &self.database {
            if let Ok(pool) = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await {
                let like = format!("{}%", prefix.replace('_', "\\_"));
                let names: Vec<String> =
                    sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1")
                        .bind(&like)
                        .fetch_all(&pool)
                        .await
                        .unwrap_or_default();
                for name in names {
                    let _ = sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE")).execute(&pool).await;
                }
            }
        }
        if let Some((url, prefix)) = &self.redis {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "redis-cli -u '{url}' --scan --pattern '{prefix}*' | xargs -r -n 500 redis-cli -u '{url}' del"
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A child process killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The portal as its own process, all-in-one, with the WeChat sandbox standing in for WeChat
/// as a process of its own (as WeChat is elsewhere in production: the portal's calls to it
/// are not its own citizens', and the sandbox, not being the portal, runs without a limiter);
/// returns both, and the portal's start-to-ready time.
pub async fn start_portal(backend: &Backend) -> (Server, Server, Duration) {
    // One demo set of credentials for both processes, written before either starts.
    backend.city(&["demo-secrets", "init"]);
    let wechat_port = free_port();
    let child = backend
        .command(&["serve", "--only", "sandbox", "--listen", &format!("127.0.0.1:{wechat_port}")])
        .env("CITY_RATE_LIMIT__ENABLED", "false")
        // Its stores see a few writes a second; PostgreSQL's 100 connections are for the portal
        // and the pgbench floors (the portal's pools reach 10 a store under load).
        .env("CITY_DB_MAX_CONNECTIONS", "2")
        .stdout(Stdio::null())
        .spawn()
        .expect("the WeChat sandbox starts");
    let wechat = Server { child, base: format!("http://127.0.0.1:{wechat_port}") };
    wait_ready(&format!("{}/readyz", wechat.base)).await;
    let port = free_port();
    let started = Instant::now();
    let child = backend
        .command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
        // Loopback is the load generator standing in for the city's load balancer: the limiter
        // then keys on each simulated citizen's address, at production's limits.
        .env("CITY_TRUSTED_PROXIES", "[127.0.0.1]")
        .env("CITY_WECHAT__API_BASE", format!("{}/sandbox/wechat", wechat.base))
        .env("CITY_WECHAT__PAY_API_BASE", format!("{}/sandbox/wechat/pay", wechat.base))
        // The demo's air feed keeps readings coming as a real feed would.
        .env("CITY_AIR__DEMO_FEED", "true")
        // Production's Service Account callback mode (a demo defaults to compatible).
        .env("CITY_WECHAT__OA_CALLBACK_MODE", "safe")
        .stdout(Stdio::null())
        .spawn()
        .expect("the city binary starts");
    let server = Server { child, base: format!("http://127.0.0.1:{port}") };
    wait_ready(&format!("{}/readyz", server.base)).await;
    let ready_after = started.elapsed();
    (server, wechat, ready_after)
}

/// The bare handler: this very binary in its `CITY_BENCH_HELLO` mode.
pub async fn start_hello() -> Server {
    let port = free_port();
    let child = Command::new(std::env::current_exe().expect("this binary"))
        .env("CITY_BENCH_HELLO", port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("the bare server starts");
    let server = Server { child, base: format!("http://127.0.0.1:{port}") };
    wait_ready(&format!("{}/hello", server.base)).await;
    server
}

async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} did not become ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("an address").port()
}

/// The anchor: one poem-openapi operation returning a small JSON object, nothing else, on a
/// multi-threaded runtime like the portal's.
pub fn bare_hello_server(port: &str) {
    use poem::{listener::TcpListener, Route};
    use poem_openapi::{payload::Json, Object, OpenApi, OpenApiService};

    #[derive(Object)]
    struct Hello {
        hello: String,
    }

    struct Bare;

    #[OpenApi]
    impl Bare {
        #[oai(path = "/hello", method = "get")]
        async fn hello(&self) -> Json<Hello> {
            Json(Hello { hello: "world".into() })
        }
    }

    let api = OpenApiService::new(Bare, "bare", "1");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async move {
        let _ =
            poem::Server::new(TcpListener::bind(format!("127.0.0.1:{port}"))).run(Route::new().nest("/", api)).await;
    });
}
