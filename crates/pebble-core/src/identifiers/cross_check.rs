//! Consistency between a company's identifiers.
//!
//! Each identifier can be valid on its own and still belong to someone else:
//! a GSTIN copied from a supplier's invoice, a director's personal PAN typed
//! into the company record. These checks catch that offline.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use super::error::IdError;
use super::gstin::Gstin;
use super::pan::{HolderType, Pan};
use super::report::{
    detect, validate_cin, validate_gstin, validate_llpin, validate_pan, IdKind, Validation,
};
use super::state::{state_from_address, GstState};

/// A company's identifiers as Pebble holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyIdentifiers {
    pub pan: Option<String>,
    #[serde(default)]
    pub gstins: Vec<String>,
    /// The CIN or, for an LLP, the LLPIN.
    pub cin: Option<String>,
    /// The state of the registered address: a name, an abbreviation or a
    /// GST state code.
    pub state: Option<String>,
}

/// A disagreement between identifiers, or an identifier that is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrossCheckIssue {
    Invalid {
        field: &'static str,
        value: String,
        errors: Vec<IdError>,
    },
    UnknownState {
        state: String,
    },
    GstinPanMismatch {
        gstin: String,
        gstin_pan: String,
        company_pan: String,
    },
    GstinStateMismatch {
        gstin: String,
        gstin_state: &'static str,
        company_state: &'static str,
    },
    PanNotCompany {
        pan: String,
        holder_type: HolderType,
    },
    PanHolderMismatch {
        pan: String,
        holder_type: HolderType,
        registration: &'static str,
        expected: HolderType,
    },
}

impl fmt::Display for CrossCheckIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid {
                field,
                value,
                errors,
            } => {
                write!(f, "{field} {value:?} is invalid: ")?;
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            Self::UnknownState { state } => write!(
                f,
                "company state {state:?} is not a known Indian state or union territory"
            ),
            Self::GstinPanMismatch {
                gstin,
                gstin_pan,
                company_pan,
            } => write!(
                f,
                "GSTIN {gstin} carries PAN {gstin_pan}, but the company's PAN is {company_pan}"
            ),
            Self::GstinStateMismatch {
                gstin,
                gstin_state,
                company_state,
            } => write!(
                f,
                "GSTIN {gstin} is registered in {gstin_state}, but the company's state is {company_state}"
            ),
            Self::PanNotCompany { pan, holder_type } => write!(
                f,
                "company PAN {pan} has holder type {} ({}); a company's PAN has holder type C (or F for a firm or LLP)",
                holder_type.code(),
                holder_type.description()
            ),
            Self::PanHolderMismatch {
                pan,
                holder_type,
                registration,
                expected,
            } => write!(
                f,
                "PAN {pan} has holder type {} ({}), but a company with a {registration} has holder type {} ({})",
                holder_type.code(),
                holder_type.description(),
                expected.code(),
                expected.description()
            ),
        }
    }
}

impl Serialize for CrossCheckIssue {
    /// Serialised as the message, like [`IdError`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// States that GST codes twice: Daman and Diu (25) merged into 26 in 2020,
/// and undivided Andhra Pradesh (28) lives on in old GSTINs next to 37.
fn same_state(a: u8, b: u8) -> bool {
    let canonical = |c| match c {
        25 => 26,
        28 => 37,
        c => c,
    };
    canonical(a) == canonical(b)
}

fn invalid(field: &'static str, validation: Validation) -> CrossCheckIssue {
    CrossCheckIssue::Invalid {
        field,
        value: validation.value,
        errors: validation.errors,
    }
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// Checks a company's identifiers against each other: every GSTIN's PAN is
/// the company's PAN, every GSTIN's state is the company's state, and the
/// company's PAN belongs to a company (holder type C) or, for a firm or LLP,
/// F. Invalid identifiers are reported with their errors and left out of the
/// comparisons. `current_year` bounds the CIN's year.
///
/// A company registered in several states legitimately holds GSTINs from
/// each; pass the state that the GSTINs are expected to match.
pub fn cross_check(company: &CompanyIdentifiers, current_year: i32) -> Vec<CrossCheckIssue> {
    let mut issues = Vec::new();

    let pan = present(&company.pan).and_then(|p| match Pan::parse(p) {
        Ok(pan) => Some(pan),
        Err(_) => {
            issues.push(invalid("PAN", validate_pan(p)));
            None
        }
    });

    let registration = present(&company.cin).and_then(|c| {
        let (field, kind, validation) = if detect(c) == IdKind::Llpin {
            ("LLPIN", IdKind::Llpin, validate_llpin(c))
        } else {
            ("CIN", IdKind::Cin, validate_cin(c, current_year))
        };
        if validation.valid {
            Some(kind)
        } else {
            issues.push(invalid(field, validation));
            None
        }
    });

    let gstins: Vec<Gstin> = company
        .gstins
        .iter()
        .filter_map(|g| match Gstin::parse(g) {
            Ok(gstin) => Some(gstin),
            Err(_) => {
                issues.push(invalid("GSTIN", validate_gstin(g)));
                None
            }
        })
        .collect();

    let state: Option<GstState> = present(&company.state).and_then(|s| {
        let found = state_from_address(s);
        if found.is_none() {
            issues.push(CrossCheckIssue::UnknownState {
                state: s.to_owned(),
            });
        }
        found
    });

    if let Some(pan) = pan {
        let holder_type = pan.holder_type();
        let expected = match registration {
            Some(IdKind::Llpin) => Some(("LLPIN", HolderType::FirmOrLlp)),
            Some(_) => Some(("CIN", HolderType::Company)),
            None => None,
        };
        match expected {
            Some((registration, expected)) if holder_type != expected => {
                issues.push(CrossCheckIssue::PanHolderMismatch {
                    pan: pan.to_string(),
                    holder_type,
                    registration,
                    expected,
                });
            }
            None if !matches!(holder_type, HolderType::Company | HolderType::FirmOrLlp) => {
                issues.push(CrossCheckIssue::PanNotCompany {
                    pan: pan.to_string(),
                    holder_type,
                });
            }
            _ => {}
        }
    }

    for gstin in gstins {
        if let (Some(company_pan), Some(gstin_pan)) = (pan, gstin.pan()) {
            if company_pan != gstin_pan {
                issues.push(CrossCheckIssue::GstinPanMismatch {
                    gstin: gstin.to_string(),
                    gstin_pan: gstin_pan.to_string(),
                    company_pan: company_pan.to_string(),
                });
            }
        }
        let registered = gstin.state();
        // 97 and 99 are not places a company's address can be in.
        let comparable = !matches!(registered.code, 97 | 99);
        if let Some(company_state) = state.filter(|_| comparable) {
            if !same_state(registered.code, company_state.code) {
                issues.push(CrossCheckIssue::GstinStateMismatch {
                    gstin: gstin.to_string(),
                    gstin_state: registered.name,
                    company_state: company_state.name,
                });
            }
        }
    }
    issues
}
