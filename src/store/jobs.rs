//! The pipeline's job queue. A claim is one UPDATE … RETURNING: on
//! PostgreSQL the candidate row is picked `FOR UPDATE SKIP LOCKED`, so
//! several processes never take the same job; SQLite has one writer at a
//! time (`BEGIN IMMEDIATE`), which gives the same guarantee.

use sqlx::FromRow;

use super::{on_db, on_tx, Db, StoreError, Tx};

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Job {
    pub id: i64,
    pub email_id: String,
    pub step: String,
    pub state: String,
    pub attempts: i32,
    pub run_after: i64,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub duration_us: Option<i64>,
    /// What the step said when it completed.
    pub note: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const JOB_COLUMNS: &str = "id, email_id, step, state, attempts, run_after, locked_by, \
     last_error, duration_us, note, created_at, updated_at";

/// Queue `step` for an email unless it was queued before (steps run once).
pub async fn enqueue(tx: &mut Tx, email_id: &str, step: &str, now: i64) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        sqlx::query(
        "insert into pipeline_jobs (email_id, step, state, attempts, run_after, created_at, \
         updated_at) values ($1, $2, 'queued', 0, $3, $3, $3) on conflict (email_id, step) do nothing"
    )
    .bind(email_id)
    .bind(step)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// Take the oldest runnable job: queued and due, or running with a lease
/// that expired (its worker died).
pub async fn claim(
    db: &Db,
    worker: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<Job>, StoreError> {
    let pick = "select id from pipeline_jobs where (state = 'queued' and run_after <= $3) \
                or (state = 'running' and locked_until < $3) order by run_after, id limit 1";
    let sql = |lock: &str| {
        format!(
            "update pipeline_jobs set state = 'running', locked_by = $1, locked_until = $2, \
             attempts = attempts + 1, updated_at = $3 where id = ({pick}{lock}) \
             returning {JOB_COLUMNS}"
        )
    };
    let job = match db {
        Db::Sqlite(p) => {
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
            let job = sqlx::query_as(&sql(""))
                .bind(worker)
                .bind(lease_until)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            job
        }
        Db::Postgres(p) => {
            sqlx::query_as(&sql(" for update skip locked"))
                .bind(worker)
                .bind(lease_until)
                .bind(now)
                .fetch_optional(p)
                .await?
        }
    };
    Ok(job)
}

/// Mark a job done, if this worker still holds it. False when the lease was
/// lost (another worker took it over), in which case the caller rolls back.
pub async fn complete(
    tx: &mut Tx,
    id: i64,
    worker: &str,
    duration_us: i64,
    note: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let note: Option<String> = note.map(|n| n.replace('\0', "").chars().take(2000).collect());
    let n = on_tx!(tx, |c| sqlx::query(
        "update pipeline_jobs set state = 'done', locked_by = null, locked_until = null, \
         duration_us = $3, last_error = null, note = $5, updated_at = $4 \
         where id = $1 and locked_by = $2 and state = 'running'"
    )
    .bind(id)
    .bind(worker)
    .bind(duration_us)
    .bind(now)
    .bind(&note)
    .execute(c)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Record a failure: back to the queue after `run_after`, or dead.
pub async fn fail(
    db: &Db,
    id: i64,
    worker: &str,
    error: &str,
    dead: bool,
    run_after: i64,
    now: i64,
) -> Result<(), StoreError> {
    let state = if dead { "dead" } else { "queued" };
    let error: String = error.replace('\0', "").chars().take(2000).collect();
    on_db!(db, |p| sqlx::query(
        "update pipeline_jobs set state = $3, locked_by = null, locked_until = null, \
         last_error = $4, run_after = $5, updated_at = $6 \
         where id = $1 and locked_by = $2 and state = 'running'"
    )
    .bind(id)
    .bind(worker)
    .bind(state)
    .bind(error)
    .bind(run_after)
    .bind(now)
    .execute(p)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Put a dead job back in the queue with a fresh set of attempts.
pub async fn requeue(db: &Db, id: i64, now: i64) -> Result<bool, StoreError> {
    let n = on_db!(db, |p| sqlx::query(
        "update pipeline_jobs set state = 'queued', attempts = 0, run_after = $2, \
         updated_at = $2 where id = $1 and state = 'dead'"
    )
    .bind(id)
    .bind(now)
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}

pub async fn list(
    db: &Db,
    state: Option<&str>,
    email_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Job>, StoreError> {
    let sql = format!(
        "select {JOB_COLUMNS} from pipeline_jobs where ($1 is null or state = $1) \
         and ($2 is null or email_id = $2) order by id desc limit $3"
    );
    Ok(on_db!(db, |p| sqlx::query_as(&sql)
        .bind(state)
        .bind(email_id)
        .bind(limit)
        .fetch_all(p)
        .await?))
}

/// Jobs per state, for the queue gauge and `pebble pipeline status`.
pub async fn counts(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(on_db!(db, |p| sqlx::query_as(
        "select state, count(*) from pipeline_jobs group by state order by state"
    )
    .fetch_all(p)
    .await?))
}
