//! The intent model in production (SPEC §4): the model that serves, the
//! decision recorded for each email, people's reviews and overrides, the
//! model registry (train, evaluate, promote, roll back) and drift.
//!
//! The model itself is the pure `pebble-intent` crate; this module joins it
//! to the database, the activity stream, metrics and the optional LLM.
//!
//! * The serving model is the registry's promoted one, or the model shipped
//!   in the binary while nothing is promoted. Every instance re-reads the
//!   registry every `intent_refresh_secs`, so a promotion made by one
//!   reaches all; the instance that promotes switches at once.
//! * Training merges the corpus with every reviewed decision (overrides and
//!   confirmations). Corrections are always trained on, never held out, so
//!   the held-out split stays the corpus's own and models stay comparable.
//! * Promotion compares candidate and serving model on today's held-out
//!   split and refuses a candidate that is worse.

pub mod llm;
pub mod offline;
pub mod step;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::Datelike;
use pebble_core::audit::{canonical_time, Actor, EventType, NewEvent};
use pebble_core::catalog::CatalogItem;
use pebble_intent::classify::Classifier;
use pebble_intent::corpus::Example;
use pebble_intent::drift::{self, Profile, Status, Thresholds};
use pebble_intent::eval::Evaluation;
use pebble_intent::model::{Model, ModelError, TrainConfig};
use pebble_intent::products::ProductMention;
use pebble_intent::Intent;
use serde::{Serialize, Serializer};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{Audit, AuditError};
use crate::config::Settings;
use crate::llm::{ChatClient, LlmConfig};
use crate::metrics::Metrics;
use crate::store::intent::{self as sql, DecisionRow, ModelRow, OverrideRow};
use crate::store::{Db, StoreError};

pub use offline::{default_model, load_catalog, load_corpus, DEFAULT_DATA, DEFAULT_MODEL_PATH};

const MAX_EMAIL_ID: usize = 256;
const MAX_JUSTIFICATION: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum IntentError {
    #[error("{field}: {detail}")]
    BadInput { field: String, detail: String },
    #[error("not found")]
    NotFound,
    /// The email was erased: there is no text left to decide on.
    #[error("the email was erased")]
    Erased,
    #[error("{0}")]
    Conflict(String),
    /// A candidate that does worse than the serving model on the held-out split.
    #[error("not promoted: {0}")]
    Worse(String),
    #[error("a training run is already in progress")]
    Busy,
    #[error("the training corpus is not available: {0:#}")]
    Corpus(anyhow::Error),
    #[error("registered model {version} cannot be loaded: {source}")]
    BadModel { version: String, source: ModelError },
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for IntentError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => IntentError::NotFound,
            other => IntentError::Store(other),
        }
    }
}

fn bad(field: &str, detail: impl Into<String>) -> IntentError {
    IntentError::BadInput {
        field: field.into(),
        detail: detail.into(),
    }
}

/// Times leave as RFC 3339 text, like every other API time.
fn time<S: Serializer>(micros: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&canonical_time(*micros))
}

fn opt_time<S: Serializer>(micros: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match micros {
        Some(m) => s.serialize_str(&canonical_time(*m)),
        None => s.serialize_none(),
    }
}

/// A phrase behind a decision: the local model's, with its weight, or one
/// the LLM quoted.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct EvidenceItem {
    pub phrase: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub weight: Option<f64>,
}

/// The decision on one email, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub email_id: String,
    /// The label that stands now: the decision, or a person's override.
    #[schema(value_type = String)]
    pub intent: Intent,
    /// Whether `intent` creates or advances a lead.
    pub is_lead: bool,
    /// What the deciding actor (model or LLM) said.
    #[schema(value_type = String)]
    pub ai_intent: Intent,
    /// The deciding actor's confidence (calibrated for the local model).
    pub confidence: f64,
    /// `classifier:<model version>` or `llm:<model>`.
    pub decided_by: String,
    /// The local model consulted.
    pub model_version: String,
    /// The local model's own answer and confidence.
    #[schema(value_type = String)]
    pub model_intent: Intent,
    pub model_confidence: f64,
    pub evidence: Vec<EvidenceItem>,
    /// `{products: [{sku, name, qty, unit}], gstin, pan, cin, phone}`.
    #[schema(value_type = Object)]
    pub entities: serde_json::Value,
    /// Why the LLM's answer was not used, when it was asked.
    pub llm_error: Option<String>,
    #[serde(serialize_with = "time")]
    #[schema(value_type = String)]
    pub created_at: i64,
    #[serde(serialize_with = "opt_time")]
    #[schema(value_type = Option<String>)]
    pub reviewed_at: Option<i64>,
    /// The user who confirmed or overrode it.
    pub reviewed_by: Option<String>,
    pub overridden: bool,
}

impl Decision {
    /// The catalogue products found in the email, for the pipeline's later steps.
    pub fn products(&self) -> Vec<ProductMention> {
        serde_json::from_value(self.entities["products"].clone()).unwrap_or_default()
    }
}

fn parse_intent(text: &str, what: &str) -> Result<Intent, IntentError> {
    Intent::parse(text).ok_or_else(|| {
        IntentError::Internal(format!("stored {what} {text:?} is not an intent label"))
    })
}

impl TryFrom<DecisionRow> for Decision {
    type Error = IntentError;

