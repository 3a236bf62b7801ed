//! The pipeline's extract step (SPEC §2, step 3): the identifiers (GSTIN,
//! PAN, CIN, LLPIN) and phone numbers written in an email, and the products
//! and quantities matched to the stock catalogue, kept as one record per
//! email for the link and enrich steps (and the data-subject export).
//!
//! Products are those the classify step's matcher found (stored with its
//! decision), so there is one matcher and one answer. Identifiers are read
//! here from the subject and the whole body, invalid ones included: the link
//! step records those as failed validations.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::Datelike;
use pebble_core::identifiers::{extract, Found};
use pebble_intent::products::ProductMention;
use serde::{Deserialize, Serialize};

use super::{StepDone, StepHandler};
use crate::clock::Clock;
use crate::intent::{IntentError, IntentService};
use crate::store::steps::{self as sql, ExtractionRow};
use crate::store::{emails, Db};

/// An identifier as written in the email, with the offline verdict on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundId {
    /// `gstin`, `pan`, `cin` or `llpin`.
    pub kind: String,
    pub value: String,
    pub normalized: String,
    pub valid: bool,
    pub errors: Vec<String>,
}

/// Everything the extract step found in one email.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    pub identifiers: Vec<FoundId>,
    /// E.164 numbers.
    pub phones: Vec<String>,
    pub products: Vec<ProductMention>,
}

impl Extraction {
    /// What was found, in a few words (the step's note).
    pub fn summary(&self) -> String {
        let invalid = self.identifiers.iter().filter(|i| !i.valid).count();
        format!(
            "{} identifier(s) ({invalid} invalid), {} phone number(s), {} product(s)",
            self.identifiers.len(),
            self.phones.len(),
            self.products.len()
        )
    }

    pub fn from_row(r: &ExtractionRow) -> anyhow::Result<Extraction> {
        Ok(Extraction {
            identifiers: serde_json::from_str(&r.identifiers).context("stored identifiers")?,
            phones: serde_json::from_str(&r.phones).context("stored phone numbers")?,
            products: serde_json::from_str(&r.products).context("stored products")?,
        })
    }
}

/// Read identifiers and phone numbers from an email's subject and body;
/// each distinct one once (a signature quoted twice names a company once).
/// `year` bounds a CIN's year of incorporation.
pub fn find(subject: &str, body: &str, products: Vec<ProductMention>, year: i32) -> Extraction {
    let found = extract(&format!("{subject}\n{body}"), year);
    let mut identifiers: Vec<FoundId> = Vec::new();
    let lists: [(&str, Vec<Found>); 4] = [
        ("gstin", found.gstin),
        ("pan", found.pan),
        ("cin", found.cin),
        ("llpin", found.llpin),
    ];
    for (kind, list) in lists {
        for f in list {
            if identifiers
                .iter()
                .any(|i| i.kind == kind && i.normalized == f.normalized)
            {
                continue;
            }
            identifiers.push(FoundId {
                kind: kind.to_owned(),
                value: f.value,
                normalized: f.normalized,
                valid: f.valid,
                errors: f.errors.iter().map(ToString::to_string).collect(),
            });
        }
    }
    let mut phones: Vec<String> = Vec::new();
    for p in found.phone {
        if !phones.contains(&p.normalized) {
            phones.push(p.normalized);
        }
    }
    Extraction {
        identifiers,
        phones,
        products,
    }
}

pub struct ExtractStep {
    db: Db,
    intent: Arc<IntentService>,
    clock: Arc<dyn Clock>,
}

impl ExtractStep {
    pub fn new(db: Db, intent: Arc<IntentService>, clock: Arc<dyn Clock>) -> Self {
        ExtractStep { db, intent, clock }
    }
}

#[async_trait]
impl StepHandler for ExtractStep {
    async fn run(&self, email_id: &str) -> anyhow::Result<StepDone> {
        if let Some(done) = sql::extraction(&self.db, email_id)
            .await
            .context("reading the extraction")?
        {
            let found = Extraction::from_row(&done)?;
            return Ok(note(format!("already extracted: {}", found.summary())));
        }
        let email = emails::email(&self.db, email_id)
            .await
            .context("reading the email")?
            .with_context(|| format!("email {email_id} is not stored"))?;
        if email.erased_at.is_some() {
            return Ok(note("erased before extraction".into()));
        }
        let products = match self.intent.decision(email_id).await {
            Ok((d, _)) => d.products(),
            // Classified nothing: an email erased while it was classified.
            Err(IntentError::NotFound) => Vec::new(),
            Err(e) => return Err(anyhow::Error::new(e).context("reading the classification")),
        };
        let now = self.clock.now();
        let found = find(&email.subject, &email.body_text, products, now.year());
        let row = ExtractionRow {
            email_id: email_id.to_owned(),
            identifiers: serde_json::to_string(&found.identifiers)?,
            phones: serde_json::to_string(&found.phones)?,
            products: serde_json::to_string(&found.products)?,
            created_at: now.timestamp_micros(),
        };
        let mut tx = self.db.begin().await?;
        // An erasure that committed meanwhile has emptied the text read above.
        if crate::store::intent::email_erased(&mut tx, email_id).await? {
            return Ok(note("erased before extraction".into()));
        }
        let fresh = sql::insert_extraction(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(note(if fresh {
            found.summary()
        } else {
            format!("already extracted: {}", found.summary())
        }))
    }
}

fn note(text: String) -> StepDone {
    StepDone { note: Some(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_phones_are_found_once_each_with_their_verdicts() {
        let body = "Pls quote.\nGSTIN: 27AAPFU0939F1ZV\nGSTIN: 27AAPFU0939F1ZV\n\
                    PAN: ABCDE1234Z\nCIN U72900KA2015PTC082988\nMob: +91 98200 12345, 098200 12345";
        let f = find("rate", body, Vec::new(), 2026);
        let kinds: Vec<(&str, bool)> = f
            .identifiers
            .iter()
            .map(|i| (i.kind.as_str(), i.valid))
            .collect();
        assert!(kinds.contains(&("gstin", true)), "{kinds:?}");
        assert_eq!(kinds.iter().filter(|(k, _)| *k == "gstin").count(), 1);
        assert!(kinds.contains(&("cin", true)), "{kinds:?}");
        let pan = f.identifiers.iter().find(|i| i.kind == "pan").unwrap();
        assert!(!pan.valid && !pan.errors.is_empty(), "{pan:?}");
        assert_eq!(f.phones, ["+919820012345"]);
        assert_eq!(
            find("hello", "no ids here", Vec::new(), 2026),
            Extraction::default()
        );
    }
}
