//! Hashed features: word unigrams and bigrams (subject words separately) and
//! character 3–5-grams inside word boundaries, signed-hashed into `2^bits`
//! buckets.
//!
//! Character n-grams carry typos ("qoutation"), Hinglish spellings and
//! inflections; words and bigrams carry phrases ("lr copy", "rate bhejo").
//! Each family is weighted `1 + ln(count)` and scaled to unit length, then
//! the two are combined with equal weight, so a long email is not louder
//! than a one-liner. The hash is FNV-1a (stable across platforms and
//! releases, unlike `std`'s), and its top bit gives the sign, which cancels
//! collisions in expectation.

use crate::prepare::{clean_subject, new_text, normalise};

/// Prepared text longer than this (in bytes) is cut: the first few
/// paragraphs carry the intent, and it bounds the cost per email.
const MAX_TEXT: usize = 6000;

/// Evidence text, borrowed until it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phrase<'a> {
    Subject(&'a str),
    Words(&'a str, Option<&'a str>),
}

impl Phrase<'_> {
    /// Orders as the shown text would, without building it.
    pub fn cmp_text(&self, other: &Phrase<'_>) -> std::cmp::Ordering {
        self.text_bytes().cmp(other.text_bytes())
    }

    /// A 64-bit hash of the shown text: phrases with one text share it
    /// (whether they came from a word or its character n-grams).
    pub fn key(&self) -> u64 {
        let mut h = SEED;
        for b in self.text_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        finish(h)
    }

    fn text_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let (prefix, a, sep, b): (&[u8], &str, &[u8], &str) = match self {
            Phrase::Subject(w) => (b"subject:", w, b"", ""),
            Phrase::Words(a, None) => (b"", a, b"", ""),
            Phrase::Words(a, Some(b)) => (b"", a, b" ", b),
        };
        prefix
            .iter()
            .chain(a.as_bytes())
            .chain(sep)
            .chain(b.as_bytes())
            .copied()
    }

    /// Evidence worth showing: not a bare number.
    pub fn has_letters(&self) -> bool {
        let words = match self {
            Phrase::Subject(w) | Phrase::Words(w, None) => [*w, ""],
            Phrase::Words(a, Some(b)) => [*a, *b],
        };
        words.iter().any(|w| w.chars().any(char::is_alphabetic))
    }
}

impl std::fmt::Display for Phrase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phrase::Subject(w) => write!(f, "subject:{w}"),
            Phrase::Words(a, None) => f.write_str(a),
            Phrase::Words(a, Some(b)) => write!(f, "{a} {b}"),
        }
    }
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(h: u64, bytes: &[u8]) -> u64 {
    finish(fnv_raw(h, bytes))
}

