//! The SMTP outbox's SQL. Every state change of a claimed message is
//! conditional on the claim (`lease_owner`) so that a worker that lost its
//! lease can change nothing, and above all cannot go on to send.

use sqlx::FromRow;

use super::{check_text, on_db, on_tx, refused, Db, StoreError, Tx};

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub draft_id: String,
    pub message_id: String,
    pub from_addr: String,
    pub to_addr: String,
    pub message: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
}

pub async fn enqueue(tx: &mut Tx, r: &OutboxRow) -> Result<(), StoreError> {
    check_text(&r.message)?;
    on_tx!(tx, |c| {
        sqlx::query(
        "insert into outbox (id, draft_id, message_id, from_addr, to_addr, message, status, attempts, \
         next_attempt_at, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $8)"
    )
    .bind(&r.id)
    .bind(&r.draft_id)
    .bind(&r.message_id)
    .bind(&r.from_addr)
    .bind(&r.to_addr)
    .bind(&r.message)
    .bind(r.next_attempt_at)
    .bind(r.created_at)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?
    });
    Ok(())
}

/// Claim the message due first: it becomes `attempting`, leased to `owner`
/// until `lease_until`, its attempt counted. PostgreSQL workers skip rows
/// another worker holds; SQLite has one writer at a time anyway.
pub async fn claim(
    db: &Db,
    now: i64,
    owner: &str,
    lease_until: i64,
) -> Result<Option<OutboxRow>, StoreError> {
    let pick = match db {
        Db::Sqlite(_) => {
            "select id from outbox where status = 'queued' and next_attempt_at <= $1 \
                          order by next_attempt_at, id limit 1"
        }
        Db::Postgres(_) => {
            "select id from outbox where status = 'queued' and next_attempt_at <= $1 \
                            order by next_attempt_at, id limit 1 for update skip locked"
        }
    };
    let sql = format!(
        "update outbox set status = 'attempting', lease_owner = $2, lease_until = $3, \
         attempts = attempts + 1, updated_at = $1 where id = ({pick}) returning *"
    );
    on_db!(db, |p| Ok(sqlx::query_as::<_, OutboxRow>(&sql)
        .bind(now)
        .bind(owner)
        .bind(lease_until)
        .fetch_optional(p)
        .await?))
}

