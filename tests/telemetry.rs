//! The optional exports of the telemetry module against real receivers: a
//! Sentry ingest endpoint and an OTLP/HTTP collector, each played by a small
//! HTTP server on loopback. Each test scopes Pebble's own subscriber to its
//! thread (`set_default` on the current-thread test runtime, where the app's
//! tasks run too), so both fit in one binary.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, Uri};
use common::{spawn_app_with, Backend, PASSWORD};
use pebble::config::Settings;

/// Must never leave Pebble, whatever it reports.
const JWT_SECRET: &str = "jwt-secret-that-must-never-reach-sentry-0123456789";
const ADMIN_PASSWORD: &str = "admin-password-that-must-never-reach-sentry";

#[derive(Clone, Debug)]
struct Received {
    method: Method,
    path: String,
    content_type: String,
    body: Vec<u8>,
}

impl Received {
    fn contains(&self, needle: &str) -> bool {
        self.body
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }
}

/// Records every request and answers 200 `{}`. It runs on a thread and
/// runtime of its own: Sentry's flush and the trace pipeline's shutdown
/// block the caller until the receiver has answered.
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("receiver address");
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = Arc::clone(&seen);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("receiver runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let app = axum::Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        let record = Arc::clone(&record);
                        async move {
                            let content_type = headers
                                .get(header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            record.lock().unwrap().push(Received {
                                method,
                                path: uri.path().to_owned(),
                                content_type,
                                body: body.to_vec(),
                            });
                            "{}"
                        }
                    },
                );
                // Not a graceful shutdown: the exporters keep idle
                // connections open, which would hold it up.
                tokio::select! {
                    served = axum::serve(listener, app) => served.expect("receiver serves"),
                    _ = stopped => {}
                }
            });
        });
        Receiver {
            addr,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Everything received once a request satisfying `wanted` is among it,
    /// waiting at most ten seconds.
    async fn wait_for(&self, what: &str, wanted: impl Fn(&Received) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            if seen.iter().any(&wanted) {
                return seen;
            }
            let paths: Vec<_> = seen.iter().map(|r| (&r.method, &r.path)).collect();
            assert!(
                Instant::now() < deadline,
                "no {what} arrived within ten seconds; received {paths:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[tokio::test]
async fn an_error_and_a_panic_reach_sentry_as_envelopes_without_secrets() {
    let sentry = Receiver::start();
    let not_a_directory = tempfile::NamedTempFile::new().unwrap();
    let tweak = |s: &mut Settings| {
        s.sentry_dsn = Some(format!("http://publickey@{}/1", sentry.addr).into());
        s.jwt_secret = Some(JWT_SECRET.into());
        s.admin_password = Some(ADMIN_PASSWORD.into());
        // A file where the backup directory should be: the backup fails
        // inside Pebble, which logs the internal error.
        s.backup_dir = Some(not_a_directory.path().to_path_buf());
    };
    let mut settings = Settings::default();
    tweak(&mut settings);
    let (subscriber, telemetry) = pebble::telemetry::subscriber(&settings).unwrap();
    let _logging = tracing::subscriber::set_default(subscriber);
    let app = spawn_app_with(Backend::Sqlite, tweak).await.unwrap();

    // The login sends PASSWORD in its body; the token is a secret too.
    let token = app.admin().await;
    let (status, _) = app
        .post_json(
            &token,
            "/api/v1/backups",
            serde_json::json!({"kind": "full"}),
        )
        .await;
    assert_eq!(status, 500);
    let seen = sentry
        .wait_for("envelope with the internal error", |r| {
            r.path == "/api/1/envelope/" && r.contains("internal error")
        })
        .await;
    // Tagged with the failing request's fields, not a stale earlier span's.
    let report = seen.iter().find(|r| r.contains("internal error")).unwrap();
    assert!(report.contains("/api/v1/backups"));
    assert!(!report.contains("/api/v1/auth/login"));
    let panicked = std::panic::catch_unwind(|| panic!("pebble telemetry test panic"));
    assert!(panicked.is_err());
    sentry
        .wait_for("envelope with the panic", |r| {
            r.contains("pebble telemetry test panic")
        })
        .await;

    // Dropping the telemetry flushes whatever else was queued.
    app.shutdown().await;
    drop(telemetry);
    for r in sentry.seen.lock().unwrap().iter() {
        assert_eq!(r.method, Method::POST);
        for secret in [PASSWORD, JWT_SECRET, ADMIN_PASSWORD, token.as_str()] {
            assert!(
                !r.contains(secret),
                "a secret reached Sentry: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
    }
}

#[tokio::test]
async fn a_handled_request_is_exported_as_an_otlp_trace() {
    let collector = Receiver::start();
    let endpoint = format!("http://{}", collector.addr);
    let settings = Settings {
        otlp_endpoint: Some(endpoint.clone()),
        ..Settings::default()
    };
    let (subscriber, telemetry) = pebble::telemetry::subscriber(&settings).unwrap();
    let _logging = tracing::subscriber::set_default(subscriber);
    let app = spawn_app_with(Backend::Sqlite, |s| s.otlp_endpoint = Some(endpoint))
        .await
        .unwrap();

    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Once the server has stopped every request span is closed; dropping the
    // telemetry then exports what is still batched, as at process exit.
    app.shutdown().await;
    drop(telemetry);

    let seen = collector
        .wait_for("POST to /v1/traces", |r| {
            r.method == Method::POST && r.path == "/v1/traces"
        })
        .await;
    let export = seen.iter().find(|r| r.path == "/v1/traces").unwrap();
    assert_eq!(export.content_type, "application/x-protobuf");
    assert!(!export.body.is_empty());
    // Protobuf keeps strings as they are: the resource's service.name and
    // the request span's route template.
    assert!(export.contains("pebble"));
    assert!(export.contains("/healthz"));
}
