//! Validation errors.
//!
//! Every variant is `Copy` and holds only fixed-size data so that the hot
//! validation path ([`crate::identifiers::Gstin::parse`] and friends) can report
//! a precise reason without allocating. Positions are 1-based and count
//! characters of the identifier after spaces, dashes and dots are removed,
//! because that is the form people compare against the printed certificate.

use std::fmt;
use std::ops::ControlFlow;

use serde::{Serialize, Serializer};

/// What a position in an identifier must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CharClass {
    /// `0`–`9`.
    Digit,
    /// `A`–`Z` (lower case is accepted and upper-cased first).
    Letter,
    /// `0`–`9` or `A`–`Z`.
    LetterOrDigit,
    /// The CIN listing status: `L` (listed) or `U` (unlisted).
    ListingStatus,
}

impl CharClass {
    /// Whether an upper-cased ASCII byte belongs to the class.
    pub(crate) fn matches(self, b: u8) -> bool {
        match self {
            Self::Digit => b.is_ascii_digit(),
            Self::Letter => b.is_ascii_uppercase(),
            Self::LetterOrDigit => b.is_ascii_digit() || b.is_ascii_uppercase(),
            Self::ListingStatus => b == b'L' || b == b'U',
        }
    }
}

impl fmt::Display for CharClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Digit => "a digit",
            Self::Letter => "a letter",
            Self::LetterOrDigit => "a letter or digit",
            Self::ListingStatus => "L (listed) or U (unlisted)",
        })
    }
}

/// A character shown so that a person can tell look-alikes apart: a Cyrillic
/// `А` prints as `'А' (U+0410)`, a NUL byte as `U+0000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shown(pub char);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        if c.is_ascii_graphic() {
            write!(f, "'{c}'")
        } else if c.is_control() || c.is_whitespace() {
            write!(f, "U+{:04X}", u32::from(c))
        } else {
            write!(f, "'{c}' (U+{:04X})", u32::from(c))
        }
    }
}

/// A short fixed-width code taken from a normalised identifier (a state code,
/// an ownership code), kept inline so that errors stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code<const N: usize>(pub(crate) [u8; N]);

impl<const N: usize> Code<N> {
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let mut out = [b'?'; N];
        for (o, b) in out.iter_mut().zip(bytes) {
            *o = *b;
        }
        Self(out)
    }
}

impl<const N: usize> fmt::Display for Code<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            write!(f, "{}", char::from(b))?;
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for Code<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Why an identifier is invalid. The `Display` text is what users see (and
/// what the JSON output carries), so each message names the position and the
/// expected value rather than just "invalid".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum IdError {
    #[error("empty input")]
    Empty,
    #[error("wrong length: expected {expected} characters, found {found}")]
    Length { expected: usize, found: usize },
    #[error("bad character {found} at position {position}: expected {expected}")]
    BadCharacter {
        position: usize,
        found: Shown,
        expected: CharClass,
    },
    #[error("unknown state code {code}: GSTIN state codes are 01-38, 97 and 99")]
    UnknownStateCode { code: Code<2> },
    #[error("OIDAR registrations (OS at positions 13-14) carry state code 99, found {found}")]
    OidarStateCode { found: Code<2> },
    #[error(
        "unknown PAN holder type '{found}' at position {position}: expected one of A B C F G H J L P T"
    )]
    PanHolderType { position: usize, found: char },
    #[error("PAN serial number at positions {position}-{} is 0000", position + 3)]
    PanSerialZero { position: usize },
    #[error("entity number at position 13 is 0: it runs 1-9, then A-Z")]
    EntityNumberZero,
    #[error(
        "unknown registration type '{found}' at position 14: expected Z (regular), D (TDS deductor) or C (TCS collector)"
    )]
    RegistrationType { found: char },
    #[error(
        "unknown registration type {found} at positions 13-14: expected NR or NF (non-resident taxable person), OS (OIDAR), UN or ON (UIN holder)"
    )]
    SpecialRegistrationType { found: Code<2> },
    #[error(
        "check character mismatch at position {position}: expected '{expected}', found '{found}'"
    )]
    CheckCharacter {
        position: usize,
        expected: char,
        found: char,
    },
    #[error("unknown CIN state code {code} at positions 7-8")]
    UnknownCinState { code: Code<2> },
    #[error("CIN year {year} is in the future (current year {current})")]
    CinYearInFuture { year: u16, current: i32 },
    #[error("CIN year {year} is before {earliest}, earlier than any Indian company registration")]
    CinYearTooEarly { year: u16, earliest: u16 },
    #[error(
        "unknown CIN ownership code {code} at positions 13-15: expected one of PLC PTC GOI SGC FLC FTC GAP GAT NPL ULL ULT OPC"
    )]
    UnknownOwnershipCode { code: Code<3> },
    #[error(
        "not a GSTIN, PAN, CIN or LLPIN: {length} characters after removing spaces, dashes and dots"
    )]
    Unrecognised { length: usize },
}

impl Serialize for IdError {
    /// Serialised as the message so that API and CLI consumers get the same
    /// text a person reads, without a second mapping to keep in sync.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where a checker sends the problems it finds. The hot path stops at the
/// first one without allocating; reports collect them all. One checker serves
/// both, so the two can never disagree.
pub(crate) trait Sink {
    fn report(&mut self, error: IdError) -> ControlFlow<()>;
}

/// Keeps the first error and stops the checker.
#[derive(Default)]
pub(crate) struct FirstError(pub(crate) Option<IdError>);

impl Sink for FirstError {
    fn report(&mut self, error: IdError) -> ControlFlow<()> {
        self.0 = Some(error);
        ControlFlow::Break(())
    }
}

impl Sink for Vec<IdError> {
    fn report(&mut self, error: IdError) -> ControlFlow<()> {
        self.push(error);
        ControlFlow::Continue(())
    }
}
