//! `/api/v1/activity`: search, verify, export, checkpoint and proofs.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pebble_core::audit::{canonical_time, ActorKind, StoredEvent};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::{ApiError, AppState};
use crate::audit::export::Format;
use crate::audit::{parse_entity, parse_event_type, parse_time, VerifyReport};
use crate::auth::Principal;
use crate::store::activity::{self, Filter, Page};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(verify))
        .routes(routes!(export))
        .routes(routes!(latest_checkpoint, sign_checkpoint))
        .routes(routes!(proof))
}

/// The filter parameters shared by search and export (documentation only:
/// they are parsed by hand so that errors name the field).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct FilterParams {
    /// `TYPE:ID`, e.g. `email:42`
    entity: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<String>,
    /// e.g. `LeadClassified`
    event_type: Option<String>,
    /// user, ai_agent or system
    actor_kind: Option<String>,
    actor_id: Option<String>,
    /// RFC 3339 or YYYY-MM-DD, inclusive
    from: Option<String>,
    /// RFC 3339 or YYYY-MM-DD, exclusive
    to: Option<String>,
}

/// An event as the API shows it: readable times, the payload as JSON.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    seq: i64,
    id: String,
    occurred_at: String,
    recorded_at: String,
    event_type: String,
    actor_kind: String,
    actor_id: String,
    entity_type: String,
    entity_id: String,
    retention_class: String,
    #[schema(value_type = Option<Object>)]
    payload: Option<serde_json::Value>,
    redacted_at: Option<String>,
    payload_hash: String,
    prev_hash: String,
    hash: String,
}

