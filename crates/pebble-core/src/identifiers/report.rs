//! The validation report: one JSON object per identifier, as the CLI prints
//! and the `CompanyValidated` event records.

use std::ops::ControlFlow;

use serde::Serialize;

use super::cin;
use super::error::IdError;
use super::gstin::{self, GstinKind};
use super::normalize::{normalize, Compact};
use super::pan;

/// Which identifier a string is (or was validated as).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdKind {
    Gstin,
    Pan,
    Cin,
    Llpin,
    Unknown,
}

/// What could be decoded from the identifier. Filled in as far as the input
/// allows even when it is invalid, so a mistyped GSTIN still shows its state
/// and PAN; fields that do not apply are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Info {
    /// GSTIN registration kind: regular, tds, tcs, nrtp, oidar, uin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_type: Option<GstinKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    /// The state as coded in the identifier: `27` in a GSTIN, `MH` in a CIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pan: Option<String>,
    /// The deductor's TAN in a TDS GSTIN registered on a TAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tan: Option<String>,
    /// A GSTIN's 13th character as a number: the holder's nth registration
    /// in the state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_number: Option<u8>,
    /// The country code of a non-resident, OIDAR or UIN registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Year of incorporation (CIN) or registration (non-resident, OIDAR, UIN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub industry_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ownership: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ownership_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_number: Option<String>,
}

/// The outcome of validating one identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Validation {
    /// The input exactly as given.
    pub value: String,
    pub kind: IdKind,
    pub valid: bool,
    pub normalized: String,
    /// Every problem found, in position order within each rule.
    pub errors: Vec<IdError>,
    pub info: Info,
}

fn report(
    input: &str,
    kind: IdKind,
    check: impl FnOnce(&Compact, &mut Vec<IdError>) -> ControlFlow<()>,
    describe: impl FnOnce(&Compact, &mut Info),
) -> Validation {
    let compact = Compact::new(input);
    let mut errors = Vec::new();
    let _ = check(&compact, &mut errors);
    let mut info = Info::default();
    describe(&compact, &mut info);
    Validation {
        value: input.to_owned(),
        kind,
        valid: errors.is_empty(),
        normalized: normalize(input),
        errors,
        info,
    }
}

pub fn validate_gstin(input: &str) -> Validation {
    report(input, IdKind::Gstin, gstin::check, gstin::describe)
}

pub fn validate_pan(input: &str) -> Validation {
    report(input, IdKind::Pan, pan::check, pan::describe)
}

/// `current_year` bounds the year of incorporation: the core reads no clock.
pub fn validate_cin(input: &str, current_year: i32) -> Validation {
    report(
        input,
        IdKind::Cin,
        |c, sink| cin::check(c, current_year, sink),
        cin::describe,
    )
}

pub fn validate_llpin(input: &str) -> Validation {
    report(input, IdKind::Llpin, cin::check_llpin, |_, _| {})
}

/// The errors alone, for extraction, which reports no `Info` and so need not
/// build one for every candidate.
pub(crate) fn errors(kind: IdKind, input: &str, current_year: i32) -> Vec<IdError> {
    let compact = Compact::new(input);
    let mut errors = Vec::new();
    let _ = match kind {
        IdKind::Gstin => gstin::check(&compact, &mut errors),
        IdKind::Pan => pan::check(&compact, &mut errors),
        IdKind::Cin => cin::check(&compact, current_year, &mut errors),
        IdKind::Llpin => cin::check_llpin(&compact, &mut errors),
        IdKind::Unknown => ControlFlow::Continue(()),
    };
    errors
}

/// Validates as the given kind; `Unknown` means "detect it".
pub fn validate(kind: IdKind, input: &str, current_year: i32) -> Validation {
    match kind {
        IdKind::Gstin => validate_gstin(input),
        IdKind::Pan => validate_pan(input),
        IdKind::Cin => validate_cin(input, current_year),
        IdKind::Llpin => validate_llpin(input),
        IdKind::Unknown => validate_auto(input, current_year),
    }
}

/// Decides which identifier a string is meant to be. The lengths differ
/// (15, 10, 21, 7), so the length decides; near misses go to the kind whose
/// shape they start with, so that "14 characters starting with 27AAP" is
/// reported as a GSTIN that is one character short rather than as unknown.
pub fn detect(input: &str) -> IdKind {
    let compact = Compact::new(input);
    let b = compact.bytes();
    match compact.len {
        gstin::LEN => IdKind::Gstin,
        pan::LEN => IdKind::Pan,
        cin::LEN => IdKind::Cin,
        cin::LLPIN_LEN => IdKind::Llpin,
        0 => IdKind::Unknown,
        n => match b.first() {
            Some(c) if c.is_ascii_digit() && (12..=18).contains(&n) => IdKind::Gstin,
            Some(b'L' | b'U') if (18..=24).contains(&n) => IdKind::Cin,
            Some(c) if c.is_ascii_uppercase() && (8..=12).contains(&n) => IdKind::Pan,
            _ => IdKind::Unknown,
        },
    }
}

/// Detects the kind and validates as that kind.
pub fn validate_auto(input: &str, current_year: i32) -> Validation {
    match detect(input) {
        IdKind::Unknown => {
            let compact = Compact::new(input);
            let error = if compact.len == 0 {
                IdError::Empty
            } else {
                IdError::Unrecognised {
                    length: compact.len,
                }
            };
            Validation {
                value: input.to_owned(),
                kind: IdKind::Unknown,
                valid: false,
                normalized: normalize(input),
                errors: vec![error],
                info: Info::default(),
            }
        }
        kind => validate(kind, input, current_year),
    }
}
