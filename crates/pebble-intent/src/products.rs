//! Products and quantities in an email, matched against the stock catalog.
//!
//! Customers write "2.5 sq mm FR wire, 10 coil", "32A DP MCB 5 nos", "1HP
//! monoblock ek box"; the catalog says "Polycab 2.5 sq mm FR PVC Wire 90m".
//! Both sides are reduced to the same canonical tokens — specifications
//! ("2.5sqmm", "32a", "1hp", "1ph"), pole and phase words ("double pole" →
//! "dp"), singular nouns — and each line of the email is matched against
//! every name and alias of every item:
//!
//! * an alias with specifications matches when at least one of them and at
//!   least one of its words appear, and no specification of the same kind
//!   in the line contradicts it (a line about "4sqmm" never matches a
//!   "2.5sqmm" item; "sp" contradicts "dp");
//! * an alias without specifications matches when all its words appear
//!   (at least two, so "wire" alone matches nothing);
//! * the best-scoring alias wins (specifications count three, words one,
//!   unmatched tokens cost a little so the most specific name wins; ties go
//!   to catalog order), its tokens are consumed, and the line is searched
//!   again for further items.
//!
//! Only catalog SKUs are ever returned; a line that matches nothing yields
//! nothing.

use std::collections::HashMap;

use pebble_core::catalog::CatalogItem;
use serde::{Deserialize, Serialize};

use crate::features::FnvBuild;

/// A product found in an email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductMention {
    pub sku: String,
    /// The catalog (Tally) name.
    pub name: String,
    pub qty: Option<f64>,
    /// The unit as written (normalised: `coil`, `m`, `nos`, `box` …), or
    /// the catalog unit when no quantity was given.
    pub unit: String,
}

/// Specifications that cannot both hold for one item: a line that names one
/// of a group contradicts an alias that names another.
const EXCLUSIVE: [&[&str]; 1] = [&["sp", "dp", "tp", "fp", "spn", "tpn"]];

const STOP: [&str; 12] = [
    "of", "for", "the", "and", "with", "to", "x", "in", "a", "pc", "per", "ka",
];

/// Word pairs that mean one specification.
const PAIRS: [(&str, &str, &str); 9] = [
    ("double", "pole", "dp"),
    ("single", "pole", "sp"),
    ("triple", "pole", "tp"),
    ("three", "pole", "tp"),
    ("four", "pole", "fp"),
    ("single", "phase", "1ph"),
    ("three", "phase", "3ph"),
    ("flame", "retardant", "fr"),
    ("sq", "mm", "sqmm"),
];

fn spec_suffix(word: &str) -> Option<&'static str> {
    Some(match word {
        "mm" | "sqmm" | "mm2" | "sqmm2" => "sqmm",
        "a" | "amp" | "amps" | "ampere" => "a",
        "hp" => "hp",
        "kw" => "kw",
        "kva" => "kva",
        "v" | "volt" | "volts" => "v",
        "w" | "watt" | "watts" => "w",
        "core" | "cores" | "c" => "core",
        "ph" | "phase" => "ph",
        "way" => "way",
        "inch" | "\"" => "inch",
        "mtr" | "m" | "meter" | "meters" | "metre" | "metres" | "mtrs" => "m",
        _ => return None,
    })
}

/// A unit word (`Coils`, `mtr`, `pcs`) in the normal form that
/// [`ProductMention::unit`] uses, so drafts compare a quantity with stock
/// and rates in one vocabulary.
pub fn normalise_unit(word: &str) -> Option<&'static str> {
    quantity_unit(&word.trim().to_lowercase())
}

fn quantity_unit(word: &str) -> Option<&'static str> {
    Some(match word {
        "coil" | "coils" => "coil",
        "mtr" | "mtrs" | "m" | "meter" | "meters" | "metre" | "metres" | "rmt" => "m",
        "nos" | "no" | "pcs" | "pc" | "piece" | "pieces" | "pcs." | "units" | "unit" | "nag" => {
            "nos"
        }
        "box" | "boxes" | "dibba" => "box",
        "set" | "sets" => "set",
        "kg" | "kgs" => "kg",
        "roll" | "rolls" => "roll",
        "pkt" | "pkts" | "packet" | "packets" => "pkt",
        "bundle" | "bundles" => "bundle",
        "carton" | "cartons" | "ctn" => "carton",
        "ltr" | "ltrs" | "litre" | "litres" | "liter" => "ltr",
        "drum" | "drums" => "drum",
        "bag" | "bags" => "bag",
        _ => return None,
    })
}

