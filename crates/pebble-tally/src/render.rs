//! Tally's own response bytes, for the simulator that lets users try Pebble
//! without Tally, and for round-trip tests of the parser.
//!
//! The layout follows the collection-export sample of research §2.1: CRLF line
//! ends (DBL strips `\r\n` from Tally output), one space of indent per level,
//! `TYPE` attributes on every value, Tally's sign padding on numbers and
//! quantities, and system names behind the `&#4; ` marker.

use crate::model::{Company, Ledger, StockItem};
use crate::request::WireEncoding;
use crate::value::{format_date, Amount, Quantity};
use crate::xml::{encode, XmlWriter};

const CRLF: &str = "\r\n";

/// The master counters Tally reports in `DESC/CMPINFO`. The parser treats an
/// all-zero block as the empty-stub failure, so a simulated company needs the
/// masters every real company has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterCounts {
    pub groups: u64,
    pub ledgers: u64,
    pub stock_items: u64,
}

impl Default for MasterCounts {
    /// A fresh company: Tally's 28 predefined groups and its two default
    /// ledgers (Cash, Profit & Loss A/c).
    fn default() -> MasterCounts {
        MasterCounts {
            groups: 28,
            ledgers: 2,
            stock_items: 0,
        }
    }
}

pub fn render_companies(companies: &[Company], encoding: WireEncoding) -> Vec<u8> {
    let counts = MasterCounts {
        groups: 0,
        ledgers: 0,
        stock_items: 0,
    };
    render_collection(encoding, &counts, &[], |w| {
        for company in companies {
            w.open("COMPANY", &[("NAME", &company.name), ("RESERVEDNAME", "")]);
            if let Some(date) = company.books_from {
                w.leaf("BOOKSFROM", &[("TYPE", "Date")], &format_date(date));
            }
            number(w, "ALTMSTID", company.last_master_alter_id);
            number(w, "ALTVCHID", company.last_voucher_alter_id);
            let active = if company.is_active { "Yes" } else { "No" };
            w.leaf("ISACTIVECOMPANY", &[("TYPE", "Logical")], active);
            w.close("COMPANY");
        }
    })
}

pub fn render_stock_items(
    items: &[StockItem],
    counts: &MasterCounts,
    encoding: WireEncoding,
) -> Vec<u8> {
    render_collection(encoding, counts, &[], |w| {
        for item in items {
            w.open("STOCKITEM", &[("NAME", &item.name), ("RESERVEDNAME", "")]);
            string(w, "GUID", item.guid.as_deref());
            number(w, "ALTERID", item.alter_id);
            system(w, "PARENT", item.group.as_deref(), "Primary");
            string(w, "ONLYALIAS", item.aliases.first().map(String::as_str));
            string(w, "PARTNO", item.part_number.as_deref());
            system(w, "BASEUNITS", item.unit.as_deref(), "Not Applicable");
            quantity(w, "CLOSINGBALANCE", &item.closing_qty);
            let rate = item
                .rate
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            w.leaf("CLOSINGRATE", &[("TYPE", "Rate")], &rate);
            amount(w, "CLOSINGVALUE", item.closing_value.as_ref());
            names(w, &item.name, &item.aliases);
            w.close("STOCKITEM");
        }
    })
}

pub fn render_ledgers(
    ledgers: &[Ledger],
    counts: &MasterCounts,
    encoding: WireEncoding,
) -> Vec<u8> {
    render_collection(encoding, counts, &[], |w| {
        for ledger in ledgers {
            w.open("LEDGER", &[("NAME", &ledger.name), ("RESERVEDNAME", "")]);
            string(w, "GUID", ledger.guid.as_deref());
            number(w, "ALTERID", ledger.alter_id);
            system(w, "PARENT", ledger.group.as_deref(), "Primary");
            string(w, "ONLYALIAS", ledger.aliases.first().map(String::as_str));
            system(w, "LEDSTATENAME", ledger.state.as_deref(), "Not Applicable");
            string(w, "PARTYGSTIN", ledger.gstin.as_deref());
            amount(w, "CLOSINGBALANCE", ledger.closing_balance.as_ref());
            for reg in &ledger.gst_registrations {
                w.open("LEDGSTREGDETAILS.LIST", &[]);
                if let Some(date) = reg.applicable_from {
                    w.leaf("APPLICABLEFROM", &[("TYPE", "Date")], &format_date(date));
                }
                string(w, "GSTREGISTRATIONTYPE", reg.registration_type.as_deref());
                system(
                    w,
                    "PLACEOFSUPPLY",
                    reg.place_of_supply.as_deref(),
                    "Not Applicable",
                );
                string(w, "GSTIN", reg.gstin.as_deref());
                w.close("LEDGSTREGDETAILS.LIST");
            }
            names(w, &ledger.name, &ledger.aliases);
            w.close("LEDGER");
        }
    })
}

