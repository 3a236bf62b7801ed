//! The intent-model registry, promotion history, classification decisions
//! and overrides (migration 0006).

use super::{check_text, on_db, on_tx, refused, Db, StoreError, Tx};

/// A registered model without its bytes. `evaluation` and `baseline` are
/// JSON text, parsed by the service.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ModelRow {
    pub version: String,
    pub created_at: i64,
    pub created_by: String,
    pub training_snapshot: String,
    pub corpus_examples: i64,
    pub correction_examples: i64,
    pub macro_f1: f64,
    pub ece: f64,
    pub evaluation: String,
    pub baseline: String,
    pub model_sha256: String,
    pub state: String,
    pub promoted_at: Option<i64>,
}

const MODEL_COLUMNS: &str = "version, created_at, created_by, training_snapshot, corpus_examples, \
     correction_examples, macro_f1, ece, evaluation, baseline, model_sha256, state, promoted_at";

/// Register a model; `Conflict` when the version is already registered.
pub async fn insert_model(tx: &mut Tx, m: &ModelRow, bytes: &[u8]) -> Result<(), StoreError> {
    check_text(&m.created_by)?;
    on_tx!(tx, |c| sqlx::query(
        "insert into intent_models (version, created_at, created_by, training_snapshot, \
         corpus_examples, correction_examples, macro_f1, ece, evaluation, baseline, model_sha256, \
         model, state, promoted_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    )
    .bind(&m.version)
    .bind(m.created_at)
    .bind(&m.created_by)
    .bind(&m.training_snapshot)
    .bind(m.corpus_examples)
    .bind(m.correction_examples)
    .bind(m.macro_f1)
    .bind(m.ece)
    .bind(&m.evaluation)
    .bind(&m.baseline)
    .bind(&m.model_sha256)
    .bind(bytes)
    .bind(&m.state)
    .bind(m.promoted_at)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

pub async fn model(db: &Db, version: &str) -> Result<Option<ModelRow>, StoreError> {
    let sql = format!("select {MODEL_COLUMNS} from intent_models where version = $1");
    on_db!(db, |p| Ok(sqlx::query_as(&sql)
        .bind(version)
        .fetch_optional(p)
        .await?))
}

pub async fn model_tx(tx: &mut Tx, version: &str) -> Result<Option<ModelRow>, StoreError> {
    let sql = format!("select {MODEL_COLUMNS} from intent_models where version = $1");
    on_tx!(tx, |c| Ok(sqlx::query_as(&sql)
        .bind(version)
        .fetch_optional(c)
        .await?))
}

/// The model file of a registered version.
pub async fn model_bytes(db: &Db, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar(
        "select model from intent_models where version = $1"
    )
    .bind(version)
    .fetch_optional(p)
    .await?))
}

/// Every registered model, newest first.
pub async fn models(db: &Db) -> Result<Vec<ModelRow>, StoreError> {
    let sql =
        format!("select {MODEL_COLUMNS} from intent_models order by created_at desc, version");
    on_db!(db, |p| Ok(sqlx::query_as(&sql).fetch_all(p).await?))
}

/// The version serving now, if a registered one is.
pub async fn promoted_version(db: &Db) -> Result<Option<String>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar(
        "select version from intent_models where state = 'promoted'"
    )
    .fetch_optional(p)
    .await?))
}

pub async fn promoted_version_tx(tx: &mut Tx) -> Result<Option<String>, StoreError> {
    on_tx!(tx, |c| Ok(sqlx::query_scalar(
        "select version from intent_models where state = 'promoted'"
    )
    .fetch_optional(c)
    .await?))
}

pub async fn set_state(
    tx: &mut Tx,
    version: &str,
    state: &str,
    promoted_at: Option<i64>,
) -> Result<(), StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "update intent_models set state = $2, promoted_at = coalesce($3, promoted_at) where version = $1"
    )
    .bind(version)
    .bind(state)
    .bind(promoted_at)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected()
    });
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Promotions and rollbacks, oldest first: (action, version).
pub async fn promotions(tx: &mut Tx) -> Result<Vec<(String, Option<String>)>, StoreError> {
    on_tx!(tx, |c| Ok(sqlx::query_as(
        "select action, version from intent_model_promotions order by seq"
    )
    .fetch_all(c)
    .await?))
}

