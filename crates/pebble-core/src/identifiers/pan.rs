//! PAN, the income-tax Permanent Account Number: `AAAAA9999A`.
//!
//! Structure (Income Tax Department, "Permanent Account Number" tutorial and
//! CBDT notifications): three letters of series, the holder type, the initial
//! of the holder's (sur)name, a four-digit serial from 0001 to 9999, and a
//! final letter. The final letter is a check letter whose algorithm has never
//! been published, so it cannot be verified offline and is not.

use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;

use serde::Serialize;

use super::error::{CharClass, IdError, Sink};
use super::normalize::{check_classes, parse_first, Compact};
use super::report::Info;

pub(crate) const LEN: usize = 10;

const L: CharClass = CharClass::Letter;
const D: CharClass = CharClass::Digit;
pub(crate) const CLASSES: [CharClass; LEN] = [L, L, L, L, L, D, D, D, D, L];

/// Who holds a PAN, from its fourth character.
///
/// `K` ("Krish", artificial juridical person for agriculture) was withdrawn
/// and is not in the Income Tax Department's current list, so it is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderType {
    AssociationOfPersons,
    BodyOfIndividuals,
    Company,
    FirmOrLlp,
    Government,
    HinduUndividedFamily,
    ArtificialJuridicalPerson,
    LocalAuthority,
    Individual,
    Trust,
}

impl HolderType {
    /// The holder type for a PAN's fourth character (upper case).
    pub fn from_code(code: char) -> Option<Self> {
        Some(match code {
            'A' => Self::AssociationOfPersons,
            'B' => Self::BodyOfIndividuals,
            'C' => Self::Company,
            'F' => Self::FirmOrLlp,
            'G' => Self::Government,
            'H' => Self::HinduUndividedFamily,
            'J' => Self::ArtificialJuridicalPerson,
            'L' => Self::LocalAuthority,
            'P' => Self::Individual,
            'T' => Self::Trust,
            _ => return None,
        })
    }

    pub fn code(self) -> char {
        match self {
            Self::AssociationOfPersons => 'A',
            Self::BodyOfIndividuals => 'B',
            Self::Company => 'C',
            Self::FirmOrLlp => 'F',
            Self::Government => 'G',
            Self::HinduUndividedFamily => 'H',
            Self::ArtificialJuridicalPerson => 'J',
            Self::LocalAuthority => 'L',
            Self::Individual => 'P',
            Self::Trust => 'T',
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::AssociationOfPersons => "Association of Persons (AOP)",
            Self::BodyOfIndividuals => "Body of Individuals (BOI)",
            Self::Company => "Company",
            Self::FirmOrLlp => "Firm or Limited Liability Partnership",
            Self::Government => "Government",
            Self::HinduUndividedFamily => "Hindu Undivided Family (HUF)",
            Self::ArtificialJuridicalPerson => "Artificial Juridical Person",
            Self::LocalAuthority => "Local Authority",
            Self::Individual => "Individual",
            Self::Trust => "Trust",
        }
    }
}

/// A valid PAN in normalised form. `Copy` and allocation-free so that bulk
/// validation stays cheap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pan([u8; LEN]);

impl Pan {
    /// Validates a PAN, stopping at the first problem.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        parse_first(input, check).map(Self)
    }

    /// Wraps bytes already checked by [`check_embedded`] or, inside a valid
    /// GSTIN, by the GSTIN checker.
    pub(crate) fn from_checked(bytes: [u8; LEN]) -> Self {
        Self(bytes)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn holder_type(&self) -> HolderType {
        // The fourth character was checked on construction.
        HolderType::from_code(char::from(self.0[3])).unwrap_or(HolderType::Individual)
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.as_str())
    }
}

impl FromStr for Pan {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Fills in the holder type, valid PAN or not.
pub(crate) fn describe(compact: &Compact, info: &mut Info) {
    if let Some(holder) = compact
        .exact::<LEN>()
        .and_then(|b| HolderType::from_code(char::from(b[3])))
    {
        info.holder_type = Some(holder.description());
    }
}

/// Checks a PAN on its own.
pub(crate) fn check(compact: &Compact, sink: &mut impl Sink) -> ControlFlow<()> {
    if let Some(bytes) = compact.precheck::<LEN>(|i| CLASSES[i], sink)? {
        check_embedded(&bytes, 0, sink)?;
    }
    ControlFlow::Continue(())
}

/// Checks the ten characters of a PAN that start after `offset` characters of
/// an enclosing identifier (2 inside a GSTIN), so positions in messages are
/// those of the enclosing identifier. Returns whether the PAN is valid.
pub(crate) fn check_embedded(
    pan: &[u8; LEN],
    offset: usize,
    sink: &mut impl Sink,
) -> ControlFlow<(), bool> {
    let classes_ok = check_classes(pan, &CLASSES, offset, sink)?;
    let components_ok = check_components(pan, offset, sink)?;
    ControlFlow::Continue(classes_ok && components_ok)
}

/// The rules beyond character classes: holder type and serial number.
pub(crate) fn check_components(
    pan: &[u8; LEN],
    offset: usize,
    sink: &mut impl Sink,
) -> ControlFlow<(), bool> {
    let mut ok = true;
    if pan[3].is_ascii_uppercase() && HolderType::from_code(char::from(pan[3])).is_none() {
        ok = false;
        sink.report(IdError::PanHolderType {
            position: offset + 4,
            found: char::from(pan[3]),
        })?;
    }
    if &pan[5..9] == b"0000" {
        ok = false;
        sink.report(IdError::PanSerialZero {
            position: offset + 6,
        })?;
    }
    ControlFlow::Continue(ok)
}
