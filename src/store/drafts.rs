//! Drafts, reviewers' edits, Admin's templates: the SQL.

use sqlx::FromRow;

use super::{check_text, on_db, on_tx, refused, Db, StoreError, Tx};

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Draft {
    pub id: String,
    pub email_id: String,
    pub stream: String,
    pub intent: String,
    pub status: String,
    pub generator: String,
    pub template_version: i64,
    pub to_addr: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub in_reply_to: Option<String>,
    /// JSON array.
    pub refs: String,
    pub body: String,
    pub final_body: Option<String>,
    /// JSON.
    pub facts: String,
    pub latency_us: i64,
    pub company_id: Option<String>,
    pub contact_id: Option<String>,
    pub assignee_id: Option<String>,
    pub requested_by: Option<String>,
    pub received_at: i64,
    pub created_at: i64,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub reject_reason: Option<String>,
    /// JSON.
    pub edits_made: Option<String>,
    pub sent_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Edit {
    pub id: String,
    pub draft_id: String,
    pub user_id: String,
    pub diff: String,
    pub lines_added: i64,
    pub lines_removed: i64,
    pub created_at: i64,
}

/// One version of a template; `body` none = the built-in one.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct TemplateVersion {
    pub intent: String,
    pub version: i64,
    pub body: Option<String>,
    pub updated_by: String,
    pub updated_at: i64,
}

/// Filters of the draft list; all optional, newest first.
#[derive(Clone, Debug)]
pub struct DraftFilter {
    pub status: Option<String>,
    pub stream: Option<String>,
    pub email_id: Option<String>,
    pub assignee_id: Option<String>,
    /// Rows created before this (created_at, id).
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

impl Default for DraftFilter {
    fn default() -> Self {
        DraftFilter {
            status: None,
            stream: None,
            email_id: None,
            assignee_id: None,
            before: None,
            limit: 50,
        }
    }
}

/// Insert a draft. `false` when the pipeline already drafted this email.
pub async fn insert(tx: &mut Tx, d: &Draft) -> Result<bool, StoreError> {
    for t in [
        &d.subject,
        &d.body,
        &d.to_addr,
        &d.facts,
        &d.email_id,
        &d.stream,
    ] {
        check_text(t)?;
    }
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "insert into drafts (id, email_id, stream, intent, status, generator, template_version, \
         to_addr, to_name, subject, in_reply_to, refs, body, final_body, facts, latency_us, \
         company_id, contact_id, assignee_id, requested_by, received_at, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22) on conflict do nothing"
    )
    .bind(&d.id)
    .bind(&d.email_id)
    .bind(&d.stream)
    .bind(&d.intent)
    .bind(&d.status)
    .bind(&d.generator)
    .bind(d.template_version)
    .bind(&d.to_addr)
    .bind(&d.to_name)
    .bind(&d.subject)
    .bind(&d.in_reply_to)
    .bind(&d.refs)
    .bind(&d.body)
    .bind(&d.final_body)
    .bind(&d.facts)
    .bind(d.latency_us)
    .bind(&d.company_id)
    .bind(&d.contact_id)
    .bind(&d.assignee_id)
    .bind(&d.requested_by)
    .bind(d.received_at)
    .bind(d.created_at)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected()
    });
    Ok(n == 1)
}

/// The draft the pipeline made for an email, if any.
pub async fn pipeline_draft(db: &Db, email_id: &str) -> Result<Option<Draft>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as::<_, Draft>(
        "select * from drafts where email_id = $1 and requested_by is null"
    )
    .bind(email_id)
    .fetch_optional(p)
    .await?))
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Draft>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as::<_, Draft>(
        "select * from drafts where id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await?))
}

