//! The pipeline's `draft` step: load the email and the decision the classify
//! step recorded for it, and hand them to [`Drafts::generate`] (which drafts
//! an email once, and nothing for spam, vendor offers or other).
//!
//! The intent is the one that stands now (a person's override wins over the
//! model's), and the products are those the classifier found in the email.
//! Stock and the customer's history are what the enrich step stored for the
//! email (Tally live, or the cache with its age); a product it has no answer
//! for is read from the cache by [`Drafts::gather`]. The reply goes to the
//! email's `Reply-To` when it has one.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{DraftError, DraftInput, Drafts, EmailRef};
use crate::intent::{IntentError, IntentService};
use crate::pipeline::enrich::Enrichment;
use crate::pipeline::{StepDone, StepHandler};
use crate::store::{emails, steps, Db};

pub struct DraftStep {
    drafts: Arc<Drafts>,
    db: Db,
    intent: Arc<IntentService>,
}

impl DraftStep {
    pub fn new(drafts: Arc<Drafts>, db: Db, intent: Arc<IntentService>) -> DraftStep {
        DraftStep { drafts, db, intent }
    }
}

#[async_trait]
impl StepHandler for DraftStep {
    async fn run(&self, email_id: &str) -> anyhow::Result<StepDone> {
        let e = emails::email(&self.db, email_id)
            .await
            .context("reading the email")?
            .with_context(|| format!("email {email_id} is not stored"))?;
        let Some(from) = e.from_addr.clone().filter(|f| !f.trim().is_empty()) else {
            return Ok(StepDone {
                note: Some("no sender address to reply to".into()),
            });
        };
        let decision = match self.intent.decision(email_id).await {
            Ok((d, _)) => d,
            // The classify step records nothing only for an email erased
            // before it ran.
            Err(IntentError::NotFound) => {
                return Ok(StepDone {
                    note: Some("no classification recorded".into()),
                })
            }
            Err(e) => return Err(anyhow::Error::new(e).context("reading the classification")),
        };
        let enrichment = match steps::enrichment(&self.db, email_id)
            .await
            .context("reading the enrichment")?
        {
            Some(r) => Some(Enrichment::from_row(&r)?),
            None => None,
        };
        let (stock, absent, history) = match enrichment {
            Some(en) => (
                en.stock.iter().filter_map(|s| s.answer()).collect(),
                en.stock
                    .iter()
                    .filter(|s| s.said_absent())
                    .map(|s| s.sku.clone())
                    .collect(),
                en.history,
            ),
            None => (Vec::new(), Vec::new(), None),
        };
        let mut references: Vec<String> = serde_json::from_str(&e.refs).unwrap_or_default();
        if references.is_empty() {
            references.extend(e.in_reply_to.clone());
        }
        let input = DraftInput {
            email: EmailRef {
                id: e.id,
                stream: e.stream,
                message_id: (!e.message_id_derived).then_some(e.message_id),
                from_addr: from,
                from_name: e.from_name,
                reply_to: e.reply_to,
                subject: e.subject,
                body_text: e.body_text,
                received_at: e.received_at,
                references,
            },
            intent: decision.intent,
            products: decision.products(),
            company_id: e.company_id,
            contact_id: e.contact_id,
            assignee_id: None,
            stock,
            absent,
            history,
        };
        let note = match self.drafts.generate(&input, None).await {
            Ok(Some(d)) => format!("draft {} ({})", d.id, decision.intent),
            Ok(None) => format!("no draft for {}", decision.intent),
            // An erased email's text is a placeholder: nothing to reply to.
            Err(DraftError::Erased) => "erased before it was drafted".into(),
            Err(e) => return Err(anyhow::Error::new(e).context("drafting the reply")),
        };
        Ok(StepDone { note: Some(note) })
    }
}
