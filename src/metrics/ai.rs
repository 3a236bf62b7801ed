//! The intent model in production: latency, confidence, who decided,
//! human overrides (and their rolling rate), drift scores.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::rolling::RollingRate;

/// Decisions counted in the rolling override rate.
const WINDOW: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// One of the eight intent labels.
    pub intent: &'static str,
    /// `classifier` or `llm`.
    pub decided_by: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabel {
    /// `confidence` or `label`.
    pub kind: &'static str,
}

pub struct AiMetrics {
    pub latency: Histogram,
    pub confidence: Histogram,
    pub classifications: Family<DecisionLabels, Counter>,
    pub overrides: Counter,
    override_rate: RollingRate,
    pub drift_psi: Family<DriftLabel, Gauge<f64, AtomicU64>>,
    pub drift_alerts: Counter,
}

impl AiMetrics {
    pub fn register(registry: &mut Registry) -> AiMetrics {
        // The local model answers in tens of microseconds; an LLM fallback takes seconds.
        let latency = Histogram::new([
            0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.25, 1.0, 2.5, 10.0,
        ]);
        registry.register(
            "ai_classification_latency_seconds",
            "Time to classify one email (local model, or LLM fallback included)",
            latency.clone(),
        );
        let confidence = Histogram::new([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]);
        registry.register(
            "ai_classification_confidence_score",
            "Calibrated confidence of each classification",
            confidence.clone(),
        );
        let classifications = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "ai_classifications",
            "Classifications by intent and deciding actor",
            classifications.clone(),
        );
        let overrides = Counter::default();
        registry.register(
            "ai_classification_overrides",
            "Classifications a person overrode",
            overrides.clone(),
        );
        let override_rate = RollingRate::new(WINDOW);
        registry.register(
            "ai_classification_override_rate",
            "Share of the last 200 classification decisions that were overrides",
            override_rate.gauge(),
        );
        let drift_psi = Family::<DriftLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "ai_drift_psi",
            "Population stability index against the training baseline, by distribution",
            drift_psi.clone(),
        );
        let drift_alerts = Counter::default();
        registry.register(
            "ai_drift_alerts",
            "Drift alerts raised",
            drift_alerts.clone(),
        );
        AiMetrics {
            latency,
            confidence,
            classifications,
            overrides,
            override_rate,
            drift_psi,
            drift_alerts,
        }
    }

    pub fn classified(
        &self,
        intent: &'static str,
        decided_by: &'static str,
        confidence: f64,
        seconds: f64,
    ) {
        self.latency.observe(seconds);
        self.confidence.observe(confidence);
        self.classifications
            .get_or_create(&DecisionLabels { intent, decided_by })
            .inc();
        self.override_rate.record(false);
    }

    pub fn overridden(&self) {
        self.overrides.inc();
        self.override_rate.record(true);
    }

    pub fn override_rate(&self) -> f64 {
        self.override_rate.value()
    }
}