/// The last step before the message's final dot: from here on a crash leaves
/// its delivery unknown. `false` when the claim was lost (do not send).
pub async fn mark_committing(db: &Db, id: &str, owner: &str, now: i64) -> Result<bool, StoreError> {
    let n = on_db!(db, |p| sqlx::query(
        "update outbox set status = 'committing', updated_at = $3 \
         where id = $1 and lease_owner = $2 and status = 'attempting' and lease_until > $3"
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// The server accepted the message.
pub async fn mark_sent(tx: &mut Tx, id: &str, owner: &str, at: i64) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "update outbox set status = 'sent', sent_at = $3, updated_at = $3, lease_owner = null, \
         lease_until = null, last_error = null where id = $1 and lease_owner = $2 and status = 'committing'"
    )
    .bind(id)
    .bind(owner)
    .bind(at)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(n == 1)
}

/// The attempt failed before the server could have accepted the message:
/// try again at `next_attempt_at`, or (`dead`) give up.
pub async fn mark_failed(
    tx: &mut Tx,
    id: &str,
    owner: &str,
    now: i64,
    next_attempt_at: i64,
    dead: bool,
    error: &str,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "update outbox set status = $4, next_attempt_at = $5, last_error = $6, updated_at = $3, \
         lease_owner = null, lease_until = null \
         where id = $1 and lease_owner = $2 and status in ('attempting', 'committing')"
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .bind(if dead { "dead" } else { "queued" })
    .bind(next_attempt_at)
    .bind(error.replace('\0', ""))
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(n == 1)
}

/// The attempt ended after the final dot without an answer: the server may
/// have the message. Never retried automatically.
pub async fn mark_unknown(
    db: &Db,
    id: &str,
    owner: &str,
    now: i64,
    error: &str,
) -> Result<bool, StoreError> {
    let n = on_db!(db, |p| sqlx::query(
        "update outbox set status = 'unknown', last_error = $4, updated_at = $3, \
         lease_owner = null, lease_until = null \
         where id = $1 and lease_owner = $2 and status = 'committing'"
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .bind(error.replace('\0', ""))
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Claims whose worker is gone (lease ran out): an `attempting` one never
/// reached the final dot and is queued again (or dead after `max_attempts`);
/// a `committing` one may have been delivered and becomes `unknown`.
/// Returns (requeued, unknown, the rows that died).
pub async fn recover_expired(
    db: &Db,
    now: i64,
    max_attempts: i64,
) -> Result<(u64, u64, Vec<OutboxRow>), StoreError> {
    let (requeued, unknown) = on_db!(db, |p| {
        let requeued = sqlx::query(
            "update outbox set status = 'queued', next_attempt_at = $1, updated_at = $1, \
             last_error = 'the worker stopped before handing the message over; sending again', \
             lease_owner = null, lease_until = null \
             where status = 'attempting' and lease_until <= $1 and attempts < $2",
        )
        .bind(now)
        .bind(max_attempts)
        .execute(p)
        .await?
        .rows_affected();
        let unknown = sqlx::query(
            "update outbox set status = 'unknown', updated_at = $1, \
             last_error = 'the worker stopped after handing the message to the server and before recording its answer; it may have been delivered', \
             lease_owner = null, lease_until = null \
             where status = 'committing' and lease_until <= $1",
        )
        .bind(now)
        .execute(p)
        .await?
        .rows_affected();
        (requeued, unknown)
    });
    // Out of attempts: dead, and the caller marks the draft failed.
    let dead = on_db!(db, |p| {
        sqlx::query_as::<_, OutboxRow>(
        "update outbox set status = 'dead', updated_at = $1, \
         last_error = 'the worker stopped before handing the message over, and no attempts are left', \
         lease_owner = null, lease_until = null \
         where status = 'attempting' and lease_until <= $1 and attempts >= $2 returning *"
    )
    .bind(now)
    .bind(max_attempts)
    .fetch_all(p)
    .await?
    });
    Ok((requeued, unknown, dead))
}

pub async fn get(db: &Db, id: &str) -> Result<Option<OutboxRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as::<_, OutboxRow>(
        "select * from outbox where id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await?))
}

pub async fn get_tx(tx: &mut Tx, id: &str) -> Result<Option<OutboxRow>, StoreError> {
    on_tx!(tx, |c| Ok(sqlx::query_as::<_, OutboxRow>(
        "select * from outbox where id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?))
}

pub async fn by_draft(db: &Db, draft_id: &str) -> Result<Option<OutboxRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as::<_, OutboxRow>(
        "select * from outbox where draft_id = $1"
    )
    .bind(draft_id)
    .fetch_optional(p)
    .await?))
}

/// Newest first, optionally of one status.
pub async fn list(db: &Db, status: Option<&str>, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    on_db!(db, |p| {
        Ok(sqlx::query_as::<_, OutboxRow>(
        "select * from outbox where ($1 is null or status = $1) order by created_at desc, id desc limit $2"
    )
    .bind(status)
    .bind(limit.clamp(1, 500))
    .fetch_all(p)
    .await?)
    })
}

/// A person sends a dead or unknown message again; `false` when it is in
/// neither state.
pub async fn requeue(tx: &mut Tx, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "update outbox set status = 'queued', attempts = 0, next_attempt_at = $2, updated_at = $2 \
         where id = $1 and status in ('dead', 'unknown')"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(n == 1)
}

/// A person found an unknown message delivered.
pub async fn confirm_sent(tx: &mut Tx, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "update outbox set status = 'sent', sent_at = $2, updated_at = $2 where id = $1 and status = 'unknown'"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(n == 1)
}
