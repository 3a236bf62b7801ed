//! The requests Pebble sends to Tally's XML server.
//!
//! All of them are Collection exports with inline TDL (research §1.2): one
//! response shape for lists and single lookups, native typed values, and
//! about half the cost of report exports (DBL). Only a name that holds both
//! quote characters, which no TDL string literal can carry, falls back to an
//! Object export, where the name travels as plain XML text.

use chrono::NaiveDate;

use crate::xml::{encode, XmlWriter};
use crate::RequestError;

/// How a request body is encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireEncoding {
    /// What DBL, the MCP server and TallyConnector all send, and what Tally.NET
    /// requires. Requests go without a BOM, as Node's `utf16le` and .NET's
    /// `StringContent` write them; rendered responses carry one.
    Utf16Le,
    /// Accepted by TallyPrime per its docs, but one client reports garbled
    /// answers; kept for diagnosis and for simulators.
    Utf8,
}

impl WireEncoding {
    /// The `Content-Type` the adapter must send with a body in this encoding
    /// (DBL and the MCP server send exactly `text/xml;charset=utf-16`).
    pub fn content_type(self) -> &'static str {
        match self {
            WireEncoding::Utf16Le => "text/xml;charset=utf-16",
            WireEncoding::Utf8 => "text/xml;charset=utf-8",
        }
    }
}

/// A reporting period; closing balances are computed as of `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    from: NaiveDate,
    to: NaiveDate,
}

impl Period {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Period, RequestError> {
        if to < from {
            return Err(RequestError::InvertedPeriod { from, to });
        }
        Ok(Period { from, to })
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }
}

/// Whose books and which period a request reads. The default is Tally's
/// active company and current period, which is what DBL does when no company
/// is configured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    company: Option<String>,
    period: Option<Period>,
}

impl Scope {
    /// A named company, exactly as Tally shows it (stray spaces included).
    pub fn company(name: &str) -> Result<Scope, RequestError> {
        check_name(name, "company name")?;
        Ok(Scope {
            company: Some(name.to_string()),
            period: None,
        })
    }

    pub fn with_period(self, period: Period) -> Scope {
        Scope {
            period: Some(period),
            ..self
        }
    }

    pub fn company_name(&self) -> Option<&str> {
        self.company.as_deref()
    }

    pub fn period(&self) -> Option<Period> {
        self.period
    }
}

/// What Pebble asks Tally for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// Loaded companies with their master/voucher AlterIDs.
    Companies,
    /// All stock items, or only those altered after an AlterID (incremental sync).
    StockItems { changed_after: Option<u64> },
    /// One stock item by its exact name.
    StockItem { name: String },
    /// All ledgers, or only those altered after an AlterID.
    Ledgers { changed_after: Option<u64> },
    /// One ledger by its exact name.
    Ledger { name: String },
}

/// A built request: the query, its scope and the XML text that expresses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    query: Query,
    scope: Scope,
    xml: String,
}

/// Methods fetched for stock items. `PartNo` is DBL's part-number method;
/// `LanguageName` brings every alias, `OnlyAlias` the first one where Tally
/// omits the language list; closing values come only when fetched
/// (TallyConnector#19).
const STOCK_FETCH: &[&str] = &[
    "Guid",
    "AlterId",
    "Name",
    "Parent",
    "OnlyAlias",
    "LanguageName",
    "PartNo",
    "BaseUnits",
    "ClosingBalance",
    "ClosingRate",
    "ClosingValue",
];

/// Methods fetched for ledgers: both the flat GSTIN and state of Tally.ERP 9
/// and TallyPrime < 3 and the dated lists that replaced them.
const LEDGER_FETCH: &[&str] = &[
    "Guid",
    "AlterId",
    "Name",
    "Parent",
    "OnlyAlias",
    "LanguageName",
    "LedStateName",
    "LedMailingDetails",
    "PartyGSTIN",
    "LedGSTRegDetails",
    "ClosingBalance",
];

/// DBL's company-list request, verbatim in its TDL.
const COMPANY_FETCH: &[&str] = &["BooksFrom", "AltMstId", "AltVchId"];
pub(crate) const COMPANY_COMPUTE: &str = "IsActiveCompany : $$IsEqual:$Name:##SVCurrentCompany";

