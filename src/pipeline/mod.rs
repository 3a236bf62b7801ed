//! The durable pipeline (SPEC §2, steps 2–6): each email moves through
//! classify → extract → link → enrich → draft as jobs in the database. A
//! worker claims a job, runs the step, and in one transaction marks it done
//! and queues the next; a failure goes back to the queue with exponential
//! backoff and, after the last attempt, to the dead-letter state. A worker
//! that dies holding a job loses it when its lease runs out.
//!
//! Steps must be idempotent: a crash after a step's own writes and before
//! its completion runs the step again.
//!
//! Classify and draft belong to their capabilities (`intent::step`,
//! `drafts::step`); extract, link and enrich draw on several (identifiers,
//! the CRM, Tally) and live here.

pub mod enrich;
pub mod extract;
pub mod link;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::jobs::{self as sql, Job};
use crate::store::{Db, StoreError, Tx};

/// The steps after ingestion, in order.
pub const STEPS: [&str; 5] = ["classify", "extract", "link", "enrich", "draft"];

pub fn next_step(step: &str) -> Option<&'static str> {
    let i = STEPS.iter().position(|s| *s == step)?;
    STEPS.get(i + 1).copied()
}

/// Queue the first step for a newly stored email, inside its transaction.
pub async fn enqueue_first(tx: &mut Tx, email_id: &str, now: i64) -> Result<(), StoreError> {
    sql::enqueue(tx, email_id, STEPS[0], now).await
}

/// What a step reports when it has nothing to do for this email (e.g. no
/// draft for spam); the pipeline still moves on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepDone {
    pub note: Option<String>,
}

/// One capability's step. Later capabilities (the model, Tally enrichment,
/// drafting) register theirs; a step with no handler passes the email on.
#[async_trait]
pub trait StepHandler: Send + Sync {
    async fn run(&self, email_id: &str) -> anyhow::Result<StepDone>;
}

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub max_attempts: i32,
    pub retry_base: Duration,
    pub lease: Duration,
}

/// The outcome of running one job, for tests and `pebble pipeline run`.
#[derive(Clone, Debug, Serialize)]
pub struct Ran {
    pub job_id: i64,
    pub email_id: String,
    pub step: String,
    /// `ok`, `retry`, `dead` or `lost` (another worker took the job over).
    pub outcome: &'static str,
    pub error: Option<String>,
    /// What the step said it did (kept with the job).
    pub note: Option<String>,
}

