//! Activity-stream SQL: append inside the caller's transaction, search with
//! keyset pagination, stream in `seq` order, record redactions, keep
//! checkpoints. There is deliberately no function that updates or deletes an
//! event; the only write besides insert is emptying a payload after a
//! redaction is on record, which the database's own trigger also insists on.

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use pebble_core::audit::{self, Hash, NewEvent, StoredEvent, GENESIS_HASH};
use sqlx::Row;

use super::{check_text, on_db, on_tx, refused, Db, StoreError, Tx};

const EVENT_COLUMNS: &str =
    "a.seq, a.id, a.occurred_at, a.recorded_at, a.event_type, a.actor_kind, \
     a.actor_id, a.entity_type, a.entity_id, a.retention_class, a.payload, a.payload_hash, \
     a.prev_hash, a.hash, r.redacted_at";

const FROM_EVENTS: &str = "from activity_stream a left join activity_redaction r on r.seq = a.seq";

macro_rules! event_from_row {
    ($row:expr) => {{
        let r = $row;
        (|| -> Result<StoredEvent, sqlx::Error> {
            Ok(StoredEvent {
                seq: r.try_get("seq")?,
                id: r.try_get("id")?,
                occurred_at: r.try_get("occurred_at")?,
                recorded_at: r.try_get("recorded_at")?,
                event_type: r.try_get("event_type")?,
                actor_kind: r.try_get("actor_kind")?,
                actor_id: r.try_get("actor_id")?,
                entity_type: r.try_get("entity_type")?,
                entity_id: r.try_get("entity_id")?,
                retention_class: r.try_get("retention_class")?,
                payload: r.try_get("payload")?,
                payload_hash: r.try_get("payload_hash")?,
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
                redacted_at: r.try_get("redacted_at")?,
            })
        })()
    }};
}

fn check_event_text(e: &NewEvent) -> Result<(), StoreError> {
    check_text(&e.actor.id)?;
    check_text(&e.entity_type)?;
    check_text(&e.entity_id)?;
    // serde_json escapes NUL as \u0000 in the payload text, which both
    // backends store; only bare columns need the check.
    Ok(())
}

/// The last event's seq and hash, read under the append lock.
async fn head_in(tx: &mut Tx) -> Result<(i64, Hash), StoreError> {
    let row: Option<(i64, String)> = on_tx!(tx, |c| sqlx::query_as(
        "select seq, hash from activity_stream order by seq desc limit 1"
    )
    .fetch_optional(c)
    .await?);
    match row {
        None => Ok((0, GENESIS_HASH)),
        Some((seq, hash)) => {
            let mut h = [0u8; 32];
            hex::decode_to_slice(&hash, &mut h)
                .map_err(|_| StoreError::Refused(format!("stored hash at seq {seq} is not hex")))?;
            Ok((seq, h))
        }
    }
}

/// Append events, in order, inside the caller's transaction. The chain is
/// extended under a lock that serialises every appender of the database (all
/// processes), so `seq` stays gap-free and the chain never forks. The events
/// become visible, all or none, when the caller commits.
pub async fn append(
    tx: &mut Tx,
    events: &[NewEvent],
    recorded_at: DateTime<Utc>,
) -> Result<Vec<StoredEvent>, StoreError> {
    for e in events {
        check_event_text(e)?;
    }
    if let Tx::Postgres(t) = tx {
        // Conflicts with itself and with inserts, not with readers.
        sqlx::query("lock table activity_stream in share row exclusive mode")
            .execute(&mut **t)
            .await?;
    }
    let (mut seq, mut prev) = head_in(tx).await?;
    let mut sealed = Vec::with_capacity(events.len());
    for e in events {
        seq += 1;
        let stored = audit::seal(e, seq, uuid::Uuid::now_v7().to_string(), recorded_at, &prev);
        hex::decode_to_slice(&stored.hash, &mut prev).expect("seal writes 64 hex characters");
        sealed.push(stored);
    }
    insert(tx, &sealed).await?;
    Ok(sealed)
}

