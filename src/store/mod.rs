//! The storage seam: one `Db` over SQLite (embedded default) or PostgreSQL,
//! chosen once from the URL scheme. Capability modules (`activity`, …) hold
//! the SQL; each statement is written once where both dialects agree and per
//! backend where they do not.

pub mod activity;
pub mod backup;
pub mod crm;
pub mod dashboard;
pub mod drafts;
pub mod emails;
pub mod intent;
pub mod jobs;
pub mod outbox;
pub mod privacy;
pub mod steps;
pub mod tally;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// Storage errors, narrow on purpose: callers branch on these, and everything
/// else is an internal fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("{0} is not a Pebble database (it holds other tables); refusing to touch it")]
    NotPebble(String),
    #[error("the database schema is version {found}, newer than this Pebble knows ({known}); upgrade Pebble")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("the database schema is behind (version {found}, this Pebble needs {known}); run `pebble db migrate`")]
    SchemaBehind { found: i64, known: i64 },
    #[error("text contains a NUL byte, which the database cannot store")]
    NulByte,
    #[error("already exists")]
    Conflict,
    #[error("the database refused the change: {0}")]
    Refused(String),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A connection pool on one of the two backends.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction; commit it or drop it to roll back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Run the same statement code on whichever connection a `Tx` holds.
/// `$c` is bound to `&mut SqliteConnection` or `&mut PgConnection`.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}

/// Run the same statement code on whichever pool a `Db` holds.
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($p) => $body,
            $crate::store::Db::Postgres($p) => $body,
        }
    };
}

pub(crate) use {on_db, on_tx};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Open a pool. SQLite files are created on first use, in WAL mode with
    /// full fsync on commit: an acknowledged audit event must survive a crash.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Open the database Pebble will run on: refuse a foreign or newer one
    /// before anything writes to it (for an existing SQLite file, through a
    /// read-only connection, since even switching on WAL rewrites its header),
    /// then apply pending migrations.
    pub async fn open(url: &str, max_connections: u32, label: &str) -> Result<Db, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            if options.get_filename().exists() {
                let probe = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options.read_only(true))
                    .await
                    .map_err(|e| not_a_database(e, label))?;
                let probe = Db::Sqlite(probe);
                let checked = probe.check_ownership(label).await;
                probe.close().await;
                checked?;
            }
        }
        let db = Db::connect(url, max_connections)
            .await
            .map_err(|e| match e {
                StoreError::Database(e) => not_a_database(e, label),
                other => other,
            })?;
        db.migrate(label).await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self {
            Db::Sqlite(_) => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// The newest schema version this build knows.
    pub fn known_schema_version(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The newest schema version applied to the database (0 when none).
    pub async fn applied_schema_version(&self) -> Result<i64, StoreError> {
        if !self.has_table("_sqlx_migrations").await? {
            return Ok(0);
        }
        let v: Option<i64> = on_db!(self, |p| sqlx::query_scalar(
            "select max(version) from _sqlx_migrations where success"
        )
        .fetch_one(p)
        .await?);
        Ok(v.unwrap_or(0))
    }

    async fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        let n: i64 = match self {
            Db::Sqlite(p) => {
                sqlx::query_scalar(
                    "select count(*) from sqlite_master where type = 'table' and name = $1",
                )
                .bind(name)
                .fetch_one(p)
                .await?
            }
            Db::Postgres(p) => {
                sqlx::query_scalar(
                    "select count(*) from information_schema.tables \
                     where table_schema = current_schema() and table_name = $1",
                )
                .bind(name)
                .fetch_one(p)
                .await?
            }
        };
        Ok(n > 0)
    }

    async fn user_table_count(&self) -> Result<i64, StoreError> {
        Ok(match self {
            Db::Sqlite(p) => {
                sqlx::query_scalar(
                    "select count(*) from sqlite_master where type = 'table' and name not like 'sqlite_%'",
                )
                .fetch_one(p)
                .await?
            }
            Db::Postgres(p) => {
                sqlx::query_scalar(
                    "select count(*) from information_schema.tables where table_schema = current_schema()",
                )
                .fetch_one(p)
                .await?
            }
        })
    }

    /// Refuse a database that belongs to something else or to a newer Pebble,
    /// before anything is written to it.
    pub async fn check_ownership(&self, label: &str) -> Result<(), StoreError> {
        let tables = self.user_table_count().await.map_err(|e| match e {
            StoreError::Database(e) => not_a_database(e, label),
            other => other,
        })?;
        if tables == 0 {
            return Ok(());
        }
        if !self.has_table("pebble_meta").await? || !self.has_table("_sqlx_migrations").await? {
            return Err(StoreError::NotPebble(label.to_owned()));
        }
        let found = self.applied_schema_version().await?;
        let known = self.known_schema_version();
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        Ok(())
    }

    /// Apply pending migrations after the ownership check.
    pub async fn migrate(&self, label: &str) -> Result<(), StoreError> {
        self.check_ownership(label).await?;
        on_db!(self, |p| self.migrator().run(p).await?);
        Ok(())
    }

    /// Ready means reachable and fully migrated.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        let found = self.applied_schema_version().await?;
        let known = self.known_schema_version();
        match found.cmp(&known) {
            std::cmp::Ordering::Less => Err(StoreError::SchemaBehind { found, known }),
            std::cmp::Ordering::Greater => Err(StoreError::SchemaTooNew { found, known }),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// Start a write transaction. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so a read-then-write never fails on lock upgrade.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Connections (in use, idle), for the pool gauges.
    pub fn pool_usage(&self) -> (u32, u32) {
        let (size, idle) = on_db!(self, |p| (p.size(), p.num_idle() as u32));
        (size.saturating_sub(idle), idle)
    }

    pub fn pool_max(&self) -> u32 {
        on_db!(self, |p| p.options().get_max_connections())
    }

    pub async fn close(&self) {
        on_db!(self, |p| p.close().await)
    }
}

impl StoreError {
    /// A failure of the storage itself (I/O, full disk, corruption) as
    /// opposed to a refused statement or a lost connection.
    pub fn is_storage_fault(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(d)) => {
                is_fault_code(&d.code().unwrap_or_default())
            }
            // An Io error is the connection, not the disk: the database decides the outcome.
            _ => false,
        }
    }
}

fn is_fault_code(code: &str) -> bool {
    if let Ok(n) = code.parse::<i32>() {
        // SQLite primary result codes IOERR, CORRUPT, FULL (extended codes keep them in the low byte).
        matches!(n & 0xff, 10 | 11 | 13)
    } else {
        // PostgreSQL SQLSTATE: insufficient resources (disk full), system I/O error, data corrupted.
        code.starts_with("53") || code.starts_with("58") || code == "XX001" || code == "XX002"
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Reject text that PostgreSQL cannot store, so both backends behave alike.
pub fn check_text(s: &str) -> Result<(), StoreError> {
    if s.contains('\0') {
        Err(StoreError::NulByte)
    } else {
        Ok(())
    }
}

/// A URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// SQLite reports a foreign file (SQLITE_NOTADB) only when it first reads it.
fn not_a_database(e: sqlx::Error, label: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("26") => {
            StoreError::NotPebble(label.to_owned())
        }
        _ => StoreError::Database(e),
    }
}

/// Map a database refusal (trigger or constraint) to a typed error.
pub(crate) fn refused(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict,
        sqlx::Error::Database(d) if !is_fault_code(&d.code().unwrap_or_default()) => {
            StoreError::Refused(d.message().to_owned())
        }
        _ => StoreError::Database(e),
    }
}
