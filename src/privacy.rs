//! Data-subject requests (SPEC §8, GDPR and India's DPDP Act): export
//! everything Pebble holds about an e-mail address or a company as one ZIP,
//! and the erasure workflow — requested by Ops (or Admin), approved or
//! rejected by an Admin, then carried out in one transaction: CRM records
//! scrubbed and soft-deleted, activity-stream payloads that mention the
//! subject redacted (their hashes stay, so the chain still verifies), and
//! `SubjectErased` recorded. Every step is an event.
//!
//! The workflow's state is its events (entity `erasure_request:<id>`), so
//! there is no second record to drift from the audit trail. The subject's
//! address lives only in the request event, which the erasure redacts too.

use std::io::Write;
use std::path::Path;

use futures::TryStreamExt;
use pebble_core::access::normalize_login;
use pebble_core::audit::{canonical_time, Actor, EventType, NewEvent, StoredEvent};
use serde::Serialize;
use serde_json::{json, Value};

use crate::audit::{Audit, AuditError};
use crate::objects::ObjectStore;
use crate::store::activity::{self, Filter, Page, RedactionReason};
use crate::store::crm::{Company, Contact, Lead, Note};
use crate::store::drafts::Draft;
use crate::store::emails::{AttachmentRow, EmailRow};
use crate::store::intent::{DecisionRow, OverrideRow};
use crate::store::privacy as sql;
use crate::store::steps::{EnrichmentRow, ExtractionRow, LinkRow};
use crate::store::{Db, StoreError};

pub const ENTITY: &str = "erasure_request";

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("{field}: {detail}")]
    BadInput { field: &'static str, detail: String },
    #[error("no such erasure request")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("cannot write the archive: {0}")]
    Io(String),
}

impl From<StoreError> for PrivacyError {
    fn from(e: StoreError) -> Self {
        PrivacyError::Audit(AuditError::Store(e))
    }
}

fn io(e: impl std::fmt::Display) -> PrivacyError {
    PrivacyError::Io(e.to_string())
}

/// Whose data: a person by address, or a company by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Email(String),
    Company(String),
}

impl Subject {
    pub fn email(text: &str) -> Result<Subject, PrivacyError> {
        normalize_login(text)
            .map(Subject::Email)
            .ok_or_else(|| PrivacyError::BadInput {
                field: "email",
                detail: "is not an e-mail address".into(),
            })
    }

    pub fn company(id: &str) -> Result<Subject, PrivacyError> {
        let id = id.trim();
        if id.is_empty() || id.len() > 64 || id.contains('\0') {
            return Err(PrivacyError::BadInput {
                field: "company",
                detail: "is not a company id".into(),
            });
        }
        Ok(Subject::Company(id.to_owned()))
    }

    fn kind(&self) -> &'static str {
        match self {
            Subject::Email(_) => "email",
            Subject::Company(_) => "company",
        }
    }

    fn value(&self) -> &str {
        match self {
            Subject::Email(v) | Subject::Company(v) => v,
        }
    }
}

/// Everything held about a subject.
struct Holdings {
    contacts: Vec<Contact>,
    companies: Vec<Company>,
    leads: Vec<Lead>,
    notes: Vec<Note>,
    emails: Vec<EmailRow>,
    attachments: Vec<AttachmentRow>,
    /// What Pebble made of those emails: classification decisions and
    /// people's overrides, reply drafts, and the pipeline's records.
    decisions: Vec<DecisionRow>,
    overrides: Vec<OverrideRow>,
    drafts: Vec<Draft>,
    extractions: Vec<ExtractionRow>,
    links: Vec<LinkRow>,
    enrichments: Vec<EnrichmentRow>,
    events: Vec<StoredEvent>,
}

