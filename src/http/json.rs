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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // the fields exist to be parsed
    struct Login {
        email: String,
        password: String,
    }

    fn request(body: Vec<u8>) -> Request {
        Request::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body))
            .unwrap()
    }

    async fn parse(body: Vec<u8>) -> Result<Json<Login>, ApiError> {
        Json::<Login>::from_request(request(body), &()).await
    }

    #[tokio::test]
    async fn a_nul_byte_anywhere_is_named_by_its_path() {
        let err = parse(br#"{"email":"a\u0000","password":"x"}"#.to_vec())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, ApiError::BadRequest { ref field, .. } if field == "email"),
            "{err:?}"
        );
        let err = parse(br#"{"email":1,"password":"x"}"#.to_vec())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, ApiError::BadRequest { ref field, .. } if field == "email"),
            "{err:?}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_are_refused_cleanly_never_panicking(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let result = rt.block_on(parse(body));
            let clean = matches!(result, Ok(_) | Err(ApiError::BadRequest { .. }));
            prop_assert!(clean, "unexpected outcome");
        }

        #[test]
        fn json_shaped_bodies_with_arbitrary_strings_never_panic(email in ".*", password in ".*", extra in proptest::option::of(".*")) {
            let mut v = serde_json::json!({"email": email, "password": password});
            if let Some(e) = extra {
                v[e] = serde_json::json!(true);
            }
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let result = rt.block_on(parse(v.to_string().into_bytes()));
            let clean = matches!(result, Ok(_) | Err(ApiError::BadRequest { .. }));
            prop_assert!(clean, "unexpected outcome");
        }
    }
}
