//! Building and running the application is a library call: settings, a
//! listener (port 0 allowed) and a shutdown future in, the real port out.
//! `main` and every test go through this same path.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::audit::{Audit, Signer};
use crate::auth::Auth;
use crate::clock::Clock;
use crate::config::Settings;
use crate::crm::Crm;
use crate::http::{self, AppState};
use crate::ingest::imap::{self, Fetcher};
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::objects::ObjectStore;
use crate::pipeline::{Pipeline, Policy};
use crate::store::Db;

/// Open the configured database, creating the data directory, refusing a
/// foreign or newer database, and applying migrations.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            settings.data_dir.display()
        )
    })?;
    let label = settings.database_label();
    Db::open(
        &settings.database_url(),
        settings.database_max_connections,
        &label,
    )
    .await
    .with_context(|| format!("cannot open database {label}"))
}

/// Everything the server and the CLI share: database, audit service, metrics.
pub async fn services(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let db = open_database(settings).await?;
    let signer = Signer::load(
        &settings.audit_origin,
        settings.audit_signing_key.as_ref(),
        &settings.signing_key_file(),
    )?;
    let metrics = Arc::new(Metrics::new(db.backend().as_str()));
    let audit = Arc::new(Audit::new(
        db.clone(),
        clock.clone(),
        signer,
        metrics.clone(),
    ));
    let auth = Arc::new(Auth::new(settings, db.clone(), audit.clone(), clock.clone()).await?);
    // Offline validation only: no online registry provider is configured by default.
    let crm = Arc::new(Crm::new(db.clone(), audit.clone(), None));
    let tally = Arc::new(
        crate::tally::Tally::new(
            settings,
            db.clone(),
            audit.clone(),
            clock.clone(),
            metrics.clone(),
        )
        .await?,
    );
    let intent = Arc::new(
        crate::intent::IntentService::new(settings, db.clone(), audit.clone(), metrics.clone())
            .await?,
    );
    let ingest = Arc::new(Ingest::new(
        db.clone(),
        audit.clone(),
        ObjectStore::new(settings.objects_dir()),
        metrics.clone(),
        settings.mail_limits(),
        settings.stream_list(),
    ));
    for mb in &settings.mailboxes {
        mb.validate()
            .map_err(|e| anyhow::anyhow!("mailbox {:?}: {e}", mb.name))?;
        ingest
            .check_stream(&mb.stream)
            .with_context(|| format!("mailbox {:?}", mb.name))?;
    }
    let outbox = Arc::new(crate::outbox::Outbox::new(
        settings,
        db.clone(),
        audit.clone(),
        clock.clone(),
        metrics.clone(),
    )?);
    let drafts = Arc::new(crate::drafts::Drafts::new(
        settings,
        db.clone(),
        audit.clone(),
        clock.clone(),
        metrics.clone(),
        tally.clone(),
        outbox.clone(),
    )?);
    let draft_step =
        crate::drafts::step::DraftStep::new(drafts.clone(), db.clone(), intent.clone());
    let pipeline = Arc::new(
        Pipeline::new(
            db.clone(),
            clock.clone(),
            metrics.clone(),
            Policy {
                max_attempts: settings.pipeline_max_attempts.max(1),
                retry_base: Duration::from_millis(settings.pipeline_retry_base_ms),
                lease: Duration::from_secs(settings.pipeline_lease_secs.max(1)),
            },
        )
        .with_handler(
            "classify",
            Arc::new(crate::intent::step::ClassifyStep::new(
                db.clone(),
                intent.clone(),
            )),
        )
        .with_handler(
            "extract",
            Arc::new(crate::pipeline::extract::ExtractStep::new(
                db.clone(),
                intent.clone(),
                clock.clone(),
            )),
        )
        .with_handler(
            "link",
            Arc::new(crate::pipeline::link::LinkStep::new(
                db.clone(),
                crm.clone(),
                intent.clone(),
            )),
        )
        .with_handler(
            "enrich",
            Arc::new(crate::pipeline::enrich::EnrichStep::new(
                db.clone(),
                tally.clone(),
                clock.clone(),
            )),
        )
        .with_handler("draft", Arc::new(draft_step)),
    );
    let settings = Arc::new(settings.clone());
    let backups = Arc::new(crate::backup::Backups::new(
        settings.clone(),
        db.clone(),
        audit.clone(),
        metrics.clone(),
        clock,
    ));
    Ok(AppState {
        settings,
        db,
        audit,
        auth,
        metrics,
        chain: Arc::default(),
        crm,
        tally,
        ingest,
        pipeline,
        backups,
        intent,
        drafts,
        outbox,
    })
}

