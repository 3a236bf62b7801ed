//! Finding identifiers and phone numbers in free text: signatures,
//! letterheads, forwarded invoices.
//!
//! One left-to-right pass over the text. At each word start the identifier
//! shapes are tried (character classes with optional single separators
//! between characters, so `27 AAPFU 0939 F1ZV` matches); a match is then
//! validated in full. What is reported depends on how sure we can be that
//! the token was meant as that identifier:
//!
//! * after a label of the same kind (`GSTIN:`, `GST No.`, `GST#`, `PAN:`,
//!   `CIN`, `Corporate Identity Number`, `LLPIN` …) — always, valid or not;
//!   a labelled token that does not even have the shape (one character
//!   short, a look-alike letter) is still reported with its errors;
//! * GSTIN and CIN shapes written as one unbroken token in one case — always,
//!   so a GSTIN with a wrong check character is reported as found-but-invalid
//!   (the shape alone is specific enough);
//! * PAN shapes without a label — only when valid and unbroken, because five
//!   letters, four digits and a letter is common in product codes and PAN
//!   has no check character;
//! * anything written with separators and no label — only when valid, so
//!   "batch 1234 a" is never read as a PAN;
//! * LLPIN — only with a label: three letters and four digits are everywhere.
//!
//! Unicode look-alikes (Cyrillic, full-width digits) are matched as
//! wildcards, up to three per token, so that a spoofed identifier is reported
//! as invalid with the offending position instead of being silently skipped.

use std::ops::Range;

use serde::Serialize;

use super::error::{CharClass, IdError};
use super::normalize::normalize;
use super::phone::{self, Phone};
use super::report::{errors, IdKind};

const D: CharClass = CharClass::Digit;
const L: CharClass = CharClass::Letter;
const A: CharClass = CharClass::LetterOrDigit;
const LU: CharClass = CharClass::ListingStatus;

/// GSTIN with a PAN or (position 7 a digit) a TAN.
const GSTIN_PAN: [CharClass; 15] = [D, D, L, L, L, L, A, D, D, D, D, L, A, A, A];
/// Non-resident, OIDAR and UIN registrations.
const GSTIN_SPECIAL: [CharClass; 15] = [D, D, D, D, L, L, L, D, D, D, D, D, L, L, A];
const CIN: [CharClass; 21] = [
    LU, D, D, D, D, D, L, L, D, D, D, D, L, L, L, D, D, D, D, D, D,
];
const PAN: [CharClass; 10] = [L, L, L, L, L, D, D, D, D, L];
const LLPIN: [CharClass; 7] = [L, L, L, D, D, D, D];

const TEMPLATES: [(IdKind, &[CharClass]); 5] = [
    (IdKind::Gstin, &GSTIN_PAN),
    (IdKind::Gstin, &GSTIN_SPECIAL),
    (IdKind::Cin, &CIN),
    (IdKind::Pan, &PAN),
    (IdKind::Llpin, &LLPIN),
];

/// Look-alike characters tolerated in one token before it stops looking
/// like an identifier at all (a word in another script).
const MAX_WILDCARDS: usize = 3;
/// Separators tolerated between two characters of an identifier (" - ").
const MAX_SEPARATOR_RUN: usize = 3;
/// Bytes from the start of any candidate to its first digit or non-ASCII
/// character, at most: a PAN's sixth character after five separator runs
/// (5 + 5 × 3 = 20), a labelled attempt's first digit (required within this
/// distance). Lets `extract` skip prose that cannot hold a candidate.
const REACH: usize = 24;
/// How far back from a token a label is looked for.
const LABEL_WINDOW: usize = 48;

/// An identifier found in text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// As written.
    pub value: String,
    pub normalized: String,
    pub valid: bool,
    pub errors: Vec<IdError>,
    /// Byte range of `value` in the text.
    pub span: Range<usize>,
}

