//! A small indenting XML writer shared by requests and rendered responses.

use quick_xml::escape::{escape, partial_escape};

use crate::request::WireEncoding;

/// Writes one element per line, one space of indent per level, as in the
/// Tally samples the research collected.
pub(crate) struct XmlWriter {
    out: String,
    depth: usize,
    newline: &'static str,
}

impl XmlWriter {
    pub(crate) fn new(newline: &'static str) -> XmlWriter {
        XmlWriter {
            out: String::with_capacity(4096),
            depth: 0,
            newline,
        }
    }

    fn start_tag(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        for _ in 0..self.depth {
            self.out.push(' ');
        }
        self.out.push('<');
        self.out.push_str(tag);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            self.out.push_str(&escape(*value));
            self.out.push('"');
        }
        self.out.push('>');
    }

    pub(crate) fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start_tag(tag, attrs);
        self.out.push_str(self.newline);
        self.depth += 1;
    }

    pub(crate) fn close(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        for _ in 0..self.depth {
            self.out.push(' ');
        }
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self.out.push_str(self.newline);
    }

    /// An element whose text is escaped here: `&`, `<` and `>` only, the
    /// entities every XML reader knows; quotes need escaping only in
    /// attributes, where all five are escaped.
    pub(crate) fn leaf(&mut self, tag: &str, attrs: &[(&str, &str)], text: &str) {
        self.leaf_raw(tag, attrs, &partial_escape(text));
    }

    /// An element whose text is already markup, for Tally's `&#4;` system-name marker.
    pub(crate) fn leaf_raw(&mut self, tag: &str, attrs: &[(&str, &str)], markup: &str) {
        self.start_tag(tag, attrs);
        self.out.push_str(markup);
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self.out.push_str(self.newline);
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Text to wire bytes. UTF-16 is little-endian, the order every connector and
/// the Tally.NET docs use; `utf16_bom` adds `FF FE` to UTF-16 (UTF-8 never
/// gets a BOM: no source shows Tally writing one).
pub(crate) fn encode(text: &str, encoding: WireEncoding, utf16_bom: bool) -> Vec<u8> {
    match encoding {
        WireEncoding::Utf8 => text.as_bytes().to_vec(),
        WireEncoding::Utf16Le => {
            let mut out = Vec::with_capacity(text.len() * 2 + 2);
            if utf16_bom {
                out.extend_from_slice(&[0xFF, 0xFE]);
            }
            out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            out
        }
    }
}
