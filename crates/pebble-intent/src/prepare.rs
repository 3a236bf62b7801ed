//! Text preparation: keep the part of an email its sender wrote now.
//!
//! The labelling contract says the new top part decides, so quoted replies,
//! Outlook headers, signatures and legal disclaimers are cut before features
//! are computed: they repeat words of other intents ("kindly quote" quoted
//! under an order) and would teach the model the wrong thing. A forward with
//! only a short note on top keeps the forwarded message, because that is
//! what the business has to act on (guideline 2).

/// Words in the note above a forwarded message below which the forwarded
/// content is what the mail is about ("pls quote to this customer").
const SHORT_NOTE_WORDS: usize = 12;

/// How a line ends the sender's own text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// A quoted reply or an Outlook original-message block: drop the rest.
    Quote,
    /// A forwarded message: keep it when the note above is short.
    Forward,
    /// A sign-off, signature delimiter or disclaimer: drop the rest.
    Signature,
}

fn classify_line(line: &str, next: Option<&str>) -> Option<Cut> {
    let t = line.trim();
    let lower = t.to_lowercase();
    if lower.contains("forwarded message") || lower.starts_with("begin forwarded message") {
        return Some(Cut::Forward);
    }
    if lower.contains("original message") && t.starts_with('-') {
        return Some(Cut::Quote);
    }
    // Gmail: "On Tue, 2 Apr 2024 at 10:12, Name <a@b> wrote:" (may wrap).
    if lower.starts_with("on ")
        && (lower.ends_with("wrote:")
            || next.is_some_and(|n| n.trim().to_lowercase().ends_with("wrote:")))
    {
        return Some(Cut::Quote);
    }
    if lower.ends_with("wrote:") && lower.len() < 200 {
        return Some(Cut::Quote);
    }
    // Outlook: a "From:" header line followed by "Sent:"/"Date:" starts the
    // quoted original; an underscore rule often precedes it.
    if lower.starts_with("from:")
        && next.is_some_and(|n| {
            let n = n.trim().to_lowercase();
            n.starts_with("sent:") || n.starts_with("date:") || n.starts_with("to:")
        })
    {
        return Some(Cut::Quote);
    }
    if t.len() >= 10 && t.chars().all(|c| c == '_') {
        return Some(Cut::Quote);
    }
    if t == "--" || line == "-- " {
        return Some(Cut::Signature);
    }
    if is_disclaimer(&lower) || is_sign_off(&lower) {
        return Some(Cut::Signature);
    }
    None
}

fn is_disclaimer(lower: &str) -> bool {
    const STARTS: [&str; 6] = [
        "disclaimer",
        "confidentiality notice",
        "this e-mail and any files",
        "this email and any files",
        "this email and any attachments",
        "this e-mail and any attachments",
    ];
    STARTS.iter().any(|s| lower.starts_with(s))
}

fn is_sign_off(lower: &str) -> bool {
    let l = lower.trim_end_matches([',', '.', '!', '-', ' ']);
    const EXACT: [&str; 16] = [
        "regards",
        "thanks & regards",
        "thanks and regards",
        "thanks & rgds",
        "warm regards",
        "best regards",
        "kind regards",
        "with regards",
        "yours faithfully",
        "yours sincerely",
        "yours truly",
        "rgds",
        "thanks n regards",
        "best wishes",
        "warm wishes",
        "sincerely",
    ];
    EXACT.contains(&l) || l.starts_with("sent from my ") || l.starts_with("get outlook for")
}

/// The sender's own new text of `body`: quoted lines (`>`), quoted
/// originals, signatures and disclaimers removed. Falls back to the whole
/// body (without `>` lines) when nothing would be left, so an email that is
/// only a forward or only a quote still has text to classify.
pub fn new_text(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim_start().starts_with('>') {
            i += 1;
            continue;
        }
        match classify_line(line, lines.get(i + 1).copied()) {
            None => kept.push(line),
            Some(Cut::Forward) => {
                let note_words: usize = kept.iter().map(|l| l.split_whitespace().count()).sum();
                if note_words <= SHORT_NOTE_WORDS {
                    // The forwarded message decides: keep it, minus its
                    // header block, and prepare it the same way.
                    let rest = lines[i + 1..].join("\n");
                    let forwarded = new_text(&skip_headers(&rest));
                    kept.push("");
                    let mut out = kept.join("\n");
                    out.push('\n');
                    out.push_str(&forwarded);
                    return out.trim().to_string();
                }
                break;
            }
            Some(Cut::Quote) | Some(Cut::Signature) => {
                // A sign-off on the very first line is the whole message
                // ("Regards" alone): keep going rather than return nothing.
                if kept.iter().any(|l| !l.trim().is_empty()) {
                    break;
                }
            }
        }
        i += 1;
    }
    let out = kept.join("\n").trim().to_string();
    if out.is_empty() {
        let unquoted: Vec<&str> = lines
            .iter()
            .map(|l| l.trim_start().trim_start_matches('>').trim_start())
            .collect();
        return unquoted.join("\n").trim().to_string();
    }
    out
}

