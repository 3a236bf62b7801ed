//! The facts a draft may state, each with its source: stock and rate from
//! Tally (live, or the cache with the time it was read), names from the
//! catalogue and the CRM, quantities and references from the email, the
//! business's terms from configuration. Amounts are derived from those alone
//! and say so. A draft is rendered from these and nothing else, and the
//! facts are stored beside it.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use pebble_core::catalog::Exact;
use pebble_intent::products::{normalise_unit, ProductMention};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::numbers::paise;
use crate::tally::{Source, StockAnswer};

/// Where a fact came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactSource {
    /// Tally answered the lookup.
    Live,
    /// The catalogue cache, as of its last sync.
    Cache,
    /// The stock catalogue the email was matched against.
    Catalog,
    Email,
    Crm,
    Config,
    /// Computed from other facts (amounts, totals).
    Derived,
}

impl From<Source> for FactSource {
    fn from(s: Source) -> Self {
        match s {
            Source::Live => FactSource::Live,
            Source::Cache => FactSource::Cache,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub value: String,
    pub source: FactSource,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailFacts {
    pub id: String,
    pub from: String,
    pub subject: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// The contact's name (CRM), else the sender's display name (email).
    pub name: Option<Named>,
    pub company: Option<Named>,
}

/// The business's own words, from configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Business {
    pub name: String,
    pub signature: String,
    pub terms: String,
    pub source: FactSource,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Asked {
    pub qty: String,
    /// As the customer wrote it, normalised (`coil`, `m`, `nos`).
    pub unit: String,
    pub source: FactSource,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stock {
    pub qty: String,
    pub unit: Option<String>,
    pub source: FactSource,
    pub as_of: DateTime<Utc>,
    /// `as_of` as the draft states it (IST).
    pub as_of_local: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Rupees per `per`, before GST.
    pub value: String,
    pub per: Option<String>,
    pub source: FactSource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Enough for the quantity asked (or some, when none was asked).
    InStock,
    /// Some, but less than asked.
    Short,
    OutOfStock,
    /// Neither Tally nor the cache knows the item.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub sku: String,
    /// The catalogue (Tally) name.
    pub name: String,
    pub name_source: FactSource,
    pub asked: Option<Asked>,
    pub availability: Availability,
    pub stock: Option<Stock>,
    pub rate: Option<Rate>,
    /// GST in percent (configuration, by stock group).
    pub gst_percent: Named,
    pub lead_time: Named,
    /// qty × rate, when the quantity is in the unit the rate is for.
    pub amount: Option<String>,
    /// amount × GST%.
    pub gst_amount: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: String,
    pub gst: String,
    pub total: String,
    /// Items whose amount is in the totals (others lack a rate or a matching unit).
    pub priced_items: usize,
    pub source: FactSource,
}

/// References the customer gave, copied from the email.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct References {
    pub orders: Vec<String>,
    pub utrs: Vec<String>,
    /// Amounts in rupees, as decimal text.
    pub amounts: Vec<String>,
}

/// An open lead of the customer's company.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenLead {
    pub id: String,
    pub stage: String,
}

/// The latest reply a person approved for the customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastReply {
    pub draft_id: String,
    pub intent: String,
    pub approved_at: DateTime<Utc>,
    /// `approved_at` as a draft would state it (IST).
    pub approved_local: String,
}

/// The customer's latest email classified as a purchase order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastOrder {
    pub email_id: String,
    pub received_at: DateTime<Utc>,
    pub received_local: String,
}

/// The customer's history with the business, from the CRM (the enrich
/// step reads it once, before the draft is written).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Emails from the customer (their company, or them alone when they
    /// write from a free-mail address) received before this one.
    pub previous_emails: i64,
    pub open_leads: Vec<OpenLead>,
    pub last_reply: Option<LastReply>,
    pub last_order: Option<LastOrder>,
    pub source: FactSource,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub email: EmailFacts,
    pub customer: Customer,
    pub business: Business,
    pub items: Vec<Item>,
    pub totals: Option<Totals>,
    pub references: References,
    /// The customer's CRM history, when the enrich step gathered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
}