async fn holdings(db: &Db, subject: &Subject) -> Result<Holdings, PrivacyError> {
    let (contacts, company_ids) = match subject {
        Subject::Email(e) => {
            let contacts = sql::contacts_by_email(db, e).await?;
            let mut ids: Vec<String> = contacts
                .iter()
                .filter_map(|c| c.company_id.clone())
                .collect();
            ids.sort();
            ids.dedup();
            (contacts, ids)
        }
        Subject::Company(id) => {
            if crate::store::crm::company(db, id).await?.is_none() {
                return Err(PrivacyError::BadInput {
                    field: "company",
                    detail: "no such company".into(),
                });
            }
            (sql::contacts_by_company(db, id).await?, vec![id.clone()])
        }
    };
    let companies = sql::companies(db, &company_ids).await?;
    let contact_ids: Vec<String> = contacts.iter().map(|c| c.id.clone()).collect();
    let leads = match subject {
        Subject::Email(_) => sql::leads_where(db, "contact_id", &contact_ids).await?,
        Subject::Company(_) => sql::leads_where(db, "company_id", &company_ids).await?,
    };
    let lead_ids: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    let mut notes = sql::notes_on(db, "contact", &contact_ids).await?;
    notes.extend(sql::notes_on(db, "lead", &lead_ids).await?);
    if matches!(subject, Subject::Company(_)) {
        notes.extend(sql::notes_on(db, "company", &company_ids).await?);
    }
    let emails = match subject {
        Subject::Email(e) => sql::emails_of_address(db, e).await?,
        Subject::Company(id) => sql::emails_of_company(db, id).await?,
    };
    let email_ids: Vec<String> = emails.iter().map(|e| e.id.clone()).collect();
    let attachments = sql::attachments_of(db, &email_ids).await?;
    let decisions = sql::decisions_of(db, &email_ids).await?;
    let overrides = sql::overrides_of(db, &email_ids).await?;
    let drafts = sql::drafts_of(db, &email_ids).await?;
    let extractions = sql::extractions_of(db, &email_ids).await?;
    let links = sql::links_of(db, &email_ids).await?;
    let enrichments = sql::enrichments_of(db, &email_ids).await?;
    let mut entities: Vec<(&str, String)> =
        contact_ids.iter().map(|i| ("contact", i.clone())).collect();
    entities.extend(lead_ids.iter().map(|i| ("lead", i.clone())));
    entities.extend(email_ids.iter().map(|i| ("email", i.clone())));
    if matches!(subject, Subject::Company(_)) {
        entities.extend(company_ids.iter().map(|i| ("company", i.clone())));
    }
    let mut tx = db.begin().await?;
    let seqs = sql::events_about(&mut tx, &subject.value().to_lowercase(), &entities).await?;
    drop(tx);
    let mut events = Vec::with_capacity(seqs.len());
    for seq in seqs {
        events.push(activity::get(db, seq).await?);
    }
    Ok(Holdings {
        contacts,
        companies,
        leads,
        notes,
        emails,
        attachments,
        decisions,
        overrides,
        drafts,
        extractions,
        links,
        enrichments,
        events,
    })
}

fn contact_json(c: &Contact) -> Value {
    json!({"id": c.id, "email": c.email, "name": c.name, "phone": c.phone, "company_id": c.company_id,
           "merged_into": c.merged_into, "created_at": canonical_time(c.created_at),
           "updated_at": canonical_time(c.updated_at), "deleted_at": c.deleted_at.map(canonical_time)})
}

fn company_json(c: &Company) -> Value {
    json!({"id": c.id, "name": c.name, "domains": c.domains, "gstins": c.gstins, "pan": c.pan, "cin": c.cin,
           "address": c.address, "state": c.state, "validation_status": c.validation_status,
           "validation_errors": c.validation_errors, "merged_into": c.merged_into,
           "created_at": canonical_time(c.created_at), "updated_at": canonical_time(c.updated_at)})
}

fn lead_json(l: &Lead) -> Value {
    json!({"id": l.id, "title": l.title, "company_id": l.company_id, "contact_id": l.contact_id,
           "stage": l.stage, "lost_reason": l.lost_reason, "owner_id": l.owner_id,
           "source_email_id": l.source_email_id, "created_at": canonical_time(l.created_at),
           "updated_at": canonical_time(l.updated_at)})
}