fn fnv_raw(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// FNV's low bits mix poorly for short keys: finish with a murmur step.
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// Seeds per feature family, so that a word and a bigram never share a hash.
const SUBJECT: u64 = SEED ^ 1;
const WORD: u64 = SEED ^ 2;
const BIGRAM: u64 = SEED ^ 3;
const CHARS: u64 = SEED ^ 4;

/// The text the model reads for one email: the cleaned subject and the new
/// part of the body, normalised.
#[derive(Debug, Clone)]
pub struct Prepared {
    subject: String,
    body: String,
}

impl Prepared {
    pub fn new(subject: &str, body: &str) -> Self {
        Prepared::from_new_text(subject, &new_text(body))
    }

    /// From a body already cut to its new text ([`new_text`]), for callers
    /// that need that text themselves.
    pub fn from_new_text(subject: &str, text: &str) -> Self {
        let mut cut = text.len().min(MAX_TEXT);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        Prepared {
            subject: normalise(clean_subject(subject)),
            body: normalise(&text[..cut]),
        }
    }

    /// The body as the model reads it (after stripping and normalising).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Calls `f(hash, is word, phrase)` for every feature occurrence: the
    /// subject's words, the body's words and bigrams, then each body word's
    /// character n-grams (all of one word's together).
    pub fn visit<'a>(&'a self, mut f: impl FnMut(u64, bool, Phrase<'a>)) {
        for w in words(&self.subject) {
            f(
                fnv(fnv(SUBJECT, w.as_bytes()), b""),
                true,
                Phrase::Subject(w),
            );
        }
        let mut prev: Option<&str> = None;
        for w in words(&self.body) {
            f(fnv(WORD, w.as_bytes()), true, Phrase::Words(w, None));
            if let Some(p) = prev {
                let h = fnv(fnv(fnv(BIGRAM, p.as_bytes()), b" "), w.as_bytes());
                f(h, true, Phrase::Words(p, Some(w)));
            }
            prev = Some(w);
        }
        // Character n-grams inside each whitespace-separated word. The 3-,
        // 4- and 5-gram at one position share their first bytes: hash them
        // in one pass.
        let mut bounds: Vec<usize> = Vec::new();
        for w in self.body.split_whitespace() {
            let phrase = Phrase::Words(w, None);
            let bytes = w.as_bytes();
            bounds.clear();
            if w.is_ascii() {
                bounds.extend(0..=bytes.len());
            } else {
                bounds.extend(w.char_indices().map(|(i, _)| i));
                bounds.push(w.len());
            }
            let chars = bounds.len() - 1;
            // A word of 1–2 characters is a feature by itself.
            if chars < 3 {
                f(fnv(CHARS, bytes), false, phrase);
                continue;
            }
            for s in 0..=chars - 3 {
                let mut h = fnv_raw(CHARS, &bytes[bounds[s]..bounds[s + 3]]);
                f(finish(h), false, phrase);
                for n in 4..=5.min(chars - s) {
                    h = fnv_raw(h, &bytes[bounds[s + n - 1]..bounds[s + n]]);
                    f(finish(h), false, phrase);
                }
            }
        }
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// `1 + ln(count)`; most features occur once, where ln is 0.
fn tf(count: usize) -> f32 {
    if count == 1 {
        1.0
    } else {
        1.0 + (count as f32).ln()
    }
}

/// One feature occurrence, hashed.
#[derive(Debug, Clone, Copy)]
pub struct Hashed<'a> {
    pub hash: u64,
    pub word: bool,
    pub phrase: Phrase<'a>,
}

/// FNV-1a for the hash maps of the hot path: their keys are short words,
/// which SipHash (std's default, built against flooding by untrusted keys)
/// hashes several times slower; these maps live for one email or hold the
/// catalogue's own words.
#[derive(Default, Clone, Copy)]
pub struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { SEED } else { self.0 };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type FnvBuild = std::hash::BuildHasherDefault<FnvHasher>;

/// A sparse feature vector: sorted, distinct bucket indices and values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vector {
    pub idx: Vec<u32>,
    pub val: Vec<f32>,
}

/// Maps prepared text to hashed vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hasher {
    pub bits: u32,
}

impl Hasher {
    pub fn dim(&self) -> usize {
        1 << self.bits
    }

    /// The bucket and sign of a feature's hash.
    pub fn bucket(&self, h: u64) -> (u32, f32) {
        let mask = (1u64 << self.bits) - 1;
        let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
        ((h & mask) as u32, sign)
    }

