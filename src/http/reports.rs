//! `/api/v1/dashboards/*`, `/api/v1/reports/quarterly` and `/api/v1/dsr/*`:
//! the dashboards' figures, the quarterly compliance export and data-subject
//! requests (SPEC §8). The web UI calls the same services and the download
//! helpers below.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use pebble_core::access::Role;
use pebble_core::audit::Actor;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::activity::{download, temp_file};
use super::error::Problem;
use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::compliance::{self, Quarter, ReportError};
use crate::dashboard::{self, Owner, People, SalesOps};
use crate::privacy::{self, ErasureReport, ErasureRequest, PrivacyError, Subject};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sales_ops))
        .routes(routes!(owner))
        .routes(routes!(quarterly))
        .routes(routes!(subject_export))
        .routes(routes!(list_erasures, request_erasure))
        .routes(routes!(approve_erasure))
        .routes(routes!(reject_erasure))
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Audit(a) => a.into(),
            ReportError::Io(m) => ApiError::Internal(anyhow::anyhow!(m)),
        }
    }
}

impl From<PrivacyError> for ApiError {
    fn from(e: PrivacyError) -> Self {
        match e {
            PrivacyError::BadInput { field, detail } => ApiError::bad(field, detail),
            PrivacyError::NotFound => ApiError::NotFound,
            PrivacyError::Conflict(m) => ApiError::Conflict(m),
            PrivacyError::Audit(a) => a.into(),
            PrivacyError::Io(m) => ApiError::Internal(anyhow::anyhow!(m)),
        }
    }
}

fn offset(state: &AppState) -> chrono::FixedOffset {
    crate::ui::local_offset(state)
}

/// Emails processed, classification accuracy, the lead funnel and response times.
#[utoipa::path(get, path = "/api/v1/dashboards/sales-ops", tag = "dashboards", security(("bearer" = [])),
    responses((status = 200, body = SalesOps), (status = 401, body = Problem)))]
async fn sales_ops(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<SalesOps>, ApiError> {
    let people = People::load(&state.db, principal.role != Role::ReadOnly).await?;
    let now = state.audit.clock().now();
    Ok(axum::Json(
        dashboard::sales_ops(&state.db, &people, now, offset(&state)).await?,
    ))
}

/// Draft approval by staff member, common customer queries, Tally sync health,
/// AI-draft use. Read-Only sees staff as "Staff 1", "Staff 2", … (here and
/// in the Sales Ops response times).
#[utoipa::path(get, path = "/api/v1/dashboards/owner", tag = "dashboards", security(("bearer" = [])),
    responses((status = 200, body = Owner), (status = 401, body = Problem)))]
