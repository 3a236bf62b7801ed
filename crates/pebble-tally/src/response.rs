//! Streaming reader of Tally export responses.
//!
//! One pass of quick-xml events over the decoded text, one row in memory at a
//! time, so a 10,000-item export never becomes a DOM. The reader also watches
//! for every failure shape Tally sends with HTTP 200 (LINEERROR, `RESPONSE`,
//! `EXCEPTION`, STATUS 0, the empty stub collection) and yields it as an error
//! in place of rows.

use quick_xml::errors::IllFormedError;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::decode::{decode, Decoded, Limits};
use crate::model::{Company, Ledger, StockItem};
use crate::records::{Record, RowBuilder, Tag};
use crate::TallyError;

impl<'b> Decoded<'b> {
    /// Rows of any [`Record`] type; the row element is matched under
    /// `DATA/COLLECTION` (collection export) or `DATA/TALLYMESSAGE` (object export).
    pub fn rows<T: Record>(&self) -> Rows<'_, T> {
        Rows::new(self.text())
    }

    pub fn stock_items(&self) -> Rows<'_, StockItem> {
        self.rows()
    }

    pub fn ledgers(&self) -> Rows<'_, Ledger> {
        self.rows()
    }

    pub fn companies(&self) -> Rows<'_, Company> {
        self.rows()
    }
}

/// Decodes and reads every stock item.
pub fn parse_stock_items(body: &[u8], limits: &Limits) -> Result<Vec<StockItem>, TallyError> {
    decode(body, limits)?.stock_items().collect()
}

/// Reads the answer to a single-item lookup: `None` when the company is real
/// but has no such item.
pub fn parse_stock_item(body: &[u8], limits: &Limits) -> Result<Option<StockItem>, TallyError> {
    at_most_one(parse_stock_items(body, limits)?)
}

pub fn parse_ledgers(body: &[u8], limits: &Limits) -> Result<Vec<Ledger>, TallyError> {
    decode(body, limits)?.ledgers().collect()
}

pub fn parse_ledger(body: &[u8], limits: &Limits) -> Result<Option<Ledger>, TallyError> {
    at_most_one(parse_ledgers(body, limits)?)
}

/// Reads the loaded companies; an empty list is [`TallyError::NoCompanyOpen`].
pub fn parse_companies(body: &[u8], limits: &Limits) -> Result<Vec<Company>, TallyError> {
    decode(body, limits)?.companies().collect()
}

fn at_most_one<T>(mut rows: Vec<T>) -> Result<Option<T>, TallyError> {
    match rows.len() {
        0 | 1 => Ok(rows.pop()),
        count => Err(TallyError::Ambiguous { count }),
    }
}

/// An iterator of rows; after the first `Err` it ends.
pub struct Rows<'a, T: Record> {
    reader: Reader<&'a [u8]>,
    /// Open elements, outermost first.
    tags: Vec<Tag>,
    /// Per open element: has it had a child element (so its text is not a value)?
    has_children: Vec<bool>,
    input: &'a str,
    /// Unescaped text of the innermost element since its start tag.
    text: String,
    root_seen: bool,
    /// Index in `tags` of the row element being read.
    row_at: Option<usize>,
    row_name: Option<String>,
    builder: T::Builder,
    rows: usize,
    status_zero: bool,
    net_code: Option<String>,
    net_message: Option<String>,
    container_seen: bool,
    company_is_real: bool,
    done: bool,
}

impl<'a, T: Record> Rows<'a, T> {
    fn new(text: &'a str) -> Rows<'a, T> {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);
        Rows {
            reader,
            tags: Vec::new(),
            has_children: Vec::new(),
            input: text,
            text: String::new(),
            root_seen: false,
            row_at: None,
            row_name: None,
            builder: T::Builder::default(),
            rows: 0,
            status_zero: false,
            net_code: None,
            net_message: None,
            container_seen: false,
            company_is_real: false,
            done: false,
        }
    }

    fn xml_error(&self, message: impl ToString) -> TallyError {
        TallyError::Xml {
            position: self.reader.buffer_position(),
            message: message.to_string(),
        }
    }

    fn rejected(&self) -> TallyError {
        TallyError::Rejected {
            code: self.net_code.clone(),
            message: self.net_message.clone(),
        }
    }

