//! Offline validation and extraction of Indian business identifiers: GSTIN
//! (and UIN), PAN, CIN and LLPIN, plus Indian phone numbers in free text.
//!
//! Pebble links every email to a company, and the identifiers in a signature
//! or letterhead are the strongest evidence of which company it is. A wrong
//! GSTIN on an invoice costs the customer their input-tax credit, so a typo
//! must be caught and explained (which character, what was expected), and a
//! look-alike (a Cyrillic `А`, a full-width digit) must never pass.
//!
//! # Two paths
//!
//! * [`Gstin::parse`], [`Pan::parse`], [`Cin::parse`], [`Llpin::parse`]: stop
//!   at the first problem and allocate nothing, for bulk checks.
//! * [`validate_gstin`], [`validate_pan`], [`validate_cin`], [`validate_llpin`],
//!   [`validate_auto`]: collect every problem into a [`Validation`] that
//!   serialises to the JSON the CLI prints:
//!   `{value, kind, valid, normalized, errors: [..], info: {..}}`.
//!
//! Both run the same checker, so they cannot disagree about validity.
//!
//! # Conventions
//!
//! Input is normalised first: surrounding and inner whitespace, dashes and
//! dots are removed and ASCII letters upper-cased ([`normalize`]). Error
//! positions are 1-based over that compact form. The current year is always a
//! parameter: the core has no clock.
//!
//! # Differences from python-stdnum
//!
//! `stdnum.in_.gstin` and `stdnum.in_.pan` (python-stdnum 2.2) are the
//! reference. `tests/stdnum_differential.rs` compares the two on tens of
//! thousands of generated inputs and allows only these documented
//! differences:
//!
//! 1. **State codes 38, 97, 99.** Accepted here (Ladakh, Other Territory,
//!    Centre Jurisdiction, all in GSTN's code list); stdnum's table stops at 37.
//! 2. **Special registrations.** TDS deductors (14th `D`, PAN or TAN),
//!    TCS collectors (14th `C`), non-resident taxable persons (`NR`/`NF`),
//!    OIDAR suppliers (`OS`, state 99) and UIN holders (`UN`/`ON`) are accepted
//!    by their own rules (the structures and their sources are documented in
//!    `gstin.rs`); stdnum requires a PAN and a 14th `Z`.
//! 3. **PAN holder type `K`.** stdnum accepts the withdrawn "Krish" type; it
//!    is not in the Income Tax Department's current list, so it is rejected
//!    here, in a PAN and in the PAN inside a GSTIN.
//! 4. **Characters other than ASCII letters, digits, space and `-`.**
//!    - Dots, tabs and other Unicode whitespace inside an identifier are
//!      separators here; stdnum removes only spaces, dashes and the Unicode
//!      spaces and dashes it folds to them, so it rejects `27.AAPFU…`.
//!    - stdnum folds look-alikes to ASCII before validating (full-width and
//!      mathematical digits become `0`–`9`; its Unicode upper-casing turns
//!      `ı` and `ſ` into `I` and `S`) and its `strip()` removes
//!      U+001C–U+001F. Here every non-ASCII character that is not a
//!      separator is a bad character, because a look-alike in an identifier
//!      is how a forged document passes a glance.

mod cin;
mod cross_check;
mod error;
mod extract;
mod gstin;
mod normalize;
mod pan;
mod phone;
mod report;
mod state;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use cin::{Cin, Llpin, Ownership};
pub use cross_check::{cross_check, CompanyIdentifiers, CrossCheckIssue};
pub use error::{CharClass, Code, IdError, Shown};
pub use extract::{extract, Extracted, Found};
pub use gstin::{Gstin, GstinKind};
pub use normalize::normalize;
pub use pan::{HolderType, Pan};
pub use phone::Phone;
pub use report::{
    detect, validate, validate_auto, validate_cin, validate_gstin, validate_llpin, validate_pan,
    IdKind, Info, Validation,
};
pub use state::{state_from_address, GstState};
