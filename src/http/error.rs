//! The one HTTP error type. Every failure leaves as `application/problem+json`
//! (RFC 9457) with a status, a title and a safe detail; internals are logged
//! with the request's span, never sent.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::audit::AuditError;
use crate::auth::ratelimit::Decision;
use crate::auth::AuthError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Input that does not parse; names the offending field.
    #[error("{field}: {detail}")]
    BadRequest { field: String, detail: String },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("too many requests")]
    TooManyRequests {
        detail: String,
        decision: Option<Decision>,
        retry_after: u64,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::NulByte => ApiError::bad("body", "text must not contain NUL bytes"),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Store(s) => s.into(),
            AuditError::NoSuchEvent(_) => ApiError::NotFound,
            AuditError::AppenderStopped => {
                ApiError::Unavailable(AuditError::AppenderStopped.to_string())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::Unauthorized(e.to_string()),
            AuthError::InvalidToken | AuthError::SessionEnded => {
                ApiError::Unauthorized(e.to_string())
            }
            AuthError::LockedOut { retry_after } => ApiError::TooManyRequests {
                detail: e.to_string(),
                decision: None,
                retry_after,
            },
            AuthError::RateLimited(d) => ApiError::TooManyRequests {
                detail: "rate limit exceeded".into(),
                decision: Some(d),
                retry_after: d.reset_secs.max(1),
            },
            AuthError::BadInput { field, detail } => ApiError::bad(field, detail),
            AuthError::Conflict => ApiError::Conflict(e.to_string()),
            AuthError::NotFound => ApiError::NotFound,
            AuthError::Audit(a) => a.into(),
            AuthError::Other(o) => ApiError::Internal(o),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

pub fn problem(
    status: StatusCode,
    title: &'static str,
    detail: String,
    field: Option<String>,
) -> Response {
    let body = Problem {
        kind: "about:blank",
        title,
        status: status.as_u16(),
        detail,
        field,
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        serde_json::to_string(&body).unwrap_or_default(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest { field, detail } => problem(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                format!("{field}: {detail}"),
                Some(field),
            ),
            ApiError::Unauthorized(d) => {
                let mut r = problem(StatusCode::UNAUTHORIZED, "Unauthorized", d, None);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                r
            }
            ApiError::Forbidden => problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "your role may not do this".into(),
                None,
            ),
            ApiError::NotFound => problem(
                StatusCode::NOT_FOUND,
                "Not Found",
                "no such resource".into(),
                None,
            ),
            ApiError::UnsupportedMediaType => problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                "send Content-Type: application/json".into(),
                None,
            ),
            ApiError::TooManyRequests {
                detail,
                decision,
                retry_after,
            } => {
                let mut r = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too Many Requests",
                    detail,
                    None,
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
                if let Some(d) = decision {
                    super::guard::rate_headers(r.headers_mut(), &d);
                }
                r
            }
            ApiError::Conflict(d) => problem(StatusCode::CONFLICT, "Conflict", d, None),
            ApiError::Unavailable(d) => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                d,
                None,
            ),
            ApiError::Internal(e) => {
                // The request span carries the id that links this line to the client's response.
                tracing::error!(error = %format!("{e:#}"), "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                    "an internal error occurred; it has been logged".into(),
                    None,
                )
            }
        }
    }
}
