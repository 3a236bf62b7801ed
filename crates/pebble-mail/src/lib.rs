//! Reading mail without I/O: RFC 5322 messages and mbox files.
//!
//! Parsing is pure (bytes in, a `ParsedMail` or a `Rejection` out) so that
//! the fuzz target, the import and the server all run the same code.

pub mod mbox;

use std::fmt;

use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders, PartType,
};

/// Bounds on what one message may cost to parse and store.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_headers: usize,
    /// Nesting of multiparts and attached messages.
    pub max_depth: usize,
    pub max_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 25 * 1024 * 1024,
            max_headers: 1000,
            max_depth: 20,
            max_parts: 500,
        }
    }
}

/// Why a message could not be taken as it is; it goes to quarantine, raw
/// bytes kept, with this reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    Empty,
    TooLarge { size: usize, limit: usize },
    TooManyHeaders { count: usize, limit: usize },
    TooDeep { limit: usize },
    TooManyParts { count: usize, limit: usize },
    NoHeaders,
    Unparsable,
    ParserPanic,
}

impl Rejection {
    /// A fixed code: the quarantine reason and a metric label.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Empty => "empty",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::TooManyHeaders { .. } => "too_many_headers",
            Rejection::TooDeep { .. } => "too_deep",
            Rejection::TooManyParts { .. } => "too_many_parts",
            Rejection::NoHeaders => "no_headers",
            Rejection::Unparsable => "unparsable",
            Rejection::ParserPanic => "parser_panic",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Empty => write!(f, "the message is empty"),
            Rejection::TooLarge { size, limit } => {
                write!(f, "the message is {size} bytes, over the limit of {limit}")
            }
            Rejection::TooManyHeaders { count, limit } => {
                write!(
                    f,
                    "the message has {count} header fields, over the limit of {limit}"
                )
            }
            Rejection::TooDeep { limit } => {
                write!(f, "MIME parts are nested deeper than {limit} levels")
            }
            Rejection::TooManyParts { count, limit } => {
                write!(
                    f,
                    "the message has {count} MIME parts, over the limit of {limit}"
                )
            }
            Rejection::NoHeaders => write!(
                f,
                "no RFC 5322 header field (From, To, Subject, Date, Message-ID, …): not an email"
            ),
            Rejection::Unparsable => write!(f, "the MIME parser could not read the message"),
            Rejection::ParserPanic => write!(f, "the MIME parser failed on this message"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sender {
    pub address: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Safe as a file name on any system (see `safe_filename`).
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What the pipeline needs from one message. Text never holds NUL (which
/// the databases refuse); the raw bytes keep the original.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedMail {
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub from: Option<Sender>,
    /// The first `Reply-To` address, lower-cased: where the sender asked
    /// replies to go.
    pub reply_to: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    /// The Date header, µs since the epoch.
    pub date: Option<i64>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// The text body; HTML converted to text when there is no text part.
    pub body: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// Parses one RFC 5322 message with `mail-parser` (charsets, encoded words,
/// MIME). The parser has had panics on malformed input, so it runs inside
/// `catch_unwind`: a message it cannot read is rejected, never a crash.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<ParsedMail, Rejection> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::Empty);
    }
    if raw.len() > limits.max_message_bytes {
        return Err(Rejection::TooLarge {
            size: raw.len(),
            limit: limits.max_message_bytes,
        });
    }
    std::panic::catch_unwind(|| {
        let msg = MessageParser::default()
            .parse(raw)
            .ok_or(Rejection::Unparsable)?;
        check_shape(&msg, limits)?;
        Ok(extract(&msg))
    })
    .unwrap_or(Err(Rejection::ParserPanic))
}

fn check_shape(msg: &Message<'_>, limits: &Limits) -> Result<(), Rejection> {
    let headers = msg.headers().len();
    // Bytes before the first blank line read as "header fields" to a lenient
    // parser; without one field RFC 5322 or MIME defines, it is not mail.
    if !msg
        .headers()
        .iter()
        .any(|h| !matches!(h.name, HeaderName::Other(_)))
    {
        return Err(Rejection::NoHeaders);
    }
    if headers > limits.max_headers {
        return Err(Rejection::TooManyHeaders {
            count: headers,
            limit: limits.max_headers,
        });
    }
    let mut parts = 0;
    if !within_depth(msg, 0, limits.max_depth, &mut parts) {
        return Err(Rejection::TooDeep {
            limit: limits.max_depth,
        });
    }
    if parts > limits.max_parts {
        return Err(Rejection::TooManyParts {
            count: parts,
            limit: limits.max_parts,
        });
    }
    Ok(())
}

/// Walks the part tree from the root, counting parts; false when a branch
/// goes deeper than `max`.
fn within_depth(msg: &Message<'_>, base: usize, max: usize, parts: &mut usize) -> bool {
    let mut stack = vec![(0usize, base)];
    while let Some((id, depth)) = stack.pop() {
        if depth > max {
            return false;
        }
        let Some(part) = msg.parts.get(id) else {
            continue;
        };
        *parts += 1;
        match &part.body {
            PartType::Multipart(children) => {
                stack.extend(children.iter().map(|c| (*c as usize, depth + 1)));
            }
            PartType::Message(inner) if !within_depth(inner, depth + 1, max, parts) => {
                return false;
            }
            _ => {}
        }
    }
    true
}

fn extract(msg: &Message<'_>) -> ParsedMail {
    let from = msg.from().and_then(Address::first).and_then(|a| {
        a.address().map(|addr| Sender {
            address: clean(addr.trim()).to_lowercase(),
            name: clean(a.name().unwrap_or_default().trim()),
        })
    });
    let html = msg.body_html(0).map(|h| clean(&h));
    let attachments = msg
        .attachments()
        .enumerate()
        .map(|(i, part)| Attachment {
            filename: safe_filename(part.attachment_name().unwrap_or_default(), i),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                })
                .map(|ct| clean(&ct).to_lowercase())
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes: part.contents().to_vec(),
        })
        .collect();
    ParsedMail {
        message_id: msg
            .message_id()
            .map(|id| clean(id.trim()))
            .filter(|id| !id.is_empty()),
        from,
        reply_to: addresses(msg.reply_to())
            .into_iter()
            .find(|a| !a.is_empty()),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        subject: clean(msg.subject().unwrap_or_default().trim()),
        date: msg.date().map(|d| d.to_timestamp() * 1_000_000),
        in_reply_to: ids(msg.in_reply_to()).into_iter().next(),
        references: ids(msg.references()),
        body: msg.body_text(0).map(|b| clean(&b)).unwrap_or_default(),
        html,
        attachments,
    }
}

fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|addr| addr.address())
            .map(|s| clean(s.trim()).to_lowercase())
            .collect()
    })
    .unwrap_or_default()
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![clean(t)],
        HeaderValue::TextList(list) => list.iter().map(|t| clean(t)).collect(),
        _ => Vec::new(),
    }
}

fn clean(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

/// An attachment name that cannot escape a directory or confuse a shell or
/// a file manager: the last path component only, no control characters, no
/// leading dots, at most 150 characters; `attachment-N` when nothing is left.
pub fn safe_filename(name: &str, position: usize) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let short: String = trimmed.chars().take(150).collect();
    if short.is_empty() {
        format!("attachment-{}", position + 1)
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(raw: &[u8]) -> ParsedMail {
        parse(raw, &Limits::default()).expect("parsed")
    }

    #[test]
    fn a_simple_message_is_parsed() {
        let m = parse_ok(b"Message-ID: <a1@x.in>\r\nFrom: Ravi Kumar <Ravi@Acme.co.in>\r\nTo: sales@pebble.in, b@c.in\r\nSubject: =?utf-8?q?rate_chahiye?=\r\nDate: Tue, 2 Apr 2024 10:00:00 +0530\r\nIn-Reply-To: <p@x.in>\r\nReferences: <r@x.in> <p@x.in>\r\nContent-Type: text/plain\r\n\r\n2.5 sq mm wire rate?\r\n");
        assert_eq!(m.message_id.as_deref(), Some("a1@x.in"));
        assert_eq!(m.subject, "rate chahiye");
        assert!(m.body.contains("2.5 sq mm wire rate?"));
        let from = m.from.expect("from");
        assert_eq!(from.address, "ravi@acme.co.in");
        assert_eq!(from.name, "Ravi Kumar");
        assert_eq!(m.to, ["sales@pebble.in", "b@c.in"]);
        assert_eq!(m.date, Some(1_712_032_200_000_000));
        assert_eq!(m.in_reply_to.as_deref(), Some("p@x.in"));
        assert_eq!(m.references, ["r@x.in", "p@x.in"]);
    }

    #[test]
    fn the_reply_to_address_is_kept_apart_from_the_sender() {
        let m = parse_ok(b"From: Ravi <ravi@acme.co.in>\r\nReply-To: Purchase Desk <Purchase@Acme.co.in>, other@acme.co.in\r\nSubject: rate\r\n\r\nrate?\r\n");
        assert_eq!(m.reply_to.as_deref(), Some("purchase@acme.co.in"));
        assert_eq!(m.from.expect("from").address, "ravi@acme.co.in");
        let none = parse_ok(b"From: a@b.in\r\nSubject: x\r\n\r\ny\r\n");
        assert_eq!(none.reply_to, None);
    }

    #[test]
    fn html_only_mail_yields_text_and_keeps_the_html() {
        let m = parse_ok(b"From: a@b.in\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Need <b>5 nos</b> MCB</p><script>x()</script>\r\n");
        assert!(m.body.contains("Need 5 nos MCB"), "{}", m.body);
        assert!(m.html.expect("html").contains("<script>"));
    }

    #[test]
    fn charsets_and_attachments_are_decoded_with_safe_names() {
        let raw = b"From: a@b.in\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 order\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--XX--\r\n";
        let m = parse_ok(raw);
        assert_eq!(m.subject, "café");
        assert!(m.body.contains("café order"));
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].filename, "passwd");
        assert_eq!(m.attachments[0].content_type, "application/pdf");
        assert_eq!(m.attachments[0].bytes, b"hello");
    }

    #[test]
    fn bad_input_is_rejected_with_a_reason_not_a_crash() {
        let limits = Limits {
            max_message_bytes: 1000,
            max_headers: 50,
            max_depth: 3,
            max_parts: 100,
        };
        assert_eq!(parse(b"", &limits), Err(Rejection::Empty));
        assert_eq!(parse(b"\r\n\r\n", &limits), Err(Rejection::Empty));
        assert_eq!(
            parse(b"\x00\x01\x02 binary junk \xff\xfe", &limits),
            Err(Rejection::NoHeaders)
        );
        assert!(matches!(
            parse(&[b'a'; 1001], &limits),
            Err(Rejection::TooLarge { size: 1001, .. })
        ));
        let many: Vec<u8> = b"From: a@b.in\r\n"
            .iter()
            .copied()
            .chain((0..59).flat_map(|i| format!("X-H{i}: v\r\n").into_bytes()))
            .chain(b"\r\nbody".iter().copied())
            .collect();
        assert!(matches!(
            parse(&many, &limits),
            Err(Rejection::TooManyHeaders { count: 60, .. })
        ));
        let mut deep = String::from("From: a@b.in\r\n");
        for i in 0..6 {
            deep.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        deep.push_str("Content-Type: text/plain\r\n\r\nhi\r\n");
        assert_eq!(
            parse(deep.as_bytes(), &limits),
            Err(Rejection::TooDeep { limit: 3 })
        );
    }

    #[test]
    fn hostile_but_readable_input_is_taken_with_nul_bytes_replaced() {
        let m = parse_ok(b"From: a@b.in\r\nSubject: x\0y\r\nContent-Type: multipart/mixed; boundary=QQ\r\n\r\n--QQ\r\nContent-Type: text/plain; charset=x-unknown-charset\r\n\r\ntruncated body with\0nul");
        assert_eq!(m.subject, "x\u{FFFD}y");
        assert!(!m.body.contains('\0'));
        let eight_bit = parse_ok("From: a@b.in\r\nSubject: दर सूची\r\n\r\nbody\r\n".as_bytes());
        assert_eq!(eight_bit.subject, "दर सूची");
    }

    #[test]
    fn attachment_names_cannot_escape_or_hide() {
        assert_eq!(safe_filename("../../etc/passwd", 0), "passwd");
        assert_eq!(safe_filename("..\\..\\win.ini", 0), "win.ini");
        assert_eq!(safe_filename(".htaccess", 0), "htaccess");
        assert_eq!(safe_filename("a\u{0}b\nc.pdf", 0), "a_b_c.pdf");
        assert_eq!(safe_filename("", 2), "attachment-3");
        assert_eq!(safe_filename("..", 0), "attachment-1");
        assert_eq!(safe_filename(&"x".repeat(400), 0).len(), 150);
    }
}
