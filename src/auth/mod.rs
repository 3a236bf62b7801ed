//! Accounts and sessions: login, refresh, logout, authenticating a bearer
//! token, and managing users. Every outcome worth auditing is recorded in the
//! activity stream in the same transaction as the change.

pub mod password;
pub mod ratelimit;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use pebble_core::access::{normalize_login, Role};
use pebble_core::audit::{sha256, Actor, EventType, NewEvent};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;

use crate::audit::{Audit, AuditError};
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::users::{self, Session, User};
use crate::store::{Db, StoreError};
use ratelimit::{Decision, Limiter};
use token::Keyring;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("too many failed logins for this account; try again later")]
    LockedOut { retry_after: u64 },
    #[error("too many requests")]
    RateLimited(Decision),
    #[error("missing or invalid access token")]
    InvalidToken,
    #[error("the session has ended; sign in again")]
    SessionEnded,
    #[error("{field}: {detail}")]
    BadInput { field: &'static str, detail: String },
    #[error("a user with this email already exists")]
    Conflict,
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => AuthError::Conflict,
            StoreError::NulByte => AuthError::BadInput {
                field: "body",
                detail: "text must not contain NUL bytes".into(),
            },
            other => AuthError::Audit(AuditError::Store(other)),
        }
    }
}

/// The signed-in user behind a request.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub session_id: String,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor::user(self.user_id.clone())
    }
}

/// What a successful login or refresh returns.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// A web UI sign-in: the session cookie's value and lifetime.
#[derive(Debug)]
pub struct WebSession {
    pub token: String,
    pub max_age_secs: i64,
}

/// A user as shown to administrators (never the password hash).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            disabled: u.disabled,
        }
    }
}

/// Sessions looked up in the last moments, so that most requests cost no
/// database round trip. Another instance's revocation is seen within `TTL`.
struct Cached {
    session: Session,
    user: User,
    fetched_at: i64,
    touched_at: i64,
}

const CACHE_TTL_MICROS: i64 = 2_000_000;
/// Write `last_seen_at` at most this often per session.
const TOUCH_EVERY_MICROS: i64 = 15_000_000;

pub struct Auth {
    db: Db,
    audit: Arc<Audit>,
    clock: Arc<dyn Clock>,
    keyring: Keyring,
    limiter: Limiter,
    cache: Mutex<HashMap<String, Cached>>,
    access_ttl: i64,
    idle_micros: i64,
    max_micros: i64,
    rate_per_minute: u32,
    login_per_minute: u32,
    failures_per_hour: u32,
}

fn micros(secs: u64) -> i64 {
    (secs as i64).saturating_mul(1_000_000)
}

fn new_refresh_token() -> (String, String) {
    let token = B64URL.encode(rand::random::<[u8; 32]>());
    let hash = hex::encode(sha256(token.as_bytes()));
    (token, hash)
}

fn bad(field: &'static str, detail: impl Into<String>) -> AuthError {
    AuthError::BadInput {
        field,
        detail: detail.into(),
    }
}

