//! Ingestion and the durable pipeline: mail in by stream, quarantines,
//! step latency and errors by stage, queue depth, last poll per mailbox.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabel {
    /// A configured stream name (`sales`, `support`, …): a short, bounded set.
    pub stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuarantineLabels {
    pub stream: String,
    /// A fixed reason code (`unparsable`, `too_large`, …).
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    /// A pipeline step (`parse`, `classify`, `extract`, `link`, `enrich`, `draft`, `send`, `imap`).
    pub stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub stage: &'static str,
    /// `ok`, `retry` or `dead`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobStateLabel {
    /// `queued`, `running` or `dead`.
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MailboxLabel {
    /// The configured mailbox name, never its address.
    pub mailbox: String,
}

pub struct PipelineMetrics {
    pub emails_ingested: Family<StreamLabel, Counter>,
    pub emails_duplicate: Family<StreamLabel, Counter>,
    pub emails_quarantined: Family<QuarantineLabels, Counter>,
    pub errors: Family<StageLabel, Counter>,
    pub step_duration: Family<StepLabels, Histogram>,
    pub jobs: Family<JobStateLabel, Gauge>,
    pub mailbox_last_poll: Family<MailboxLabel, Gauge<f64, AtomicU64>>,
}

impl PipelineMetrics {
    pub fn register(registry: &mut Registry) -> PipelineMetrics {
        let emails_ingested = Family::<StreamLabel, Counter>::default();
        registry.register(
            "emails_ingested",
            "Emails stored (new, not duplicates), by stream",
            emails_ingested.clone(),
        );
        let emails_duplicate = Family::<StreamLabel, Counter>::default();
        registry.register(
            "emails_duplicate",
            "Emails received again (same Message-ID and content), by stream",
            emails_duplicate.clone(),
        );
        let emails_quarantined = Family::<QuarantineLabels, Counter>::default();
        registry.register(
            "emails_quarantined",
            "Emails kept in quarantine instead of processed, by stream and reason",
            emails_quarantined.clone(),
        );
        let errors = Family::<StageLabel, Counter>::default();
        registry.register(
            "pipeline_errors",
            "Pipeline step failures (each retry counts), by stage",
            errors.clone(),
        );
        // Steps range from sub-millisecond (parse, classify) to seconds (Tally, SMTP, an LLM).
        let step_duration = Family::<StepLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ])
        });
        registry.register(
            "pipeline_step_duration_seconds",
            "Pipeline step run time, by stage and outcome",
            step_duration.clone(),
        );
        let jobs = Family::<JobStateLabel, Gauge>::default();
        registry.register(
            "pipeline_jobs",
            "Pipeline jobs by state, sampled by the worker",
            jobs.clone(),
        );
        let mailbox_last_poll = Family::<MailboxLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "mailbox_last_poll_timestamp_seconds",
            "Unix time of the last successful IMAP poll or IDLE wake-up, by mailbox",
            mailbox_last_poll.clone(),
        );
        PipelineMetrics {
            emails_ingested,
            emails_duplicate,
            emails_quarantined,
            errors,
            step_duration,
            jobs,
            mailbox_last_poll,
        }
    }

    pub fn step(&self, stage: &'static str, outcome: &'static str, seconds: f64) {
        self.step_duration
            .get_or_create(&StepLabels { stage, outcome })
            .observe(seconds);
        if outcome != "ok" {
            self.errors.get_or_create(&StageLabel { stage }).inc();
        }
    }
}