/// 14 parameters a row; SQLite allows 32,766 parameters a statement.
const SQLITE_ROWS_PER_INSERT: usize = 40;

fn sqlite_insert(rows: usize) -> String {
    let mut sql = String::from(
        "insert into activity_stream (seq, id, occurred_at, recorded_at, event_type, actor_kind, \
         actor_id, entity_type, entity_id, retention_class, payload, payload_hash, prev_hash, hash) values ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..14 {
            if c > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", r * 14 + c + 1));
        }
        sql.push(')');
    }
    sql
}

pub(crate) async fn insert(tx: &mut Tx, events: &[StoredEvent]) -> Result<(), StoreError> {
    match tx {
        Tx::Sqlite(t) => {
            // sqlx hands each statement to SQLite's worker thread, so rows go
            // in multi-row statements: one hop per chunk instead of per event.
            for chunk in events.chunks(SQLITE_ROWS_PER_INSERT) {
                let sql = sqlite_insert(chunk.len());
                let mut q = sqlx::query(&sql);
                for e in chunk {
                    q = q
                        .bind(e.seq)
                        .bind(&e.id)
                        .bind(e.occurred_at)
                        .bind(e.recorded_at)
                        .bind(&e.event_type)
                        .bind(&e.actor_kind)
                        .bind(&e.actor_id)
                        .bind(&e.entity_type)
                        .bind(&e.entity_id)
                        .bind(&e.retention_class)
                        .bind(&e.payload)
                        .bind(&e.payload_hash)
                        .bind(&e.prev_hash)
                        .bind(&e.hash);
                }
                q.execute(&mut **t).await.map_err(refused)?;
            }
        }
        Tx::Postgres(t) => {
            // One round trip per chunk instead of per event.
            for chunk in events.chunks(5_000) {
                let col = |f: fn(&StoredEvent) -> String| chunk.iter().map(f).collect::<Vec<_>>();
                let num = |f: fn(&StoredEvent) -> i64| chunk.iter().map(f).collect::<Vec<_>>();
                sqlx::query(
                    "insert into activity_stream (seq, id, occurred_at, recorded_at, event_type, \
                     actor_kind, actor_id, entity_type, entity_id, retention_class, payload, \
                     payload_hash, prev_hash, hash) \
                     select * from unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], \
                     $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                     $11::text[], $12::text[], $13::text[], $14::text[])",
                )
                .bind(num(|e| e.seq))
                .bind(col(|e| e.id.clone()))
                .bind(num(|e| e.occurred_at))
                .bind(num(|e| e.recorded_at))
                .bind(col(|e| e.event_type.clone()))
                .bind(col(|e| e.actor_kind.clone()))
                .bind(col(|e| e.actor_id.clone()))
                .bind(col(|e| e.entity_type.clone()))
                .bind(col(|e| e.entity_id.clone()))
                .bind(col(|e| e.retention_class.clone()))
                .bind(chunk.iter().map(|e| e.payload.clone()).collect::<Vec<_>>())
                .bind(col(|e| e.payload_hash.clone()))
                .bind(col(|e| e.prev_hash.clone()))
                .bind(col(|e| e.hash.clone()))
                .execute(&mut **t)
                .await
                .map_err(refused)?;
            }
        }
    }
    Ok(())
}

/// Search filters; every field narrows the result.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub event_type: Option<String>,
    pub actor_kind: Option<String>,
    pub actor_id: Option<String>,
    /// Inclusive lower bound on `occurred_at`, µs.
    pub from: Option<i64>,
    /// Exclusive upper bound on `occurred_at`, µs.
    pub to: Option<i64>,
}

/// Which way a page walks, and from where (exclusive).
#[derive(Clone, Copy, Debug)]
pub enum Page {
    NewestFirst { before: Option<i64> },
    OldestFirst { after: Option<i64> },
}

enum Param {
    Int(i64),
    Text(String),
}