impl From<StoredEvent> for EventView {
    fn from(e: StoredEvent) -> Self {
        EventView {
            payload: e
                .payload
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            occurred_at: canonical_time(e.occurred_at),
            recorded_at: canonical_time(e.recorded_at),
            redacted_at: e.redacted_at.map(canonical_time),
            seq: e.seq,
            id: e.id,
            event_type: e.event_type,
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            retention_class: e.retention_class,
            payload_hash: e.payload_hash,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct SearchPage {
    items: Vec<EventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<i64>,
}

const FILTER_FIELDS: [&str; 8] = [
    "entity",
    "entity_type",
    "entity_id",
    "event_type",
    "actor_kind",
    "actor_id",
    "from",
    "to",
];

/// Parse filter parameters, naming the first bad field. Unknown parameters
/// are errors too: a misspelt filter must not silently match everything.
pub(crate) fn parse_filter(
    q: &HashMap<String, String>,
    extra: &[&str],
) -> Result<Filter, ApiError> {
    if let Some(k) = q
        .keys()
        .find(|k| !FILTER_FIELDS.contains(&k.as_str()) && !extra.contains(&k.as_str()))
    {
        return Err(ApiError::bad(k.clone(), "unknown parameter"));
    }
    let text = |k: &str| -> Result<Option<String>, ApiError> {
        match q.get(k) {
            None => Ok(None),
            Some(v) if v.is_empty() => Err(ApiError::bad(k, "must not be empty")),
            Some(v) if v.contains('\0') => Err(ApiError::bad(k, "must not contain NUL bytes")),
            Some(v) if v.len() > 512 => Err(ApiError::bad(k, "longer than 512 bytes")),
            Some(v) => Ok(Some(v.clone())),
        }
    };
    let mut f = Filter {
        entity_type: text("entity_type")?,
        entity_id: text("entity_id")?,
        actor_id: text("actor_id")?,
        ..Filter::default()
    };
    if let Some(e) = text("entity")? {
        let (t, id) = parse_entity(&e).map_err(|d| ApiError::bad("entity", d))?;
        f.entity_type = Some(t);
        f.entity_id = Some(id);
    }
    if let Some(t) = text("event_type")? {
        f.event_type = Some(parse_event_type(&t).map_err(|d| ApiError::bad("event_type", d))?);
    }
    if let Some(k) = text("actor_kind")? {
        let kind: ActorKind = k.parse().map_err(|e: pebble_core::audit::UnknownValue| {
            ApiError::bad("actor_kind", e.to_string())
        })?;
        f.actor_kind = Some(kind.as_str().to_owned());
    }
    if let Some(t) = text("from")? {
        f.from = Some(parse_time(&t).map_err(|d| ApiError::bad("from", d))?);
    }
    if let Some(t) = text("to")? {
        f.to = Some(parse_time(&t).map_err(|d| ApiError::bad("to", d))?);
    }
    if let (Some(a), Some(b)) = (f.from, f.to) {
        if a > b {
            return Err(ApiError::bad("to", "is before from"));
        }
    }
    Ok(f)
}

pub(crate) fn parse_int(
    q: &HashMap<String, String>,
    k: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ApiError> {
    q.get(k)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| ApiError::bad(k, format!("must be an integer from {min} to {max}")))
        })
        .transpose()
}

/// Search the activity stream, newest first by default, with keyset pagination.
#[utoipa::path(get, path = "/api/v1/activity", tag = "activity", security(("bearer" = [])),
    params(FilterParams,
        ("limit" = Option<i64>, Query, description = "1 to 1000, default 50"),
        ("cursor" = Option<i64>, Query, description = "next_cursor of the previous page"),
        ("order" = Option<String>, Query, description = "newest (default) or oldest")),
    responses((status = 200, body = SearchPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn search(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<SearchPage>, ApiError> {
    let filter = parse_filter(&q, &["cursor", "limit", "order"])?;
    let limit = parse_int(&q, "limit", 1, 1000)?.unwrap_or(50);
    let cursor = parse_int(&q, "cursor", 1, i64::MAX)?;
    let page = match q.get("order").map(String::as_str) {
        None | Some("newest") => Page::NewestFirst { before: cursor },
        Some("oldest") => Page::OldestFirst { after: cursor },
        Some(_) => return Err(ApiError::bad("order", "must be newest or oldest")),
    };
    let items = activity::search(&state.db, &filter, page, limit).await?;
    let next_cursor = if items.len() as i64 == limit {
        items.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(SearchPage {
        items: items.into_iter().map(EventView::from).collect(),
        next_cursor,
    }))
}

/// Recompute the hash chain and check it against the newest signed checkpoint.
#[utoipa::path(get, path = "/api/v1/activity/verify", tag = "activity", security(("bearer" = [])),
    responses((status = 200, body = VerifyReport), (status = 401, body = Problem)))]
async fn verify(State(state): State<AppState>) -> Result<Json<VerifyReport>, ApiError> {
    let report = state.audit.verify().await?;
    *state.chain.write().await = Some(report.clone());
    Ok(Json(report))
}

/// Download matching events as CSV or Excel; recorded as DataExported.
#[utoipa::path(get, path = "/api/v1/activity/export", tag = "activity", security(("bearer" = [])),
    params(FilterParams, ("format" = Option<String>, Query, description = "csv (default) or xlsx")),
    responses((status = 200, description = "the file",
                content((String = "text/csv"),
                        (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
               (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn export(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let filter = parse_filter(&q, &["format"])?;
    let format = match q.get("format") {
        None => Format::Csv,
        Some(f) => {
            Format::parse(f).ok_or_else(|| ApiError::bad("format", "must be csv or xlsx"))?
        }
    };
    export_response(&state, &filter, format, principal.actor()).await
}

/// Export to a temporary file, record it, and stream the file as a download
/// (the API's and the web UI's export buttons both end here).
pub(crate) async fn export_response(
    state: &AppState,
    filter: &Filter,
    format: Format,
    actor: pebble_core::audit::Actor,
) -> Result<Response, ApiError> {
    let tmp = temp_file(state).await?;
    let rows = state
        .audit
        .export(&state.db, filter, format, tmp.path(), actor)
        .await?;
    let name = format!("activity.{}", format.as_str());
    let mut r = download(tmp, format.content_type(), &name).await?;
    r.headers_mut().insert(
        header::HeaderName::from_static("x-pebble-rows"),
        header::HeaderValue::from(rows),
    );
    Ok(r)
}

/// A named temporary file under the data directory: deleted when the last
/// handle closes, after the body is sent.
pub(crate) async fn temp_file(state: &AppState) -> Result<tempfile::NamedTempFile, ApiError> {
    let dir = state.settings.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(tempfile::NamedTempFile::new_in(&dir).map_err(anyhow::Error::from)?)
}

/// Stream a finished temporary file as an attachment.
pub(crate) async fn download(
    tmp: tempfile::NamedTempFile,
    content_type: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let file = tokio::fs::File::open(tmp.path())
        .await
        .map_err(anyhow::Error::from)?;
    drop(tmp);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// The newest signed checkpoint of the chain head.
#[utoipa::path(get, path = "/api/v1/activity/checkpoint", tag = "activity", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn latest_checkpoint(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let c = activity::checkpoint(&state.db, None)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(
        serde_json::json!({"origin": state.audit.signer().origin(), "checkpoint": c}),
    ))
}

/// Sign a checkpoint of the chain head now.
#[utoipa::path(post, path = "/api/v1/activity/checkpoint", tag = "activity", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn sign_checkpoint(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let c = state.audit.checkpoint().await?;
    Ok(Json(
        serde_json::json!({"origin": state.audit.signer().origin(), "checkpoint": c}),
    ))
}

/// An RFC 6962 inclusion proof for one event against a signed checkpoint.
#[utoipa::path(get, path = "/api/v1/activity/{seq}/proof", tag = "activity", security(("bearer" = [])),
    params(("seq" = i64, Path, description = "the event's seq")),
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn proof(
    State(state): State<AppState>,
    Path(seq): Path<String>,
) -> Result<Response, ApiError> {
    let seq: i64 = seq
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::bad("seq", "must be a positive integer"))?;
    activity::get(&state.db, seq).await?;
    // A GET never signs: without a covering checkpoint the caller must POST one first.
    match activity::checkpoint(&state.db, Some(seq)).await? {
        Some(_) => Ok(Json(state.audit.prove(seq).await?).into_response()),
        None => Err(ApiError::Conflict(format!(
            "no signed checkpoint covers seq {seq} yet; POST /api/v1/activity/checkpoint first"
        ))),
    }
}
