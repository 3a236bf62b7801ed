//! GSTIN, the 15-character GST identification number, and the UIN issued to
//! UN bodies and embassies on the same pattern.
//!
//! # Structures
//!
//! GSTN's advisory "Information on GSTIN Format" (October 2017) defines two
//! families, told apart by the third character:
//!
//! | kind | 1–2 | 3–12 | 13 | 14 | 15 |
//! |---|---|---|---|---|---|
//! | regular (normal, composition, casual, SEZ, ISD) | state | PAN | entity 1–9, A–Z | `Z` | check |
//! | TDS deductor (section 51) | state | PAN or TAN | entity | `D` | check |
//! | TCS collector, e-commerce operator (section 52) | state | PAN | entity | `C` | check |
//!
//! | kind | 1–2 | 3–4 | 5–7 | 8–12 | 13–14 | 15 |
//! |---|---|---|---|---|---|---|
//! | non-resident taxable person | state | year | country | serial | `NR` (`NF` in GSTN's sample) | check |
//! | OIDAR supplier | `99` | year | country | serial | `OS` | check |
//! | UIN holder: UN body, embassy (`UN`), other notified person (`ON`) | state | year | country | serial | `UN` / `ON` | check |
//!
//! The 14th-character values `D` and `C` and the `NR`/`OS`/`UN`/`ON` markers
//! are those issued by the GST portal (the same patterns are used by the
//! india-compliance and Odoo GST validators, which are checked against it).
//! The country is a three-letter code (ISO 3166 alpha-3, or `UNO` for UN
//! bodies) and is not checked against a list because GSTN does not publish
//! one. A TAN is `AAAA99999A`; a TDS GSTIN holds a TAN exactly when its
//! seventh character is a digit (in a PAN it is a letter).
//!
//! # Check character
//!
//! Luhn mod 36 over `0-9A-Z` with weights 1, 2, 1, 2, … from the left, as in
//! GSTN's published algorithm. It applies to every kind: real OIDAR and UIN
//! numbers such as `9917SGP29001OST` and `0717UNO00157UNO` satisfy it. Because
//! doubling is a permutation modulo 36, any single substituted character
//! changes the check character, so a one-character typo is always caught.

use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;

use serde::Serialize;

use super::error::{CharClass, Code, FirstError, IdError, Sink};
use super::normalize::{check_classes, parse_first, Compact};
use super::pan::{self, Pan};
use super::report::Info;
use super::state::{gst_state, GstState};

pub(crate) const LEN: usize = 15;

const D: CharClass = CharClass::Digit;
const L: CharClass = CharClass::Letter;
const A: CharClass = CharClass::LetterOrDigit;

const PAN_LAYOUT: [CharClass; LEN] = [D, D, L, L, L, L, L, D, D, D, D, L, A, A, A];
const TAN_LAYOUT: [CharClass; LEN] = [D, D, L, L, L, L, D, D, D, D, D, L, A, A, A];
const SPECIAL_LAYOUT: [CharClass; LEN] = [D, D, D, D, L, L, L, D, D, D, D, D, L, L, A];

const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The kind of GST registration a GSTIN belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GstinKind {
    /// Normal, composition, casual, SEZ and ISD registrations (14th `Z`).
    Regular,
    /// Tax deductor at source under section 51 (14th `D`).
    Tds,
    /// Tax collector at source, e-commerce operators (14th `C`).
    Tcs,
    /// Non-resident taxable person (`NR`).
    Nrtp,
    /// Online information and database access or retrieval supplier from
    /// outside India (`OS`, state 99).
    Oidar,
    /// Unique Identification Number of UN bodies, embassies and other
    /// notified persons (`UN`, `ON`).
    Uin,
}

/// The three GSTIN layouts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Pan,
    Tan,
    Special,
}

impl Layout {
    /// Which layout a (possibly invalid) GSTIN follows. Decided on as few
    /// characters as possible so that a typo elsewhere still gets errors
    /// about the layout the writer meant.
    fn of(b: &[u8]) -> Self {
        if b.get(2).is_some_and(u8::is_ascii_digit) {
            Self::Special
        } else if b.get(13) == Some(&b'D') && b.get(6).is_some_and(u8::is_ascii_digit) {
            Self::Tan
        } else {
            Self::Pan
        }
    }

    fn classes(self) -> &'static [CharClass; LEN] {
        match self {
            Self::Pan => &PAN_LAYOUT,
            Self::Tan => &TAN_LAYOUT,
            Self::Special => &SPECIAL_LAYOUT,
        }
    }
}

fn kind_of(b: &[u8; LEN]) -> Option<GstinKind> {
    if b[2].is_ascii_digit() {
        match &b[12..14] {
            b"NR" | b"NF" => Some(GstinKind::Nrtp),
            b"OS" => Some(GstinKind::Oidar),
            b"UN" | b"ON" => Some(GstinKind::Uin),
            _ => None,
        }
    } else {
        match b[13] {
            b'Z' => Some(GstinKind::Regular),
            b'D' => Some(GstinKind::Tds),
            b'C' => Some(GstinKind::Tcs),
            _ => None,
        }
    }
}