fn where_clause(f: &Filter, page: Option<Page>) -> (String, Vec<Param>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let mut push = |sql: &str, p: Param| {
        params.push(p);
        clauses.push(sql.replace('?', &format!("${}", params.len())));
    };
    if let Some(v) = &f.entity_type {
        push("a.entity_type = ?", Param::Text(v.clone()));
    }
    if let Some(v) = &f.entity_id {
        push("a.entity_id = ?", Param::Text(v.clone()));
    }
    if let Some(v) = &f.event_type {
        push("a.event_type = ?", Param::Text(v.clone()));
    }
    if let Some(v) = &f.actor_kind {
        push("a.actor_kind = ?", Param::Text(v.clone()));
    }
    if let Some(v) = &f.actor_id {
        push("a.actor_id = ?", Param::Text(v.clone()));
    }
    if let Some(v) = f.from {
        push("a.occurred_at >= ?", Param::Int(v));
    }
    if let Some(v) = f.to {
        push("a.occurred_at < ?", Param::Int(v));
    }
    match page {
        Some(Page::NewestFirst { before: Some(s) }) => push("a.seq < ?", Param::Int(s)),
        Some(Page::OldestFirst { after: Some(s) }) => push("a.seq > ?", Param::Int(s)),
        _ => {}
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" where {}", clauses.join(" and "))
    };
    (sql, params)
}

macro_rules! bind_params {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                Param::Int(v) => q.bind(*v),
                Param::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}

/// One page of events matching `filter`.
pub async fn search(
    db: &Db,
    filter: &Filter,
    page: Page,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let (clause, params) = where_clause(filter, Some(page));
    let order = match page {
        Page::NewestFirst { .. } => "desc",
        Page::OldestFirst { .. } => "asc",
    };
    let sql = format!(
        "select {EVENT_COLUMNS} {FROM_EVENTS}{clause} order by a.seq {order} limit {}",
        limit.clamp(1, 1000)
    );
    on_db!(db, |p| {
        let rows = bind_params!(sqlx::query(&sql), &params)
            .fetch_all(p)
            .await?;
        rows.iter()
            .map(|r| event_from_row!(r))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    })
}

/// Every event matching `filter`, oldest first, as a stream: exports and
/// verification walk millions of rows in constant memory.
pub fn stream<'a>(db: &'a Db, filter: &Filter) -> BoxStream<'a, Result<StoredEvent, StoreError>> {
    let (clause, params) = where_clause(filter, None);
    let sql = format!("select {EVENT_COLUMNS} {FROM_EVENTS}{clause} order by a.seq asc");
    match db {
        Db::Sqlite(p) => async_stream::try_stream! {
            let mut rows = bind_params!(sqlx::query(&sql), &params).fetch(p);
            while let Some(r) = rows.try_next().await? {
                yield event_from_row!(&r)?;
            }
        }
        .boxed(),
        Db::Postgres(p) => async_stream::try_stream! {
            let mut rows = bind_params!(sqlx::query(&sql), &params).fetch(p);
            while let Some(r) = rows.try_next().await? {
                yield event_from_row!(&r)?;
            }
        }
        .boxed(),
    }
}

/// One event by seq.
pub async fn get(db: &Db, seq: i64) -> Result<StoredEvent, StoreError> {
    let sql = format!("select {EVENT_COLUMNS} {FROM_EVENTS} where a.seq = $1");
    on_db!(db, |p| {
        let row = sqlx::query(&sql).bind(seq).fetch_optional(p).await?;
        match row {
            Some(r) => Ok(event_from_row!(&r)?),
            None => Err(StoreError::NotFound),
        }
    })
}

/// The number of events and the hash of the last one.
pub async fn head(db: &Db) -> Result<(i64, String), StoreError> {
    let row: Option<(i64, String)> = on_db!(db, |p| sqlx::query_as(
        "select seq, hash from activity_stream order by seq desc limit 1"
    )
    .fetch_optional(p)
    .await?);
    Ok(row.unwrap_or((0, hex::encode(GENESIS_HASH))))
}

