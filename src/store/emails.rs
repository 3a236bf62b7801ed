//! Emails, attachments, mailboxes and their fetch state. Lists are
//! keyset-paginated on (received_at, id), newest first.

use sqlx::FromRow;

use super::{check_text, on_db, on_tx, refused, Db, StoreError, Tx};

/// One stored email. Lists of addresses and Message-IDs are JSON text.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct EmailRow {
    pub id: String,
    pub stream: String,
    pub source: String,
    pub message_id: String,
    pub message_id_derived: bool,
    pub raw_sha256: String,
    pub raw_size: i64,
    pub content_hash: String,
    pub conflict: bool,
    pub status: String,
    pub quarantine_reason: Option<String>,
    pub quarantine_detail: Option<String>,
    pub from_addr: Option<String>,
    pub from_name: Option<String>,
    /// The `Reply-To` address, when the sender gave one.
    pub reply_to: Option<String>,
    pub to_addrs: String,
    pub cc_addrs: String,
    pub subject: String,
    pub sent_at: Option<i64>,
    pub received_at: i64,
    pub body_text: String,
    pub body_html: Option<String>,
    pub in_reply_to: Option<String>,
    pub refs: String,
    pub thread_id: String,
    pub contact_id: Option<String>,
    pub company_id: Option<String>,
    pub erased_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct AttachmentRow {
    pub email_id: String,
    pub position: i32,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct MailboxRow {
    pub name: String,
    pub stream: String,
    pub host: String,
    pub port: i32,
    pub tls: bool,
    pub username: String,
    pub password_env: String,
    pub folder: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct MailboxState {
    pub mailbox: String,
    pub uidvalidity: i64,
    pub last_uid: i64,
    pub last_poll_at: Option<i64>,
    pub last_error: Option<String>,
}

/// Filters of the email list; `before` is the (received_at, id) of the
/// last row of the previous page.
#[derive(Clone, Debug, Default)]
pub struct EmailFilter {
    pub stream: Option<String>,
    pub status: Option<String>,
    pub thread_id: Option<String>,
    pub from_addr: Option<String>,
    pub company_id: Option<String>,
    /// The intent that stands on the email (the model's, or a person's override).
    pub intent: Option<String>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

const EMAIL_COLUMNS: &str = "id, stream, source, message_id, message_id_derived, raw_sha256, \
     raw_size, content_hash, conflict, status, quarantine_reason, quarantine_detail, from_addr, \
     from_name, to_addrs, cc_addrs, subject, sent_at, received_at, body_text, body_html, \
     in_reply_to, refs, thread_id, contact_id, company_id, erased_at, reply_to";

/// The free-text fields a parsed message fills, checked on every write
/// (first receipt and release from quarantine alike).
fn check_fields(e: &EmailRow) -> Result<(), StoreError> {
    for s in [
        &e.message_id,
        &e.subject,
        &e.body_text,
        &e.to_addrs,
        &e.cc_addrs,
        &e.refs,
    ]
    .into_iter()
    .chain(e.from_addr.iter())
    .chain(e.from_name.iter())
    .chain(e.reply_to.iter())
    .chain(e.body_html.iter())
    .chain(e.in_reply_to.iter())
    {
        check_text(s)?;
    }
    Ok(())
}

pub async fn insert_email(tx: &mut Tx, e: &EmailRow) -> Result<(), StoreError> {
    check_fields(e)?;
    on_tx!(tx, |c| sqlx::query(&format!(
        "insert into emails ({EMAIL_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)"
    ))
    .bind(&e.id)
    .bind(&e.stream)
    .bind(&e.source)
    .bind(&e.message_id)
    .bind(e.message_id_derived)
    .bind(&e.raw_sha256)
    .bind(e.raw_size)
    .bind(&e.content_hash)
    .bind(e.conflict)
    .bind(&e.status)
    .bind(&e.quarantine_reason)
    .bind(&e.quarantine_detail)
    .bind(&e.from_addr)
    .bind(&e.from_name)
    .bind(&e.to_addrs)
    .bind(&e.cc_addrs)
    .bind(&e.subject)
    .bind(e.sent_at)
    .bind(e.received_at)
    .bind(&e.body_text)
    .bind(&e.body_html)
    .bind(&e.in_reply_to)
    .bind(&e.refs)
    .bind(&e.thread_id)
    .bind(&e.contact_id)
    .bind(&e.company_id)
    .bind(e.erased_at)
    .bind(&e.reply_to)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

/// Replace the parsed fields of a quarantined email that now parses.
pub async fn release_email(tx: &mut Tx, e: &EmailRow) -> Result<(), StoreError> {
    check_fields(e)?;
    on_tx!(tx, |c| sqlx::query(
        "update emails set message_id = $2, message_id_derived = $3, conflict = $4, \
         status = $5, quarantine_reason = null, quarantine_detail = null, from_addr = $6, \
         from_name = $7, to_addrs = $8, cc_addrs = $9, subject = $10, sent_at = $11, \
         body_text = $12, body_html = $13, in_reply_to = $14, refs = $15, thread_id = $16, \
         contact_id = $17, company_id = $18, reply_to = $19 \
         where id = $1 and status = 'quarantined'"
    )
    .bind(&e.id)
    .bind(&e.message_id)
    .bind(e.message_id_derived)
    .bind(e.conflict)
    .bind(&e.status)
    .bind(&e.from_addr)
    .bind(&e.from_name)
    .bind(&e.to_addrs)
    .bind(&e.cc_addrs)
    .bind(&e.subject)
    .bind(e.sent_at)
    .bind(&e.body_text)
    .bind(&e.body_html)
    .bind(&e.in_reply_to)
    .bind(&e.refs)
    .bind(&e.thread_id)
    .bind(&e.contact_id)
    .bind(&e.company_id)
    .bind(&e.reply_to)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

/// Update the quarantine reason after a retry that failed again.
pub async fn requarantine(
    tx: &mut Tx,
    id: &str,
    reason: &str,
    detail: &str,
) -> Result<(), StoreError> {
    on_tx!(tx, |c| sqlx::query(
        "update emails set quarantine_reason = $2, quarantine_detail = $3 where id = $1"
    )
    .bind(id)
    .bind(reason)
    .bind(detail)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

pub async fn insert_attachment(tx: &mut Tx, a: &AttachmentRow) -> Result<(), StoreError> {
    check_text(&a.filename)?;
    check_text(&a.content_type)?;
    on_tx!(tx, |c| sqlx::query(
        "insert into email_attachments (email_id, position, filename, content_type, size, sha256) \
         values ($1, $2, $3, $4, $5, $6)"
    )
    .bind(&a.email_id)
    .bind(a.position)
    .bind(&a.filename)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(&a.sha256)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

/// Emails carrying `message_id`: (id, content_hash, from_addr, subject, thread_id).
pub async fn by_message_id(
    tx: &mut Tx,
    message_id: &str,
) -> Result<Vec<(String, String, Option<String>, String, String)>, StoreError> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "select id, content_hash, from_addr, subject, thread_id from emails \
         where message_id = $1 order by received_at, id"
    )
    .bind(message_id)
    .fetch_all(c)
    .await?))
}

pub async fn email(db: &Db, id: &str) -> Result<Option<EmailRow>, StoreError> {
    let sql = format!("select {EMAIL_COLUMNS} from emails where id = $1");
    Ok(on_db!(db, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?))
}

pub async fn list(db: &Db, f: &EmailFilter) -> Result<Vec<EmailRow>, StoreError> {
    // Selective filters go into the SQL only when given: `($n is null or
    // col = $n)` keeps the planner off the column's index, and a sender's
    // emails were found by walking every email. Status stays in that form on
    // purpose: nearly every email is `ready`, and an index on it is worse
    // than walking `received_at` for the newest page.
    let mut clauses = vec!["($1 is null or status = $1)".to_owned()];
    let mut n = 1;
    for (column, given) in [
        ("stream", f.stream.is_some()),
        ("thread_id", f.thread_id.is_some()),
        ("from_addr", f.from_addr.is_some()),
        ("company_id", f.company_id.is_some()),
    ] {
        if given {
            n += 1;
            clauses.push(format!("{column} = ${n}"));
        }
    }
    if f.intent.is_some() {
        n += 1;
        clauses.push(format!(
            "id in (select email_id from classifications where intent = ${n})"
        ));
    }
    if f.before.is_some() {
        clauses.push(format!(
            "(received_at < ${a} or (received_at = ${a} and id < ${b}))",
            a = n + 1,
            b = n + 2
        ));
        n += 2;
    }
    let sql = format!(
        "select {EMAIL_COLUMNS} from emails where {} \
         order by received_at desc, id desc limit ${}",
        clauses.join(" and "),
        n + 1
    );
    Ok(on_db!(db, |p| {
        let mut q = sqlx::query_as(&sql).bind(&f.status);
        for v in [
            &f.stream,
            &f.thread_id,
            &f.from_addr,
            &f.company_id,
            &f.intent,
        ]
        .into_iter()
        .flatten()
        {
            q = q.bind(v);
        }
        if let Some((at, id)) = &f.before {
            q = q.bind(*at).bind(id);
        }
        q.bind(f.limit).fetch_all(p).await?
    }))
}

pub async fn attachments(db: &Db, email_id: &str) -> Result<Vec<AttachmentRow>, StoreError> {
    Ok(on_db!(db, |p| sqlx::query_as(
        "select email_id, position, filename, content_type, size, sha256 \
         from email_attachments where email_id = $1 order by position"
    )
    .bind(email_id)
    .fetch_all(p)
    .await?))
}

pub async fn count(db: &Db) -> Result<i64, StoreError> {
    Ok(on_db!(db, |p| sqlx::query_scalar(
        "select count(*) from emails"
    )
    .fetch_one(p)
    .await?))
}

pub async fn upsert_mailbox(tx: &mut Tx, m: &MailboxRow) -> Result<(), StoreError> {
    for s in [
        &m.name,
        &m.stream,
        &m.host,
        &m.username,
        &m.password_env,
        &m.folder,
    ] {
        check_text(s)?;
    }
    on_tx!(tx, |c| sqlx::query(
        "insert into mailboxes (name, stream, host, port, tls, username, password_env, folder, \
         enabled, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         on conflict (name) do update set stream = excluded.stream, host = excluded.host, \
         port = excluded.port, tls = excluded.tls, username = excluded.username, \
         password_env = excluded.password_env, folder = excluded.folder, \
         enabled = excluded.enabled, updated_at = excluded.updated_at"
    )
    .bind(&m.name)
    .bind(&m.stream)
    .bind(&m.host)
    .bind(m.port)
    .bind(m.tls)
    .bind(&m.username)
    .bind(&m.password_env)
    .bind(&m.folder)
    .bind(m.enabled)
    .bind(m.created_at)
    .bind(m.updated_at)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

pub async fn mailboxes(db: &Db) -> Result<Vec<MailboxRow>, StoreError> {
    Ok(on_db!(db, |p| sqlx::query_as(
        "select name, stream, host, port, tls, username, password_env, folder, enabled, \
         created_at, updated_at from mailboxes order by name"
    )
    .fetch_all(p)
    .await?))
}

pub async fn mailbox_state(db: &Db, mailbox: &str) -> Result<Option<MailboxState>, StoreError> {
    Ok(on_db!(db, |p| sqlx::query_as(
        "select mailbox, uidvalidity, last_uid, last_poll_at, last_error \
         from mailbox_state where mailbox = $1"
    )
    .bind(mailbox)
    .fetch_optional(p)
    .await?))
}

pub async fn save_mailbox_state(tx: &mut Tx, s: &MailboxState) -> Result<(), StoreError> {
    on_tx!(tx, |c| sqlx::query(
        "insert into mailbox_state (mailbox, uidvalidity, last_uid, last_poll_at, last_error) \
         values ($1, $2, $3, $4, $5) on conflict (mailbox) do update set \
         uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, \
         last_poll_at = excluded.last_poll_at, last_error = excluded.last_error"
    )
    .bind(&s.mailbox)
    .bind(s.uidvalidity)
    .bind(s.last_uid)
    .bind(s.last_poll_at)
    .bind(&s.last_error)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}
