//! Properties that must hold for every input, not just the examples.

use proptest::prelude::*;

use super::*;

const YEAR: i32 = 2025;
const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const STATES: [&str; 40] = [
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32",
    "33", "34", "35", "36", "37", "38", "97", "99",
];

/// Luhn mod 36 written from the right, independently of the validator.
fn luhn36(body: &[u8]) -> u8 {
    let mut sum = 0usize;
    for (i, &b) in body.iter().rev().enumerate() {
        let v = ALPHABET.iter().position(|&a| a == b).unwrap_or(0);
        let v = if i % 2 == 0 { v * 2 } else { v };
        sum += v / 36 + v % 36;
    }
    ALPHABET[(36 - sum % 36) % 36]
}

/// Valid regular, TDS and TCS GSTINs.
fn valid_gstin() -> impl Strategy<Value = String> {
    (
        prop::sample::select(STATES.to_vec()),
        "[A-Z]{3}",
        prop::sample::select(b"ABCFGHJLPT".to_vec()),
        "[A-Z]",
        1u16..=9999,
        "[A-Z]",
        prop::sample::select(b"123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".to_vec()),
        prop::sample::select(b"ZDC".to_vec()),
    )
        .prop_map(
            |(state, series, holder, initial, serial, last, entity, kind)| {
                let body = format!(
                    "{state}{series}{}{initial}{serial:04}{last}{}{}",
                    char::from(holder),
                    char::from(entity),
                    char::from(kind)
                );
                let check = luhn36(body.as_bytes());
                format!("{body}{}", char::from(check))
            },
        )
}

/// Text that looks like email with identifiers, phones and noise mixed in.
fn email_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        valid_gstin(),
        "[A-Za-z]{1,12}",
        "[0-9 +()./-]{1,16}",
        "(GSTIN|GST No\\.|PAN|CIN|LLPIN|Mob|Tel): ?",
        "[A-Z]{5}[0-9]{4}[A-Z]",
        "[LU][0-9]{5}[A-Z]{2}[0-9]{4}[A-Z]{3}[0-9]{6}",
        "\\PC{1,8}",
        "[ \n\t,.;:#-]{1,3}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    // Failures are reported in the test output; persisting them would write
    // files outside the source tree this module owns.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn normalisation_is_idempotent(s in "\\PC{0,40}|[a-z0-9 .-]{0,30}") {
        let once = normalize(&s);
        prop_assert_eq!(normalize(&once), once);
    }

    #[test]
    fn generated_gstins_are_valid_in_any_case_and_spacing(g in valid_gstin(), lower in any::<bool>()) {
        let spaced = format!("{} {}-{}", &g[..2], &g[2..12], &g[12..]);
        let input = if lower { spaced.to_lowercase() } else { spaced };
        prop_assert!(Gstin::parse(&input).is_ok(), "{} {:?}", input, validate_gstin(&input).errors);
        prop_assert!(validate_auto(&input, YEAR).valid);
    }

    #[test]
    fn any_single_character_substitution_of_a_valid_gstin_is_invalid(
        g in valid_gstin(),
        position in 0usize..15,
        replacement in prop::sample::select(
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".iter().map(|&b| char::from(b))
                .chain(['\u{410}', '\u{ff12}', '\u{0}', '#'])
                .collect::<Vec<char>>()
        ),
    ) {
        let mut chars: Vec<char> = g.chars().collect();
        prop_assume!(chars[position] != replacement);
        chars[position] = replacement;
        let mutated: String = chars.into_iter().collect();
        prop_assert!(Gstin::parse(&mutated).is_err(), "{} accepted", mutated);
        prop_assert!(!validate_gstin(&mutated).valid);
    }

    #[test]
    fn validation_never_panics_and_agrees_between_paths(s in "\\PC{0,40}|[0-9A-Za-z \u{0}\u{410}-]{0,25}") {
        let v = validate_auto(&s, YEAR);
        prop_assert_eq!(v.valid, v.errors.is_empty());
        prop_assert_eq!(Gstin::parse(&s).is_ok(), validate_gstin(&s).valid);
        prop_assert_eq!(Pan::parse(&s).is_ok(), validate_pan(&s).valid);
        prop_assert_eq!(Cin::parse(&s, YEAR).is_ok(), validate_cin(&s, YEAR).valid);
        prop_assert_eq!(Llpin::parse(&s).is_ok(), validate_llpin(&s).valid);
        prop_assert!(serde_json::to_string(&v).is_ok());
    }

    #[test]
    fn extraction_never_panics_and_spans_point_at_the_values(text in email_like()) {
        let x = extract(&text, YEAR);
        for f in x.gstin.iter().chain(&x.pan).chain(&x.cin).chain(&x.llpin) {
            prop_assert_eq!(&text[f.span.clone()], f.value.as_str());
            prop_assert_eq!(f.valid, f.errors.is_empty());
        }
        for p in &x.phone {
            prop_assert_eq!(&text[p.span.clone()], p.value.as_str());
            prop_assert!(p.normalized.starts_with("+91") && p.normalized.len() == 13);
        }
    }

    #[test]
    fn extraction_never_panics_on_arbitrary_strings(text in "\\PC{0,200}") {
        let _ = extract(&text, YEAR);
    }

    #[test]
    fn a_valid_gstin_in_text_is_found_valid(g in valid_gstin(), before in "[a-z ]{0,20}", after in "([ ,.][a-z ,.]{0,19})?") {
        let text = format!("{before} {g}{after}");
        let x = extract(&text, YEAR);
        prop_assert!(x.gstin.iter().any(|f| f.valid && f.normalized == g), "{:?}", x);
    }
}
