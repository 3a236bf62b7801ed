//! `/api/v1/stock` (search the catalogue cache, live stock for an exact
//! match) and `/api/v1/tally/health`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use pebble_core::audit::Actor;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::tally::{StockAnswer, TallyServiceError};

/// Longest search text accepted.
const MAX_QUERY_CHARS: usize = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stock))
        .routes(routes!(health))
}

#[derive(Serialize, ToSchema)]
pub struct StockPage {
    /// Each item with `source` (`live` or `cache`), `as_of` and `age_secs`.
    #[schema(value_type = Vec<Object>)]
    items: Vec<StockAnswer>,
}

impl From<TallyServiceError> for ApiError {
    fn from(e: TallyServiceError) -> Self {
        match e {
            TallyServiceError::Store(s) => s.into(),
            TallyServiceError::Audit(a) => a.into(),
            TallyServiceError::Sync(s) => ApiError::Unavailable(s.to_string()),
        }
    }
}

/// Search the catalogue by name, alias or SKU. An exact match carries live
/// stock from Tally when Tally is healthy; everything else comes from the cache.
#[utoipa::path(get, path = "/api/v1/stock", tag = "tally", security(("bearer" = [])),
    params(("q" = String, Query, description = "text to find in a name, alias or SKU (1 to 200 characters)"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20")),
    responses((status = 200, body = StockPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn stock(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<StockPage>, ApiError> {
    let text = q.get("q").map(|t| t.trim()).unwrap_or_default();
    if text.is_empty() || text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad(
            "q",
            format!("must hold 1 to {MAX_QUERY_CHARS} characters"),
        ));
    }
    if text.contains('\0') {
        return Err(ApiError::bad("q", "must not contain NUL bytes"));
    }
    let limit = match q.get("limit") {
        None => 20,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| ApiError::bad("limit", "must be an integer from 1 to 100"))?,
    };
    let items = state
        .tally
        .search(text, limit, Actor::user(&principal.user_id))
        .await?;
    Ok(Json(StockPage { items }))
}

/// Tally's link as Pebble sees it: breaker state, last sync, cache size and age.
#[utoipa::path(get, path = "/api/v1/tally/health", tag = "tally", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = Problem)))]
async fn health(State(state): State<AppState>) -> Result<Json<crate::tally::Health>, ApiError> {
    Ok(Json(state.tally.health().await?))
}