fn note_json(n: &Note) -> Value {
    json!({"id": n.id, "entity_type": n.entity_type, "entity_id": n.entity_id, "author_id": n.author_id,
           "body": n.body, "created_at": canonical_time(n.created_at)})
}

fn email_json(e: &EmailRow) -> Value {
    let list = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    json!({"id": e.id, "stream": e.stream, "message_id": e.message_id, "from": e.from_addr,
           "from_name": e.from_name, "to": list(&e.to_addrs), "cc": list(&e.cc_addrs), "subject": e.subject,
           "reply_to": e.reply_to,
           "sent_at": e.sent_at.map(canonical_time), "received_at": canonical_time(e.received_at),
           "text": e.body_text, "html": e.body_html, "thread_id": e.thread_id,
           "contact_id": e.contact_id, "company_id": e.company_id, "raw_sha256": e.raw_sha256,
           "erased_at": e.erased_at.map(canonical_time)})
}

/// JSON text stored in a column, as JSON (null when it does not parse).
fn stored(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn decision_json(d: &DecisionRow) -> Value {
    json!({"email_id": d.email_id, "intent": d.intent, "ai_intent": d.ai_intent,
           "confidence": d.confidence, "decided_by": d.decided_by, "model_version": d.model_version,
           "model_intent": d.model_intent, "model_confidence": d.model_confidence,
           "evidence": stored(&d.evidence), "entities": stored(&d.entities),
           "subject": d.subject, "text": d.body, "llm_error": d.llm_error,
           "created_at": canonical_time(d.created_at),
           "reviewed_at": d.reviewed_at.map(canonical_time), "reviewed_by": d.reviewed_by,
           "overridden": d.overridden})
}

fn override_json(o: &OverrideRow) -> Value {
    json!({"id": o.id, "email_id": o.email_id, "previous_intent": o.previous_intent,
           "intent": o.intent, "justification": o.justification, "user_id": o.user_id,
           "created_at": canonical_time(o.created_at)})
}

fn draft_json(d: &Draft) -> Value {
    json!({"id": d.id, "email_id": d.email_id, "intent": d.intent, "status": d.status,
           "generator": d.generator, "to": d.to_addr, "to_name": d.to_name, "subject": d.subject,
           "text": d.body, "final_text": d.final_body, "facts": stored(&d.facts),
           "requested_by": d.requested_by, "created_at": canonical_time(d.created_at),
           "reviewed_by": d.reviewed_by, "reviewed_at": d.reviewed_at.map(canonical_time),
           "reject_reason": d.reject_reason, "edits_made": d.edits_made.as_deref().map(stored),
           "sent_at": d.sent_at.map(canonical_time)})
}

fn extraction_json(x: &ExtractionRow) -> Value {
    json!({"email_id": x.email_id, "identifiers": stored(&x.identifiers),
           "phones": stored(&x.phones), "products": stored(&x.products),
           "created_at": canonical_time(x.created_at)})
}

fn link_json(l: &LinkRow) -> Value {
    json!({"email_id": l.email_id, "company_id": l.company_id,
           "identifiers": stored(&l.identifiers), "lead_id": l.lead_id, "lead_from": l.lead_from,
           "lead_to": l.lead_to, "note": l.note, "created_at": canonical_time(l.created_at)})
}

fn enrichment_json(e: &EnrichmentRow) -> Value {
    json!({"email_id": e.email_id, "stock": stored(&e.stock), "history": stored(&e.history),
           "created_at": canonical_time(e.created_at)})
}

fn attachment_json(a: &AttachmentRow) -> Value {
    json!({"email_id": a.email_id, "position": a.position, "filename": a.filename,
           "content_type": a.content_type, "size": a.size, "sha256": a.sha256})
}

/// A name safe inside a ZIP: no directories, no control characters.
fn zip_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned: String = cleaned.trim_start_matches('.').chars().take(120).collect();
    if cleaned.is_empty() {
        "attachment".into()
    } else {
        cleaned
    }
}