impl Auth {
    pub async fn new(
        settings: &Settings,
        db: Db,
        audit: Arc<Audit>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let current = match &settings.jwt_secret {
            Some(s) => s.expose_secret().as_bytes().to_vec(),
            None => load_or_create_key(&settings.data_dir.join("keys").join("jwt.key"))?,
        };
        anyhow::ensure!(
            current.len() >= 32,
            "PEBBLE_JWT_SECRET must be at least 32 bytes"
        );
        let previous: Vec<Vec<u8>> = settings
            .jwt_previous_secrets
            .as_ref()
            .map(|s| {
                s.expose_secret()
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| k.as_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        let keyring = Keyring::new(
            &current,
            &previous,
            &settings.jwt_issuer,
            &settings.jwt_audience,
        );
        let limiter = match &settings.redis_url {
            Some(url) if !url.expose_secret().is_empty() => {
                Limiter::redis(url.expose_secret()).await?
            }
            _ => Limiter::memory(),
        };
        Ok(Auth {
            db,
            audit,
            clock,
            keyring,
            limiter,
            cache: Mutex::new(HashMap::new()),
            access_ttl: settings.access_token_ttl_secs.clamp(30, 900) as i64,
            idle_micros: micros(settings.session_idle_secs),
            max_micros: micros(settings.session_max_secs),
            rate_per_minute: settings.rate_limit_per_minute,
            login_per_minute: settings.login_rate_limit_per_minute,
            failures_per_hour: settings.login_failures_per_hour,
        })
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp_micros()
    }

    fn now_secs(&self) -> u64 {
        self.clock.now().timestamp().max(0) as u64
    }

    fn event(
        &self,
        t: EventType,
        actor: Actor,
        entity_id: &str,
        payload: serde_json::Value,
    ) -> NewEvent {
        NewEvent::new(t, actor, "user", entity_id, payload, self.clock.now())
    }

    /// Count one request of a signed-in user against the per-minute limit.
    pub async fn limit_user(&self, user_id: &str) -> Result<Decision, AuthError> {
        let d = self
            .limiter
            .hit(
                &format!("user:{user_id}"),
                self.rate_per_minute,
                60,
                self.now_secs(),
            )
            .await?;
        if d.allowed {
            Ok(d)
        } else {
            Err(AuthError::RateLimited(d))
        }
    }

    /// Sign in: per-address and per-account limits first, then the password.
    pub async fn login(&self, email: &str, password: &str, ip: &str) -> Result<Tokens, AuthError> {
        let (user_id, session_id, refresh) = self.open_session(email, password, ip).await?;
        Ok(self.tokens(&user_id, &session_id, refresh))
    }

    /// Sign in to the web UI: the same checks and the same kind of session as
    /// [`Auth::login`], carried by a cookie token that lives as long as the
    /// session may (idle expiry and revocation are enforced server-side).
    pub async fn login_web(
        &self,
        email: &str,
        password: &str,
        ip: &str,
    ) -> Result<WebSession, AuthError> {
        let (user_id, session_id, _refresh) = self.open_session(email, password, ip).await?;
        let ttl = self.max_micros / 1_000_000;
        Ok(WebSession {
            token: self.keyring.issue_typed(
                token::WEB_TOKEN_TYPE,
                &user_id,
                &session_id,
                self.now() / 1_000_000,
                ttl,
            ),
            max_age_secs: ttl,
        })
    }

    /// Resolve a web session cookie to its user (see [`Auth::authenticate`]).
    pub async fn authenticate_web(&self, cookie: &str) -> Result<Principal, AuthError> {
        let claims = self
            .keyring
            .verify_typed(cookie, self.now() / 1_000_000, token::WEB_TOKEN_TYPE)
            .map_err(|_| AuthError::InvalidToken)?;
        self.principal_for(&claims).await
    }

    async fn open_session(
        &self,
        email: &str,
        password: &str,
        ip: &str,
    ) -> Result<(String, String, String), AuthError> {
        let d = self
            .limiter
            .hit(
                &format!("login-ip:{ip}"),
                self.login_per_minute,
                60,
                self.now_secs(),
            )
            .await?;
        if !d.allowed {
            return Err(AuthError::RateLimited(d));
        }
        let attempted: String = email.chars().take(254).collect();
        let login = normalize_login(email);
        let fail_key = format!("login-fail:{}", login.as_deref().unwrap_or(&attempted));
        let (failures, reset) = self.limiter.count(&fail_key, 3600, self.now_secs()).await?;
        if self.failures_per_hour > 0 && failures >= self.failures_per_hour {
            self.record_failure(&attempted, ip, "locked_out").await?;
            return Err(AuthError::LockedOut { retry_after: reset });
        }
        let user = match &login {
            Some(l) => users::user_by_email(&self.db, l).await?,
            None => None,
        };
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| password::decoy_hash().to_owned());
        let password_ok = password::verify(password.to_owned(), hash).await;
        let user = match user {
            Some(u) if password_ok && !u.disabled => u,
            other => {
                self.limiter
                    .hit(&fail_key, u32::MAX, 3600, self.now_secs())
                    .await?;
                let reason = match other {
                    Some(u) if u.disabled && password_ok => "disabled",
                    Some(_) => "wrong_password",
                    None => "unknown_login",
                };
                self.record_failure(&attempted, ip, reason).await?;
                return Err(AuthError::InvalidCredentials);
            }
        };
        let now = self.now();
        let (refresh, refresh_hash) = new_refresh_token();
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now.saturating_add(self.max_micros),
            refresh_hash,
            revoked_at: None,
            revoke_reason: None,
        };
        let mut tx = self.db.begin().await?;
        users::insert_session(&mut tx, &session).await?;
        self.audit
            .append(
                &mut tx,
                &[self.event(
                    EventType::UserLoggedIn,
                    Actor::user(user.id.clone()),
                    &user.id,
                    json!({"user_id": user.id, "email": user.email, "ip": ip, "session_id": session.id}),
                )],
            )
            .await?;
        self.audit.commit(tx).await?;
        Ok((user.id, session.id, refresh))
    }

    async fn record_failure(
        &self,
        attempted: &str,
        ip: &str,
        reason: &str,
    ) -> Result<(), AuthError> {
        self.audit
            .record(&[self.event(
                EventType::LoginFailed,
                Actor::system("auth"),
                attempted,
                json!({"attempted_login": attempted, "ip": ip, "reason": reason}),
            )])
            .await?;
        Ok(())
    }

