//! Prometheus metrics, rendered on the separate metrics listener. Labels are
//! bounded sets (route templates, methods, status codes, event types): never
//! addresses, ids or free text.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::Db;

pub mod ai;
pub mod backup;
pub mod drafts;
pub mod pipeline;
pub mod rolling;
pub mod tally;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route template, `unmatched` for a 404 from the fallback.
    pub route: String,
    /// One of the standard methods, or `other`: clients choose the method.
    pub method: &'static str,
    pub status: u16,
}

/// The method as a bounded label: a client may send any token as a method.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventTypeLabel {
    pub event_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
    pub backend: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub http_request_duration: Family<HttpLabels, Histogram>,
    pub audit_events: Family<EventTypeLabel, Counter>,
    pub audit_chain_ok: Gauge,
    pub audit_chain_length: Gauge,
    pub audit_last_verify_timestamp: Gauge,
    pub audit_last_checkpoint_timestamp: Gauge,
    pub audit_appender_stopped: Gauge,
    pub rate_limited: Counter,
    db_pool: Family<PoolLabel, Gauge>,
    db_pool_max: Gauge,
    pub tally: tally::TallyMetrics,
    pub pipeline: pipeline::PipelineMetrics,
    pub ai: ai::AiMetrics,
    pub drafts: drafts::DraftMetrics,
    pub backup: backup::BackupMetrics,
}

impl Metrics {
    pub fn new(backend: &'static str) -> Self {
        let mut registry = Registry::with_prefix("pebble");
        // API latencies live between a millisecond and a few seconds.
        let http_request_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration by matched route, method and status",
            http_request_duration.clone(),
        );
        let audit_events = Family::<EventTypeLabel, Counter>::default();
        registry.register(
            "audit_events",
            "Activity-stream events appended, by type",
            audit_events.clone(),
        );
        let audit_chain_ok = Gauge::default();
        registry.register(
            "audit_chain_ok",
            "1 when the last verification of the audit chain passed, 0 when it found a break",
            audit_chain_ok.clone(),
        );
        let audit_chain_length = Gauge::default();
        registry.register(
            "audit_chain_length",
            "Events in the activity stream at the last verification",
            audit_chain_length.clone(),
        );
        let audit_last_verify_timestamp = Gauge::default();
        registry.register(
            "audit_last_verify_timestamp_seconds",
            "Unix time of the last completed audit-chain verification",
            audit_last_verify_timestamp.clone(),
        );
        let audit_last_checkpoint_timestamp = Gauge::default();
        registry.register(
            "audit_last_checkpoint_timestamp_seconds",
            "Unix time of the last signed audit checkpoint",
            audit_last_checkpoint_timestamp.clone(),
        );
        let audit_appender_stopped = Gauge::default();
        registry.register(
            "audit_appender_stopped",
            "1 after a storage fault stopped the activity-stream appender (restart required)",
            audit_appender_stopped.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429 by the per-user limit",
            rate_limited.clone(),
        );
        let db_pool = Family::<PoolLabel, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by state",
            db_pool.clone(),
        );
        let db_pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "Most connections the database pool may open",
            db_pool_max.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                backend,
            })
            .set(1);
        registry.register("build_info", "Pebble build and storage backend", build_info);
        let tally = tally::TallyMetrics::register(&mut registry);
        let pipeline = pipeline::PipelineMetrics::register(&mut registry);
        let ai = ai::AiMetrics::register(&mut registry);
        let drafts = drafts::DraftMetrics::register(&mut registry);
        let backup = backup::BackupMetrics::register(&mut registry);
        Metrics {
            registry,
            http_request_duration,
            audit_events,
            audit_chain_ok,
            audit_chain_length,
            audit_last_verify_timestamp,
            audit_last_checkpoint_timestamp,
            audit_appender_stopped,
            rate_limited,
            db_pool,
            db_pool_max,
            tally,
            pipeline,
            ai,
            drafts,
            backup,
        }
    }

    pub fn count_event(&self, event_type: &str) {
        self.audit_events
            .get_or_create(&EventTypeLabel {
                event_type: event_type.to_owned(),
            })
            .inc();
    }

    /// The exposition text; pool gauges are sampled now rather than on every query.
    pub fn render(&self, db: &Db) -> String {
        let (in_use, idle) = db.pool_usage();
        self.db_pool
            .get_or_create(&PoolLabel { state: "in_use" })
            .set(in_use.into());
        self.db_pool
            .get_or_create(&PoolLabel { state: "idle" })
            .set(idle.into());
        self.db_pool_max.set(db.pool_max().into());
        self.encode()
    }

    /// The exposition text without sampling the pool (tests and benches have
    /// no database); ages are still taken against the wall clock.
    pub fn encode(&self) -> String {
        let now_us = chrono::Utc::now().timestamp_micros();
        self.tally.refresh_sync_age(now_us);
        self.backup.refresh_age(now_us);
        let mut open = String::new();
        encode(&mut open, &self.registry).expect("writing to a String cannot fail");
        classic_text(&open)
    }
}

/// The content type of [`Metrics::render`]: the classic text format, which
/// every Prometheus-compatible scraper reads and `promtool check metrics` lints.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// prometheus-client writes OpenMetrics only. The classic format differs in
/// what matters for these families: a counter family carries its `_total`
/// suffix in HELP and TYPE (else parsers see samples without metadata), HELP
/// escapes only `\\` and `\n`, `unknown` is `untyped`, and there is no `# EOF`.
fn classic_text(open: &str) -> String {
    use std::fmt::Write;
    let counters: std::collections::HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len() + 16 * counters.len());
    for line in open.lines() {
        let meta = line
            .strip_prefix("# HELP ")
            .map(|rest| ("HELP", rest))
            .or_else(|| line.strip_prefix("# TYPE ").map(|rest| ("TYPE", rest)));
        match meta {
            Some((kind, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(name) {
                    "_total"
                } else {
                    ""
                };
                let tail = match (kind, tail) {
                    ("HELP", help) => help.replace("\\\"", "\""),
                    (_, "unknown") => "untyped".to_owned(),
                    (_, other) => other.to_owned(),
                };
                // Writing to a String cannot fail.
                let _ = writeln!(out, "# {kind} {name}{suffix} {tail}");
            }
            None if line.starts_with('#') => {}
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
