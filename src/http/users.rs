//! `/api/v1/users`: administrators manage accounts and roles.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use pebble_core::access::Role;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::{Principal, UserView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(set_role))
        .routes(routes!(disable_user))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(max_length = 254)]
    email: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    display_name: String,
    /// admin, sales, ops or read_only
    role: String,
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// admin, sales, ops or read_only
    role: String,
}

fn parse_role(s: &str) -> Result<Role, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad("role", "must be admin, sales, ops or read_only"))
}

fn user_id(id: &str) -> Result<&str, ApiError> {
    if id.len() > 64 || id.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(id)
}

/// Every user.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_users(State(state): State<AppState>) -> Result<axum::Json<Vec<UserView>>, ApiError> {
    Ok(axum::Json(state.auth.list_users().await?))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser, security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 409, body = Problem), (status = 415, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, axum::Json<UserView>), ApiError> {
    let role = parse_role(&body.role)?;
    let user = state
        .auth
        .create_user(
            principal.actor(),
            &body.email,
            &body.display_name,
            role,
            &body.password,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

/// Change a user's role; their sessions end.
#[utoipa::path(post, path = "/api/v1/users/{id}/role", tag = "users", request_body = RoleChange,
    params(("id" = String, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 415, body = Problem)))]
async fn set_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<RoleChange>,
) -> Result<axum::Json<UserView>, ApiError> {
    let role = parse_role(&body.role)?;
    Ok(axum::Json(
        state
            .auth
            .set_role(principal.actor(), user_id(&id)?, role)
            .await?,
    ))
}

/// Disable a user; their sessions end.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users",
    params(("id" = String, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem)))]
async fn disable_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<UserView>, ApiError> {
    Ok(axum::Json(
        state.auth.disable(principal.actor(), user_id(&id)?).await?,
    ))
}