fn event_json(e: &StoredEvent) -> Value {
    json!({"seq": e.seq, "id": e.id, "occurred_at": canonical_time(e.occurred_at), "event_type": e.event_type,
           "actor_kind": e.actor_kind, "actor_id": e.actor_id, "entity_type": e.entity_type,
           "entity_id": e.entity_id,
           "payload": e.payload.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
           "redacted": e.payload.is_none(), "hash": e.hash})
}

/// A table of JSON objects as CSV, columns in the objects' own order.
fn csv_of(rows: &[Value]) -> Result<Vec<u8>, PrivacyError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let columns: Vec<String> = rows
        .first()
        .and_then(|r| r.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    w.write_record(&columns).map_err(io)?;
    for r in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match r.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            })
            .collect();
        w.write_record(&cells).map_err(io)?;
    }
    w.into_inner().map_err(io)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExportSummary {
    pub subject_kind: String,
    pub contacts: usize,
    pub companies: usize,
    pub leads: usize,
    pub notes: usize,
    pub emails: usize,
    pub attachments: usize,
    pub classifications: usize,
    pub overrides: usize,
    pub drafts: usize,
    pub extractions: usize,
    pub links: usize,
    pub enrichments: usize,
    pub events: usize,
    pub files: Vec<String>,
}

/// Write everything held about `subject` to a ZIP at `out` (`subject.json`
/// with it all, one CSV per kind of record) and record the request.
pub async fn export(
    db: &Db,
    audit: &Audit,
    objects: &ObjectStore,
    subject: &Subject,
    actor: Actor,
    out: &Path,
) -> Result<ExportSummary, PrivacyError> {
    let h = holdings(db, subject).await?;
    let tables: Vec<(&str, Vec<Value>)> = vec![
        ("contacts", h.contacts.iter().map(contact_json).collect()),
        ("companies", h.companies.iter().map(company_json).collect()),
        ("leads", h.leads.iter().map(lead_json).collect()),
        ("notes", h.notes.iter().map(note_json).collect()),
        ("emails", h.emails.iter().map(email_json).collect()),
        (
            "attachments",
            h.attachments.iter().map(attachment_json).collect(),
        ),
        (
            "classifications",
            h.decisions.iter().map(decision_json).collect(),
        ),
        ("overrides", h.overrides.iter().map(override_json).collect()),
        ("drafts", h.drafts.iter().map(draft_json).collect()),
        (
            "extractions",
            h.extractions.iter().map(extraction_json).collect(),
        ),
        ("links", h.links.iter().map(link_json).collect()),
        (
            "enrichments",
            h.enrichments.iter().map(enrichment_json).collect(),
        ),
        ("events", h.events.iter().map(event_json).collect()),
    ];
    let mut everything = serde_json::Map::new();
    everything.insert("format".into(), Value::from("pebble-subject-export/1"));
    everything.insert(
        "subject".into(),
        json!({"kind": subject.kind(), "value": subject.value()}),
    );
    everything.insert(
        "generated_at".into(),
        Value::from(audit.clock().now().to_rfc3339()),
    );
    everything.insert(
        "exported_by".into(),
        json!({"actor_kind": actor.kind.as_str(), "actor_id": actor.id}),
    );
    for (name, rows) in &tables {
        everything.insert((*name).into(), Value::from(rows.clone()));
    }
    let file = std::fs::File::create(out).map_err(io)?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut files = vec!["subject.json".to_owned()];
    zip.start_file("subject.json", options).map_err(io)?;
    zip.write_all(&serde_json::to_vec_pretty(&Value::Object(everything)).map_err(io)?)
        .map_err(io)?;
    for (name, rows) in &tables {
        let file_name = format!("{name}.csv");
        zip.start_file(file_name.as_str(), options).map_err(io)?;
        zip.write_all(&csv_of(rows)?).map_err(io)?;
        files.push(file_name);
    }
    // Erased emails no longer have their bytes; everything else must.
    for e in h.emails.iter().filter(|e| e.erased_at.is_none()) {
        let name = format!("raw/{}.eml", zip_name(&e.id));
        zip.start_file(name.as_str(), options).map_err(io)?;
        zip.write_all(&objects.get_verified(&e.raw_sha256).map_err(io)?)
            .map_err(io)?;
        files.push(name);
    }
    for a in &h.attachments {
        if h.emails
            .iter()
            .any(|e| e.id == a.email_id && e.erased_at.is_some())
        {
            continue;
        }
        let name = format!(
            "attachments/{}/{}-{}",
            zip_name(&a.email_id),
            a.position,
            zip_name(&a.filename)
        );
        zip.start_file(name.as_str(), options).map_err(io)?;
        zip.write_all(&objects.get_verified(&a.sha256).map_err(io)?)
            .map_err(io)?;
        files.push(name);
    }
    zip.finish().map_err(io)?.sync_all().map_err(io)?;
    let summary = ExportSummary {
        subject_kind: subject.kind().into(),
        contacts: h.contacts.len(),
        companies: h.companies.len(),
        leads: h.leads.len(),
        notes: h.notes.len(),
        emails: h.emails.len(),
        attachments: h.attachments.len(),
        classifications: h.decisions.len(),
        overrides: h.overrides.len(),
        drafts: h.drafts.len(),
        extractions: h.extractions.len(),
        links: h.links.len(),
        enrichments: h.enrichments.len(),
        events: h.events.len(),
        files,
    };
    audit
        .record(&[NewEvent::new(
            EventType::SubjectExportRequested,
            actor,
            "subject_export",
            uuid::Uuid::now_v7().to_string(),
            json!({
                "subject": subject.value(),
                "scope": subject.kind(),
                "rows": {"contacts": summary.contacts, "companies": summary.companies,
                         "leads": summary.leads, "notes": summary.notes, "emails": summary.emails,
                         "attachments": summary.attachments, "classifications": summary.classifications,
                         "overrides": summary.overrides, "drafts": summary.drafts,
                         "extractions": summary.extractions, "links": summary.links,
                         "enrichments": summary.enrichments, "events": summary.events},
            }),
            audit.clock().now(),
        )])
        .await?;
    Ok(summary)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureRequest {
    pub id: String,
    /// The address to erase; absent once erased (its event is redacted too).
    pub subject: Option<String>,
    pub reason: Option<String>,
    pub requested_by: String,
    pub requested_at: String,
    /// pending, erased or rejected
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    /// What the erasure removed, or why it was rejected.
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<Value>,
}

fn payload(e: &StoredEvent) -> Value {
    e.payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null)
}

