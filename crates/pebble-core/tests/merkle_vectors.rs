//! Runs every transparency-dev Merkle conformance vector through our
//! verifier, so it is held to the same probes as the reference Go
//! implementation.
//!
//! Each file is checked twice: once as a document a CLI would read (every
//! hash must be 32 bytes, except the roots of equal-size trees, which are
//! compared as opaque bytes), and once with short placeholder values
//! widened to real hashes, so that the size and proof-shape rules are still
//! exercised by the many edge-case files that use 12-byte placeholder roots.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use pebble_core::merkle::{
    leaf_hash, verify_consistency, verify_inclusion, Hash, ProofDocument, ProofError,
};
use serde_json::Value;

struct Vector {
    name: String,
    text: String,
    json: Value,
    want_err: bool,
}

fn vector_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/merkle")
}

/// Lists every file under `dir`, failing on anything that is not a JSON
/// vector so that no file can be skipped silently.
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else {
            assert_eq!(
                path.extension().and_then(|e| e.to_str()),
                Some("json"),
                "unexpected non-vector file {}",
                path.display()
            );
            out.push(path);
        }
    }
}

fn load(kind: &str) -> Vec<Vector> {
    let root = vector_root();
    let mut files = Vec::new();
    json_files(&root.join(kind), &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no {kind} vectors under {}",
        root.display()
    );
    files
        .iter()
        .map(|file| {
            let name = file
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = fs::read_to_string(file).unwrap();
            let json: Value = serde_json::from_str(&text).unwrap();
            let want_err = json["wantErr"]
                .as_bool()
                .unwrap_or_else(|| panic!("{name}: wantErr is not a boolean"));
            Vector {
                name,
                text,
                json,
                want_err,
            }
        })
        .collect()
}

/// Tallies verdicts against `wantErr` and fails listing every disagreement.
fn report(label: &str, vectors: &[Vector], verdict: impl Fn(&Vector) -> Result<(), ProofError>) {
    let (mut accepted, mut rejected) = (0, 0);
    let mut failures = Vec::new();
    for v in vectors {
        let result = verdict(v);
        match (&result, v.want_err) {
            (Ok(()), false) => accepted += 1,
            (Err(_), true) => rejected += 1,
            _ => failures.push(format!("{} (wantErr {}): {result:?}", v.name, v.want_err)),
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: {} of {} vectors disagree:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
    assert!(
        accepted > 0 && rejected > 0,
        "{label}: degenerate vector set"
    );
    assert_eq!(accepted + rejected, vectors.len());
    println!(
        "{label}: {} files, {accepted} accepted, {rejected} rejected",
        vectors.len()
    );
}

fn strict_document(v: &Vector, inclusion: bool) -> Result<(), ProofError> {
    let doc = ProofDocument::from_json(&v.text)?;
    let is_inclusion = matches!(doc, ProofDocument::Inclusion { .. });
    assert_eq!(
        is_inclusion, inclusion,
        "{}: read as the wrong kind",
        v.name
    );
    doc.verify()
}

/// Decodes a vector value, turning anything that is not a 32-byte hash
/// (placeholders, garbage, empty strings) into a hash of its role and bytes.
/// That mirrors the Go reference, which compares roots as opaque bytes (equal
/// placeholder roots stay equal) but insists on a 32-byte leaf hash (a short
/// leaf never widens into the matching root).
fn widened(role: &str, value: &Value) -> Hash {
    let bytes = BASE64.decode(value.as_str().unwrap()).unwrap();
    bytes
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| leaf_hash(&[role.as_bytes(), &bytes].concat()))
}

fn widened_proof(v: &Vector) -> Vec<Hash> {
    match &v.json["proof"] {
        Value::Null => vec![],
        items => items
            .as_array()
            .unwrap()
            .iter()
            .map(|item| widened("proof", item))
            .collect(),
    }
}

fn size(v: &Vector, field: &str) -> u64 {
    v.json[field].as_u64().unwrap()
}

#[test]
fn inclusion_documents_are_accepted_exactly_when_wanted() {
    report("inclusion documents", &load("inclusion"), |v| {
        strict_document(v, true)
    });
}

#[test]
fn consistency_documents_are_accepted_exactly_when_wanted() {
    report("consistency documents", &load("consistency"), |v| {
        strict_document(v, false)
    });
}

#[test]
fn inclusion_verifier_agrees_with_every_vector_once_placeholders_are_widened() {
    report("inclusion verifier", &load("inclusion"), |v| {
        verify_inclusion(
            size(v, "leafIdx"),
            size(v, "treeSize"),
            &widened("leaf", &v.json["leafHash"]),
            &widened_proof(v),
            &widened("root", &v.json["root"]),
        )
    });
}

#[test]
fn consistency_verifier_agrees_with_every_vector_once_placeholders_are_widened() {
    report("consistency verifier", &load("consistency"), |v| {
        verify_consistency(
            size(v, "size1"),
            size(v, "size2"),
            &widened("root", &v.json["root1"]),
            &widened("root", &v.json["root2"]),
            &widened_proof(v),
        )
    });
}
