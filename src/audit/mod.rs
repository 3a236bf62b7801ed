//! The activity-stream service: record events, verify the chain, sign
//! checkpoints, prove inclusion, apply retention and export. The rules live in
//! `pebble_core::audit`; the SQL in `store::activity`; this module joins them.

pub mod export;
pub mod keys;
pub mod proof;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt;
use pebble_core::audit::{
    self as rules, Anchor, ChainBreak, ChainVerifier, EventType, NewEvent, RetentionClass,
    StoredEvent,
};
use pebble_core::merkle::RootBuilder;
use serde::Serialize;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::activity::{self, Checkpoint, Filter, RedactionReason};
use crate::store::{Db, StoreError, Tx};

pub use keys::Signer;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("seq {0} is not in the activity stream")]
    NoSuchEvent(i64),
    #[error("export failed: {0}")]
    Export(String),
    #[error("signing key: {0}")]
    Key(String),
    #[error("the activity stream stopped accepting writes after a storage failure; restart Pebble once the storage is healthy")]
    AppenderStopped,
}

/// The outcome of verifying the whole chain.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    /// Events that verified, from seq 1 up.
    pub verified: i64,
    pub head_hash: String,
    /// The first problem, naming its seq.
    pub first_bad_seq: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub problem: Option<ChainBreak>,
    pub message: Option<String>,
    /// The newest signed checkpoint the chain was checked against.
    pub checkpoint_tree_size: Option<i64>,
    pub redacted: i64,
    pub duration_ms: u128,
}

pub struct Audit {
    db: Db,
    /// Set after a storage fault: the fsyncgate lesson is that a failed write
    /// or flush may be reported as success if retried, so the appender stops
    /// for good rather than retry into a possibly torn log.
    stopped: AtomicBool,
    clock: Arc<dyn Clock>,
    signer: Signer,
    metrics: Arc<Metrics>,
}

impl Audit {
    pub fn new(db: Db, clock: Arc<dyn Clock>, signer: Signer, metrics: Arc<Metrics>) -> Self {
        Audit {
            db,
            stopped: AtomicBool::new(false),
            clock,
            signer,
            metrics,
        }
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Append events inside the caller's transaction, so that the change and
    /// its record commit together or not at all.
    pub async fn append(
        &self,
        tx: &mut Tx,
        events: &[NewEvent],
    ) -> Result<Vec<StoredEvent>, AuditError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(AuditError::AppenderStopped);
        }
        let stored = activity::append(tx, events, self.clock.now())
            .await
            .map_err(|e| self.stop_on_fault(e))?;
        for e in &stored {
            self.metrics.count_event(&e.event_type);
        }
        Ok(stored)
    }

    /// Commit a transaction that carries events; a storage fault here stops
    /// the appender (see `stopped`).
    pub async fn commit(&self, tx: Tx) -> Result<(), AuditError> {
        tx.commit().await.map_err(|e| self.stop_on_fault(e))?;
        Ok(())
    }

    /// Append events in a transaction of their own.
    pub async fn record(&self, events: &[NewEvent]) -> Result<Vec<StoredEvent>, AuditError> {
        if self.is_stopped() {
            return Err(AuditError::AppenderStopped);
        }
        let mut tx = self.db.begin().await?;
        let stored = self.append(&mut tx, events).await?;
        self.commit(tx).await?;
        Ok(stored)
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn stop_on_fault(&self, e: StoreError) -> AuditError {
        if e.is_storage_fault() {
            self.stopped.store(true, Ordering::SeqCst);
            self.metrics.audit_appender_stopped.set(1);
            tracing::error!(error = %e, "storage fault while appending to the activity stream; the appender has stopped");
        }
        AuditError::Store(e)
    }

    /// Recompute the whole chain, and check it against the newest checkpoint
    /// (its signature, Merkle root and head), which catches truncation.
    pub async fn verify(&self) -> Result<VerifyReport, AuditError> {
        let report = verify_chain(&self.db).await?;
        self.metrics.audit_chain_ok.set(i64::from(report.ok));
        self.metrics.audit_chain_length.set(report.verified);
        self.metrics
            .audit_last_verify_timestamp
            .set(self.clock.now().timestamp());
        Ok(report)
    }

    /// Sign a checkpoint of the current head and record that it was signed.
    pub async fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        let (size, head) = activity::head(&self.db).await?;
        let hashes = activity::hashes_upto(&self.db, size).await?;
        let mut tree = RootBuilder::new();
        for h in &hashes {
            let mut raw = [0u8; 32];
            hex::decode_to_slice(h, &mut raw)
                .map_err(|_| AuditError::Key(format!("stored hash {h:?} is not hex")))?;
            tree.push(&pebble_core::merkle::leaf_hash(&raw));
        }
        let created_at = self.clock.now().timestamp_micros();
        let root = hex::encode(tree.root());
        let checkpoint = self.signer.sign(size, root, head, created_at);
        let mut tx = self.db.begin().await?;
        activity::insert_checkpoint(&mut tx, &checkpoint).await?;
        self.append(
            &mut tx,
            &[NewEvent::new(
                EventType::AuditCheckpointSigned,
                rules::Actor::system("audit"),
                "audit_checkpoint",
                size.to_string(),
                serde_json::json!({
                    "tree_size": checkpoint.tree_size,
                    "merkle_root": checkpoint.merkle_root,
                    "chain_head": checkpoint.chain_head,
                    "key_id": checkpoint.key_id,
                }),
                self.clock.now(),
            )],
        )
        .await?;
        self.commit(tx).await?;
        self.metrics
            .audit_last_checkpoint_timestamp
            .set(self.clock.now().timestamp());
        Ok(checkpoint)
    }

    /// An inclusion proof for one event against the oldest checkpoint that
    /// covers it, signing a fresh checkpoint when none does yet.
    pub async fn prove(&self, seq: i64) -> Result<proof::InclusionProof, AuditError> {
        let event = match activity::get(&self.db, seq).await {
            Ok(e) => e,
            Err(StoreError::NotFound) => return Err(AuditError::NoSuchEvent(seq)),
            Err(e) => return Err(e.into()),
        };
        let checkpoint = match activity::checkpoint(&self.db, Some(seq)).await? {
            Some(c) => c,
            None => self.checkpoint().await?,
        };
        let hashes = activity::hashes_upto(&self.db, checkpoint.tree_size).await?;
        proof::build(event, &hashes, checkpoint, &self.signer)
    }

    /// Redact payloads past their retention class, recording each redaction.
    /// Returns how many payloads were emptied.
    pub async fn apply_retention(&self) -> Result<u64, AuditError> {
        let now = self.clock.now();
        let mut total = 0;
        for class in RetentionClass::ALL {
            loop {
                let seqs =
                    activity::past_retention(&self.db, class.as_str(), class.cutoff(now), 1000)
                        .await?;
                if seqs.is_empty() {
                    break;
                }
                let mut tx = self.db.begin().await?;
                let n = activity::redact(&mut tx, &seqs, RedactionReason::Retention, now).await?;
                self.append(
                    &mut tx,
                    &[NewEvent::new(
                        EventType::RetentionApplied,
                        rules::Actor::system("retention"),
                        "retention_class",
                        class.as_str(),
                        serde_json::json!({
                            "retention_class": class.as_str(),
                            "redacted": n,
                            "first_seq": seqs.first(),
                            "last_seq": seqs.last(),
                        }),
                        now,
                    )],
                )
                .await?;
                self.commit(tx).await?;
                total += n;
                if n == 0 {
                    break;
                }
            }
        }
        Ok(total)
    }
}

