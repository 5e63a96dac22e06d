//! Storage: one pool per service through sqlx's Any driver, SQLite by default, PostgreSQL when
//! `CITY_DATABASE_URL` is set.
//!
//! Each service owns its data: its own SQLite file (`data/<service>.db`) or its own PostgreSQL
//! schema (`<prefix><service>`), its own migrations. The SQL is one portable dialect: `$1`
//! placeholders, text ids, integer milliseconds for instants, integer fen for money.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::config::Settings;

/// Which database is behind the Any driver; for the few statements that must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One embedded file per service.
    Sqlite,
    /// One schema per service on a shared server.
    Postgres,
}

/// A service's database: a pool whose every connection sees only that service's tables.
#[derive(Clone, Debug)]
pub struct Db {
    /// The pool; connections are already scoped to the service's schema or file.
    pub pool: AnyPool,
    /// Which backend answers.
    pub backend: Backend,
    /// The owning service, e.g. `booking`.
    pub service: &'static str,
}

/// Why a store could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database refused or failed.
    #[error("database for {service}: {source}")]
    Sql {
        /// The service whose store failed.
        service: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migrating {service}: {source}")]
    Migrate {
        /// The service whose migrations failed.
        service: &'static str,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
}

/// Tables the platform keeps inside every service's store, so that a state change and its
/// event commit together (outbox) and a redelivered event is applied once (inbox).
const PLATFORM_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS platform_outbox (
        id TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        published_at BIGINT
    )",
    "CREATE INDEX IF NOT EXISTS platform_outbox_unpublished ON platform_outbox (published_at, created_at)",
    "CREATE TABLE IF NOT EXISTS platform_inbox (
        consumer TEXT NOT NULL,
        event_id TEXT NOT NULL,
        processed_at BIGINT NOT NULL,
        PRIMARY KEY (consumer, event_id)
    )",
    "CREATE TABLE IF NOT EXISTS platform_idempotency (
        key_hash TEXT PRIMARY KEY,
        request_hash TEXT NOT NULL,
        state TEXT NOT NULL,
        status INTEGER,
        content_type TEXT,
        location TEXT,
        body BYTEA,
        expires_at BIGINT NOT NULL
    )",
];

/// (table, column, type) added to [`PLATFORM_TABLES`] later.
const PLATFORM_COLUMNS: &[(&str, &str, &str)] = &[
    // A replayed answer carries its `ETag` too (issue #16: the incidents queue's POSTs declare one).
    ("platform_idempotency", "etag", "TEXT"),
];

/// How long a pooled PostgreSQL connection may sit unused before it is pinged on acquire.
const PING_AFTER_IDLE: Duration = Duration::from_millis(100);

impl Db {
    /// Opens (creating when needed) the store of `service` and runs its migrations.
    pub async fn open(settings: &Settings, service: &'static str, migrator: &Migrator) -> Result<Self, DbError> {
        let db = Self::connect(settings, service).await?;
        db.migrate(migrator).await?;
        Ok(db)
    }

    /// Opens the store of `service` without migrating it (`/readyz` reports if it is down).
    pub async fn connect(settings: &Settings, service: &'static str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let sql = |source| DbError::Sql { service, source };
        match &settings.database_url {
            None => {
                let dir = &settings.data_dir;
                std::fs::create_dir_all(dir)
                    .map_err(|source| DbError::DataDir { path: dir.display().to_string(), source })?;
                let url = sqlite_url(&dir.join(format!("{service}.db")));
                let options = AnyConnectOptions::from_str(&url).map_err(sql)?;
                let pool = AnyPoolOptions::new()
                    // SQLite has one writer; a few readers in WAL mode are all that helps.
                    .max_connections(settings.db_max_connections.clamp(1, 8))
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // Every connection keeps its own page cache (2 MiB by default); seven
                            // stores of up to eight connections held most of a fuzzed portal's
                            // growth. The files sit in the OS page cache anyway.
                            conn.execute("PRAGMA cache_size = -512").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(sql)?;
                Ok(Self { pool, backend: Backend::Sqlite, service })
            }
            Some(url) => {
                let schema = format!("{}{}", settings.schema_prefix, service);
                let options = AnyConnectOptions::from_str(url.expose()).map_err(sql)?;
                create_schema(&options, &schema).await.map_err(sql)?;
                let set_path: std::sync::Arc<str> = format!("SET search_path TO \"{schema}\"").into();
                let pool = AnyPoolOptions::new()
                    .max_connections(settings.db_max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(10))
                    // A ping before an acquire only when the connection sat idle: under load a
                    // ping per acquire was a round trip each (three per booking, 8-12% of the
                    // portal's CPU, issue #24), while a connection idle across a PostgreSQL
                    // restart must still be found dead before a query meets it.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for > PING_AFTER_IDLE {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .after_connect(move |conn, _| {
                        let set_path = set_path.clone();
                        Box::pin(async move {
                            conn.execute(&*set_path).await?;
                            Ok(())
                        })
                    })
                    .connect_lazy_with(options);
                Ok(Self { pool, backend: Backend::Postgres, service })
            }
        }
    }

    /// Creates the platform's tables and applies the service's migrations. Idempotent.
    pub async fn migrate(&self, migrator: &Migrator) -> Result<(), DbError> {
        let service = self.service;
        for ddl in PLATFORM_TABLES {
            let ddl: Cow<str> = match self.backend {
                Backend::Sqlite => ddl.replace("BYTEA", "BLOB").into(),
                Backend::Postgres => (*ddl).into(),
            };
            sqlx::query(&ddl).execute(&self.pool).await.map_err(|source| DbError::Sql { service, source })?;
        }
        // Columns added to the platform's tables after they first shipped; neither SQLite nor every
        // PostgreSQL this runs on may say `ADD COLUMN IF NOT EXISTS`, so the column is looked for.
        for (table, column, ty) in PLATFORM_COLUMNS {
            let probe = format!("SELECT {column} FROM {table} WHERE 1 = 0");
            if sqlx::query(&probe).fetch_optional(&self.pool).await.is_err() {
                sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))
                    .execute(&self.pool)
                    .await
                    .map_err(|source| DbError::Sql { service, source })?;
            }
        }
        migrator.run(&self.pool).await.map_err(|source| DbError::Migrate { service, source })
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one failing
    /// when it upgrades from reading.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Whether the store answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }
}

/// True when the statement failed on a unique key. Through the Any driver SQLite reports no
/// constraint name, so callers must use this on statements that can violate only one key.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

async fn create_schema(options: &AnyConnectOptions, schema: &str) -> Result<(), sqlx::Error> {
    use sqlx::ConnectOptions;
    let mut conn = options.connect().await?;
    let stmt = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    // Two processes creating the same schema at once can still collide on the catalog's
    // unique index; the loser's retry finds the schema there.
    match conn.execute(stmt.as_str()).await {
        Ok(_) => Ok(()),
        Err(err) if is_unique_violation(&err) => conn.execute(stmt.as_str()).await.map(|_| ()),
        Err(err) => Err(err),
    }
}

/// Drops a schema and everything in it; for tests that made a fresh one.
pub async fn drop_schema(database_url: &str, schema: &str) -> Result<(), sqlx::Error> {
    use sqlx::ConnectOptions;
    sqlx::any::install_default_drivers();
    let options = AnyConnectOptions::from_str(database_url)?;
    let mut conn = options.connect().await?;
    conn.execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str()).await.map(|_| ())
}
