//! `/api/v1/models` (the intent-model registry: list, train, promote, roll
//! back, drift) and `/api/v1/classifications` (decisions, the review queue,
//! overrides and confirmations).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::json::Json;
use super::query::{decode_keyset, encode_keyset, limit, only, param};
use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::intent::{
    Decision, DriftView, IntentError, ModelInfo, OverrideView, Promoted, QueueItem, Registry,
    Trained,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_models))
        .routes(routes!(train))
        .routes(routes!(drift))
        .routes(routes!(rollback))
        .routes(routes!(get_model))
        .routes(routes!(promote))
        .routes(routes!(review_queue))
        .routes(routes!(get_decision))
        .routes(routes!(override_decision))
        .routes(routes!(confirm))
}

impl From<IntentError> for ApiError {
    fn from(e: IntentError) -> Self {
        match e {
            IntentError::BadInput { field, detail } => ApiError::bad(field, detail),
            IntentError::NotFound | IntentError::Erased => ApiError::NotFound,
            IntentError::Conflict(m) => ApiError::Conflict(m),
            IntentError::Worse(m) => ApiError::Conflict(format!("not promoted: {m}")),
            IntentError::Busy => ApiError::Conflict(e.to_string()),
            IntentError::Corpus(_) => ApiError::Unavailable(e.to_string()),
            IntentError::Store(s) => s.into(),
            IntentError::Audit(a) => a.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

fn key(id: &str) -> Result<&str, ApiError> {
    if id.is_empty() || id.len() > 256 || id.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(id)
}

// ---------------------------------------------------------------- registry

/// The model serving now and every registered model, newest first, with
/// its held-out evaluation.
#[utoipa::path(get, path = "/api/v1/models", tag = "intent", security(("bearer" = [])),
    responses((status = 200, body = Registry), (status = 401, body = Problem)))]
async fn list_models(State(state): State<AppState>) -> Result<axum::Json<Registry>, ApiError> {
    Ok(axum::Json(state.intent.registry().await?))
}

/// Retrain on the corpus and every reviewed decision; the result is
/// registered as a candidate (ModelTrained) and compared with the serving
/// model. 201 for a new model, 200 when the same model was already registered.
#[utoipa::path(post, path = "/api/v1/models/train", tag = "intent", security(("bearer" = [])),
    responses((status = 201, body = Trained), (status = 200, body = Trained), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem, description = "a training run is in progress"),
        (status = 503, body = Problem, description = "the training corpus is not available")))]
async fn train(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<(StatusCode, axum::Json<Trained>), ApiError> {
    let t = state.intent.train(principal.actor()).await?;
    let status = if t.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(t)))
}

/// Population stability of the serving model's recent decisions (confidence
/// and labels) against its held-out baseline, and the override rate.
#[utoipa::path(get, path = "/api/v1/models/drift", tag = "intent", security(("bearer" = [])),
    responses((status = 200, body = DriftView), (status = 401, body = Problem)))]
async fn drift(State(state): State<AppState>) -> Result<axum::Json<DriftView>, ApiError> {
    Ok(axum::Json(state.intent.drift().await?))
}

/// Return to the model that served before the current one (ModelPromoted, rollback).
#[utoipa::path(post, path = "/api/v1/models/rollback", tag = "intent", security(("bearer" = [])),
    responses((status = 200, body = Promoted), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "the shipped model is serving")))]
async fn rollback(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<Promoted>, ApiError> {
    Ok(axum::Json(state.intent.rollback(principal.actor()).await?))
}

/// One registered model.
#[utoipa::path(get, path = "/api/v1/models/{version}", tag = "intent", security(("bearer" = [])),
    params(("version" = String, Path, description = "model version, e.g. intent-cfa05446400e")),
    responses((status = 200, body = ModelInfo), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_model(
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> Result<axum::Json<ModelInfo>, ApiError> {
    Ok(axum::Json(state.intent.model(key(&version)?).await?))
}

/// Make a registered model the serving one, if it is not worse than the
/// serving model on the held-out split (ModelPromoted).
#[utoipa::path(post, path = "/api/v1/models/{version}/promote", tag = "intent", security(("bearer" = [])),
    params(("version" = String, Path, description = "model version")),
    responses((status = 200, body = Promoted), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "worse than the serving model, or already serving"),
        (status = 503, body = Problem, description = "the held-out corpus is not available")))]
