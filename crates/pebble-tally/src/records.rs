//! Per-record field mapping: which element of a Tally row fills which model field.
//!
//! Rows arrive as a stream of leaf values with their path below the row
//! element; each builder keeps only what its model needs, so the response
//! scanner never holds more than one row in memory.

use chrono::NaiveDate;

use crate::model::{Company, GstRegistration, Ledger, StockItem};
use crate::value::{self, Amount, Quantity, Rate, ValueError};
use crate::TallyError;

/// Element names the codec reacts to. Everything else is `Other` and skipped,
/// which is how unrequested methods (`ISDEEMEDPOSITIVE`, `CANDELETE`, …) are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    Envelope,
    Header,
    Status,
    Body,
    Desc,
    CmpInfo,
    Data,
    Collection,
    TallyMessage,
    LineError,
    Response,
    Exception,
    Msg,
    Code,
    Company,
    StockItem,
    Ledger,
    Name,
    NameList,
    LanguageNameList,
    Guid,
    AlterId,
    Parent,
    OnlyAlias,
    PartNo,
    PartNumber,
    BaseUnits,
    ClosingBalance,
    ClosingRate,
    ClosingValue,
    LedStateName,
    PartyGstin,
    LedGstRegDetailsList,
    LedMailingDetailsList,
    ApplicableFrom,
    GstRegistrationType,
    PlaceOfSupply,
    Gstin,
    State,
    BooksFrom,
    AltMstId,
    AltVchId,
    IsActiveCompany,
    Other,
}

impl Tag {
    pub fn of(name: &[u8]) -> Tag {
        match name {
            b"ENVELOPE" => Tag::Envelope,
            b"HEADER" => Tag::Header,
            b"STATUS" => Tag::Status,
            b"BODY" => Tag::Body,
            b"DESC" => Tag::Desc,
            b"CMPINFO" => Tag::CmpInfo,
            b"DATA" => Tag::Data,
            b"COLLECTION" => Tag::Collection,
            b"TALLYMESSAGE" => Tag::TallyMessage,
            b"LINEERROR" => Tag::LineError,
            b"RESPONSE" => Tag::Response,
            b"EXCEPTION" => Tag::Exception,
            b"MSG" => Tag::Msg,
            b"CODE" => Tag::Code,
            b"COMPANY" => Tag::Company,
            b"STOCKITEM" => Tag::StockItem,
            b"LEDGER" => Tag::Ledger,
            b"NAME" => Tag::Name,
            b"NAME.LIST" => Tag::NameList,
            b"LANGUAGENAME.LIST" => Tag::LanguageNameList,
            b"GUID" => Tag::Guid,
            b"ALTERID" => Tag::AlterId,
            b"PARENT" => Tag::Parent,
            b"ONLYALIAS" => Tag::OnlyAlias,
            b"PARTNO" => Tag::PartNo,
            b"PARTNUMBER" => Tag::PartNumber,
            b"BASEUNITS" => Tag::BaseUnits,
            b"CLOSINGBALANCE" => Tag::ClosingBalance,
            b"CLOSINGRATE" => Tag::ClosingRate,
            b"CLOSINGVALUE" => Tag::ClosingValue,
            b"LEDSTATENAME" => Tag::LedStateName,
            b"PARTYGSTIN" => Tag::PartyGstin,
            b"LEDGSTREGDETAILS.LIST" => Tag::LedGstRegDetailsList,
            b"LEDMAILINGDETAILS.LIST" => Tag::LedMailingDetailsList,
            b"APPLICABLEFROM" => Tag::ApplicableFrom,
            b"GSTREGISTRATIONTYPE" => Tag::GstRegistrationType,
            b"PLACEOFSUPPLY" => Tag::PlaceOfSupply,
            b"GSTIN" => Tag::Gstin,
            b"STATE" => Tag::State,
            b"BOOKSFROM" => Tag::BooksFrom,
            b"ALTMSTID" => Tag::AltMstId,
            b"ALTVCHID" => Tag::AltVchId,
            b"ISACTIVECOMPANY" => Tag::IsActiveCompany,
            _ => Tag::Other,
        }
    }
}