async fn trail(db: &Db, id: &str) -> Result<Vec<StoredEvent>, PrivacyError> {
    let filter = Filter {
        entity_type: Some(ENTITY.into()),
        entity_id: Some(id.into()),
        ..Filter::default()
    };
    Ok(activity::search(db, &filter, Page::OldestFirst { after: None }, 100).await?)
}

fn from_trail(id: &str, events: &[StoredEvent]) -> Option<ErasureRequest> {
    let request = events
        .iter()
        .find(|e| e.event_type == EventType::SubjectErasureRequested.as_str())?;
    let p = payload(request);
    let mut r = ErasureRequest {
        id: id.to_owned(),
        subject: p.get("subject").and_then(|v| v.as_str()).map(str::to_owned),
        reason: p.get("reason").and_then(|v| v.as_str()).map(str::to_owned),
        requested_by: request.actor_id.clone(),
        requested_at: canonical_time(request.occurred_at),
        status: "pending".into(),
        decided_by: None,
        decided_at: None,
        outcome: None,
    };
    for e in events {
        let status = if e.event_type == EventType::SubjectErased.as_str() {
            "erased"
        } else if e.event_type == EventType::SubjectErasureRejected.as_str() {
            "rejected"
        } else {
            continue;
        };
        r.status = status.into();
        r.outcome = Some(payload(e));
    }
    if let Some(d) = events.iter().find(|e| {
        e.event_type == EventType::SubjectErasureApproved.as_str()
            || e.event_type == EventType::SubjectErasureRejected.as_str()
    }) {
        r.decided_by = Some(d.actor_id.clone());
        r.decided_at = Some(canonical_time(d.occurred_at));
    }
    Some(r)
}