/// Tally's answer to a TDL or report error (TC-resp shape: STATUS 0, LINEERROR under DATA).
pub fn render_line_error(message: &str, encoding: WireEncoding) -> Vec<u8> {
    let mut w = XmlWriter::new(CRLF);
    w.open("ENVELOPE", &[]);
    w.open("HEADER", &[]);
    w.leaf("VERSION", &[], "1");
    w.leaf("STATUS", &[], "0");
    w.close("HEADER");
    w.open("BODY", &[]);
    w.open("DATA", &[]);
    w.leaf("LINEERROR", &[], message);
    w.close("DATA");
    w.close("BODY");
    w.close("ENVELOPE");
    encode(&w.finish(), encoding, true)
}

/// What Tally says when `SVCURRENTCOMPANY` names a company that is not loaded.
pub fn render_company_not_loaded(company: &str, encoding: WireEncoding) -> Vec<u8> {
    render_line_error(
        &format!("Could not set 'SVCurrentCompany' to '{company}'"),
        encoding,
    )
}

/// Tally's refusal of a request it cannot parse; the simulator's answer to
/// anything [`recognise`](crate::recognise) rejects.
pub fn render_unknown_request(encoding: WireEncoding) -> Vec<u8> {
    let mut w = XmlWriter::new(CRLF);
    w.leaf("RESPONSE", &[], "Unknown Request, cannot be processed");
    encode(&w.finish(), encoding, true)
}

/// The object-browser stub TallyPrime returns for a collection it could not
/// build: STATUS 1, all-zero counters, no rows. For fault injection.
pub fn render_empty_stub(encoding: WireEncoding) -> Vec<u8> {
    let counts = MasterCounts {
        groups: 0,
        ledgers: 0,
        stock_items: 0,
    };
    render_collection(
        encoding,
        &counts,
        &[("ISMSTDEPTYPE", "Yes"), ("MSTDEPTYPE", "8")],
        |_| {},
    )
}

fn render_collection(
    encoding: WireEncoding,
    counts: &MasterCounts,
    collection_attrs: &[(&str, &str)],
    rows: impl FnOnce(&mut XmlWriter),
) -> Vec<u8> {
    let mut w = XmlWriter::new(CRLF);
    w.open("ENVELOPE", &[]);
    w.open("HEADER", &[]);
    w.leaf("VERSION", &[], "1");
    w.leaf("STATUS", &[], "1");
    w.close("HEADER");
    w.open("BODY", &[]);
    w.open("DESC", &[]);
    w.open("CMPINFO", &[]);
    w.leaf("COMPANY", &[], "0");
    w.leaf("GROUP", &[], &counts.groups.to_string());
    w.leaf("LEDGER", &[], &counts.ledgers.to_string());
    w.leaf("STOCKITEM", &[], &counts.stock_items.to_string());
    w.close("CMPINFO");
    w.close("DESC");
    w.open("DATA", &[]);
    w.open("COLLECTION", collection_attrs);
    rows(&mut w);
    w.close("COLLECTION");
    w.close("DATA");
    w.close("BODY");
    w.close("ENVELOPE");
    encode(&w.finish(), encoding, true)
}

fn string(w: &mut XmlWriter, tag: &str, value: Option<&str>) {
    if let Some(value) = value {
        w.leaf(tag, &[("TYPE", "String")], value);
    }
}

/// `None` goes out as Tally's marked system name, e.g. `&#4; Primary`.
fn system(w: &mut XmlWriter, tag: &str, value: Option<&str>, system_name: &str) {
    match value {
        Some(value) => w.leaf(tag, &[("TYPE", "String")], value),
        None => w.leaf_raw(tag, &[("TYPE", "String")], &format!("&#4; {system_name}")),
    }
}

/// Tally pads non-negative numbers with a space where the sign would go.
fn number(w: &mut XmlWriter, tag: &str, value: Option<u64>) {
    if let Some(value) = value {
        w.leaf(tag, &[("TYPE", "Number")], &format!(" {value}"));
    }
}

fn quantity(w: &mut XmlWriter, tag: &str, value: &Quantity) {
    w.leaf(tag, &[("TYPE", "Quantity")], &value.to_tally_string());
}

fn amount(w: &mut XmlWriter, tag: &str, value: Option<&Amount>) {
    let text = value.map(ToString::to_string).unwrap_or_default();
    w.leaf(tag, &[("TYPE", "Amount")], &text);
}

/// The primary name then the aliases, in the default language (1033).
fn names(w: &mut XmlWriter, name: &str, aliases: &[String]) {
    w.open("LANGUAGENAME.LIST", &[]);
    w.open("NAME.LIST", &[("TYPE", "String")]);
    w.leaf("NAME", &[], name);
    for alias in aliases {
        w.leaf("NAME", &[], alias);
    }
    w.close("NAME.LIST");
    w.leaf("LANGUAGEID", &[("TYPE", "Number")], " 1033");
    w.close("LANGUAGENAME.LIST");
}
