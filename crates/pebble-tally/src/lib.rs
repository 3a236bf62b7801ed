//! Tally's XML-over-HTTP wire format, without the HTTP.
//!
//! Pebble reads stock, parties and companies from TallyPrime / Tally.ERP 9.
//! This crate builds the request bodies, reads the response bodies, and can
//! play Tally's side (render responses, recognise requests) for the simulator.
//! It does no I/O so that every shape Tally is known to send can be tested
//! from fixtures; the adapter that owns the socket, timeouts and retries lives
//! elsewhere.
//!
//! ```
//! use pebble_tally::{parse_stock_items, Limits, Query, Request, Scope, WireEncoding};
//!
//! let request = Request::new(Query::StockItems { changed_after: None }, Scope::company("Ram & Shyam")?)?;
//! let body = request.body(WireEncoding::Utf16Le);
//! let content_type = WireEncoding::Utf16Le.content_type(); // "text/xml;charset=utf-16"
//! # let (_, _) = (body, content_type);
//! # let response = pebble_tally::render_stock_items(&[], &Default::default(), WireEncoding::Utf16Le);
//! let items = parse_stock_items(&response, &Limits::default())?;
//! # assert!(items.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Sources for every shape are in `shared/research/tally-wire-format.md`; the
//! fixture tests cite them case by case. Where the research leaves a question
//! open, the codec takes the safe side and says so:
//!
//! - Part number: `PartNo` is fetched (DBL); `PARTNUMBER` is read too.
//! - Blank `CLOSINGRATE` / `CLOSINGVALUE` read as `None`, a blank balance as
//!   zero without a unit; `0` reads as zero.
//! - An empty collection counts as "no rows" only when `CMPINFO` proves a live
//!   company; otherwise it is [`TallyError::EmptyStub`].
//! - LINEERROR texts other than the two known ones stay [`TallyError::LineError`].
//! - UTF-8 answers are decoded by sniffing, never assumed from the request.

mod decode;
mod error;
mod model;
mod recognise;
mod records;
mod render;
mod request;
mod response;
mod value;
mod xml;

pub use decode::{decode, Decoded, Limits};
pub use error::{RequestError, TallyError};
pub use model::{Company, GstRegistration, Ledger, StockItem};
pub use recognise::recognise;
pub use records::Record;
pub use render::{
    render_companies, render_company_not_loaded, render_empty_stub, render_ledgers,
    render_line_error, render_stock_items, render_unknown_request, MasterCounts,
};
pub use request::{Period, Query, Request, Scope, WireEncoding};
pub use response::{
    parse_companies, parse_ledger, parse_ledgers, parse_stock_item, parse_stock_items, Rows,
};
pub use value::{Amount, Decimal, Forex, Money, Quantity, Rate, UnitPart, ValueError};
