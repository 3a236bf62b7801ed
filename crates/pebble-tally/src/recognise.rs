//! Tells which of Pebble's requests a body is, so a simulator can answer it.
//!
//! The inverse of [`Request::new`]: `recognise(&request.body(e))` gives the
//! request back. Requests are a few kilobytes, so unlike responses they are
//! read into a flat element list.

use chrono::NaiveDate;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::decode::{decode, Limits};
use crate::request::{Period, Query, Request, Scope, ALTER_FORMULA_PREFIX, NAME_FORMULA_PREFIX};
use crate::response::resolve_entity;
use crate::TallyError;

/// Far above any request Pebble builds; a simulator should not buffer more.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Reads a request body (UTF-16 or UTF-8, sniffed like responses).
pub fn recognise(body: &[u8]) -> Result<Request, TallyError> {
    let decoded = decode(
        body,
        &Limits {
            max_body_bytes: MAX_REQUEST_BYTES,
        },
    )?;
    let doc = Flat::parse(decoded.text())?;

    let kind = doc.text("ENVELOPE/HEADER/TALLYREQUEST").unwrap_or_default();
    if !kind.trim().eq_ignore_ascii_case("export") {
        return Err(unrecognised(format!(
            "TALLYREQUEST is {kind:?}, not Export"
        )));
    }
    let scope = scope(&doc)?;
    let id = doc.text("ENVELOPE/HEADER/ID").unwrap_or_default();
    let request_type = doc.text("ENVELOPE/HEADER/TYPE").unwrap_or_default();
    let query = match request_type.trim().to_ascii_lowercase().as_str() {
        "collection" => collection_query(&doc, id)?,
        "object" => {
            let subtype = doc.text("ENVELOPE/HEADER/SUBTYPE").unwrap_or_default();
            let name = id.to_string();
            match subtype.trim().to_ascii_lowercase().as_str() {
                "stock item" | "stockitem" => Query::StockItem { name },
                "ledger" => Query::Ledger { name },
                other => return Err(unrecognised(format!("object export of {other:?}"))),
            }
        }
        other => return Err(unrecognised(format!("export TYPE {other:?}"))),
    };
    Request::new(query, scope).map_err(|e| unrecognised(e.to_string()))
}

fn unrecognised(reason: String) -> TallyError {
    TallyError::UnrecognisedRequest { reason }
}

fn scope(doc: &Flat) -> Result<Scope, TallyError> {
    const VARS: &str = "ENVELOPE/BODY/DESC/STATICVARIABLES/";
    let scope = match doc.text(&format!("{VARS}SVCURRENTCOMPANY")) {
        Some(company) => Scope::company(company).map_err(|e| unrecognised(e.to_string()))?,
        None => Scope::default(),
    };
    let from = doc.text(&format!("{VARS}SVFROMDATE"));
    let to = doc.text(&format!("{VARS}SVTODATE"));
    Ok(match (from, to) {
        (None, None) => scope,
        (Some(from), Some(to)) => {
            let period = Period::new(request_date(from)?, request_date(to)?)
                .map_err(|e| unrecognised(e.to_string()))?;
            scope.with_period(period)
        }
        _ => return Err(unrecognised("only one of SVFROMDATE, SVTODATE".into())),
    })
}

fn request_date(text: &str) -> Result<NaiveDate, TallyError> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%d-%b-%Y")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .map_err(|_| unrecognised(format!("date {text:?}")))
}

