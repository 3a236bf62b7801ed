//! Numbers as a reader sees them in a draft, and money in Indian notation.
//!
//! Every number a draft states must come from a source (SPEC §4). The guard
//! in [`unsourced`] compares the numbers in a rendered text with those in its
//! facts and in the email, in one canonical form: `₹1,25,000.00`, `125000`
//! and `125000.0` are the same number; `15:00` is `15` and `0`.

use std::collections::HashSet;

use rust_decimal::{Decimal, RoundingStrategy};

/// The numbers in `text`, canonical: digits with grouping commas and one
/// decimal point, without grouping, leading zeros or trailing fraction zeros.
pub fn numbers_in(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut raw = String::new();
        while i < chars.len() {
            let c = chars[i];
            let next_is_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                raw.push(c);
            } else if c == ',' && next_is_digit && !raw.contains('.') {
                // a grouping comma: "1,25,000"
            } else if c == '.' && next_is_digit && !raw.contains('.') {
                raw.push(c);
            } else {
                break;
            }
            i += 1;
        }
        out.push(canonical(&raw));
    }
    out
}

/// `007` → `7`, `2.50` → `2.5`, `10.0` → `10`.
fn canonical(raw: &str) -> String {
    let (int, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    }
}

/// Numbers in `text` found in none of `sources`.
pub fn unsourced<'a>(text: &str, sources: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let known: HashSet<String> = sources.into_iter().flat_map(numbers_in).collect();
    let mut missing: Vec<String> = numbers_in(text)
        .into_iter()
        .filter(|n| !known.contains(n))
        .collect();
    missing.dedup();
    missing
}

/// Rupees to the paisa, grouped the Indian way: `₹1,25,000.50`.
pub fn inr(amount: Decimal) -> String {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.2}", rounded.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}₹{}.{frac}", group_indian(int))
}

/// `125000` → `1,25,000`: the last three digits, then pairs.
fn group_indian(digits: &str) -> String {
    if digits.len() <= 3 {
        return digits.to_owned();
    }
    let (head, last3) = digits.split_at(digits.len() - 3);
    let mut parts: Vec<&str> = Vec::new();
    let mut rest = head;
    while rest.len() > 2 {
        let (h, t) = rest.split_at(rest.len() - 2);
        parts.push(t);
        rest = h;
    }
    parts.push(rest);
    parts.reverse();
    format!("{},{last3}", parts.join(","))
}

/// Money rounded as invoices round it: to the paisa, half away from zero,
/// always with two decimals (`25900.00`).
pub fn paise(amount: Decimal) -> Decimal {
    let mut d = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    d.rescale(2);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_are_read_in_one_canonical_form() {
        assert_eq!(
            numbers_in("₹1,25,000.50 for 10 Coil, 2.5 sq mm, at 15:00 on 15 Jan 2026."),
            vec!["125000.5", "10", "2.5", "15", "0", "15", "2026"]
        );
        assert_eq!(numbers_in("v1.0, 007 and 3."), vec!["1", "7", "3"]);
        assert!(numbers_in("no digits here").is_empty());
    }

    #[test]
    fn an_unsourced_number_is_named() {
        let missing = unsourced("57 Coil at ₹2,590.00", ["closing 57", "rate 2590"]);
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(unsourced("58 Coil", ["57"]), vec!["58"]);
    }

    #[test]
    fn rupees_are_grouped_the_indian_way() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(inr(d("0")), "₹0.00");
        assert_eq!(inr(d("999.5")), "₹999.50");
        assert_eq!(inr(d("2590")), "₹2,590.00");
        assert_eq!(inr(d("125000")), "₹1,25,000.00");
        assert_eq!(inr(d("12345678.905")), "₹1,23,45,678.91");
        assert_eq!(inr(d("-1500")), "-₹1,500.00");
    }

    proptest! {
        #[test]
        fn money_reads_back_as_the_same_number(paise in 0i64..10_000_000_000) {
            let amount = Decimal::new(paise, 2);
            let shown = inr(amount);
            prop_assert_eq!(numbers_in(&shown), vec![canonical(&amount.to_string())]);
        }
    }
}