    /// Advances to the next row, the next error, or the end.
    fn step(&mut self) -> Result<Option<T>, TallyError> {
        loop {
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => return Err(self.read_error(e)),
            };
            match event {
                Event::Start(start) => {
                    let tag = Tag::of(start.name().as_ref());
                    if self.tags.is_empty() {
                        if self.root_seen {
                            return Err(self.xml_error("second root element"));
                        }
                        self.root_seen = true;
                        if !matches!(tag, Tag::Envelope | Tag::Response | Tag::Exception) {
                            return Err(TallyError::UnexpectedResponse {
                                root: String::from_utf8_lossy(start.name().as_ref()).into_owned(),
                                detail: "not an ENVELOPE".to_string(),
                            });
                        }
                    }
                    if let Some(parent) = self.has_children.last_mut() {
                        *parent = true;
                    }
                    let parent = self.tags.last().copied();
                    self.tags.push(tag);
                    self.has_children.push(false);
                    self.text.clear();
                    if let Some(row_at) = self.row_at {
                        self.builder.start(&self.tags[row_at + 1..]);
                    } else if tag == T::TAG
                        && matches!(parent, Some(Tag::Collection | Tag::TallyMessage))
                    {
                        if self.status_zero || self.net_code.is_some() {
                            return Err(self.rejected());
                        }
                        self.row_at = Some(self.tags.len() - 1);
                        self.row_name = match start.try_get_attribute("NAME") {
                            Ok(Some(attr)) => Some(
                                attr.decode_and_unescape_value_with(
                                    self.reader.decoder(),
                                    resolve_entity,
                                )
                                .map_err(|e| self.xml_error(e))?
                                .into_owned(),
                            ),
                            Ok(None) => None,
                            Err(e) => return Err(self.xml_error(e)),
                        };
                    } else if matches!(tag, Tag::Collection | Tag::TallyMessage)
                        && parent == Some(Tag::Data)
                    {
                        self.container_seen = true;
                    }
                }
                Event::Text(text) => {
                    let text = text.decode().map_err(|e| self.xml_error(e))?;
                    if self.tags.is_empty() {
                        if !text.trim().is_empty() {
                            return Err(if self.root_seen {
                                self.xml_error("text after the root element")
                            } else {
                                TallyError::NotXml {
                                    snippet: text.trim().chars().take(60).collect(),
                                }
                            });
                        }
                    } else {
                        self.text.push_str(&text);
                    }
                }
                Event::GeneralRef(reference) => {
                    if self.tags.is_empty() {
                        return Err(self.xml_error("reference outside the root element"));
                    }
                    if let Some(c) = reference
                        .resolve_char_ref()
                        .map_err(|e| self.xml_error(e))?
                    {
                        self.text.push(c);
                    } else {
                        let name = reference.decode().map_err(|e| self.xml_error(e))?;
                        let value = resolve_entity(&name)
                            .ok_or_else(|| self.xml_error(format!("unknown entity &{name};")))?;
                        self.text.push_str(value);
                    }
                }
                Event::CData(data) => {
                    let data = data.decode().map_err(|e| self.xml_error(e))?;
                    self.text.push_str(&data);
                }
                Event::End(_) => {
                    if let Some(row) = self.end_element()? {
                        return Ok(Some(row));
                    }
                }
                Event::Eof => return self.finish_document(),
                // Declarations, comments, processing instructions, DOCTYPE: no data.
                _ => {}
            }
        }
    }

    /// A syntax error at the very end of the input means the body was cut.
    fn read_error(&self, error: quick_xml::Error) -> TallyError {
        let at_end = match &error {
            quick_xml::Error::Syntax(_) => true,
            quick_xml::Error::IllFormed(IllFormedError::UnclosedReference) => {
                let from = usize::try_from(self.reader.error_position()).unwrap_or(usize::MAX);
                self.input
                    .get(from..)
                    .is_some_and(|rest| !rest.contains(['<', ';']))
            }
            _ => false,
        };
        if at_end {
            self.truncated()
        } else {
            self.xml_error(error)
        }
    }

    fn end_element(&mut self) -> Result<Option<T>, TallyError> {
        let (Some(&tag), Some(has_children)) = (self.tags.last(), self.has_children.pop()) else {
            return Err(self.xml_error("end tag without start tag"));
        };
        // An element with children has no value of its own.
        let text = if has_children { "" } else { self.text.as_str() };
        let depth = self.tags.len() - 1;
        if let Some(row_at) = self.row_at {
            if depth > row_at {
                if !has_children {
                    let path = &self.tags[row_at + 1..];
                    if let Err((field, reason)) = self.builder.leaf(path, text) {
                        return Err(TallyError::InvalidValue {
                            record: T::Builder::RECORD,
                            name: self.row_name.clone().unwrap_or_default(),
                            field,
                            value: text.to_string(),
                            reason,
                        });
                    }
                }
                self.text.clear();
                self.tags.pop();
                return Ok(None);
            }
            self.text.clear();
            self.tags.pop();
            self.row_at = None;
            self.rows += 1;
            let builder = std::mem::take(&mut self.builder);
            return builder.finish(self.row_name.take()).map(Some);
        }
        let text = std::mem::take(&mut self.text);
        let text = if has_children { String::new() } else { text };
        self.tags.pop();
        let parent = self.tags.last().copied();
        match tag {
            Tag::LineError => return Err(classify_line_error(text.trim())),
            Tag::Status if parent == Some(Tag::Header) => {
                self.status_zero = text.trim() == "0";
            }
            Tag::Code => self.net_code = Some(text.trim().to_string()),
            Tag::Msg => self.net_message = Some(text.trim().to_string()),
            Tag::Response if parent.is_none() => {
                let text = text.trim();
                return Err(if text.starts_with("Unknown Request") {
                    TallyError::UnknownRequest
                } else {
                    TallyError::UnexpectedResponse {
                        root: "RESPONSE".to_string(),
                        detail: if has_children {
                            "element content (import counters?)".to_string()
                        } else {
                            text.chars().take(200).collect()
                        },
                    }
                });
            }
            Tag::Exception if parent.is_none() => {
                return Err(TallyError::Exception {
                    message: text.trim().to_string(),
                })
            }
            // A live company has at least the default Cash and Profit & Loss
            // ledgers, so one non-zero CMPINFO counter proves it is real.
            _ if parent == Some(Tag::CmpInfo)
                && text.trim().parse::<u64>().is_ok_and(|n| n > 0) =>
            {
                self.company_is_real = true;
            }
            _ => {}
        }
        Ok(None)
    }

    fn truncated(&self) -> TallyError {
        TallyError::Truncated {
            open_element: self
                .tags
                .last()
                .map_or_else(|| "?".to_string(), |t| format!("{t:?}").to_uppercase()),
        }
    }

    fn finish_document(&mut self) -> Result<Option<T>, TallyError> {
        if !self.tags.is_empty() {
            return Err(self.truncated());
        }
        if !self.root_seen {
            return Err(TallyError::NotXml {
                snippet: String::new(),
            });
        }
        if self.status_zero || self.net_code.is_some() {
            return Err(self.rejected());
        }
        if self.rows == 0 {
            if !self.container_seen {
                return Err(TallyError::UnexpectedResponse {
                    root: "ENVELOPE".to_string(),
                    detail: "no DATA/COLLECTION or DATA/TALLYMESSAGE".to_string(),
                });
            }
            T::Builder::on_empty(self.company_is_real)?;
        }
        Ok(None)
    }
}

impl<T: Record> Iterator for Rows<'_, T> {
    type Item = Result<T, TallyError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(row)) => Some(Ok(row)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The XML entities, plus `&tab;`: not XML, but DBL strips it from Tally
/// output, so Tally writes it; read it as the tab it stands for.
pub(crate) fn resolve_entity(entity: &str) -> Option<&'static str> {
    match entity {
        "tab" => Some("\t"),
        _ => quick_xml::escape::resolve_xml_entity(entity),
    }
}

/// The two LINEERROR texts with a known meaning get their own variants.
fn classify_line_error(message: &str) -> TallyError {
    if let Some(company) = message
        .strip_prefix("Could not set 'SVCurrentCompany' to '")
        .and_then(|rest| rest.strip_suffix('\''))
    {
        return TallyError::CompanyNotLoaded {
            company: company.to_string(),
        };
    }
    if let Some(report) = message
        .strip_prefix("Could not find Report '")
        .and_then(|rest| rest.strip_suffix("'!").or_else(|| rest.strip_suffix('\'')))
    {
        return TallyError::UnknownReport {
            report: report.to_string(),
        };
    }
    TallyError::LineError {
        message: message.to_string(),
    }
}
