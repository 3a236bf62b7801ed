//! The pipeline's enrich step (SPEC §2, step 5): stock and rate for each
//! product the extract step matched, asked of Tally live (each lookup a
//! `TallyLookup` event; the client's timeouts, retries and breaker apply)
//! and answered from the synced cache, with the time it was synced, when
//! Tally is slow or down; and the customer's history from the CRM. Both are
//! kept as one record per email, which the draft step drafts from.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pebble_core::audit::Actor;
use pebble_core::catalog::CatalogItem;
use serde::{Deserialize, Serialize};

use super::extract::Extraction;
use super::{StepDone, StepHandler};
use crate::clock::Clock;
use crate::drafts::facts::{local_time, FactSource, History, LastOrder, LastReply, OpenLead};
use crate::store::emails::EmailRow;
use crate::store::steps::{self as records, Customer, EnrichmentRow};
use crate::store::{emails, Db};
use crate::tally::{Source, StockAnswer, Tally};

/// The actor of the enrich step's Tally lookups.
pub const ACTOR: &str = "pipeline:enrich";

/// What Tally (or the cache) said about one product of the email.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockFact {
    /// The catalogue name the email was matched to.
    pub product: String,
    pub sku: String,
    /// The item as Tally or the cache gave it; none when neither knows it.
    pub item: Option<CatalogItem>,
    pub source: Source,
    /// When these figures were read from Tally (now, for a live answer; the
    /// last sync, for the cache).
    pub as_of: Option<DateTime<Utc>>,
    /// Age of the figures when the step read them, in seconds.
    pub age_secs: Option<i64>,
    /// Why Tally itself did not answer, when it did not.
    pub tally_error: Option<String>,
}

impl StockFact {
    /// Tally answered, and has no such item (as opposed to not answering).
    pub fn said_absent(&self) -> bool {
        self.item.is_none() && self.source == Source::Live && self.tally_error.is_none()
    }

    /// The answer the draft states, when there is one.
    pub fn answer(&self) -> Option<StockAnswer> {
        Some(StockAnswer {
            item: self.item.clone()?,
            source: self.source,
            as_of: self.as_of?,
            age_secs: self.age_secs.unwrap_or(0),
        })
    }
}

/// The enrichment of one email, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    pub stock: Vec<StockFact>,
    pub history: Option<History>,
}

impl Enrichment {
    pub fn from_row(r: &EnrichmentRow) -> anyhow::Result<Enrichment> {
        Ok(Enrichment {
            stock: serde_json::from_str(&r.stock).context("stored stock answers")?,
            history: serde_json::from_str(&r.history).context("stored history")?,
        })
    }

    /// Where the answers came from, in a few words (the step's note).
    pub fn summary(&self) -> String {
        let live = self
            .stock
            .iter()
            .filter(|s| s.source == Source::Live && s.item.is_some())
            .count();
        let cached: Vec<&StockFact> = self
            .stock
            .iter()
            .filter(|s| s.source == Source::Cache && s.item.is_some())
            .collect();
        let unknown = self.stock.iter().filter(|s| s.item.is_none()).count();
        let mut text = format!("{} product(s): {live} live", self.stock.len());
        if !cached.is_empty() {
            let oldest = cached.iter().filter_map(|s| s.as_of).min();
            text.push_str(&format!(", {} from the cache", cached.len()));
            if let Some(t) = oldest {
                text.push_str(&format!(" as of {}", local_time(t)));
            }
        }
        if unknown > 0 {
            text.push_str(&format!(", {unknown} unknown"));
        }
        if let Some(e) = self.stock.iter().find_map(|s| s.tally_error.as_deref()) {
            text.push_str(&format!(" (Tally: {e})"));
        }
        match &self.history {
            Some(h) => text.push_str(&format!(
                "; history: {} earlier email(s), {} open lead(s)",
                h.previous_emails,
                h.open_leads.len()
            )),
            None => text.push_str("; no CRM history (sender not linked)"),
        }
        text
    }
}

pub struct EnrichStep {
    db: Db,
    tally: Arc<Tally>,
    clock: Arc<dyn Clock>,
}