/// Drops the `From:`/`Date:`/`Subject:`/`To:`/`Cc:`/`Sent:` lines at the start
/// of a forwarded block.
fn skip_headers(text: &str) -> String {
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.peek() {
        let lower = l.trim().to_lowercase();
        let header = ["from:", "date:", "subject:", "to:", "cc:", "sent:"]
            .iter()
            .any(|h| lower.starts_with(h));
        if header || lower.is_empty() {
            lines.next();
        } else {
            break;
        }
    }
    lines.collect::<Vec<_>>().join("\n")
}

/// Strips `Re:`, `Fwd:`, `FW:` prefixes (any number, any case) from a subject.
pub fn clean_subject(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let cut = ["re:", "fw:", "fwd:", "aw:", "re :", "fwd :"]
            .iter()
            .find(|p| lower.starts_with(**p));
        match cut {
            Some(p) => s = s[p.len()..].trim_start(),
            None => return s,
        }
    }
}

/// Lower-cases and maps every digit to `0`, so that "PO 4471" and "PO 2231"
/// share features; Hinglish and other non-ASCII letters are kept as they are.
pub fn normalise(text: &str) -> String {
    if text.is_ascii() {
        // The common case, byte by byte.
        return text
            .bytes()
            .map(|b| match b {
                b'0'..=b'9' => '0',
                _ => char::from(b.to_ascii_lowercase()),
            })
            .collect();
    }
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gmail_quoted_reply_is_cut_at_the_attribution_line() {
        let body = "PO attached, pls dispatch 10 coils.\n\nOn Tue, 2 Apr 2024 at 10:12, Ravi <r@x.in> wrote:\n> Kindly quote your best rate for 2.5 sq mm wire\n";
        assert_eq!(new_text(body), "PO attached, pls dispatch 10 coils.");
    }

    #[test]
    fn a_wrapped_gmail_attribution_is_recognised() {
        let body = "ok done\nOn Tue, 2 Apr 2024 at 10:12, Ravi Kumar\n<ravi@example.in> wrote:\nplease quote\n";
        assert_eq!(new_text(body), "ok done");
    }

    #[test]
    fn an_outlook_original_message_and_header_block_are_cut() {
        let body = "Payment released today.\n\n-----Original Message-----\nFrom: A\nSent: Monday\nquote pls";
        assert_eq!(new_text(body), "Payment released today.");
        let body = "Payment released today.\n\nFrom: Sales <s@x.in>\nSent: Monday, 3 June 2024\nTo: me\nSubject: quote\n\nquote pls";
        assert_eq!(new_text(body), "Payment released today.");
    }

    #[test]
    fn signatures_and_disclaimers_are_removed() {
        let body = "Material received short by 5 nos.\n\nThanks & Regards,\nRakesh\nGSTIN: 27AAGCS4471K1Z9\nDISCLAIMER: confidential";
        assert_eq!(new_text(body), "Material received short by 5 nos.");
        let body = "status?\n\nSent from my iPhone";
        assert_eq!(new_text(body), "status?");
        let body = "send rate\n-- \nA. Shah, Surat";
        assert_eq!(new_text(body), "send rate");
    }

    #[test]
    fn a_forward_with_a_short_note_keeps_the_forwarded_message() {
        let body = "pls quote\n\n---------- Forwarded message ---------\nFrom: Ravi <r@x.in>\nDate: Tue\nSubject: wire\n\nNeed rate for 40 coils 1.5 sq mm wire.\n\nRegards\nRavi";
        let out = new_text(body);
        assert!(out.starts_with("pls quote"), "{out}");
        assert!(out.contains("Need rate for 40 coils"), "{out}");
        assert!(!out.contains("Subject:"), "{out}");
        assert!(!out.contains("Ravi"), "{out}");
    }

    #[test]
    fn a_mail_that_is_only_quoted_text_still_has_text() {
        assert_eq!(new_text("> status?\n> pls"), "status?\npls");
    }

    #[test]
    fn subject_prefixes_are_stripped_and_text_is_normalised() {
        assert_eq!(clean_subject("RE: Fwd: PO 4471"), "PO 4471");
        assert_eq!(normalise("Rate BHEJO 2.5mm"), "rate bhejo 0.0mm");
    }
}