fn collection_query(doc: &Flat, id: &str) -> Result<Query, TallyError> {
    const TDL: &str = "ENVELOPE/BODY/DESC/TDL/TDLMESSAGE/";
    let collection = doc
        .elements
        .iter()
        .position(|e| e.path == format!("{TDL}COLLECTION") && e.attr("NAME") == Some(id))
        .ok_or_else(|| unrecognised(format!("no inline COLLECTION named {id:?}")))?;
    let child = |name: &str| {
        doc.elements
            .iter()
            .find(|e| e.parent == Some(collection) && e.path.rsplit('/').next() == Some(name))
            .map(|e| e.text.as_str())
    };
    let object_type = child("TYPE")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();

    let mut changed_after = None;
    let mut name = None;
    for filter in child("FILTER")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
    {
        if filter.is_empty() {
            continue;
        }
        let formula = doc
            .elements
            .iter()
            .find(|e| e.path == format!("{TDL}SYSTEM") && e.attr("NAME") == Some(filter))
            .map(|e| e.text.trim())
            .ok_or_else(|| unrecognised(format!("filter {filter:?} has no formula")))?;
        if let Some(n) = formula.strip_prefix(ALTER_FORMULA_PREFIX) {
            let n = n
                .trim()
                .parse()
                .map_err(|_| unrecognised(format!("formula {formula:?}")))?;
            changed_after = Some(n);
        } else if let Some(literal) = formula.strip_prefix(NAME_FORMULA_PREFIX) {
            name = Some(
                tdl_literal(literal).ok_or_else(|| unrecognised(format!("formula {formula:?}")))?,
            );
        } else {
            return Err(unrecognised(format!("formula {formula:?}")));
        }
    }
    Ok(match (object_type.as_str(), name, changed_after) {
        ("company", None, None) => Query::Companies,
        ("stockitem", None, changed_after) => Query::StockItems { changed_after },
        ("stockitem", Some(name), None) => Query::StockItem { name },
        ("ledger", None, changed_after) => Query::Ledgers { changed_after },
        ("ledger", Some(name), None) => Query::Ledger { name },
        (other, _, _) => return Err(unrecognised(format!("collection of {other:?}"))),
    })
}

/// The inside of a `"…"` or `'…'` TDL string literal.
fn tdl_literal(literal: &str) -> Option<String> {
    let quote = literal.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let inner = literal.strip_prefix(quote)?.strip_suffix(quote)?;
    (!inner.contains(quote)).then(|| inner.to_string())
}

struct Element {
    path: String,
    attrs: Vec<(String, String)>,
    text: String,
    parent: Option<usize>,
}

impl Element {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every element with its slash-joined path; text only for leaves.
struct Flat {
    elements: Vec<Element>,
}

impl Flat {
    fn parse(input: &str) -> Result<Flat, TallyError> {
        let mut reader = Reader::from_str(input);
        reader.config_mut().expand_empty_elements = true;
        let xml_error = |reader: &Reader<&[u8]>, message: String| TallyError::Xml {
            position: reader.buffer_position(),
            message,
        };
        let mut elements: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut text = String::new();
        loop {
            match reader.read_event() {
                Ok(Event::Start(start)) => {
                    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                    let parent = open.last().copied();
                    let path = match parent {
                        Some(p) => format!("{}/{}", elements[p].path, name),
                        None => name,
                    };
                    let mut attrs = Vec::new();
                    for attr in start.attributes() {
                        let attr = attr.map_err(|e| xml_error(&reader, e.to_string()))?;
                        let value = attr
                            // The decoder form compiles whether or not another crate in the
                            // build switches on quick-xml's `encoding` feature.
                            .decode_and_unescape_value(reader.decoder())
                            .map_err(|e| xml_error(&reader, e.to_string()))?;
                        attrs.push((
                            String::from_utf8_lossy(attr.key.as_ref()).into_owned(),
                            value.into_owned(),
                        ));
                    }
                    open.push(elements.len());
                    elements.push(Element {
                        path,
                        attrs,
                        text: String::new(),
                        parent,
                    });
                    text.clear();
                }
                Ok(Event::Text(t)) => {
                    text.push_str(&t.decode().map_err(|e| xml_error(&reader, e.to_string()))?)
                }
                Ok(Event::GeneralRef(r)) => {
                    let name = r.decode().map_err(|e| xml_error(&reader, e.to_string()))?;
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => text.push(c),
                        _ => text.push_str(
                            resolve_entity(&name)
                                .ok_or_else(|| xml_error(&reader, format!("entity &{name};")))?,
                        ),
                    }
                }
                Ok(Event::End(_)) => {
                    let Some(index) = open.pop() else {
                        return Err(xml_error(&reader, "end tag without start tag".into()));
                    };
                    let is_leaf = elements.last().is_some_and(|_| index == elements.len() - 1);
                    if is_leaf {
                        elements[index].text = std::mem::take(&mut text);
                    }
                    text.clear();
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(quick_xml::Error::Syntax(_)) => {
                    return Err(TallyError::Truncated {
                        open_element: "request".into(),
                    })
                }
                Err(e) => return Err(xml_error(&reader, e.to_string())),
            }
        }
        if !open.is_empty() {
            return Err(TallyError::Truncated {
                open_element: "request".into(),
            });
        }
        Ok(Flat { elements })
    }

    fn text(&self, path: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|e| e.path == path)
            .map(|e| e.text.as_str())
    }
}
