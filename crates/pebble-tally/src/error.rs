//! Typed failures of the wire codec.
//!
//! Tally reports most failures inside an HTTP 200 body, in several shapes that a
//! naive parser reads as "zero rows". Every such shape gets its own variant here
//! so that the adapter can tell "the catalogue is empty" from "Tally refused",
//! and decide which failures are worth a retry.

use thiserror::Error;

use crate::value::ValueError;

/// Why a response body (or, for the simulator, a request body) was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TallyError {
    /// The body was empty or held only whitespace. DBL reads this as "the
    /// target company is closed"; Pebble keeps it distinct because it can also
    /// mean a proxy cut the answer.
    #[error("Tally returned an empty body")]
    EmptyBody,

    /// The body is larger than [`Limits::max_body_bytes`](crate::Limits).
    #[error("response of {len} bytes exceeds the cap of {limit} bytes")]
    TooLarge { len: usize, limit: usize },

    /// The bytes are not valid in the encoding they were sniffed as.
    #[error("response is not valid {encoding}")]
    MalformedEncoding { encoding: &'static str },

    /// The body does not start like XML at all (HTML error page, plain text, binary).
    #[error("response is not XML: {snippet:?}")]
    NotXml { snippet: String },

    /// The body is XML-like but not well formed.
    #[error("malformed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },

    /// The document ended while elements were still open: the connection was cut
    /// or Tally stopped writing mid-export.
    #[error("response ends inside <{open_element}>: truncated")]
    Truncated { open_element: String },

    /// `<LINEERROR>` that is neither of the two recognised messages below.
    #[error("Tally LINEERROR: {message}")]
    LineError { message: String },

    /// `Could not set 'SVCurrentCompany' to '…'`: the company is not loaded,
    /// is misspelt, or its name was sent unescaped.
    #[error("company {company:?} is not loaded in Tally")]
    CompanyNotLoaded { company: String },

    /// `Could not find Report '…'!`: the request named a report Tally does not know.
    #[error("Tally does not know the report {report:?}")]
    UnknownReport { report: String },

    /// `<RESPONSE>Unknown Request, cannot be processed</RESPONSE>`.
    #[error("Tally refused the request: Unknown Request, cannot be processed")]
    UnknownRequest,

    /// `<EXCEPTION>…</EXCEPTION>` as the whole body.
    #[error("Tally raised an exception: {message}")]
    Exception { message: String },

    /// `HEADER/STATUS` was 0 without a `LINEERROR`, or Tally.NET put a fault
    /// in `DATA/STATUS/CODE` and `MSG.LIST/MSG`.
    #[error("Tally rejected the request (code {code:?}): {message:?}")]
    Rejected {
        code: Option<String>,
        message: Option<String>,
    },

    /// Well-formed XML, but not an export answer (for example the
    /// `TallyPrime Server is Running` banner, or an import counter block).
    #[error("unexpected <{root}> response: {detail}")]
    UnexpectedResponse { root: String, detail: String },

    /// A collection with no rows and no sign of a loaded company (missing or
    /// all-zero `CMPINFO`): Tally's object-browser stub for a collection it
    /// could not build, which must not be read as "no items".
    #[error("Tally returned an empty stub collection instead of data")]
    EmptyStub,

    /// The company list came back empty: no company is open in Tally.
    #[error("no company is open in Tally")]
    NoCompanyOpen,

    /// A single-object lookup returned more than one row.
    #[error("lookup returned {count} rows instead of at most one")]
    Ambiguous { count: usize },

    /// A row without a usable name (no `NAME` attribute and no `NAME` child).
    #[error("<{record}> row has no name")]
    MissingName { record: &'static str },

    /// A typed field held text outside Tally's value grammar.
    #[error("{record} {name:?}: field {field} = {value:?}: {reason}")]
    InvalidValue {
        record: &'static str,
        name: String,
        field: &'static str,
        value: String,
        reason: ValueError,
    },

    /// The simulator received a body that is none of Pebble's requests.
    #[error("not a request Pebble sends: {reason}")]
    UnrecognisedRequest { reason: String },
}

/// Why a request could not be built from caller input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Tally names are never empty; an empty name would match nothing or everything.
    #[error("{what} is empty")]
    Empty { what: &'static str },

    /// XML 1.0 cannot carry C0 control characters, even escaped, so Tally could
    /// not receive this name intact.
    #[error("{what} contains the control character U+{code:04X}")]
    ControlCharacter { what: &'static str, code: u32 },

    /// The period ends before it starts.
    #[error("period ends ({to}) before it starts ({from})")]
    InvertedPeriod {
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    },
}
