//! The web UI, served by `pebble serve` itself: server-rendered HTML (maud
//! escapes everything it interpolates), one stylesheet and one small script
//! compiled into the binary, SVG charts drawn on the server. No build step,
//! nothing fetched from elsewhere at run time.
//!
//! Pages call the same services as the API handlers (`Crm`, `Audit`,
//! `Tally`, `Auth`, `dashboard`, `compliance`, `privacy`); who may open which
//! page is a row of `http::guard::RULES` (`Access::Page`), enforced with
//! sign-in and CSRF checks by [`session::guard`].

mod activity;
mod admin;
mod backups;
pub mod chart;
mod compliance;
mod crm;
mod dashboards;
mod drafts;
mod inbox;
mod mailboxes;
mod models;
mod privacy;
mod review;
pub mod session;
mod stock;
mod templates;

use axum::extract::{FromRequestParts, Path};
use axum::http::{header, request::Parts, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use maud::{html, Markup, DOCTYPE};
use pebble_core::access::Role;

use crate::auth::Principal;
use crate::http::guard::{rule, Access};
use crate::http::{ApiError, AppState};

/// Pages load only this site's stylesheet and script; inline SVG needs nothing more.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("assets/pebble.css");
const JS: &str = include_str!("assets/pebble.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(inbox::inbox))
        .route("/emails/{id}", get(inbox::email))
        .route(
            "/emails/{id}/attachments/{position}",
            get(inbox::attachment),
        )
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/assets/{file}", get(asset))
        .route("/activity", get(activity::search))
        .route("/activity/export", get(activity::export))
        .route("/companies", get(crm::companies))
        .route("/companies/{id}", get(crm::company))
        .route("/leads", get(crm::leads))
        .route("/leads/{id}/stage", post(crm::change_stage))
        .route("/stock", get(stock::search))
        .route("/emails/{id}/override", post(review::override_decision))
        .route("/emails/{id}/confirm", post(review::confirm))
        .route("/review", get(review::queue))
        .route("/drafts", get(drafts::list))
        .route("/drafts/{id}", get(drafts::draft))
        .route("/drafts/{id}/approve", post(drafts::approve))
        .route("/drafts/{id}/reject", post(drafts::reject))
        .route("/admin", get(admin::section))
        .route("/admin/models", get(models::registry))
        .route("/admin/models/train", post(models::train))
        .route("/admin/models/rollback", post(models::rollback))
        .route("/admin/models/{version}/promote", post(models::promote))
        .route(
            "/admin/mailboxes",
            get(mailboxes::list).post(mailboxes::save),
        )
        .route("/admin/templates", get(templates::list))
        .route("/admin/templates/{key}", post(templates::save))
        .route("/admin/templates/{key}/restore", post(templates::restore))
        .route("/admin/backups", get(backups::list).post(backups::create))
        .route("/admin/backups/{id}/verify", post(backups::verify))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}/role", post(admin::set_role))
        .route("/admin/users/{id}/disable", post(admin::disable))
        .route("/dashboards/sales-ops", get(dashboards::sales_ops))
        .route("/dashboards/owner", get(dashboards::owner))
        .route("/compliance", get(compliance::page))
        .route("/compliance/quarterly", post(compliance::quarterly))
        .route("/privacy", get(privacy::page))
        .route("/privacy/export", post(privacy::export))
        .route("/privacy/erasure", post(privacy::request_erasure))
        .route("/privacy/erasure/{id}/approve", post(privacy::approve))
        .route("/privacy/erasure/{id}/reject", post(privacy::reject))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "pebble.css" => (CSS, "text/css; charset=utf-8"),
        "pebble.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// The CSRF token of the signed-in session, put there by the guard.
#[derive(Clone)]
pub struct Csrf(pub String);

/// What every signed-in page knows: who is looking, and the token its forms carry.
pub struct Ctx {
    pub principal: Principal,
    pub csrf: String,
    pub path: String,
}

impl Ctx {
    pub fn role(&self) -> Role {
        self.principal.role
    }

    /// Whether this user's role may use `method path` (the same rule the guard applies).
    pub fn may(&self, method: &str, path: &str) -> bool {
        let Ok(m) = method.parse::<Method>() else {
            return false;
        };
        match rule(&m, path) {
            Some(Access::Page(roles) | Access::Roles(roles)) => roles.contains(&self.role()),
            Some(Access::Public) => true,
            None => false,
        }
    }

    /// The hidden field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name=(session::CSRF_FIELD) value=(self.csrf); }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let principal = parts.extensions.get::<Principal>().cloned();
        let csrf = parts.extensions.get::<Csrf>().cloned();
        match (principal, csrf) {
            (Some(principal), Some(Csrf(csrf))) => Ok(Ctx {
                principal,
                csrf,
                path: parts.uri.path().to_owned(),
            }),
            _ => Err(UiError(ApiError::Internal(anyhow::anyhow!(
                "a page handler on a route without a page rule"
            )))),
        }
    }
}

