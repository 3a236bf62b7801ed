//! Query-string parsing shared by the list routes: unknown parameters are
//! errors (a misspelt filter must not silently match everything), values
//! are bounded and NUL-free, and keyset cursors are opaque.

use std::collections::HashMap;

use base64::Engine;

use super::ApiError;

/// Refuse any parameter not in `known`.
pub fn only(q: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad(k.clone(), "unknown parameter")),
        None => Ok(()),
    }
}

/// A parameter's value: absent, or 1 to `max` bytes without NUL.
pub fn param<'a>(
    q: &'a HashMap<String, String>,
    k: &str,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match q.get(k) {
        None => Ok(None),
        Some(v) if v.is_empty() => Err(ApiError::bad(k, "must not be empty")),
        Some(v) if v.contains('\0') => Err(ApiError::bad(k, "must not contain NUL bytes")),
        Some(v) if v.len() > max => Err(ApiError::bad(k, format!("longer than {max} bytes"))),
        Some(v) => Ok(Some(v.as_str())),
    }
}

/// `limit`: 1 to 200, `default` when absent.
pub fn limit(q: &HashMap<String, String>, default: i64) -> Result<i64, ApiError> {
    match param(q, "limit", 8)? {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| ApiError::bad("limit", "must be an integer from 1 to 200")),
    }
}

/// An opaque cursor for a `(time, id)` keyset.
pub fn encode_keyset(at: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::json!([at, id]).to_string())
}

/// The `(time, id)` of a cursor from [`encode_keyset`], or a clear error.
pub fn decode_keyset(text: &str) -> Result<(i64, String), ApiError> {
    let wrong = || ApiError::bad("cursor", "not a cursor from this list");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| wrong())?;
    let (at, id): (i64, String) = serde_json::from_slice(&bytes).map_err(|_| wrong())?;
    if id.contains('\0') {
        return Err(wrong());
    }
    Ok((at, id))
}