fn hindi_number(word: &str) -> Option<f64> {
    Some(match word {
        "ek" => 1.0,
        "do" => 2.0,
        "teen" => 3.0,
        "char" | "chaar" => 4.0,
        "paanch" | "panch" => 5.0,
        "chhe" | "chhah" => 6.0,
        "saat" => 7.0,
        "aath" => 8.0,
        "nau" => 9.0,
        "das" => 10.0,
        "bees" => 20.0,
        "pachas" => 50.0,
        "sau" => 100.0,
        _ => return None,
    })
}

/// "coils" → "coil", but not "ss" words ("brass") or short ones ("pcs").
fn singular(w: &str) -> &str {
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        &w[..w.len() - 1]
    } else {
        w
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

fn lower(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.chars().flat_map(char::to_lowercase).collect()
    }
}

/// Raw tokens of lower-case text: letters/digits, with `.` kept between
/// digits; a token starting with a number is split before its letters
/// ("2.5mm"). Slices of `text`, so that a line can be checked before
/// anything is copied.
fn raw_tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let cur = start.map_or("", |s| &text[s..i]);
        let dot_in_number = c == '.'
            && cur.ends_with(|p: char| p.is_ascii_digit())
            && chars.peek().is_some_and(|(_, n)| n.is_ascii_digit());
        if c.is_alphanumeric() || dot_in_number {
            // "2.5mm" → "2.5" "mm", but "ie3" stays one token.
            if c.is_alphabetic() && is_number(cur) {
                out.push(cur);
                start = Some(i);
            } else if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            out.push(&text[s..i]);
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// A canonical token: a specification (`value` + `kind`) or a word.
#[derive(Debug, Clone, PartialEq)]
struct Tok {
    text: String,
    /// The kind of a specification ("sqmm", "a"), None for words.
    kind: Option<&'static str>,
    /// A quantity (number + unit) rather than a specification.
    qty: Option<(f64, &'static str)>,
}

fn canonical(text: &str) -> Vec<Tok> {
    let lower = lower(text);
    canonical_of(&raw_tokens(&lower))
}

fn canonical_of(raw: &[&str]) -> Vec<Tok> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let w = raw[i];
        let next = raw.get(i + 1).copied();
        let next2 = raw.get(i + 2).copied();
        if let Some(&(_, _, merged)) = PAIRS.iter().find(|(a, b, _)| *a == w && Some(*b) == next) {
            out.push(word_or_spec(merged));
            i += 2;
            continue;
        }
        let number = if is_number(w) {
            w.parse::<f64>().ok()
        } else {
            hindi_number(w)
        };
        if let Some(n) = number {
            // "2.5 sq mm", "2.5 sq. mm"
            if next == Some("sq") && next2 == Some("mm") {
                out.push(spec(w, "sqmm"));
                i += 3;
                continue;
            }
            if let Some(unit) = next.and_then(quantity_unit) {
                // "90m" inside a name is a length, "200 mtr" in a mail a
                // quantity: both are quantities, never specifications.
                out.push(Tok {
                    text: format!("{n}{unit}"),
                    kind: None,
                    qty: Some((n, unit)),
                });
                i += 2;
                continue;
            }
            if is_number(w) {
                if let Some(kind) = next.and_then(spec_suffix) {
                    out.push(spec(w, kind));
                    i += 2;
                    continue;
                }
            }
        }
        if !STOP.contains(&w) {
            out.push(word_or_spec(w));
        }
        i += 1;
    }
    out
}

fn spec(number: &str, kind: &'static str) -> Tok {
    let n = number
        .parse::<f64>()
        .map_or(number.to_string(), |v| v.to_string());
    Tok {
        text: format!("{n}{kind}"),
        kind: Some(kind),
        qty: None,
    }
}

fn word_or_spec(w: &str) -> Tok {
    if let Some(group) = EXCLUSIVE.iter().find(|g| g.contains(&w)) {
        return Tok {
            text: w.to_string(),
            kind: group.first().copied(),
            qty: None,
        };
    }
    Tok {
        text: singular(w).to_string(),
        kind: None,
        qty: None,
    }
}

