//! What the CRM does for one inbound email (the pipeline's link step, SPEC
//! §2 step 4). The sender's contact and company were linked at ingestion;
//! here the identifiers written in the email are validated and the valid
//! ones attached to the sender's company (`CompanyValidated`), the bad ones
//! recorded as failed validations, and for sales intents a lead is created
//! or moved forward (`LeadCreated`, `LeadStageChanged`).
//!
//! Everything for one email happens in one transaction with its
//! `email_links` record, so a step run again after a crash changes nothing:
//! it finds the record. A lead never moves backwards.

use pebble_core::audit::{Actor, EventType, NewEvent};
use pebble_core::identifiers::{
    validate_cin, validate_gstin, validate_llpin, validate_pan, IdKind,
};
use pebble_intent::Intent;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{assess, identifiers, live, new_id, Crm, CrmError, Stage};
use crate::store::crm::{self as sql, Company, Lead};
use crate::store::steps::{self as records, LinkRow};
use crate::store::Tx;

/// Longest lead title the link step writes (the CRM's limit).
const MAX_TITLE: usize = super::input::MAX_NAME;

/// The link step's request for one email.
#[derive(Clone, Debug)]
pub struct EmailLink<'a> {
    pub email_id: &'a str,
    pub subject: &'a str,
    pub intent: Intent,
    pub company_id: Option<&'a str>,
    pub contact_id: Option<&'a str>,
    /// Identifiers as written in the email.
    pub identifiers: &'a [(IdKind, String)],
}

/// One identifier from an email and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdVerdict {
    /// `gstin`, `pan`, `cin` or `llpin`.
    pub kind: String,
    pub value: String,
    /// Valid on its own and consistent with the company's other identifiers.
    pub valid: bool,
    pub errors: Vec<String>,
    /// Now (or already) on the sender's company.
    pub attached: bool,
    /// Why a valid identifier was not attached.
    pub note: Option<String>,
}

/// How far an intent moves the sender's lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadGoal {
    /// A product inquiry: an open lead (created at `new` when there is none).
    Open,
    /// A purchase order: the open lead (or a new one) is won.
    Won,
    /// An order follow-up: an order exists, so a lead at `quoted` (our
    /// quotation) is won; nothing else is touched, and nothing created — the
    /// follow-up may concern an older order than the lead.
    WonIfQuoted,
}

impl LeadGoal {
    pub fn for_intent(intent: Intent) -> Option<LeadGoal> {
        match intent {
            Intent::ProductInquiry => Some(LeadGoal::Open),
            Intent::PurchaseOrder => Some(LeadGoal::Won),
            Intent::OrderFollowup => Some(LeadGoal::WonIfQuoted),
            _ => None,
        }
    }
}

fn kind_name(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Gstin => "gstin",
        IdKind::Pan => "pan",
        IdKind::Cin => "cin",
        IdKind::Llpin => "llpin",
        IdKind::Unknown => "unknown",
    }
}

/// Position along the funnel; `lost` is off it.
fn rank(s: Stage) -> usize {
    match s {
        Stage::New => 0,
        Stage::Contacted => 1,
        Stage::Qualified => 2,
        Stage::Quoted => 3,
        Stage::Won => 4,
        Stage::Lost => usize::MAX,
    }
}

/// The stages from `from` (exclusive) to `to` (inclusive), one funnel step
/// at a time; empty when `to` is not ahead of `from`.
pub fn steps_forward(from: Stage, to: Stage) -> Vec<Stage> {
    if from == Stage::Lost || to == Stage::Lost || rank(to) <= rank(from) {
        return Vec::new();
    }
    Stage::ALL
        .into_iter()
        .filter(|s| *s != Stage::Lost && rank(*s) > rank(from) && rank(*s) <= rank(to))
        .collect()
}

fn lead_title(intent: Intent, subject: &str) -> String {
    let label = match intent {
        Intent::ProductInquiry => "Product inquiry",
        Intent::PurchaseOrder => "Purchase order",
        _ => "Order",
    };
    let subject = subject.trim();
    let subject = if subject.is_empty() {
        "(no subject)"
    } else {
        subject
    };
    format!("{label}: {subject}")
        .chars()
        .filter(|c| *c != '\0')
        .take(MAX_TITLE)
        .collect()
}

