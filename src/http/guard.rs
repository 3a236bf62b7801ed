//! Who may call what: one declarative table of route → roles, enforced in one
//! middleware for every route. A route without a rule is denied to everyone,
//! and a test walks every documented route × every role against this table.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pebble_core::access::Role;

use super::{ApiError, AppState};
use crate::auth::ratelimit::Decision;
use crate::auth::Principal;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No sign-in (health probes, login, the API description).
    Public,
    /// Signed in with one of these roles.
    Roles(&'static [Role]),
    /// A web UI page: signed in through the session cookie with one of these
    /// roles, and a CSRF token on every form post (`crate::ui::session`).
    Page(&'static [Role]),
}

use Role::{Admin, Ops, ReadOnly, Sales};
const EVERYONE: &[Role] = &[Admin, Sales, Ops, ReadOnly];
const ADMIN: &[Role] = &[Admin];
const ADMIN_OPS: &[Role] = &[Admin, Ops];
/// SPEC §1: Sales and Admin write the CRM; everyone signed in reads it.
const CRM_WRITE: &[Role] = &[Admin, Sales];
/// SPEC §1: Sales (and Admin) review, edit, approve and reject drafts.
const DRAFT_REVIEW: &[Role] = &[Admin, Sales];
/// The message as received is personal data in bulk: not for Read-Only.
const MAIL_RAW: &[Role] = &[Admin, Sales, Ops];
/// SPEC §1: Sales (and Admin) override a classification, with a reason.
const REVIEW: &[Role] = &[Admin, Sales];

/// SPEC §1 as a table. Keep it sorted by path.
pub const RULES: &[(&str, &str, Access)] = &[
    ("GET", "/api/v1/activity", Access::Roles(EVERYONE)),
    // The activity stream holds personal data: exports are for Admin and Ops only.
    ("GET", "/api/v1/activity/export", Access::Roles(ADMIN_OPS)),
    (
        "GET",
        "/api/v1/activity/checkpoint",
        Access::Roles(EVERYONE),
    ),
    (
        "POST",
        "/api/v1/activity/checkpoint",
        Access::Roles(ADMIN_OPS),
    ),
    ("GET", "/api/v1/activity/verify", Access::Roles(EVERYONE)),
    (
        "GET",
        "/api/v1/activity/{seq}/proof",
        Access::Roles(EVERYONE),
    ),
    ("POST", "/api/v1/auth/login", Access::Public),
    // SPEC §1: backups are Admin's; Ops create and verify them.
    ("GET", "/api/v1/backups", Access::Roles(ADMIN_OPS)),
    ("POST", "/api/v1/backups", Access::Roles(ADMIN_OPS)),
    ("GET", "/api/v1/backups/{id}", Access::Roles(ADMIN_OPS)),
    (
        "POST",
        "/api/v1/backups/{id}/verify",
        Access::Roles(ADMIN_OPS),
    ),
    ("POST", "/api/v1/auth/logout", Access::Roles(EVERYONE)),
    ("GET", "/api/v1/auth/me", Access::Roles(EVERYONE)),
    ("POST", "/api/v1/auth/refresh", Access::Public),
    (
        "GET",
        "/api/v1/classifications/review",
        Access::Roles(EVERYONE),
    ),
    (
        "GET",
        "/api/v1/classifications/{email_id}",
        Access::Roles(EVERYONE),
    ),
    (
        "POST",
        "/api/v1/classifications/{email_id}/confirm",
        Access::Roles(REVIEW),
    ),
    (
        "POST",
        "/api/v1/classifications/{email_id}/override",
        Access::Roles(REVIEW),
    ),
    ("GET", "/api/v1/companies", Access::Roles(EVERYONE)),
    ("POST", "/api/v1/companies", Access::Roles(CRM_WRITE)),
    ("GET", "/api/v1/companies/{id}", Access::Roles(EVERYONE)),
    ("PUT", "/api/v1/companies/{id}", Access::Roles(CRM_WRITE)),
    (
        "POST",
        "/api/v1/companies/{id}/merge",
        Access::Roles(CRM_WRITE),
    ),
    ("GET", "/api/v1/contacts", Access::Roles(EVERYONE)),
    ("GET", "/api/v1/dashboards/owner", Access::Roles(EVERYONE)),
    (
        "GET",
        "/api/v1/dashboards/sales-ops",
        Access::Roles(EVERYONE),
    ),
    // Data-subject requests: Ops and Admin ask, only Admin approves an erasure.
    ("GET", "/api/v1/dsr/erasure", Access::Roles(ADMIN_OPS)),
    ("POST", "/api/v1/dsr/erasure", Access::Roles(ADMIN_OPS)),
    (
        "POST",
        "/api/v1/dsr/erasure/{id}/approve",
        Access::Roles(ADMIN),
    ),
    (
        "POST",
        "/api/v1/dsr/erasure/{id}/reject",
        Access::Roles(ADMIN),
    ),
    ("POST", "/api/v1/dsr/export", Access::Roles(ADMIN_OPS)),
    ("POST", "/api/v1/contacts", Access::Roles(CRM_WRITE)),
    ("GET", "/api/v1/contacts/{id}", Access::Roles(EVERYONE)),
    ("PUT", "/api/v1/contacts/{id}", Access::Roles(CRM_WRITE)),
    (
        "POST",
        "/api/v1/contacts/{id}/merge",
        Access::Roles(CRM_WRITE),
    ),
    ("GET", "/api/v1/drafts", Access::Roles(EVERYONE)),
    ("GET", "/api/v1/drafts/stats", Access::Roles(EVERYONE)),
    ("GET", "/api/v1/drafts/templates", Access::Roles(EVERYONE)),
    (
        "PUT",
        "/api/v1/drafts/templates/{key}",
        Access::Roles(ADMIN),
    ),
    (
        "DELETE",
        "/api/v1/drafts/templates/{key}",
        Access::Roles(ADMIN),
    ),
    ("GET", "/api/v1/drafts/{id}", Access::Roles(EVERYONE)),
    (
        "POST",
        "/api/v1/drafts/{id}/approve",
        Access::Roles(DRAFT_REVIEW),
    ),
    (
        "POST",
        "/api/v1/drafts/{id}/reject",
        Access::Roles(DRAFT_REVIEW),
    ),
    ("GET", "/api/v1/emails", Access::Roles(EVERYONE)),
    // Mail sources (a relay, a script) post as Ops; SPEC §1 gives Ops the mail sources.
    ("POST", "/api/v1/emails", Access::Roles(ADMIN_OPS)),
    ("GET", "/api/v1/emails/{id}", Access::Roles(EVERYONE)),
    (
        "GET",
        "/api/v1/emails/{id}/attachments/{position}",
        Access::Roles(MAIL_RAW),
    ),
    ("GET", "/api/v1/emails/{id}/raw", Access::Roles(MAIL_RAW)),
    ("GET", "/api/v1/leads", Access::Roles(EVERYONE)),
    ("POST", "/api/v1/leads", Access::Roles(CRM_WRITE)),
    ("GET", "/api/v1/leads/{id}", Access::Roles(EVERYONE)),
    ("POST", "/api/v1/leads/{id}/stage", Access::Roles(CRM_WRITE)),
    ("GET", "/api/v1/mailboxes", Access::Roles(ADMIN_OPS)),
    ("POST", "/api/v1/mailboxes", Access::Roles(ADMIN_OPS)),
    ("GET", "/api/v1/models", Access::Roles(EVERYONE)),
    ("GET", "/api/v1/models/drift", Access::Roles(EVERYONE)),
    // SPEC §1: Admin alone promotes (and so rolls back); Ops may retrain.
    ("POST", "/api/v1/models/rollback", Access::Roles(ADMIN)),
    ("POST", "/api/v1/models/train", Access::Roles(ADMIN_OPS)),
    ("GET", "/api/v1/models/{version}", Access::Roles(EVERYONE)),
    (
        "POST",
        "/api/v1/models/{version}/promote",
        Access::Roles(ADMIN),
    ),
    ("POST", "/api/v1/notes", Access::Roles(CRM_WRITE)),
    ("GET", "/api/v1/openapi.json", Access::Public),
    ("GET", "/api/v1/outbox", Access::Roles(EVERYONE)),
    // Resending or settling a reply of unknown fate is an operator's call.
    (
        "POST",
        "/api/v1/outbox/{id}/confirm-sent",
        Access::Roles(ADMIN_OPS),
    ),
    (
        "POST",
        "/api/v1/outbox/{id}/requeue",
        Access::Roles(ADMIN_OPS),
    ),
    ("GET", "/api/v1/pipeline/jobs", Access::Roles(ADMIN_OPS)),
    (
        "POST",
        "/api/v1/pipeline/jobs/{id}/retry",
        Access::Roles(ADMIN_OPS),
    ),
    ("GET", "/api/v1/quarantine", Access::Roles(ADMIN_OPS)),
    (
        "POST",
        "/api/v1/quarantine/{id}/retry",
        Access::Roles(ADMIN_OPS),
    ),
    // The compliance export lists overrides by user id: for Admin and Ops, like exports.
    ("GET", "/api/v1/reports/quarterly", Access::Roles(ADMIN_OPS)),
    ("GET", "/api/v1/stock", Access::Roles(EVERYONE)),
    ("GET", "/api/v1/tally/health", Access::Roles(EVERYONE)),
    ("GET", "/api/v1/users", Access::Roles(ADMIN)),
    ("POST", "/api/v1/users", Access::Roles(ADMIN)),
    ("POST", "/api/v1/users/{id}/disable", Access::Roles(ADMIN)),
    ("POST", "/api/v1/users/{id}/role", Access::Roles(ADMIN)),
    // Pure computation on the caller's input: every role.
    ("POST", "/api/v1/validate", Access::Roles(EVERYONE)),
    ("GET", "/healthz", Access::Public),
    ("GET", "/readyz", Access::Public),
    // The web UI (crate::ui). Pages show what the API would answer the same role.
    ("GET", "/", Access::Page(EVERYONE)),
    ("GET", "/activity", Access::Page(EVERYONE)),
    ("GET", "/activity/export", Access::Page(ADMIN_OPS)),
    ("GET", "/admin", Access::Page(ADMIN_OPS)),
    ("GET", "/admin/backups", Access::Page(ADMIN_OPS)),
    ("POST", "/admin/backups", Access::Page(ADMIN_OPS)),
    (
        "POST",
        "/admin/backups/{id}/verify",
        Access::Page(ADMIN_OPS),
    ),
    ("GET", "/admin/mailboxes", Access::Page(ADMIN_OPS)),
    ("POST", "/admin/mailboxes", Access::Page(ADMIN_OPS)),
    ("GET", "/admin/models", Access::Page(ADMIN_OPS)),
    ("POST", "/admin/models/rollback", Access::Page(ADMIN)),
    ("POST", "/admin/models/train", Access::Page(ADMIN_OPS)),
    (
        "POST",
        "/admin/models/{version}/promote",
        Access::Page(ADMIN),
    ),
    // Admin and Ops read the reply templates in the admin section; Admin edits them, as in the API.
    ("GET", "/admin/templates", Access::Page(ADMIN_OPS)),
    ("POST", "/admin/templates/{key}", Access::Page(ADMIN)),
    (
        "POST",
        "/admin/templates/{key}/restore",
        Access::Page(ADMIN),
    ),
    ("GET", "/admin/users", Access::Page(ADMIN)),
    ("POST", "/admin/users", Access::Page(ADMIN)),
    ("POST", "/admin/users/{id}/disable", Access::Page(ADMIN)),
    ("POST", "/admin/users/{id}/role", Access::Page(ADMIN)),
    ("GET", "/assets/{file}", Access::Public),
    ("GET", "/companies", Access::Page(EVERYONE)),
    ("GET", "/companies/{id}", Access::Page(EVERYONE)),
    ("GET", "/compliance", Access::Page(ADMIN_OPS)),
    ("POST", "/compliance/quarterly", Access::Page(ADMIN_OPS)),
    ("GET", "/dashboards/owner", Access::Page(EVERYONE)),
    ("GET", "/dashboards/sales-ops", Access::Page(EVERYONE)),
    ("GET", "/drafts", Access::Page(EVERYONE)),
    ("GET", "/drafts/{id}", Access::Page(EVERYONE)),
    ("POST", "/drafts/{id}/approve", Access::Page(DRAFT_REVIEW)),
    ("POST", "/drafts/{id}/reject", Access::Page(DRAFT_REVIEW)),
    ("GET", "/emails/{id}", Access::Page(EVERYONE)),
    ("POST", "/emails/{id}/confirm", Access::Page(REVIEW)),
    ("POST", "/emails/{id}/override", Access::Page(REVIEW)),
    (
        "GET",
        "/emails/{id}/attachments/{position}",
        Access::Page(MAIL_RAW),
    ),
    ("GET", "/leads", Access::Page(EVERYONE)),
    ("POST", "/leads/{id}/stage", Access::Page(CRM_WRITE)),
    ("GET", "/login", Access::Public),
    ("POST", "/login", Access::Public),
    ("POST", "/logout", Access::Page(EVERYONE)),
    ("GET", "/privacy", Access::Page(ADMIN_OPS)),
    ("POST", "/privacy/erasure", Access::Page(ADMIN_OPS)),
    ("POST", "/privacy/erasure/{id}/approve", Access::Page(ADMIN)),
    ("POST", "/privacy/erasure/{id}/reject", Access::Page(ADMIN)),
    ("POST", "/privacy/export", Access::Page(ADMIN_OPS)),
    ("GET", "/review", Access::Page(EVERYONE)),
    ("GET", "/stock", Access::Page(EVERYONE)),
];

/// Whether a route belongs to the API (documented in OpenAPI) rather than
/// the web UI (tested page by page in `tests/ui.rs`).
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/healthz" || path == "/readyz"
}