pub struct Application {
    state: AppState,
    listener: TcpListener,
    metrics_listener: TcpListener,
}

impl Application {
    pub async fn build(
        settings: Settings,
        clock: Arc<dyn Clock>,
        listener: TcpListener,
        metrics_listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let state = services(&settings, clock).await?;
        // Fail at build time, not at first request, on a bad CORS list.
        http::cors(&settings.cors_origins)?;
        Ok(Application {
            state,
            listener,
            metrics_listener,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve the API and the metrics listener, and run the background
    /// workers, until `shutdown` completes; then drain in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let app = http::router(self.state.clone())?;
        // The peer address feeds the per-address login limit.
        let api = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop.clone().cancelled_owned());
        let metrics = axum::serve(self.metrics_listener, metrics_router(self.state.clone()))
            .with_graceful_shutdown(stop.clone().cancelled_owned());
        let workers = tokio::spawn(workers(self.state.clone(), stop.clone()));
        let tally_sync = tokio::spawn(tally_sync(self.state.clone(), stop.clone()));
        let mail = tokio::spawn(mail(self.state.clone(), stop.clone()));
        let backups = tokio::spawn(crate::backup::schedule::run(
            self.state.backups.clone(),
            stop.clone(),
        ));
        let intent = tokio::spawn(intent_worker(self.state.clone(), stop.clone()));
        let outbox = tokio::spawn(outbox_worker(self.state.clone(), stop.clone()));
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop.cancel();
        });
        let (a, m) = tokio::join!(api, metrics);
        let _ = workers.await;
        let _ = tally_sync.await;
        let _ = mail.await;
        let _ = backups.await;
        let _ = intent.await;
        let _ = outbox.await;
        self.state.db.close().await;
        a.context("API server")?;
        m.context("metrics server")?;
        Ok(())
    }
}

fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(
                |axum::extract::State(s): axum::extract::State<AppState>| async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            crate::metrics::CONTENT_TYPE,
                        )],
                        s.metrics.render(&s.db),
                    )
                },
            ),
        )
        .with_state(state)
}

/// Periodic work inside `pebble serve`: verify the chain at start, sign
/// checkpoints, apply retention. Each failure is logged and retried next tick;
/// none stops the server.
async fn workers(state: AppState, stop: CancellationToken) {
    let verify = async {
        match state.audit.verify().await {
            Ok(report) => {
                if !report.ok {
                    tracing::error!(
                        first_bad_seq = report.first_bad_seq,
                        problem = report.message,
                        "audit chain broken"
                    );
                }
                *state.chain.write().await = Some(report);
            }
            Err(e) => tracing::error!(error = %e, "audit verification failed"),
        }
    };
    tokio::select! {
        _ = verify => {}
        _ = stop.cancelled() => return,
    }
    let every = |secs: u64| {
        // The first tick one period from now: a restart is not a reason to sign or redact.
        let period = Duration::from_secs(secs.max(1));
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    };
    let checkpoint_secs = state.settings.audit_checkpoint_interval_secs;
    let retention_secs = state.settings.audit_retention_interval_secs;
    let mut checkpoints = every(checkpoint_secs);
    let mut retention = every(retention_secs);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = checkpoints.tick(), if checkpoint_secs > 0 => {
                if let Err(e) = state.audit.checkpoint().await {
                    tracing::error!(error = %e, "signing an audit checkpoint failed");
                }
            }
            _ = retention.tick(), if retention_secs > 0 => {
                match state.audit.apply_retention().await {
                    Ok(n) if n > 0 => tracing::info!(redacted = n, "retention applied"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "applying retention failed"),
                }
            }
        }
    }
}

