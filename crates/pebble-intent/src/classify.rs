//! One email in, one decision out: intent, calibrated confidence, evidence,
//! products and identifiers — the record `pebble classify` prints and the
//! pipeline stores.

use pebble_core::catalog::CatalogItem;
use pebble_core::identifiers::{extract, Found, IdError};
use serde::Serialize;

use crate::features::Prepared;
use crate::model::{Evidence, Model};
use crate::prepare::new_text;
use crate::products::{ProductMatcher, ProductMention};
use crate::Intent;

/// Phrases of evidence reported per decision.
pub const EVIDENCE: usize = 5;

/// An identifier as found: invalid ones are reported with their errors,
/// never silently dropped and never marked valid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identifier {
    pub value: String,
    pub normalized: String,
    pub valid: bool,
    pub errors: Vec<IdError>,
}

impl From<Found> for Identifier {
    fn from(f: Found) -> Self {
        Identifier {
            value: f.value,
            normalized: f.normalized,
            valid: f.valid,
            errors: f.errors,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Entities {
    pub products: Vec<ProductMention>,
    pub gstin: Vec<Identifier>,
    pub pan: Vec<Identifier>,
    pub cin: Vec<Identifier>,
    /// E.164 numbers.
    pub phone: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub intent: Intent,
    pub confidence: f64,
    pub is_lead: bool,
    pub model_version: String,
    pub evidence: Vec<Evidence>,
    pub entities: Entities,
}

/// A model and (optionally) a catalog, ready to classify.
pub struct Classifier {
    model: Model,
    products: ProductMatcher,
}

impl Classifier {
    pub fn new(model: Model, catalog: &[CatalogItem]) -> Classifier {
        Classifier {
            model,
            products: ProductMatcher::new(catalog),
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// `year` bounds a CIN's year of incorporation (the core reads no clock).
    pub fn classify(&self, subject: &str, body: &str, year: i32) -> Classification {
        let text = new_text(body);
        let prepared = Prepared::from_new_text(subject, &text);
        let (prediction, evidence) = self.model.decide(&prepared, EVIDENCE);
        // Products come from what the sender wrote now; when that names
        // none ("pls dispatch as per below"), from the whole mail.
        let mut products = self.products.find(&format!("{subject}\n{text}"));
        if products.is_empty() && text != body.trim() {
            products = self.products.find(body);
        }
        // Identifiers sit in signatures and letterheads: the whole mail.
        let ids = extract(&format!("{subject}\n{body}"), year);
        let mut phone: Vec<String> = Vec::new();
        for p in ids.phone {
            if !phone.contains(&p.normalized) {
                phone.push(p.normalized);
            }
        }
        Classification {
            intent: prediction.intent,
            confidence: (prediction.confidence * 10_000.0).round() / 10_000.0,
            is_lead: prediction.intent.is_lead(),
            model_version: self.model.meta.version.clone(),
            evidence,
            entities: Entities {
                products,
                gstin: dedup(ids.gstin),
                pan: dedup(ids.pan),
                cin: dedup(ids.cin),
                phone,
            },
        }
    }
}

/// One entry per distinct normalised identifier (a signature quoted twice
/// names the company once).
fn dedup(found: Vec<Found>) -> Vec<Identifier> {
    let mut out: Vec<Identifier> = Vec::new();
    for f in found {
        if !out.iter().any(|o| o.normalized == f.normalized) {
            out.push(f.into());
        }
    }
    out
}