/// The rule for a route; `None` means no rule, which denies.
pub fn rule(method: &Method, path: &str) -> Option<Access> {
    // HEAD is answered by the GET handler, so it follows the GET rule.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    RULES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, a)| *a)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub fn rate_headers(headers: &mut HeaderMap, d: &Decision) {
    for (name, value) in [
        ("ratelimit-limit", d.limit),
        ("ratelimit-remaining", d.remaining),
        ("ratelimit-reset", d.reset_secs as u32),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}

/// Authenticate, authorise and rate-limit; handlers then read the
/// `Principal` from the request.
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let roles = match rule(req.method(), &path) {
        Some(Access::Public) => return next.run(req).await,
        Some(Access::Roles(roles)) => roles,
        Some(Access::Page(roles)) => {
            return crate::ui::session::guard(state, roles, req, next).await
        }
        // A method the route does not have: 405, as HTTP says, listing those it has.
        None if RULES.iter().any(|(_, p, _)| *p == path) => {
            let allowed: Vec<&str> = RULES
                .iter()
                .filter(|(_, p, _)| *p == path)
                .map(|(m, _, _)| *m)
                .collect();
            let mut r = super::error::problem(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                format!("use {}", allowed.join(", ")),
                None,
            );
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return r;
        }
        None => return ApiError::Forbidden.into_response(),
    };
    let principal = match bearer(req.headers()) {
        None => {
            return ApiError::Unauthorized(
                "sign in: send Authorization: Bearer <access token>".into(),
            )
            .into_response()
        }
        Some(token) => match state.auth.authenticate(token).await {
            Ok(p) => p,
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    if !roles.contains(&principal.role) {
        return ApiError::Forbidden.into_response();
    }
    let decision = match state.auth.limit_user(&principal.user_id).await {
        Ok(d) => d,
        Err(e) => {
            state.metrics.rate_limited.inc();
            return ApiError::from(e).into_response();
        }
    };
    tracing::Span::current().record("user_id", principal.user_id.as_str());
    req.extensions_mut().insert(principal);
    let mut response = next.run(req).await;
    rate_headers(response.headers_mut(), &decision);
    response
}

/// Handlers take the signed-in user as an argument.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("a handler wants a user on a public route"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_a_bearer_scheme_yields_a_token() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def.ghi"),
        );
        assert_eq!(bearer(&h), Some("abc.def.ghi"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer   xyz "),
        );
        assert_eq!(bearer(&h), Some("xyz"));
        for bad in ["Basic abc", "Bearer", "Token x", ""] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(bearer(&h), None, "{bad}");
        }
    }

    #[test]
    fn head_follows_get_and_unknown_routes_have_no_rule() {
        assert_eq!(rule(&Method::HEAD, "/healthz"), Some(Access::Public));
        assert_eq!(rule(&Method::DELETE, "/api/v1/activity"), None);
        assert_eq!(rule(&Method::GET, "/api/v1/nothing"), None);
    }

    proptest! {
        #[test]
        fn arbitrary_authorization_headers_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(v) = HeaderValue::from_bytes(&raw) {
                let mut h = HeaderMap::new();
                h.insert(header::AUTHORIZATION, v);
                let _ = bearer(&h);
            }
        }
    }
}