async fn promote(
    State(state): State<AppState>,
    principal: Principal,
    Path(version): Path<String>,
) -> Result<axum::Json<Promoted>, ApiError> {
    Ok(axum::Json(
        state
            .intent
            .promote(principal.actor(), key(&version)?)
            .await?,
    ))
}

// ---------------------------------------------------------------- decisions

#[derive(Serialize, ToSchema)]
pub struct QueuePage {
    /// Decisions below this confidence are queued.
    threshold: f64,
    items: Vec<QueueItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Low-confidence decisions nobody has reviewed yet, oldest first.
#[utoipa::path(get, path = "/api/v1/classifications/review", tag = "intent", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = QueuePage), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn review_queue(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<QueuePage>, ApiError> {
    only(&q, &["limit", "cursor"])?;
    let limit = limit(&q, 50)?;
    let after = param(&q, "cursor", 512)?.map(decode_keyset).transpose()?;
    let items = state.intent.review_queue(after, limit).await?;
    let next_cursor = if items.len() as i64 == limit {
        items
            .last()
            .map(|i| encode_keyset(i.created_at_micros, &i.email_id))
    } else {
        None
    };
    Ok(axum::Json(QueuePage {
        threshold: state.intent.review_threshold(),
        items,
        next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct DecisionDetail {
    #[serde(flatten)]
    decision: Decision,
    /// Oldest first.
    overrides: Vec<OverrideView>,
}

/// The decision on one email with its overrides.
#[utoipa::path(get, path = "/api/v1/classifications/{email_id}", tag = "intent", security(("bearer" = [])),
    params(("email_id" = String, Path, description = "the email's id")),
    responses((status = 200, body = DecisionDetail), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_decision(
    State(state): State<AppState>,
    Path(email_id): Path<String>,
) -> Result<axum::Json<DecisionDetail>, ApiError> {
    let (decision, overrides) = state.intent.decision(key(&email_id)?).await?;
    Ok(axum::Json(DecisionDetail {
        decision,
        overrides,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// One of the eight intent labels.
    intent: String,
    /// Why the classification was wrong (required, at most 2000 characters).
    justification: String,
}

/// Change an email's intent, with a justification (LeadClassified with
/// manual_override). The correction is trained on in the next run.
#[utoipa::path(post, path = "/api/v1/classifications/{email_id}/override", tag = "intent",
    request_body = OverrideRequest, security(("bearer" = [])),
    params(("email_id" = String, Path, description = "the email's id")),
    responses((status = 200, body = Decision), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the email already has this intent")))]
async fn override_decision(
    State(state): State<AppState>,
    principal: Principal,
    Path(email_id): Path<String>,
    Json(body): Json<OverrideRequest>,
) -> Result<axum::Json<Decision>, ApiError> {
    let d = state
        .intent
        .override_decision(
            &principal.user_id,
            key(&email_id)?,
            &body.intent,
            &body.justification,
        )
        .await?;
    Ok(axum::Json(d))
}

/// Agree with a decision: it leaves the review queue and is trained on in
/// the next run (LeadClassified by the user, not an override).
#[utoipa::path(post, path = "/api/v1/classifications/{email_id}/confirm", tag = "intent",
    security(("bearer" = [])),
    params(("email_id" = String, Path, description = "the email's id")),
    responses((status = 200, body = Decision), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "already reviewed")))]
async fn confirm(
    State(state): State<AppState>,
    principal: Principal,
    Path(email_id): Path<String>,
) -> Result<axum::Json<Decision>, ApiError> {
    Ok(axum::Json(
        state
            .intent
            .confirm(&principal.user_id, key(&email_id)?)
            .await?,
    ))
}
