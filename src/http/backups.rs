//! `/api/v1/backups`: the backup catalogue for Admin and Ops (SPEC §1: Ops
//! create and verify backups). Creating and verifying take from seconds to
//! minutes, so both answer 202 at once with the backup's id; the catalogue
//! row shows the outcome. Restore is deliberately not here: it replaces the
//! database this server runs on, so it is `pebble backup restore` with the
//! servers stopped.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::backup::manifest::Kind;
use crate::backup::BackupError;
use crate::store::backup::BackupRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_backups, create_backup))
        .routes(routes!(get_backup))
        .routes(routes!(verify_backup))
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Busy => ApiError::Conflict(e.to_string()),
            BackupError::NotFound => ApiError::NotFound,
            BackupError::Refused(m) => ApiError::Conflict(m),
            BackupError::Store(s) => s.into(),
            BackupError::Audit(a) => a.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBackup {
    /// `full` (default) or `activity`.
    #[serde(default)]
    kind: Option<String>,
}

/// A backup that has started; follow it at `GET /api/v1/backups/{id}`.
#[derive(Serialize, ToSchema)]
pub struct Started {
    id: String,
    kind: Kind,
    /// `running` (create) or `verifying` (verify).
    status: &'static str,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many, newest first (1-1000, default 100).
    limit: Option<i64>,
}

fn backup_id(id: &str) -> Result<&str, ApiError> {
    if id.len() > 64 || id.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(id)
}

/// The backup catalogue, newest first.
#[utoipa::path(get, path = "/api/v1/backups", tag = "backups", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<BackupRow>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_backups(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Vec<BackupRow>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit", "must be between 1 and 1000"));
    }
    Ok(axum::Json(state.backups.list(limit).await?))
}

/// One backup: its status, file, checksum, chain head and last verification.
#[utoipa::path(get, path = "/api/v1/backups/{id}", tag = "backups",
    params(("id" = String, Path, description = "backup id")), security(("bearer" = [])),
    responses((status = 200, body = BackupRow), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem)))]
async fn get_backup(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<BackupRow>, ApiError> {
    Ok(axum::Json(state.backups.get(backup_id(&id)?).await?))
}

/// Start a backup now (recorded as `BackupCreated` when written).
#[utoipa::path(post, path = "/api/v1/backups", tag = "backups", request_body = NewBackup, security(("bearer" = [])),
    responses((status = 202, body = Started), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 409, body = Problem, description = "a backup is already running, or an activity backup has nothing to continue"),
               (status = 415, body = Problem)))]
async fn create_backup(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewBackup>,
) -> Result<(StatusCode, axum::Json<Started>), ApiError> {
    let kind: Kind = body
        .kind
        .as_deref()
        .unwrap_or("full")
        .parse()
        .map_err(|e: String| ApiError::bad("kind", e))?;
    let id = state.backups.start_create(kind, principal.actor()).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Started {
            id,
            kind,
            status: "running",
        }),
    ))
}

/// Verify a backup: checksums, a restore into scratch, the audit chain and
/// the counts (recorded as `BackupVerified`; the row shows the verdict).
#[utoipa::path(post, path = "/api/v1/backups/{id}/verify", tag = "backups",
    params(("id" = String, Path, description = "backup id")), security(("bearer" = [])),
    responses((status = 202, body = Started), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem, description = "busy, or the backup has no file")))]
async fn verify_backup(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<Started>), ApiError> {
    let kind = state
        .backups
        .start_verify(backup_id(&id)?, principal.actor())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Started {
            id,
            kind,
            status: "verifying",
        }),
    ))
}