/// Ask for a person's data to be erased; an Admin decides.
pub async fn request_erasure(
    db: &Db,
    audit: &Audit,
    subject: &Subject,
    reason: &str,
    actor: Actor,
) -> Result<ErasureRequest, PrivacyError> {
    let Subject::Email(address) = subject else {
        return Err(PrivacyError::BadInput {
            field: "email",
            detail: "erasure is for a person's e-mail address".into(),
        });
    };
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 || reason.contains('\0') {
        return Err(PrivacyError::BadInput {
            field: "reason",
            detail: "say why, in 1 to 1000 characters".into(),
        });
    }
    if erasure_requests(db)
        .await?
        .iter()
        .any(|r| r.status == "pending" && r.subject.as_deref() == Some(address))
    {
        return Err(PrivacyError::Conflict(
            "an erasure request for this address is already waiting for approval".into(),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    audit
        .record(&[NewEvent::new(
            EventType::SubjectErasureRequested,
            actor,
            ENTITY,
            id.clone(),
            json!({"request_id": id, "subject": address, "scope": "email", "reason": reason}),
            audit.clock().now(),
        )])
        .await?;
    from_trail(&id, &trail(db, &id).await?).ok_or(PrivacyError::NotFound)
}

/// Every erasure request, newest first.
pub async fn erasure_requests(db: &Db) -> Result<Vec<ErasureRequest>, PrivacyError> {
    let filter = Filter {
        event_type: Some(EventType::SubjectErasureRequested.as_str().into()),
        ..Filter::default()
    };
    let requests = activity::search(db, &filter, Page::NewestFirst { before: None }, 200).await?;
    let mut out = Vec::with_capacity(requests.len());
    for e in requests {
        if let Some(r) = from_trail(&e.entity_id, &trail(db, &e.entity_id).await?) {
            out.push(r);
        }
    }
    Ok(out)
}

async fn pending(db: &Db, id: &str) -> Result<(ErasureRequest, String), PrivacyError> {
    if id.len() > 64 || id.contains('\0') {
        return Err(PrivacyError::NotFound);
    }
    let r = from_trail(id, &trail(db, id).await?).ok_or(PrivacyError::NotFound)?;
    if r.status != "pending" || r.decided_by.is_some() {
        return Err(PrivacyError::Conflict(format!(
            "this request was already decided ({})",
            r.status
        )));
    }
    let subject = r
        .subject
        .clone()
        .ok_or_else(|| PrivacyError::Conflict("the request no longer names its subject".into()))?;
    Ok((r, subject))
}

pub async fn reject(
    db: &Db,
    audit: &Audit,
    id: &str,
    reason: &str,
    actor: Actor,
) -> Result<ErasureRequest, PrivacyError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 || reason.contains('\0') {
        return Err(PrivacyError::BadInput {
            field: "reason",
            detail: "say why, in 1 to 1000 characters".into(),
        });
    }
    pending(db, id).await?;
    audit
        .record(&[NewEvent::new(
            EventType::SubjectErasureRejected,
            actor,
            ENTITY,
            id,
            json!({"request_id": id, "reason": reason}),
            audit.clock().now(),
        )])
        .await?;
    from_trail(id, &trail(db, id).await?).ok_or(PrivacyError::NotFound)
}

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ErasureReport {
    pub request_id: String,
    pub contacts: usize,
    pub leads: usize,
    pub notes: usize,
    pub emails: usize,
    /// Raw messages and attachments deleted from the object store.
    pub objects_deleted: usize,
    pub redacted_events: u64,
}

/// Approve and carry out an erasure: scrub, redact and record, all in one
/// transaction, so the database never holds a half-erased subject; then
/// delete the raw messages and attachments no other email needs.
pub async fn approve(
    db: &Db,
    audit: &Audit,
    objects: &ObjectStore,
    id: &str,
    actor: Actor,
) -> Result<ErasureReport, PrivacyError> {
    let (_, address) = pending(db, id).await?;
    let subject = Subject::Email(address.clone());
    let h = holdings(db, &subject).await?;
    let now = audit.clock().now();
    let now_us = now.timestamp_micros();
    let mut tx = db.begin().await?;
    audit
        .append(
            &mut tx,
            &[NewEvent::new(
                EventType::SubjectErasureApproved,
                actor.clone(),
                ENTITY,
                id,
                json!({"request_id": id, "approved_by": actor.id}),
                now,
            )],
        )
        .await?;
    for c in &h.contacts {
        sql::scrub_contact(&mut tx, &c.id, now_us).await?;
    }
    for l in &h.leads {
        sql::scrub_lead(&mut tx, &l.id, now_us).await?;
    }
    for n in &h.notes {
        sql::scrub_note(&mut tx, &n.id).await?;
    }
    for e in &h.emails {
        sql::scrub_email(&mut tx, &e.id, now_us).await?;
    }
    let mut entities: Vec<(&str, String)> = h
        .contacts
        .iter()
        .map(|c| ("contact", c.id.clone()))
        .collect();
    entities.extend(h.leads.iter().map(|l| ("lead", l.id.clone())));
    entities.extend(h.emails.iter().map(|e| ("email", e.id.clone())));
    // Read inside the transaction: an event appended meanwhile is caught too.
    let seqs = sql::events_about(&mut tx, &address, &entities).await?;
    let redacted = activity::redact(&mut tx, &seqs, RedactionReason::Erasure, now).await?;
    let mut keys: Vec<String> = h.emails.iter().map(|e| e.raw_sha256.clone()).collect();
    keys.extend(h.attachments.iter().map(|a| a.sha256.clone()));
    keys.sort();
    keys.dedup();
    let mut report = ErasureReport {
        request_id: id.to_owned(),
        contacts: h.contacts.len(),
        leads: h.leads.len(),
        notes: h.notes.len(),
        emails: h.emails.len(),
        objects_deleted: 0,
        redacted_events: redacted,
    };
    audit
        .append(
            &mut tx,
            &[NewEvent::new(
                EventType::SubjectErased,
                actor,
                ENTITY,
                id,
                json!({"request_id": id, "scope": "email", "records": report}),
                now,
            )],
        )
        .await?;
    audit.commit(tx).await?;
    // After the commit: the database no longer points at these objects. A
    // crash here leaves unreferenced files, which `traces` finds; it never
    // leaves the database pointing at missing bytes.
    for key in keys {
        if !sql::object_in_use(db, &key).await? {
            objects.remove(&key).map_err(io)?;
            report.objects_deleted += 1;
        }
    }
    Ok(report)
}

/// Whether anything about `address` is still readable anywhere in the
/// database, or any of `keys` (the subject's raw messages and attachments,
/// e.g. from an earlier export) still in the object store: for tests and for
/// operators checking an erasure.
pub async fn traces(
    db: &Db,
    objects: &ObjectStore,
    address: &str,
    keys: &[String],
) -> Result<Vec<String>, PrivacyError> {
    let needle = address.to_lowercase();
    let mut found = Vec::new();
    let contacts = sql::contacts_by_email(db, &needle).await?;
    found.extend(contacts.iter().map(|c| format!("contact {}", c.id)));
    for e in sql::emails_of_address(db, &needle).await? {
        found.push(format!("email {}", e.id));
    }
    for key in keys {
        if objects.contains(key).map_err(io)? {
            found.push(format!("object {key}"));
        }
    }
    let mut events = activity::stream(db, &Filter::default());
    while let Some(e) = events.try_next().await.map_err(AuditError::from)? {
        if e.payload
            .as_deref()
            .is_some_and(|p| p.to_lowercase().contains(&needle))
        {
            found.push(format!("event seq {}", e.seq));
        }
    }
    Ok(found)
}
