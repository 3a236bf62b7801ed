//! `POST /api/v1/validate`: offline GSTIN / PAN / CIN / LLPIN validation,
//! the same reports `pebble validate --json` prints.

use axum::extract::State;
use chrono::Datelike;
use pebble_core::identifiers::{validate, IdKind, Validation};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::json::Json;
use super::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(validate_values))
}

/// At most this many values per request, each at most `MAX_VALUE` bytes:
/// identifiers are short, and the bound keeps one request cheap.
pub const MAX_VALUES: usize = 1000;
pub const MAX_VALUE: usize = 256;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// gstin, pan, cin, llpin or auto (the default: detect each value's kind)
    kind: Option<String>,
    /// 1 to 1000 values of at most 256 bytes each
    values: Vec<String>,
}

/// The kind named on the command line or in a request; `auto` detects.
pub fn parse_kind(s: &str) -> Option<IdKind> {
    match s {
        "gstin" => Some(IdKind::Gstin),
        "pan" => Some(IdKind::Pan),
        "cin" => Some(IdKind::Cin),
        "llpin" => Some(IdKind::Llpin),
        "auto" => Some(IdKind::Unknown),
        _ => None,
    }
}

/// Validate identifiers; one report per value, in order.
#[utoipa::path(post, path = "/api/v1/validate", tag = "identifiers", request_body = ValidateRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "one report per value: {value, kind, valid, normalized, errors, info}",
               body = Vec<Object>),
               (status = 400, body = Problem), (status = 401, body = Problem), (status = 415, body = Problem)))]
async fn validate_values(
    State(state): State<AppState>,
    Json(body): Json<ValidateRequest>,
) -> Result<axum::Json<Vec<Validation>>, ApiError> {
    let kind = match body.kind.as_deref() {
        None => IdKind::Unknown,
        Some(k) => parse_kind(k)
            .ok_or_else(|| ApiError::bad("kind", "must be gstin, pan, cin, llpin or auto"))?,
    };
    if body.values.is_empty() || body.values.len() > MAX_VALUES {
        return Err(ApiError::bad(
            "values",
            format!("must hold 1 to {MAX_VALUES} values"),
        ));
    }
    if let Some(i) = body.values.iter().position(|v| v.len() > MAX_VALUE) {
        return Err(ApiError::bad(
            format!("values[{i}]"),
            format!("longer than {MAX_VALUE} bytes"),
        ));
    }
    let year = state.audit.clock().now().year();
    Ok(axum::Json(
        body.values
            .iter()
            .map(|v| validate(kind, v, year))
            .collect(),
    ))
}