    fn try_from(r: DecisionRow) -> Result<Self, Self::Error> {
        let intent = parse_intent(&r.intent, "intent")?;
        Ok(Decision {
            is_lead: intent.is_lead(),
            intent,
            ai_intent: parse_intent(&r.ai_intent, "ai_intent")?,
            confidence: r.confidence,
            decided_by: r.decided_by,
            model_version: r.model_version,
            model_intent: parse_intent(&r.model_intent, "model_intent")?,
            model_confidence: r.model_confidence,
            evidence: serde_json::from_str(&r.evidence)
                .map_err(|e| IntentError::Internal(format!("stored evidence: {e}")))?,
            entities: serde_json::from_str(&r.entities)
                .map_err(|e| IntentError::Internal(format!("stored entities: {e}")))?,
            llm_error: r.llm_error,
            created_at: r.created_at,
            reviewed_at: r.reviewed_at,
            reviewed_by: r.reviewed_by,
            overridden: r.overridden,
            email_id: r.email_id,
        })
    }
}

/// The label standing on an email, for lists.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Label {
    pub intent: Intent,
    pub confidence: f64,
    /// A person confirmed or overrode it.
    pub reviewed: bool,
}

/// An override with its justification.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OverrideView {
    pub previous_intent: String,
    pub intent: String,
    pub justification: String,
    pub user_id: String,
    #[serde(serialize_with = "time")]
    #[schema(value_type = String)]
    pub created_at: i64,
}

impl From<OverrideRow> for OverrideView {
    fn from(o: OverrideRow) -> Self {
        OverrideView {
            previous_intent: o.previous_intent,
            intent: o.intent,
            justification: o.justification,
            user_id: o.user_id,
            created_at: o.created_at,
        }
    }
}

/// A low-confidence decision waiting for a person.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueueItem {
    pub email_id: String,
    pub subject: String,
    #[schema(value_type = String)]
    pub intent: Intent,
    pub confidence: f64,
    pub decided_by: String,
    pub model_version: String,
    pub evidence: Vec<EvidenceItem>,
    #[serde(serialize_with = "time")]
    #[schema(value_type = String)]
    pub created_at: i64,
    /// Keyset cursor part; the API wraps it.
    #[serde(skip)]
    pub created_at_micros: i64,
}

/// Headline figures of one model on one held-out split.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Score {
    pub version: String,
    pub macro_f1: f64,
    pub ece: f64,
    pub accuracy: f64,
}

impl Score {
    fn of(version: &str, e: &Evaluation) -> Score {
        Score {
            version: version.to_owned(),
            macro_f1: e.macro_f1,
            ece: e.ece,
            accuracy: e.accuracy,
        }
    }
}

/// A candidate against the serving model, both on today's held-out split.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    pub candidate: Score,
    pub serving: Score,
    /// The held-out examples both were scored on.
    pub held_out: usize,
    pub not_worse: bool,
    /// Why not, when it is worse.
    pub reason: Option<String>,
}

/// The promotion rule: macro-F1 no lower than the serving model's (less the
/// tolerance), and calibration no worse unless it still meets `max_ece`.
pub fn judge(candidate: Score, serving: Score, held_out: usize, policy: &Policy) -> Comparison {
    let mut reasons = Vec::new();
    if candidate.macro_f1 + policy.tolerance < serving.macro_f1 {
        reasons.push(format!(
            "macro-F1 {:.4} is below the serving model's {:.4}",
            candidate.macro_f1, serving.macro_f1
        ));
    }
    if candidate.ece > serving.ece.max(policy.max_ece) {
        reasons.push(format!(
            "calibration error {:.4} is above the serving model's {:.4} and the ceiling {:.4}",
            candidate.ece, serving.ece, policy.max_ece
        ));
    }
    Comparison {
        candidate,
        serving,
        held_out,
        not_worse: reasons.is_empty(),
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub tolerance: f64,
    pub max_ece: f64,
}

/// A registered model, without its bytes.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModelInfo {
    pub version: String,
    /// candidate, promoted or retired
    pub state: String,
    /// Whether this process classifies with it now.
    pub serving: bool,
    #[serde(serialize_with = "time")]
    #[schema(value_type = String)]
    pub created_at: i64,
    pub created_by: String,
    /// SHA-256 over the corpus and the corrections it was trained on.
    pub training_snapshot: String,
    pub corpus_examples: i64,
    pub correction_examples: i64,
    pub macro_f1: f64,
    pub ece: f64,
    /// Per-class precision/recall/F1, accuracy and the confusion matrix
    /// (rows true, columns predicted, in the order of the eight labels).
    #[schema(value_type = Object)]
    pub evaluation: Evaluation,
    pub model_sha256: String,
    #[serde(serialize_with = "opt_time")]
    #[schema(value_type = Option<String>)]
    pub promoted_at: Option<i64>,
}

/// What classifies now.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ServingInfo {
    pub version: String,
    /// `registry` (a promoted model) or `shipped` (the model in the binary).
    pub source: &'static str,
    pub catalog_items: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Registry {
    pub serving: ServingInfo,
    /// Newest first.
    pub models: Vec<ModelInfo>,
}

/// The outcome of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Trained {
    pub model: ModelInfo,
    /// False when the same model was already registered (same data, same weights).
    pub new: bool,
    pub training_ms: u64,
    pub comparison: Comparison,
}

/// The outcome of a promotion or rollback.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Promoted {
    pub serving: ServingInfo,
    pub previous_version: String,
    /// Absent for a rollback: the previous model is restored as it was.
    pub comparison: Option<Comparison>,
}

/// The drift of the serving model's recent decisions from its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DriftView {
    pub model_version: String,
    /// insufficient_data, stable, watch or alert
    pub status: &'static str,
    /// Decisions measured (at most `window`).
    pub decisions: usize,
    pub window: u32,
    pub min_decisions: u32,
    pub confidence_psi: Option<f64>,
    pub label_psi: Option<f64>,
    pub override_rate: Option<f64>,
    pub psi_watch: f64,
    pub psi_alert: f64,
    pub override_rate_alert: f64,
    /// What crossed a threshold.
    pub reasons: Vec<String>,
    #[schema(value_type = Object)]
    pub baseline: Profile,
    #[schema(value_type = Option<Object>)]
    pub recent: Option<Profile>,
}