/// A field's name and the grammar error of its text.
pub type FieldError = (&'static str, ValueError);

/// Accumulates one row. `path` is relative to the row element and ends with
/// the element just opened or closed.
pub trait RowBuilder: Default {
    type Output;
    /// The row element's name, for error messages.
    const RECORD: &'static str;
    fn start(&mut self, path: &[Tag]);
    fn leaf(&mut self, path: &[Tag], text: &str) -> Result<(), FieldError>;
    fn finish(self, name_attribute: Option<String>) -> Result<Self::Output, TallyError>;
    /// What a well-formed answer with no rows means for this record.
    fn on_empty(company_is_real: bool) -> Result<(), TallyError> {
        if company_is_real {
            Ok(())
        } else {
            Err(TallyError::EmptyStub)
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Company {}
    impl Sealed for crate::StockItem {}
    impl Sealed for crate::Ledger {}
}

/// A model that can be read from rows of a Tally export
/// ([`Company`], [`StockItem`], [`Ledger`]).
pub trait Record: sealed::Sealed + Sized {
    #[doc(hidden)]
    type Builder: RowBuilder<Output = Self>;
    #[doc(hidden)]
    const TAG: Tag;
}

impl Record for StockItem {
    type Builder = StockItemBuilder;
    const TAG: Tag = Tag::StockItem;
}

impl Record for Ledger {
    type Builder = LedgerBuilder;
    const TAG: Tag = Tag::Ledger;
}

impl Record for Company {
    type Builder = CompanyBuilder;
    const TAG: Tag = Tag::Company;
}

/// Names common to every master: the `NAME` attribute, a `NAME` child, and
/// `LANGUAGENAME.LIST`s whose first `NAME` is the primary name in that language.
#[derive(Default)]
pub struct Names {
    child: Option<String>,
    only_alias: Option<String>,
    languages: Vec<Vec<String>>,
}

impl Names {
    fn start(&mut self, path: &[Tag]) -> bool {
        if path == [Tag::LanguageNameList] {
            self.languages.push(Vec::new());
            return true;
        }
        false
    }

    fn leaf(&mut self, path: &[Tag], text: &str) -> bool {
        match path {
            [Tag::Name] => self.child = text_field(text),
            [Tag::OnlyAlias] => self.only_alias = text_field(text),
            [Tag::LanguageNameList, Tag::NameList, Tag::Name] => {
                if let Some(names) = self.languages.last_mut() {
                    names.push(text.to_string());
                }
            }
            _ => return false,
        }
        true
    }

    /// The name (attribute first: it is the one reliable source) and the aliases.
    fn resolve(
        self,
        attribute: Option<String>,
        record: &'static str,
    ) -> Result<(String, Vec<String>), TallyError> {
        let first_listed = self.languages.first().and_then(|l| l.first()).cloned();
        let name = [attribute, self.child, first_listed]
            .into_iter()
            .flatten()
            .find(|n| !n.is_empty())
            .ok_or(TallyError::MissingName { record })?;
        let mut aliases: Vec<String> = Vec::new();
        let candidates = self.languages.into_iter().flatten().chain(self.only_alias);
        for alias in candidates {
            let lossy = alias.chars().all(|c| c == '?');
            if !alias.is_empty() && !lossy && alias != name && !aliases.contains(&alias) {
                aliases.push(alias);
            }
        }
        Ok((name, aliases))
    }
}

#[derive(Default)]
pub struct StockItemBuilder {
    names: Names,
    guid: Option<String>,
    alter_id: Option<u64>,
    group: Option<String>,
    part_number: Option<String>,
    unit: Option<String>,
    closing_qty: Option<Quantity>,
    rate: Option<Rate>,
    closing_value: Option<Amount>,
}

impl RowBuilder for StockItemBuilder {
    type Output = StockItem;
    const RECORD: &'static str = "STOCKITEM";

    fn start(&mut self, path: &[Tag]) {
        self.names.start(path);
    }

    fn leaf(&mut self, path: &[Tag], text: &str) -> Result<(), FieldError> {
        if self.names.leaf(path, text) {
            return Ok(());
        }
        match path {
            [Tag::Guid] => self.guid = text_field(text),
            [Tag::AlterId] => self.alter_id = field("ALTERID", value::parse_number(text))?,
            [Tag::Parent] => self.group = system_field(text),
            // PartNo is the method DBL fetches; some clients read PARTNUMBER.
            [Tag::PartNo] | [Tag::PartNumber] => self.part_number = text_field(text),
            [Tag::BaseUnits] => self.unit = system_field(text),
            [Tag::ClosingBalance] => {
                self.closing_qty = Some(field("CLOSINGBALANCE", Quantity::parse(text))?)
            }
            [Tag::ClosingRate] => self.rate = field("CLOSINGRATE", Rate::parse(text))?,
            [Tag::ClosingValue] => self.closing_value = field("CLOSINGVALUE", Amount::parse(text))?,
            _ => {}
        }
        Ok(())
    }

    fn finish(self, name_attribute: Option<String>) -> Result<StockItem, TallyError> {
        let (name, aliases) = self.names.resolve(name_attribute, Self::RECORD)?;
        Ok(StockItem {
            name,
            guid: self.guid,
            aliases,
            part_number: self.part_number,
            group: self.group,
            unit: self.unit,
            closing_qty: self.closing_qty.unwrap_or_default(),
            rate: self.rate,
            closing_value: self.closing_value,
            alter_id: self.alter_id,
        })
    }
}

#[derive(Default)]
pub struct LedgerBuilder {
    names: Names,
    guid: Option<String>,
    alter_id: Option<u64>,
    group: Option<String>,
    party_gstin: Option<String>,
    state: Option<String>,
    closing_balance: Option<Amount>,
    registrations: Vec<GstRegistration>,
    mailing_states: Vec<(Option<NaiveDate>, Option<String>)>,
}

impl RowBuilder for LedgerBuilder {
    type Output = Ledger;
    const RECORD: &'static str = "LEDGER";

    fn start(&mut self, path: &[Tag]) {
        if self.names.start(path) {
            return;
        }
        match path {
            [Tag::LedGstRegDetailsList] => self.registrations.push(GstRegistration::default()),
            [Tag::LedMailingDetailsList] => self.mailing_states.push((None, None)),
            _ => {}
        }
    }

    fn leaf(&mut self, path: &[Tag], text: &str) -> Result<(), FieldError> {
        if self.names.leaf(path, text) {
            return Ok(());
        }
        match path {
            [Tag::Guid] => self.guid = text_field(text),
            [Tag::AlterId] => self.alter_id = field("ALTERID", value::parse_number(text))?,
            [Tag::Parent] => self.group = system_field(text),
            [Tag::PartyGstin] => self.party_gstin = text_field(text.trim()),
            [Tag::LedStateName] => self.state = system_field(text),
            [Tag::ClosingBalance] => {
                self.closing_balance = field("CLOSINGBALANCE", Amount::parse(text))?
            }
            [Tag::LedGstRegDetailsList, leaf] => {
                let Some(reg) = self.registrations.last_mut() else {
                    return Ok(());
                };
                match leaf {
                    Tag::Gstin => reg.gstin = text_field(text.trim()),
                    Tag::ApplicableFrom => {
                        reg.applicable_from = field("APPLICABLEFROM", value::parse_date(text))?
                    }
                    Tag::GstRegistrationType => reg.registration_type = system_field(text),
                    Tag::PlaceOfSupply => reg.place_of_supply = system_field(text),
                    _ => {}
                }
            }
            [Tag::LedMailingDetailsList, leaf] => {
                let Some((from, state)) = self.mailing_states.last_mut() else {
                    return Ok(());
                };
                match leaf {
                    Tag::ApplicableFrom => {
                        *from = field("APPLICABLEFROM", value::parse_date(text))?
                    }
                    Tag::State => *state = system_field(text),
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(self, name_attribute: Option<String>) -> Result<Ledger, TallyError> {
        let (name, aliases) = self.names.resolve(name_attribute, Self::RECORD)?;
        let gstin = self.party_gstin.or_else(|| {
            latest(
                self.registrations
                    .iter()
                    .map(|r| (r.applicable_from, r.gstin.as_ref())),
            )
            .cloned()
        });
        let state = self.state.or_else(|| {
            latest(
                self.mailing_states
                    .iter()
                    .map(|(from, s)| (*from, s.as_ref())),
            )
            .cloned()
        });
        Ok(Ledger {
            name,
            guid: self.guid,
            aliases,
            group: self.group,
            gstin,
            gst_registrations: self.registrations,
            state,
            closing_balance: self.closing_balance,
            alter_id: self.alter_id,
        })
    }
}

#[derive(Default)]
pub struct CompanyBuilder {
    names: Names,
    books_from: Option<NaiveDate>,
    last_master_alter_id: Option<u64>,
    last_voucher_alter_id: Option<u64>,
    is_active: Option<bool>,
}

impl RowBuilder for CompanyBuilder {
    type Output = Company;
    const RECORD: &'static str = "COMPANY";

    fn start(&mut self, path: &[Tag]) {
        self.names.start(path);
    }

    fn leaf(&mut self, path: &[Tag], text: &str) -> Result<(), FieldError> {
        if self.names.leaf(path, text) {
            return Ok(());
        }
        match path {
            [Tag::BooksFrom] => self.books_from = field("BOOKSFROM", value::parse_date(text))?,
            [Tag::AltMstId] => {
                self.last_master_alter_id = field("ALTMSTID", value::parse_number(text))?
            }
            [Tag::AltVchId] => {
                self.last_voucher_alter_id = field("ALTVCHID", value::parse_number(text))?
            }
            [Tag::IsActiveCompany] => {
                self.is_active = field("ISACTIVECOMPANY", value::parse_logical(text))?
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(self, name_attribute: Option<String>) -> Result<Company, TallyError> {
        let (name, _) = self.names.resolve(name_attribute, Self::RECORD)?;
        Ok(Company {
            name,
            books_from: self.books_from,
            last_master_alter_id: self.last_master_alter_id,
            last_voucher_alter_id: self.last_voucher_alter_id,
            is_active: self.is_active.unwrap_or(false),
        })
    }

    /// DBL reads an empty company list as "no company open".
    fn on_empty(_company_is_real: bool) -> Result<(), TallyError> {
        Err(TallyError::NoCompanyOpen)
    }
}

fn field<T>(name: &'static str, parsed: Result<T, ValueError>) -> Result<T, FieldError> {
    parsed.map_err(|e| (name, e))
}

fn text_field(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// Tally's reserved system names, which arrive after the `&#4; ` marker that
/// the sanitiser strips. Users cannot create masters with these names.
fn system_field(text: &str) -> Option<String> {
    match text.trim() {
        "" | "Primary" | "Not Applicable" => None,
        _ => Some(text.to_string()),
    }
}

/// The value of the entry in force last: latest date, later entry on ties.
fn latest<'a>(
    entries: impl Iterator<Item = (Option<NaiveDate>, Option<&'a String>)>,
) -> Option<&'a String> {
    entries
        .filter_map(|(from, v)| v.map(|v| (from, v)))
        .fold(
            None,
            |best: Option<(Option<NaiveDate>, &String)>, (from, v)| match best {
                Some((best_from, _)) if best_from > from => best,
                _ => Some((from, v)),
            },
        )
        .map(|(_, v)| v)
}