/// Chain hashes of events 1..=size in order (Merkle leaves are built from them).
pub async fn hashes_upto(db: &Db, size: i64) -> Result<Vec<String>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar(
        "select hash from activity_stream where seq <= $1 order by seq asc"
    )
    .bind(size)
    .fetch_all(p)
    .await?))
}

/// Why a payload is being emptied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedactionReason {
    Retention,
    Erasure,
}

impl RedactionReason {
    fn as_str(self) -> &'static str {
        match self {
            RedactionReason::Retention => "retention",
            RedactionReason::Erasure => "erasure",
        }
    }
}

/// Record redactions and empty the payloads of `seqs` in the caller's
/// transaction. Already-redacted events are skipped.
pub async fn redact(
    tx: &mut Tx,
    seqs: &[i64],
    reason: RedactionReason,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut n = 0;
    for &seq in seqs {
        let inserted = on_tx!(tx, |c| sqlx::query(
            "insert into activity_redaction (seq, redacted_at, reason) \
             select $1, $2, $3 where not exists (select 1 from activity_redaction where seq = $1)"
        )
        .bind(seq)
        .bind(at.timestamp_micros())
        .bind(reason.as_str())
        .execute(&mut *c)
        .await
        .map_err(refused)?
        .rows_affected());
        if inserted == 1 {
            on_tx!(tx, |c| sqlx::query(
                "update activity_stream set payload = null where seq = $1"
            )
            .bind(seq)
            .execute(&mut *c)
            .await
            .map_err(refused)
            .map(|_| ())?);
            n += 1;
        }
    }
    Ok(n)
}

/// Seqs of events of a retention class that occurred before `cutoff` and
/// still have a payload, oldest first.
pub async fn past_retention(
    db: &Db,
    retention_class: &str,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar(
        "select seq from activity_stream where retention_class = $1 and occurred_at < $2 \
         and payload is not null order by seq asc limit $3"
    )
    .bind(retention_class)
    .bind(cutoff.timestamp_micros())
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// A signed checkpoint of the chain head, as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub tree_size: i64,
    pub merkle_root: String,
    pub chain_head: String,
    pub created_at: i64,
    pub key_id: String,
    pub public_key: String,
    pub signature: String,
}

pub async fn insert_checkpoint(tx: &mut Tx, c: &Checkpoint) -> Result<(), StoreError> {
    on_tx!(tx, |conn| sqlx::query(
        "insert into audit_checkpoint (tree_size, merkle_root, chain_head, created_at, key_id, \
         public_key, signature) values ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(c.tree_size)
    .bind(&c.merkle_root)
    .bind(&c.chain_head)
    .bind(c.created_at)
    .bind(&c.key_id)
    .bind(&c.public_key)
    .bind(&c.signature)
    .execute(conn)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

/// The newest checkpoint, if any; with `covering`, the oldest one whose tree
/// includes that seq.
pub async fn checkpoint(db: &Db, covering: Option<i64>) -> Result<Option<Checkpoint>, StoreError> {
    let sql = match covering {
        None => "select * from audit_checkpoint order by id desc limit 1",
        Some(_) => "select * from audit_checkpoint where tree_size >= $1 order by id asc limit 1",
    };
    on_db!(db, |p| {
        let mut q = sqlx::query(sql);
        if let Some(s) = covering {
            q = q.bind(s);
        }
        let row = q.fetch_optional(p).await?;
        row.map(|r| {
            Ok::<_, sqlx::Error>(Checkpoint {
                tree_size: r.try_get("tree_size")?,
                merkle_root: r.try_get("merkle_root")?,
                chain_head: r.try_get("chain_head")?,
                created_at: r.try_get("created_at")?,
                key_id: r.try_get("key_id")?,
                public_key: r.try_get("public_key")?,
                signature: r.try_get("signature")?,
            })
        })
        .transpose()
        .map_err(StoreError::from)
    })
}
