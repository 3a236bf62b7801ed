//! Users and sessions SQL.

use sqlx::FromRow;

use super::{check_text, on_db, on_tx, refused, Db, StoreError, Tx};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub refresh_hash: String,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
}

pub async fn insert_user(tx: &mut Tx, u: &User) -> Result<(), StoreError> {
    check_text(&u.email)?;
    check_text(&u.display_name)?;
    on_tx!(tx, |c| {
        sqlx::query(
        "insert into users (id, email, display_name, role, password_hash, disabled, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(&u.id)
    .bind(&u.email)
    .bind(&u.display_name)
    .bind(&u.role)
    .bind(&u.password_hash)
    .bind(u.disabled)
    .bind(u.created_at)
    .bind(u.updated_at)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?
    });
    Ok(())
}

async fn one_user(db: &Db, sql: &str, key: &str) -> Result<Option<User>, StoreError> {
    on_db!(db, |p| {
        let row = sqlx::query(sql).bind(key).fetch_optional(p).await?;
        Ok(row.map(|r| User::from_row(&r)).transpose()?)
    })
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<User>, StoreError> {
    one_user(db, "select * from users where email = $1", email).await
}

pub async fn user_by_id(db: &Db, id: &str) -> Result<Option<User>, StoreError> {
    one_user(db, "select * from users where id = $1", id).await
}

pub async fn list_users(db: &Db) -> Result<Vec<User>, StoreError> {
    on_db!(db, |p| {
        let rows = sqlx::query("select * from users order by email")
            .fetch_all(p)
            .await?;
        Ok(rows.iter().map(User::from_row).collect::<Result<_, _>>()?)
    })
}

pub async fn count_users(db: &Db) -> Result<i64, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar("select count(*) from users")
        .fetch_one(p)
        .await?))
}

/// Returns whether a user with that id exists.
pub async fn set_role(tx: &mut Tx, id: &str, role: &str, now: i64) -> Result<bool, StoreError> {
    on_tx!(tx, |c| Ok(sqlx::query(
        "update users set role = $1, updated_at = $2 where id = $3"
    )
    .bind(role)
    .bind(now)
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected()
        == 1))
}

pub async fn set_disabled(tx: &mut Tx, id: &str, now: i64) -> Result<bool, StoreError> {
    on_tx!(tx, |c| Ok(sqlx::query(
        "update users set disabled = true, updated_at = $1 where id = $2"
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected()
        == 1))
}

pub async fn insert_session(tx: &mut Tx, s: &Session) -> Result<(), StoreError> {
    on_tx!(tx, |c| sqlx::query(
        "insert into sessions (id, user_id, created_at, last_seen_at, expires_at, refresh_hash) \
         values ($1, $2, $3, $4, $5, $6)"
    )
    .bind(&s.id)
    .bind(&s.user_id)
    .bind(s.created_at)
    .bind(s.last_seen_at)
    .bind(s.expires_at)
    .bind(&s.refresh_hash)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

pub async fn session(db: &Db, id: &str) -> Result<Option<Session>, StoreError> {
    on_db!(db, |p| {
        let row = sqlx::query("select * from sessions where id = $1")
            .bind(id)
            .fetch_optional(p)
            .await?;
        Ok(row.map(|r| Session::from_row(&r)).transpose()?)
    })
}

pub async fn session_by_refresh(
    db: &Db,
    refresh_hash: &str,
) -> Result<Option<Session>, StoreError> {
    on_db!(db, |p| {
        let row = sqlx::query("select * from sessions where refresh_hash = $1")
            .bind(refresh_hash)
            .fetch_optional(p)
            .await?;
        Ok(row.map(|r| Session::from_row(&r)).transpose()?)
    })
}

/// Record activity; never moves `last_seen_at` backwards (instances may race).
pub async fn touch_session(db: &Db, id: &str, now: i64) -> Result<(), StoreError> {
    on_db!(db, |p| {
        sqlx::query(
        "update sessions set last_seen_at = $1 where id = $2 and last_seen_at < $1 and revoked_at is null"
    )
    .bind(now)
    .bind(id)
    .execute(p)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// Swap the refresh token, only if the presented one is still current: a
/// replayed (already rotated) refresh token finds nothing to swap.
pub async fn rotate_refresh(
    tx: &mut Tx,
    id: &str,
    old: &str,
    new: &str,
    now: i64,
) -> Result<bool, StoreError> {
    on_tx!(tx, |c| Ok(sqlx::query(
        "update sessions set refresh_hash = $1, last_seen_at = $2 \
         where id = $3 and refresh_hash = $4 and revoked_at is null"
    )
    .bind(new)
    .bind(now)
    .bind(id)
    .bind(old)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected()
        == 1))
}

pub async fn revoke_session(
    tx: &mut Tx,
    id: &str,
    now: i64,
    reason: &str,
) -> Result<bool, StoreError> {
    on_tx!(tx, |c| {
        Ok(sqlx::query(
        "update sessions set revoked_at = $1, revoke_reason = $2 where id = $3 and revoked_at is null"
    )
    .bind(now)
    .bind(reason)
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected()
        == 1)
    })
}

pub async fn revoke_user_sessions(
    tx: &mut Tx,
    user_id: &str,
    now: i64,
    reason: &str,
) -> Result<u64, StoreError> {
    on_tx!(tx, |c| {
        Ok(sqlx::query(
        "update sessions set revoked_at = $1, revoke_reason = $2 where user_id = $3 and revoked_at is null"
    )
    .bind(now)
    .bind(reason)
    .bind(user_id)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected())
    })
}