impl DriftView {
    /// For people: one headline and the figures.
    pub fn render(&self) -> String {
        let f = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
        let mut s = format!(
            "model {}: {} ({} of the last {} decisions; at least {} needed)\n\
             confidence PSI {}  label PSI {}  (watch > {}, alert > {})\n\
             override rate {}  (alert > {})\n",
            self.model_version,
            self.status,
            self.decisions,
            self.window,
            self.min_decisions,
            f(self.confidence_psi),
            f(self.label_psi),
            self.psi_watch,
            self.psi_alert,
            f(self.override_rate),
            self.override_rate_alert,
        );
        for r in &self.reasons {
            s.push_str(&format!("  - {r}\n"));
        }
        s
    }
}

struct Serving {
    classifier: Classifier,
    shipped: bool,
    catalog_items: usize,
    /// (items, last successful sync): a change reloads the catalogue.
    catalog_stamp: (i64, Option<i64>),
}

#[derive(Clone, Debug)]
struct IntentConfig {
    corpus_dir: PathBuf,
    review_threshold: f64,
    llm_threshold: f64,
    policy: Policy,
    drift_window: u32,
    drift_min: u32,
    thresholds: Thresholds,
    override_alert: f64,
}

impl IntentConfig {
    fn from_settings(s: &Settings) -> anyhow::Result<IntentConfig> {
        for (name, v) in [
            ("intent_review_threshold", s.intent_review_threshold),
            ("intent_llm_threshold", s.intent_llm_threshold),
            ("intent_promotion_tolerance", s.intent_promotion_tolerance),
            ("intent_max_ece", s.intent_max_ece),
            ("intent_drift_override_rate", s.intent_drift_override_rate),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&v),
                "{name}: {v} is not between 0 and 1"
            );
        }
        anyhow::ensure!(
            s.intent_drift_psi_watch >= 0.0 && s.intent_drift_psi_alert >= s.intent_drift_psi_watch,
            "intent_drift_psi_alert must be at least intent_drift_psi_watch, both non-negative"
        );
        anyhow::ensure!(
            s.intent_drift_window >= 1,
            "intent_drift_window must be at least 1"
        );
        Ok(IntentConfig {
            corpus_dir: s.intent_corpus_dir.clone(),
            review_threshold: s.intent_review_threshold,
            llm_threshold: s.intent_llm_threshold,
            policy: Policy {
                tolerance: s.intent_promotion_tolerance,
                max_ece: s.intent_max_ece,
            },
            drift_window: s.intent_drift_window,
            drift_min: s.intent_drift_min_decisions,
            thresholds: Thresholds {
                watch: s.intent_drift_psi_watch,
                alert: s.intent_drift_psi_alert,
            },
            override_alert: s.intent_drift_override_rate,
        })
    }
}

