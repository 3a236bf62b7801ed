//! Tally's figures for the observability issue: lookup latency, outcomes by
//! source, a rolling success rate and the age of the catalogue cache.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::rolling::RollingRate;

/// Lookups counted in the rolling success rate.
const WINDOW: usize = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    /// `found`, `not_found` or `failed`.
    pub outcome: &'static str,
    /// `live` or `cache`.
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `ping`, `companies`, `stock_items`, `stock_item`, `ledgers` or `ledger`.
    pub query: &'static str,
    /// `ok` or the failure class: `transport`, `timeout`, `http_status`,
    /// `malformed` (the body is no readable Tally XML answer), `refused`
    /// (Tally answered with an error), `breaker_open`, `busy`, `invalid_request`.
    pub outcome: &'static str,
}

pub struct TallyMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub lookup_latency: Histogram,
    pub lookups: Family<LookupLabels, Counter>,
    success_rate: RollingRate,
    sync_age: Gauge<f64, AtomicU64>,
    /// Unix µs of the last good sync; 0 = none yet.
    last_sync_us: AtomicI64,
}

impl TallyMetrics {
    pub fn register(registry: &mut Registry) -> TallyMetrics {
        // Cached lookups take well under a millisecond, live ones up to the lookup timeout.
        let lookup_latency = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ]);
        registry.register(
            "tally_lookup_latency_seconds",
            "Stock lookup latency, live or from the cache",
            lookup_latency.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "tally_requests",
            "Requests to Tally's XML server (each attempt), by query and outcome",
            requests.clone(),
        );
        let lookups = Family::<LookupLabels, Counter>::default();
        registry.register(
            "tally_lookups",
            "Stock lookups by outcome and source",
            lookups.clone(),
        );
        let success_rate = RollingRate::new(WINDOW);
        registry.register(
            "tally_lookup_success_rate",
            "Share of the last 100 lookups that returned stock (live or cache)",
            success_rate.gauge(),
        );
        let sync_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "tally_sync_age_seconds",
            "Seconds since the last successful catalogue sync (-1 = never)",
            sync_age.clone(),
        );
        TallyMetrics {
            requests,
            lookup_latency,
            lookups,
            success_rate,
            sync_age,
            last_sync_us: AtomicI64::new(0),
        }
    }

    pub fn lookup(&self, outcome: &'static str, source: &'static str, seconds: f64) {
        self.lookup_latency.observe(seconds);
        self.lookups
            .get_or_create(&LookupLabels { outcome, source })
            .inc();
        self.success_rate.record(outcome != "failed");
    }

    pub fn synced_at(&self, unix_us: i64) {
        self.last_sync_us.fetch_max(unix_us, Ordering::Relaxed);
    }

    /// Sampled at scrape time, against the wall clock of the scrape.
    pub fn refresh_sync_age(&self, now_us: i64) {
        let at = self.last_sync_us.load(Ordering::Relaxed);
        let age = if at == 0 {
            -1.0
        } else {
            (now_us - at).max(0) as f64 / 1e6
        };
        self.sync_age.set(age);
    }
}
