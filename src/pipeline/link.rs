//! The pipeline's link step (SPEC §2, step 4). Contact and company were
//! linked at ingestion; this step hands the identifiers the extract step
//! found and the intent that stands now to the CRM
//! ([`Crm::link_email`]), which validates and attaches them and creates or
//! advances the lead. Bad identifiers become failed validations, never a
//! failed step.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use pebble_core::audit::Actor;
use pebble_core::identifiers::IdKind;

use super::extract::Extraction;
use super::{StepDone, StepHandler};
use crate::crm::{Crm, EmailLink};
use crate::intent::{IntentError, IntentService};
use crate::store::steps as records;
use crate::store::{emails, Db};

/// The actor of the CRM changes the link step makes.
pub const ACTOR: &str = "pipeline:link";

pub struct LinkStep {
    db: Db,
    crm: Arc<Crm>,
    intent: Arc<IntentService>,
}

impl LinkStep {
    pub fn new(db: Db, crm: Arc<Crm>, intent: Arc<IntentService>) -> Self {
        LinkStep { db, crm, intent }
    }
}

fn kind(name: &str) -> IdKind {
    match name {
        "gstin" => IdKind::Gstin,
        "pan" => IdKind::Pan,
        "cin" => IdKind::Cin,
        "llpin" => IdKind::Llpin,
        _ => IdKind::Unknown,
    }
}

#[async_trait]
impl StepHandler for LinkStep {
    async fn run(&self, email_id: &str) -> anyhow::Result<StepDone> {
        if let Some(done) = records::link(&self.db, email_id).await? {
            return Ok(StepDone {
                note: Some(format!("already linked: {}", done.note)),
            });
        }
        let email = emails::email(&self.db, email_id)
            .await
            .context("reading the email")?
            .with_context(|| format!("email {email_id} is not stored"))?;
        if email.erased_at.is_some() {
            return Ok(StepDone {
                note: Some("erased before linking".into()),
            });
        }
        let Some(extraction) = records::extraction(&self.db, email_id)
            .await
            .context("reading the extraction")?
        else {
            return Ok(StepDone {
                note: Some("nothing extracted (erased before extraction)".into()),
            });
        };
        let found = Extraction::from_row(&extraction)?;
        let intent = match self.intent.decision(email_id).await {
            Ok((d, _)) => d.intent,
            Err(IntentError::NotFound) => {
                return Ok(StepDone {
                    note: Some("no classification recorded".into()),
                })
            }
            Err(e) => return Err(anyhow::Error::new(e).context("reading the classification")),
        };
        let ids: Vec<(IdKind, String)> = found
            .identifiers
            .iter()
            .map(|i| (kind(&i.kind), i.value.clone()))
            .collect();
        let (record, fresh) = self
            .crm
            .link_email(
                Actor::system(ACTOR),
                EmailLink {
                    email_id,
                    subject: &email.subject,
                    intent,
                    company_id: email.company_id.as_deref(),
                    contact_id: email.contact_id.as_deref(),
                    identifiers: &ids,
                },
            )
            .await
            .context("linking in the CRM")?;
        Ok(StepDone {
            note: Some(if fresh {
                record.note
            } else {
                format!("already linked: {}", record.note)
            }),
        })
    }
}