pub struct IntentService {
    db: Db,
    audit: Arc<Audit>,
    metrics: Arc<Metrics>,
    config: IntentConfig,
    serving: RwLock<Arc<Serving>>,
    llm: Option<llm::LlmClassifier>,
    /// One training run at a time per process: each holds a corpus and a
    /// weight matrix in memory and a core busy for seconds.
    training: tokio::sync::Mutex<()>,
    /// The drift status last reported per model version, so an alert is
    /// raised when drift starts, not on every check while it lasts.
    last_drift: Mutex<Option<(String, &'static str)>>,
}

fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The NUL character is the one thing the database cannot store; it carries
/// no meaning in an email, so the stored copy shows U+FFFD instead.
fn storable(s: &str) -> String {
    s.replace('\0', "\u{fffd}")
}

impl IntentService {
    pub async fn new(
        settings: &Settings,
        db: Db,
        audit: Arc<Audit>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<IntentService> {
        let config = IntentConfig::from_settings(settings)?;
        let llm = match LlmConfig::from_settings(settings)? {
            Some(c) => Some(llm::LlmClassifier::new(ChatClient::new(c)?)),
            None => None,
        };
        let serving = load_serving(&db).await?;
        Ok(IntentService {
            db,
            audit,
            metrics,
            config,
            serving: RwLock::new(serving),
            llm,
            training: tokio::sync::Mutex::new(()),
            last_drift: Mutex::new(None),
        })
    }

    fn current(&self) -> Arc<Serving> {
        self.serving
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn install(&self, s: Arc<Serving>) {
        *self.serving.write().unwrap_or_else(|p| p.into_inner()) = s;
    }

    pub fn review_threshold(&self) -> f64 {
        self.config.review_threshold
    }

    pub fn serving_info(&self) -> ServingInfo {
        let s = self.current();
        ServingInfo {
            version: s.classifier.model().meta.version.clone(),
            source: if s.shipped { "shipped" } else { "registry" },
            catalog_items: s.catalog_items,
        }
    }

    /// Pick up a model promoted elsewhere and a re-synced catalogue.
    /// Returns whether anything changed.
    pub async fn refresh(&self) -> Result<bool, IntentError> {
        let current = self.current();
        let promoted = sql::promoted_version(&self.db).await?;
        let stamp = catalog_stamp(&self.db).await?;
        let same_model = match &promoted {
            None => current.shipped,
            Some(v) => !current.shipped && *v == current.classifier.model().meta.version,
        };
        if same_model && stamp == current.catalog_stamp {
            return Ok(false);
        }
        self.install(load_serving(&self.db).await?);
        Ok(true)
    }

    // ------------------------------------------------------------ decisions

    /// Classify one email and record the decision (`LeadClassified`); the
    /// pipeline's classify step. The local model decides; below
    /// `intent_llm_threshold` a configured LLM is asked and decides when it
    /// answers well, else the local decision stands. Running it again for
    /// the same email returns the recorded decision and records nothing.
    pub async fn classify_email(
        &self,
        email_id: &str,
        subject: &str,
        body: &str,
    ) -> Result<Decision, IntentError> {
        if email_id.is_empty() || email_id.len() > MAX_EMAIL_ID || email_id.contains('\0') {
            return Err(bad("email_id", "must hold 1 to 256 bytes, no NUL"));
        }
        if let Some(row) = sql::decision(&self.db, email_id).await? {
            return row.try_into();
        }
        let serving = self.current();
        let started = Instant::now();
        let year = self.audit.clock().now().year();
        let local = serving.classifier.classify(subject, body, year);
        let model_version = local.model_version.clone();
        let mut verdict = None;
        let mut llm_error = None;
        if let Some(llm) = self
            .llm
            .as_ref()
            .filter(|_| local.confidence < self.config.llm_threshold)
        {
            match llm.classify(subject, body).await {
                Ok(v) => verdict = Some(v),
                Err(e) => {
                    tracing::warn!(error = %e, email_id, "LLM classification failed; the local model decides");
                    llm_error = Some(e.to_string());
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let (ai_intent, confidence, decided_by, evidence) = match verdict {
            Some(v) => (
                v.intent,
                v.confidence,
                format!("llm:{}", v.model),
                v.evidence
                    .into_iter()
                    .map(|phrase| EvidenceItem {
                        phrase,
                        weight: None,
                    })
                    .collect::<Vec<_>>(),
            ),
            None => (
                local.intent,
                local.confidence,
                format!("classifier:{model_version}"),
                local
                    .evidence
                    .iter()
                    .map(|e| EvidenceItem {
                        phrase: e.phrase.clone(),
                        weight: Some(e.weight),
                    })
                    .collect(),
            ),
        };
        let now = self.audit.clock().now();
        let row = DecisionRow {
            email_id: email_id.to_owned(),
            subject: storable(subject),
            body: storable(body),
            intent: ai_intent.as_str().to_owned(),
            ai_intent: ai_intent.as_str().to_owned(),
            confidence,
            decided_by: decided_by.clone(),
            model_version: model_version.clone(),
            model_intent: local.intent.as_str().to_owned(),
            model_confidence: local.confidence,
            evidence: json!(evidence).to_string(),
            entities: serde_json::to_string(&local.entities)
                .map_err(|e| IntentError::Internal(e.to_string()))?,
            llm_error: llm_error.as_deref().map(storable),
            created_at: now.timestamp_micros(),
            reviewed_at: None,
            reviewed_by: None,
            overridden: false,
        };
        let phrases: Vec<&str> = evidence.iter().map(|e| e.phrase.as_str()).collect();
        let event = NewEvent::new(
            EventType::LeadClassified,
            Actor::ai_agent(decided_by.clone()),
            "email",
            email_id,
            json!({
                "email_id": email_id,
                "ai_intent": ai_intent.as_str(),
                "confidence": confidence,
                "model_version": model_version,
                "manual_override": false,
                "decided_by": decided_by,
                "is_lead": ai_intent.is_lead(),
                "evidence": phrases,
                "model_intent": local.intent.as_str(),
                "model_confidence": local.confidence,
                "llm_error": llm_error,
            }),
            now,
        );
        let mut tx = self.db.begin().await?;
        match sql::insert_decision(&mut tx, &row).await {
            Ok(()) => {}
            // Another worker decided this email meanwhile: its decision stands.
            Err(StoreError::Conflict) => {
                drop(tx);
                let existing = sql::decision(&self.db, email_id)
                    .await?
                    .ok_or(IntentError::NotFound)?;
                return existing.try_into();
            }
            Err(e) => return Err(e.into()),
        }
        // Checked after the insert, in its transaction: an erasure of this
        // email either committed before (the decision is dropped) or runs
        // after and scrubs it.
        if sql::email_erased(&mut tx, email_id).await? {
            return Err(IntentError::Erased);
        }
        self.audit.append(&mut tx, &[event]).await?;
        self.audit.commit(tx).await?;
        let by = if decided_by.starts_with("llm:") {
            "llm"
        } else {
            "classifier"
        };
        self.metrics
            .ai
            .classified(ai_intent.as_str(), by, confidence, seconds);
        row.try_into()
    }

    pub async fn decision(
        &self,
        email_id: &str,
    ) -> Result<(Decision, Vec<OverrideView>), IntentError> {
        let row = sql::decision(&self.db, email_id)
            .await?
            .ok_or(IntentError::NotFound)?;
        let overrides = sql::overrides(&self.db, email_id).await?;
        Ok((
            row.try_into()?,
            overrides.into_iter().map(OverrideView::from).collect(),
        ))
    }

    /// The standing label (intent, confidence, reviewed) of each of these
    /// emails that has a decision, for lists such as the inbox.
    pub async fn labels(
        &self,
        email_ids: &[String],
    ) -> Result<HashMap<String, Label>, IntentError> {
        sql::labels(&self.db, email_ids)
            .await?
            .into_iter()
            .map(|r| {
                Ok((
                    r.email_id,
                    Label {
                        intent: parse_intent(&r.intent, "intent")?,
                        confidence: r.confidence,
                        reviewed: r.reviewed,
                    },
                ))
            })
            .collect()
    }

    /// A person changes the label, with a justification (`LeadClassified`
    /// with `manual_override: true`). The override is training data for the
    /// next run.
    pub async fn override_decision(
        &self,
        user_id: &str,
        email_id: &str,
        intent: &str,
        justification: &str,
    ) -> Result<Decision, IntentError> {
        let labels = Intent::ALL.map(|i| i.as_str()).join(", ");
        let new = Intent::parse(intent.trim())
            .ok_or_else(|| bad("intent", format!("must be one of {labels}")))?;
        let justification = justification.trim();
        if justification.is_empty() {
            return Err(bad(
                "justification",
                "required: say why the classification is wrong",
            ));
        }
        if justification.chars().count() > MAX_JUSTIFICATION || justification.contains('\0') {
            return Err(bad(
                "justification",
                format!("at most {MAX_JUSTIFICATION} characters, no NUL"),
            ));
        }
        let now = self.audit.clock().now();
        let mut tx = self.db.begin().await?;
        let row = sql::decision_tx(&mut tx, email_id)
            .await?
            .ok_or(IntentError::NotFound)?;
        if row.intent == new.as_str() {
            return Err(IntentError::Conflict(format!(
                "already classified as {new}; confirm it instead"
            )));
        }
        sql::review(
            &mut tx,
            email_id,
            new.as_str(),
            true,
            now.timestamp_micros(),
            user_id,
        )
        .await?;
        sql::insert_override(
            &mut tx,
            &OverrideRow {
                id: uuid::Uuid::now_v7().to_string(),
                email_id: email_id.to_owned(),
                previous_intent: row.intent.clone(),
                intent: new.as_str().to_owned(),
                justification: justification.to_owned(),
                user_id: user_id.to_owned(),
                created_at: now.timestamp_micros(),
            },
        )
        .await?;
        let event = NewEvent::new(
            EventType::LeadClassified,
            Actor::user(user_id),
            "email",
            email_id,
            json!({
                "email_id": email_id,
                "ai_intent": new.as_str(),
                // A person's decision is not a probability; 1 says it is certain.
                "confidence": 1.0,
                "model_version": row.model_version,
                "manual_override": true,
                "previous_intent": row.intent,
                "previous_confidence": row.confidence,
                "justification": justification,
                "decided_by": format!("user:{user_id}"),
                "is_lead": new.is_lead(),
            }),
            now,
        );
        self.audit.append(&mut tx, &[event]).await?;
        self.audit.commit(tx).await?;
        self.metrics.ai.overridden();
        self.decision(email_id).await.map(|(d, _)| d)
    }

    /// A person agrees with the decision: it leaves the review queue and
    /// becomes training data (`LeadClassified` by the user, not an override).
    pub async fn confirm(&self, user_id: &str, email_id: &str) -> Result<Decision, IntentError> {
        let now = self.audit.clock().now();
        let mut tx = self.db.begin().await?;
        let row = sql::decision_tx(&mut tx, email_id)
            .await?
            .ok_or(IntentError::NotFound)?;
        if row.reviewed_at.is_some() {
            return Err(IntentError::Conflict("already reviewed".into()));
        }
        sql::review(
            &mut tx,
            email_id,
            &row.intent,
            false,
            now.timestamp_micros(),
            user_id,
        )
        .await?;
        let intent = parse_intent(&row.intent, "intent")?;
        let event = NewEvent::new(
            EventType::LeadClassified,
            Actor::user(user_id),
            "email",
            email_id,
            json!({
                "email_id": email_id,
                "ai_intent": row.intent,
                "confidence": row.confidence,
                "model_version": row.model_version,
                "manual_override": false,
                "confirmed": true,
                "decided_by": row.decided_by,
                "is_lead": intent.is_lead(),
            }),
            now,
        );
        self.audit.append(&mut tx, &[event]).await?;
        self.audit.commit(tx).await?;
        self.decision(email_id).await.map(|(d, _)| d)
    }

    /// Unreviewed decisions below the review threshold, oldest first.
    pub async fn review_queue(
        &self,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<QueueItem>, IntentError> {
        let rows = sql::review_queue(&self.db, self.config.review_threshold, after, limit).await?;
        rows.into_iter()
            .map(|r| {
                Ok(QueueItem {
                    intent: parse_intent(&r.intent, "intent")?,
                    evidence: serde_json::from_str(&r.evidence)
                        .map_err(|e| IntentError::Internal(format!("stored evidence: {e}")))?,
                    email_id: r.email_id,
                    subject: r.subject,
                    confidence: r.confidence,
                    decided_by: r.decided_by,
                    model_version: r.model_version,
                    created_at: r.created_at,
                    created_at_micros: r.created_at,
                })
            })
            .collect()
    }

    /// Every reviewed decision as a labelled example.
    async fn corrections(&self) -> Result<Vec<Example>, IntentError> {
        let rows = sql::corrections(&self.db).await?;
        rows.into_iter()
            .map(|(email_id, subject, body, intent)| {
                Ok(Example {
                    id: format!("review:{email_id}"),
                    subject,
                    body,
                    label: parse_intent(&intent, "intent")?,
                    tags: Vec::new(),
                })
            })
            .collect()
    }

    // ------------------------------------------------------------ registry

    pub async fn registry(&self) -> Result<Registry, IntentError> {
        let serving = self.serving_info();
        let rows = sql::models(&self.db).await?;
        let models = rows
            .into_iter()
            .map(|r| model_info(r, &serving))
            .collect::<Result<_, _>>()?;
        Ok(Registry { serving, models })
    }

    pub async fn model(&self, version: &str) -> Result<ModelInfo, IntentError> {
        let row = sql::model(&self.db, version)
            .await?
            .ok_or(IntentError::NotFound)?;
        model_info(row, &self.serving_info())
    }

    /// The registry's promoted model and its version, or the shipped one.
    async fn promoted_model(&self) -> Result<(Option<String>, Model), IntentError> {
        let (model, shipped) = serving_model(&self.db).await?;
        Ok(((!shipped).then(|| model.meta.version.clone()), model))
    }

    fn corpus(&self) -> Result<Vec<Example>, IntentError> {
        load_corpus(&self.config.corpus_dir).map_err(IntentError::Corpus)
    }

    /// Train on the corpus and every reviewed decision; register the result
    /// as a candidate (`ModelTrained`) and compare it with the serving model.
    pub async fn train(&self, actor: Actor) -> Result<Trained, IntentError> {
        let _running = self.training.try_lock().map_err(|_| IntentError::Busy)?;
        let corrections = self.corrections().await?;
        let correction_examples = corrections.len() as i64;
        let corpus = self.corpus()?;
        let (_, incumbent) = self.promoted_model().await?;
        let policy = self.config.policy.clone();
        let (model, comparison, elapsed) = blocking(move || {
            let started = Instant::now();
            let model = Model::train_on(&corpus, &corrections, TrainConfig::default());
            let elapsed = started.elapsed();
            let comparison = compare(&model, &incumbent, &corpus, &policy);
            (model, comparison, elapsed)
        })
        .await?;
        let bytes = model.to_bytes();
        let eval = model
            .meta
            .evaluation
            .clone()
            .ok_or_else(|| IntentError::Internal("training recorded no evaluation".into()))?;
        let baseline = model
            .meta
            .baseline
            .clone()
            .ok_or_else(|| IntentError::Internal("training recorded no baseline".into()))?;
        let now = self.audit.clock().now();
        let row = ModelRow {
            version: model.meta.version.clone(),
            created_at: now.timestamp_micros(),
            created_by: actor.id.clone(),
            training_snapshot: model.meta.training_snapshot.clone(),
            corpus_examples: comparison.corpus_examples as i64,
            correction_examples,
            macro_f1: eval.macro_f1,
            ece: eval.ece,
            evaluation: json!(eval).to_string(),
            baseline: json!(baseline).to_string(),
            model_sha256: hash_hex(&bytes),
            state: "candidate".into(),
            promoted_at: None,
        };
        let mut tx = self.db.begin().await?;
        let existing = sql::model_tx(&mut tx, &row.version).await?;
        let new = existing.is_none();
        if new {
            sql::insert_model(&mut tx, &row, &bytes).await?;
        }
        let event = NewEvent::new(
            EventType::ModelTrained,
            actor,
            "model",
            row.version.clone(),
            json!({
                "model_version": row.version,
                "training_snapshot": row.training_snapshot,
                "corpus_examples": row.corpus_examples,
                "correction_examples": row.correction_examples,
                "new": new,
                "training_ms": elapsed.as_millis() as u64,
                "metrics": {
                    "macro_f1": eval.macro_f1,
                    "ece": eval.ece,
                    "accuracy": eval.accuracy,
                    "per_class": eval.per_class,
                    "confusion": eval.confusion,
                },
                "serving": comparison.comparison.serving,
                "not_worse": comparison.comparison.not_worse,
            }),
            now,
        );
        self.audit.append(&mut tx, &[event]).await?;
        self.audit.commit(tx).await?;
        let stored = existing.unwrap_or(row);
        Ok(Trained {
            model: model_info(stored, &self.serving_info())?,
            new,
            training_ms: elapsed.as_millis() as u64,
            comparison: comparison.comparison,
        })
    }

    /// Evaluate a registered model (or, without a version, the serving one)
    /// on today's held-out split.
    pub async fn evaluate(
        &self,
        version: Option<&str>,
    ) -> Result<(String, Evaluation), IntentError> {
        let model = match version {
            Some(v) => registered(&self.db, v).await?,
            None => self.current().classifier.model().clone(),
        };
        let corpus = self.corpus()?;
        blocking(move || {
            let e = model.evaluate(&Model::test_split(&corpus));
            (model.meta.version.clone(), e)
        })
        .await
    }

    /// Make `version` the serving model if it is not worse than the one
    /// serving now on today's held-out split (`ModelPromoted`).
    pub async fn promote(&self, actor: Actor, version: &str) -> Result<Promoted, IntentError> {
        let row = sql::model(&self.db, version)
            .await?
            .ok_or(IntentError::NotFound)?;
        if row.state == "promoted" {
            return Err(IntentError::Conflict(format!(
                "{version} is already serving"
            )));
        }
        let candidate = registered(&self.db, version).await?;
        let (incumbent_version, incumbent) = self.promoted_model().await?;
        let corpus = self.corpus()?;
        let policy = self.config.policy.clone();
        let (candidate, judged) = blocking(move || {
            let judged = compare(&candidate, &incumbent, &corpus, &policy);
            (candidate, judged)
        })
        .await?;
        let comparison = judged.comparison;
        if !comparison.not_worse {
            return Err(IntentError::Worse(
                comparison.reason.clone().unwrap_or_default(),
            ));
        }
        let now = self.audit.clock().now();
        let mut tx = self.db.begin().await?;
        if sql::promoted_version_tx(&mut tx).await? != incumbent_version {
            return Err(IntentError::Conflict(
                "the serving model changed meanwhile; try again".into(),
            ));
        }
        if let Some(v) = &incumbent_version {
            sql::set_state(&mut tx, v, "retired", None).await?;
        }
        sql::set_state(&mut tx, version, "promoted", Some(now.timestamp_micros())).await?;
        sql::record_promotion(
            &mut tx,
            "promote",
            Some(version),
            &actor.id,
            now.timestamp_micros(),
        )
        .await?;
        let previous = comparison.serving.version.clone();
        let event = NewEvent::new(
            EventType::ModelPromoted,
            actor,
            "model",
            version,
            json!({
                "model_version": version,
                "previous_version": previous,
                "rollback": false,
                "metrics": comparison,
            }),
            now,
        );
        self.audit.append(&mut tx, &[event]).await?;
        self.audit.commit(tx).await?;
        self.install(serving_with(&self.db, candidate, false).await?);
        Ok(Promoted {
            serving: self.serving_info(),
            previous_version: previous,
            comparison: Some(comparison),
        })
    }

    /// Return to the model that served before the current one was promoted
    /// (the shipped model when there was none) (`ModelPromoted` with
    /// `rollback: true`).
    pub async fn rollback(&self, actor: Actor) -> Result<Promoted, IntentError> {
        let shipped_version = shipped()?.meta.version;
        let now = self.audit.clock().now();
        let mut tx = self.db.begin().await?;
        let Some(current) = sql::promoted_version_tx(&mut tx).await? else {
            return Err(IntentError::Conflict(
                "the shipped model is serving; there is nothing to roll back".into(),
            ));
        };
        // Promotions push, rollbacks pop: what lies under the top served before it.
        let mut stack: Vec<Option<String>> = Vec::new();
        for (action, v) in sql::promotions(&mut tx).await? {
            if action == "promote" {
                stack.push(v);
            } else {
                stack.pop();
            }
        }
        let target = match stack.as_slice() {
            [.., below, top] if top.as_deref() == Some(current.as_str()) => below.clone(),
            _ => None,
        };
        if let Some(t) = &target {
            if sql::model_tx(&mut tx, t).await?.is_none() {
                return Err(IntentError::Internal(format!(
                    "promotion history names {t}, which is not registered"
                )));
            }
        }
        sql::set_state(&mut tx, &current, "retired", None).await?;
        if let Some(t) = &target {
            sql::set_state(&mut tx, t, "promoted", Some(now.timestamp_micros())).await?;
        }
        sql::record_promotion(
            &mut tx,
            "rollback",
            target.as_deref(),
            &actor.id,
            now.timestamp_micros(),
        )
        .await?;
        let restored = target.clone().unwrap_or(shipped_version);
        let event = NewEvent::new(
            EventType::ModelPromoted,
            actor,
            "model",
            restored.clone(),
            json!({
                "model_version": restored,
                "previous_version": current,
                "rollback": true,
                "shipped": target.is_none(),
            }),
            now,
        );
        self.audit.append(&mut tx, &[event]).await?;
        self.audit.commit(tx).await?;
        self.install(load_serving(&self.db).await?);
        Ok(Promoted {
            serving: self.serving_info(),
            previous_version: current,
            comparison: None,
        })
    }

    // ------------------------------------------------------------ drift

    /// The serving model's recent decisions against its held-out baseline.
    pub async fn drift(&self) -> Result<DriftView, IntentError> {
        let serving = self.current();
        let model = serving.classifier.model();
        let version = model.meta.version.clone();
        let baseline = match model.meta.baseline.clone() {
            Some(b) => b,
            None => {
                let corpus = self.corpus()?;
                let model = model.clone();
                blocking(move || model.profile(&Model::test_split(&corpus))).await?
            }
        };
        let rows =
            sql::recent_decisions(&self.db, &version, i64::from(self.config.drift_window)).await?;
        let mut view = DriftView {
            model_version: version,
            status: "insufficient_data",
            decisions: rows.len(),
            window: self.config.drift_window,
            min_decisions: self.config.drift_min,
            confidence_psi: None,
            label_psi: None,
            override_rate: None,
            psi_watch: self.config.thresholds.watch,
            psi_alert: self.config.thresholds.alert,
            override_rate_alert: self.config.override_alert,
            reasons: Vec::new(),
            baseline: baseline.clone(),
            recent: None,
        };
        if rows.is_empty() || rows.len() < self.config.drift_min as usize {
            return Ok(view);
        }
        let decisions: Vec<(Intent, f64)> = rows
            .iter()
            .filter_map(|(i, c, _)| Intent::parse(i).map(|i| (i, *c)))
            .collect();
        let overridden = rows.iter().filter(|r| r.2).count();
        let override_rate = overridden as f64 / rows.len() as f64;
        let report = drift::report(baseline, Profile::of(&decisions), self.config.thresholds);
        let mut status = report.status;
        let t = self.config.thresholds;
        for (name, v) in [
            ("confidence", report.confidence_psi),
            ("label", report.label_psi),
        ] {
            if v > t.alert {
                view.reasons
                    .push(format!("{name} PSI {v:.4} is above {}", t.alert));
            } else if v > t.watch {
                view.reasons.push(format!(
                    "{name} PSI {v:.4} is above the watch level {}",
                    t.watch
                ));
            }
        }
        if override_rate > self.config.override_alert {
            status = Status::Alert;
            view.reasons.push(format!(
                "people overrode {overridden} of {} decisions ({override_rate:.3}), above {}",
                rows.len(),
                self.config.override_alert
            ));
        }
        view.status = match status {
            Status::Stable => "stable",
            Status::Watch => "watch",
            Status::Alert => "alert",
        };
        view.confidence_psi = Some(report.confidence_psi);
        view.label_psi = Some(report.label_psi);
        view.override_rate = Some(override_rate);
        view.recent = Some(report.recent);
        Ok(view)
    }

    /// The periodic check inside `pebble serve`: publish the PSI gauges and
    /// record `DriftAlertRaised` when the serving model enters alert.
    /// Returns the report and whether it raised an alert.
    pub async fn check_drift(&self) -> Result<(DriftView, bool), IntentError> {
        let view = self.drift().await?;
        use crate::metrics::ai::DriftLabel;
        for (kind, v) in [
            ("confidence", view.confidence_psi),
            ("label", view.label_psi),
        ] {
            if let Some(v) = v {
                self.metrics
                    .ai
                    .drift_psi
                    .get_or_create(&DriftLabel { kind })
                    .set(v);
            }
        }
        let previous = self
            .last_drift
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace((view.model_version.clone(), view.status));
        let was_alert = previous
            .as_ref()
            .is_some_and(|(v, s)| *v == view.model_version && *s == "alert");
        if view.status != "alert" || was_alert {
            return Ok((view, false));
        }
        let event = NewEvent::new(
            EventType::DriftAlertRaised,
            Actor::system("drift-monitor"),
            "model",
            view.model_version.clone(),
            json!({
                "model_version": view.model_version,
                "metrics": {
                    "confidence_psi": view.confidence_psi,
                    "label_psi": view.label_psi,
                    "override_rate": view.override_rate,
                    "decisions": view.decisions,
                },
                "thresholds": {
                    "psi_alert": view.psi_alert,
                    "override_rate": view.override_rate_alert,
                },
                "reasons": view.reasons,
            }),
            self.audit.clock().now(),
        );
        if let Err(e) = self.audit.record(&[event]).await {
            // Forget the status so the next check tries again.
            *self.last_drift.lock().unwrap_or_else(|p| p.into_inner()) = previous;
            return Err(e.into());
        }
        self.metrics.ai.drift_alerts.inc();
        Ok((view, true))
    }
}

/// The model shipped in the binary.
fn shipped() -> Result<Model, IntentError> {
    default_model().map_err(|e| IntentError::Internal(format!("{e:#}")))
}

/// A comparison and the number of corpus examples behind it.
struct Judged {
    comparison: Comparison,
    corpus_examples: usize,
}

fn compare(candidate: &Model, incumbent: &Model, corpus: &[Example], policy: &Policy) -> Judged {
    let test = Model::test_split(corpus);
    let c = candidate.evaluate(&test);
    let i = incumbent.evaluate(&test);
    Judged {
        comparison: judge(
            Score::of(&candidate.meta.version, &c),
            Score::of(&incumbent.meta.version, &i),
            test.len(),
            policy,
        ),
        corpus_examples: corpus.len(),
    }
}

/// CPU-bound work (training, evaluation) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IntentError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| IntentError::Internal(format!("background task: {e}")))
}

fn model_info(r: ModelRow, serving: &ServingInfo) -> Result<ModelInfo, IntentError> {
    Ok(ModelInfo {
        serving: serving.source == "registry" && serving.version == r.version,
        evaluation: serde_json::from_str(&r.evaluation)
            .map_err(|e| IntentError::Internal(format!("stored evaluation: {e}")))?,
        version: r.version,
        state: r.state,
        created_at: r.created_at,
        created_by: r.created_by,
        training_snapshot: r.training_snapshot,
        corpus_examples: r.corpus_examples,
        correction_examples: r.correction_examples,
        macro_f1: r.macro_f1,
        ece: r.ece,
        model_sha256: r.model_sha256,
        promoted_at: r.promoted_at,
    })
}

async fn catalog_stamp(db: &Db) -> Result<(i64, Option<i64>), IntentError> {
    let items = crate::store::tally::count(db).await?;
    let state = crate::store::tally::sync_state(db).await?;
    Ok((items, state.last_success_at))
}

/// The registry's promoted model, or the shipped one (`true`) while
/// nothing is promoted.
pub async fn serving_model(db: &Db) -> Result<(Model, bool), IntentError> {
    match sql::promoted_version(db).await? {
        Some(v) => Ok((registered(db, &v).await?, false)),
        None => Ok((shipped()?, true)),
    }
}

async fn registered(db: &Db, version: &str) -> Result<Model, IntentError> {
    let bytes = sql::model_bytes(db, version)
        .await?
        .ok_or(IntentError::NotFound)?;
    Model::from_bytes(&bytes).map_err(|source| IntentError::BadModel {
        version: version.to_owned(),
        source,
    })
}

/// The synced Tally catalogue, which product extraction matches against.
pub async fn catalog(db: &Db) -> Result<Vec<CatalogItem>, IntentError> {
    Ok(crate::store::tally::all(db)
        .await?
        .into_iter()
        .map(|c| c.item)
        .collect())
}

/// The serving model with the synced catalogue.
async fn load_serving(db: &Db) -> Result<Arc<Serving>, IntentError> {
    let (model, shipped) = serving_model(db).await?;
    serving_with(db, model, shipped).await
}

async fn serving_with(db: &Db, model: Model, shipped: bool) -> Result<Arc<Serving>, IntentError> {
    let catalog_stamp = catalog_stamp(db).await?;
    let items = catalog(db).await?;
    let catalog_items = items.len();
    let classifier = blocking(move || Classifier::new(model, &items)).await?;
    Ok(Arc::new(Serving {
        classifier,
        shipped,
        catalog_items,
        catalog_stamp,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(f1: f64, ece: f64) -> Score {
        Score {
            version: "v".into(),
            macro_f1: f1,
            ece,
            accuracy: f1,
        }
    }

    #[test]
    fn a_candidate_is_judged_on_macro_f1_and_calibration() {
        let p = Policy {
            tolerance: 0.0,
            max_ece: 0.05,
        };
        assert!(judge(score(0.90, 0.03), score(0.90, 0.03), 400, &p).not_worse);
        let worse = judge(score(0.899, 0.03), score(0.90, 0.03), 400, &p);
        assert!(!worse.not_worse);
        assert!(worse.reason.unwrap().contains("macro-F1"));
        let lenient = Policy {
            tolerance: 0.01,
            ..p.clone()
        };
        assert!(judge(score(0.895, 0.03), score(0.90, 0.03), 400, &lenient).not_worse);
        // Calibration may get worse while it stays under the ceiling...
        assert!(judge(score(0.91, 0.045), score(0.90, 0.02), 400, &p).not_worse);
        // ...but not past it, unless the serving model is already past it.
        assert!(!judge(score(0.91, 0.06), score(0.90, 0.02), 400, &p).not_worse);
        assert!(judge(score(0.91, 0.06), score(0.90, 0.07), 400, &p).not_worse);
    }
}
