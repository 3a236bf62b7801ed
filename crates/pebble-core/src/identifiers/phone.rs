//! Indian phone numbers in free text, normalised to E.164.
//!
//! India's national numbers have ten digits (TRAI National Numbering Plan):
//! mobiles start with 6–9, landlines are an STD code of two to four digits
//! (no leading 0) and the subscriber number. They are written with a `+91`,
//! `0091` or `91` country prefix, with the `0` trunk prefix (`022 2345 6789`,
//! `(080) 4123 4567`), or, for mobiles, as the bare ten digits. Anything that
//! cannot be read unambiguously as one of those (a bare ten digits starting
//! with 1–5, twelve digits without a `+`) is left alone: a missed number is
//! cheaper than an invoice number filed as a phone.

use std::ops::Range;

use serde::Serialize;

/// A phone number found in text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phone {
    /// As written.
    pub value: String,
    /// E.164: `+91` and the ten-digit national number.
    pub normalized: String,
    /// Byte range of `value` in the text.
    pub span: Range<usize>,
}

/// Separators people put inside phone numbers.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')')
}

/// The ten-digit national number, if the digits read as an Indian number.
fn national(d: &[u8], plus: bool) -> Option<&[u8]> {
    let mobile = |n: &[u8]| matches!(n.first(), Some(b'6'..=b'9'));
    let nsn = if plus {
        match d.len() {
            12 if d.starts_with(b"91") => &d[2..],
            // "+91 (0)22 …": a trunk 0 kept after the country code.
            13 if d.starts_with(b"910") => &d[3..],
            _ => return None,
        }
    } else {
        match d.len() {
            14 if d.starts_with(b"0091") => &d[4..],
            11 if d[0] == b'0' => &d[1..],
            12 if d.starts_with(b"91") && mobile(&d[2..]) => &d[2..],
            10 if mobile(d) => d,
            _ => return None,
        }
    };
    (nsn.first() != Some(&b'0')).then_some(nsn)
}

/// Reads a phone number starting at byte `start` (a digit, `+` or `(`).
/// Returns the end of the number and its E.164 form. The number ends at the
/// first point where the digits so far form a valid number and no digit
/// follows directly, so "98765 43210 98765 12345" reads as two numbers.
pub(crate) fn match_at(text: &str, start: usize) -> Option<(usize, String)> {
    let bytes = text.as_bytes();
    let mut i = start;
    if bytes.get(i) == Some(&b'(') {
        i += 1;
    }
    let plus = bytes.get(i) == Some(&b'+');
    if plus {
        i += 1;
    }
    let mut digits = [0u8; 14];
    let mut n = 0;
    let mut separators = 0;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_digit() {
            *digits.get_mut(n)? = b;
            n += 1;
            separators = 0;
            i += 1;
            if bytes.get(i).is_some_and(u8::is_ascii_digit) {
                continue;
            }
            if let Some(nsn) = national(&digits[..n], plus) {
                let clean_end = text[i..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric());
                return clean_end.then(|| {
                    let mut e164 = String::with_capacity(13);
                    e164.push_str("+91");
                    e164.extend(nsn.iter().map(|&d| char::from(d)));
                    (i, e164)
                });
            }
        } else if is_separator(b) && n > 0 && separators < 2 {
            separators += 1;
            i += 1;
        } else {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Option<String> {
        match_at(s, 0).map(|(end, e164)| {
            assert!(end <= s.len());
            e164
        })
    }

    #[test]
    fn mobiles_are_read_with_or_without_country_and_trunk_prefixes() {
        for s in [
            "+91 98765 43210",
            "+91-98765-43210",
            "+919876543210",
            "(+91) 98765 43210",
            "0091 98765 43210",
            "919876543210",
            "09876543210",
            "98765 43210",
            "9876543210",
            "987-654-3210",
        ] {
            assert_eq!(read(s).as_deref(), Some("+919876543210"), "{s}");
        }
    }

    #[test]
    fn landlines_are_read_with_their_std_code() {
        assert_eq!(read("022 2345 6789").as_deref(), Some("+912223456789"));
        assert_eq!(read("(080) 4123 4567").as_deref(), Some("+918041234567"));
        assert_eq!(read("+91 11 2345 6789").as_deref(), Some("+911123456789"));
        assert_eq!(
            read("+91 (0)22 2345 6789").as_deref(),
            Some("+912223456789")
        );
        assert_eq!(read("0120-4567890").as_deref(), Some("+911204567890"));
    }

    #[test]
    fn numbers_that_are_not_unambiguously_indian_phones_are_not_read() {
        for s in [
            "2024000123",
            "5876543210",
            "12345",
            "123456789012345",
            "+1 415 555 0100",
            "00000000000",
            "9876543210abc",
            "+91 98765",
        ] {
            assert_eq!(read(s), None, "{s}");
        }
    }

    #[test]
    fn two_numbers_separated_by_a_space_read_as_the_first_one() {
        assert_eq!(
            match_at("98765 43210 98765 12345", 0).map(|(end, _)| end),
            Some(11)
        );
    }
}
