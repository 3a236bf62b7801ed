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

/// One feature before hashing, borrowing from the prepared text.
#[derive(Debug, Clone, Copy)]
pub enum Feature<'a> {
    Subject(&'a str),
    Word(&'a str),
    Bigram(&'a str, &'a str),
    /// A character n-gram and the word it was taken from.
    Chars(&'a str, &'a str),
}

impl<'a> Feature<'a> {
    fn hash(&self) -> u64 {
        match *self {
            Feature::Subject(w) => fnv(fnv(SEED ^ 1, w.as_bytes()), b""),
            Feature::Word(w) => fnv(SEED ^ 2, w.as_bytes()),
            Feature::Bigram(a, b) => fnv(fnv(fnv(SEED ^ 3, a.as_bytes()), b" "), b.as_bytes()),
            Feature::Chars(c, _) => fnv(SEED ^ 4, c.as_bytes()),
        }
    }

    fn is_word(&self) -> bool {
        !matches!(self, Feature::Chars(..))
    }

    /// The phrase a person reads as evidence: a character n-gram stands for
    /// its word.
    pub fn phrase(&self) -> Phrase<'a> {
        match *self {
            Feature::Subject(w) => Phrase::Subject(w),
            Feature::Word(w) | Feature::Chars(_, w) => Phrase::Words(w, None),
            Feature::Bigram(a, b) => Phrase::Words(a, Some(b)),
        }
    }
}

/// Evidence text, borrowed until it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phrase<'a> {
    Subject(&'a str),
    Words(&'a str, Option<&'a str>),
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

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV's low bits mix poorly for short keys: finish with a murmur step.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// The text the model reads for one email: the cleaned subject and the new
/// part of the body, normalised.
#[derive(Debug, Clone)]
pub struct Prepared {
    subject: String,
    body: String,
}

impl Prepared {
    pub fn new(subject: &str, body: &str) -> Self {
        let mut text = new_text(body);
        if text.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        Prepared {
            subject: normalise(clean_subject(subject)),
            body: normalise(&text),
        }
    }

    /// The body as the model reads it (after stripping and normalising).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Calls `f` for every feature occurrence, in text order.
    pub fn visit<'a>(&'a self, mut f: impl FnMut(Feature<'a>)) {
        for w in words(&self.subject) {
            f(Feature::Subject(w));
        }
        let mut prev: Option<&str> = None;
        for w in words(&self.body) {
            f(Feature::Word(w));
            if let Some(p) = prev {
                f(Feature::Bigram(p, w));
            }
            prev = Some(w);
        }
        // Character n-grams inside each whitespace-separated word.
        for w in self.body.split_whitespace() {
            let bounds: Vec<usize> = w
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(w.len()))
                .collect();
            let chars = bounds.len() - 1;
            // A word of 1–2 characters is a feature by itself.
            if chars < 3 {
                f(Feature::Chars(w, w));
                continue;
            }
            for n in 3..=5 {
                if n > chars {
                    break;
                }
                for s in 0..=chars - n {
                    f(Feature::Chars(&w[bounds[s]..bounds[s + n]], w));
                }
            }
        }
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

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

    /// The bucket and sign of one feature.
    pub fn bucket(&self, f: &Feature<'_>) -> (u32, f32) {
        let h = f.hash();
        let mask = (1u64 << self.bits) - 1;
        let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
        ((h & mask) as u32, sign)
    }

    pub fn vector(&self, p: &Prepared) -> Vector {
        let mut raw: Vec<(u64, bool)> = Vec::with_capacity(256);
        p.visit(|f| raw.push((f.hash(), f.is_word())));
        raw.sort_unstable();
        // (hash, is_word, weight) per distinct feature.
        let mut distinct: Vec<(u64, bool, f32)> = Vec::with_capacity(raw.len());
        for (h, w) in raw {
            match distinct.last_mut() {
                Some((lh, lw, c)) if *lh == h && *lw == w => *c += 1.0,
                _ => distinct.push((h, w, 1.0)),
            }
        }
        let (mut word_sq, mut char_sq) = (0f32, 0f32);
        for d in &mut distinct {
            d.2 = 1.0 + d.2.ln();
            if d.1 {
                word_sq += d.2 * d.2;
            } else {
                char_sq += d.2 * d.2;
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
        let mask = (1u64 << self.bits) - 1;
        let mut cells: Vec<(u32, f32)> = distinct
            .into_iter()
            .map(|(h, w, v)| {
                let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
                ((h & mask) as u32, sign * v * if w { ws } else { cs })
            })
            .collect();
        cells.sort_unstable_by_key(|c| c.0);
        let mut out = Vector::default();
        for (i, v) in cells {
            if out.idx.last() == Some(&i) {
                if let Some(last) = out.val.last_mut() {
                    *last += v;
                }
            } else {
                out.idx.push(i);
                out.val.push(v);
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
    fn hinglish_and_digits_become_features() {
        let p = Prepared::new("", "Maal KAB aayega? PO 4471");
        let mut seen = Vec::new();
        p.visit(|f| {
            if let Feature::Word(w) = f {
                seen.push(w.to_string())
            }
        });
        assert_eq!(seen, ["maal", "kab", "aayega", "po", "0000"]);
    }
}