pub struct Pipeline {
    db: Db,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    worker: String,
    policy: Policy,
    handlers: Vec<(&'static str, Arc<dyn StepHandler>)>,
}

impl Pipeline {
    pub fn new(db: Db, clock: Arc<dyn Clock>, metrics: Arc<Metrics>, policy: Policy) -> Self {
        Pipeline {
            db,
            clock,
            metrics,
            // Unique per process and instance, so leases tell workers apart.
            worker: format!("{}:{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            policy,
            handlers: Vec::new(),
        }
    }

    /// Register the handler of `step` (one of `STEPS`).
    pub fn with_handler(mut self, step: &'static str, handler: Arc<dyn StepHandler>) -> Self {
        assert!(STEPS.contains(&step), "unknown pipeline step {step}");
        self.handlers.retain(|(s, _)| *s != step);
        self.handlers.push((step, handler));
        self
    }

    pub fn worker_id(&self) -> &str {
        &self.worker
    }

    /// Claim and run one job; None when nothing is due.
    pub async fn run_once(&self) -> Result<Option<Ran>, StoreError> {
        let now = self.clock.now().timestamp_micros();
        let lease_until = now + self.policy.lease.as_micros() as i64;
        let Some(job) = sql::claim(&self.db, &self.worker, now, lease_until).await? else {
            return Ok(None);
        };
        let started = Instant::now();
        let stage = STEPS
            .iter()
            .copied()
            .find(|s| *s == job.step)
            .unwrap_or("unknown");
        let result = match self.handler(&job.step) {
            Some(h) => h.run(&job.email_id).await,
            None => Ok(StepDone {
                note: Some("no handler configured for this step".into()),
            }),
        };
        let took = started.elapsed();
        let now = self.clock.now().timestamp_micros();
        let ran = match result {
            Ok(done) => self.complete(&job, took, done.note, now).await?,
            Err(e) => self.fail(&job, &e, now).await?,
        };
        self.metrics
            .pipeline
            .step(stage, ran.outcome, took.as_secs_f64());
        tracing::info!(
            step = %job.step,
            email_id = %job.email_id,
            outcome = ran.outcome,
            latency_ms = took.as_millis() as u64,
            note = ran.note.as_deref().unwrap_or_default(),
            "pipeline step"
        );
        Ok(Some(ran))
    }

    /// Run jobs until none is due (or `limit` ran); returns what ran.
    pub async fn drain(&self, limit: usize) -> Result<Vec<Ran>, StoreError> {
        let mut out = Vec::new();
        while out.len() < limit {
            match self.run_once().await? {
                Some(ran) => out.push(ran),
                None => break,
            }
        }
        Ok(out)
    }

    fn handler(&self, step: &str) -> Option<&Arc<dyn StepHandler>> {
        self.handlers
            .iter()
            .find(|(s, _)| *s == step)
            .map(|(_, h)| h)
    }

    async fn complete(
        &self,
        job: &Job,
        took: Duration,
        note: Option<String>,
        now: i64,
    ) -> Result<Ran, StoreError> {
        let mut tx = self.db.begin().await?;
        let held = sql::complete(
            &mut tx,
            job.id,
            &self.worker,
            took.as_micros() as i64,
            note.as_deref(),
            now,
        )
        .await?;
        if !held {
            drop(tx);
            return Ok(self.ran(job, "lost", None));
        }
        if let Some(next) = next_step(&job.step) {
            sql::enqueue(&mut tx, &job.email_id, next, now).await?;
        }
        tx.commit().await?;
        let mut ran = self.ran(job, "ok", None);
        ran.note = note;
        Ok(ran)
    }

    async fn fail(&self, job: &Job, error: &anyhow::Error, now: i64) -> Result<Ran, StoreError> {
        let dead = job.attempts >= self.policy.max_attempts;
        // 1×, 2×, 4×, … the base, capped at an hour.
        let factor = 1u32 << (job.attempts.clamp(1, 12) - 1);
        let backoff = (self.policy.retry_base * factor).min(Duration::from_secs(3600));
        let run_after = now + backoff.as_micros() as i64;
        let message = format!("{error:#}");
        sql::fail(
            &self.db,
            job.id,
            &self.worker,
            &message,
            dead,
            run_after,
            now,
        )
        .await?;
        let outcome = if dead { "dead" } else { "retry" };
        tracing::warn!(step = %job.step, email_id = %job.email_id, attempts = job.attempts, outcome, error = %message, "pipeline step failed");
        Ok(self.ran(job, outcome, Some(message)))
    }

    fn ran(&self, job: &Job, outcome: &'static str, error: Option<String>) -> Ran {
        Ran {
            job_id: job.id,
            email_id: job.email_id.clone(),
            step: job.step.clone(),
            outcome,
            error,
            note: None,
        }
    }

    /// Sample queue depth into the jobs gauge.
    pub async fn sample(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let counts = sql::counts(&self.db).await?;
        for state in ["queued", "running", "dead"] {
            let n = counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            self.metrics
                .pipeline
                .jobs
                .get_or_create(&crate::metrics::pipeline::JobStateLabel { state })
                .set(n);
        }
        Ok(counts)
    }

    /// The worker loop inside `pebble serve`: run jobs while there are any,
    /// sleep `idle` when the queue is empty, stop on `stop`.
    pub async fn work(&self, idle: Duration, stop: tokio_util::sync::CancellationToken) {
        loop {
            let ran = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.run_once() => r,
            };
            match ran {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "pipeline worker cannot reach the queue"),
            }
            if let Err(e) = self.sample().await {
                tracing::warn!(error = %e, "sampling the pipeline queue failed");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(idle) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_the_spec_order() {
        assert_eq!(next_step("classify"), Some("extract"));
        assert_eq!(next_step("enrich"), Some("draft"));
        assert_eq!(next_step("draft"), None);
        assert_eq!(next_step("bogus"), None);
    }
}
