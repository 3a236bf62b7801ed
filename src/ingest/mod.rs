//! Ingestion (SPEC §2, step 1): raw bytes into the object store first, then
//! parse inside a panic boundary, dedup by Message-ID, thread, link the
//! sender, and store the email with its `EmailReceived` event and its first
//! pipeline job in one transaction. A message that cannot be taken as it is
//! goes to quarantine with its reason; nothing is dropped.

pub mod imap;
pub mod import;

use std::sync::Arc;

use pebble_core::audit::{Actor, EventType, NewEvent};
use serde::Serialize;
use serde_json::json;

use crate::audit::{Audit, AuditError};
use crate::crm::{link_sender, CrmError};
use crate::mail::{self, Limits, ParsedMail, Rejection};
use crate::metrics::pipeline::{QuarantineLabels, StreamLabel};
use crate::metrics::Metrics;
use crate::objects::{sha256_hex, ObjectError, ObjectStore};
use crate::pipeline;
use crate::store::emails::{self as sql, AttachmentRow, EmailRow};
use crate::store::{Db, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown stream {0:?}; configured streams: {1}")]
    UnknownStream(String, String),
    #[error("email not found")]
    NotFound,
    #[error("email {0} is not in quarantine")]
    NotQuarantined(String),
    /// A mailbox setting that cannot work: `field`, and why.
    #[error("{field}: {detail}")]
    InvalidMailbox { field: String, detail: String },
    #[error(transparent)]
    Objects(#[from] ObjectError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Where a message came from; recorded on the email and as the event's actor.
#[derive(Clone, Debug)]
pub enum Source {
    Api { user_id: String },
    Import,
    Imap { mailbox: String },
}

impl Source {
    fn label(&self) -> String {
        match self {
            Source::Api { .. } => "api".into(),
            Source::Import => "import".into(),
            Source::Imap { mailbox } => format!("imap:{mailbox}"),
        }
    }

    fn actor(&self) -> Actor {
        match self {
            Source::Api { user_id } => Actor::user(user_id.clone()),
            Source::Import => Actor::system("import"),
            Source::Imap { mailbox } => Actor::system(format!("imap:{mailbox}")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Stored,
    Duplicate,
    Quarantined,
}

/// What happened to one received message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Received {
    /// The email's id (the earlier one's, for a duplicate).
    pub id: String,
    pub outcome: Outcome,
    pub message_id: String,
    /// Same Message-ID as an earlier email with other content.
    pub conflict: bool,
    /// For quarantine: the reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub struct Ingest {
    db: Db,
    audit: Arc<Audit>,
    objects: ObjectStore,
    metrics: Arc<Metrics>,
    limits: Limits,
    streams: Vec<String>,
}

/// The part of receiving that touches only bytes and files.
struct Prepared {
    raw_sha256: String,
    raw_size: usize,
    content_hash: String,
    parsed: Result<ParsedMail, Rejection>,
    attachments: Vec<AttachmentRow>,
}

/// Rounds of a receiving transaction that lost a race on a new contact or
/// company (PostgreSQL aborts the transaction on the unique violation).
const ATTEMPTS: usize = 3;

impl Ingest {
    pub fn new(
        db: Db,
        audit: Arc<Audit>,
        objects: ObjectStore,
        metrics: Arc<Metrics>,
        limits: Limits,
        streams: Vec<String>,
    ) -> Self {
        Ingest {
            db,
            audit,
            objects,
            metrics,
            limits,
            streams,
        }
    }

    pub fn objects(&self) -> &ObjectStore {
        &self.objects
    }

    pub fn streams(&self) -> &[String] {
        &self.streams
    }

    pub fn check_stream(&self, stream: &str) -> Result<(), IngestError> {
        if self.streams.iter().any(|s| s == stream) {
            Ok(())
        } else {
            Err(IngestError::UnknownStream(
                stream.to_owned(),
                self.streams.join(", "),
            ))
        }
    }

    /// The IMAP mailboxes and the stream each feeds.
    pub async fn mailboxes(&self) -> Result<Vec<imap::MailboxConfig>, IngestError> {
        let rows = sql::mailboxes(&self.db).await?;
        Ok(rows.iter().map(imap::MailboxConfig::from_row).collect())
    }

    /// Add or change a mailbox (by name); running watchers pick it up.
    pub async fn put_mailbox(&self, mb: &imap::MailboxConfig) -> Result<(), IngestError> {
        mb.validate().map_err(|e| {
            let (field, detail) = e.split_once(": ").unwrap_or(("mailbox", e.as_str()));
            IngestError::InvalidMailbox {
                field: field.to_owned(),
                detail: detail.to_owned(),
            }
        })?;
        self.check_stream(&mb.stream)?;
        let now = self.audit.clock().now().timestamp_micros();
        let mut tx = self.db.begin().await?;
        sql::upsert_mailbox(&mut tx, &mb.row(now)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Receive one message durably: when this returns Ok, the raw bytes and
    /// the email are on disk.
    pub async fn receive(
        &self,
        raw: Vec<u8>,
        stream: &str,
        source: &Source,
    ) -> Result<Received, IngestError> {
        let mut out = self.receive_batch(vec![raw], stream, source).await?;
        Ok(out.pop().expect("one message in, one outcome out"))
    }

    /// Receive messages in one transaction (an import's unit of work): the
    /// objects are written, synced once, then the rows commit together.
    pub async fn receive_batch(
        &self,
        raws: Vec<Vec<u8>>,
        stream: &str,
        source: &Source,
    ) -> Result<Vec<Received>, IngestError> {
        self.check_stream(stream)?;
        let objects = self.objects.clone();
        let limits = self.limits;
        let prepared = tokio::task::spawn_blocking(move || -> Result<_, ObjectError> {
            if let [raw] = raws.as_slice() {
                return Ok(vec![prepare(raw, &limits, &mut |b| objects.put(b))?]);
            }
            let mut batch = objects.batch();
            let prepared = raws
                .iter()
                .map(|raw| prepare(raw, &limits, &mut |b| batch.put(b)))
                .collect::<Result<Vec<_>, _>>()?;
            batch.commit()?;
            Ok(prepared)
        })
        .await
        .expect("preparing messages does not panic: the parser runs under catch_unwind")?;

        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.store_batch(&prepared, stream, source).await {
                Err(IngestError::Store(StoreError::Conflict)) if attempt < ATTEMPTS => continue,
                Err(e) => return Err(e),
                Ok(received) => {
                    self.count(&received, stream);
                    return Ok(received);
                }
            }
        }
    }

    async fn store_batch(
        &self,
        prepared: &[Prepared],
        stream: &str,
        source: &Source,
    ) -> Result<Vec<Received>, IngestError> {
        let now_dt = self.audit.clock().now();
        let now = now_dt.timestamp_micros();
        let mut tx = self.db.begin().await?;
        let mut events = Vec::with_capacity(prepared.len());
        let mut received = Vec::with_capacity(prepared.len());
        for p in prepared {
            let (r, row) = store_one(&mut tx, p, stream, source, now).await?;
            if r.outcome != Outcome::Duplicate {
                events.push(received_event(&row, source, now_dt));
            }
            received.push(r);
        }
        self.audit.append(&mut tx, &events).await?;
        self.audit.commit(tx).await?;
        Ok(received)
    }

    fn count(&self, received: &[Received], stream: &str) {
        let p = &self.metrics.pipeline;
        for r in received {
            let label = StreamLabel {
                stream: stream.to_owned(),
            };
            match r.outcome {
                Outcome::Stored => p.emails_ingested.get_or_create(&label).inc(),
                Outcome::Duplicate => p.emails_duplicate.get_or_create(&label).inc(),
                Outcome::Quarantined => p
                    .emails_quarantined
                    .get_or_create(&QuarantineLabels {
                        stream: stream.to_owned(),
                        reason: reason_label(r.reason.as_deref()),
                    })
                    .inc(),
            };
        }
    }

    /// Parse a quarantined email again (after a limit was raised, or a
    /// parser upgrade) and release it into the pipeline if it now reads.
    pub async fn retry(&self, id: &str, actor: Actor) -> Result<Received, IngestError> {
        let row = sql::email(&self.db, id)
            .await?
            .ok_or(IngestError::NotFound)?;
        if row.status != "quarantined" {
            return Err(IngestError::NotQuarantined(id.to_owned()));
        }
        let objects = self.objects.clone();
        let limits = self.limits;
        let key = row.raw_sha256.clone();
        let prepared = tokio::task::spawn_blocking(move || -> Result<_, ObjectError> {
            let raw = objects.get_verified(&key)?;
            prepare(&raw, &limits, &mut |b| objects.put(b))
        })
        .await
        .expect("preparing a message does not panic")?;
        let now_dt = self.audit.clock().now();
        let now = now_dt.timestamp_micros();
        let mut tx = self.db.begin().await?;
        let parsed = match &prepared.parsed {
            Err(rejection) => {
                sql::requarantine(&mut tx, id, rejection.code(), &rejection.to_string()).await?;
                tx.commit().await?;
                return Ok(Received {
                    id: id.to_owned(),
                    outcome: Outcome::Quarantined,
                    message_id: row.message_id,
                    conflict: row.conflict,
                    reason: Some(rejection.code().to_owned()),
                });
            }
            Ok(parsed) => parsed,
        };
        let mut released = email_row(&prepared, parsed, &row.stream, &row.source, now);
        released.id = row.id.clone();
        released.received_at = row.received_at;
        let existing = sql::by_message_id(&mut tx, &released.message_id).await?;
        released.conflict = existing.iter().any(|e| e.0 != row.id);
        released.thread_id = thread_of(&mut tx, parsed, &released.id).await?;
        link(&mut tx, parsed, &mut released, now).await?;
        sql::release_email(&mut tx, &released).await?;
        for a in &prepared.attachments {
            let mut a = a.clone();
            a.email_id = released.id.clone();
            sql::insert_attachment(&mut tx, &a).await?;
        }
        pipeline::enqueue_first(&mut tx, &released.id, now).await?;
        let mut event = received_event(&released, &Source::Import, now_dt);
        event.actor = actor;
        event.payload["released_from_quarantine"] = json!(true);
        self.audit.append(&mut tx, &[event]).await?;
        self.audit.commit(tx).await?;
        self.metrics
            .pipeline
            .emails_ingested
            .get_or_create(&StreamLabel {
                stream: released.stream.clone(),
            })
            .inc();
        Ok(Received {
            id: released.id,
            outcome: Outcome::Stored,
            message_id: released.message_id,
            conflict: released.conflict,
            reason: None,
        })
    }
}

fn reason_label(code: Option<&str>) -> &'static str {
    const CODES: [&str; 8] = [
        "empty",
        "too_large",
        "too_many_headers",
        "too_deep",
        "too_many_parts",
        "no_headers",
        "unparsable",
        "parser_panic",
    ];
    CODES
        .into_iter()
        .find(|c| Some(*c) == code)
        .unwrap_or("other")
}

/// Store raw bytes and attachments through `put`, parse. Blocking (files, CPU).
fn prepare(
    raw: &[u8],
    limits: &Limits,
    put: &mut dyn FnMut(&[u8]) -> Result<String, ObjectError>,
) -> Result<Prepared, ObjectError> {
    let raw_sha256 = put(raw)?;
    let mut parsed = mail::parse(raw, limits);
    let mut attachments = Vec::new();
    if let Ok(m) = &mut parsed {
        for (i, a) in std::mem::take(&mut m.attachments).into_iter().enumerate() {
            attachments.push(AttachmentRow {
                email_id: String::new(),
                position: i as i32,
                sha256: put(&a.bytes)?,
                size: a.bytes.len() as i64,
                filename: a.filename,
                content_type: a.content_type,
            });
        }
    }
    Ok(Prepared {
        raw_sha256,
        raw_size: raw.len(),
        content_hash: content_hash(raw),
        parsed,
        attachments,
    })
}

/// The identity of a message's content: line endings normalised and
/// trailing blank space dropped, so the same message read over IMAP (CRLF)
/// and from an mbox (LF) is one message.
pub fn content_hash(raw: &[u8]) -> String {
    let mut normal = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        normal.push(raw[i]);
        i += 1;
    }
    while normal.last().is_some_and(u8::is_ascii_whitespace) {
        normal.pop();
    }
    sha256_hex(&normal)
}

fn email_row(p: &Prepared, m: &ParsedMail, stream: &str, source: &str, now: i64) -> EmailRow {
    let (message_id, derived) = match &m.message_id {
        Some(id) => (id.clone(), false),
        None => (derived_message_id(&p.content_hash), true),
    };
    EmailRow {
        id: uuid::Uuid::now_v7().to_string(),
        stream: stream.to_owned(),
        source: source.to_owned(),
        message_id,
        message_id_derived: derived,
        raw_sha256: p.raw_sha256.clone(),
        raw_size: p.raw_size as i64,
        content_hash: p.content_hash.clone(),
        conflict: false,
        status: "ready".into(),
        quarantine_reason: None,
        quarantine_detail: None,
        from_addr: m.from.as_ref().map(|f| f.address.clone()),
        from_name: m.from.as_ref().map(|f| f.name.clone()),
        reply_to: m.reply_to.clone(),
        to_addrs: serde_json::to_string(&m.to).expect("a list of strings serialises"),
        cc_addrs: serde_json::to_string(&m.cc).expect("a list of strings serialises"),
        subject: m.subject.clone(),
        sent_at: m.date,
        received_at: now,
        body_text: m.body.clone(),
        body_html: m.html.clone(),
        in_reply_to: m.in_reply_to.clone(),
        refs: serde_json::to_string(&m.references).expect("a list of strings serialises"),
        thread_id: String::new(),
        contact_id: None,
        company_id: None,
        erased_at: None,
    }
}

fn derived_message_id(content_hash: &str) -> String {
    format!("{content_hash}@derived.pebble.invalid")
}

async fn store_one(
    tx: &mut Tx,
    p: &Prepared,
    stream: &str,
    source: &Source,
    now: i64,
) -> Result<(Received, EmailRow), IngestError> {
    let mut row = match &p.parsed {
        Ok(m) => email_row(p, m, stream, &source.label(), now),
        Err(rejection) => {
            let mut row = email_row(p, &ParsedMail::default(), stream, &source.label(), now);
            row.status = "quarantined".into();
            row.quarantine_reason = Some(rejection.code().into());
            row.quarantine_detail = Some(rejection.to_string());
            row
        }
    };
    let existing = sql::by_message_id(tx, &row.message_id).await?;
    if let Some(same) = existing.iter().find(|e| e.1 == row.content_hash) {
        let received = Received {
            id: same.0.clone(),
            outcome: Outcome::Duplicate,
            message_id: row.message_id.clone(),
            conflict: false,
            reason: None,
        };
        return Ok((received, row));
    }
    row.conflict = !existing.is_empty();
    row.thread_id = row.id.clone();
    if let Ok(m) = &p.parsed {
        row.thread_id = thread_of(tx, m, &row.id).await?;
        link(tx, m, &mut row, now).await?;
    }
    sql::insert_email(tx, &row).await?;
    for a in &p.attachments {
        let mut a = a.clone();
        a.email_id = row.id.clone();
        sql::insert_attachment(tx, &a).await?;
    }
    let outcome = if row.status == "ready" {
        pipeline::enqueue_first(tx, &row.id, now).await?;
        Outcome::Stored
    } else {
        Outcome::Quarantined
    };
    let received = Received {
        id: row.id.clone(),
        outcome,
        message_id: row.message_id.clone(),
        conflict: row.conflict,
        reason: row.quarantine_reason.clone(),
    };
    Ok((received, row))
}

/// The thread of the nearest known ancestor (In-Reply-To, then References
/// newest first), unless that ancestor has both another sender and another
/// subject: a reply-to header alone must not glue unrelated mail together.
async fn thread_of(tx: &mut Tx, m: &ParsedMail, own_id: &str) -> Result<String, StoreError> {
    let ancestors = m.in_reply_to.iter().chain(m.references.iter().rev());
    let from = m.from.as_ref().map(|f| f.address.as_str());
    for parent in ancestors.take(20) {
        let rows = sql::by_message_id(tx, parent).await?;
        if let Some((_, _, parent_from, parent_subject, thread)) = rows.into_iter().next() {
            let same_sender = parent_from.as_deref() == from;
            let same_subject = base_subject(&parent_subject) == base_subject(&m.subject);
            if same_sender || same_subject {
                return Ok(thread);
            }
        }
    }
    Ok(own_id.to_owned())
}

/// A subject without reply and forward prefixes, for comparing threads.
pub fn base_subject(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let cut = ["re:", "fw:", "fwd:", "aw:", "wg:", "re :", "fwd :"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len());
        match cut {
            Some(n) => s = s[n..].trim_start(),
            None => break,
        }
    }
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Sender → contact → company; a sender address the CRM refuses leaves the
/// email unlinked rather than unreceived.
async fn link(
    tx: &mut Tx,
    m: &ParsedMail,
    row: &mut EmailRow,
    now: i64,
) -> Result<(), IngestError> {
    let Some(from) = &m.from else {
        return Ok(());
    };
    match link_sender(tx, &from.address, &from.name, now).await {
        Ok(linked) => {
            row.contact_id = Some(linked.contact_id);
            row.company_id = linked.company_id;
            Ok(())
        }
        Err(CrmError::Conflict(_)) => Err(IngestError::Store(StoreError::Conflict)),
        Err(CrmError::BadInput { detail, .. }) => {
            tracing::info!(detail, "sender not linked: the address is not usable");
            Ok(())
        }
        Err(CrmError::Store(e)) => Err(e.into()),
        Err(CrmError::Audit(e)) => Err(e.into()),
        Err(CrmError::NotFound) => Ok(()),
    }
}

fn received_event(row: &EmailRow, source: &Source, at: chrono::DateTime<chrono::Utc>) -> NewEvent {
    let mut payload = json!({
        "message_id": row.message_id,
        "from": row.from_addr,
        "subject": row.subject,
        "stream": row.stream,
        "source": row.source,
        "status": row.status,
        "raw_sha256": row.raw_sha256,
    });
    if let Some(reason) = &row.quarantine_reason {
        payload["quarantine_reason"] = json!(reason);
    }
    if row.conflict {
        payload["conflict"] = json!(true);
    }
    NewEvent::new(
        EventType::EmailReceived,
        source.actor(),
        "email",
        row.id.clone(),
        payload,
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_identity_ignores_line_endings_and_trailing_space() {
        assert_eq!(
            content_hash(b"Subject: a\r\n\r\nbody\r\n"),
            content_hash(b"Subject: a\n\nbody\n\n")
        );
        assert_ne!(
            content_hash(b"Subject: a\n\nbody"),
            content_hash(b"Subject: a\n\nbodY")
        );
    }

    #[test]
    fn reply_prefixes_do_not_change_the_conversation() {
        assert_eq!(base_subject("Re: RE: Fwd:  Rate  for MCB"), "rate for mcb");
        assert_eq!(base_subject("AW: Order 42"), "order 42");
        assert_ne!(base_subject("Re: Order 42"), base_subject("Invoice 7"));
    }
}