struct Alias {
    item: usize,
    specs: Vec<(String, &'static str)>,
    words: Vec<String>,
}

/// The catalog prepared for matching.
pub struct ProductMatcher {
    items: Vec<CatalogItem>,
    aliases: Vec<Alias>,
    /// Token → aliases containing it.
    index: HashMap<String, Vec<usize>, FnvBuild>,
}

impl ProductMatcher {
    pub fn new(items: &[CatalogItem]) -> ProductMatcher {
        let mut aliases = Vec::new();
        let mut index: HashMap<String, Vec<usize>, FnvBuild> = HashMap::default();
        for (n, item) in items.iter().enumerate() {
            for name in std::iter::once(&item.tally_name).chain(&item.aliases) {
                let toks = canonical(name);
                let mut alias = Alias {
                    item: n,
                    specs: Vec::new(),
                    words: Vec::new(),
                };
                for t in toks {
                    match (t.kind, t.qty) {
                        (_, Some(_)) => {}
                        (Some(kind), None) => alias.specs.push((t.text, kind)),
                        (None, None) => alias.words.push(t.text),
                    }
                }
                alias.specs.dedup();
                alias.words.sort();
                alias.words.dedup();
                if alias.specs.is_empty() && alias.words.len() < 2 {
                    continue;
                }
                let id = aliases.len();
                for t in alias.specs.iter().map(|s| &s.0).chain(&alias.words) {
                    let list = index.entry(t.clone()).or_default();
                    if list.last() != Some(&id) {
                        list.push(id);
                    }
                }
                aliases.push(alias);
            }
        }
        ProductMatcher {
            items: items.to_vec(),
            aliases,
            index,
        }
    }

    /// Products mentioned in `text`, in order of appearance, each SKU once.
    pub fn find(&self, text: &str) -> Vec<ProductMention> {
        let mut out: Vec<ProductMention> = Vec::new();
        let lower = lower(text);
        for segment in lower.split(['\n', ';']) {
            let raw = raw_tokens(segment);
            if !self.may_match(&raw) {
                continue;
            }
            let mut toks = canonical_of(&raw);
            let mut found_here: Vec<(usize, usize)> = Vec::new(); // (item, first token position)
            while let Some((alias, positions)) = self.best(&toks, &found_here) {
                let item = self.aliases[alias].item;
                let first = positions.iter().copied().min().unwrap_or(0);
                for p in positions {
                    toks[p].text.clear();
                }
                found_here.push((item, first));
            }
            found_here.sort_by_key(|&(_, pos)| pos);
            // Quantities go to the nearest item, each quantity used once.
            let mut quantities: Vec<(usize, f64, &'static str)> = toks
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.qty.map(|(n, u)| (i, n, u)))
                .collect();
            for (item, pos) in found_here {
                let sku = &self.items[item].sku;
                if out.iter().any(|m| &m.sku == sku) {
                    continue;
                }
                let nearest = quantities
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, q)| q.0.abs_diff(pos))
                    .map(|(i, _)| i);
                let (qty, unit) = match nearest {
                    Some(i) => {
                        let (_, n, u) = quantities.remove(i);
                        (Some(n), u.to_string())
                    }
                    None => (None, self.items[item].unit.clone().unwrap_or_default()),
                };
                out.push(ProductMention {
                    sku: sku.clone(),
                    name: self.items[item].tally_name.clone(),
                    qty,
                    unit,
                });
            }
        }
        out
    }

    /// Whether a line could match any alias. Every match needs one of the
    /// alias's words among the line's tokens, and a line's word tokens are
    /// its raw tokens made singular or a merged pair: a line with none of
    /// those in the index matches nothing, and most lines of a mail (the
    /// greeting, the chat, the signature) are skipped here cheaply.
    fn may_match(&self, raw: &[&str]) -> bool {
        raw.iter().any(|r| {
            self.index.contains_key(singular(r)) || PAIRS.iter().any(|(first, ..)| first == r)
        })
    }

    /// The best alias matching the unconsumed tokens and the positions of
    /// the tokens it used.
    fn best(&self, toks: &[Tok], taken: &[(usize, usize)]) -> Option<(usize, Vec<usize>)> {
        let mut candidates: Vec<usize> = toks
            .iter()
            .filter(|t| !t.text.is_empty())
            .filter_map(|t| self.index.get(&t.text))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut best: Option<(f64, usize, Vec<usize>)> = None;
        for a in candidates {
            let alias = &self.aliases[a];
            if taken.iter().any(|(item, _)| *item == alias.item) {
                continue;
            }
            let Some((score, positions)) = score(alias, toks) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((s, b, _)) => {
                    score > *s + 1e-9
                        || ((score - *s).abs() < 1e-9 && alias.item < self.aliases[*b].item)
                }
            };
            if better {
                best = Some((score, a, positions));
            }
        }
        best.map(|(_, a, p)| (a, p))
    }
}