    /// Every feature occurrence of `p` hashed once, with its phrase: what
    /// both the vector and the explanation of a decision are made from.
    pub fn hashed<'a>(&self, p: &'a Prepared) -> Vec<Hashed<'a>> {
        let mut out = Vec::with_capacity(p.body.len() * 4 + 64);
        p.visit(|hash, word, phrase| out.push(Hashed { hash, word, phrase }));
        out
    }

    pub fn vector(&self, p: &Prepared) -> Vector {
        self.vector_of(&self.hashed(p))
    }

    pub fn vector_of(&self, features: &[Hashed<'_>]) -> Vector {
        // Rotating the hash puts its bucket bits on top: one sort groups
        // each feature's occurrences and, around them, the features that
        // share a bucket. The lowest bit of the key (a hash bit above the
        // bucket) carries the family instead, so that plain integers sort:
        // two features would merge only if their other 63 bits all agreed.
        let mut keys: Vec<u64> = features
            .iter()
            .map(|h| h.hash.rotate_right(self.bits) & !1 | u64::from(h.word))
            .collect();
        keys.sort_unstable();
        // Weight per distinct feature: 1 + ln(count), each family scaled to
        // length 1/√2 so words and character n-grams weigh alike.
        let runs = || keys.chunk_by(|a, b| a == b).map(|r| (r[0], tf(r.len())));
        let (mut word_sq, mut char_sq) = (0f32, 0f32);
        for (key, v) in runs() {
            if key & 1 == 1 {
                word_sq += v * v;
            } else {
                char_sq += v * v;
            }
        }
        let scale = |sq: f32| {
            if sq > 0.0 {
                std::f32::consts::FRAC_1_SQRT_2 / sq.sqrt()
            } else {
                0.0
            }
        };
        let (ws, cs) = (scale(word_sq), scale(char_sq));
        let shift = 64 - self.bits;
        let mut out = Vector {
            idx: Vec::with_capacity(keys.len()),
            val: Vec::with_capacity(keys.len()),
        };
        for (key, tf) in runs() {
            let bucket = (key >> shift) as u32;
            let hash = key.rotate_left(self.bits);
            let sign = if hash >> 63 == 1 { -1.0 } else { 1.0 };
            let v = sign * tf * if key & 1 == 1 { ws } else { cs };
            // Features that share a bucket add up.
            match (out.idx.last(), out.val.last_mut()) {
                (Some(&last), Some(sum)) if last == bucket => *sum += v,
                _ => {
                    out.idx.push(bucket);
                    out.val.push(v);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_deterministic_and_bounded() {
        let h = Hasher { bits: 12 };
        let p = Prepared::new("Re: rate", "Rate bhejo 2.5mm wire ka, 10 coil chahiye");
        let a = h.vector(&p);
        let b = h.vector(&Prepared::new(
            "Re: rate",
            "Rate bhejo 2.5mm wire ka, 10 coil chahiye",
        ));
        assert_eq!(a, b);
        assert!(a.idx.iter().all(|&i| (i as usize) < h.dim()));
        assert!(a.idx.windows(2).all(|w| w[0] < w[1]));
        // Fixed values: a change to the hash would silently invalidate every
        // shipped model, so it must show up here.
        assert_eq!(fnv(SEED, b"rate"), GOLDEN);
    }

    const GOLDEN: u64 = 0x72fe_cf51_bed5_ea00;

    #[test]
    fn vectors_have_unit_length_per_family() {
        let h = Hasher { bits: 18 };
        let v = h.vector(&Prepared::new("", "pls send price list for 32A DP MCB"));
        let norm: f32 = v.val.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 0.05, "{norm}");
    }

    #[test]
    fn phrases_order_as_their_text() {
        let phrases = [
            Phrase::Subject("rate"),
            Phrase::Words("rate", None),
            Phrase::Words("rate", Some("bhejo")),
            Phrase::Words("ra", Some("te")),
            Phrase::Words("subject", None),
        ];
        for a in &phrases {
            for b in &phrases {
                assert_eq!(a.cmp_text(b), a.to_string().cmp(&b.to_string()), "{a} {b}");
            }
        }
    }

    #[test]
    fn hinglish_and_digits_become_features() {
        let p = Prepared::new("", "Maal KAB aayega? PO 4471");
        let mut seen = Vec::new();
        p.visit(|h, word, phrase| {
            if let Phrase::Words(w, None) = phrase {
                if word && h == fnv(WORD, w.as_bytes()) {
                    seen.push(w.to_string())
                }
            }
        });
        assert_eq!(seen, ["maal", "kab", "aayega", "po", "0000"]);
    }

    #[test]
    fn character_ngrams_are_hashed_as_themselves() {
        for word in ["qoutation", "ab", "chahiye", "मालभेजो", "x"] {
            let p = Prepared::new("", word);
            let mut got: Vec<u64> = Vec::new();
            p.visit(|h, is_word, _| {
                if !is_word {
                    got.push(h)
                }
            });
            let chars: Vec<char> = p.body().chars().collect();
            let mut expected: Vec<u64> = Vec::new();
            if chars.len() < 3 {
                expected.push(fnv(CHARS, p.body().as_bytes()));
            }
            for n in 3..=5 {
                for gram in chars.windows(n) {
                    let g: String = gram.iter().collect();
                    expected.push(fnv(CHARS, g.as_bytes()));
                }
            }
            got.sort_unstable();
            expected.sort_unstable();
            assert_eq!(got, expected, "{word}");
        }
    }
}