pub(crate) const ID_COMPANIES: &str = "PebbleCompanies";
pub(crate) const ID_STOCK_ITEMS: &str = "PebbleStockItems";
pub(crate) const ID_STOCK_ITEM: &str = "PebbleStockItem";
pub(crate) const ID_LEDGERS: &str = "PebbleLedgers";
pub(crate) const ID_LEDGER: &str = "PebbleLedger";
pub(crate) const FILTER_CHANGED: &str = "PebbleChangedSince";
pub(crate) const FILTER_NAME: &str = "PebbleByName";
pub(crate) const NAME_FORMULA_PREFIX: &str = "$$IsEqual:$Name:";
pub(crate) const ALTER_FORMULA_PREFIX: &str = "$AlterID > ";

impl Request {
    pub fn new(query: Query, scope: Scope) -> Result<Request, RequestError> {
        let xml = match &query {
            Query::Companies => collection(&scope, ID_COMPANIES, "Company", COMPANY_FETCH, None),
            Query::StockItems { changed_after } => collection(
                &scope,
                ID_STOCK_ITEMS,
                "StockItem",
                STOCK_FETCH,
                changed_after.map(alter_filter).as_ref(),
            ),
            Query::Ledgers { changed_after } => collection(
                &scope,
                ID_LEDGERS,
                "Ledger",
                LEDGER_FETCH,
                changed_after.map(alter_filter).as_ref(),
            ),
            Query::StockItem { name } => lookup(
                &scope,
                name,
                ID_STOCK_ITEM,
                "StockItem",
                "Stock Item",
                STOCK_FETCH,
            )?,
            Query::Ledger { name } => {
                lookup(&scope, name, ID_LEDGER, "Ledger", "Ledger", LEDGER_FETCH)?
            }
        };
        Ok(Request { query, scope, xml })
    }