fn score(alias: &Alias, toks: &[Tok]) -> Option<(f64, Vec<usize>)> {
    let find = |text: &str| toks.iter().position(|t| t.text == text);
    let mut positions = Vec::new();
    let mut matched_specs = 0;
    for (text, kind) in &alias.specs {
        match find(text) {
            Some(p) => {
                matched_specs += 1;
                positions.push(p);
            }
            None => {
                // Another value of the same kind in the line contradicts it.
                if toks
                    .iter()
                    .any(|t| t.kind == Some(*kind) && !t.text.is_empty())
                {
                    return None;
                }
            }
        }
    }
    let mut matched_words = 0;
    for w in &alias.words {
        if let Some(p) = find(w) {
            matched_words += 1;
            positions.push(p);
        }
    }
    let ok = if alias.specs.is_empty() {
        matched_words == alias.words.len()
    } else {
        matched_specs >= 1 && matched_words >= 1
    };
    if !ok {
        return None;
    }
    let unmatched = (alias.specs.len() - matched_specs) + (alias.words.len() - matched_words);
    Some((
        3.0 * matched_specs as f64 + matched_words as f64 - 0.01 * unmatched as f64,
        positions,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sku: &str, name: &str, aliases: &[&str], unit: &str) -> CatalogItem {
        CatalogItem {
            sku: sku.into(),
            tally_name: name.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            unit: Some(unit.into()),
            rate_inr: Some("100".parse().unwrap()),
            closing_qty: "10".parse().unwrap(),
            group: None,
        }
    }

    fn catalog() -> ProductMatcher {
        ProductMatcher::new(&[
            item(
                "W-25-PC",
                "Polycab 2.5 sq mm FR PVC Wire 90m",
                &["2.5mm wire"],
                "coil",
            ),
            item("W-15-PC", "Polycab 1.5 sq mm FR PVC Wire 90m", &[], "coil"),
            item("W-25-FX", "Finolex 2.5 sq mm FR PVC Wire 90m", &[], "coil"),
            item(
                "MCB-32-DP",
                "Havells 32A Double Pole MCB C-Curve",
                &["32 amp DP MCB"],
                "nos",
            ),
            item(
                "MCB-32-SP",
                "Havells 32A Single Pole MCB C-Curve",
                &[],
                "nos",
            ),
            item(
                "PMP-1HP",
                "Kirloskar 1 HP Monoblock Pump Single Phase",
                &["1hp monoblock"],
                "nos",
            ),
            item(
                "TAPE",
                "Steelgrip Insulation Tape",
                &["insulation tape"],
                "box",
            ),
        ])
    }

    fn skus(found: &[ProductMention]) -> Vec<(&str, Option<f64>, &str)> {
        found
            .iter()
            .map(|m| (m.sku.as_str(), m.qty, m.unit.as_str()))
            .collect()
    }

    #[test]
    fn specs_abbreviations_and_quantities_are_matched() {
        let m = catalog();
        assert_eq!(
            skus(&m.find("2.5 sq mm FR wire, 10 coil")),
            [("W-25-PC", Some(10.0), "coil")]
        );
        assert_eq!(
            skus(&m.find("32A DP MCB 5 nos")),
            [("MCB-32-DP", Some(5.0), "nos")]
        );
        assert_eq!(
            skus(&m.find("1HP monoblock chahiye, ek box")),
            [("PMP-1HP", Some(1.0), "box")]
        );
        assert_eq!(
            skus(&m.find("rate bhejo 2.5mm wire ka, 200 mtr")),
            [("W-25-PC", Some(200.0), "m")]
        );
        assert_eq!(
            skus(&m.find("32 amp single pole mcb")),
            [("MCB-32-SP", None, "nos")]
        );
    }

    #[test]
    fn the_brand_named_wins_and_lines_hold_several_items() {
        let m = catalog();
        assert_eq!(
            skus(&m.find("Finolex 2.5 sqmm wire - 4 coils")),
            [("W-25-FX", Some(4.0), "coil")]
        );
        let found = m.find("1. 1.5 sq mm FR PVC wire - 40 coils\n2. 2.5 sq mm FR PVC wire - 30 coils\ninsulation tape 2 box");
        assert_eq!(
            skus(&found),
            [
                ("W-15-PC", Some(40.0), "coil"),
                ("W-25-PC", Some(30.0), "coil"),
                ("TAPE", Some(2.0), "box")
            ]
        );
    }

    #[test]
    fn nothing_outside_the_catalog_is_invented() {
        let m = catalog();
        assert!(m.find("4 sq mm FR wire 10 coil").is_empty());
        assert!(m.find("63A TP MCB 2 nos").is_empty());
        assert!(m.find("wire").is_empty());
        assert!(m.find("please send your price list").is_empty());
        assert!(ProductMatcher::new(&[]).find("2.5 sq mm wire").is_empty());
    }
}
