//! CIN, the Corporate Identity Number issued by the Registrar of Companies,
//! and LLPIN, its counterpart for limited liability partnerships.
//!
//! CIN structure (MCA): `L` or `U` (listed / unlisted), a five-digit NIC
//! industry code, the two-letter RoC state code, the four-digit year of
//! incorporation, a three-letter ownership code and a six-digit registration
//! number, e.g. `L17110MH1973PLC019786`. There is no check character.
//!
//! LLPIN structure (MCA, LLP Act 2008): three letters, a dash and four
//! digits, e.g. `AAB-1234`.

use std::fmt;
use std::ops::ControlFlow;

use serde::Serialize;

use super::error::{CharClass, Code, IdError, Sink};
use super::normalize::{check_classes, parse_first, Compact};
use super::report::Info;
use super::state::{cin_state, GstState};

pub(crate) const LEN: usize = 21;
pub(crate) const LLPIN_LEN: usize = 7;

/// India's first company registration law is the Joint Stock Companies Act
/// 1850, so an earlier year can only be a typo (such as `0201`).
pub(crate) const EARLIEST_YEAR: u16 = 1850;

const D: CharClass = CharClass::Digit;
const L: CharClass = CharClass::Letter;
const LU: CharClass = CharClass::ListingStatus;

const CLASSES: [CharClass; LEN] = [
    LU, D, D, D, D, D, L, L, D, D, D, D, L, L, L, D, D, D, D, D, D,
];
const LLPIN_CLASSES: [CharClass; LLPIN_LEN] = [L, L, L, D, D, D, D];

/// The class of company, from CIN positions 13–15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    PublicLimited,
    PrivateLimited,
    GovernmentOfIndia,
    StateGovernment,
    ForeignSubsidiaryPublic,
    ForeignSubsidiaryPrivate,
    GuaranteePublic,
    GuaranteePrivate,
    NotForProfitLicensed,
    UnlimitedPublic,
    UnlimitedPrivate,
    OnePerson,
}

const OWNERSHIPS: [(&[u8; 3], Ownership); 12] = [
    (b"PLC", Ownership::PublicLimited),
    (b"PTC", Ownership::PrivateLimited),
    (b"GOI", Ownership::GovernmentOfIndia),
    (b"SGC", Ownership::StateGovernment),
    (b"FLC", Ownership::ForeignSubsidiaryPublic),
    (b"FTC", Ownership::ForeignSubsidiaryPrivate),
    (b"GAP", Ownership::GuaranteePublic),
    (b"GAT", Ownership::GuaranteePrivate),
    (b"NPL", Ownership::NotForProfitLicensed),
    (b"ULL", Ownership::UnlimitedPublic),
    (b"ULT", Ownership::UnlimitedPrivate),
    (b"OPC", Ownership::OnePerson),
];

impl Ownership {
    /// The ownership for a CIN's three-letter code (upper case).
    pub fn from_code(code: &str) -> Option<Self> {
        ownership(code.as_bytes())
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::PublicLimited => "PLC",
            Self::PrivateLimited => "PTC",
            Self::GovernmentOfIndia => "GOI",
            Self::StateGovernment => "SGC",
            Self::ForeignSubsidiaryPublic => "FLC",
            Self::ForeignSubsidiaryPrivate => "FTC",
            Self::GuaranteePublic => "GAP",
            Self::GuaranteePrivate => "GAT",
            Self::NotForProfitLicensed => "NPL",
            Self::UnlimitedPublic => "ULL",
            Self::UnlimitedPrivate => "ULT",
            Self::OnePerson => "OPC",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::PublicLimited => "Public limited company",
            Self::PrivateLimited => "Private limited company",
            Self::GovernmentOfIndia => "Company owned by the Government of India",
            Self::StateGovernment => "Company owned by a State Government",
            Self::ForeignSubsidiaryPublic => "Public subsidiary of a foreign company",
            Self::ForeignSubsidiaryPrivate => "Private subsidiary of a foreign company",
            Self::GuaranteePublic => "Public company limited by guarantee",
            Self::GuaranteePrivate => "Private company limited by guarantee",
            Self::NotForProfitLicensed => "Not-for-profit licensed company (Section 8)",
            Self::UnlimitedPublic => "Public unlimited company",
            Self::UnlimitedPrivate => "Private unlimited company",
            Self::OnePerson => "One Person Company",
        }
    }
}

fn ownership(b: &[u8]) -> Option<Ownership> {
    OWNERSHIPS
        .iter()
        .find(|(c, _)| c.as_slice() == b)
        .map(|&(_, o)| o)
}