/// Everything found in one text, in order of appearance. The same
/// identifier appearing twice (a signature quoted in a reply) is reported
/// twice, with both spans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Extracted {
    pub gstin: Vec<Found>,
    pub pan: Vec<Found>,
    pub cin: Vec<Found>,
    pub llpin: Vec<Found>,
    pub phone: Vec<Phone>,
}

impl Extracted {
    fn list(&mut self, kind: IdKind) -> Option<&mut Vec<Found>> {
        match kind {
            IdKind::Gstin => Some(&mut self.gstin),
            IdKind::Pan => Some(&mut self.pan),
            IdKind::Cin => Some(&mut self.cin),
            IdKind::Llpin => Some(&mut self.llpin),
            IdKind::Unknown => None,
        }
    }
}

/// Finds GSTINs, PANs, CINs, LLPINs and Indian phone numbers in `text`.
/// `current_year` bounds a CIN's year of incorporation (the core reads no
/// clock). Linear in the length of the text.
pub fn extract(text: &str, current_year: i32) -> Extracted {
    let mut out = Extracted::default();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut prev_alphanumeric = false;
    let mut next_special = 0;
    while let Some((c, width)) = char_at(text, i) {
        // Every candidate has a digit or a look-alike within REACH bytes of
        // its start, and prose has few of either: jump over the rest.
        if next_special < i {
            next_special = bytes[i..]
                .iter()
                .position(|&b| b.is_ascii_digit() || !b.is_ascii())
                .map_or(bytes.len(), |p| i + p);
        }
        if next_special > i + REACH {
            // Everything skipped is ASCII, so the target is a char boundary
            // and the byte before it tells whether a word is in progress.
            i = next_special - REACH;
            prev_alphanumeric = bytes[i - 1].is_ascii_alphanumeric();
            continue;
        }
        if !prev_alphanumeric {
            let end = if c.is_alphanumeric() {
                identifier_at(text, i, current_year, &mut out)
            } else {
                None
            };
            let end = end.or_else(|| {
                let phone_start = c.is_ascii_digit() || c == '+' || c == '(';
                (phone_start && !continues_number_backwards(bytes, i))
                    .then(|| phone::match_at(text, i))
                    .flatten()
                    .map(|(end, normalized)| {
                        out.phone.push(Phone {
                            value: text[i..end].to_owned(),
                            normalized,
                            span: i..end,
                        });
                        end
                    })
            });
            if let Some(end) = end {
                i = end;
                prev_alphanumeric = true;
                continue;
            }
        }
        prev_alphanumeric = c.is_alphanumeric();
        i += width;
        if prev_alphanumeric {
            // Nothing starts inside a word: skip the rest of it.
            i += bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
        }
    }
    out
}

/// The character at byte `i`, decoded only when it is not ASCII.
fn char_at(text: &str, i: usize) -> Option<(char, usize)> {
    let b = *text.as_bytes().get(i)?;
    if b.is_ascii() {
        Some((char::from(b), 1))
    } else {
        text.get(i..)?.chars().next().map(|c| (c, c.len_utf8()))
    }
}

/// Tries every identifier shape at a word start; records and returns the end
/// of what it reports.
fn identifier_at(
    text: &str,
    start: usize,
    current_year: i32,
    out: &mut Extracted,
) -> Option<usize> {
    // Every GSTIN starts with a digit and every other identifier with a
    // letter; look-alikes can stand in for either.
    let first = text.as_bytes()[start];
    let templates = if first.is_ascii_digit() {
        &TEMPLATES[..2]
    } else if first.is_ascii_alphabetic() {
        &TEMPLATES[2..]
    } else {
        &TEMPLATES[..]
    };
    for &(kind, classes) in templates {
        let Some(m) = match_template(text, start, classes) else {
            continue;
        };
        let labelled = label_before(text, start) == Some(kind);
        if !labelled && continues_token_backwards(text.as_bytes(), start) {
            return None;
        }
        let errors = errors(kind, &text[start..m.end], current_year);
        let valid = errors.is_empty();
        let mixed_case = m.upper && m.lower;
        let unbroken = !m.separated && !mixed_case;
        let report = labelled
            || match kind {
                IdKind::Gstin | IdKind::Cin => valid || unbroken,
                IdKind::Pan => valid && unbroken,
                IdKind::Llpin | IdKind::Unknown => false,
            };
        if !report {
            return None;
        }
        push(out, kind, text, start..m.end, errors);
        return Some(m.end);
    }
    labelled_attempt(text, start, current_year, out)
}