pub async fn record_promotion(
    tx: &mut Tx,
    action: &str,
    version: Option<&str>,
    actor_id: &str,
    at: i64,
) -> Result<(), StoreError> {
    check_text(actor_id)?;
    on_tx!(tx, |c| {
        sqlx::query(
        "insert into intent_model_promotions (action, version, actor_id, at) values ($1, $2, $3, $4)"
    )
    .bind(action)
    .bind(version)
    .bind(actor_id)
    .bind(at)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?
    });
    Ok(())
}

// ---------------------------------------------------------------- decisions

/// One stored decision. `evidence` and `entities` are JSON text.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct DecisionRow {
    pub email_id: String,
    pub subject: String,
    pub body: String,
    pub intent: String,
    pub ai_intent: String,
    pub confidence: f64,
    pub decided_by: String,
    pub model_version: String,
    pub model_intent: String,
    pub model_confidence: f64,
    pub evidence: String,
    pub entities: String,
    pub llm_error: Option<String>,
    pub created_at: i64,
    pub reviewed_at: Option<i64>,
    pub reviewed_by: Option<String>,
    pub overridden: bool,
}

/// Record a decision; `Conflict` when the email already has one.
pub async fn insert_decision(tx: &mut Tx, d: &DecisionRow) -> Result<(), StoreError> {
    for t in [&d.email_id, &d.subject, &d.body, &d.decided_by]
        .into_iter()
        .chain(d.llm_error.as_ref())
    {
        check_text(t)?;
    }
    on_tx!(tx, |c| sqlx::query(
        "insert into classifications (email_id, subject, body, intent, ai_intent, confidence, \
         decided_by, model_version, model_intent, model_confidence, evidence, entities, llm_error, \
         created_at, reviewed_at, reviewed_by, overridden) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )
    .bind(&d.email_id)
    .bind(&d.subject)
    .bind(&d.body)
    .bind(&d.intent)
    .bind(&d.ai_intent)
    .bind(d.confidence)
    .bind(&d.decided_by)
    .bind(&d.model_version)
    .bind(&d.model_intent)
    .bind(d.model_confidence)
    .bind(&d.evidence)
    .bind(&d.entities)
    .bind(&d.llm_error)
    .bind(d.created_at)
    .bind(d.reviewed_at)
    .bind(&d.reviewed_by)
    .bind(d.overridden)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

/// Whether `email_id` names an erased email. On PostgreSQL the email's row
/// is locked until the transaction ends: an erasure (which updates that row
/// first) then runs wholly before or wholly after the caller's transaction.
/// SQLite has one writer at a time, which orders them already.
pub async fn email_erased(tx: &mut Tx, email_id: &str) -> Result<bool, StoreError> {
    let row: Option<(Option<i64>,)> = match tx {
        Tx::Sqlite(t) => {
            sqlx::query_as("select erased_at from emails where id = $1")
                .bind(email_id)
                .fetch_optional(&mut **t)
                .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_as("select erased_at from emails where id = $1 for update")
                .bind(email_id)
                .fetch_optional(&mut **t)
                .await?
        }
    };
    Ok(matches!(row, Some((Some(_),))))
}

pub async fn decision(db: &Db, email_id: &str) -> Result<Option<DecisionRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from classifications where email_id = $1"
    )
    .bind(email_id)
    .fetch_optional(p)
    .await?))
}

pub async fn decision_tx(tx: &mut Tx, email_id: &str) -> Result<Option<DecisionRow>, StoreError> {
    on_tx!(tx, |c| Ok(sqlx::query_as(
        "select * from classifications where email_id = $1"
    )
    .bind(email_id)
    .fetch_optional(c)
    .await?))
}

