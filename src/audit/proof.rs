//! Inclusion proofs for single events (RFC 6962), in a self-contained JSON
//! document that a regulator can check offline with `pebble audit
//! verify-proof`, trusting only the checkpoint signer's public key.

use pebble_core::audit::{chain_hash, sha256, ChainFields, StoredEvent};
use pebble_core::merkle;
use serde::{Deserialize, Serialize};

use super::keys::{key_id, verify_checkpoint, Signer};
use super::AuditError;
use crate::store::activity::Checkpoint;

pub const FORMAT: &str = "pebble-inclusion-proof/v1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InclusionProof {
    pub format: String,
    pub origin: String,
    pub event: StoredEvent,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Sibling hashes from the leaf up, lower-case hex.
    pub proof: Vec<String>,
    pub checkpoint: Checkpoint,
}

fn parse_hash(text: &str, what: &str) -> Result<merkle::Hash, String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| format!("{what} is not 64 hex characters"))?;
    Ok(out)
}

pub fn build(
    event: StoredEvent,
    chain_hashes: &[String],
    checkpoint: Checkpoint,
    signer: &Signer,
) -> Result<InclusionProof, AuditError> {
    let leaves = chain_hashes
        .iter()
        .map(|h| parse_hash(h, "a stored hash").map(|raw| merkle::leaf_hash(&raw)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(AuditError::Export)?;
    let index = (event.seq - 1) as u64;
    let path =
        merkle::inclusion_proof(&leaves, index).map_err(|e| AuditError::Export(e.to_string()))?;
    Ok(InclusionProof {
        format: FORMAT.into(),
        origin: signer.origin().to_owned(),
        leaf_index: index,
        tree_size: leaves.len() as u64,
        proof: path.iter().map(hex::encode).collect(),
        event,
        checkpoint,
    })
}

/// What a successful verification established.
#[derive(Debug, Serialize)]
pub struct Verified {
    pub seq: i64,
    pub tree_size: u64,
    pub key_id: String,
    /// False when the signature was checked only against the key the
    /// document itself carries (no trusted key given).
    pub key_trusted: bool,
}

/// Check every step: the event's own hash, its Merkle path to the
/// checkpoint's root, and the checkpoint's signature.
pub fn verify(doc: &InclusionProof, trusted_key: Option<&str>) -> Result<Verified, String> {
    if doc.format != FORMAT {
        return Err(format!("unknown proof format {:?}", doc.format));
    }
    let e = &doc.event;
    let prev = parse_hash(&e.prev_hash, "prev_hash")?;
    let payload_hash = parse_hash(&e.payload_hash, "payload_hash")?;
    let hash = parse_hash(&e.hash, "hash")?;
    if let Some(p) = &e.payload {
        if sha256(p.as_bytes()) != payload_hash {
            return Err(format!(
                "seq {}: the payload does not match payload_hash",
                e.seq
            ));
        }
    }
    if chain_hash(&prev, &ChainFields::of(e), &payload_hash) != hash {
        return Err(format!(
            "seq {}: the event's fields do not match its hash",
            e.seq
        ));
    }
    if e.seq < 1 || doc.leaf_index != (e.seq - 1) as u64 {
        return Err("leaf_index does not match the event's seq".into());
    }
    if doc.tree_size != doc.checkpoint.tree_size as u64 {
        return Err("tree_size does not match the checkpoint".into());
    }
    let root = parse_hash(&doc.checkpoint.merkle_root, "merkle_root")?;
    let path = doc
        .proof
        .iter()
        .map(|h| parse_hash(h, "a proof element"))
        .collect::<Result<Vec<_>, _>>()?;
    merkle::verify_inclusion(
        doc.leaf_index,
        doc.tree_size,
        &merkle::leaf_hash(&hash),
        &path,
        &root,
    )
    .map_err(|e| format!("the Merkle path does not lead to the checkpoint root: {e}"))?;
    let key = trusted_key.unwrap_or(&doc.checkpoint.public_key);
    verify_checkpoint(&doc.origin, &doc.checkpoint, key)?;
    let computed_id = {
        use base64::Engine;
        let raw: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("the public key is not 32 bytes of base64")?;
        ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map(|k| key_id(&k))
            .map_err(|_| "the public key is not a valid Ed25519 point")?
    };
    if computed_id != doc.checkpoint.key_id {
        return Err("the checkpoint's key_id does not name the verifying key".into());
    }
    Ok(Verified {
        seq: e.seq,
        tree_size: doc.tree_size,
        key_id: computed_id,
        key_trusted: trusted_key.is_some(),
    })
}
