//! Signing in to the web UI and guarding its pages.
//!
//! The session is the API's session (same table, same idle and absolute
//! expiry, same revocation on logout, role change or disable); the browser
//! holds it in an HttpOnly, SameSite=Strict cookie (Secure under TLS) that
//! carries a `web`-typed token, which the API refuses as a bearer token.
//! Every form post carries a CSRF token derived from that cookie, checked
//! here for every page route, so no handler can forget it.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Form;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use maud::html;
use pebble_core::access::Role;
use serde::Deserialize;

use super::{bare_page, html_response, Csrf};
use crate::auth::AuthError;
use crate::http::AppState;

pub const SESSION_COOKIE: &str = "pebble_session";
/// Double-submit token of the login form (there is no session yet to bind it to).
const LOGIN_COOKIE: &str = "pebble_login";
pub const CSRF_FIELD: &str = "csrf";
const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session: a one-way digest of its cookie, so a page
/// that shows it reveals nothing that signs in.
pub fn csrf_for(cookie: &str) -> String {
    let mut input = b"pebble-csrf\0".to_vec();
    input.extend_from_slice(cookie.as_bytes());
    B64URL.encode(pebble_core::audit::sha256(&input))
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// TLS is terminated in front of Pebble, so the proxy's word (or the
/// setting) decides; a forged header can only make the cookie stricter.
fn over_tls(state: &AppState, headers: &HeaderMap) -> bool {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
        || headers
            .get(header::FORWARDED)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    state.settings.web_cookie_secure || forwarded_https
}

fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie values are base64url and JWT characters")
}

/// Where to go after signing in: only a path on this site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.starts_with("/login")
                && n.len() <= 512
                && !n.chars().any(|c| c.is_control()) =>
        {
            n
        }
        _ => "/",
    }
}

fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}

fn to_login(req: &Request) -> Response {
    if req.method() == Method::GET {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        if target == "/" {
            return see_other("/login");
        }
        let next: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        see_other(&format!("/login?next={next}"))
    } else {
        see_other("/login")
    }
}

fn refusal(status: StatusCode, title: &str, detail: &str) -> Response {
    html_response(
        status,
        bare_page(
            title,
            html! {
                p { (detail) }
                p { a href="/" { "Back to Pebble" } }
            },
        ),
    )
}

/// Authenticate from the cookie, authorise against the page's roles,
/// rate-limit like the API, and check the CSRF token of a form post.
pub async fn guard(
    state: AppState,
    roles: &'static [Role],
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = cookie(req.headers(), SESSION_COOKIE).map(str::to_owned) else {
        return to_login(&req);
    };
    let principal = match state.auth.authenticate_web(&token).await {
        Ok(p) => p,
        Err(AuthError::InvalidToken | AuthError::SessionEnded) => return to_login(&req),
        Err(e) => return super::UiError::from(e).into_response(),
    };
    if !roles.contains(&principal.role) {
        return refusal(
            StatusCode::FORBIDDEN,
            "Not for your role",
            "Your role may not open this page. Ask an administrator if you need it.",
        );
    }
    if let Err(e) = state.auth.limit_user(&principal.user_id).await {
        state.metrics.rate_limited.inc();
        return super::UiError::from(e).into_response();
    }
    let csrf = csrf_for(&token);
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site");
        if cross_site {
            return refusal(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form was sent from another site.",
            );
        }
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, state.settings.max_body_bytes).await {
            Ok(b) => b,
            Err(_) => {
                return refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Too large",
                    "The form is larger than Pebble accepts.",
                )
            }
        };
        let from_header = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let sent = from_header.or_else(|| {
            url::form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned())
        });
        if !sent.is_some_and(|s| equal(&s, &csrf)) {
            return refusal(
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form's security token is missing or stale. Go back, reload the page and try again.",
            );
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    tracing::Span::current().record("user_id", principal.user_id.as_str());
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(Csrf(csrf));
    next.run(req).await
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    ended: Option<String>,
}

fn login_page(
    token: &str,
    next: &str,
    email: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> maud::Markup {
    bare_page(
        "Sign in",
        html! {
            div.login {
                @if let Some(e) = error { p.flash.error role="alert" { (e) } }
                @if let Some(n) = notice { p.flash.ok role="status" { (n) } }
                form.stack method="post" action="/login" {
                    input type="hidden" name=(CSRF_FIELD) value=(token);
                    input type="hidden" name="next" value=(next);
                    div {
                        label for="email" { "Email" }
                        input #email type="email" name="email" autocomplete="username" required
                            maxlength="254" value=(email) autofocus;
                    }
                    div {
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password"
                            required maxlength="1024";
                    }
                    div { button type="submit" { "Sign in" } }
                }
            }
        },
    )
}

fn login_response(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let token = B64URL.encode(rand::random::<[u8; 24]>());
    let mut r = html_response(status, login_page(&token, next, email, error, notice));
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &token,
            "/login",
            3600,
            over_tls(state, headers),
        ),
    );
    r
}

/// `GET /login`: the form, or straight on when already signed in.
pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref()).to_owned();
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if state.auth.authenticate_web(token).await.is_ok() {
            return see_other(&next);
        }
    }
    let notice = q.ended.is_some().then_some("You have signed out.");
    login_response(&state, &headers, StatusCode::OK, &next, "", None, notice)
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    #[serde(default)]
    next: String,
    email: String,
    password: String,
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(Some(&form.next)).to_owned();
    let email: String = form.email.chars().take(254).collect();
    let fail = |status: StatusCode, message: &str| {
        login_response(&state, &headers, status, &next, &email, Some(message), None)
    };
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| equal(c, &form.csrf)) {
        return fail(
            StatusCode::FORBIDDEN,
            "The sign-in form expired. Please try again.",
        );
    }
    if form.password.len() > 1024 || form.email.len() > 254 {
        return fail(StatusCode::BAD_REQUEST, "Email or password too long.");
    }
    match state
        .auth
        .login_web(&form.email, &form.password, &peer.ip().to_string())
        .await
    {
        Ok(session) => {
            let secure = over_tls(&state, &headers);
            let mut r = see_other(&next);
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &session.token,
                    "/",
                    session.max_age_secs,
                    secure,
                ),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", "/login", 0, secure),
            );
            r
        }
        Err(AuthError::InvalidCredentials) => {
            fail(StatusCode::UNAUTHORIZED, "Wrong email or password.")
        }
        Err(AuthError::LockedOut { .. }) => fail(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins for this account; try again later.",
        ),
        Err(AuthError::RateLimited(_)) => fail(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts from your address; wait a minute.",
        ),
        Err(e) => super::UiError::from(e).into_response(),
    }
}

/// `POST /logout`: ends the session everywhere it is used.
pub async fn logout(
    State(state): State<AppState>,
    ctx: super::Ctx,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = state.auth.logout(&ctx.principal).await {
        return super::UiError::from(e).into_response();
    }
    let mut r = see_other("/login?ended=1");
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", 0, over_tls(&state, &headers)),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/leads?stage=won")), "/leads?stage=won");
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "/login?next=/x",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; pebble_session_x=2; pebble_session=abc.def"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc.def"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn the_csrf_token_depends_on_the_session_and_compares_exactly() {
        let a = csrf_for("cookie-a");
        assert_eq!(a, csrf_for("cookie-a"));
        assert_ne!(a, csrf_for("cookie-b"));
        assert!(equal(&a, &a.clone()));
        assert!(!equal(&a, &a[1..]));
    }
}
