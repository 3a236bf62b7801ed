//! Normalisation shared by every identifier kind.
//!
//! People type identifiers with spaces, dashes and dots between groups, in
//! lower case, and paste them with non-breaking spaces and en dashes from web
//! pages and documents. All of that is harmless and is removed. Anything else that is not an ASCII letter
//! or digit — a Cyrillic `А`, a full-width `２`, a zero-width space, a NUL — is
//! kept and reported, because accepting a look-alike would let a forged
//! identifier pass as a real one.

use std::ops::ControlFlow;

use super::error::{CharClass, FirstError, IdError, Shown, Sink};

/// Longest identifier we validate (a CIN) plus a little room; characters
/// beyond it are counted but not stored, which bounds the work per input.
pub(crate) const CAPACITY: usize = 24;

/// Whether a character is a separator that normalisation drops: ASCII
/// dashes and dots, Unicode whitespace, and the Unicode dashes that word
/// processors substitute for `-` (hyphen, en and em dash, minus sign …).
pub(crate) fn is_separator(c: char) -> bool {
    matches!(
        c,
        '-' | '.' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe63}' | '\u{ff0d}'
    ) || c.is_whitespace()
}

/// The normalised form of an input, held on the stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compact {
    buf: [u8; CAPACITY],
    /// Characters after removing separators; may exceed `CAPACITY`.
    pub(crate) len: usize,
    /// The first character that is not an ASCII letter or digit, with its
    /// 1-based position.
    pub(crate) bad: Option<(usize, char)>,
}

impl Compact {
    pub(crate) fn new(input: &str) -> Self {
        let mut out = Self {
            buf: [0; CAPACITY],
            len: 0,
            bad: None,
        };
        for c in input.chars() {
            if is_separator(c) {
                continue;
            }
            out.len += 1;
            let byte = if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase() as u8
            } else {
                if out.bad.is_none() {
                    out.bad = Some((out.len, c));
                }
                0
            };
            if let Some(slot) = out.buf.get_mut(out.len - 1) {
                *slot = byte;
            }
        }
        out
    }

    /// The stored characters (all of them when `len <= CAPACITY`).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len.min(CAPACITY)]
    }

    /// The identifier as an array of exactly `N` ASCII letters and digits, or
    /// `None` when the length is wrong or a character is bad.
    pub(crate) fn exact<const N: usize>(&self) -> Option<[u8; N]> {
        if self.bad.is_some() || self.len != N {
            return None;
        }
        self.bytes().try_into().ok()
    }

    /// Reports emptiness, the first bad character and a wrong length, which
    /// must be settled before any position-specific rule means anything.
    /// Continues with `Some(bytes)` only when those rules can run.
    pub(crate) fn precheck<const N: usize>(
        &self,
        class_at: impl Fn(usize) -> CharClass,
        sink: &mut impl Sink,
    ) -> ControlFlow<(), Option<[u8; N]>> {
        if self.len == 0 {
            sink.report(IdError::Empty)?;
            return ControlFlow::Continue(None);
        }
        if let Some((position, c)) = self.bad {
            let expected = if position <= N {
                class_at(position - 1)
            } else {
                CharClass::LetterOrDigit
            };
            sink.report(IdError::BadCharacter {
                position,
                found: Shown(c),
                expected,
            })?;
        }
        if self.len != N {
            sink.report(IdError::Length {
                expected: N,
                found: self.len,
            })?;
        }
        ControlFlow::Continue(self.exact())
    }
}

/// Runs a checker in stop-at-first-error mode and returns the normalised
/// bytes when it found nothing: the allocation-free path behind every
/// `parse` constructor.
pub(crate) fn parse_first<const N: usize>(
    input: &str,
    check: impl FnOnce(&Compact, &mut FirstError) -> ControlFlow<()>,
) -> Result<[u8; N], IdError> {
    let compact = Compact::new(input);
    let mut first = FirstError::default();
    let _ = check(&compact, &mut first);
    match (first.0, compact.exact::<N>()) {
        (None, Some(bytes)) => Ok(bytes),
        (Some(e), _) => Err(e),
        // Unreachable in practice: a checker reports whenever the length or
        // a character is wrong. Kept total so no input can panic.
        (None, None) => Err(IdError::Empty),
    }
}

/// Reports every position whose character is outside its class; returns
/// whether all matched so later rules know they can read the values.
/// `offset` is where `bytes` start inside the enclosing identifier, so that
/// positions in messages are the ones a person counts.
pub(crate) fn check_classes(
    bytes: &[u8],
    classes: &[CharClass],
    offset: usize,
    sink: &mut impl Sink,
) -> ControlFlow<(), bool> {
    let mut all = true;
    for (i, (&b, &class)) in bytes.iter().zip(classes).enumerate() {
        if !class.matches(b) {
            all = false;
            sink.report(IdError::BadCharacter {
                position: offset + i + 1,
                found: Shown(char::from(b)),
                expected: class,
            })?;
        }
    }
    ControlFlow::Continue(all)
}

/// Trims, upper-cases ASCII letters and removes spaces, dashes and dots, then
/// restores the one dash that belongs to an LLPIN (`AAA-1234`). Non-ASCII
/// characters are kept as they are so that validation can point at them.
///
/// Idempotent: normalising a normalised string changes nothing.
pub fn normalize(input: &str) -> String {
    let mut out: String = input
        .chars()
        .filter(|&c| !is_separator(c))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if is_llpin_shape(out.as_bytes()) {
        out.insert(3, '-');
    }
    out
}

/// Three letters and four digits: the compact form of an LLPIN.
pub(crate) fn is_llpin_shape(b: &[u8]) -> bool {
    b.len() == 7
        && b[..3].iter().all(u8::is_ascii_uppercase)
        && b[3..].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_removes_spaces_dashes_and_dots_and_upper_cases() {
        assert_eq!(normalize("  27 aapfu-0939.f1zv \t"), "27AAPFU0939F1ZV");
    }

    #[test]
    fn normalisation_keeps_the_llpin_dash_and_restores_a_missing_one() {
        assert_eq!(normalize("aab-1234"), "AAB-1234");
        assert_eq!(normalize("AAB 1234"), "AAB-1234");
        assert_eq!(normalize("AAB1234"), "AAB-1234");
    }

    #[test]
    fn normalisation_treats_non_breaking_spaces_and_unicode_dashes_as_separators() {
        assert_eq!(normalize("27AAPFU0939F\u{a0}1ZV"), "27AAPFU0939F1ZV");
        assert_eq!(
            normalize("27\u{2013}AAPFU0939F\u{2212}1ZV"),
            "27AAPFU0939F1ZV"
        );
    }

    #[test]
    fn normalisation_keeps_look_alikes_so_that_validation_can_report_them() {
        assert_eq!(normalize("27\u{410}APFU"), "27\u{410}APFU");
        assert_eq!(normalize("\u{ff12}7"), "\u{ff12}7");
    }

    #[test]
    fn compact_form_records_the_first_bad_character_and_its_position() {
        let c = Compact::new("27-A\u{410}\u{0}PFU");
        assert_eq!(c.bad, Some((4, '\u{410}')));
        assert_eq!(c.len, 8);
    }

    #[test]
    fn compact_form_counts_but_does_not_store_characters_past_its_capacity() {
        let long = "A".repeat(10_000);
        let c = Compact::new(&long);
        assert_eq!(c.len, 10_000);
        assert_eq!(c.bytes().len(), CAPACITY);
        assert_eq!(c.exact::<15>(), None);
    }
}