/// The Luhn mod 36 check character for the first 14 characters, or `None`
/// if one of them is outside `0-9A-Z`.
pub(crate) fn check_character(body: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (i, &b) in body.iter().enumerate() {
        let value = u32::from(alphabet_value(b)?);
        let weighted = value * if i % 2 == 0 { 1 } else { 2 };
        sum += weighted / 36 + weighted % 36;
    }
    ALPHABET.get(((36 - sum % 36) % 36) as usize).copied()
}

/// Checks a GSTIN, reporting every problem that can be told apart.
pub(crate) fn check(compact: &Compact, sink: &mut impl Sink) -> ControlFlow<()> {
    let shape = Layout::of(compact.bytes()).classes();
    let Some(b) = compact.precheck::<LEN>(|i| shape[i], sink)? else {
        return ControlFlow::Continue(());
    };
    let layout = Layout::of(&b);
    check_classes(&b, layout.classes(), 0, sink)?;

    let state = [b[0], b[1]];
    if state.iter().all(u8::is_ascii_digit) && gst_state(state).is_none() {
        sink.report(IdError::UnknownStateCode { code: Code(state) })?;
    }

    if layout == Layout::Special {
        let marker = [b[12], b[13]];
        match kind_of(&b) {
            Some(GstinKind::Oidar) if state != *b"99" => {
                sink.report(IdError::OidarStateCode { found: Code(state) })?;
            }
            None if marker.iter().all(u8::is_ascii_uppercase) => {
                sink.report(IdError::SpecialRegistrationType {
                    found: Code(marker),
                })?;
            }
            _ => {}
        }
    } else {
        if layout == Layout::Pan {
            pan::check_components(&pan_bytes(&b), 2, sink)?;
        }
        if b[12] == b'0' {
            sink.report(IdError::EntityNumberZero)?;
        }
        if kind_of(&b).is_none() {
            sink.report(IdError::RegistrationType {
                found: char::from(b[13]),
            })?;
        }
    }

    if let Some(expected) = check_character(&b[..14]) {
        if expected != b[14] {
            sink.report(IdError::CheckCharacter {
                position: LEN,
                expected: char::from(expected),
                found: char::from(b[14]),
            })?;
        }
    }
    ControlFlow::Continue(())
}

/// Fills in what can be decoded from a GSTIN, valid or not, so that a
/// report on a mistyped number still says whose and where it is.
pub(crate) fn describe(compact: &Compact, info: &mut Info) {
    let bytes = compact.bytes();
    if let Some(state) = bytes.get(..2).and_then(|s| gst_state([s[0], s[1]])) {
        info.state = Some(state.name);
        info.state_code = Some(format!("{:02}", state.code));
    }
    let Some(b) = compact.exact::<LEN>() else {
        return;
    };
    info.registration_type = kind_of(&b);
    let layout = Layout::of(&b);
    if layout == Layout::Special {
        if b[2..4].iter().all(u8::is_ascii_digit) {
            info.year = Some(2000 + u16::from(b[2] - b'0') * 10 + u16::from(b[3] - b'0'));
        }
        if b[4..7].iter().all(u8::is_ascii_uppercase) {
            info.country = Some(String::from_utf8_lossy(&b[4..7]).into_owned());
        }
        return;
    }
    if layout == Layout::Tan {
        if check_classes(&b[2..12], &TAN_LAYOUT[2..12], 2, &mut FirstError::default()).is_continue()
        {
            info.tan = Some(String::from_utf8_lossy(&b[2..12]).into_owned());
        }
    } else {
        let pan = pan_bytes(&b);
        if pan::check_embedded(&pan, 2, &mut FirstError::default()).is_continue() {
            let pan = Pan::from_checked(pan);
            info.pan = Some(pan.to_string());
            info.holder_type = Some(pan.holder_type().description());
        }
    }
    if let Some(n) = alphabet_value(b[12]).filter(|&n| n > 0) {
        info.entity_number = Some(n);
    }
}

fn alphabet_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'Z' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn pan_bytes(b: &[u8; LEN]) -> [u8; pan::LEN] {
    let mut out = [0; pan::LEN];
    out.copy_from_slice(&b[2..12]);
    out
}

/// A valid GSTIN (or UIN) in normalised form. `Copy` and allocation-free so
/// that bulk validation stays cheap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gstin([u8; LEN]);

impl Gstin {
    /// Validates a GSTIN, stopping at the first problem.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        parse_first(input, check).map(Self)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn kind(&self) -> GstinKind {
        kind_of(&self.0).unwrap_or(GstinKind::Regular)
    }

    /// The state or territory of registration (99 for OIDAR suppliers).
    pub fn state(&self) -> GstState {
        gst_state([self.0[0], self.0[1]]).unwrap_or(GstState {
            code: 0,
            name: "unknown",
        })
    }

    /// The holder's PAN, for the kinds that embed one (not for NRTP, OIDAR,
    /// UIN, nor a TDS deductor registered on its TAN).
    pub fn pan(&self) -> Option<Pan> {
        (Layout::of(&self.0) == Layout::Pan).then(|| Pan::from_checked(pan_bytes(&self.0)))
    }

    /// The deductor's TAN, for a TDS registration made on a TAN.
    pub fn tan(&self) -> Option<&str> {
        (Layout::of(&self.0) == Layout::Tan).then(|| &self.as_str()[2..12])
    }
}

impl fmt::Display for Gstin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Gstin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gstin({})", self.as_str())
    }
}

impl FromStr for Gstin {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