pub async fn get_tx(tx: &mut Tx, id: &str) -> Result<Option<Draft>, StoreError> {
    on_tx!(tx, |c| Ok(sqlx::query_as::<_, Draft>(
        "select * from drafts where id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?))
}

pub async fn list(db: &Db, f: &DraftFilter) -> Result<Vec<Draft>, StoreError> {
    let (before_at, before_id) = match &f.before {
        Some((at, id)) => (Some(*at), Some(id.clone())),
        None => (None, None),
    };
    on_db!(db, |p| Ok(sqlx::query_as::<_, Draft>(
        "select * from drafts where ($1 is null or status = $1) and ($2 is null or stream = $2) \
         and ($3 is null or email_id = $3) and ($4 is null or assignee_id = $4) \
         and ($5 is null or created_at < $5 or (created_at = $5 and id < $6)) \
         order by created_at desc, id desc limit $7"
    )
    .bind(&f.status)
    .bind(&f.stream)
    .bind(&f.email_id)
    .bind(&f.assignee_id)
    .bind(before_at)
    .bind(before_id)
    .bind(f.limit.clamp(1, 500))
    .fetch_all(p)
    .await?))
}

/// Approve a pending draft; `false` when it is not pending (any more).
pub async fn approve(
    tx: &mut Tx,
    id: &str,
    user_id: &str,
    at: i64,
    final_body: &str,
    edits_made: &str,
) -> Result<bool, StoreError> {
    check_text(final_body)?;
    let n = on_tx!(tx, |c| sqlx::query(
        "update drafts set status = 'approved', reviewed_by = $2, reviewed_at = $3, \
         final_body = $4, edits_made = $5 where id = $1 and status = 'pending'"
    )
    .bind(id)
    .bind(user_id)
    .bind(at)
    .bind(final_body)
    .bind(edits_made)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected());
    Ok(n == 1)
}

/// Reject a pending draft; `false` when it is not pending (any more).
pub async fn reject(
    tx: &mut Tx,
    id: &str,
    user_id: &str,
    at: i64,
    reason: &str,
) -> Result<bool, StoreError> {
    check_text(reason)?;
    let n = on_tx!(tx, |c| sqlx::query(
        "update drafts set status = 'rejected', reviewed_by = $2, reviewed_at = $3, \
         reject_reason = $4 where id = $1 and status = 'pending'"
    )
    .bind(id)
    .bind(user_id)
    .bind(at)
    .bind(reason)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected());
    Ok(n == 1)
}

/// The outbox delivered (`sent_at`) or gave up on (`None`) an approved draft.
pub async fn set_outcome(tx: &mut Tx, id: &str, sent_at: Option<i64>) -> Result<(), StoreError> {
    let status = if sent_at.is_some() { "sent" } else { "failed" };
    on_tx!(tx, |c| sqlx::query(
        "update drafts set status = $2, sent_at = $3 where id = $1"
    )
    .bind(id)
    .bind(status)
    .bind(sent_at)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

pub async fn insert_edit(tx: &mut Tx, e: &Edit) -> Result<(), StoreError> {
    check_text(&e.diff)?;
    on_tx!(tx, |c| {
        sqlx::query(
        "insert into draft_edits (id, draft_id, user_id, diff, lines_added, lines_removed, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(&e.id)
    .bind(&e.draft_id)
    .bind(&e.user_id)
    .bind(&e.diff)
    .bind(e.lines_added)
    .bind(e.lines_removed)
    .bind(e.created_at)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?
    });
    Ok(())
}

pub async fn edits(db: &Db, draft_id: &str) -> Result<Vec<Edit>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as::<_, Edit>(
        "select * from draft_edits where draft_id = $1 order by created_at, id"
    )
    .bind(draft_id)
    .fetch_all(p)
    .await?))
}

/// The version in force for each template that Admin ever changed.
pub async fn templates(db: &Db) -> Result<Vec<TemplateVersion>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as::<_, TemplateVersion>(
        "select t.* from draft_templates t where t.version = \
         (select max(version) from draft_templates u where u.intent = t.intent) order by t.intent"
    )
    .fetch_all(p)
    .await?))
}

pub async fn template(db: &Db, key: &str) -> Result<Option<TemplateVersion>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as::<_, TemplateVersion>(
        "select * from draft_templates where intent = $1 order by version desc limit 1"
    )
    .bind(key)
    .fetch_optional(p)
    .await?))
}

/// Record a new version (`body` none restores the built-in template); returns its number.
pub async fn insert_template(
    tx: &mut Tx,
    key: &str,
    body: Option<&str>,
    user_id: &str,
    at: i64,
) -> Result<i64, StoreError> {
    if let Some(b) = body {
        check_text(b)?;
    }
    on_tx!(tx, |c| {
        let current: Option<i64> =
            sqlx::query_scalar("select max(version) from draft_templates where intent = $1")
                .bind(key)
                .fetch_one(&mut *c)
                .await?;
        let version = current.unwrap_or(0) + 1;
        sqlx::query(
            "insert into draft_templates (intent, version, body, updated_by, updated_at) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(key)
        .bind(version)
        .bind(body)
        .bind(user_id)
        .bind(at)
        .execute(&mut *c)
        .await
        .map_err(refused)?;
        Ok(version)
    })
}

/// Pending drafts counted by (stream, assignee).
pub async fn pending_counts(db: &Db) -> Result<Vec<(String, Option<String>, i64)>, StoreError> {
    on_db!(db, |p| Ok(
        sqlx::query_as::<_, (String, Option<String>, i64)>(
            "select stream, assignee_id, count(*) from drafts where status = 'pending' \
         group by stream, assignee_id order by stream, assignee_id"
        )
        .fetch_all(p)
        .await?
    ))
}

/// (approver, stream, received_at, sent_at) of drafts sent at or after `since`.
pub async fn response_times(
    db: &Db,
    since: i64,
) -> Result<Vec<(Option<String>, String, i64, i64)>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as::<
        _,
        (Option<String>, String, i64, i64),
    >(
        "select reviewed_by, stream, received_at, sent_at from drafts \
         where sent_at is not null and sent_at >= $1"
    )
    .bind(since)
    .fetch_all(p)
    .await?))
}

/// A failed draft's reply is being sent again: it is approved once more.
pub async fn set_outcome_approved(tx: &mut Tx, id: &str) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        sqlx::query(
        "update drafts set status = 'approved', sent_at = null where id = $1 and status in ('failed', 'approved')"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?
    });
    Ok(())
}