/// The label standing on an email, for lists of emails.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct LabelRow {
    pub email_id: String,
    pub intent: String,
    pub confidence: f64,
    pub reviewed: bool,
}

/// The standing labels of those of `email_ids` that have a decision (one
/// page of a list, so at most a few hundred ids).
pub async fn labels(db: &Db, email_ids: &[String]) -> Result<Vec<LabelRow>, StoreError> {
    if email_ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=email_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "select email_id, intent, confidence, reviewed_at is not null as reviewed \
         from classifications where email_id in ({})",
        marks.join(", ")
    );
    on_db!(db, |p| {
        let mut q = sqlx::query_as(&sql);
        for id in email_ids {
            q = q.bind(id);
        }
        Ok(q.fetch_all(p).await?)
    })
}

/// Decisions below `threshold` that nobody has reviewed, oldest first, after
/// the keyset `(created_at, email_id)`.
pub async fn review_queue(
    db: &Db,
    threshold: f64,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<DecisionRow>, StoreError> {
    let (at, id) = after.unwrap_or((i64::MIN, String::new()));
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from classifications \
         where reviewed_at is null and confidence < $1 \
           and (created_at > $2 or (created_at = $2 and email_id > $3)) \
         order by created_at, email_id limit $4"
    )
    .bind(threshold)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// A person's review: the label that stands now (changed or confirmed).
pub async fn review(
    tx: &mut Tx,
    email_id: &str,
    intent: &str,
    overridden: bool,
    at: i64,
    by: &str,
) -> Result<(), StoreError> {
    let n = on_tx!(tx, |c| sqlx::query(
        "update classifications set intent = $2, overridden = (overridden or $3), \
         reviewed_at = $4, reviewed_by = $5 where email_id = $1"
    )
    .bind(email_id)
    .bind(intent)
    .bind(overridden)
    .bind(at)
    .bind(by)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected());
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct OverrideRow {
    pub id: String,
    pub email_id: String,
    pub previous_intent: String,
    pub intent: String,
    pub justification: String,
    pub user_id: String,
    pub created_at: i64,
}

pub async fn insert_override(tx: &mut Tx, o: &OverrideRow) -> Result<(), StoreError> {
    check_text(&o.justification)?;
    on_tx!(tx, |c| sqlx::query(
        "insert into classification_overrides (id, email_id, previous_intent, intent, \
         justification, user_id, created_at) values ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(&o.id)
    .bind(&o.email_id)
    .bind(&o.previous_intent)
    .bind(&o.intent)
    .bind(&o.justification)
    .bind(&o.user_id)
    .bind(o.created_at)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

/// The overrides of one email, oldest first.
pub async fn overrides(db: &Db, email_id: &str) -> Result<Vec<OverrideRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from classification_overrides where email_id = $1 order by created_at, id"
    )
    .bind(email_id)
    .fetch_all(p)
    .await?))
}

/// A decision a person reviewed, as training data: (email_id, subject,
/// body, label), in email-id order. Decisions on erased emails are left out:
/// their text is gone, and a label on a placeholder teaches nothing.
pub async fn corrections(db: &Db) -> Result<Vec<(String, String, String, String)>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select c.email_id, c.subject, c.body, c.intent from classifications c \
         where c.reviewed_at is not null and not exists \
         (select 1 from emails e where e.id = c.email_id and e.erased_at is not null) \
         order by c.email_id"
    )
    .fetch_all(p)
    .await?))
}

/// The newest `limit` decisions the local model `version` took part in:
/// (its intent, its confidence, overridden since).
pub async fn recent_decisions(
    db: &Db,
    version: &str,
    limit: i64,
) -> Result<Vec<(String, f64, bool)>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select model_intent, model_confidence, overridden from classifications \
         where model_version = $1 order by created_at desc, email_id desc limit $2"
    )
    .bind(version)
    .bind(limit)
    .fetch_all(p)
    .await?))
}
