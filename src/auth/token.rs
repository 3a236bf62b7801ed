//! Access tokens: HS256 JWTs bound to a server-side session. The algorithm is
//! pinned (no `none`, nothing asymmetric to confuse), the key is chosen by
//! `kid` from configuration only, and `iss`, `aud`, `typ`, `nbf`, `exp` are all
//! checked — the time checks against Pebble's clock so tests can move it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const TOKEN_TYPE: &str = "access";
/// The web UI's session cookie: bound to the same server-side session, but
/// never accepted as a bearer token (nor an access token as a cookie).
pub const WEB_TOKEN_TYPE: &str = "web";
/// Tolerated clock difference between instances, in seconds.
const LEEWAY: i64 = 30;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub typ: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not allowed")]
    Algorithm,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature or claims")]
    Invalid,
    #[error("wrong token type")]
    WrongType,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token expired")]
    Expired,
}

struct Key {
    kid: String,
    decoding: DecodingKey,
}

pub struct Keyring {
    kid: String,
    encoding: EncodingKey,
    keys: Vec<Key>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A key's public name: it reveals nothing about the key.
pub fn key_id(secret: &[u8]) -> String {
    hex::encode(&pebble_core::audit::sha256(secret)[..8])
}

impl Keyring {
    /// `current` signs; `previous` keys still verify during a rotation.
    pub fn new(current: &[u8], previous: &[Vec<u8>], issuer: &str, audience: &str) -> Self {
        let mut keys = vec![Key {
            kid: key_id(current),
            decoding: DecodingKey::from_secret(current),
        }];
        keys.extend(previous.iter().map(|k| Key {
            kid: key_id(k),
            decoding: DecodingKey::from_secret(k),
        }));
        Keyring {
            kid: key_id(current),
            encoding: EncodingKey::from_secret(current),
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    pub fn issue(&self, user_id: &str, session_id: &str, now: i64, ttl: i64) -> String {
        self.issue_typed(TOKEN_TYPE, user_id, session_id, now, ttl)
    }

    pub fn issue_typed(
        &self,
        typ: &str,
        user_id: &str,
        session_id: &str,
        now: i64,
        ttl: i64,
    ) -> String {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            typ: typ.to_owned(),
            iat: now,
            nbf: now,
            exp: now + ttl,
            jti: B64URL.encode(rand::random::<[u8; 12]>()),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// Check a token at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        self.verify_typed(token, now, TOKEN_TYPE)
    }

    /// Check a token of type `typ` at `now` (Unix seconds).
    pub fn verify_typed(&self, token: &str, now: i64, typ: &str) -> Result<Claims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Time is checked below against the injected clock.
        v.validate_exp = false;
        v.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &v)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.typ != typ {
            return Err(TokenError::WrongType);
        }
        if claims.nbf > now + LEEWAY {
            return Err(TokenError::NotYetValid);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring() -> Keyring {
        Keyring::new(
            b"0123456789abcdef0123456789abcdef",
            &[],
            "pebble",
            "pebble-api",
        )
    }

    fn forge(header: &str, claims: &serde_json::Value, key: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let h = B64URL.encode(header);
        let c = B64URL.encode(claims.to_string());
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{h}.{c}").as_bytes());
        format!("{h}.{c}.{}", B64URL.encode(mac.finalize().into_bytes()))
    }

    fn claims(now: i64) -> serde_json::Value {
        serde_json::json!({"iss": "pebble", "aud": "pebble-api", "sub": "u", "sid": "s", "typ": "access",
                           "iat": now, "nbf": now, "exp": now + 600, "jti": "j"})
    }

    #[test]
    fn a_fresh_token_verifies_and_expires_on_time() {
        let r = ring();
        let t = r.issue("u1", "s1", 1000, 600);
        let c = r.verify(&t, 1000).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str()), ("u1", "s1"));
        assert_eq!(r.verify(&t, 1599).map(|c| c.exp), Ok(1600));
        assert_eq!(r.verify(&t, 1600), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_from_the_future_is_not_yet_valid() {
        let r = ring();
        let t = r.issue("u1", "s1", 10_000, 600);
        assert_eq!(r.verify(&t, 9_000), Err(TokenError::NotYetValid));
    }

    #[test]
    fn alg_none_and_asymmetric_algorithms_are_refused() {
        let r = ring();
        let kid = key_id(b"0123456789abcdef0123456789abcdef");
        let body = B64URL.encode(claims(1000).to_string());
        let none = format!(
            "{}.{body}.",
            B64URL.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#))
        );
        assert!(matches!(
            r.verify(&none, 1000),
            Err(TokenError::Malformed | TokenError::Algorithm)
        ));
        let rs = forge(
            &format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{kid}"}}"#),
            &claims(1000),
            b"0123456789abcdef0123456789abcdef",
        );
        assert_eq!(r.verify(&rs, 1000), Err(TokenError::Algorithm));
    }

    #[test]
    fn a_web_cookie_token_is_no_bearer_token_and_the_reverse() {
        let r = ring();
        let web = r.issue_typed(WEB_TOKEN_TYPE, "u1", "s1", 1000, 3600);
        assert_eq!(r.verify(&web, 1000), Err(TokenError::WrongType));
        assert_eq!(
            r.verify_typed(&web, 1000, WEB_TOKEN_TYPE).map(|c| c.sid),
            Ok("s1".to_owned())
        );
        let access = r.issue("u1", "s1", 1000, 600);
        assert_eq!(
            r.verify_typed(&access, 1000, WEB_TOKEN_TYPE),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn wrong_key_audience_issuer_type_and_tampering_are_refused() {
        let r = ring();
        let kid = key_id(b"0123456789abcdef0123456789abcdef");
        let header = format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#);
        let good = forge(&header, &claims(1000), b"0123456789abcdef0123456789abcdef");
        assert!(r.verify(&good, 1000).is_ok());
        assert_eq!(
            r.verify(
                &forge(&header, &claims(1000), b"another key another key another!"),
                1000
            ),
            Err(TokenError::Invalid)
        );
        let mut c = claims(1000);
        c["aud"] = "someone-else".into();
        assert_eq!(
            r.verify(
                &forge(&header, &c, b"0123456789abcdef0123456789abcdef"),
                1000
            ),
            Err(TokenError::Invalid)
        );
        let mut c = claims(1000);
        c["iss"] = "evil".into();
        assert_eq!(
            r.verify(
                &forge(&header, &c, b"0123456789abcdef0123456789abcdef"),
                1000
            ),
            Err(TokenError::Invalid)
        );
        let mut c = claims(1000);
        c["typ"] = "refresh".into();
        assert_eq!(
            r.verify(
                &forge(&header, &c, b"0123456789abcdef0123456789abcdef"),
                1000
            ),
            Err(TokenError::WrongType)
        );
        let unknown_kid = forge(
            r#"{"alg":"HS256","kid":"ffffffffffffffff"}"#,
            &claims(1000),
            b"0123456789abcdef0123456789abcdef",
        );
        assert_eq!(r.verify(&unknown_kid, 1000), Err(TokenError::UnknownKey));
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = B64URL.encode(claims(1000).to_string().replace("\"u\"", "\"admin\""));
        assert_eq!(r.verify(&parts.join("."), 1000), Err(TokenError::Invalid));
    }

    #[test]
    fn a_rotated_key_still_verifies_by_kid_until_dropped() {
        let old = ring();
        let t = old.issue("u", "s", 1000, 600);
        let rotated = Keyring::new(
            b"a brand new key, thirty-two bytes",
            &[b"0123456789abcdef0123456789abcdef".to_vec()],
            "pebble",
            "pebble-api",
        );
        assert!(rotated.verify(&t, 1000).is_ok());
        let dropped = Keyring::new(
            b"a brand new key, thirty-two bytes",
            &[],
            "pebble",
            "pebble-api",
        );
        assert_eq!(dropped.verify(&t, 1000), Err(TokenError::UnknownKey));
    }

    proptest! {
        #[test]
        fn arbitrary_bearer_strings_never_verify_or_panic(s in ".{0,300}") {
            prop_assert!(ring().verify(&s, 1000).is_err());
        }

        #[test]
        fn any_single_byte_change_to_a_token_is_refused(i in 0usize..200, b in any::<u8>()) {
            let r = ring();
            let t = r.issue("u1", "s1", 1000, 600);
            let mut bytes = t.clone().into_bytes();
            let i = i % bytes.len();
            prop_assume!(bytes[i] != b);
            bytes[i] = b;
            if let Ok(s) = String::from_utf8(bytes) {
                // Base64 padding bits can absorb a change of the last character only.
                if r.verify(&s, 1000).is_ok() {
                    prop_assert_eq!(i, t.len() - 1);
                }
            }
        }
    }
}
