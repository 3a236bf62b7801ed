//! RFC 6962 / RFC 9162 Merkle trees: roots, inclusion and consistency proofs.
//!
//! The audit log commits to its history with a Merkle tree so that anyone
//! holding an old root can check that later roots only ever appended entries,
//! and that a given entry really is in the log, without trusting the server.
//! We use the Certificate Transparency construction verbatim so that the
//! public transparency-dev conformance vectors and existing tooling apply.
//!
//! Every function here works on leaf *hashes*, never on raw entries: callers
//! hash their entries once with [`leaf_hash`] and may keep only the hashes.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A SHA-256 digest; fixed-size so that a wrongly sized hash cannot reach the
/// tree arithmetic at all.
pub type Hash = [u8; 32];

/// Why a proof could not be produced, or why it was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("proof has {got} hashes but a proof for these sizes needs exactly {want}")]
    WrongProofLength { got: usize, want: usize },
    #[error("the proof leads to a root hash different from the claimed root")]
    RootMismatch,
    #[error("the proof leads to a first (older) root different from the claimed root1")]
    OldRootMismatch,
    #[error("size1 ({size1}) is greater than size2 ({size2}): a log cannot shrink")]
    Size1GreaterThanSize2 { size1: u64, size2: u64 },
    #[error("a consistency proof from the empty tree proves nothing and is refused")]
    EmptyTreeConsistency,
    #[error("field `{0}` is missing or null")]
    MissingField(&'static str),
    #[error("field `{field}` is not standard base64")]
    InvalidBase64 { field: String },
    #[error("field `{field}` decodes to {len} bytes, but a SHA-256 hash has 32")]
    HashLength { field: String, len: usize },
    #[error("not a proof document: {0}")]
    InvalidDocument(String),
}

/// Hashes a log entry with the 0x00 prefix so that a leaf can never be passed
/// off as an interior node (second-preimage protection, RFC 6962 §2.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(data)
        .finalize()
        .into()
}

/// Hashes two children with the 0x01 prefix, the other half of the domain
/// separation that [`leaf_hash`] relies on.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// RFC 6962 defines the root of the empty tree as the hash of nothing, so an
/// empty log still has a well-defined, checkable root.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Computes MTH(D[n]) by the recursive RFC 6962 definition; kept independent
/// of [`RootBuilder`] so each can check the other.
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let k = split(leaf_hashes.len());
            node_hash(&root(&leaf_hashes[..k]), &root(&leaf_hashes[k..]))
        }
    }
}

/// Produces PATH(index, D[n]) (RFC 6962 §2.1.1), ordered from the leaf's
/// sibling up to the root's child, as [`verify_inclusion`] consumes it.
pub fn inclusion_proof(leaf_hashes: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let out_of_range = || ProofError::IndexOutOfRange {
        index,
        size: leaf_hashes.len() as u64,
    };
    let i = usize::try_from(index).map_err(|_| out_of_range())?;
    if i >= leaf_hashes.len() {
        return Err(out_of_range());
    }
    let mut proof = Vec::new();
    path(i, leaf_hashes, &mut proof);
    Ok(proof)
}

fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if m < k {
        path(m, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// Produces PROOF(size1, D[n]) (RFC 6962 §2.1.2) between the prefix of
/// `size1` leaves and the whole slice. Refuses the cases the verifier refuses,
/// so that a proof we hand out is always one we would accept.
pub fn consistency_proof(leaf_hashes: &[Hash], size1: u64) -> Result<Vec<Hash>, ProofError> {
    let size2 = leaf_hashes.len();
    let too_big = || ProofError::Size1GreaterThanSize2 {
        size1,
        size2: size2 as u64,
    };
    let m = usize::try_from(size1).map_err(|_| too_big())?;
    if m > size2 {
        return Err(too_big());
    }
    if m == 0 {
        return Err(ProofError::EmptyTreeConsistency);
    }
    let mut proof = Vec::new();
    subproof(m, leaf_hashes, true, &mut proof);
    Ok(proof)
}

fn subproof(m: usize, leaves: &[Hash], whole_old_tree: bool, out: &mut Vec<Hash>) {
    if m == leaves.len() {
        if !whole_old_tree {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(leaves.len());
    if m <= k {
        subproof(m, &leaves[..k], whole_old_tree, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

/// The largest power of two strictly below `n` (n ≥ 2): where RFC 6962 cuts a
/// tree into a perfect left subtree and the rest.
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Checks an inclusion proof with the RFC 9162 §2.1.3.2 algorithm, which uses
/// every proof element and detects both short and long proofs by position.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let wrong_length = || ProofError::WrongProofLength {
        got: proof.len(),
        want: inclusion_proof_len(index, size),
    };
    // `fn_`/`sn` are the RFC's `fn` and `sn`: the node index on the leaf's path
    // and the last node index, at the current level.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(wrong_length());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // Right-border nodes without a sibling are skipped, not hashed.
            while fn_ != 0 && fn_ & 1 == 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_length());
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `size2` leaves with `root2` extends the tree of
/// `size1` leaves with `root1` (RFC 9162 §2.1.4.2). The RFC only covers
/// 0 < size1 < size2; around it we follow the transparency-dev vectors: equal
/// sizes need an empty proof and equal roots, and size1 == 0 is refused
/// because every tree extends the empty one, so such a "proof" tells nothing.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::Size1GreaterThanSize2 { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::EmptyTreeConsistency);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let wrong_length = || ProofError::WrongProofLength {
        got: proof.len(),
        want: consistency_proof_len(size1, size2),
    };
    // When the old tree is a perfect subtree of the new one its root is the
    // proof's starting point, so the proof omits it (step 2).
    let seed = size1.is_power_of_two().then_some(root1);
    let mut path = seed.into_iter().chain(proof);
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 1 (an empty proof fails) is covered by this and the final `sn`
    // check: with a seed, an empty proof leaves `sn` non-zero.
    let Some(first) = path.next() else {
        return Err(wrong_length());
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in path {
        if sn == 0 {
            return Err(wrong_length());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ != 0 && fn_ & 1 == 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_length());
    }
    if fr != *root1 {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Closed form of the inclusion path length, only to tell the caller what a
/// rejected proof should have looked like. Requires index < size.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    // Levels below the point where the paths to `index` and to the last leaf
    // diverge each contribute a sibling; above it only left siblings remain.
    let inner = u64::BITS - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Closed form of the consistency proof length for 0 < size1 < size2.
fn consistency_proof_len(size1: u64, size2: u64) -> usize {
    let last = size1 - 1;
    let inner = u64::BITS - (last ^ (size2 - 1)).leading_zeros();
    let border = last.checked_shr(inner).unwrap_or(0).count_ones();
    // The levels under the old tree's largest perfect right subtree are
    // summarised by that subtree's root, which the proof carries unless it is
    // the whole old tree.
    let shift = size1.trailing_zeros();
    let seed = u32::from(!size1.is_power_of_two());
    (seed + inner - shift + border) as usize
}

/// Computes roots incrementally for a growing log: it keeps one hash per set
/// bit of the size (the roots of the perfect subtrees, left to right), so
/// memory is O(log n) however long the log gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootBuilder {
    len: u64,
    subtrees: Vec<Hash>,
}

impl RootBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf, merging equal-sized perfect subtrees as binary carry
    /// would, so that `subtrees` always mirrors the bits of `len`.
    pub fn push(&mut self, leaf_hash: &Hash) {
        let merges = self.len.trailing_ones() as usize;
        let keep = self.subtrees.len() - merges;
        let mut acc = *leaf_hash;
        for left in self.subtrees.drain(keep..).rev() {
            acc = node_hash(&left, &acc);
        }
        self.subtrees.push(acc);
        self.len += 1;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Folds the perfect subtrees right to left, which is exactly where
    /// RFC 6962's "largest power of two" split puts the interior nodes.
    pub fn root(&self) -> Hash {
        let mut from_right = self.subtrees.iter().rev();
        let Some(last) = from_right.next() else {
            return empty_root();
        };
        from_right.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// A proof as written in the transparency-dev conformance vectors, so that a
/// CLI can check one read from stdin. Hashes are decoded and length-checked
/// when parsing, hence a document that exists is well-formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofDocument {
    Inclusion {
        leaf_idx: u64,
        tree_size: u64,
        root: Hash,
        leaf_hash: Hash,
        proof: Vec<Hash>,
    },
    Consistency {
        size1: u64,
        size2: u64,
        root1: Hash,
        root2: Hash,
        proof: Vec<Hash>,
    },
}

/// Every field optional, so that missing and null fields become precise
/// [`ProofError`]s instead of generic serde messages. `desc` and `wantErr`
/// belong to the test harness and are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDocument {
    leaf_idx: Option<u64>,
    tree_size: Option<u64>,
    root: Option<String>,
    leaf_hash: Option<String>,
    size1: Option<u64>,
    size2: Option<u64>,
    root1: Option<String>,
    root2: Option<String>,
    proof: Option<Vec<String>>,
}

impl ProofDocument {
    /// Tells the two shapes apart by their fields, as the vector files carry no
    /// type tag. A null or absent `proof` means an empty one: that is how the
    /// Go generator writes an empty list.
    pub fn from_json(s: &str) -> Result<Self, ProofError> {
        let raw: RawDocument =
            serde_json::from_str(s).map_err(|e| ProofError::InvalidDocument(e.to_string()))?;
        let inclusion = raw.leaf_idx.is_some()
            || raw.tree_size.is_some()
            || raw.root.is_some()
            || raw.leaf_hash.is_some();
        let consistency = raw.size1.is_some()
            || raw.size2.is_some()
            || raw.root1.is_some()
            || raw.root2.is_some();
        let proof = decode_proof(raw.proof.unwrap_or_default())?;
        match (inclusion, consistency) {
            (true, false) => Ok(Self::Inclusion {
                leaf_idx: required("leafIdx", raw.leaf_idx)?,
                tree_size: required("treeSize", raw.tree_size)?,
                root: decode_hash("root", &required("root", raw.root)?)?,
                leaf_hash: decode_hash("leafHash", &required("leafHash", raw.leaf_hash)?)?,
                proof,
            }),
            (false, true) => {
                let size1 = required("size1", raw.size1)?;
                let size2 = required("size2", raw.size2)?;
                let root1 = required("root1", raw.root1)?;
                let root2 = required("root2", raw.root2)?;
                // Trees of equal size are consistent exactly when their roots are
                // the same bytes (RFC 9162 §2.1.4.2 step 1), whatever their length:
                // compare them as opaque values by hashing both the same way.
                let (root1, root2) = if size1 == size2 {
                    (
                        decode_opaque("root1", &root1)?,
                        decode_opaque("root2", &root2)?,
                    )
                } else {
                    (decode_hash("root1", &root1)?, decode_hash("root2", &root2)?)
                };
                Ok(Self::Consistency {
                    size1,
                    size2,
                    root1,
                    root2,
                    proof,
                })
            }
            (true, true) => Err(ProofError::InvalidDocument(
                "has both inclusion and consistency fields".into(),
            )),
            (false, false) => Err(ProofError::InvalidDocument(
                "has neither inclusion nor consistency fields".into(),
            )),
        }
    }

    pub fn verify(&self) -> Result<(), ProofError> {
        match self {
            Self::Inclusion {
                leaf_idx,
                tree_size,
                root,
                leaf_hash,
                proof,
            } => verify_inclusion(*leaf_idx, *tree_size, leaf_hash, proof, root),
            Self::Consistency {
                size1,
                size2,
                root1,
                root2,
                proof,
            } => verify_consistency(*size1, *size2, root1, root2, proof),
        }
    }
}

fn required<T>(field: &'static str, value: Option<T>) -> Result<T, ProofError> {
    value.ok_or(ProofError::MissingField(field))
}

fn decode_proof(items: Vec<String>) -> Result<Vec<Hash>, ProofError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| decode_hash(&format!("proof[{i}]"), item))
        .collect()
}

fn decode_opaque(field: &str, text: &str) -> Result<Hash, ProofError> {
    let bytes = BASE64.decode(text).map_err(|_| ProofError::InvalidBase64 {
        field: field.to_owned(),
    })?;
    Ok(Sha256::digest(&bytes).into())
}

fn decode_hash(field: &str, text: &str) -> Result<Hash, ProofError> {
    let bytes = BASE64.decode(text).map_err(|_| ProofError::InvalidBase64 {
        field: field.to_owned(),
    })?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| ProofError::HashLength {
        field: field.to_owned(),
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Distinct leaves; the salt keeps trees with the same size from sharing
    /// hashes across proptest cases.
    fn leaves(n: usize, salt: u64) -> Vec<Hash> {
        (0..n as u64)
            .map(|i| leaf_hash(&[salt.to_le_bytes(), i.to_le_bytes()].concat()))
            .collect()
    }

    fn h(hex_str: &str) -> Hash {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    /// The eight leaves of the RFC 6962 reference tests (Certificate
    /// Transparency and transparency-dev use the same ones).
    fn reference_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|d| leaf_hash(&hex::decode(d).unwrap()))
        .collect()
    }

    fn flip(hash: &Hash, bit: usize) -> Hash {
        let mut out = *hash;
        out[bit / 8] ^= 1 << (bit % 8);
        out
    }

    #[test]
    fn hashes_use_rfc6962_domain_separation() {
        assert_eq!(
            empty_root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            leaf_hash(b""),
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut preimage = vec![0x01];
        preimage.extend_from_slice(&a);
        preimage.extend_from_slice(&b);
        assert_eq!(node_hash(&a, &b), <Hash>::from(Sha256::digest(&preimage)));
    }

    #[test]
    fn roots_of_the_reference_tree_match_the_published_values() {
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let all = reference_leaves();
        assert_eq!(root(&[]), empty_root());
        for (n, want) in (1..=8).zip(expected) {
            assert_eq!(root(&all[..n]), h(want), "size {n}");
        }
    }

    #[test]
    fn reference_tree_proofs_match_the_published_values() {
        let all = reference_leaves();
        assert_eq!(
            inclusion_proof(&all, 5).unwrap(),
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        );
        assert_eq!(
            consistency_proof(&all, 6).unwrap(),
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        );
    }

    #[test]
    fn root_builder_agrees_with_root_for_every_size_up_to_300() {
        let all = leaves(300, 7);
        let mut builder = RootBuilder::new();
        assert!(builder.is_empty());
        assert_eq!(builder.root(), root(&[]));
        for (n, leaf) in all.iter().enumerate() {
            builder.push(leaf);
            assert_eq!(builder.len(), n as u64 + 1);
            assert_eq!(builder.root(), root(&all[..=n]), "size {}", n + 1);
            assert_eq!(builder.subtrees.len(), builder.len.count_ones() as usize);
        }
    }

    #[test]
    fn proof_generation_refuses_what_verification_would_refuse() {
        let all = leaves(4, 0);
        assert_eq!(
            inclusion_proof(&all, 4),
            Err(ProofError::IndexOutOfRange { index: 4, size: 4 })
        );
        assert_eq!(
            inclusion_proof(&[], 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            consistency_proof(&all, 5),
            Err(ProofError::Size1GreaterThanSize2 { size1: 5, size2: 4 })
        );
        assert_eq!(
            consistency_proof(&all, 0),
            Err(ProofError::EmptyTreeConsistency)
        );
        assert_eq!(consistency_proof(&all, 4), Ok(vec![]));
    }

    #[test]
    fn consistency_edge_cases_follow_the_conformance_vectors() {
        let r = root(&leaves(3, 0));
        let other = empty_root();
        assert_eq!(verify_consistency(3, 3, &r, &r, &[]), Ok(()));
        assert_eq!(
            verify_consistency(3, 3, &r, &other, &[]),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(3, 3, &r, &r, &[r]),
            Err(ProofError::WrongProofLength { got: 1, want: 0 })
        );
        assert_eq!(
            verify_consistency(0, 0, &r, &r, &[]),
            Err(ProofError::EmptyTreeConsistency)
        );
        assert_eq!(
            verify_consistency(0, 3, &other, &r, &[]),
            Err(ProofError::EmptyTreeConsistency)
        );
        assert_eq!(
            verify_consistency(4, 3, &r, &r, &[]),
            Err(ProofError::Size1GreaterThanSize2 { size1: 4, size2: 3 })
        );
        // A perfect old tree is the proof's seed, so an empty proof is short.
        assert_eq!(
            verify_consistency(2, 3, &r, &r, &[]),
            Err(ProofError::WrongProofLength { got: 0, want: 1 })
        );
        assert_eq!(
            verify_consistency(3, 4, &r, &r, &[]),
            Err(ProofError::WrongProofLength { got: 0, want: 3 })
        );
    }

    #[test]
    fn huge_sizes_are_handled_without_overflow() {
        let leaf = leaf_hash(b"x");
        let size = (1 << 63) + 1;
        assert_eq!(
            verify_inclusion(0, size, &leaf, &[], &leaf),
            Err(ProofError::WrongProofLength { got: 0, want: 64 })
        );
        assert_eq!(
            verify_inclusion(u64::MAX - 1, u64::MAX, &leaf, &[], &leaf),
            Err(ProofError::WrongProofLength { got: 0, want: 63 })
        );
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &leaf, &leaf, &[leaf]).is_err());
        assert!(verify_consistency(1 << 63, u64::MAX, &leaf, &leaf, &[]).is_err());
    }

    /// Inclusion proofs bind the path shape, not the tree size: sizes 3 and 4
    /// share leaf 0's shape, so a size-4 proof also "verifies" as size 3
    /// against the size-4 root. Callers must take the size from the same
    /// signed statement as the root.
    #[test]
    fn an_inclusion_proof_does_not_by_itself_pin_the_tree_size() {
        let all = leaves(4, 0);
        let proof = inclusion_proof(&all, 0).unwrap();
        assert_eq!(verify_inclusion(0, 4, &all[0], &proof, &root(&all)), Ok(()));
        assert_eq!(verify_inclusion(0, 3, &all[0], &proof, &root(&all)), Ok(()));
        assert_eq!(
            verify_inclusion(0, 3, &all[0], &proof, &root(&all[..3])),
            Err(ProofError::RootMismatch)
        );
    }

    #[test]
    fn proof_documents_reject_malformed_fields_without_panicking() {
        let leaf = BASE64.encode(leaf_hash(b""));
        let doc = |body: &str| ProofDocument::from_json(body);
        assert_eq!(
            doc(&format!(
                r#"{{"leafIdx":0,"treeSize":1,"root":"{leaf}","leafHash":"{leaf}","proof":null}}"#
            ))
            .and_then(|d| d.verify()),
            Ok(())
        );
        assert_eq!(
            doc(&format!(
                r#"{{"leafIdx":0,"treeSize":1,"root":null,"leafHash":"{leaf}"}}"#
            )),
            Err(ProofError::MissingField("root"))
        );
        assert_eq!(
            doc(&format!(
                r#"{{"leafIdx":0,"root":"{leaf}","leafHash":"{leaf}"}}"#
            )),
            Err(ProofError::MissingField("treeSize"))
        );
        assert_eq!(
            doc(&format!(
                r#"{{"leafIdx":0,"treeSize":1,"root":"{leaf}","leafHash":"{leaf}","proof":["","x"]}}"#
            )),
            Err(ProofError::HashLength {
                field: "proof[0]".into(),
                len: 0
            })
        );
        assert_eq!(
            doc(r#"{"size1":1,"size2":1,"root1":"!!","root2":"AA=="}"#),
            Err(ProofError::InvalidBase64 {
                field: "root1".into()
            })
        );
        assert!(matches!(
            doc(r#"{"size1":1,"treeSize":1}"#),
            Err(ProofError::InvalidDocument(_))
        ));
        assert!(matches!(doc("{}"), Err(ProofError::InvalidDocument(_))));
        assert!(matches!(
            doc(r#"{"size1":-1}"#),
            Err(ProofError::InvalidDocument(_))
        ));
        assert!(matches!(doc("[]"), Err(ProofError::InvalidDocument(_))));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn every_inclusion_proof_verifies_against_the_root(n in 1usize..=200, salt: u64) {
            let all = leaves(n, salt);
            let r = root(&all);
            for i in 0..n as u64 {
                let proof = inclusion_proof(&all, i).unwrap();
                prop_assert_eq!(proof.len(), inclusion_proof_len(i, n as u64));
                prop_assert_eq!(verify_inclusion(i, n as u64, &all[i as usize], &proof, &r), Ok(()));
            }
        }

        #[test]
        fn every_consistency_proof_verifies_between_prefix_and_full_tree(
            n in 1usize..=200,
            salt: u64,
        ) {
            let all = leaves(n, salt);
            let r2 = root(&all);
            for m in 1..=n {
                let proof = consistency_proof(&all, m as u64).unwrap();
                let r1 = root(&all[..m]);
                if m < n {
                    prop_assert_eq!(proof.len(), consistency_proof_len(m as u64, n as u64));
                }
                prop_assert_eq!(verify_consistency(m as u64, n as u64, &r1, &r2, &proof), Ok(()));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn flipping_any_bit_of_an_inclusion_proof_or_its_inputs_is_rejected(
            n in 1usize..=200,
            salt: u64,
            index in any::<prop::sample::Index>(),
            element in any::<prop::sample::Index>(),
            bit in 0usize..256,
        ) {
            let all = leaves(n, salt);
            let r = root(&all);
            let i = index.index(n);
            let proof = inclusion_proof(&all, i as u64).unwrap();
            let size = n as u64;
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let e = element.index(proof.len());
                bad[e] = flip(&bad[e], bit);
                prop_assert!(verify_inclusion(i as u64, size, &all[i], &bad, &r).is_err());
            }
            prop_assert!(verify_inclusion(i as u64, size, &flip(&all[i], bit), &proof, &r).is_err());
            prop_assert!(verify_inclusion(i as u64, size, &all[i], &proof, &flip(&r, bit)).is_err());
            let wrong_length = |got| Err(ProofError::WrongProofLength { got, want: proof.len() });
            if let Some((_, truncated)) = proof.split_last() {
                prop_assert_eq!(
                    verify_inclusion(i as u64, size, &all[i], truncated, &r),
                    wrong_length(proof.len() - 1)
                );
            }
            let mut extended = proof.clone();
            extended.push(r);
            prop_assert_eq!(
                verify_inclusion(i as u64, size, &all[i], &extended, &r),
                wrong_length(proof.len() + 1)
            );
        }

        #[test]
        fn another_index_or_size_accepts_only_its_own_honest_proof(
            n in 1usize..=200,
            salt: u64,
            index in any::<prop::sample::Index>(),
            other_index in any::<prop::sample::Index>(),
            other_size in any::<prop::sample::Index>(),
        ) {
            let all = leaves(n, salt);
            let i = index.index(n);
            let proof = inclusion_proof(&all, i as u64).unwrap();
            // The same leaf claimed at another position of the same tree.
            let j = other_index.index(n);
            let moved = verify_inclusion(j as u64, n as u64, &all[i], &proof, &root(&all));
            prop_assert_eq!(moved.is_ok(), j == i);
            // Past the end of the tree.
            prop_assert_eq!(
                verify_inclusion(n as u64, n as u64, &all[i], &proof, &root(&all)),
                Err(ProofError::IndexOutOfRange { index: n as u64, size: n as u64 })
            );
            // A smaller tree with its honest root: only its own proof passes.
            let m = other_size.index(n) + 1;
            if i < m {
                let own = inclusion_proof(&all[..m], i as u64).unwrap();
                let result = verify_inclusion(i as u64, m as u64, &all[i], &proof, &root(&all[..m]));
                prop_assert_eq!(result.is_ok(), own == proof);
            }
        }

        #[test]
        fn tampered_consistency_proofs_and_sizes_are_rejected(
            n in 2usize..=200,
            salt: u64,
            size1 in any::<prop::sample::Index>(),
            other_size1 in any::<prop::sample::Index>(),
            other_size2 in any::<prop::sample::Index>(),
            element in any::<prop::sample::Index>(),
            bit in 0usize..256,
        ) {
            let all = leaves(n, salt);
            let m = size1.index(n - 1) + 1; // 1..n, so the proof is non-trivial
            let (r1, r2) = (root(&all[..m]), root(&all));
            let (s1, s2) = (m as u64, n as u64);
            let proof = consistency_proof(&all, s1).unwrap();
            prop_assert!(!proof.is_empty());

            let mut bad = proof.clone();
            let e = element.index(proof.len());
            bad[e] = flip(&bad[e], bit);
            prop_assert!(verify_consistency(s1, s2, &r1, &r2, &bad).is_err());
            prop_assert!(verify_consistency(s1, s2, &flip(&r1, bit), &r2, &proof).is_err());
            prop_assert!(verify_consistency(s1, s2, &r1, &flip(&r2, bit), &proof).is_err());
            let wrong_length = |got| Err(ProofError::WrongProofLength { got, want: proof.len() });
            let shorter = proof.len() - 1;
            prop_assert_eq!(verify_consistency(s1, s2, &r1, &r2, &proof[1..]), wrong_length(shorter));
            prop_assert_eq!(
                verify_consistency(s1, s2, &r1, &r2, &proof[..shorter]),
                wrong_length(shorter)
            );
            let mut extended = proof.clone();
            extended.push(r2);
            prop_assert_eq!(
                verify_consistency(s1, s2, &r1, &r2, &extended),
                wrong_length(proof.len() + 1)
            );
            let mut preceded = vec![r1];
            preceded.extend_from_slice(&proof);
            prop_assert_eq!(
                verify_consistency(s1, s2, &r1, &r2, &preceded),
                wrong_length(proof.len() + 1)
            );
            prop_assert!(verify_consistency(s2, s1, &r2, &r1, &proof).is_err());

            // Other sizes with their honest roots: only their own proof passes.
            let m2 = other_size1.index(n) + 1;
            let n2 = other_size2.index(n) + 1;
            if m2 <= n2 {
                let own = consistency_proof(&all[..n2], m2 as u64).unwrap();
                let result = verify_consistency(
                    m2 as u64, n2 as u64, &root(&all[..m2]), &root(&all[..n2]), &proof,
                );
                prop_assert_eq!(result.is_ok(), own == proof);
            }
        }
    }
}