/// The business's terms and rates that drafts quote.
#[derive(Clone, Debug)]
pub struct BusinessTerms {
    pub name: String,
    pub signature: String,
    pub terms: String,
    pub gst_default: Decimal,
    /// By stock group, lower-cased.
    pub gst_by_group: HashMap<String, Decimal>,
    pub lead_time_in_stock: String,
    pub lead_time_to_order: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{setting}: {detail}")]
pub struct TermsError {
    pub setting: &'static str,
    pub detail: String,
}

fn gst_rate(setting: &'static str, text: &str) -> Result<Decimal, TermsError> {
    let bad = |detail: String| TermsError { setting, detail };
    let rate: Decimal = text
        .trim()
        .parse()
        .map_err(|_| bad(format!("{text:?} is not a number")))?;
    if rate < Decimal::ZERO || rate > Decimal::ONE_HUNDRED {
        return Err(bad(format!("{text} is not a percentage from 0 to 100")));
    }
    Ok(rate.normalize())
}

impl BusinessTerms {
    pub fn from_settings(s: &crate::config::Settings) -> Result<BusinessTerms, TermsError> {
        let mut gst_by_group = HashMap::new();
        for pair in s
            .draft_gst_by_group
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (group, rate) = pair.rsplit_once('=').ok_or_else(|| TermsError {
                setting: "draft_gst_by_group",
                detail: format!("{pair:?} is not Group=rate"),
            })?;
            gst_by_group.insert(
                group.trim().to_lowercase(),
                gst_rate("draft_gst_by_group", rate)?,
            );
        }
        for (setting, value) in [
            ("draft_lead_time_in_stock", &s.draft_lead_time_in_stock),
            ("draft_lead_time_to_order", &s.draft_lead_time_to_order),
        ] {
            if value.trim().is_empty() {
                return Err(TermsError {
                    setting,
                    detail: "must not be empty".into(),
                });
            }
        }
        Ok(BusinessTerms {
            name: s.business_name.trim().to_owned(),
            signature: s.draft_signature.trim().to_owned(),
            terms: s.draft_terms.trim().to_owned(),
            gst_default: gst_rate("draft_gst_percent", &s.draft_gst_percent)?,
            gst_by_group,
            lead_time_in_stock: s.draft_lead_time_in_stock.trim().to_owned(),
            lead_time_to_order: s.draft_lead_time_to_order.trim().to_owned(),
        })
    }

    fn gst_for(&self, group: Option<&str>) -> Decimal {
        group
            .and_then(|g| self.gst_by_group.get(&g.trim().to_lowercase()))
            .copied()
            .unwrap_or(self.gst_default)
    }
}

/// India Standard Time: the businesses Pebble serves quote times in IST.
pub fn ist() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600 + 1800).expect("+05:30 is a valid offset")
}

/// `15 Jan 2026, 15:00 IST`.
pub fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&ist())
        .format("%-d %b %Y, %H:%M IST")
        .to_string()
}

fn decimal(e: &Exact) -> Option<Decimal> {
    e.as_str().parse().ok()
}

/// `10.0` → `10`: the quantity as the customer would write it.
fn qty_text(q: f64) -> Option<String> {
    (q.is_finite() && q > 0.0).then(|| q.to_string())
}

/// One requested product, with what Tally or the cache said about it (if anything).
pub fn item(mention: &ProductMention, answer: Option<&StockAnswer>, terms: &BusinessTerms) -> Item {
    let asked = mention.qty.and_then(qty_text).map(|qty| Asked {
        qty,
        unit: mention.unit.clone(),
        source: FactSource::Email,
    });
    let group = answer.and_then(|a| a.item.group.as_deref());
    let gst = terms.gst_for(group);
    let gst_percent = Named {
        value: gst.to_string(),
        source: FactSource::Config,
    };
    let Some(a) = answer else {
        return Item {
            sku: mention.sku.clone(),
            name: mention.name.clone(),
            name_source: FactSource::Catalog,
            asked,
            availability: Availability::Unknown,
            stock: None,
            rate: None,
            gst_percent,
            lead_time: Named {
                value: terms.lead_time_to_order.clone(),
                source: FactSource::Config,
            },
            amount: None,
            gst_amount: None,
        };
    };
    let source = FactSource::from(a.source);
    let unit = a.item.unit.clone();
    let on_hand = decimal(&a.item.closing_qty).unwrap_or(Decimal::ZERO);
    // A quantity is comparable with stock and rate only in the item's own unit.
    let asked_qty = asked
        .as_ref()
        .filter(|q| same_unit(&q.unit, unit.as_deref()))
        .and_then(|q| q.qty.parse::<Decimal>().ok());
    let availability = match asked_qty {
        _ if on_hand <= Decimal::ZERO => Availability::OutOfStock,
        Some(q) if on_hand < q => Availability::Short,
        _ => Availability::InStock,
    };
    let rate = a.item.rate_inr.as_ref().map(|r| Rate {
        value: r.as_str().to_owned(),
        per: unit.clone(),
        source,
    });
    let amount = match (asked_qty, a.item.rate_inr.as_ref().and_then(decimal)) {
        (Some(q), Some(r)) => Some(paise(q * r)),
        _ => None,
    };
    let gst_amount = amount.map(|amt| paise(amt * gst / Decimal::ONE_HUNDRED));
    Item {
        sku: a.item.sku.clone(),
        name: a.item.tally_name.clone(),
        name_source: source,
        asked,
        availability,
        stock: Some(Stock {
            qty: a.item.closing_qty.as_str().to_owned(),
            unit,
            source,
            as_of: a.as_of,
            as_of_local: local_time(a.as_of),
        }),
        rate,
        gst_percent,
        lead_time: Named {
            value: if availability == Availability::InStock {
                terms.lead_time_in_stock.clone()
            } else {
                terms.lead_time_to_order.clone()
            },
            source: FactSource::Config,
        },
        amount: amount.map(|a| a.to_string()),
        gst_amount: gst_amount.map(|a| a.to_string()),
    }
}

