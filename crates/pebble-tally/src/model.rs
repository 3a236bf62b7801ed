//! What Pebble keeps from Tally's masters.
//!
//! Tally's system names (`Primary` for the root group, `Not Applicable` for an
//! absent unit or state) become `None`, so callers never show "Primary" as a
//! product group. Names are kept byte for byte: Tally allows stray spaces in
//! names, and a trimmed name no longer matches (DBL issue #9).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::value::{Amount, Quantity, Rate};

/// A company loaded in Tally.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub name: String,
    pub books_from: Option<NaiveDate>,
    /// `AltMstId`: the highest master AlterID. If it has not moved since the
    /// last sync, no master export is needed.
    pub last_master_alter_id: Option<u64>,
    /// `AltVchId`: the highest voucher AlterID.
    pub last_voucher_alter_id: Option<u64>,
    /// Whether this is the company Tally's `SVCurrentCompany` points at.
    pub is_active: bool,
}

/// A stock item with its closing position as of the request's period end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockItem {
    pub name: String,
    pub guid: Option<String>,
    /// Every other name the item answers to, in Tally's order: aliases, then
    /// names in other languages. Names Tally could not encode (`?????`) are dropped.
    pub aliases: Vec<String>,
    pub part_number: Option<String>,
    /// The stock group; `None` for items directly under Primary.
    pub group: Option<String>,
    /// The base unit; `None` when Tally says Not Applicable.
    pub unit: Option<String>,
    pub closing_qty: Quantity,
    pub rate: Option<Rate>,
    pub closing_value: Option<Amount>,
    pub alter_id: Option<u64>,
}

/// One dated GST registration of a party (TallyPrime 3.0+ `LEDGSTREGDETAILS.LIST`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GstRegistration {
    /// Absent for unregistered parties, which still get a dated entry.
    pub gstin: Option<String>,
    pub applicable_from: Option<NaiveDate>,
    /// Free text, not an enum: TallyPrime 3 added `Unregistered/Consumer` and
    /// broke connectors that had enumerated the values.
    pub registration_type: Option<String>,
    pub place_of_supply: Option<String>,
}

/// A ledger (usually a party) with its GST identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub name: String,
    pub guid: Option<String>,
    pub aliases: Vec<String>,
    /// The ledger group, e.g. `Sundry Debtors`.
    pub group: Option<String>,
    /// The GSTIN to use: the flat `PARTYGSTIN` when Tally fills it (before
    /// TallyPrime 3.0), otherwise the GSTIN of the most recent dated
    /// registration. This is the fallback DBL and the MCP server apply.
    pub gstin: Option<String>,
    pub gst_registrations: Vec<GstRegistration>,
    /// `LEDSTATENAME`, otherwise the state of the most recent mailing details.
    pub state: Option<String>,
    /// Negative in Tally means debit: a debtor who owes money.
    pub closing_balance: Option<Amount>,
    pub alter_id: Option<u64>,
}
