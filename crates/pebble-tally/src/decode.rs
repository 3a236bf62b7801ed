//! From response bytes to clean XML text.
//!
//! Tally answers a UTF-16 request in UTF-16LE, and (by inference, unconfirmed)
//! an 8-bit request in 8-bit text; proxies and simulators may add or drop a BOM.
//! So the encoding is sniffed, never assumed. Tally also writes characters that
//! XML 1.0 forbids (the system-name marker `&#4;`, raw C0 controls), which a
//! strict parser rejects; they are removed here, before parsing, the way
//! TallyConnector's `TallyResponseCleaner` does.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};

use crate::TallyError;

/// Bounds on what the codec will accept, so one runaway export cannot exhaust memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest body accepted, in bytes as received. The adapter should stop
    /// reading the HTTP body at the same figure.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    /// 256 MiB: DBL hit Node's 512 MB string limit only at ~820,000 vouchers;
    /// a stock or ledger master export is far smaller.
    fn default() -> Limits {
        Limits {
            max_body_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Decoded, sanitised response text, ready for [`Rows`](crate::Rows).
#[derive(Clone, Debug)]
pub struct Decoded<'b> {
    text: Cow<'b, str>,
    encoding: &'static Encoding,
}

impl Decoded<'_> {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The encoding the body was read as, e.g. `"UTF-16LE"`.
    pub fn encoding_name(&self) -> &'static str {
        self.encoding.name()
    }
}

/// Sniffs the encoding, decodes strictly, and removes what XML 1.0 forbids.
pub fn decode<'b>(body: &'b [u8], limits: &Limits) -> Result<Decoded<'b>, TallyError> {
    if body.len() > limits.max_body_bytes {
        return Err(TallyError::TooLarge {
            len: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    let (encoding, bom_len) = sniff(body);
    let text = encoding
        .decode_without_bom_handling_and_without_replacement(&body[bom_len..])
        .ok_or(TallyError::MalformedEncoding {
            encoding: encoding.name(),
        })?;
    if text.trim().is_empty() {
        return Err(TallyError::EmptyBody);
    }
    let text = match sanitize(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clean) => Cow::Owned(clean),
    };
    let first = text.trim_start();
    if !first.starts_with('<') {
        return Err(TallyError::NotXml {
            snippet: first
                .chars()
                .take(60)
                .collect::<String>()
                .trim_end()
                .to_string(),
        });
    }
    Ok(Decoded { text, encoding })
}

/// Encoding and BOM length, from (in order) a BOM, the NUL-byte pattern of
/// UTF-16 ASCII text, and an 8-bit XML declaration's `encoding=`.
fn sniff(body: &[u8]) -> (&'static Encoding, usize) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(body) {
        return (encoding, bom_len);
    }
    // Markup is ASCII, so UTF-16 puts a NUL beside nearly every markup byte:
    // at odd offsets for little-endian, even for big-endian.
    let head = &body[..body.len().min(64) & !1];
    let nul_odd = head.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
    let nul_even = head.iter().step_by(2).filter(|b| **b == 0).count();
    let pairs = head.len() / 2;
    if nul_odd * 2 > pairs && nul_odd > nul_even {
        return (UTF_16LE, 0);
    }
    if nul_even * 2 > pairs && nul_even > nul_odd {
        return (UTF_16BE, 0);
    }
    (declared_encoding(body).unwrap_or(UTF_8), 0)
}

/// The `encoding="…"` of an 8-bit `<?xml …?>` declaration, ignoring labels
/// that contradict the bytes (a UTF-16 label on NUL-free text).
fn declared_encoding(body: &[u8]) -> Option<&'static Encoding> {
    let head = &body[..body.len().min(200)];
    let head = head.strip_prefix(b"<?xml")?;
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = &head[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = &decl[at + 8..];
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let quote = *rest.first()?;
    let rest = rest.get(1..)?;
    let label = &rest[..rest.iter().position(|b| *b == quote)?];
    let encoding = Encoding::for_label(label)?;
    (encoding != UTF_16LE && encoding != UTF_16BE).then_some(encoding)
}

