//! Tally's typed value grammar: quantities, rates, amounts, numbers, dates.
//!
//! Tally writes every typed value as display text (`" 120 Nos"`, `"250.00/Nos"`,
//! `"-$ 10.00 @ ₹ 83.00/$ = -₹ 830.00"`). The mature connectors read these with
//! `parseFloat` and quietly turn anything odd into 0 (DBL-tally
//! `parseTallyDataTypeValue`). Pebble quotes stock and prices to customers, so
//! here every value is exact ([`Decimal`]) and anything outside the grammar is an
//! error rather than a zero.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Why a value's text is outside Tally's grammar.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValueError {
    #[error("not a number")]
    NotANumber,
    #[error("more than {MAX_DIGITS} digits")]
    TooManyDigits,
    #[error("quantity part without a unit")]
    MissingUnit,
    #[error("negative number inside a compound quantity")]
    InnerSign,
    #[error("alternate quantity must be one number and one unit")]
    BadAlternate,
    #[error("not a YYYYMMDD date")]
    BadDate,
    #[error("not Yes or No")]
    BadLogical,
}

/// Digits an [`i128`] mantissa holds with room to spare, so negation and
/// rescaling checks can never overflow.
const MAX_DIGITS: usize = 36;
const MAX_MANTISSA: u128 = 10u128.pow(MAX_DIGITS as u32) - 1;

/// An exact decimal number: `mantissa × 10^-scale`.
///
/// Money and stock must not pass through `f64` (`0.1 + 0.2` is not `0.3`), and
/// Tally prints a fixed number of decimals per field, which the scale keeps so
/// that a value renders back exactly as Tally wrote it. Equality and hashing
/// are by value: `250.00 == 250`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// `None` beyond 36 digits or a scale of 36.
    pub fn new(mantissa: i128, scale: u32) -> Option<Decimal> {
        (scale as usize <= MAX_DIGITS && mantissa.unsigned_abs() <= MAX_MANTISSA)
            .then_some(Decimal { mantissa, scale })
    }

    pub fn mantissa(self) -> i128 {
        self.mantissa
    }

    pub fn scale(self) -> u32 {
        self.scale
    }

    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    pub fn abs(self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.abs(),
            scale: self.scale,
        }
    }

    /// The value as an integer count of `10^-scale` units (paise for 2), or
    /// `None` if that would drop non-zero digits or overflow.
    pub fn to_scaled(self, scale: u32) -> Option<i128> {
        if scale >= self.scale {
            let factor = 10i128.checked_pow(scale - self.scale)?;
            self.mantissa.checked_mul(factor)
        } else {
            let factor = 10i128.checked_pow(self.scale - scale)?;
            (self.mantissa % factor == 0).then_some(self.mantissa / factor)
        }
    }

    /// Lossy; for metrics and display arithmetic only, never for money.
    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// Trailing zeros removed, so equal values have equal representations.
    fn normalized(self) -> (i128, u32) {
        let (mut m, mut s) = (self.mantissa, self.scale);
        while s > 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        (m, s)
    }
}

impl std::ops::Neg for Decimal {
    type Output = Decimal;
    fn neg(self) -> Decimal {
        Decimal {
            mantissa: -self.mantissa,
            scale: self.scale,
        }
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.normalized() == other.normalized()
    }
}

impl Eq for Decimal {}

impl Hash for Decimal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized().hash(state);
    }
}

impl FromStr for Decimal {
    type Err = ValueError;

