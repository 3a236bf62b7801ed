//! The HTTP edge: state, the merged router and the middleware every route
//! goes through (request id, trace span, metrics, security headers, body
//! limit). Each capability module exposes `router()`; they are merged here.

pub mod activity;
pub mod auth;
pub mod backups;
pub mod crm;
pub mod drafts;
pub mod emails;
pub mod error;
pub mod guard;
pub mod health;
pub mod intent;
pub mod json;
pub mod query;
pub mod reports;
pub mod stock;
pub mod users;
pub mod validate;

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
use crate::metrics::{method_label, HttpLabels, Metrics};
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
    pub crm: Arc<crate::crm::Crm>,
    pub tally: Arc<crate::tally::Tally>,
    pub ingest: Arc<crate::ingest::Ingest>,
    pub pipeline: Arc<crate::pipeline::Pipeline>,
    pub backups: Arc<crate::backup::Backups>,
    pub intent: Arc<crate::intent::IntentService>,
    pub drafts: Arc<crate::drafts::Drafts>,
    pub outbox: Arc<crate::outbox::Outbox>,
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

/// Errors are `application/problem+json`, and every signed-in route can answer
/// 401, 403 and 429: say so once here instead of on every handler.
struct ProblemResponses;

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
        let problem = |why: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(why)
                    .content(
                        "application/problem+json",
                        Content::new(Some(Ref::from_schema_name("Problem"))),
                    )
                    .build(),
            )
        };
        for item in api.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for response in op.responses.responses.values_mut() {
                    let RefOr::T(r) = response else { continue };
                    let is_problem = r.content.get("application/json").is_some_and(|c| {
                        serde_json::to_string(&c.schema)
                            .is_ok_and(|s| s.contains("#/components/schemas/Problem"))
                    });
                    if is_problem {
                        if let Some(c) = r.content.shift_remove("application/json") {
                            r.content.insert("application/problem+json".into(), c);
                        }
                    }
                }
                let has_body = op.request_body.is_some();
                let signed_in = op
                    .security
                    .as_ref()
                    .is_some_and(|s| serde_json::to_string(s).is_ok_and(|t| t.contains("bearer")));
                let mut add = |code: &str, why: &str| {
                    op.responses
                        .responses
                        .entry(code.into())
                        .or_insert_with(|| problem(why));
                };
                add("400", "the request is malformed; `field` names the culprit");
                if has_body {
                    add(
                        "415",
                        "the body must be sent as Content-Type: application/json",
                    );
                }
                if signed_in {
                    add("401", "no valid access token, or the session has ended");
                    add("403", "the signed-in role may not do this");
                    add("429", "rate limit exceeded; see Retry-After");
                }
            }
        }
    }
}

/// The closed sets and bounds the handlers enforce, stated in the document so
/// that a schema-valid request is an accepted one. Built from the same
/// constants the code checks (event types, roles), so they cannot drift.
struct ExactSchemas;

impl utoipa::Modify for ExactSchemas {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use pebble_core::access::Role;
        use pebble_core::audit::EventType;
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
        use utoipa::openapi::RefOr;
        let text = |min: usize, max: usize| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(min))
                .max_length(Some(max))
        };
        let one_of = |values: Vec<&'static str>| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(values))
        };
        let int = |min: i64, max: Option<i64>| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(min))
                .maximum(max)
        };
        let schema_for = |name: &str| -> Option<Schema> {
            Some(Schema::Object(
                match name {
                    "limit" => int(1, Some(1000)),
                    "cursor" | "seq" => int(1, None),
                    "order" => one_of(vec!["newest", "oldest"]),
                    "format" => one_of(vec!["csv", "xlsx"]),
                    "actor_kind" => one_of(vec!["user", "ai_agent", "system"]),
                    "event_type" => one_of(EventType::ALL.iter().map(|t| t.as_str()).collect()),
                    "entity" => text(3, 512).pattern(Some("^[^:]+:.+$")),
                    "entity_type" | "entity_id" | "actor_id" => text(1, 512),
                    "from" | "to" => ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
                    _ => return None,
                }
                .build(),
            ))
        };
        // Only the activity routes: they parse their query by hand (to name bad
        // fields), so their parameters carry no derived constraints of their own.
        for (path, item) in api.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/activity") {
                continue;
            }
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for param in op.parameters.iter_mut().flatten() {
                    if let Some(s) = schema_for(&param.name) {
                        param.schema = Some(RefOr::T(s));
                    }
                }
            }
        }
        let roles: Vec<&'static str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        if let Some(components) = api.components.as_mut() {
            for (name, schema) in components.schemas.iter_mut() {
                let RefOr::T(Schema::Object(object)) = schema else {
                    continue;
                };
                for (field, property) in object.properties.iter_mut() {
                    let replacement = match (name.as_str(), field.as_str()) {
                        (_, "role") if name == "NewUser" || name == "RoleChange" => {
                            one_of(roles.clone())
                        }
                        ("NewUser", "email") | ("LoginRequest", "email") => {
                            text(3, 254).format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
                        }
                        ("NewUser", "password") => text(12, 1024),
                        _ => continue,
                    };
                    *property = RefOr::T(Schema::Object(replacement.build()));
                }
            }
        }
    }
}

/// Every route, each with its OpenAPI description: adding a route anywhere
/// else would leave it undocumented and, lacking a rule, denied.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(auth::router())
        .merge(users::router())
        .merge(activity::router())
        .merge(validate::router())
        .merge(crm::router())
        .merge(stock::router())
        .merge(emails::router())
        .merge(backups::router())
        .merge(reports::router())
        .merge(intent::router())
        .merge(drafts::router());
    let (router, mut api) = routes.split_for_parts();
    // After the merge: derive-time modifiers run before any path exists.
    utoipa::Modify::modify(&ProblemResponses, &mut api);
    utoipa::Modify::modify(&ExactSchemas, &mut api);
    (router, api)
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
        .merge(crate::ui::router())
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
                })
                // One line per request, at info, with a numeric latency (the
                // default is a debug line with "12 ms" as text).
                .on_response(|res: &axum::http::Response<_>, latency: std::time::Duration, _: &tracing::Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        latency_ms = latency.as_secs_f64() * 1e3,
                        "request"
                    );
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
    let method = method_label(req.method());
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
