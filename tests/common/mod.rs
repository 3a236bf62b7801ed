//! Test harness: a fresh database per test on each backend, and the real
//! application on random ports, driven like a client would.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod browser;
pub mod drafting;
pub mod seed;
pub mod smtp;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use pebble::clock::ManualClock;
use pebble::config::Settings;
use pebble::http::AppState;
use pebble::startup::{self, Application};
use pebble::store::Db;
use tempfile::TempDir;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server for tests, or why there is none. Under
/// `PEBBLE_REQUIRE_SERVICES=1` an absent server fails the test instead.
pub fn postgres_url() -> Option<String> {
    match std::env::var("PEBBLE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("PEBBLE_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("PEBBLE_REQUIRE_SERVICES=1 but PEBBLE_TEST_DATABASE_URL is not set");
            }
            eprintln!("skipping the PostgreSQL run: PEBBLE_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// A fresh, empty database: a SQLite file in a temporary directory, or a new
/// schema in the test PostgreSQL database (dropped afterwards).
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub dir: Arc<TempDir>,
    schema: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Some(TestDb {
                backend,
                url: format!("sqlite://{}", dir.path().join("pebble.db").display()),
                dir: Arc::new(dir),
                schema: None,
            }),
            Backend::Postgres => {
                let base = postgres_url()?;
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(&base)
                    .await
                    .expect("connect to the test PostgreSQL");
                sqlx::query(&format!("create schema {schema}"))
                    .execute(&pool)
                    .await
                    .expect("create schema");
                pool.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                Some(TestDb {
                    backend,
                    url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                    dir: Arc::new(dir),
                    schema: Some((base, schema)),
                })
            }
        }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            data_dir: self.dir.path().to_path_buf(),
            database_url: Some(self.url.clone().into()),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            audit_checkpoint_interval_secs: 0,
            audit_retention_interval_secs: 0,
            log: "warn".into(),
            ..Settings::default()
        }
    }

    /// The same database again, for a second instance; only the original
    /// cleans up.
    pub fn reuse(other: &TestDb) -> TestDb {
        TestDb {
            backend: other.backend,
            url: other.url.clone(),
            dir: other.dir.clone(),
            schema: None,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A second, independent pool on the same database (as another process would have).
    pub async fn connect(&self) -> Db {
        Db::connect(&self.url, 4).await.expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = self.schema.take() {
            // Drop runs outside any runtime guarantee; use a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let pool = sqlx::PgPool::connect(&base).await.ok()?;
                    sqlx::query(&format!("drop schema if exists {schema} cascade"))
                        .execute(&pool)
                        .await
                        .ok()?;
                    pool.close().await;
                    Some(())
                })
            })
            .join();
        }
    }
}

/// The start of the test epoch; tests move the clock from here.
pub fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap()
}

/// The services without a server: database, audit, metrics.
pub struct Services {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub db: TestDb,
}

pub async fn services(backend: Backend) -> Option<Services> {
    let db = TestDb::new(backend).await?;
    let clock = Arc::new(ManualClock::new(t0()));
    let state = startup::services(&db.settings(), clock.clone())
        .await
        .expect("services start");
    Some(Services { state, clock, db })
}

/// The real application on random ports.
pub struct TestApp {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub db: TestDb,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub const PASSWORD: &str = "correct horse battery staple";

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// The app with one user per role (`admin@test.in`, `sales@test.in`, …, all
/// with `PASSWORD`), after `tweak` adjusts its settings.
pub async fn spawn_app_with(
    backend: Backend,
    tweak: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    let mut settings = db.settings();
    settings.login_rate_limit_per_minute = 1000;
    tweak(&mut settings);
    spawn_on(db, settings, Arc::new(ManualClock::new(t0()))).await
}

/// The app on an existing database (e.g. a second instance).
pub async fn spawn_on(db: TestDb, settings: Settings, clock: Arc<ManualClock>) -> Option<TestApp> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Application::build(settings, clock.clone(), listener, metrics_listener)
        .await
        .expect("application builds");
    for role in pebble_core::access::Role::ALL {
        let email = format!("{}@test.in", role.as_str().replace('_', "-"));
        match app
            .state()
            .auth
            .create_user(
                pebble_core::audit::Actor::system("test"),
                &email,
                role.as_str(),
                role,
                PASSWORD,
            )
            .await
        {
            Ok(_) | Err(pebble::auth::AuthError::Conflict) => {}
            Err(e) => panic!("creating {email}: {e}"),
        }
    }
    let (addr, metrics_addr, state) = (app.addr(), app.metrics_addr(), app.state().clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    Some(TestApp {
        addr,
        metrics_addr,
        client: reqwest::Client::new(),
        clock,
        state,
        db,
        stop: Some(stop),
        server: Some(server),
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sign in as `email` and return the whole token response.
    pub async fn login_as(&self, email: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request")
    }

    /// An access token for the test user of `role`.
    pub async fn token(&self, role: pebble_core::access::Role) -> String {
        let email = format!("{}@test.in", role.as_str().replace('_', "-"));
        let r = self.login_as(&email, PASSWORD).await;
        assert_eq!(r.status().as_u16(), 200, "login as {email}");
        let body: serde_json::Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// An access token for the test administrator.
    pub async fn admin(&self) -> String {
        self.token(pebble_core::access::Role::Admin).await
    }

    pub async fn get_with(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// GET as the test administrator.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let token = self.admin().await;
        self.get_with(&token, path).await
    }

    pub async fn post_json(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Stop the server gracefully and wait for it.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            h.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

/// Run a story once per available backend, as `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! story {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                ($body)($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                ($body)($crate::common::Backend::Postgres).await
            }
        }
    };
}