/// Does a unit the customer wrote (normalised) name the item's unit?
fn same_unit(asked: &str, item_unit: Option<&str>) -> bool {
    let Some(unit) = item_unit else {
        return false;
    };
    let unit = unit.trim().to_lowercase();
    asked == unit || normalise_unit(&unit) == Some(asked)
}

/// The totals of the priced items, when there are any.
pub fn totals(items: &[Item]) -> Option<Totals> {
    let priced: Vec<(Decimal, Decimal)> = items
        .iter()
        .filter_map(|i| {
            Some((
                i.amount.as_ref()?.parse().ok()?,
                i.gst_amount.as_ref()?.parse().ok()?,
            ))
        })
        .collect();
    if priced.is_empty() {
        return None;
    }
    let subtotal: Decimal = priced.iter().map(|(a, _)| *a).sum();
    let gst: Decimal = priced.iter().map(|(_, g)| *g).sum();
    Some(Totals {
        subtotal: paise(subtotal).to_string(),
        gst: paise(gst).to_string(),
        total: paise(subtotal + gst).to_string(),
        priced_items: priced.len(),
        source: FactSource::Derived,
    })
}

/// Order numbers, UTRs and rupee amounts the customer quoted.
pub fn references(subject: &str, body: &str) -> References {
    let text = format!("{subject}\n{body}");
    let words: Vec<&str> = text
        // Not on commas: they group digits ("Rs. 25,000/-").
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '(' | ')' | '[' | ']' | '#'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut refs = References::default();
    let clean = |w: &str| {
        w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/' && c != '-')
            .trim_matches(|c| c == '/' || c == '-')
            .to_owned()
    };
    let is_ref = |w: &str| {
        w.len() >= 3
            && w.len() <= 30
            && w.bytes().any(|b| b.is_ascii_digit())
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'-')
    };
    let push = |list: &mut Vec<String>, v: String| {
        if !list.contains(&v) {
            list.push(v);
        }
    };
    for (i, w) in words.iter().enumerate() {
        let key = w
            .trim_end_matches([':', '.', '#', '-'])
            .to_ascii_lowercase();
        // "PO 4512", "P.O. No. 4512", "order no: SO/24/117", "invoice #INV-88".
        // After a bare "order" only a code with letters or separators counts:
        // "order 100 nos" is a quantity, not order number 100.
        if matches!(
            key.as_str(),
            "po" | "p.o" | "order" | "invoice" | "inv" | "utr"
        ) {
            let mut j = i + 1;
            while j < words.len()
                && matches!(
                    words[j]
                        .trim_end_matches([':', '.', '#'])
                        .to_ascii_lowercase()
                        .as_str(),
                    "no" | "number" | "" | "ref" | "id"
                )
            {
                j += 1;
            }
            let numbered = j > i + 1;
            let code = |v: &String| !v.bytes().all(|b| b.is_ascii_digit());
            if let Some(v) = words
                .get(j)
                .map(|v| clean(v))
                .filter(|v| is_ref(v))
                .filter(|v| key != "order" || numbered || code(v))
            {
                if key == "utr" {
                    push(&mut refs.utrs, v);
                } else {
                    push(&mut refs.orders, v);
                }
            }
        }
        // "Rs. 25,000/-", "₹25000", "INR 1,25,000.00"
        let lower = w.to_lowercase();
        let money = ["rs.", "rs", "inr", "₹"]
            .iter()
            .find_map(|p| lower.strip_prefix(p).map(|rest| rest.to_owned()));
        if let Some(rest) = money {
            let figure = if rest.is_empty() {
                words.get(i + 1).map(|n| n.to_string()).unwrap_or_default()
            } else {
                rest
            };
            let digits: String = figure
                .trim_end_matches("/-")
                .chars()
                .filter(|c| *c != ',')
                .collect();
            let digits = digits.trim_end_matches(['.', '/', '-']);
            if let Ok(d) = digits.parse::<Decimal>() {
                if d > Decimal::ZERO {
                    push(&mut refs.amounts, d.normalize().to_string());
                }
            }
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use pebble_core::catalog::CatalogItem;

    fn terms() -> BusinessTerms {
        BusinessTerms {
            name: "Demo Electricals".into(),
            signature: String::new(),
            terms: String::new(),
            gst_default: Decimal::from(18),
            gst_by_group: HashMap::from([("pumps".into(), Decimal::from(12))]),
            lead_time_in_stock: "ready to dispatch".into(),
            lead_time_to_order: "to be confirmed".into(),
        }
    }

    fn answer(qty: &str, rate: Option<&str>, unit: &str, group: &str) -> StockAnswer {
        StockAnswer {
            item: CatalogItem {
                sku: "W-FR-2.5".into(),
                tally_name: "FR PVC Wire 2.5 sq mm (90 m coil)".into(),
                aliases: vec![],
                unit: Some(unit.into()),
                rate_inr: rate.map(|r| r.parse().unwrap()),
                closing_qty: qty.parse().unwrap(),
                group: Some(group.into()),
            },
            source: Source::Cache,
            as_of: Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap(),
            age_secs: 60,
        }
    }

    fn mention(qty: Option<f64>, unit: &str) -> ProductMention {
        ProductMention {
            sku: "W-FR-2.5".into(),
            name: "FR PVC Wire 2.5 sq mm (90 m coil)".into(),
            qty,
            unit: unit.into(),
        }
    }

    #[test]
    fn amounts_come_from_the_quantity_asked_and_the_rate_in_the_same_unit() {
        let i = item(
            &mention(Some(10.0), "coil"),
            Some(&answer("86", Some("2590.50"), "Coil", "Wires")),
            &terms(),
        );
        assert_eq!(i.availability, Availability::InStock);
        assert_eq!(i.amount.as_deref(), Some("25905.00"));
        assert_eq!(i.gst_amount.as_deref(), Some("4662.90"));
        assert_eq!(
            i.stock.as_ref().unwrap().as_of_local,
            "15 Jan 2026, 15:00 IST"
        );
        let t = totals(&[i]).unwrap();
        assert_eq!(
            (t.subtotal.as_str(), t.total.as_str()),
            ("25905.00", "30567.90")
        );
    }

    #[test]
    fn a_quantity_in_another_unit_is_never_multiplied() {
        let i = item(
            &mention(Some(200.0), "m"),
            Some(&answer("86", Some("2590"), "Coil", "Wires")),
            &terms(),
        );
        assert_eq!(i.amount, None);
        assert_eq!(i.availability, Availability::InStock);
        assert!(totals(&[i]).is_none());
    }

    #[test]
    fn short_out_of_stock_and_unknown_items_are_told_apart() {
        let short = item(
            &mention(Some(100.0), "coil"),
            Some(&answer("57", Some("2590"), "Coil", "Wires")),
            &terms(),
        );
        assert_eq!(short.availability, Availability::Short);
        assert_eq!(short.lead_time.value, "to be confirmed");
        let out = item(
            &mention(None, "Coil"),
            Some(&answer("0", None, "Coil", "Pumps")),
            &terms(),
        );
        assert_eq!(out.availability, Availability::OutOfStock);
        assert_eq!(out.gst_percent.value, "12");
        assert!(out.rate.is_none());
        let unknown = item(&mention(Some(1.0), "nos"), None, &terms());
        assert_eq!(unknown.availability, Availability::Unknown);
        assert!(unknown.stock.is_none() && unknown.amount.is_none());
    }

    #[test]
    fn order_numbers_utrs_and_amounts_are_read_from_the_email() {
        let r = references(
            "Payment against PO No. 4512",
            "Paid Rs. 25,000/- today, UTR: HDFCR52026011512345. Also order no SO/24/117 and ₹1,180.50",
        );
        assert_eq!(r.orders, vec!["4512", "SO/24/117"]);
        assert_eq!(r.utrs, vec!["HDFCR52026011512345"]);
        assert_eq!(r.amounts, vec!["25000", "1180.5"]);
        assert_eq!(references("hello", "no numbers"), References::default());
        let qty = references("order", "please order 100 nos, and PO#771 too");
        assert_eq!(qty.orders, vec!["771"]);
    }
}