    /// Plain `-?digits[.digits]`, as Tally writes numbers in XML (no grouping
    /// commas, no exponent).
    fn from_str(s: &str) -> Result<Decimal, ValueError> {
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty())
            || !digits_ok(int)
            || !digits_ok(frac)
            || (body.contains('.') && frac.is_empty())
        {
            return Err(ValueError::NotANumber);
        }
        if int.len() + frac.len() > MAX_DIGITS {
            return Err(ValueError::TooManyDigits);
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa * 10 + i128::from(b - b'0');
        }
        Ok(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale: frac.len() as u32,
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let sign = if self.mantissa < 0 { "-" } else { "" };
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

impl Serialize for Decimal {
    /// As a string, so JSON consumers never round it through a float.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One number-and-unit component of a quantity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnitPart {
    pub value: Decimal,
    pub unit: String,
}

/// A stock quantity as Tally prints it.
///
/// Shapes: `" 120 Nos"`, `"-23 nos"`, `"(-)5 Kg"`, `"100"` (no unit), `""`
/// (the item never moved: zero, no unit), compound units
/// `"2 Box 54 strips 5 tablets"` and additional units `" 1000 Nos =  100 Boxes"`.
/// A compound quantity has one sign for the whole (`"-30 Box 5 Nos"` is minus
/// 30 boxes and 5 units), so every part carries that sign.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quantity {
    /// In the first (largest) unit; negative for negative stock.
    pub value: Decimal,
    pub unit: Option<String>,
    /// The smaller units of a compound unit, largest first.
    pub tail: Vec<UnitPart>,
    /// The same stock in the item's additional unit, after `=`.
    pub alternate: Option<UnitPart>,
}

impl Quantity {
    /// Zero without a unit: what Tally's blank balance means.
    pub fn zero() -> Quantity {
        Quantity::default()
    }

    pub fn new(value: Decimal, unit: impl Into<String>) -> Quantity {
        Quantity {
            value,
            unit: Some(unit.into()),
            tail: Vec::new(),
            alternate: None,
        }
    }

    /// True when the whole quantity is below zero (Tally allows negative stock).
    pub fn is_negative(&self) -> bool {
        self.value.is_negative() || self.tail.iter().any(|p| p.value.is_negative())
    }

    /// True for the blank balance Tally prints for items that never moved.
    pub fn is_blank(&self) -> bool {
        self.value.is_zero()
            && self.unit.is_none()
            && self.tail.is_empty()
            && self.alternate.is_none()
    }

    pub fn parse(text: &str) -> Result<Quantity, ValueError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Quantity::zero());
        }
        let (main, alternate) = match text.split_once('=') {
            Some((main, alt)) => (main, Some(alt)),
            None => (text, None),
        };
        let (negative, main) = strip_sign(main.trim());
        let mut parts = parse_parts(main)?.into_iter();
        let (first, unit) = parts.next().ok_or(ValueError::NotANumber)?;
        let mut tail = Vec::new();
        for (value, unit) in parts {
            let unit = unit.ok_or(ValueError::MissingUnit)?;
            tail.push(UnitPart { value, unit });
        }
        if unit.is_none() && !tail.is_empty() {
            return Err(ValueError::MissingUnit);
        }
        let signed = |v: Decimal| if negative { -v } else { v };
        let alternate = match alternate {
            None => None,
            Some(alt) => {
                let (alt_negative, alt) = strip_sign(alt.trim());
                match parse_parts(alt)?.as_slice() {
                    [(value, Some(unit))] => Some(UnitPart {
                        value: if alt_negative { -*value } else { *value },
                        unit: unit.clone(),
                    }),
                    _ => return Err(ValueError::BadAlternate),
                }
            }
        };
        Ok(Quantity {
            value: signed(first),
            unit,
            tail: tail
                .into_iter()
                .map(|p| UnitPart {
                    value: signed(p.value),
                    unit: p.unit,
                })
                .collect(),
            alternate,
        })
    }

    /// The main part without Tally's sign padding: `-30 Box 5 Nos`.
    fn write_main(&self, f: &mut impl fmt::Write) -> fmt::Result {
        if self.is_negative() {
            f.write_char('-')?;
        }
        write!(f, "{}", self.value.abs())?;
        if let Some(unit) = &self.unit {
            write!(f, " {unit}")?;
        }
        for part in &self.tail {
            write!(f, " {} {}", part.value.abs(), part.unit)?;
        }
        Ok(())
    }

    /// Tally's own layout: non-negative numbers get a leading space where the
    /// minus sign would go (`" 120 Nos"`, `" 1000 Nos =  100 Boxes"`).
    pub(crate) fn to_tally_string(&self) -> String {
        let mut out = String::new();
        if self.is_blank() {
            return out;
        }
        if !self.is_negative() {
            out.push(' ');
        }
        // Writing into a String cannot fail.
        let _ = self.write_main(&mut out);
        if let Some(alt) = &self.alternate {
            out.push_str(" = ");
            if !alt.value.is_negative() {
                out.push(' ');
            }
            out.push_str(&format!("{} {}", alt.value, alt.unit));
        }
        out
    }
}

