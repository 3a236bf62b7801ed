//! Reading mail: mbox files and RFC 5322 messages.

pub mod mbox;

/// What the pipeline needs from one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedMail {
    pub message_id: Option<String>,
    pub subject: String,
    /// The text body (HTML converted to text when there is no text part).
    pub body: String,
}

/// Parses one RFC 5322 message with `mail-parser`. The parser has had
/// panics on malformed input, so it runs inside `catch_unwind`; a message
/// it cannot read is returned as `None` rather than taking the process down.
pub fn parse(raw: &[u8]) -> Option<ParsedMail> {
    std::panic::catch_unwind(|| {
        let msg = mail_parser::MessageParser::default().parse(raw)?;
        Some(ParsedMail {
            message_id: msg.message_id().map(str::to_string),
            subject: msg.subject().unwrap_or_default().to_string(),
            body: msg.body_text(0).map(|b| b.into_owned()).unwrap_or_default(),
        })
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_message_is_parsed() {
        let m = parse(b"Message-ID: <a1@x.in>\r\nSubject: =?utf-8?q?rate_chahiye?=\r\nContent-Type: text/plain\r\n\r\n2.5 sq mm wire rate?\r\n").expect("parsed");
        assert_eq!(m.message_id.as_deref(), Some("a1@x.in"));
        assert_eq!(m.subject, "rate chahiye");
        assert!(m.body.contains("2.5 sq mm wire rate?"));
    }
}