async fn owner(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<Owner>, ApiError> {
    let people = People::load(&state.db, principal.role != Role::ReadOnly).await?;
    let now = state.audit.clock().now();
    Ok(axum::Json(
        dashboard::owner(&state.db, &state.tally, &people, now).await?,
    ))
}

/// Build the quarter's report in a temporary directory and send it as one ZIP.
pub(crate) async fn quarterly_zip(
    state: &AppState,
    quarter: Quarter,
    actor: Actor,
    actor_name: Option<String>,
) -> Result<Response, ApiError> {
    let dir = state.settings.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(anyhow::Error::from)?;
    let work = tempfile::tempdir_in(&dir).map_err(anyhow::Error::from)?;
    let manifest = compliance::quarterly(
        &state.db,
        &state.audit,
        quarter,
        offset(state),
        work.path(),
        actor,
        actor_name,
    )
    .await?;
    let zip = temp_file(state).await?;
    compliance::zip_dir(work.path(), &manifest, zip.path())?;
    download(
        zip,
        "application/zip",
        &format!("pebble-audit-{quarter}.zip"),
    )
    .await
}

/// The quarterly compliance export as a ZIP: AI decisions, overrides with
/// justification and failed validations (CSV and XLSX) plus `manifest.json`.
#[utoipa::path(get, path = "/api/v1/reports/quarterly", tag = "compliance", security(("bearer" = [])),
    params(("quarter" = String, Query, description = "e.g. 2026Q3")),
    responses((status = 200, description = "the ZIP", content_type = "application/zip", body = Vec<u8>),
               (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn quarterly(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(k) = q.keys().find(|k| *k != "quarter") {
        return Err(ApiError::bad(k.clone(), "unknown parameter"));
    }
    let quarter: Quarter = q
        .get("quarter")
        .ok_or_else(|| ApiError::bad("quarter", "is required, e.g. 2026Q3"))?
        .parse()
        .map_err(|e: String| ApiError::bad("quarter", e))?;
    quarterly_zip(
        &state,
        quarter,
        principal.actor(),
        Some(principal.email.clone()),
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectRequest {
    /// A person's e-mail address …
    email: Option<String>,
    /// … or a company id (exactly one of the two).
    company: Option<String>,
}

pub(crate) fn subject(email: Option<&str>, company: Option<&str>) -> Result<Subject, ApiError> {
    fn pick(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    match (pick(email), pick(company)) {
        (Some(e), None) => Ok(Subject::email(e)?),
        (None, Some(c)) => Ok(Subject::company(c)?),
        _ => Err(ApiError::bad(
            "email",
            "give either an e-mail address or a company id",
        )),
    }
}

/// Everything held about the subject as one ZIP, recorded as SubjectExportRequested.
pub(crate) async fn subject_zip(
    state: &AppState,
    subject: &Subject,
    actor: Actor,
) -> Result<Response, ApiError> {
    let zip = temp_file(state).await?;
    privacy::export(
        &state.db,
        &state.audit,
        state.ingest.objects(),
        subject,
        actor,
        zip.path(),
    )
    .await?;
    download(zip, "application/zip", "pebble-subject-export.zip").await
}

/// Export everything Pebble holds about an e-mail address or a company (ZIP).
#[utoipa::path(post, path = "/api/v1/dsr/export", tag = "privacy", request_body = SubjectRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "the ZIP", content_type = "application/zip", body = Vec<u8>),
               (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn subject_export(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<SubjectRequest>,
) -> Result<Response, ApiError> {
    let s = subject(body.email.as_deref(), body.company.as_deref())?;
    subject_zip(&state, &s, principal.actor()).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureBody {
    email: String,
    /// Why (e.g. the data subject's request of a date).
    reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    reason: String,
}

/// Erasure requests, newest first, with their state.
#[utoipa::path(get, path = "/api/v1/dsr/erasure", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = Vec<ErasureRequest>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_erasures(
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<ErasureRequest>>, ApiError> {
    Ok(axum::Json(privacy::erasure_requests(&state.db).await?))
}

/// Ask for a person's data to be erased; an Admin approves or rejects.
#[utoipa::path(post, path = "/api/v1/dsr/erasure", tag = "privacy", request_body = ErasureBody,
    security(("bearer" = [])),
    responses((status = 201, body = ErasureRequest), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn request_erasure(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ErasureBody>,
) -> Result<(StatusCode, axum::Json<ErasureRequest>), ApiError> {
    let s = Subject::email(&body.email)?;
    let r = privacy::request_erasure(&state.db, &state.audit, &s, &body.reason, principal.actor())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// Approve an erasure request and carry it out: CRM records scrubbed, audit
/// payloads about the subject redacted (the chain still verifies), SubjectErased.
#[utoipa::path(post, path = "/api/v1/dsr/erasure/{id}/approve", tag = "privacy", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = ErasureReport), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn approve_erasure(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<ErasureReport>, ApiError> {
    Ok(axum::Json(
        privacy::approve(
            &state.db,
            &state.audit,
            state.ingest.objects(),
            &id,
            principal.actor(),
        )
        .await?,
    ))
}

/// Reject an erasure request, saying why.
#[utoipa::path(post, path = "/api/v1/dsr/erasure/{id}/reject", tag = "privacy", request_body = RejectBody,
    security(("bearer" = [])),
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = ErasureRequest), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn reject_erasure(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<RejectBody>,
) -> Result<axum::Json<ErasureRequest>, ApiError> {
    Ok(axum::Json(
        privacy::reject(
            &state.db,
            &state.audit,
            &id,
            &body.reason,
            principal.actor(),
        )
        .await?,
    ))
}