impl fmt::Display for Quantity {
    /// Human form without Tally's padding; blank for the never-moved balance.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_blank() {
            return Ok(());
        }
        self.write_main(f)?;
        if let Some(alt) = &self.alternate {
            write!(f, " = {} {}", alt.value, alt.unit)?;
        }
        Ok(())
    }
}

/// An amount in a named currency, as printed on the foreign side of a forex value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub currency: Option<String>,
    /// Magnitude; the sign lives on the owning [`Amount`] or [`Rate`].
    pub amount: Decimal,
}

/// A price per unit: `"250.00/Nos"`, or with forex `"$ 200.0000 = ₹ 8500.00/Nos"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rate {
    /// In the company's home currency.
    pub amount: Decimal,
    /// The home currency symbol, printed only in the forex form.
    pub currency: Option<String>,
    pub per_unit: Option<String>,
    /// The rate in the foreign currency, left of `=`.
    pub forex: Option<Money>,
}

impl Rate {
    pub fn new(amount: Decimal, per_unit: impl Into<String>) -> Rate {
        Rate {
            amount,
            currency: None,
            per_unit: Some(per_unit.into()),
            forex: None,
        }
    }

    /// `None` for the blank rate of an item without stock.
    pub fn parse(text: &str) -> Result<Option<Rate>, ValueError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let (forex, home) = match text.split_once('=') {
            Some((forex, home)) => (Some(forex), home),
            None => (None, text),
        };
        let (money, per_unit) = match home.split_once('/') {
            Some((money, unit)) => (money, non_empty(unit.trim())),
            None => (home, None),
        };
        let (negative, currency, amount) = parse_money(money)?;
        let forex = match forex {
            None => None,
            Some(forex) => {
                let (_, currency, amount) = parse_money(forex)?;
                Some(Money { currency, amount })
            }
        };
        Ok(Some(Rate {
            amount: if negative { -amount } else { amount },
            currency,
            per_unit,
            forex,
        }))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(forex) = &self.forex {
            write_money(f, false, forex.currency.as_deref(), forex.amount)?;
            f.write_str(" = ")?;
        }
        write_money(
            f,
            self.amount.is_negative(),
            self.currency.as_deref(),
            self.amount.abs(),
        )?;
        if let Some(unit) = &self.per_unit {
            write!(f, "/{unit}")?;
        }
        Ok(())
    }
}

/// The foreign side of a forex amount: `$ 10.00 @ ₹ 83.00/$`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Forex {
    pub amount: Money,
    /// Home currency per foreign unit; Tally sometimes leaves it blank (`@  =`).
    pub rate_of_exchange: Option<Money>,
}

/// A money value. Tally prints debits negative (stock value and debtor
/// balances are usually negative), so the sign is kept as `is_debit` and
/// `value` is the magnitude.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Amount {
    pub value: Decimal,
    pub is_debit: bool,
    /// The home currency symbol, printed only in the forex form.
    pub currency: Option<String>,
    pub forex: Option<Forex>,
}

impl Amount {
    /// From Tally's signed convention: negative is debit.
    pub fn from_signed(value: Decimal) -> Amount {
        Amount {
            value: value.abs(),
            is_debit: value.is_negative(),
            currency: None,
            forex: None,
        }
    }

    /// Back to Tally's signed convention.
    pub fn signed(&self) -> Decimal {
        if self.is_debit {
            -self.value
        } else {
            self.value
        }
    }

