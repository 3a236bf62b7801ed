//! The pipeline's classify step (SPEC §2, step 2): every stored email gets
//! one recorded decision from the intent service. The service returns the
//! recorded decision when there is one, so a step run again after a crash
//! records nothing twice.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{IntentError, IntentService};
use crate::pipeline::{StepDone, StepHandler};
use crate::store::{emails, Db};

pub struct ClassifyStep {
    db: Db,
    intent: Arc<IntentService>,
}

impl ClassifyStep {
    pub fn new(db: Db, intent: Arc<IntentService>) -> Self {
        ClassifyStep { db, intent }
    }
}

#[async_trait]
impl StepHandler for ClassifyStep {
    async fn run(&self, email_id: &str) -> anyhow::Result<StepDone> {
        let email = emails::email(&self.db, email_id)
            .await
            .context("reading the email")?
            .with_context(|| format!("email {email_id} is not stored"))?;
        match self
            .intent
            .classify_email(&email.id, &email.subject, &email.body_text)
            .await
        {
            Ok(d) => Ok(StepDone {
                note: Some(format!(
                    "{} ({:.2}) by {}",
                    d.intent, d.confidence, d.decided_by
                )),
            }),
            // An erased email's text is gone; a decision on the placeholder
            // would be noise in the review queue and in drift.
            Err(IntentError::Erased) => Ok(StepDone {
                note: Some("erased before it was classified".into()),
            }),
            Err(e) => Err(anyhow::Error::new(e).context("classifying the email")),
        }
    }
}