/// Keep the Tally catalogue cache fresh. Its own task, so that a long export
/// never delays checkpoints; the first sync one period after start, like the
/// other workers (`pebble tally sync` fills the cache at once).
async fn tally_sync(state: AppState, stop: CancellationToken) {
    let secs = state.settings.tally_sync_interval_secs;
    if secs == 0 {
        return;
    }
    let period = Duration::from_secs(secs);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            r = state.tally.sync(false, pebble_core::audit::Actor::system("tally-sync")) => {
                if let Err(e) = r {
                    tracing::error!(error = %e, "periodic Tally sync failed; the cache keeps serving");
                }
            }
        }
    }
}

/// Mail in and through the pipeline: configured mailboxes are saved (the
/// API can add more), one watcher runs per enabled mailbox, and
/// `pipeline_workers` workers work the queue.
async fn mail(state: AppState, stop: CancellationToken) {
    let now = state.audit.clock().now().timestamp_micros();
    for mb in &state.settings.mailboxes {
        let saved = async {
            let mut tx = state.db.begin().await?;
            crate::store::emails::upsert_mailbox(&mut tx, &mb.row(now)).await?;
            tx.commit().await
        };
        if let Err(e) = saved.await {
            tracing::error!(mailbox = %mb.name, error = %e, "cannot save the configured mailbox");
        }
    }
    let fetcher = Arc::new(Fetcher {
        db: state.db.clone(),
        ingest: state.ingest.clone(),
        clock: Arc::new(crate::clock::SystemClock),
        metrics: state.metrics.clone(),
        poll: Duration::from_secs(state.settings.imap_poll_secs.max(1)),
        ca_file: state.settings.imap_ca_file.clone(),
    });
    let mut tasks = vec![tokio::spawn(imap::supervise(
        fetcher,
        Duration::from_secs(30),
        stop.clone(),
    ))];
    for _ in 0..state.settings.pipeline_workers {
        let (pipeline, stop) = (state.pipeline.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            pipeline.work(Duration::from_millis(500), stop).await
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// The intent model's upkeep: pick up a model promoted by another instance
/// (and a re-synced catalogue), and check drift. Failures are logged and
/// retried next tick.
async fn intent_worker(state: AppState, stop: CancellationToken) {
    let refresh_secs = state.settings.intent_refresh_secs;
    let drift_secs = state.settings.intent_drift_interval_secs;
    let every = |secs: u64| {
        let period = Duration::from_secs(secs.max(1));
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    };
    let mut refresh = every(refresh_secs);
    let mut drift = every(drift_secs);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = refresh.tick(), if refresh_secs > 0 => {
                match state.intent.refresh().await {
                    Ok(true) => tracing::info!(serving = %state.intent.serving_info().version, "intent model or catalogue reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "reloading the intent model failed; the current one keeps serving"),
                }
            }
            _ = drift.tick(), if drift_secs > 0 => {
                match state.intent.check_drift().await {
                    Ok((view, true)) => tracing::warn!(model = %view.model_version, reasons = ?view.reasons, "intent model drift alert"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "drift check failed"),
                }
            }
        }
    }
}

/// Send approved replies: a pass whenever a draft is approved, and every
/// `outbox_poll_ms` for retries that fell due. Idle without an SMTP server.
async fn outbox_worker(state: AppState, stop: CancellationToken) {
    let outbox = state.outbox.clone();
    if !outbox.is_configured() {
        return;
    }
    loop {
        // Not raced against `stop`: an attempt under way is finished and recorded.
        if let Err(e) = outbox.run(Some(&stop)).await {
            tracing::error!(error = %e, "outbox pass failed; retrying on the next tick");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = outbox.woken() => {}
            _ = tokio::time::sleep(outbox.poll) => {}
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