    /// `None` for a blank balance.
    pub fn parse(text: &str) -> Result<Option<Amount>, ValueError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let Some((foreign, home)) = text.split_once('=') else {
            let (negative, currency, value) = parse_money(text)?;
            return Ok(Some(Amount {
                value,
                is_debit: negative && !value.is_zero(),
                currency,
                forex: None,
            }));
        };
        let (home_negative, currency, value) = parse_money(home)?;
        let (foreign, rate) = foreign.split_once('@').unwrap_or((foreign, ""));
        let (foreign_negative, foreign_currency, foreign_amount) = parse_money(foreign)?;
        let rate_of_exchange = match rate.split_once('/').map_or(rate, |(r, _)| r).trim() {
            "" => None,
            rate => {
                let (_, currency, amount) = parse_money(rate)?;
                Some(Money { currency, amount })
            }
        };
        let is_debit = if value.is_zero() {
            foreign_negative
        } else {
            home_negative
        };
        Ok(Some(Amount {
            value,
            is_debit,
            currency,
            forex: Some(Forex {
                amount: Money {
                    currency: foreign_currency,
                    amount: foreign_amount,
                },
                rate_of_exchange,
            }),
        }))
    }
}

impl fmt::Display for Amount {
    /// Tally's form, debit negative; forex as `-$ 10.00 @ ₹ 83.00/$  = -₹ 830.00`
    /// (the double space before `=` is Tally's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(forex) = &self.forex {
            let foreign = forex.amount.currency.as_deref();
            write_money(f, self.is_debit, foreign, forex.amount.amount)?;
            f.write_str(" @ ")?;
            if let Some(rate) = &forex.rate_of_exchange {
                write_money(f, false, rate.currency.as_deref(), rate.amount)?;
                f.write_str("/")?;
                f.write_str(foreign.unwrap_or(""))?;
            }
            f.write_str("  = ")?;
        }
        write_money(f, self.is_debit, self.currency.as_deref(), self.value)
    }
}

/// Tally's `Number` type as used for AlterIDs and counters: `" 939"`.
pub(crate) fn parse_number(text: &str) -> Result<Option<u64>, ValueError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotANumber);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ValueError::TooManyDigits)
}

/// Tally's `Logical` type: `Yes` / `No` / blank.
pub(crate) fn parse_logical(text: &str) -> Result<Option<bool>, ValueError> {
    match text.trim() {
        "" => Ok(None),
        "Yes" => Ok(Some(true)),
        "No" => Ok(Some(false)),
        _ => Err(ValueError::BadLogical),
    }
}

/// Tally's `Date` type in XML: `YYYYMMDD`, blank for none.
pub(crate) fn parse_date(text: &str) -> Result<Option<NaiveDate>, ValueError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::BadDate);
    }
    NaiveDate::parse_from_str(text, "%Y%m%d")
        .map(Some)
        .map_err(|_| ValueError::BadDate)
}

pub(crate) fn format_date(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Report exports print negatives as `(-)5`; native exports as `-5`.
fn strip_sign(s: &str) -> (bool, &str) {
    if let Some(rest) = s.strip_prefix("(-)") {
        (true, rest.trim_start())
    } else if let Some(rest) = s.strip_prefix('-') {
        (true, rest.trim_start())
    } else {
        (false, s)
    }
}

/// `2 Box 54 strips 5 tablets` → [(2, Box), (54, strips), (5, tablets)].
/// A unit runs until the next numeric token, so unit symbols with spaces
/// (`sq ft`) survive.
fn parse_parts(s: &str) -> Result<Vec<(Decimal, Option<String>)>, ValueError> {
    let mut parts: Vec<(Decimal, Option<String>)> = Vec::new();
    for token in s.split_whitespace() {
        match token.parse::<Decimal>() {
            Ok(number) => {
                if number.is_negative() {
                    return Err(ValueError::InnerSign);
                }
                if let Some((_, None)) = parts.last() {
                    return Err(ValueError::MissingUnit);
                }
                parts.push((number, None));
            }
            Err(ValueError::TooManyDigits) => return Err(ValueError::TooManyDigits),
            Err(_) => match parts.last_mut() {
                Some((_, Some(unit))) => {
                    unit.push(' ');
                    unit.push_str(token);
                }
                Some((_, unit @ None)) => *unit = Some(token.to_string()),
                None => return Err(ValueError::NotANumber),
            },
        }
    }
    Ok(parts)
}

/// `-₹ 425000.00` → (true, Some("₹"), 425000.00). The number is the trailing run
/// of digits and dots; whatever precedes it is the currency symbol.
fn parse_money(s: &str) -> Result<(bool, Option<String>, Decimal), ValueError> {
    let (negative, s) = strip_sign(s.trim());
    let start = s
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit() || *c == '.')
        .last()
        .map(|(i, _)| i)
        .ok_or(ValueError::NotANumber)?;
    let (prefix, number) = s.split_at(start);
    let (inner_negative, prefix) = match prefix.trim_end().strip_suffix('-') {
        Some(rest) => (true, rest),
        None => (false, prefix),
    };
    let value: Decimal = number.parse()?;
    Ok((negative || inner_negative, non_empty(prefix.trim()), value))
}