    pub fn query(&self) -> &Query {
        &self.query
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The request as text, before encoding.
    pub fn xml(&self) -> &str {
        &self.xml
    }

    /// The bytes to POST, to go with [`WireEncoding::content_type`].
    pub fn body(&self, encoding: WireEncoding) -> Vec<u8> {
        encode(&self.xml, encoding, false)
    }
}

/// A TDL filter: its name and formula.
type Filter = (&'static str, String);

fn alter_filter(alter_id: u64) -> Filter {
    (FILTER_CHANGED, format!("{ALTER_FORMULA_PREFIX}{alter_id}"))
}

fn lookup(
    scope: &Scope,
    name: &str,
    id: &str,
    collection_type: &str,
    object_type: &str,
    fetch: &[&str],
) -> Result<String, RequestError> {
    check_name(name, "name")?;
    Ok(match tdl_string(name) {
        Some(literal) => {
            let filter = (FILTER_NAME, format!("{NAME_FORMULA_PREFIX}{literal}"));
            collection(scope, id, collection_type, fetch, Some(&filter))
        }
        None => object(scope, name, object_type, fetch),
    })
}

/// A TDL string literal. TDL has no escape inside quotes, but accepts both
/// `"…"` and `'…'` (DBL writes `'"'`), so a name can be quoted by whichever
/// quote it lacks; with both, there is no literal for it.
pub(crate) fn tdl_string(text: &str) -> Option<String> {
    if !text.contains('"') {
        Some(format!("\"{text}\""))
    } else if !text.contains('\'') {
        Some(format!("'{text}'"))
    } else {
        None
    }
}

fn check_name(name: &str, what: &'static str) -> Result<(), RequestError> {
    if name.is_empty() {
        return Err(RequestError::Empty { what });
    }
    if let Some(c) = name.chars().find(|c| (*c as u32) < 0x20) {
        return Err(RequestError::ControlCharacter {
            what,
            code: c as u32,
        });
    }
    Ok(())
}

fn header(w: &mut XmlWriter, kind: &str) {
    w.open("ENVELOPE", &[]);
    w.open("HEADER", &[]);
    w.leaf("VERSION", &[], "1");
    w.leaf("TALLYREQUEST", &[], "Export");
    w.leaf("TYPE", &[], kind);
}

/// `SVCURRENTCOMPANY` is escaped like any text (DBL issue #28: an unescaped
/// `&` makes Tally answer "Could not set 'SVCurrentCompany'"); dates carry
/// `TYPE="Date"`, without which TallyPrime ignores the filter (DBL issue #5).
fn static_variables(w: &mut XmlWriter, scope: &Scope) {
    w.open("STATICVARIABLES", &[]);
    w.leaf("SVEXPORTFORMAT", &[], "$$SysName:XML");
    if let Some(company) = &scope.company {
        w.leaf("SVCURRENTCOMPANY", &[], company);
    }
    if let Some(period) = scope.period {
        w.leaf(
            "SVFROMDATE",
            &[("TYPE", "Date")],
            &tally_request_date(period.from),
        );
        w.leaf(
            "SVTODATE",
            &[("TYPE", "Date")],
            &tally_request_date(period.to),
        );
    }
    w.close("STATICVARIABLES");
}

/// `d-MMM-yyyy`, the form DBL and the official example use.
pub(crate) fn tally_request_date(date: NaiveDate) -> String {
    date.format("%-d-%b-%Y").to_string()
}

fn collection(
    scope: &Scope,
    id: &str,
    collection_type: &str,
    fetch: &[&str],
    filter: Option<&Filter>,
) -> String {
    let mut w = XmlWriter::new("\n");
    header(&mut w, "Collection");
    w.leaf("ID", &[], id);
    w.close("HEADER");
    w.open("BODY", &[]);
    w.open("DESC", &[]);
    static_variables(&mut w, scope);
    w.open("TDL", &[]);
    w.open("TDLMESSAGE", &[]);
    w.open("COLLECTION", &[("NAME", id)]);
    w.leaf("TYPE", &[], collection_type);
    if collection_type == "Company" {
        w.leaf("COMPUTE", &[], COMPANY_COMPUTE);
    }
    w.leaf("FETCH", &[], &fetch.join(","));
    if let Some((name, _)) = filter {
        w.leaf("FILTER", &[], name);
    }
    w.close("COLLECTION");
    if let Some((name, formula)) = filter {
        w.leaf("SYSTEM", &[("TYPE", "Formulae"), ("NAME", name)], formula);
    }
    w.close("TDLMESSAGE");
    w.close("TDL");
    w.close("DESC");
    w.close("BODY");
    w.close("ENVELOPE");
    w.finish()
}

/// Object export by name (OFF-tags header form, FETCHLIST per OFF-body).
fn object(scope: &Scope, name: &str, object_type: &str, fetch: &[&str]) -> String {
    let mut w = XmlWriter::new("\n");
    header(&mut w, "Object");
    w.leaf("SUBTYPE", &[], object_type);
    w.leaf("ID", &[("TYPE", "Name")], name);
    w.close("HEADER");
    w.open("BODY", &[]);
    w.open("DESC", &[]);
    static_variables(&mut w, scope);
    w.open("FETCHLIST", &[]);
    for method in fetch {
        w.leaf("FETCH", &[], method);
    }
    w.close("FETCHLIST");
    w.close("DESC");
    w.close("BODY");
    w.close("ENVELOPE");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_by_the_quote_they_lack() {
        assert_eq!(tdl_string("Pipe 1/2 in").unwrap(), "\"Pipe 1/2 in\"");
        assert_eq!(tdl_string("Pipe 1/2\"").unwrap(), "'Pipe 1/2\"'");
        assert_eq!(tdl_string("Sam's 1/2\""), None);
    }

    #[test]
    fn names_that_xml_cannot_carry_are_refused() {
        assert_eq!(
            Request::new(
                Query::StockItem {
                    name: String::new()
                },
                Scope::default()
            ),
            Err(RequestError::Empty { what: "name" })
        );
        assert_eq!(
            Scope::company("Ram\u{7}Shyam"),
            Err(RequestError::ControlCharacter {
                what: "company name",
                code: 7
            })
        );
    }

    #[test]
    fn periods_must_not_be_inverted_and_print_as_d_mmm_yyyy() {
        let apr = NaiveDate::from_ymd_opt(2025, 4, 1).unwrap();
        let mar = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        assert!(Period::new(mar, apr).is_err());
        assert_eq!(tally_request_date(apr), "1-Apr-2025");
        assert_eq!(tally_request_date(mar), "31-Mar-2026");
    }

    #[test]
    fn utf16_requests_have_no_bom() {
        let body = Request::new(Query::Companies, Scope::default())
            .unwrap()
            .body(WireEncoding::Utf16Le);
        assert_eq!(&body[..4], &[b'<', 0, b'E', 0]);
    }
}