    fn tokens(&self, user_id: &str, session_id: &str, refresh_token: String) -> Tokens {
        Tokens {
            access_token: self.keyring.issue(
                user_id,
                session_id,
                self.now() / 1_000_000,
                self.access_ttl,
            ),
            refresh_token,
            token_type: "Bearer",
            expires_in: self.access_ttl,
        }
    }

    /// A new access token and a new refresh token for a live session; the old
    /// refresh token stops working.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, AuthError> {
        if refresh_token.is_empty() || refresh_token.len() > 200 {
            return Err(AuthError::InvalidToken);
        }
        let old_hash = hex::encode(sha256(refresh_token.as_bytes()));
        let session = users::session_by_refresh(&self.db, &old_hash)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        self.check_alive(&session).await?;
        let user = users::user_by_id(&self.db, &session.user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if user.disabled {
            return Err(AuthError::SessionEnded);
        }
        let (refresh, new_hash) = new_refresh_token();
        let mut tx = self.db.begin().await?;
        if !users::rotate_refresh(&mut tx, &session.id, &old_hash, &new_hash, self.now()).await? {
            return Err(AuthError::InvalidToken);
        }
        tx.commit().await?;
        self.forget(&session.id);
        Ok(self.tokens(&user.id, &session.id, refresh))
    }

    pub async fn logout(&self, p: &Principal) -> Result<(), AuthError> {
        self.end_session(&p.session_id, &p.user_id, "logout").await
    }

    /// Ends the session and records why, unless it had already ended.
    async fn end_session(
        &self,
        session_id: &str,
        user_id: &str,
        reason: &str,
    ) -> Result<(), AuthError> {
        let mut tx = self.db.begin().await?;
        if users::revoke_session(&mut tx, session_id, self.now(), reason).await? {
            self.audit
                .append(
                    &mut tx,
                    &[self.event(
                        EventType::SessionExpired,
                        Actor::system("auth"),
                        user_id,
                        json!({"user_id": user_id, "session_id": session_id, "reason": reason}),
                    )],
                )
                .await?;
        }
        self.audit.commit(tx).await?;
        self.forget(session_id);
        Ok(())
    }

    /// Dead sessions are ended (and recorded) on first sight.
    async fn check_alive(&self, s: &Session) -> Result<(), AuthError> {
        if s.revoked_at.is_some() {
            return Err(AuthError::SessionEnded);
        }
        let now = self.now();
        let reason = if now >= s.expires_at {
            "absolute_lifetime"
        } else if now - s.last_seen_at > self.idle_micros {
            "idle"
        } else {
            return Ok(());
        };
        self.end_session(&s.id, &s.user_id, reason).await?;
        Err(AuthError::SessionEnded)
    }

    fn forget(&self, session_id: &str) {
        self.cache.lock().expect("cache lock").remove(session_id);
    }

    fn forget_user(&self, user_id: &str) {
        self.cache
            .lock()
            .expect("cache lock")
            .retain(|_, c| c.user.id != user_id);
    }

