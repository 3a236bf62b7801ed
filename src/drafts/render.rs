//! Templates and rendering. A template is plain text with `{{placeholder}}`
//! slots; each slot renders a block from the facts (a table, a list, a
//! sentence) and knows what to say when there is nothing to show. Template
//! text itself may hold no digits: every number reaches a draft through a
//! slot whose value is a recorded fact.

use std::fmt::Write as _;

use pebble_intent::Intent;
use rust_decimal::Decimal;

use super::facts::{Availability, Facts, Item};
use super::numbers::inr;

/// The templates Admin can edit: one per intent that gets a draft, and
/// `general` for emails a person asks a draft for (spam, vendor offers, other).
pub const KEYS: [&str; 6] = [
    "product_inquiry",
    "purchase_order",
    "order_followup",
    "payment",
    "complaint",
    "general",
];

/// The template a draft for `intent` uses; `None` when the pipeline drafts
/// nothing for it unless someone asks.
pub fn key_for(intent: Intent) -> Option<&'static str> {
    match intent {
        Intent::ProductInquiry => Some("product_inquiry"),
        Intent::PurchaseOrder => Some("purchase_order"),
        Intent::OrderFollowup => Some("order_followup"),
        Intent::Payment => Some("payment"),
        Intent::Complaint => Some("complaint"),
        Intent::VendorOffer | Intent::Spam | Intent::Other => None,
    }
}

/// Slots a template may use, each with what it renders.
pub const PLACEHOLDERS: [(&str, &str); 13] = [
    (
        "greeting",
        "Dear <contact or sender name>, (or Dear Sir/Madam,)",
    ),
    ("customer_name", "the contact's or sender's name"),
    (
        "customer_company",
        "the customer's company name (CRM), or empty",
    ),
    ("business_name", "the business's name (configuration)"),
    (
        "items_table",
        "requested items with stock, rate, GST and lead time",
    ),
    ("items_list", "requested items with the quantities asked"),
    ("totals", "amount, GST and total for the priced items"),
    (
        "unavailable",
        "plain sentences about short, out-of-stock and unknown items",
    ),
    (
        "your_order",
        "your order / your order <numbers from the email>",
    ),
    (
        "your_payment",
        "your payment / your payment of <amount> (UTR <utr>) from the email",
    ),
    ("terms", "the business's terms (configuration)"),
    (
        "customer_history",
        "for a returning customer: when we last had an order from them and last replied (CRM), or empty",
    ),
    ("signature", "Regards, and the signature (configuration)"),
];

/// The built-in template for a key.
pub fn builtin(key: &str) -> Option<&'static str> {
    Some(match key {
        "product_inquiry" => {
            "{{greeting}}\n\n\
             Thank you for your enquiry. Here are our current stock and rates for the items in your email:\n\n\
             {{items_table}}\n\n\
             {{totals}}\n\n\
             {{unavailable}}\n\n\
             {{terms}}\n\n\
             Please confirm the quantities and we will send you a formal quotation.\n\n\
             {{signature}}\n"
        }
        "purchase_order" => {
            "{{greeting}}\n\n\
             Thank you for {{your_order}}. We have received it and will confirm the dispatch schedule shortly.\n\n\
             {{items_list}}\n\n\
             {{unavailable}}\n\n\
             {{signature}}\n"
        }
        "order_followup" => {
            "{{greeting}}\n\n\
             Thank you for your message about {{your_order}}. We are checking its status with our dispatch team \
             and will update you as soon as we have it.\n\n\
             {{signature}}\n"
        }
        "payment" => {
            "{{greeting}}\n\n\
             Thank you for informing us about {{your_payment}}. Our accounts team will match it against your \
             invoices and confirm once it is reconciled.\n\n\
             {{signature}}\n"
        }
        "complaint" => {
            "{{greeting}}\n\n\
             We are sorry for the trouble, and thank you for telling us. We have registered your complaint.\n\n\
             {{items_list}}\n\n\
             Next steps:\n\
             - Please reply with photos of the product and its packing, and the invoice number if you have it.\n\
             - Our service team will review them and contact you about a replacement, repair or credit note.\n\
             - We will keep you informed until the matter is closed.\n\n\
             {{signature}}\n"
        }
        "general" => {
            "{{greeting}}\n\n\
             Thank you for your email. We have noted it and will get back to you.\n\n\
             {{signature}}\n"
        }
        _ => return None,
    })
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("the template is empty")]
    Empty,
    #[error("the template is longer than {0} characters")]
    TooLong(usize),
    #[error("unknown placeholder {{{{{0}}}}}; known: {1}")]
    UnknownPlaceholder(String, String),
    #[error("an unclosed {{{{ at character {0}")]
    Unclosed(usize),
    #[error("templates may not contain digits ({0:?}): numbers reach a draft only through placeholders, from Tally, the catalogue, the email or configuration")]
    Digit(String),
}

pub const MAX_TEMPLATE_CHARS: usize = 10_000;

/// A template split into text and slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Slot(&'static str),
}

