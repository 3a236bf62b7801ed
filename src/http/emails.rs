//! `/api/v1/emails` (receive a raw message, list, read, attachments),
//! `/api/v1/quarantine` (what could not be taken, and retry),
//! `/api/v1/mailboxes` (IMAP sources → streams) and `/api/v1/pipeline/jobs`
//! (the queue and its dead letters).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use pebble_core::audit::canonical_time;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::json::Json;
use super::query::{limit, only, param};
use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::ingest::imap::MailboxConfig;
use crate::ingest::{IngestError, Received, Source};
use crate::objects::ObjectError;
use crate::store::emails::{self as sql, AttachmentRow, EmailFilter, EmailRow};
use crate::store::jobs::{self, Job};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive, list_emails))
        .routes(routes!(get_email))
        .routes(routes!(get_raw))
        .routes(routes!(get_attachment))
        .routes(routes!(list_quarantine))
        .routes(routes!(retry_quarantined))
        .routes(routes!(list_mailboxes, put_mailbox))
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
        // A raw message may be as large as `max_body_bytes` (enforced for every
        // route in `http::router`), not axum's smaller default for `Bytes`.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::UnknownStream(..) => ApiError::bad("stream", e.to_string()),
            IngestError::NotFound => ApiError::NotFound,
            IngestError::NotQuarantined(_) => ApiError::Conflict(e.to_string()),
            IngestError::InvalidMailbox { field, detail } => ApiError::bad(field, detail),
            IngestError::Objects(o) => o.into(),
            IngestError::Store(s) => s.into(),
            IngestError::Audit(a) => a.into(),
        }
    }
}

