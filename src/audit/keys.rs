//! The Ed25519 key that signs checkpoints: from the environment, or from a
//! key file created on first use with owner-only permissions.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use pebble_core::audit::{checkpoint_message, sha256};
use secrecy::{ExposeSecret, SecretString};

use super::AuditError;
use crate::store::activity::Checkpoint;

pub struct Signer {
    origin: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("origin", &self.origin)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

fn seed_from_base64(text: &str) -> Result<[u8; 32], AuditError> {
    let bytes = B64
        .decode(text.trim())
        .map_err(|_| AuditError::Key("the signing key is not base64".into()))?;
    bytes
        .try_into()
        .map_err(|_| AuditError::Key("the signing key must be a 32-byte Ed25519 seed".into()))
}

/// A short, stable name for a public key.
pub fn key_id(public: &VerifyingKey) -> String {
    hex::encode(&sha256(public.as_bytes())[..8])
}

impl Signer {
    pub fn from_seed(origin: &str, seed: [u8; 32]) -> Self {
        Signer {
            origin: origin.to_owned(),
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The key from `secret` if given, else from `file`, generating the file
    /// when it does not exist yet.
    pub fn load(
        origin: &str,
        secret: Option<&SecretString>,
        file: &Path,
    ) -> Result<Self, AuditError> {
        if let Some(s) = secret {
            return Ok(Self::from_seed(
                origin,
                seed_from_base64(s.expose_secret())?,
            ));
        }
        let text = crate::keyfile::read_or_create(file, || {
            B64.encode(SigningKey::generate(&mut rand::rngs::OsRng).to_bytes())
        })
        .map_err(|e| AuditError::Key(format!("{}: {e}", file.display())))?;
        Ok(Self::from_seed(origin, seed_from_base64(&text)?))
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn public_key_base64(&self) -> String {
        B64.encode(self.public_key().as_bytes())
    }

    pub fn key_id(&self) -> String {
        key_id(&self.public_key())
    }

    pub fn sign(
        &self,
        tree_size: i64,
        merkle_root: String,
        chain_head: String,
        created_at: i64,
    ) -> Checkpoint {
        let msg = checkpoint_message(
            &self.origin,
            tree_size,
            &merkle_root,
            &chain_head,
            created_at,
        );
        let signature = self.key.sign(msg.as_bytes());
        Checkpoint {
            tree_size,
            merkle_root,
            chain_head,
            created_at,
            key_id: self.key_id(),
            public_key: self.public_key_base64(),
            signature: B64.encode(signature.to_bytes()),
        }
    }
}

/// Check a checkpoint's signature with the given public key (base64).
pub fn verify_checkpoint(origin: &str, c: &Checkpoint, public_key_b64: &str) -> Result<(), String> {
    let raw: [u8; 32] = B64
        .decode(public_key_b64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the public key is not 32 bytes of base64")?;
    let key = VerifyingKey::from_bytes(&raw)
        .map_err(|_| "the public key is not a valid Ed25519 point")?;
    let sig: [u8; 64] = B64
        .decode(&c.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not 64 bytes of base64")?;
    let msg = checkpoint_message(
        origin,
        c.tree_size,
        &c.merkle_root,
        &c.chain_head,
        c.created_at,
    );
    key.verify(msg.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| "the checkpoint signature does not verify".to_owned())
}