/// Verify the chain of any database (the live one, or a restored copy)
/// without touching the live metrics.
pub async fn verify_chain(db: &Db) -> Result<VerifyReport, AuditError> {
    let started = Instant::now();
    let checkpoint = activity::checkpoint(db, None).await?;
    let mut verifier = ChainVerifier::default();
    let mut tree = RootBuilder::new();
    let mut hash_at_anchor = None;
    let mut redacted = 0;
    let mut problem = None;
    let anchor_size = checkpoint.as_ref().map(|c| c.tree_size).unwrap_or(0);
    let mut events = activity::stream(db, &Filter::default());
    while let Some(e) = events.try_next().await? {
        match verifier.check(&e) {
            Ok(hash) => {
                if e.seq <= anchor_size {
                    tree.push(&pebble_core::merkle::leaf_hash(&hash));
                }
                if e.seq == anchor_size {
                    hash_at_anchor = Some(hash);
                }
                if e.payload.is_none() {
                    redacted += 1;
                }
            }
            Err(b) => {
                problem = Some(b);
                break;
            }
        }
    }
    drop(events);
    if let (None, Some(c)) = (&problem, &checkpoint) {
        let anchor = Anchor {
            seq: c.tree_size,
            hash: c.chain_head.clone(),
        };
        problem = rules::check_anchor(verifier.verified(), &anchor, hash_at_anchor.as_ref()).err();
        if problem.is_none() && hex::encode(tree.root()) != c.merkle_root {
            problem = Some(ChainBreak::CheckpointMismatch { seq: c.tree_size });
        }
    }
    let ok = problem.is_none();
    let report = VerifyReport {
        ok,
        verified: verifier.verified(),
        head_hash: hex::encode(verifier.head()),
        first_bad_seq: problem.as_ref().map(ChainBreak::seq),
        message: problem.as_ref().map(ToString::to_string),
        problem,
        checkpoint_tree_size: checkpoint.map(|c| c.tree_size),
        redacted,
        duration_ms: started.elapsed().as_millis(),
    };
    Ok(report)
}

/// Parse a time bound: RFC 3339, or a plain date meaning its midnight UTC.
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_micros());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp_micros()
        })
        .map_err(|_| format!("{text:?} is not an RFC 3339 time or a YYYY-MM-DD date"))
}

/// Parse `TYPE:ID`.
pub fn parse_entity(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((t, id)) if !t.is_empty() && !id.is_empty() => Ok((t.to_owned(), id.to_owned())),
        _ => Err(format!("{text:?} is not TYPE:ID")),
    }
}

/// Check an event-type filter against the known types.
pub fn parse_event_type(text: &str) -> Result<String, String> {
    text.parse::<EventType>()
        .map(|t| t.as_str().to_owned())
        .map_err(|e| e.to_string())
}