/// A token right after a label that does not have the labelled shape: a
/// GSTIN one character short, a PAN with a look-alike letter. Reported with
/// its errors, because the label says what it was meant to be.
fn labelled_attempt(
    text: &str,
    start: usize,
    current_year: i32,
    out: &mut Extracted,
) -> Option<usize> {
    const LONGEST: usize = 30;
    let ends_token = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ',' | ';' | '|' | '(' | ')' | '<' | '>' | '[' | ']' | '{' | '}' | '"' | '\''
            )
    };
    // Most words hold no digit and no look-alike: rule them out on bytes
    // before decoding anything.
    let worth_a_look = text.as_bytes()[start..]
        .iter()
        .take(REACH)
        .take_while(|&&b| b >= 0x80 || !ends_token(char::from(b)))
        .any(|&b| b.is_ascii_digit() || b >= 0x80);
    if !worth_a_look {
        return None;
    }
    let rest = &text[start..];
    let mut end = 0;
    let mut chars = 0;
    let mut numeric = false;
    for (offset, c) in rest.char_indices() {
        if ends_token(c) {
            break;
        }
        if chars == LONGEST {
            // Too long to be an identifier; also bounds the work per word.
            return None;
        }
        chars += 1;
        numeric |= c.is_numeric();
        end = offset + c.len_utf8();
    }
    let token = rest[..end].trim_end_matches(['.', ':', '-']);
    // The trimmed characters are ASCII (one byte each) and not digits.
    let chars = chars - (end - token.len());
    let end = token.len();
    if chars < 5 || !numeric {
        return None;
    }
    let kind = label_before(text, start)?;
    let errors = errors(kind, token, current_year);
    push(out, kind, text, start..start + end, errors);
    Some(start + end)
}

fn push(out: &mut Extracted, kind: IdKind, text: &str, span: Range<usize>, errors: Vec<IdError>) {
    let value = &text[span.clone()];
    if let Some(list) = out.list(kind) {
        list.push(Found {
            value: value.to_owned(),
            normalized: normalize(value),
            valid: errors.is_empty(),
            errors,
            span,
        });
    }
}

struct Match {
    end: usize,
    separated: bool,
    upper: bool,
    lower: bool,
}

/// Matches character classes from `start`, allowing a short run of spaces,
/// dashes or dots between characters, and requires the token to end there.
fn match_template(text: &str, start: usize, classes: &[CharClass]) -> Option<Match> {
    let bytes = text.as_bytes();
    let mut m = Match {
        end: start,
        separated: false,
        upper: false,
        lower: false,
    };
    let mut i = start;
    let mut wildcards = 0;
    for (k, &class) in classes.iter().enumerate() {
        if k > 0 {
            let run = bytes[i..]
                .iter()
                .take(MAX_SEPARATOR_RUN)
                .take_while(|&&b| matches!(b, b' ' | b'-' | b'.'))
                .count();
            if run > 0 {
                m.separated = true;
                i += run;
            }
        }
        let (c, width) = char_at(text, i)?;
        if c.is_ascii() {
            if !class.matches(c.to_ascii_uppercase() as u8) {
                return None;
            }
            m.upper |= c.is_ascii_uppercase();
            m.lower |= c.is_ascii_lowercase();
        } else if c.is_alphanumeric() && wildcards < MAX_WILDCARDS {
            wildcards += 1;
        } else {
            return None;
        }
        i += width;
    }
    let ends_token = match char_at(text, i) {
        None => true,
        Some((c, _)) if c.is_alphanumeric() => false,
        Some((c, w)) => {
            !(matches!(c, '-' | '/' | '_' | '@')
                && bytes.get(i + w).is_some_and(u8::is_ascii_alphanumeric))
        }
    };
    m.end = i;
    ends_token.then_some(m)
}

