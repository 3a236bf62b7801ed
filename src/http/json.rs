//! JSON request bodies: problem+json on every failure, naming the field, and
//! NUL bytes refused in any string (PostgreSQL cannot store them; SQLite
//! would, so the two backends would otherwise disagree).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use super::ApiError;

pub struct Json<T>(pub T);

fn find_nul(v: &serde_json::Value, path: &mut String) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, x)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = find_nul(x, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        serde_json::Value::Object(map) => map.iter().any(|(k, x)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let found = k.contains('\0') || find_nul(x, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        _ => false,
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad("body", e.body_text()))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad("body", format!("invalid JSON: {e}")))?;
        let mut path = String::new();
        if find_nul(&value, &mut path) {
            let field = if path.is_empty() {
                "body".to_owned()
            } else {
                path
            };
            return Err(ApiError::bad(field, "must not contain NUL bytes"));
        }
        serde_path_to_error::deserialize(value)
            .map(Json)
            .map_err(|e| {
                let field = e.path().to_string();
                let field = if field == "." {
                    "body".to_owned()
                } else {
                    field
                };
                ApiError::bad(field, e.into_inner().to_string())
            })
    }
}
