//! Backups and restore drills: last success and age per kind, outcomes,
//! and the recovery time and data-loss window of the last drill.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `full` or `activity`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub kind: &'static str,
    /// `ok` or `failed`.
    pub outcome: &'static str,
}

pub struct BackupMetrics {
    pub backups: Family<OutcomeLabels, Counter>,
    last_success: Family<KindLabel, Gauge<f64, AtomicU64>>,
    age: Family<KindLabel, Gauge<f64, AtomicU64>>,
    last_success_us: Mutex<HashMap<&'static str, i64>>,
    pub drill_rto: Gauge<f64, AtomicU64>,
    pub drill_rpo: Gauge<f64, AtomicU64>,
    pub drill_last: Gauge<f64, AtomicU64>,
}

impl BackupMetrics {
    pub fn register(registry: &mut Registry) -> BackupMetrics {
        let backups = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "backups",
            "Backups attempted, by kind and outcome",
            backups.clone(),
        );
        let last_success = Family::<KindLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "backup_last_success_timestamp_seconds",
            "Unix time of the last successful backup, by kind",
            last_success.clone(),
        );
        let age = Family::<KindLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "backup_age_seconds",
            "Seconds since the last successful backup, by kind (-1 = never)",
            age.clone(),
        );
        let drill_rto = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "dr_drill_rto_seconds",
            "Recovery time measured by the last restore drill",
            drill_rto.clone(),
        );
        let drill_rpo = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "dr_drill_rpo_seconds",
            "Data-loss window measured by the last restore drill",
            drill_rpo.clone(),
        );
        let drill_last = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "dr_drill_last_timestamp_seconds",
            "Unix time of the last successful restore drill",
            drill_last.clone(),
        );
        let metrics = BackupMetrics {
            backups,
            last_success,
            age,
            last_success_us: Mutex::new(HashMap::new()),
            drill_rto,
            drill_rpo,
            drill_last,
        };
        // Both kinds are exposed from the start, so "never backed up" alerts too.
        metrics.refresh_age(0);
        metrics
    }

    pub fn succeeded(&self, kind: &'static str, at_us: i64) {
        self.backups
            .get_or_create(&OutcomeLabels {
                kind,
                outcome: "ok",
            })
            .inc();
        self.last_success
            .get_or_create(&KindLabel { kind })
            .set(at_us as f64 / 1e6);
        let mut last = self
            .last_success_us
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let at = last.entry(kind).or_insert(at_us);
        *at = (*at).max(at_us);
    }

    /// The last success as recorded before this process started (from the
    /// backup catalogue), without counting it as a new backup.
    pub fn seed_last_success(&self, kind: &'static str, at_us: i64) {
        let mut last = self
            .last_success_us
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let at = last.entry(kind).or_insert(at_us);
        *at = (*at).max(at_us);
        self.last_success
            .get_or_create(&KindLabel { kind })
            .set(*at as f64 / 1e6);
    }

    pub fn failed(&self, kind: &'static str) {
        self.backups
            .get_or_create(&OutcomeLabels {
                kind,
                outcome: "failed",
            })
            .inc();
    }

    /// Sampled at scrape time, against the wall clock of the scrape.
    pub fn refresh_age(&self, now_us: i64) {
        let last = self
            .last_success_us
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for kind in ["full", "activity"] {
            let age = match last.get(kind) {
                Some(at) => (now_us - at).max(0) as f64 / 1e6,
                None => -1.0,
            };
            self.age.get_or_create(&KindLabel { kind }).set(age);
        }
    }
}