/// A failed validation of an identifier from an email, for the failed-
/// validations report (the same event and payload shape as a company's).
fn failed_event(
    actor: &Actor,
    email_id: &str,
    company: Option<&Company>,
    v: &IdVerdict,
    at: chrono::DateTime<chrono::Utc>,
) -> NewEvent {
    let field = |k: &[&str]| k.contains(&v.kind.as_str()).then(|| v.value.clone());
    let (entity_type, entity_id) = match company {
        Some(c) => ("company", c.id.clone()),
        None => ("email", email_id.to_owned()),
    };
    NewEvent::new(
        EventType::CompanyValidated,
        actor.clone(),
        entity_type,
        entity_id,
        json!({
            "company_id": company.map(|c| c.id.clone()),
            "cin": field(&["cin", "llpin"]),
            "pan": field(&["pan"]),
            "gstin": field(&["gstin"]),
            "source": "offline",
            "valid": false,
            "errors": v.errors,
            "email_id": email_id,
            "attached": false,
        }),
        at,
    )
}

impl Crm {
    /// Validate an email's identifiers against the sender's company, attach
    /// the good ones, and create or advance the lead its intent calls for.
    /// Returns the stored record and whether this call wrote it.
    pub async fn link_email(
        &self,
        actor: Actor,
        req: EmailLink<'_>,
    ) -> Result<(LinkRow, bool), CrmError> {
        if let Some(done) = records::link(&self.db, req.email_id).await? {
            return Ok((done, false));
        }
        let now = self.now();
        let year = self.current_year();
        let mut company = match req.company_id {
            Some(id) => match self.live_company(id).await {
                Ok(c) => Some(c),
                // Merged or deleted since ingestion: nothing to attach to.
                Err(CrmError::NotFound | CrmError::Conflict(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };

        // PAN first, then CIN/LLPIN, then GSTINs: the cross-checks of a
        // GSTIN against the company's PAN then see the PAN of this email.
        let mut ids: Vec<&(IdKind, String)> = req.identifiers.iter().collect();
        ids.sort_by_key(|(k, _)| match k {
            IdKind::Pan => 0,
            IdKind::Cin | IdKind::Llpin => 1,
            _ => 2,
        });
        let mut verdicts = Vec::new();
        let mut changed = false;
        for (kind, value) in ids {
            let v = match kind {
                IdKind::Gstin => validate_gstin(value),
                IdKind::Pan => validate_pan(value),
                IdKind::Cin => validate_cin(value, year),
                IdKind::Llpin => validate_llpin(value),
                IdKind::Unknown => continue,
            };
            let mut verdict = IdVerdict {
                kind: kind_name(*kind).into(),
                value: value.trim().to_owned(),
                valid: v.valid,
                errors: v.errors.iter().map(ToString::to_string).collect(),
                attached: false,
                note: None,
            };
            if !v.valid {
                verdicts.push(verdict);
                continue;
            }
            let Some(c) = company.as_mut() else {
                verdict.note = Some("the sender has no company (a free-mail address)".into());
                verdicts.push(verdict);
                continue;
            };
            let canon = v.normalized;
            let mut candidate = c.clone();
            let held = match kind {
                IdKind::Gstin if c.gstins.contains(&canon) => Some("already on record"),
                IdKind::Gstin => {
                    candidate.gstins.push(canon);
                    None
                }
                IdKind::Pan => match &c.pan {
                    Some(p) if *p == canon => Some("already on record"),
                    Some(_) => Some("the company has another PAN on record"),
                    None => {
                        candidate.pan = Some(canon);
                        None
                    }
                },
                _ => match &c.cin {
                    Some(p) if *p == canon => Some("already on record"),
                    Some(_) => Some("the company has another CIN/LLPIN on record"),
                    None => {
                        candidate.cin = Some(canon);
                        None
                    }
                },
            };
            if let Some(why) = held {
                verdict.attached = why == "already on record";
                verdict.note = Some(why.into());
                verdicts.push(verdict);
                continue;
            }
            // Attach only what does not contradict the company's other
            // identifiers: a new cross-check error is a failed validation.
            let before = assess(&identifiers(c), year).errors;
            let after = assess(&identifiers(&candidate), year).errors;
            let new_errors: Vec<String> =
                after.into_iter().filter(|e| !before.contains(e)).collect();
            if new_errors.is_empty() {
                *c = candidate;
                changed = true;
                verdict.attached = true;
            } else {
                verdict.valid = false;
                verdict.errors = new_errors;
            }
            verdicts.push(verdict);
        }

        let mut events = Vec::new();
        if let (true, Some(c)) = (changed, company.as_mut()) {
            c.updated_at = now.timestamp_micros();
            for mut e in self.validation_events(&actor, c).await {
                e.payload["email_id"] = json!(req.email_id);
                events.push(e);
            }
        }
        for v in verdicts.iter().filter(|v| !v.valid) {
            events.push(failed_event(&actor, req.email_id, company.as_ref(), v, now));
        }

        let mut tx = self.db.begin().await?;
        if changed {
            if let Some(c) = &company {
                // Merged or deleted meanwhile: the person's change wins.
                live(sql::company_tx(&mut tx, &c.id).await?, |c| {
                    (c.merged_into.clone(), c.deleted_at)
                })?;
                sql::update_company(&mut tx, c).await?;
            }
        }
        let goal = LeadGoal::for_intent(req.intent);
        let (lead, lead_from, lead_to, lead_note) = match (goal, &company) {
            (None, _) => (None, None, None, format!("no lead for {}", req.intent)),
            (Some(_), None) => (
                None,
                None,
                None,
                "no lead: the sender has no company".to_owned(),
            ),
            (Some(goal), Some(c)) => {
                self.move_lead(&mut tx, &actor, &req, goal, c, &mut events, now)
                    .await?
            }
        };
        let attached = verdicts.iter().filter(|v| v.attached).count();
        let failed = verdicts.iter().filter(|v| !v.valid).count();
        let row = LinkRow {
            email_id: req.email_id.to_owned(),
            company_id: company.as_ref().map(|c| c.id.clone()),
            identifiers: serde_json::to_string(&verdicts).expect("verdicts serialise"),
            lead_id: lead,
            lead_from,
            lead_to,
            note: format!(
                "{} identifier(s): {attached} on the company, {failed} failed; {lead_note}",
                verdicts.len()
            ),
            created_at: now.timestamp_micros(),
        };
        if !records::insert_link(&mut tx, &row).await? {
            // Another run linked this email first: its changes stand, ours go.
            drop(tx);
            let done = records::link(&self.db, req.email_id)
                .await?
                .ok_or(CrmError::NotFound)?;
            return Ok((done, false));
        }
        self.audit.append(&mut tx, &events).await?;
        self.audit.commit(tx).await?;
        Ok((row, true))
    }

    /// Create or advance the company's lead toward `goal`, in `tx`; returns
    /// (lead id, stage before, stage after, what was done).
    #[allow(clippy::too_many_arguments)]
    async fn move_lead(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        req: &EmailLink<'_>,
        goal: LeadGoal,
        company: &Company,
        events: &mut Vec<NewEvent>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(Option<String>, Option<String>, Option<String>, String), CrmError> {
        let open = records::open_leads_tx(tx, &company.id).await?;
        let target = match goal {
            LeadGoal::Open => Stage::New,
            LeadGoal::Won | LeadGoal::WonIfQuoted => Stage::Won,
        };
        let (mut lead, created): (Lead, bool) = match (open.into_iter().next(), goal) {
            (Some(l), LeadGoal::WonIfQuoted) if l.stage != Stage::Quoted.as_str() => {
                let note = format!("lead {} left at {} (no quotation to win)", l.id, l.stage);
                return Ok((Some(l.id), Some(l.stage.clone()), Some(l.stage), note));
            }
            (None, LeadGoal::WonIfQuoted) => {
                return Ok((None, None, None, "no open lead to follow up".into()))
            }
            (Some(l), _) => (l, false),
            (None, _) => {
                let contact_id = match req.contact_id {
                    Some(id) => sql::contact_tx(tx, id)
                        .await?
                        .filter(|c| c.merged_into.is_none() && c.deleted_at.is_none())
                        .map(|c| c.id),
                    None => None,
                };
                let l = Lead {
                    id: new_id(),
                    title: lead_title(req.intent, req.subject),
                    company_id: company.id.clone(),
                    contact_id,
                    stage: Stage::New.as_str().into(),
                    lost_reason: None,
                    owner_id: None,
                    source_email_id: Some(req.email_id.to_owned()),
                    created_at: now.timestamp_micros(),
                    updated_at: now.timestamp_micros(),
                };
                sql::insert_lead(tx, &l).await?;
                events.push(NewEvent::new(
                    EventType::LeadCreated,
                    actor.clone(),
                    "lead",
                    l.id.clone(),
                    json!({
                        "lead_id": l.id,
                        "company_id": l.company_id,
                        "contact_id": l.contact_id,
                        "owner_id": null,
                        "source_email_id": l.source_email_id,
                        "from_stage": null,
                        "to_stage": l.stage,
                        "email_id": req.email_id,
                        "intent": req.intent.as_str(),
                    }),
                    now,
                ));
                (l, true)
            }
        };
        let start: Stage = lead
            .stage
            .parse()
            .map_err(|_| CrmError::Conflict(format!("lead {} has an unknown stage", lead.id)))?;
        let mut from = start;
        for to in steps_forward(start, target) {
            if !sql::set_lead_stage(
                tx,
                &lead.id,
                from.as_str(),
                to.as_str(),
                None,
                now.timestamp_micros(),
            )
            .await?
            {
                return Err(CrmError::Conflict(
                    "the lead changed meanwhile; retry".into(),
                ));
            }
            events.push(NewEvent::new(
                EventType::LeadStageChanged,
                actor.clone(),
                "lead",
                lead.id.clone(),
                json!({
                    "lead_id": lead.id,
                    "company_id": lead.company_id,
                    "from_stage": from.as_str(),
                    "to_stage": to.as_str(),
                    "reason": null,
                    "email_id": req.email_id,
                    "intent": req.intent.as_str(),
                }),
                now,
            ));
            from = to;
        }
        lead.stage = from.as_str().into();
        let note = match (created, from == start) {
            (true, true) => format!("lead {} created", lead.id),
            (true, false) => format!("lead {} created and moved to {}", lead.id, from.as_str()),
            (false, true) => format!("lead {} already at {}", lead.id, from.as_str()),
            (false, false) => format!(
                "lead {} moved from {} to {}",
                lead.id,
                start.as_str(),
                from.as_str()
            ),
        };
        let before = (!created).then(|| start.as_str().to_owned());
        Ok((Some(lead.id), before, Some(lead.stage), note))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leads_only_move_forward_one_funnel_stage_at_a_time() {
        use Stage::*;
        assert_eq!(
            steps_forward(New, Won),
            vec![Contacted, Qualified, Quoted, Won]
        );
        assert_eq!(steps_forward(Quoted, Won), vec![Won]);
        assert!(steps_forward(Won, New).is_empty());
        assert!(steps_forward(Qualified, New).is_empty());
        assert!(steps_forward(Lost, Won).is_empty());
        assert!(steps_forward(New, New).is_empty());
        for pair in steps_forward(New, Won).windows(2) {
            assert!(pair[0].can_move_to(pair[1]));
        }
    }

    #[test]
    fn sales_intents_set_a_lead_goal_and_others_none() {
        assert_eq!(
            LeadGoal::for_intent(Intent::ProductInquiry),
            Some(LeadGoal::Open)
        );
        assert_eq!(
            LeadGoal::for_intent(Intent::PurchaseOrder),
            Some(LeadGoal::Won)
        );
        assert_eq!(
            LeadGoal::for_intent(Intent::OrderFollowup),
            Some(LeadGoal::WonIfQuoted)
        );
        for i in [
            Intent::Payment,
            Intent::Complaint,
            Intent::Spam,
            Intent::Other,
        ] {
            assert_eq!(LeadGoal::for_intent(i), None);
        }
        assert_eq!(
            lead_title(Intent::ProductInquiry, "  "),
            "Product inquiry: (no subject)"
        );
    }
}