/// Parse and check a template: known slots only, no digits outside them.
pub fn parse(template: &str) -> Result<Vec<Part>, TemplateError> {
    if template.trim().is_empty() {
        return Err(TemplateError::Empty);
    }
    if template.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(TemplateError::TooLong(MAX_TEMPLATE_CHARS));
    }
    let mut parts = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        let text = &rest[..start];
        let end = rest[start..]
            .find("}}")
            .ok_or(TemplateError::Unclosed(offset + start))?;
        let name = rest[start + 2..start + end].trim();
        let slot = PLACEHOLDERS
            .iter()
            .map(|(n, _)| *n)
            .find(|n| *n == name)
            .ok_or_else(|| {
                TemplateError::UnknownPlaceholder(
                    name.to_owned(),
                    PLACEHOLDERS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })?;
        push_text(&mut parts, text)?;
        parts.push(Part::Slot(slot));
        offset += start + end + 2;
        rest = &rest[start + end + 2..];
    }
    push_text(&mut parts, rest)?;
    Ok(parts)
}

fn push_text(parts: &mut Vec<Part>, text: &str) -> Result<(), TemplateError> {
    if let Some(line) = text.lines().find(|l| l.chars().any(|c| c.is_ascii_digit())) {
        return Err(TemplateError::Digit(line.trim().to_owned()));
    }
    if !text.is_empty() {
        parts.push(Part::Text(text.to_owned()));
    }
    Ok(())
}

/// Fill a parsed template from the facts. Blocks that render nothing leave
/// no blank lines behind.
pub fn render(parts: &[Part], facts: &Facts) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::Slot(s) => out.push_str(&slot(s, facts)),
        }
    }
    tidy(&out)
}

/// Trailing spaces off, at most one blank line in a row, one final newline.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() && blank > 0 {
            out.push('\n');
        }
        blank = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn slot(name: &str, f: &Facts) -> String {
    match name {
        "greeting" => match &f.customer.name {
            Some(n) => format!("Dear {},", n.value),
            None => "Dear Sir/Madam,".into(),
        },
        "customer_name" => f
            .customer
            .name
            .as_ref()
            .map(|n| n.value.clone())
            .unwrap_or_default(),
        "customer_company" => f
            .customer
            .company
            .as_ref()
            .map(|c| c.value.clone())
            .unwrap_or_default(),
        "business_name" => f.business.name.clone(),
        "items_table" => items_table(&f.items),
        "items_list" => items_list(&f.items),
        "totals" => totals(f),
        "unavailable" => unavailable(&f.items),
        "your_order" => match f.references.orders.as_slice() {
            [] => "your order".into(),
            [one] => format!("your order {one}"),
            many => format!("your orders {}", many.join(", ")),
        },
        "your_payment" => {
            let mut s = "your payment".to_owned();
            if let [amount] = f.references.amounts.as_slice() {
                if let Ok(d) = amount.parse::<Decimal>() {
                    let _ = write!(s, " of {}", inr(d));
                }
            }
            if !f.references.utrs.is_empty() {
                let _ = write!(s, " (UTR {})", f.references.utrs.join(", "));
            }
            s
        }
        "customer_history" => customer_history(f),
        "terms" => {
            if f.business.terms.is_empty() {
                String::new()
            } else {
                format!("Terms: {}", f.business.terms)
            }
        }
        "signature" => closing(f),
        _ => String::new(),
    }
}

/// `Regards,` and the signature (else the business's name): how every
/// reply ends, template or LLM.
pub fn closing(f: &Facts) -> String {
    let mut s = "Regards,".to_owned();
    if let Some(line) = signer(f) {
        s.push('\n');
        s.push_str(line);
    }
    s
}

/// The signature, else the business's name, when either is configured.
pub fn signer(f: &Facts) -> Option<&str> {
    [&f.business.signature, &f.business.name]
        .into_iter()
        .map(String::as_str)
        .find(|l| !l.is_empty())
}

fn qty(q: &str, unit: Option<&str>) -> String {
    match unit {
        Some(u) if !u.is_empty() => format!("{q} {u}"),
        _ => q.to_owned(),
    }
}

fn asked(i: &Item) -> String {
    i.asked
        .as_ref()
        .map(|a| qty(&a.qty, Some(&a.unit)))
        .unwrap_or_else(|| "-".into())
}

fn as_of(i: &Item) -> String {
    match &i.stock {
        Some(s) if s.source == super::facts::FactSource::Cache => {
            format!(" (as of {})", s.as_of_local)
        }
        _ => String::new(),
    }
}

fn stock_cell(i: &Item) -> String {
    let Some(s) = &i.stock else {
        return "not in our stock records".into();
    };
    let on_hand = qty(&s.qty, s.unit.as_deref());
    let text = match i.availability {
        Availability::InStock => format!("{on_hand} in stock"),
        Availability::Short => format!("only {on_hand} in stock"),
        Availability::OutOfStock => "out of stock".into(),
        Availability::Unknown => "not in our stock records".into(),
    };
    format!("{text}{}", as_of(i))
}