impl EnrichStep {
    pub fn new(db: Db, tally: Arc<Tally>, clock: Arc<dyn Clock>) -> Self {
        EnrichStep { db, tally, clock }
    }

    async fn history(&self, e: &EmailRow, now: DateTime<Utc>) -> anyhow::Result<Option<History>> {
        let who = match (&e.company_id, &e.contact_id) {
            (Some(c), _) => Customer::Company(c),
            (None, Some(c)) => Customer::Contact(c),
            (None, None) => return Ok(None),
        };
        let at = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
        let previous_emails = records::earlier_emails(&self.db, who, e.received_at, &e.id).await?;
        let open_leads = match &e.company_id {
            Some(c) => records::open_leads(&self.db, c)
                .await?
                .into_iter()
                .map(|(id, stage)| OpenLead { id, stage })
                .collect(),
            None => Vec::new(),
        };
        let last_reply = records::last_approved_reply(&self.db, who, now.timestamp_micros())
            .await?
            .map(|(draft_id, intent, t)| LastReply {
                draft_id,
                intent,
                approved_at: at(t),
                approved_local: local_time(at(t)),
            });
        let last_order = records::last_order(&self.db, who, e.received_at, &e.id)
            .await?
            .map(|(email_id, t)| LastOrder {
                email_id,
                received_at: at(t),
                received_local: local_time(at(t)),
            });
        Ok(Some(History {
            previous_emails,
            open_leads,
            last_reply,
            last_order,
            source: FactSource::Crm,
        }))
    }
}

#[async_trait]
impl StepHandler for EnrichStep {
    async fn run(&self, email_id: &str) -> anyhow::Result<StepDone> {
        if let Some(done) = records::enrichment(&self.db, email_id).await? {
            let e = Enrichment::from_row(&done)?;
            return Ok(StepDone {
                note: Some(format!("already enriched: {}", e.summary())),
            });
        }
        let email = emails::email(&self.db, email_id)
            .await
            .context("reading the email")?
            .with_context(|| format!("email {email_id} is not stored"))?;
        if email.erased_at.is_some() {
            return Ok(StepDone {
                note: Some("erased before enrichment".into()),
            });
        }
        let products = match records::extraction(&self.db, email_id).await? {
            Some(r) => Extraction::from_row(&r)?.products,
            None => Vec::new(),
        };
        let mut stock: Vec<StockFact> = Vec::with_capacity(products.len());
        for m in &products {
            if stock.iter().any(|s| s.product == m.name) {
                continue;
            }
            let found = self
                .tally
                .lookup(&m.name, Actor::system(ACTOR))
                .await
                .with_context(|| format!("looking up {:?}", m.name))?;
            stock.push(StockFact {
                product: m.name.clone(),
                sku: m.sku.clone(),
                as_of: found.item.as_ref().map(|a| a.as_of),
                age_secs: found.item.as_ref().map(|a| a.age_secs),
                item: found.item.map(|a| a.item),
                source: found.source,
                tally_error: found.tally_error,
            });
        }
        let now = self.clock.now();
        let history = self.history(&email, now).await?;
        let enrichment = Enrichment { stock, history };
        let row = EnrichmentRow {
            email_id: email_id.to_owned(),
            stock: serde_json::to_string(&enrichment.stock)?,
            history: serde_json::to_string(&enrichment.history)?,
            created_at: now.timestamp_micros(),
        };
        let mut tx = self.db.begin().await?;
        if crate::store::intent::email_erased(&mut tx, email_id).await? {
            return Ok(StepDone {
                note: Some("erased before enrichment".into()),
            });
        }
        let fresh = records::insert_enrichment(&mut tx, &row).await?;
        tx.commit().await?;
        if !fresh {
            // A twin run stored its answers first; those are the ones drafted from.
            let done = records::enrichment(&self.db, email_id)
                .await?
                .context("the enrichment vanished")?;
            let e = Enrichment::from_row(&done)?;
            return Ok(StepDone {
                note: Some(format!("already enriched: {}", e.summary())),
            });
        }
        Ok(StepDone {
            note: Some(enrichment.summary()),
        })
    }
}
