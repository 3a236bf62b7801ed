//! `/api/v1/auth`: sign in, refresh, sign out, who am I.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::json::Json;
use super::{ApiError, AppState};
use crate::auth::{Principal, Tokens};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(max_length = 254)]
    email: String,
    #[schema(max_length = 1024)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    security(()),
    responses((status = 200, body = Tokens), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 415, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<LoginRequest>,
) -> Result<axum::Json<Tokens>, ApiError> {
    if body.email.len() > 254 || body.password.len() > 1024 {
        return Err(ApiError::bad("body", "email or password too long"));
    }
    let tokens = state
        .auth
        .login(&body.email, &body.password, &peer.ip().to_string())
        .await?;
    Ok(axum::Json(tokens))
}

/// Exchange a refresh token for new tokens (the old refresh token stops working).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    security(()),
    responses((status = 200, body = Tokens), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 415, body = Problem)))]
async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<axum::Json<Tokens>, ApiError> {
    Ok(axum::Json(state.auth.refresh(&body.refresh_token).await?))
}

/// End this session: its access and refresh tokens stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn logout(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Principal), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn me(principal: Principal) -> axum::Json<Principal> {
    axum::Json(principal)
}
