//! The HTTP edge: state, the merged router and the middleware every route
//! goes through (request id, trace span, metrics, security headers, body
//! limit). Each capability module exposes `router()`; they are merged here.

pub mod activity;
pub mod auth;
pub mod error;
pub mod guard;
pub mod health;
pub mod json;
pub mod stock;
pub mod users;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::{Audit, VerifyReport};
use crate::auth::Auth;
use crate::config::Settings;
use crate::metrics::{HttpLabels, Metrics};
use crate::store::Db;

pub use error::ApiError;

/// What every handler may reach.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub audit: Arc<Audit>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    /// The last chain verification, for `/readyz`.
    pub chain: Arc<tokio::sync::RwLock<Option<VerifyReport>>>,
    pub tally: Arc<crate::tally::Tally>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(title = "Pebble", description = "Email operations for Indian B2B businesses."),
    modifiers(&BearerScheme),
    components(schemas(error::Problem))
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        api.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
    }
}

/// Every route, each with its OpenAPI description: adding a route anywhere
/// else would leave it undocumented and, lacking a rule, denied.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(auth::router())
        .merge(users::router())
        .merge(activity::router())
        .merge(stock::router())
        .split_for_parts()
}

/// The OpenAPI document, generated from the code.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The browser origins allowed by configuration. `*` and `null` are refused:
/// ASVS 14.5.3, and credentials (bearer tokens) travel with these calls.
pub fn cors(origins: &str) -> anyhow::Result<Option<CorsLayer>> {
    let mut list = Vec::new();
    for o in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        anyhow::ensure!(
            o != "*" && o != "null",
            "cors_origins: {o:?} is not allowed; list exact origins"
        );
        anyhow::ensure!(
            o.starts_with("https://") || o.starts_with("http://"),
            "cors_origins: {o:?} is not an http(s) origin"
        );
        list.push(HeaderValue::from_str(o.trim_end_matches('/'))?);
    }
    if list.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([
                axum::http::Method::GET,
                axum::http::Method::POST,
                axum::http::Method::PUT,
                axum::http::Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

pub fn router(state: AppState) -> anyhow::Result<Router> {
    let max_body = state.settings.max_body_bytes;
    let cors = cors(&state.settings.cors_origins)?;
    let (routes, api) = routes();
    let api = Arc::new(api);
    let app = routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let api = api.clone();
                async move { axum::Json(api.as_ref().clone()) }
            }),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|m| m.as_str().to_owned())
                        .unwrap_or_default();
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    tracing::info_span!("request", method = %req.method(), route, request_id = id, user_id = tracing::field::Empty)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(RequestBodyLimitLayer::new(max_body))
                .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
                .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
                .layer(security_header(
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; frame-ancestors 'none'",
                ))
                .layer(security_header(header::CACHE_CONTROL, "no-store")),
        )
        .with_state(state);
    Ok(match cors {
        Some(c) => app.layer(c),
        None => app,
    })
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Request duration by route template (never the raw path: ids would explode
/// the label set), method and status.
async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    state
        .metrics
        .http_request_duration
        .get_or_create(&HttpLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}
