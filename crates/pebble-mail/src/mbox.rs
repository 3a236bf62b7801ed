//! Splitting an mbox file into messages.
//!
//! A message starts at a `From ` line at the start of the file or after a
//! blank line (the classic separator: `From sender date`). Body lines that
//! began with `From ` were escaped by the writer as `>From `; mboxrd escapes
//! every `>…>From ` by one more `>`, so one `>` is removed from any line
//! matching `>+From `. That reverses both mboxo and mboxrd writers (mboxo is
//! ambiguous for lines that really started with `>From `, and nothing can
//! fix that). Works on bytes: mail is not always UTF-8.

/// The messages in `data`, separator lines removed, in file order. Text
/// before the first separator (not an mbox) is returned as one message, so
/// a bare RFC 5322 file also works.
pub fn split(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut prev_blank = true;
    for line in lines(data) {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if prev_blank && content.starts_with(b"From ") {
            if let Some(msg) = current.take() {
                out.push(finish(msg));
            }
            current = Some(Vec::new());
            prev_blank = false;
            continue;
        }
        prev_blank = content.is_empty();
        let msg = current.get_or_insert_with(Vec::new);
        msg.extend_from_slice(unescape(line));
    }
    if let Some(msg) = current {
        if !msg.iter().all(u8::is_ascii_whitespace) || !out.is_empty() {
            out.push(finish(msg));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&b| b == b'\n')
}

fn unescape(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") {
        &line[1..]
    } else {
        line
    }
}

/// Drops the blank line that separates a message from the next separator.
fn finish(mut msg: Vec<u8>) -> Vec<u8> {
    if msg.ends_with(b"\r\n\r\n") {
        msg.truncate(msg.len() - 2);
    } else if msg.ends_with(b"\n\n") {
        msg.truncate(msg.len() - 1);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_split_at_from_lines_and_unescaped() {
        let mbox = b"From a@x Tue Apr  2 10:00:00 2024\nSubject: one\n\nhello\n>From the start\n>>From quoted\n\nFrom b@y Tue Apr  2 11:00:00 2024\nSubject: two\n\nbye\n";
        let msgs = split(mbox);
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0],
            b"Subject: one\n\nhello\nFrom the start\n>From quoted\n".to_vec()
        );
        assert_eq!(msgs[1], b"Subject: two\n\nbye\n".to_vec());
    }

    #[test]
    fn a_from_line_inside_a_paragraph_does_not_split() {
        let mbox = b"From a@x 2024\nSubject: one\n\nline\nFrom here on it is prose\n";
        assert_eq!(split(mbox).len(), 1);
    }

    #[test]
    fn a_plain_message_and_empty_input_are_handled() {
        assert_eq!(
            split(b"Subject: x\n\nbody\n"),
            vec![b"Subject: x\n\nbody\n".to_vec()]
        );
        assert!(split(b"").is_empty());
        assert_eq!(
            split(b"From a\r\nSubject: x\r\n\r\nb\r\n\r\nFrom b\r\nSubject: y\r\n\r\nc\r\n").len(),
            2
        );
    }
}
