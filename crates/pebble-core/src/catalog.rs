//! The product catalogue as Pebble exchanges it between its parts: the Tally
//! sync writes it, the simulator serves it, extraction and drafts read it.
//!
//! The file form is a JSON array of
//! `{sku, tally_name, aliases, unit, rate_inr, closing_qty, group}`. Rates
//! and quantities are exact decimals: they are read from JSON numbers or
//! strings and kept as text, so `0.1` stays `0.1` and no rupee is lost to a float.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One product as Pebble knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogItem {
    /// The seller's own code (Tally's part number when it has one).
    pub sku: String,
    /// The stock item's name in Tally, byte for byte.
    pub tally_name: String,
    /// Other names customers use: `2.5 sq mm FR wire`, `32A DP MCB`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Base unit, e.g. `Nos`, `Coil`, `Mtr`.
    #[serde(default)]
    pub unit: Option<String>,
    /// Selling rate per unit in rupees.
    #[serde(default)]
    pub rate_inr: Option<Exact>,
    /// Stock on hand in the base unit (negative when Tally allows negative stock).
    pub closing_qty: Exact,
    /// Stock group; absent for items directly under Tally's Primary.
    #[serde(default)]
    pub group: Option<String>,
}

/// Parse a catalogue file.
pub fn parse_catalog(json: &[u8]) -> Result<Vec<CatalogItem>, serde_json::Error> {
    serde_json::from_slice(json)
}

/// An exact decimal number kept in its canonical text form
/// (`-?digits[.digits]`, no exponent, no leading `+`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Exact(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a plain decimal number")]
pub struct NotDecimal(pub String);

impl Exact {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn zero() -> Exact {
        Exact("0".into())
    }
}

impl FromStr for Exact {
    type Err = NotDecimal;

    fn from_str(s: &str) -> Result<Exact, NotDecimal> {
        let body = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        let ok = !int.is_empty()
            && digits(int)
            && digits(frac)
            && !(body.contains('.') && frac.is_empty())
            && body.len() <= 40;
        if ok {
            Ok(Exact(s.to_owned()))
        } else {
            Err(NotDecimal(s.to_owned()))
        }
    }
}

impl fmt::Display for Exact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Exact {
    /// As a JSON number, the form the catalogue file uses. serde_json prints
    /// the shortest text that reads back to the same float, which for prices
    /// and quantities is the decimal text itself.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let trimmed = trim_zeros(&self.0);
        if let Ok(whole) = trimmed.parse::<i64>() {
            return s.serialize_i64(whole);
        }
        match self.0.parse::<f64>() {
            Ok(v) if v.is_finite() && v.to_string() == trimmed => s.serialize_f64(v),
            _ => s.serialize_str(&self.0),
        }
    }
}

/// `250.50` → `250.5`, `10.0` → `10`: how a float prints the same value.
fn trim_zeros(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text.to_owned()
    }
}

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Exact, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(serde_json::Number),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        text.trim().parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalogue_file_reads_numbers_and_strings_exactly() {
        let json = br#"[{"sku":"W-FR-2.5","tally_name":"FR Wire 2.5 sq mm (90 m)","aliases":["2.5 sq mm FR wire"],
            "unit":"Coil","rate_inr":2150.50,"closing_qty":"0.1","group":"Wires"}]"#;
        let items = parse_catalog(json).unwrap();
        assert_eq!(items[0].rate_inr.as_ref().unwrap().as_str(), "2150.5");
        assert_eq!(items[0].closing_qty.as_str(), "0.1");
        let back = serde_json::to_string(&items).unwrap();
        assert!(back.contains(r#""rate_inr":2150.5"#), "{back}");
        let whole: Exact = "140.00".parse().unwrap();
        assert_eq!(serde_json::to_string(&whole).unwrap(), "140");
        assert_eq!(parse_catalog(back.as_bytes()).unwrap(), items);
    }

    #[test]
    fn text_that_is_not_a_plain_decimal_is_refused() {
        for bad in ["", "1e3", "+1", "1.", ".5", "12,000", "NaN"] {
            assert!(bad.parse::<Exact>().is_err(), "{bad}");
        }
        assert_eq!("-23.500".parse::<Exact>().unwrap().as_str(), "-23.500");
    }
}
