//! `/api/v1/drafts` (review: list, read, approve, reject, stats, templates)
//! and `/api/v1/outbox` (sending: list, requeue, confirm).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use pebble_core::audit::canonical_time;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::json::Json;
use super::query::{decode_keyset, encode_keyset, limit, only, param};
use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::drafts::{DraftError, Stats, TemplateView};
use crate::outbox::OutboxError;
use crate::store::drafts::{Draft, DraftFilter, Edit};
use crate::store::outbox::OutboxRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(stats))
        .routes(routes!(templates))
        .routes(routes!(set_template, reset_template))
        .routes(routes!(get_draft))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(outbox))
        .routes(routes!(requeue))
        .routes(routes!(confirm_sent))
}

impl From<DraftError> for ApiError {
    fn from(e: DraftError) -> Self {
        match e {
            DraftError::BadInput { field, detail } => ApiError::bad(field, detail),
            DraftError::NotFound => ApiError::NotFound,
            e @ DraftError::Erased => ApiError::Conflict(e.to_string()),
            DraftError::Conflict(m) => ApiError::Conflict(m),
            DraftError::Outbox(o) => o.into(),
            DraftError::Store(s) => s.into(),
            DraftError::Audit(a) => a.into(),
            e @ DraftError::Unsourced(_) => ApiError::Internal(e.into()),
        }
    }
}

impl From<OutboxError> for ApiError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::BadInput { field, detail } => ApiError::bad(field, detail),
            OutboxError::NotFound => ApiError::NotFound,
            OutboxError::Conflict(m) => ApiError::Conflict(m),
            e @ OutboxError::NotConfigured(_) => ApiError::Unavailable(e.to_string()),
            OutboxError::Store(s) => s.into(),
            OutboxError::Audit(a) => a.into(),
            e @ OutboxError::Config { .. } => ApiError::Internal(e.into()),
        }
    }
}

fn time(us: i64) -> String {
    canonical_time(us)
}

fn json_or_null(text: Option<&str>) -> serde_json::Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// A draft with its text and the facts it used.
#[derive(Serialize, ToSchema)]
pub struct DraftView {
    id: String,
    email_id: String,
    stream: String,
    intent: String,
    /// pending, approved, rejected, sent or failed
    status: String,
    /// `template`, or `llm:<model>` for a draft the LLM wrote (`draft_llm`)
    generator: String,
    template_version: i64,
    to: String,
    to_name: Option<String>,
    subject: String,
    in_reply_to: Option<String>,
    references: Vec<String>,
    /// The text as generated.
    text: String,
    /// The text as approved, edited or not.
    approved_text: Option<String>,
    /// Every fact the text states, with its source (live, cache, catalog, email, crm, config, derived).
    #[schema(value_type = Object)]
    facts: serde_json::Value,
    latency_ms: f64,
    company_id: Option<String>,
    contact_id: Option<String>,
    assignee_id: Option<String>,
    requested_by: Option<String>,
    received_at: String,
    created_at: String,
    reviewed_by: Option<String>,
    reviewed_at: Option<String>,
    reject_reason: Option<String>,
    /// {edited, lines_added, lines_removed}
    #[schema(value_type = Option<Object>)]
    edits_made: serde_json::Value,
    sent_at: Option<String>,
}