fn year(b: &[u8; LEN]) -> Option<u16> {
    b[8..12].iter().try_fold(0u16, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u16::from(d - b'0'))
    })
}

/// Checks a CIN. `current_year` comes from the caller because the core has no
/// clock; it bounds the year of incorporation.
pub(crate) fn check(compact: &Compact, current_year: i32, sink: &mut impl Sink) -> ControlFlow<()> {
    let Some(b) = compact.precheck::<LEN>(|i| CLASSES[i], sink)? else {
        return ControlFlow::Continue(());
    };
    check_classes(&b, &CLASSES, 0, sink)?;
    let state = [b[6], b[7]];
    if state.iter().all(u8::is_ascii_uppercase) && cin_state(state).is_none() {
        sink.report(IdError::UnknownCinState { code: Code(state) })?;
    }
    if let Some(year) = year(&b) {
        if i32::from(year) > current_year {
            sink.report(IdError::CinYearInFuture {
                year,
                current: current_year,
            })?;
        } else if year < EARLIEST_YEAR {
            sink.report(IdError::CinYearTooEarly {
                year,
                earliest: EARLIEST_YEAR,
            })?;
        }
    }
    let code = &b[12..15];
    if code.iter().all(u8::is_ascii_uppercase) && ownership(code).is_none() {
        sink.report(IdError::UnknownOwnershipCode {
            code: Code::of(code),
        })?;
    }
    ControlFlow::Continue(())
}

/// Fills in what can be decoded from a CIN, valid or not.
pub(crate) fn describe(compact: &Compact, info: &mut Info) {
    let Some(b) = compact.exact::<LEN>() else {
        return;
    };
    info.listed = match b[0] {
        b'L' => Some(true),
        b'U' => Some(false),
        _ => None,
    };
    if b[1..6].iter().all(u8::is_ascii_digit) {
        info.industry_code = Some(String::from_utf8_lossy(&b[1..6]).into_owned());
    }
    if let Some(state) = cin_state([b[6], b[7]]) {
        info.state = Some(state.name);
        info.state_code = Some(String::from_utf8_lossy(&b[6..8]).into_owned());
    }
    info.year = year(&b);
    if let Some(o) = ownership(&b[12..15]) {
        info.ownership = Some(o.description());
        info.ownership_code = Some(o.code());
    }
    if b[15..].iter().all(u8::is_ascii_digit) {
        info.registration_number = Some(String::from_utf8_lossy(&b[15..]).into_owned());
    }
}

/// A valid CIN in normalised form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cin([u8; LEN]);

impl Cin {
    /// Validates a CIN, stopping at the first problem. `current_year` bounds
    /// the year of incorporation (the core reads no clock).
    pub fn parse(input: &str, current_year: i32) -> Result<Self, IdError> {
        parse_first(input, |c, sink| check(c, current_year, sink)).map(Self)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn listed(&self) -> bool {
        self.0[0] == b'L'
    }

    /// The NIC code of the company's main activity.
    pub fn industry_code(&self) -> &str {
        &self.as_str()[1..6]
    }

    /// The state of the Registrar of Companies.
    pub fn state(&self) -> Option<GstState> {
        cin_state([self.0[6], self.0[7]])
    }

    pub fn year(&self) -> u16 {
        year(&self.0).unwrap_or_default()
    }

    pub fn ownership(&self) -> Option<Ownership> {
        ownership(&self.0[12..15])
    }

    pub fn registration_number(&self) -> &str {
        &self.as_str()[15..]
    }
}

impl fmt::Display for Cin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Cin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cin({})", self.as_str())
    }
}

/// Checks an LLPIN (its dash is optional on input).
pub(crate) fn check_llpin(compact: &Compact, sink: &mut impl Sink) -> ControlFlow<()> {
    if let Some(b) = compact.precheck::<LLPIN_LEN>(|i| LLPIN_CLASSES[i], sink)? {
        check_classes(&b, &LLPIN_CLASSES, 0, sink)?;
    }
    ControlFlow::Continue(())
}

/// A valid LLPIN, stored with its dash (`AAB-1234`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Llpin([u8; LLPIN_LEN + 1]);

impl Llpin {
    /// Validates an LLPIN, stopping at the first problem.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let b: [u8; LLPIN_LEN] = parse_first(input, check_llpin)?;
        Ok(Self([b[0], b[1], b[2], b'-', b[3], b[4], b[5], b[6]]))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters, digits and the dash are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Llpin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Llpin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Llpin({})", self.as_str())
    }
}