impl From<ObjectError> for ApiError {
    fn from(e: ObjectError) -> Self {
        match e {
            ObjectError::Missing(_) | ObjectError::BadKey(_) => ApiError::NotFound,
            other => ApiError::Internal(other.into()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentView {
    position: i32,
    filename: String,
    content_type: String,
    size: i64,
    sha256: String,
}

impl From<AttachmentRow> for AttachmentView {
    fn from(a: AttachmentRow) -> Self {
        AttachmentView {
            position: a.position,
            filename: a.filename,
            content_type: a.content_type,
            size: a.size,
            sha256: a.sha256,
        }
    }
}

/// An email as the API shows it. `html` is sanitised (no scripts, no
/// event handlers, no remote content); the raw message is at `/raw`.
#[derive(Serialize, ToSchema)]
pub struct EmailView {
    id: String,
    stream: String,
    source: String,
    message_id: String,
    /// True when the message had no Message-ID and this one was derived from its content.
    message_id_derived: bool,
    /// Another email has the same Message-ID and different content.
    conflict: bool,
    /// ready or quarantined
    status: String,
    quarantine_reason: Option<String>,
    quarantine_detail: Option<String>,
    from: Option<String>,
    from_name: Option<String>,
    /// Where the sender asked replies to go (`Reply-To`), when given.
    reply_to: Option<String>,
    to: Vec<String>,
    cc: Vec<String>,
    subject: String,
    sent_at: Option<String>,
    received_at: String,
    thread_id: String,
    in_reply_to: Option<String>,
    references: Vec<String>,
    contact_id: Option<String>,
    company_id: Option<String>,
    raw_size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attachments: Option<Vec<AttachmentView>>,
}

fn list_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl EmailView {
    fn summary(e: EmailRow) -> Self {
        EmailView {
            id: e.id,
            stream: e.stream,
            source: e.source,
            message_id: e.message_id,
            message_id_derived: e.message_id_derived,
            conflict: e.conflict,
            status: e.status,
            quarantine_reason: e.quarantine_reason,
            quarantine_detail: e.quarantine_detail,
            from: e.from_addr,
            from_name: e.from_name,
            reply_to: e.reply_to,
            to: list_of(&e.to_addrs),
            cc: list_of(&e.cc_addrs),
            subject: e.subject,
            sent_at: e.sent_at.map(canonical_time),
            received_at: canonical_time(e.received_at),
            thread_id: e.thread_id,
            in_reply_to: e.in_reply_to,
            references: list_of(&e.refs),
            contact_id: e.contact_id,
            company_id: e.company_id,
            raw_size: e.raw_size,
            text: None,
            html: None,
            attachments: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EmailPage {
    items: Vec<EmailView>,
    /// Pass as `before` for the next page; absent on the last page.
    next_before: Option<String>,
}

/// The cursor is "<received_at µs>.<id>" of the last row shown.
fn before(q: &HashMap<String, String>) -> Result<Option<(i64, String)>, ApiError> {
    let Some(text) = param(q, "before", 320)? else {
        return Ok(None);
    };
    let (at, id) = text
        .split_once('.')
        .ok_or_else(|| ApiError::bad("before", "next_before of the previous page"))?;
    let at = at
        .parse()
        .map_err(|_| ApiError::bad("before", "next_before of the previous page"))?;
    Ok(Some((at, id.to_owned())))
}

async fn page(state: &AppState, filter: EmailFilter) -> Result<EmailPage, ApiError> {
    let rows = sql::list(&state.db, &filter).await?;
    let next_before = (rows.len() as i64 == filter.limit)
        .then(|| rows.last().map(|r| format!("{}.{}", r.received_at, r.id)))
        .flatten();
    Ok(EmailPage {
        items: rows.into_iter().map(EmailView::summary).collect(),
        next_before,
    })
}

/// Receive one raw RFC 5322 message into a stream. A message Pebble cannot
/// read is kept in quarantine (202 with `outcome: quarantined`); the same
/// message twice is one email (200 with `outcome: duplicate`).
#[utoipa::path(post, path = "/api/v1/emails", tag = "emails", security(("bearer" = [])),
    params(("stream" = String, Query, description = "the stream to file the message under, e.g. sales")),
    request_body(content = String, content_type = "message/rfc822", description = "the raw message"),
    responses((status = 201, body = Received), (status = 200, body = Received), (status = 202, body = Received),
               (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 413, body = Problem)))]
async fn receive(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Received>), ApiError> {
    only(&q, &["stream"])?;
    let stream = param(&q, "stream", 320)?.ok_or_else(|| ApiError::bad("stream", "required"))?;
    let source = Source::Api {
        user_id: principal.user_id.clone(),
    };
    let r = state.ingest.receive(body.to_vec(), stream, &source).await?;
    let status = match r.outcome {
        crate::ingest::Outcome::Stored => StatusCode::CREATED,
        crate::ingest::Outcome::Duplicate => StatusCode::OK,
        crate::ingest::Outcome::Quarantined => StatusCode::ACCEPTED,
    };
    Ok((status, axum::Json(r)))
}

/// The `intent` filter: one of the eight labels, or a clear error.
pub fn intent_param(q: &HashMap<String, String>) -> Result<Option<String>, ApiError> {
    match param(q, "intent", 320)? {
        None => Ok(None),
        Some(i) if pebble_intent::Intent::parse(i).is_some() => Ok(Some(i.to_owned())),
        Some(_) => Err(ApiError::bad(
            "intent",
            format!(
                "must be one of {}",
                pebble_intent::Intent::ALL.map(|i| i.as_str()).join(", ")
            ),
        )),
    }
}

/// Emails, newest first.
#[utoipa::path(get, path = "/api/v1/emails", tag = "emails", security(("bearer" = [])),
    params(
        ("stream" = Option<String>, Query, description = "only this stream"),
        ("thread_id" = Option<String>, Query, description = "only this thread"),
        ("from" = Option<String>, Query, description = "only from this address"),
        ("company_id" = Option<String>, Query, description = "only linked to this company"),
        ("intent" = Option<String>, Query, description = "only with this intent standing (one of the eight labels)"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("before" = Option<String>, Query, description = "next_before of the previous page")),
    responses((status = 200, body = EmailPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_emails(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<EmailPage>, ApiError> {
    only(
        &q,
        &[
            "stream",
            "thread_id",
            "from",
            "company_id",
            "intent",
            "limit",
            "before",
        ],
    )?;
    let filter = EmailFilter {
        stream: param(&q, "stream", 320)?.map(str::to_owned),
        status: Some("ready".into()),
        thread_id: param(&q, "thread_id", 320)?.map(str::to_owned),
        from_addr: param(&q, "from", 320)?.map(str::to_lowercase),
        company_id: param(&q, "company_id", 320)?.map(str::to_owned),
        intent: intent_param(&q)?,
        before: before(&q)?,
        limit: limit(&q, 50)?,
    };
    Ok(axum::Json(page(&state, filter).await?))
}

/// One email with its text, sanitised HTML and attachments.
#[utoipa::path(get, path = "/api/v1/emails/{id}", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "email id")),
    responses((status = 200, body = EmailView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_email(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<EmailView>, ApiError> {
    let row = sql::email(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let attachments = sql::attachments(&state.db, &id).await?;
    let text = row.body_text.clone();
    let html = row.body_html.as_deref().map(sanitise);
    let mut view = EmailView::summary(row);
    view.text = Some(text);
    view.html = html;
    view.attachments = Some(attachments.into_iter().map(AttachmentView::from).collect());
    Ok(axum::Json(view))
}

/// Email HTML is hostile until proven otherwise: keep structure and text,
/// drop scripts, handlers, forms, styles and every remote reference (which
/// would also tell the sender the mail was opened).
pub fn sanitise(html: &str) -> String {
    ammonia::Builder::default()
        .url_schemes(["mailto"].into())
        .rm_tags(["img"])
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

/// The message exactly as received.
#[utoipa::path(get, path = "/api/v1/emails/{id}/raw", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "email id")),
    responses((status = 200, content_type = "message/rfc822", body = String), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_raw(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = sql::email(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let objects = state.ingest.objects().clone();
    let bytes = tokio::task::spawn_blocking(move || objects.get_verified(&row.raw_sha256))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(([(header::CONTENT_TYPE, "message/rfc822")], bytes).into_response())
}

/// One attachment, always as a download (never rendered by the browser).
#[utoipa::path(get, path = "/api/v1/emails/{id}/attachments/{position}", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "email id"), ("position" = i32, Path, description = "attachment position")),
    responses((status = 200, content_type = "application/octet-stream", body = String), (status = 401, body = Problem),
               (status = 404, body = Problem)))]
async fn get_attachment(
    State(state): State<AppState>,
    Path((id, position)): Path<(String, i32)>,
) -> Result<Response, ApiError> {
    attachment_download(&state, &id, position).await
}

/// An attachment as a download (the API's and the web UI's links both end here).
pub(crate) async fn attachment_download(
    state: &AppState,
    id: &str,
    position: i32,
) -> Result<Response, ApiError> {
    let a = sql::attachments(&state.db, id)
        .await?
        .into_iter()
        .find(|a| a.position == position)
        .ok_or(ApiError::NotFound)?;
    let objects = state.ingest.objects().clone();
    let key = a.sha256.clone();
    let bytes = tokio::task::spawn_blocking(move || objects.get_verified(&key))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    let ascii: String = a
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// Messages kept in quarantine, with the reason.
#[utoipa::path(get, path = "/api/v1/quarantine", tag = "emails", security(("bearer" = [])),
    params(
        ("stream" = Option<String>, Query, description = "only this stream"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("before" = Option<String>, Query, description = "next_before of the previous page")),
    responses((status = 200, body = EmailPage), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem)))]
async fn list_quarantine(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<EmailPage>, ApiError> {
    only(&q, &["stream", "limit", "before"])?;
    let filter = EmailFilter {
        stream: param(&q, "stream", 320)?.map(str::to_owned),
        status: Some("quarantined".into()),
        before: before(&q)?,
        limit: limit(&q, 50)?,
        ..EmailFilter::default()
    };
    Ok(axum::Json(page(&state, filter).await?))
}

/// Parse a quarantined message again (for instance after raising a limit).
#[utoipa::path(post, path = "/api/v1/quarantine/{id}/retry", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path, description = "email id")),
    responses((status = 200, body = Received), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn retry_quarantined(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<Received>, ApiError> {
    Ok(axum::Json(
        state.ingest.retry(&id, principal.actor()).await?,
    ))
}

/// IMAP mailboxes and the stream each feeds.
#[utoipa::path(get, path = "/api/v1/mailboxes", tag = "emails", security(("bearer" = [])),
    responses((status = 200, body = Vec<MailboxConfig>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_mailboxes(
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<MailboxConfig>>, ApiError> {
    Ok(axum::Json(state.ingest.mailboxes().await?))
}

/// Add or change a mailbox (by name). Running watchers pick it up within a
/// minute; set `enabled: false` to stop fetching.
#[utoipa::path(post, path = "/api/v1/mailboxes", tag = "emails", security(("bearer" = [])),
    request_body = MailboxConfig,
    responses((status = 200, body = MailboxConfig), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 415, body = Problem)))]
async fn put_mailbox(
    State(state): State<AppState>,
    Json(body): Json<MailboxConfig>,
) -> Result<axum::Json<MailboxConfig>, ApiError> {
    state.ingest.put_mailbox(&body).await?;
    Ok(axum::Json(body))
}

#[derive(Serialize, ToSchema)]
pub struct JobView {
    id: i64,
    email_id: String,
    step: String,
    /// queued, running, done or dead
    state: String,
    attempts: i32,
    run_after: String,
    last_error: Option<String>,
    duration_us: Option<i64>,
    /// What the step said it did, once done.
    note: Option<String>,
    updated_at: String,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        JobView {
            id: j.id,
            email_id: j.email_id,
            step: j.step,
            state: j.state,
            attempts: j.attempts,
            run_after: canonical_time(j.run_after),
            last_error: j.last_error,
            duration_us: j.duration_us,
            note: j.note,
            updated_at: canonical_time(j.updated_at),
        }
    }
}

/// Pipeline jobs, newest first; `state=dead` lists the dead letters.
#[utoipa::path(get, path = "/api/v1/pipeline/jobs", tag = "emails", security(("bearer" = [])),
    params(
        ("state" = Option<String>, Query, description = "queued, running, done or dead"),
        ("email_id" = Option<String>, Query, description = "only this email's jobs"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50")),
    responses((status = 200, body = Vec<JobView>), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem)))]
async fn list_jobs(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Vec<JobView>>, ApiError> {
    only(&q, &["state", "email_id", "limit"])?;
    let job_state = param(&q, "state", 320)?;
    if let Some(s) = job_state {
        if !matches!(s, "queued" | "running" | "done" | "dead") {
            return Err(ApiError::bad("state", "queued, running, done or dead"));
        }
    }
    let rows = jobs::list(
        &state.db,
        job_state,
        param(&q, "email_id", 320)?,
        limit(&q, 50)?,
    )
    .await?;
    Ok(axum::Json(rows.into_iter().map(JobView::from).collect()))
}

/// Give a dead job a fresh set of attempts.
#[utoipa::path(post, path = "/api/v1/pipeline/jobs/{id}/retry", tag = "emails", security(("bearer" = [])),
    params(("id" = i64, Path, description = "job id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 409, body = Problem)))]
async fn retry_job(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let now = state.audit.clock().now().timestamp_micros();
    if jobs::requeue(&state.db, id, now).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Conflict(format!(
            "job {id} is not dead (or does not exist)"
        )))
    }
}