/// Removes `&#4;` (the system-name marker, with the space Tally writes after
/// it) and every C0 control other than TAB, LF and CR, raw or as a decimal or
/// hex character reference. Borrows when there is nothing to remove, which
/// is the common case for UTF-16 bodies without system names.
pub(crate) fn sanitize(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // A branch-free fold, so the common no-control case is one vectorised pass.
    let has_controls = bytes.iter().fold(false, |found, &b| {
        found | is_forbidden_control(u32::from(b))
    });
    if !has_controls && !text.contains("&#") {
        return Cow::Borrowed(text);
    }
    let next_candidate = |from: usize| -> Option<usize> {
        if has_controls {
            bytes[from..]
                .iter()
                .position(|&b| b == b'&' || is_forbidden_control(u32::from(b)))
                .map(|p| p + from)
        } else {
            text[from..].find("&#").map(|p| p + from)
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut kept_from = 0;
    let mut from = 0;
    while let Some(i) = next_candidate(from) {
        let removed = if bytes[i] == b'&' {
            char_reference(&bytes[i..])
                .and_then(|(code, len)| is_forbidden_control(code).then_some((code, i + len)))
        } else {
            Some((u32::from(bytes[i]), i + 1))
        };
        match removed {
            Some((code, mut end)) => {
                if code == 4 && bytes.get(end) == Some(&b' ') {
                    end += 1;
                }
                out.push_str(&text[kept_from..i]);
                kept_from = end;
                from = end;
            }
            None => from = i + 1,
        }
    }
    if kept_from == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[kept_from..]);
    Cow::Owned(out)
}

fn is_forbidden_control(code: u32) -> bool {
    code < 0x20 && !matches!(code, 0x09 | 0x0A | 0x0D)
}

/// `&#N;` or `&#xH;` at the start of `bytes`: (code point, length).
fn char_reference(bytes: &[u8]) -> Option<(u32, usize)> {
    let rest = bytes.strip_prefix(b"&#")?;
    let (radix, digits_at) = match rest.first() {
        Some(b'x') | Some(b'X') => (16, 3),
        _ => (10, 2),
    };
    let digits = &bytes[digits_at..];
    let len = digits.iter().take(8).position(|b| *b == b';')?;
    let number = std::str::from_utf8(&digits[..len]).ok()?;
    let code = u32::from_str_radix(number, radix).ok()?;
    Some((code, digits_at + len + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn utf16be(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    #[test]
    fn sniffs_bom_nul_pattern_and_declaration() {
        let xml = "<ENVELOPE>₹</ENVELOPE>";
        let mut bom = vec![0xFF, 0xFE];
        bom.extend(utf16le(xml));
        for (body, name) in [
            (bom, "UTF-16LE"),
            (utf16le(xml), "UTF-16LE"),
            (utf16be(xml), "UTF-16BE"),
            (xml.as_bytes().to_vec(), "UTF-8"),
        ] {
            let decoded = decode(&body, &Limits::default()).unwrap();
            assert_eq!(decoded.encoding_name(), name);
            assert_eq!(decoded.text(), xml);
        }
        let latin = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><A>\x80</A>";
        let decoded = decode(latin, &Limits::default()).unwrap();
        assert_eq!(decoded.encoding_name(), "windows-1252");
        assert!(decoded.text().contains('€'));
        let lying = b"<?xml version=\"1.0\" encoding=\"utf-16\"?><A/>";
        assert_eq!(
            decode(lying, &Limits::default()).unwrap().encoding_name(),
            "UTF-8"
        );
    }

    #[test]
    fn odd_length_utf16_is_malformed() {
        let mut body = vec![0xFF, 0xFE];
        body.extend(utf16le("<A/>"));
        body.push(b'<');
        assert_eq!(
            decode(&body, &Limits::default()).unwrap_err(),
            TallyError::MalformedEncoding {
                encoding: "UTF-16LE"
            }
        );
    }

    #[test]
    fn sanitize_removes_marker_controls_and_their_references() {
        assert_eq!(sanitize("<P>&#4; Primary</P>"), "<P>Primary</P>");
        assert_eq!(sanitize("<P>&#x4;Primary</P>"), "<P>Primary</P>");
        assert_eq!(sanitize("a\u{1}b\u{0}c\u{1F}d"), "abcd");
        assert_eq!(sanitize("a&#31;b&#x1b;c&#0;d"), "abcd");
        assert_eq!(
            sanitize("keep&#9;&#10;&#13;&#8377;&amp;\t\r\n"),
            "keep&#9;&#10;&#13;&#8377;&amp;\t\r\n"
        );
        assert!(matches!(sanitize("plain"), Cow::Borrowed(_)));
        assert!(matches!(sanitize("a &amp; b"), Cow::Borrowed(_)));
        assert_eq!(sanitize("&#4"), "&#4");
        assert_eq!(sanitize("&#99999999999;"), "&#99999999999;");
    }

    #[test]
    fn cap_empty_and_garbage() {
        let limits = Limits { max_body_bytes: 4 };
        assert_eq!(
            decode(b"<A></A>", &limits).unwrap_err(),
            TallyError::TooLarge { len: 7, limit: 4 }
        );
        assert_eq!(
            decode(b"", &Limits::default()).unwrap_err(),
            TallyError::EmptyBody
        );
        assert_eq!(
            decode(&[0xFF, 0xFE, 0x20, 0], &Limits::default()).unwrap_err(),
            TallyError::EmptyBody
        );
        assert!(matches!(
            decode(b"HTTP/1.1 502 Bad Gateway", &Limits::default()).unwrap_err(),
            TallyError::NotXml { .. }
        ));
    }
}