fn write_money(
    f: &mut fmt::Formatter<'_>,
    negative: bool,
    currency: Option<&str>,
    magnitude: Decimal,
) -> fmt::Result {
    if negative {
        f.write_str("-")?;
    }
    if let Some(currency) = currency {
        write!(f, "{currency} ")?;
    }
    write!(f, "{}", magnitude.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn decimals_compare_by_value_and_render_with_their_scale() {
        assert_eq!(d("250.00"), d("250"));
        assert_ne!(d("250.01"), d("250"));
        assert_eq!(d("250.00").to_string(), "250.00");
        assert_eq!(d("-0.05").to_string(), "-0.05");
        assert_eq!(d(".5").to_string(), "0.5");
        assert_eq!(d("830.00").to_scaled(2), Some(83000));
        assert_eq!(d("0.005").to_scaled(2), None);
        assert!("1,000".parse::<Decimal>().is_err());
        assert!("5.".parse::<Decimal>().is_err());
        assert!("".parse::<Decimal>().is_err());
        assert!("-".parse::<Decimal>().is_err());
        assert_eq!(
            "1".repeat(37).parse::<Decimal>(),
            Err(ValueError::TooManyDigits)
        );
    }

    #[test]
    fn decimals_refuse_mantissas_that_could_overflow() {
        assert_eq!(Decimal::new(i128::MIN, 0), None);
        assert_eq!(Decimal::new(5, 37), None);
        assert_eq!(
            Decimal::new(-25, 1).map(|d| (-d).to_string()),
            Some("2.5".into())
        );
    }

    #[test]
    fn decimals_serialize_as_strings() {
        let json = serde_json::to_string(&d("0.10")).unwrap();
        assert_eq!(json, "\"0.10\"");
        assert_eq!(serde_json::from_str::<Decimal>(&json).unwrap(), d("0.1"));
    }

    #[test]
    fn quantities_in_every_published_shape() {
        assert_eq!(
            Quantity::parse(" 120 Nos"),
            Ok(Quantity::new(d("120"), "Nos"))
        );
        assert_eq!(
            Quantity::parse("-23 nos"),
            Ok(Quantity::new(d("-23"), "nos"))
        );
        assert_eq!(Quantity::parse("(-)5 Kg"), Ok(Quantity::new(d("-5"), "Kg")));
        assert_eq!(Quantity::parse(""), Ok(Quantity::zero()));
        assert_eq!(Quantity::parse("   "), Ok(Quantity::zero()));
        assert_eq!(
            Quantity::parse("100"),
            Ok(Quantity {
                value: d("100"),
                ..Quantity::zero()
            })
        );
        assert_eq!(
            Quantity::parse(" 12.5 sq ft"),
            Ok(Quantity::new(d("12.5"), "sq ft"))
        );
        let compound = Quantity::parse("-30 Box 5.5 Nos").unwrap();
        assert_eq!(compound.value, d("-30"));
        assert_eq!(
            compound.tail,
            vec![UnitPart {
                value: d("-5.5"),
                unit: "Nos".into()
            }]
        );
        assert_eq!(compound.to_string(), "-30 Box 5.5 Nos");
        let alt = Quantity::parse(" 1000 Nos =  100 Boxes").unwrap();
        assert_eq!(
            alt.alternate,
            Some(UnitPart {
                value: d("100"),
                unit: "Boxes".into()
            })
        );
        assert_eq!(alt.to_tally_string(), " 1000 Nos =  100 Boxes");
    }

    #[test]
    fn malformed_quantities_are_errors_not_zero() {
        assert_eq!(Quantity::parse("Nos"), Err(ValueError::NotANumber));
        assert_eq!(Quantity::parse("2 Box 5"), Err(ValueError::MissingUnit));
        assert_eq!(Quantity::parse("2 -5 Nos"), Err(ValueError::InnerSign));
        assert_eq!(Quantity::parse("1 Nos = 2"), Err(ValueError::BadAlternate));
    }

    #[test]
    fn negative_zero_compound_keeps_its_sign_through_the_tail() {
        let q = Quantity::parse("-0 Box 0.5 Nos").unwrap();
        assert!(q.is_negative());
        assert_eq!(q.to_tally_string(), "-0 Box 0.5 Nos");
    }

    #[test]
    fn rates_plain_and_forex() {
        assert_eq!(
            Rate::parse("250.00/Nos"),
            Ok(Some(Rate::new(d("250.00"), "Nos")))
        );
        assert_eq!(Rate::parse(""), Ok(None));
        let forex = Rate::parse("$ 200.0000 = ₹ 8500.00/Nos").unwrap().unwrap();
        assert_eq!(forex.amount, d("8500"));
        assert_eq!(forex.currency.as_deref(), Some("₹"));
        assert_eq!(
            forex.forex,
            Some(Money {
                currency: Some("$".into()),
                amount: d("200")
            })
        );
        assert_eq!(forex.to_string(), "$ 200.0000 = ₹ 8500.00/Nos");
        assert_eq!(Rate::parse("abc/Nos"), Err(ValueError::NotANumber));
    }

    #[test]
    fn amounts_negative_is_debit() {
        let a = Amount::parse("-30000.00").unwrap().unwrap();
        assert!(a.is_debit);
        assert_eq!(a.value, d("30000"));
        assert_eq!(a.signed(), d("-30000"));
        assert_eq!(a.to_string(), "-30000.00");
        assert_eq!(Amount::parse(" "), Ok(None));
        assert!(!Amount::parse("-0.00").unwrap().unwrap().is_debit);
    }

    #[test]
    fn forex_amounts_from_tallyconnector_tests() {
        let a = Amount::parse("$ 4875.0000 @ ₹ 38342.6231/$  = ₹ 186920287.61")
            .unwrap()
            .unwrap();
        assert_eq!(a.value, d("186920287.61"));
        assert!(!a.is_debit);
        let forex = a.forex.clone().unwrap();
        assert_eq!(forex.amount.amount, d("4875"));
        assert_eq!(forex.rate_of_exchange.unwrap().amount, d("38342.6231"));
        assert_eq!(
            a.to_string(),
            "$ 4875.0000 @ ₹ 38342.6231/$  = ₹ 186920287.61"
        );

        let debit = Amount::parse("-$ 10000.0000 @  = -₹ 425000.00")
            .unwrap()
            .unwrap();
        assert!(debit.is_debit);
        assert_eq!(debit.value, d("425000"));
        assert_eq!(debit.forex.unwrap().rate_of_exchange, None);

        let brief = Amount::parse("$ 10.00 @ ₹ 83.00/$ = ₹ 830.00")
            .unwrap()
            .unwrap();
        assert_eq!(brief.value.to_scaled(2), Some(83000));
    }

    #[test]
    fn numbers_logicals_dates() {
        assert_eq!(parse_number(" 939"), Ok(Some(939)));
        assert_eq!(parse_number(""), Ok(None));
        assert_eq!(parse_number("-1"), Err(ValueError::NotANumber));
        assert_eq!(parse_logical("Yes"), Ok(Some(true)));
        assert_eq!(parse_logical("maybe"), Err(ValueError::BadLogical));
        assert_eq!(
            parse_date("20250401"),
            Ok(NaiveDate::from_ymd_opt(2025, 4, 1))
        );
        assert_eq!(parse_date("20250231"), Err(ValueError::BadDate));
        assert_eq!(parse_date("1-Apr-2025"), Err(ValueError::BadDate));
    }
}