    /// Resolve a bearer token to its user: a valid signature, a live session
    /// and an enabled user, all three.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let claims = self
            .keyring
            .verify(bearer, self.now() / 1_000_000)
            .map_err(|_| AuthError::InvalidToken)?;
        self.principal_for(&claims).await
    }

    async fn principal_for(&self, claims: &token::Claims) -> Result<Principal, AuthError> {
        let now = self.now();
        let cached = {
            let cache = self.cache.lock().expect("cache lock");
            cache
                .get(&claims.sid)
                .filter(|c| now - c.fetched_at < CACHE_TTL_MICROS)
                .map(|c| {
                    (
                        c.session.clone(),
                        c.user.clone(),
                        c.touched_at,
                        c.fetched_at,
                    )
                })
        };
        let (mut session, user, touched_at, fetched_at) = match cached {
            Some(c) => c,
            None => {
                let s = users::session(&self.db, &claims.sid)
                    .await?
                    .ok_or(AuthError::InvalidToken)?;
                let u = users::user_by_id(&self.db, &s.user_id)
                    .await?
                    .ok_or(AuthError::InvalidToken)?;
                let touched = s.last_seen_at;
                (s, u, touched, now)
            }
        };
        if session.user_id != claims.sub {
            return Err(AuthError::InvalidToken);
        }
        self.check_alive(&session).await?;
        if user.disabled {
            return Err(AuthError::SessionEnded);
        }
        let role: Role = user
            .role
            .parse()
            .map_err(|e| AuthError::Other(anyhow::anyhow!("{e}")))?;
        session.last_seen_at = now;
        let touched_at = if now - touched_at >= TOUCH_EVERY_MICROS {
            users::touch_session(&self.db, &session.id, now).await?;
            now
        } else {
            touched_at
        };
        let principal = Principal {
            user_id: user.id.clone(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            role,
            session_id: session.id.clone(),
        };
        self.cache.lock().expect("cache lock").insert(
            session.id.clone(),
            Cached {
                session,
                user,
                fetched_at,
                touched_at,
            },
        );
        Ok(principal)
    }

    /// Create a user; the password must meet the policy.
    pub async fn create_user(
        &self,
        actor: Actor,
        email: &str,
        display_name: &str,
        role: Role,
        password: &str,
    ) -> Result<UserView, AuthError> {
        let email =
            normalize_login(email).ok_or_else(|| bad("email", "is not an email address"))?;
        let display_name = display_name.trim();
        if display_name.chars().count() > 200 {
            return Err(bad("display_name", "longer than 200 characters"));
        }
        password::check_policy(password).map_err(|d| bad("password", d))?;
        let now = self.now();
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            display_name: if display_name.is_empty() {
                email.clone()
            } else {
                display_name.to_owned()
            },
            email,
            role: role.as_str().to_owned(),
            password_hash: password::hash(password.to_owned()).await?,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        users::insert_user(&mut tx, &user).await?;
        self.audit
            .append(
                &mut tx,
                &[self.event(
                    EventType::UserCreated,
                    actor,
                    &user.id,
                    json!({"user_id": user.id, "email": user.email, "role": user.role}),
                )],
            )
            .await?;
        self.audit.commit(tx).await?;
        Ok(user.into())
    }

    /// Change a role; the user's sessions end so the new role applies at once.
    pub async fn set_role(
        &self,
        actor: Actor,
        user_id: &str,
        role: Role,
    ) -> Result<UserView, AuthError> {
        let before = users::user_by_id(&self.db, user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        users::set_role(&mut tx, user_id, role.as_str(), now).await?;
        users::revoke_user_sessions(&mut tx, user_id, now, "role_changed").await?;
        self.audit
            .append(
                &mut tx,
                &[self.event(
                    EventType::RoleChanged,
                    actor,
                    user_id,
                    json!({"user_id": user_id, "role": role.as_str(), "previous_role": before.role}),
                )],
            )
            .await?;
        self.audit.commit(tx).await?;
        self.forget_user(user_id);
        Ok(users::user_by_id(&self.db, user_id)
            .await?
            .ok_or(AuthError::NotFound)?
            .into())
    }

    /// Disable a user and end every session they have.
    pub async fn disable(&self, actor: Actor, user_id: &str) -> Result<UserView, AuthError> {
        let user = users::user_by_id(&self.db, user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        users::set_disabled(&mut tx, user_id, now).await?;
        users::revoke_user_sessions(&mut tx, user_id, now, "user_disabled").await?;
        self.audit
            .append(
                &mut tx,
                &[self.event(
                    EventType::UserDisabled,
                    actor,
                    user_id,
                    json!({"user_id": user_id, "role": user.role}),
                )],
            )
            .await?;
        self.audit.commit(tx).await?;
        self.forget_user(user_id);
        Ok(users::user_by_id(&self.db, user_id)
            .await?
            .ok_or(AuthError::NotFound)?
            .into())
    }

    pub async fn list_users(&self) -> Result<Vec<UserView>, AuthError> {
        Ok(users::list_users(&self.db)
            .await?
            .into_iter()
            .map(UserView::from)
            .collect())
    }

    /// Find a user by id or by email.
    pub async fn find_user(&self, id_or_email: &str) -> Result<UserView, AuthError> {
        let by_email = match normalize_login(id_or_email) {
            Some(e) => users::user_by_email(&self.db, &e).await?,
            None => None,
        };
        match by_email {
            Some(u) => Ok(u.into()),
            None => Ok(users::user_by_id(&self.db, id_or_email)
                .await?
                .ok_or(AuthError::NotFound)?
                .into()),
        }
    }

    /// On a database without users, create the first administrator. Returns
    /// the generated password when none was configured, to be shown once.
    pub async fn ensure_admin(
        &self,
        email: &str,
        configured: Option<&str>,
    ) -> Result<Option<String>, AuthError> {
        if users::count_users(&self.db).await? > 0 {
            return Ok(None);
        }
        let generated = configured
            .is_none()
            .then(|| B64URL.encode(rand::random::<[u8; 18]>()));
        let password = configured
            .or(generated.as_deref())
            .expect("one of the two is set");
        match self
            .create_user(
                Actor::system("bootstrap"),
                email,
                "Administrator",
                Role::Admin,
                password,
            )
            .await
        {
            // Another instance bootstrapped first.
            Err(AuthError::Conflict) => Ok(None),
            Err(e) => Err(e),
            Ok(_) => Ok(generated),
        }
    }
}

/// Read the HMAC key from its file, creating a random one on first use.
fn load_or_create_key(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let text = crate::keyfile::read_or_create(path, || B64URL.encode(rand::random::<[u8; 32]>()))?;
    Ok(B64URL.decode(text)?)
}
