//! Dashboard aggregates, read from the activity stream (the record of what
//! happened, with SPEC §3's event types as the contract) and the CRM tables.
//! Every query is bounded by a time window on `occurred_at` and answered from
//! an index (`migrations/*/0009_ui.sql`).

use super::{on_db, Db, StoreError};

/// A payload field as text, per dialect: the one place where SQLite and
/// PostgreSQL spell JSON differently.
fn json_text(db: &Db, field: &str) -> String {
    debug_assert!(field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    match db {
        Db::Sqlite(_) => format!("cast(json_extract(a.payload, '$.{field}') as text)"),
        Db::Postgres(_) => format!("(a.payload::jsonb ->> '{field}')"),
    }
}

/// Events of one type in `[from, to)`, optionally only those by one kind of
/// actor. One range count on the covering index per window: grouping a
/// computed bucket over the whole span instead sorts every event in it in a
/// temporary B-tree, several times slower on a busy stream.
pub async fn count(
    db: &Db,
    event_type: &str,
    actor_kind: Option<&str>,
    from: i64,
    to: i64,
) -> Result<i64, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar(
        "select count(*) from activity_stream a \
         where a.event_type = $1 and a.occurred_at >= $2 and a.occurred_at < $3 \
         and ($4 is null or a.actor_kind = $4)"
    )
    .bind(event_type)
    .bind(from)
    .bind(to)
    .bind(actor_kind)
    .fetch_one(p)
    .await?))
}

/// Leads per current stage.
pub async fn leads_by_stage(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select stage, count(*) from leads group by stage"
    )
    .fetch_all(p)
    .await?))
}

/// The model's decisions in `[from, to)` by intent, most frequent first.
pub async fn intents(
    db: &Db,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    let intent = json_text(db, "ai_intent");
    let sql = format!(
        "select {intent} as intent, count(*) as n from activity_stream a \
         where a.event_type = 'LeadClassified' and a.actor_kind = 'ai_agent' \
         and a.occurred_at >= $1 and a.occurred_at < $2 and a.payload is not null \
         group by intent order by n desc, intent limit $3"
    );
    on_db!(db, |p| Ok(sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(p)
        .await?))
}

/// Draft decisions in `[from, to)` by the deciding user: `(user id, event
/// type, edits_made as text, count)`.
pub async fn draft_decisions(
    db: &Db,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, Option<String>, i64)>, StoreError> {
    let edits = json_text(db, "edits_made");
    let sql = format!(
        "select a.actor_id, a.event_type, {edits} as edits, count(*) from activity_stream a \
         where a.event_type in ('DraftApproved', 'DraftRejected') and a.actor_kind = 'user' \
         and a.occurred_at >= $1 and a.occurred_at < $2 \
         group by a.actor_id, a.event_type, edits"
    );
    on_db!(db, |p| Ok(sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await?))
}

/// Tally syncs in `[from, to)` by outcome (`ok` as text).
pub async fn tally_syncs(
    db: &Db,
    from: i64,
    to: i64,
) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    let ok = json_text(db, "ok");
    let sql = format!(
        "select {ok} as ok, count(*) from activity_stream a \
         where a.event_type = 'TallySyncCompleted' and a.occurred_at >= $1 and a.occurred_at < $2 \
         group by ok"
    );
    on_db!(db, |p| Ok(sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await?))
}

/// Display names of users by id.
pub async fn user_names(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select id, display_name from users order by display_name, id"
    )
    .fetch_all(p)
    .await?))
}