/// Whether the token at `start` is the tail of a longer code such as
/// `INV-2024-000123` or a path.
fn continues_token_backwards(bytes: &[u8], start: usize) -> bool {
    start >= 2
        && matches!(bytes[start - 1], b'-' | b'/' | b'_' | b'@')
        && bytes[start - 2].is_ascii_alphanumeric()
}

/// Whether digits at `start` continue a number written before them, like
/// the tail of `2024-000123`. Letters before a dash (`Mob-98765…`) are a
/// label, not a number.
fn continues_number_backwards(bytes: &[u8], start: usize) -> bool {
    start >= 2
        && matches!(bytes[start - 1], b'-' | b'/' | b'_')
        && bytes[start - 2].is_ascii_digit()
}

/// A word read by `label_before`, without its zero padding.
fn word_str(w: &[u8; 16]) -> &[u8] {
    let len = w.iter().position(|&b| b == 0).unwrap_or(w.len());
    &w[..len]
}

fn is_label_separator(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\r' | b'\n' | b':' | b'#' | b'.' | b'-' | b'=' | b'/' | b'(' | b')'
    )
}

/// Words between a label and its value: "GST Reg. No.", "PAN Number".
const FILLERS: [&[u8]; 11] = [
    b"no",
    b"nbr",
    b"num",
    b"number",
    b"is",
    b"reg",
    b"regn",
    b"registration",
    b"id",
    b"in",
    b"code",
];

/// The kind named by the label just before `start`, if any: up to three
/// filler words, then one of the label words or phrases, separated only by
/// spaces and punctuation such as `:` `#` `.` `-`.
fn label_before(text: &str, start: usize) -> Option<IdKind> {
    let bytes = text.as_bytes();
    let floor = start.saturating_sub(LABEL_WINDOW);
    let mut i = start;
    let word = |i: &mut usize| -> Option<[u8; 16]> {
        while *i > floor && is_label_separator(bytes[*i - 1]) {
            *i -= 1;
        }
        let end = *i;
        while *i > floor && bytes[*i - 1].is_ascii_alphabetic() {
            *i -= 1;
        }
        let len = end - *i;
        let glued = *i > 0 && bytes[*i - 1].is_ascii_alphanumeric();
        if len == 0 || len > 16 || glued {
            return None;
        }
        let mut w = [0u8; 16];
        for (o, b) in w.iter_mut().zip(&bytes[*i..end]) {
            *o = b.to_ascii_lowercase();
        }
        Some(w)
    };
    let mut first = word(&mut i)?;
    for _ in 0..3 {
        if !FILLERS.contains(&word_str(&first)) {
            break;
        }
        first = word(&mut i)?;
    }
    match word_str(&first) {
        b"gstin" | b"gst" | b"gstn" | b"uin" => Some(IdKind::Gstin),
        b"pan" => Some(IdKind::Pan),
        b"cin" => Some(IdKind::Cin),
        b"llpin" | b"llp" => Some(IdKind::Llpin),
        b"identity" | b"identification" | b"account" => {
            let second = word(&mut i)?;
            match (word_str(&first), word_str(&second)) {
                (b"account", b"permanent") => Some(IdKind::Pan),
                (b"identity" | b"identification", b"corporate" | b"company") => Some(IdKind::Cin),
                (b"identification", b"llp") => Some(IdKind::Llpin),
                _ => None,
            }
        }
        _ => None,
    }
}
