//! Drafting, review and sending: generation latency, outcomes, the rolling
//! approval rate, the outbox, and response time from receipt to reply.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::rolling::RollingRate;

/// Reviews counted in the rolling approval rate.
const WINDOW: usize = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GeneratedLabels {
    /// `template` or `llm`.
    pub generator: &'static str,
    /// `ok` or `failed`; for `llm`, `ok` or why the template answered
    /// instead: `timeout`, `error`, `empty`, `too_long`, `unsigned`, `unsourced`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    /// `approved` or `rejected`.
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SendLabel {
    /// `sent`, `retry` or `dead`.
    pub outcome: &'static str,
}

pub struct DraftMetrics {
    pub generation_latency: Histogram,
    pub generated: Family<GeneratedLabels, Counter>,
    pub reviewed: Family<DecisionLabel, Counter>,
    approval_rate: RollingRate,
    pub sent: Family<SendLabel, Counter>,
    pub response_time: Histogram,
}

impl DraftMetrics {
    pub fn register(registry: &mut Registry) -> DraftMetrics {
        // Templates take about a millisecond; an LLM draft several seconds.
        let generation_latency = Histogram::new([
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ]);
        registry.register(
            "draft_generation_latency_seconds",
            "Time to generate one reply draft, facts lookup included",
            generation_latency.clone(),
        );
        let generated = Family::<GeneratedLabels, Counter>::default();
        registry.register(
            "drafts_generated",
            "Draft generations by generator and outcome",
            generated.clone(),
        );
        let reviewed = Family::<DecisionLabel, Counter>::default();
        registry.register(
            "drafts_reviewed",
            "Drafts approved or rejected by a person",
            reviewed.clone(),
        );
        let approval_rate = RollingRate::new(WINDOW);
        registry.register(
            "draft_approval_rate",
            "Share of the last 100 reviewed drafts that were approved",
            approval_rate.gauge(),
        );
        let sent = Family::<SendLabel, Counter>::default();
        registry.register(
            "emails_sent",
            "Outbox delivery attempts by outcome",
            sent.clone(),
        );
        // Replies go out minutes to days after the email arrived.
        let response_time = Histogram::new([
            60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0,
            604800.0,
        ]);
        registry.register(
            "response_time_seconds",
            "Time from an email's receipt to the reply being sent",
            response_time.clone(),
        );
        DraftMetrics {
            generation_latency,
            generated,
            reviewed,
            approval_rate,
            sent,
            response_time,
        }
    }

    pub fn reviewed(&self, approved: bool) {
        let decision = if approved { "approved" } else { "rejected" };
        self.reviewed
            .get_or_create(&DecisionLabel { decision })
            .inc();
        self.approval_rate.record(approved);
    }
}