/// The navigation: every page the role may open, in this order.
const NAV: &[(&str, &str)] = &[
    ("/", "Inbox"),
    ("/review", "Review"),
    ("/drafts", "Drafts"),
    ("/dashboards/sales-ops", "Sales Ops"),
    ("/dashboards/owner", "Owner"),
    ("/leads", "Leads"),
    ("/companies", "Companies"),
    ("/stock", "Stock"),
    ("/activity", "Activity"),
    ("/compliance", "Compliance"),
    ("/privacy", "Privacy"),
    ("/admin", "Admin"),
];

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Admin => "Admin",
        Role::Sales => "Sales",
        Role::Ops => "Ops",
        Role::ReadOnly => "Read-Only",
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Pebble" }
            link rel="stylesheet" href="/assets/pebble.css";
            script src="/assets/pebble.js" defer {}
        }
    }
}

/// A signed-in page: skip link, navigation, who is signed in, sign-out.
pub fn layout(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    let current = |p: &str| {
        if ctx.path == p || (p != "/" && ctx.path.starts_with(&format!("{p}/"))) {
            Some("page")
        } else {
            None
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Pebble" }
                    nav.main aria-label="Main" {
                        ul {
                            @for (path, label) in NAV.iter().filter(|(p, _)| ctx.may("GET", p)) {
                                li { a href=(path) aria-current=[current(path)] { (label) } }
                            }
                        }
                    }
                    div.who {
                        span { (ctx.principal.display_name) " · " (role_label(ctx.role())) }
                        form method="post" action="/logout" {
                            (ctx.csrf_field())
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without navigation (sign-in, refusals, errors).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/" { "Pebble" } }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
        ],
        markup.into_string(),
    )
        .into_response()
}

pub fn page(ctx: &Ctx, title: &str, body: Markup) -> Response {
    html_response(StatusCode::OK, layout(ctx, title, body))
}

/// Back to a page after a form post (post/redirect/get), with a message
/// chosen from a fixed list by code, so a crafted link cannot put words in
/// Pebble's mouth.
pub fn redirect(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}

/// A failure shown as a page. Internals are logged, never shown.
pub struct UiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(e: E) -> Self {
        UiError(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match self.0 {
            ApiError::BadRequest { field, detail } => (
                StatusCode::BAD_REQUEST,
                "Please check the form",
                format!("{field}: {detail}"),
            ),
            ApiError::Unauthorized(d) => (StatusCode::UNAUTHORIZED, "Sign in again", d),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not for your role",
                "Your role may not do this.".into(),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here (it may have been merged or removed).".into(),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported",
                "Pebble cannot read this form.".into(),
            ),
            ApiError::TooManyRequests { detail, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Slow down",
                format!("{detail}; wait a minute and try again."),
            ),
            ApiError::Conflict(d) => (StatusCode::CONFLICT, "Not possible now", d),
            ApiError::Unavailable(d) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable", d),
            ApiError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error on a page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "An internal error occurred; it has been logged.".into(),
                )
            }
        };
        html_response(
            status,
            bare_page(
                title,
                html! {
                    p.flash.error role="alert" { (detail) }
                    p { a href="/" { "Home" } }
                },
            ),
        )
    }
}

/// The business's local time (SPEC: Indian businesses; configurable).
pub fn local_offset(state: &AppState) -> FixedOffset {
    FixedOffset::east_opt(state.settings.business_utc_offset_minutes * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero is a valid offset"))
}

/// A time in µs since the epoch, in the business's local time.
pub fn when(offset: FixedOffset, micros: i64) -> String {
    match Utc.timestamp_micros(micros).single() {
        Some(t) => fmt_time(offset, t),
        None => "?".into(),
    }
}

pub fn fmt_time(offset: FixedOffset, t: DateTime<Utc>) -> String {
    t.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The confirmation for `?done=code`, chosen from the page's fixed list.
pub fn done(
    q: &std::collections::HashMap<String, String>,
    table: &[(&str, &'static str)],
) -> Markup {
    let message = q
        .get("done")
        .and_then(|d| table.iter().find(|(k, _)| k == d))
        .map(|(_, m)| *m);
    html! { @if let Some(m) = message { p.flash.ok role="status" { (m) } } }
}

/// Who did what, by name for roles that may see people, numbered for
/// Read-Only (SPEC §8: only permitted roles see personal data).
pub async fn people(state: &AppState, ctx: &Ctx) -> Result<crate::dashboard::People, UiError> {
    Ok(
        crate::dashboard::People::load(&state.db, ctx.role() != Role::ReadOnly)
            .await
            .map_err(ApiError::from)?,
    )
}

/// Query parameters with empty values dropped: an HTML form sends every
/// field, and an empty filter means "any", not "the empty string".
pub fn filled(
    q: std::collections::HashMap<String, String>,
) -> std::collections::HashMap<String, String> {
    q.into_iter()
        .map(|(k, v)| (k, v.trim().to_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}