impl From<Draft> for DraftView {
    fn from(d: Draft) -> Self {
        DraftView {
            references: serde_json::from_str(&d.refs).unwrap_or_default(),
            facts: json_or_null(Some(&d.facts)),
            edits_made: json_or_null(d.edits_made.as_deref()),
            latency_ms: d.latency_us as f64 / 1000.0,
            received_at: time(d.received_at),
            created_at: time(d.created_at),
            reviewed_at: d.reviewed_at.map(time),
            sent_at: d.sent_at.map(time),
            id: d.id,
            email_id: d.email_id,
            stream: d.stream,
            intent: d.intent,
            status: d.status,
            generator: d.generator,
            template_version: d.template_version,
            to: d.to_addr,
            to_name: d.to_name,
            subject: d.subject,
            in_reply_to: d.in_reply_to,
            text: d.body,
            approved_text: d.final_body,
            company_id: d.company_id,
            contact_id: d.contact_id,
            assignee_id: d.assignee_id,
            requested_by: d.requested_by,
            reviewed_by: d.reviewed_by,
            reject_reason: d.reject_reason,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EditView {
    user_id: String,
    /// Unified diff from the generated text to the approved one.
    diff: String,
    lines_added: i64,
    lines_removed: i64,
    created_at: String,
}

impl From<Edit> for EditView {
    fn from(e: Edit) -> Self {
        EditView {
            user_id: e.user_id,
            diff: e.diff,
            lines_added: e.lines_added,
            lines_removed: e.lines_removed,
            created_at: time(e.created_at),
        }
    }
}

/// A reply in the outbox (without its full text).
#[derive(Serialize, ToSchema)]
pub struct OutboxView {
    id: String,
    draft_id: String,
    message_id: String,
    from: String,
    to: String,
    /// queued, attempting, committing, sent, dead or unknown
    status: String,
    attempts: i64,
    next_attempt_at: String,
    last_error: Option<String>,
    created_at: String,
    sent_at: Option<String>,
}

impl From<OutboxRow> for OutboxView {
    fn from(r: OutboxRow) -> Self {
        OutboxView {
            id: r.id,
            draft_id: r.draft_id,
            message_id: r.message_id,
            from: r.from_addr,
            to: r.to_addr,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: time(r.next_attempt_at),
            last_error: r.last_error,
            created_at: time(r.created_at),
            sent_at: r.sent_at.map(time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DraftDetail {
    #[serde(flatten)]
    draft: DraftView,
    edits: Vec<EditView>,
    outbox: Option<OutboxView>,
}

#[derive(Serialize, ToSchema)]
pub struct DraftPage {
    items: Vec<DraftView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxPage {
    items: Vec<OutboxView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The reviewer's text; omit to approve the draft as generated.
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    /// Text with {{placeholders}}; no digits outside them.
    body: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequeueRequest {
    /// Required for a reply whose delivery is unknown: it may arrive twice.
    #[serde(default)]
    accept_duplicate: bool,
}

const STATUSES: [&str; 5] = ["pending", "approved", "rejected", "sent", "failed"];
const OUTBOX_STATUSES: [&str; 6] = [
    "queued",
    "attempting",
    "committing",
    "sent",
    "dead",
    "unknown",
];

fn id(id: &str) -> Result<&str, ApiError> {
    if id.len() > 64 || id.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(id)
}

pub fn encode_cursor(d: &Draft) -> String {
    encode_keyset(d.created_at, &d.id)
}

/// Parse the list's query: unknown parameters are errors, so a misspelt
/// filter never silently matches everything. `assignee=me` is the caller.
pub fn draft_filter(q: &HashMap<String, String>, me: &str) -> Result<DraftFilter, ApiError> {
    only(
        q,
        &["status", "stream", "email", "assignee", "limit", "cursor"],
    )?;
    let status = param(q, "status", 16)?;
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(ApiError::bad(
                "status",
                format!("must be one of {}", STATUSES.join(", ")),
            ));
        }
    }
    Ok(DraftFilter {
        status: status.map(str::to_owned),
        stream: param(q, "stream", 64)?.map(str::to_owned),
        email_id: param(q, "email", 64)?.map(str::to_owned),
        assignee_id: param(q, "assignee", 64)?.map(|a| if a == "me" { me } else { a }.to_owned()),
        before: param(q, "cursor", 512)?.map(decode_keyset).transpose()?,
        limit: limit(q, 50)?,
    })
}

/// Drafts, newest first, with their text and the facts they used.
#[utoipa::path(get, path = "/api/v1/drafts", tag = "drafts", security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "pending, approved, rejected, sent or failed"),
        ("stream" = Option<String>, Query, description = "the mailbox stream, e.g. sales"),
        ("email" = Option<String>, Query, description = "the email's id"),
        ("assignee" = Option<String>, Query, description = "a user id, or me"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = DraftPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<DraftPage>, ApiError> {
    let filter = draft_filter(&q, &principal.user_id)?;
    let rows = state.drafts.list(&filter).await?;
    let next_cursor = (rows.len() as i64 == filter.limit)
        .then(|| rows.last().map(encode_cursor))
        .flatten();
    Ok(axum::Json(DraftPage {
        items: rows.into_iter().map(DraftView::from).collect(),
        next_cursor,
    }))
}

/// One draft with the reviewer's edit (as a diff) and its reply in the outbox.
#[utoipa::path(get, path = "/api/v1/drafts/{id}", tag = "drafts", security(("bearer" = [])),
    params(("id" = String, Path, description = "draft id")),
    responses((status = 200, body = DraftDetail), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_draft(
    State(state): State<AppState>,
    Path(draft_id): Path<String>,
) -> Result<axum::Json<DraftDetail>, ApiError> {
    let draft = state.drafts.get(id(&draft_id)?).await?;
    let edits = state.drafts.edits(&draft.id).await?;
    let outbox = crate::store::outbox::by_draft(&state.db, &draft.id).await?;
    Ok(axum::Json(DraftDetail {
        draft: draft.into(),
        edits: edits.into_iter().map(EditView::from).collect(),
        outbox: outbox.map(OutboxView::from),
    }))
}

/// Approve a pending draft, optionally with edited text; the reply is queued
/// for sending (DraftApproved).
#[utoipa::path(post, path = "/api/v1/drafts/{id}/approve", tag = "drafts", request_body = ApproveRequest,
    security(("bearer" = [])), params(("id" = String, Path, description = "draft id")),
    responses((status = 200, body = DraftView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem)))]
async fn approve(
    State(state): State<AppState>,
    principal: Principal,
    Path(draft_id): Path<String>,
    Json(body): Json<ApproveRequest>,
) -> Result<axum::Json<DraftView>, ApiError> {
    let d = state
        .drafts
        .approve(id(&draft_id)?, &principal.user_id, body.text.as_deref())
        .await?;
    Ok(axum::Json(d.into()))
}

/// Reject a pending draft with a reason (DraftRejected).
#[utoipa::path(post, path = "/api/v1/drafts/{id}/reject", tag = "drafts", request_body = RejectRequest,
    security(("bearer" = [])), params(("id" = String, Path, description = "draft id")),
    responses((status = 200, body = DraftView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn reject(
    State(state): State<AppState>,
    principal: Principal,
    Path(draft_id): Path<String>,
    Json(body): Json<RejectRequest>,
) -> Result<axum::Json<DraftView>, ApiError> {
    let d = state
        .drafts
        .reject(id(&draft_id)?, &principal.user_id, &body.reason)
        .await?;
    Ok(axum::Json(d.into()))
}

/// Pending drafts by stream and assignee; response times (receipt to reply
/// sent) by approver and by stream.
#[utoipa::path(get, path = "/api/v1/drafts/stats", tag = "drafts", security(("bearer" = [])),
    params(("since" = Option<String>, Query, description = "RFC 3339; replies sent since then (default: 30 days ago)")),
    responses((status = 200, body = Stats), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn stats(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Stats>, ApiError> {
    only(&q, &["since"])?;
    let since = match param(&q, "since", 64)? {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|_| ApiError::bad("since", "must be an RFC 3339 time"))?
            .with_timezone(&Utc),
        None => state.audit.clock().now() - chrono::Duration::days(30),
    };
    Ok(axum::Json(state.drafts.stats(since).await?))
}

/// The reply templates in force, with the placeholders they may use.
#[utoipa::path(get, path = "/api/v1/drafts/templates", tag = "drafts", security(("bearer" = [])),
    responses((status = 200, body = Vec<TemplateView>), (status = 401, body = Problem)))]
async fn templates(
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<TemplateView>>, ApiError> {
    Ok(axum::Json(state.drafts.templates().await?))
}

fn template_key(key: &str) -> Result<&str, ApiError> {
    if crate::drafts::render::KEYS.contains(&key) {
        Ok(key)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Replace a template (Admin). Placeholders only from the documented set;
/// no digits outside them, so every number in a draft has a source.
#[utoipa::path(put, path = "/api/v1/drafts/templates/{key}", tag = "drafts", request_body = TemplateRequest,
    security(("bearer" = [])),
    params(("key" = String, Path, description = "product_inquiry, purchase_order, order_followup, payment, complaint or general")),
    responses((status = 200, body = TemplateView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 404, body = Problem)))]
async fn set_template(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Json(body): Json<TemplateRequest>,
) -> Result<axum::Json<TemplateView>, ApiError> {
    let t = state
        .drafts
        .set_template(template_key(&key)?, Some(&body.body), &principal.user_id)
        .await?;
    Ok(axum::Json(t))
}

/// Restore the built-in template (Admin).
#[utoipa::path(delete, path = "/api/v1/drafts/templates/{key}", tag = "drafts", security(("bearer" = [])),
    params(("key" = String, Path, description = "the template's key")),
    responses((status = 200, body = TemplateView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn reset_template(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<axum::Json<TemplateView>, ApiError> {
    let t = state
        .drafts
        .set_template(template_key(&key)?, None, &principal.user_id)
        .await?;
    Ok(axum::Json(t))
}

/// Replies in the outbox, newest first.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "drafts", security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "queued, attempting, committing, sent, dead or unknown"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50")),
    responses((status = 200, body = OutboxPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn outbox(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<OutboxPage>, ApiError> {
    only(&q, &["status", "limit"])?;
    let status = param(&q, "status", 16)?;
    if let Some(s) = status {
        if !OUTBOX_STATUSES.contains(&s) {
            return Err(ApiError::bad(
                "status",
                format!("must be one of {}", OUTBOX_STATUSES.join(", ")),
            ));
        }
    }
    let rows = state.outbox.list(status, limit(&q, 50)?).await?;
    Ok(axum::Json(OutboxPage {
        items: rows.into_iter().map(OutboxView::from).collect(),
    }))
}

/// Send a dead or unknown reply again. For an unknown one (it may have been
/// delivered) `accept_duplicate` must be true.
#[utoipa::path(post, path = "/api/v1/outbox/{id}/requeue", tag = "drafts", request_body = RequeueRequest,
    security(("bearer" = [])), params(("id" = String, Path, description = "outbox id")),
    responses((status = 200, body = OutboxView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn requeue(
    State(state): State<AppState>,
    principal: Principal,
    Path(outbox_id): Path<String>,
    Json(body): Json<RequeueRequest>,
) -> Result<axum::Json<OutboxView>, ApiError> {
    let r = state
        .outbox
        .requeue(id(&outbox_id)?, &principal.user_id, body.accept_duplicate)
        .await?;
    Ok(axum::Json(r.into()))
}

/// Record an unknown reply as delivered, after finding it at the recipient
/// or in the sent mail (EmailSent).
#[utoipa::path(post, path = "/api/v1/outbox/{id}/confirm-sent", tag = "drafts",
    security(("bearer" = [])), params(("id" = String, Path, description = "outbox id")),
    responses((status = 200, body = OutboxView), (status = 401, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn confirm_sent(
    State(state): State<AppState>,
    principal: Principal,
    Path(outbox_id): Path<String>,
) -> Result<axum::Json<OutboxView>, ApiError> {
    let r = state
        .outbox
        .confirm_sent(id(&outbox_id)?, &principal.user_id)
        .await?;
    Ok(axum::Json(r.into()))
}
