//! The HTTP edge: state, the merged router and the middleware every route
//! goes through (request id, trace span, metrics, security headers, body
//! limit). Each capability module exposes `router()`; they are merged here.

pub mod activity;
pub mod error;
pub mod health;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::audit::{Audit, VerifyReport};
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
    pub metrics: Arc<Metrics>,
    /// The last chain verification, for `/readyz`.
    pub chain: Arc<tokio::sync::RwLock<Option<VerifyReport>>>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    Router::new()
        .merge(health::router())
        .merge(activity::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
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
                    tracing::info_span!("request", method = %req.method(), route, request_id = id)
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
        .with_state(state)
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
