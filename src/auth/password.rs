//! Password hashing with argon2id at OWASP's minimum cost (19 MiB, t=2, p=1):
//! p=1 keeps concurrent logins cheap on a small machine (reliability notes §2.3).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 1024;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a new password is refused.
pub fn check_policy(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(format!("must be at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} bytes"));
    }
    if password.contains('\0') {
        return Err("must not contain NUL bytes".into());
    }
    Ok(())
}

/// Hash on a blocking thread: 19 MiB of memory-hard work must not stall the runtime.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await?
}

/// Verify on a blocking thread. A malformed stored hash verifies nothing.
pub async fn verify(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so that the
/// answer takes as long as for a real account (no user enumeration by timing).
pub fn decoy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Y2t3cmVxdXlzZ2h5bHZ6YnRneHJ1c2ZkbWRtdmRxc2U"
}
