//! The pipeline's `draft` step: load the email, know its intent and the
//! products in it, and hand them to [`Drafts::generate`] (which drafts an
//! email once, and nothing for spam, vendor offers or other).
//!
//! Until the classify and extract steps store their records, this step asks
//! the embedded intent model and matches products against the catalogue
//! cache itself, with the same `pebble_intent::Classifier` those steps use.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Datelike;
use pebble_intent::classify::Classifier;

use super::{DraftInput, Drafts, EmailRef};
use crate::clock::Clock;
use crate::pipeline::{StepDone, StepHandler};
use crate::store::{emails, tally as cache, Db};

pub struct DraftStep {
    drafts: Arc<Drafts>,
    db: Db,
    clock: Arc<dyn Clock>,
    /// The classifier for the catalogue as of a sync (its time, µs): rebuilt
    /// only when the cache changes.
    classifier: Mutex<Option<(Option<i64>, Arc<Classifier>)>>,
}

impl DraftStep {
    pub fn new(drafts: Arc<Drafts>, db: Db, clock: Arc<dyn Clock>) -> DraftStep {
        DraftStep {
            drafts,
            db,
            clock,
            classifier: Mutex::new(None),
        }
    }

    async fn classifier(&self) -> anyhow::Result<Arc<Classifier>> {
        let synced = cache::sync_state(&self.db).await?.last_success_at;
        if let Some((at, c)) = self.classifier.lock().expect("lock").as_ref() {
            if *at == synced {
                return Ok(c.clone());
            }
        }
        let catalog: Vec<_> = cache::all(&self.db)
            .await?
            .into_iter()
            .map(|c| c.item)
            .collect();
        // The embedded model is read when first needed, not at every start.
        let built = Arc::new(Classifier::new(crate::intent::default_model()?, &catalog));
        *self.classifier.lock().expect("lock") = Some((synced, built.clone()));
        Ok(built)
    }
}

#[async_trait]
impl StepHandler for DraftStep {
    async fn run(&self, email_id: &str) -> anyhow::Result<StepDone> {
        let Some(e) = emails::email(&self.db, email_id).await? else {
            anyhow::bail!("email {email_id} is not stored");
        };
        let Some(from) = e.from_addr.clone().filter(|f| !f.trim().is_empty()) else {
            return Ok(StepDone {
                note: Some("no sender address to reply to".into()),
            });
        };
        let classifier = self.classifier().await?;
        let year = self.clock.now().year();
        let c = classifier.classify(&e.subject, &e.body_text, year);
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
                reply_to: None,
                subject: e.subject,
                body_text: e.body_text,
                received_at: e.received_at,
                references,
            },
            intent: c.intent,
            products: c.entities.products,
            company_id: e.company_id,
            contact_id: e.contact_id,
            assignee_id: None,
            stock: Vec::new(),
        };
        let note = match self.drafts.generate(&input, None).await? {
            Some(d) => format!("draft {} ({})", d.id, c.intent),
            None => format!("no draft for {}", c.intent),
        };
        Ok(StepDone { note: Some(note) })
    }
}