fn rate_cell(i: &Item) -> String {
    match i
        .rate
        .as_ref()
        .and_then(|r| Some((r.value.parse().ok()?, r)))
    {
        Some((v, r)) => match &r.per {
            Some(per) => format!("{} per {per}", inr(v)),
            None => inr(v),
        },
        None => "on request".into(),
    }
}

/// A plain-text table: mail clients show plain text in a fixed font more
/// often than they show HTML tables faithfully.
fn items_table(items: &[Item]) -> String {
    if items.is_empty() {
        return "We could not match the products in your email to our catalogue. Could you send \
                the exact product names or codes? We will reply with stock and rates."
            .into();
    }
    let header = [
        "Item",
        "Qty asked",
        "Stock",
        "Rate (excl. GST)",
        "GST",
        "Lead time",
    ];
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|i| {
            let unknown = i.availability == Availability::Unknown;
            [
                i.name.clone(),
                asked(i),
                stock_cell(i),
                if unknown { "-".into() } else { rate_cell(i) },
                if unknown {
                    "-".into()
                } else {
                    format!("{}%", i.gst_percent.value)
                },
                if unknown {
                    "-".into()
                } else {
                    i.lead_time.value.clone()
                },
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        padded.join(" | ").trim_end().to_owned()
    };
    let mut out = line(&header.map(String::from));
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-"),
    );
    for r in &rows {
        out.push('\n');
        out.push_str(&line(r));
    }
    out
}

fn items_list(items: &[Item]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = "Items in your email:".to_owned();
    for i in items {
        let _ = write!(out, "\n- {}", i.name);
        if let Some(a) = &i.asked {
            let _ = write!(out, ": {}", qty(&a.qty, Some(&a.unit)));
        }
    }
    out
}

fn totals(f: &Facts) -> String {
    let Some(t) = &f.totals else {
        return String::new();
    };
    let d = |s: &str| s.parse::<Decimal>().map(inr).unwrap_or_default();
    let scope = if t.priced_items == f.items.len() {
        "For the quantities you asked"
    } else {
        "For the priced items above"
    };
    format!(
        "{scope}: {} + GST {} = {} in all.",
        d(&t.subtotal),
        d(&t.gst),
        d(&t.total)
    )
}

/// A sentence for a returning customer, every date from the CRM history.
fn customer_history(f: &Facts) -> String {
    let Some(h) = &f.history else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(o) = &h.last_order {
        parts.push(format!(
            "your last order reached us on {}",
            o.received_local
        ));
    }
    if let Some(r) = &h.last_reply {
        parts.push(format!("we last replied to you on {}", r.approved_local));
    }
    match parts.as_slice() {
        [] if h.previous_emails > 0 => "Thank you for writing to us again.".into(),
        [] => String::new(),
        _ => format!(
            "Thank you for your continued business: {}.",
            parts.join(", and ")
        ),
    }
}

fn unavailable(items: &[Item]) -> String {
    let mut lines = Vec::new();
    for i in items {
        let line = match i.availability {
            Availability::InStock => continue,
            Availability::Short => {
                let s = i.stock.as_ref().map(|s| qty(&s.qty, s.unit.as_deref()));
                format!(
                    "- {}: we have only {}{} against the {} you asked for; lead time for the rest: {}.",
                    i.name,
                    s.unwrap_or_default(),
                    as_of(i),
                    asked(i),
                    i.lead_time.value
                )
            }
            Availability::OutOfStock => format!(
                "- {} is out of stock{}; lead time: {}.",
                i.name,
                as_of(i),
                i.lead_time.value
            ),
            Availability::Unknown => format!(
                "- {} is not in our current stock records; we will confirm its availability and rate.",
                i.name
            ),
        };
        lines.push(line);
    }
    if lines.is_empty() {
        return String::new();
    }
    format!("Please note:\n{}", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_template_parses() {
        for key in KEYS {
            let t = builtin(key).expect(key);
            parse(t).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        assert!(builtin("spam").is_none());
    }

    #[test]
    fn digits_and_unknown_placeholders_are_refused() {
        assert!(matches!(
            parse("Dispatch in 2 days. {{signature}}"),
            Err(TemplateError::Digit(_))
        ));
        assert!(matches!(
            parse("{{greeting}} {{discount}}"),
            Err(TemplateError::UnknownPlaceholder(n, _)) if n == "discount"
        ));
        assert_eq!(parse("Hello {{greeting"), Err(TemplateError::Unclosed(6)));
        assert_eq!(parse("  \n"), Err(TemplateError::Empty));
        assert_eq!(
            parse("{{ greeting }} there").unwrap(),
            vec![Part::Slot("greeting"), Part::Text(" there".into())]
        );
    }

    #[test]
    fn tidy_leaves_no_runs_of_blank_lines() {
        assert_eq!(tidy("a  \n\n\n\nb\n\n"), "a\n\nb\n");
        assert_eq!(tidy("\n\na"), "a\n");
    }
}
