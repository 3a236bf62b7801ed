//! Companies, contacts and the lead funnel. Every change that SPEC §3 names
//! an event for (`CompanyValidated`, `LeadCreated`, `LeadStageChanged`, and
//! the merges) is appended in the transaction of the change itself.
//!
//! Identifiers are validated offline by `pebble_core::identifiers` on every
//! create and update; an online registry can be plugged in behind
//! [`RegistryProvider`] (none by default) and is asked before the
//! transaction opens, so a slow registry never holds the write lock.

mod email;
mod funnel;
mod input;
mod link;

use std::sync::Arc;

use chrono::Datelike;
use futures::future::BoxFuture;
use pebble_core::audit::{Actor, EventType, NewEvent, StoredEvent};
use pebble_core::identifiers::{
    cross_check, detect, validate_cin, validate_gstin, validate_pan, CompanyIdentifiers, IdKind,
    Llpin,
};
use serde_json::json;

use crate::audit::{Audit, AuditError};
use crate::store::activity::{self, Filter, Page};
use crate::store::crm::{self as sql, Company, Contact, Lead, ListQuery, Note};
use crate::store::{Db, StoreError, Tx};

pub use email::{steps_forward, EmailLink, IdVerdict, LeadGoal};
pub use funnel::Stage;
pub use input::{CompanyInput, ContactInput, LeadInput, NoteInput, StageChange};
pub use link::{is_free_mail, link_sender, Linked};

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error("{field}: {detail}")]
    BadInput { field: String, detail: String },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<StoreError> for CrmError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => CrmError::NotFound,
            StoreError::NulByte => bad("body", "text must not contain NUL bytes"),
            StoreError::Conflict => CrmError::Conflict(
                "already exists (an e-mail address or domain belongs to another record)".into(),
            ),
            other => CrmError::Store(other),
        }
    }
}

pub(crate) fn bad(field: impl Into<String>, detail: impl Into<String>) -> CrmError {
    CrmError::BadInput {
        field: field.into(),
        detail: detail.into(),
    }
}

/// What an online registry (a GST or MCA lookup service) says about a
/// company's identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryVerdict {
    pub valid: bool,
    pub errors: Vec<String>,
}

/// An online registry provider. Pebble ships none: validation is offline
/// unless a deployment plugs one in.
pub trait RegistryProvider: Send + Sync {
    /// Recorded as `source` in `CompanyValidated`.
    fn source(&self) -> &str;
    fn verify<'a>(
        &'a self,
        ids: &'a CompanyIdentifiers,
    ) -> BoxFuture<'a, Result<RegistryVerdict, String>>;
}

/// The offline verdict on a company's identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// `unchecked` (no identifiers), `valid` or `failed`.
    pub status: &'static str,
    pub errors: Vec<String>,
}

/// Validate every identifier and cross-check them against each other.
pub fn assess(ids: &CompanyIdentifiers, current_year: i32) -> Assessment {
    if ids.pan.is_none() && ids.cin.is_none() && ids.gstins.is_empty() {
        return Assessment {
            status: "unchecked",
            errors: Vec::new(),
        };
    }
    let errors: Vec<String> = cross_check(ids, current_year)
        .iter()
        .map(ToString::to_string)
        .collect();
    Assessment {
        status: if errors.is_empty() { "valid" } else { "failed" },
        errors,
    }
}

/// The stored form of an identifier: its canonical form when it is valid,
/// otherwise the input as given, so a failed record shows what was entered.
fn canonical(kind: IdKind, value: &str, current_year: i32) -> String {
    let v = match kind {
        IdKind::Gstin => validate_gstin(value),
        IdKind::Pan => validate_pan(value),
        IdKind::Llpin => {
            return Llpin::parse(value)
                .map(|l| l.as_str().to_owned())
                .unwrap_or_else(|_| value.trim().to_owned())
        }
        _ => validate_cin(value, current_year),
    };
    if v.valid {
        v.normalized
    } else {
        value.trim().to_owned()
    }
}

fn identifiers(c: &Company) -> CompanyIdentifiers {
    CompanyIdentifiers {
        pan: c.pan.clone(),
        gstins: c.gstins.clone(),
        cin: c.cin.clone(),
        state: c.state.clone(),
    }
}

fn validated_event(
    actor: &Actor,
    company: &Company,
    source: &str,
    valid: bool,
    errors: &[String],
    at: chrono::DateTime<chrono::Utc>,
) -> NewEvent {
    NewEvent::new(
        EventType::CompanyValidated,
        actor.clone(),
        "company",
        company.id.clone(),
        json!({
            "company_id": company.id,
            "cin": company.cin,
            "pan": company.pan,
            "gstin": company.gstins.first(),
            "gstins": company.gstins,
            "source": source,
            "valid": valid,
            "errors": errors,
        }),
        at,
    )
}

/// A record with its notes and its history from the activity stream
/// (including that of the records merged into it).
pub struct Detail<T> {
    pub record: T,
    pub absorbed: Vec<String>,
    pub notes: Vec<Note>,
    pub history: Vec<StoredEvent>,
}

pub struct Crm {
    db: Db,
    audit: Arc<Audit>,
    registry: Option<Arc<dyn RegistryProvider>>,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Crm {
    pub fn new(db: Db, audit: Arc<Audit>, registry: Option<Arc<dyn RegistryProvider>>) -> Self {
        Crm {
            db,
            audit,
            registry,
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.audit.clock().now()
    }

    /// The year that bounds a CIN's year of incorporation.
    pub fn current_year(&self) -> i32 {
        self.now().year()
    }

    // ------------------------------------------------------------ companies

    /// Offline (and, when configured, online) verdicts, plus their events.
    async fn validation_events(&self, actor: &Actor, company: &mut Company) -> Vec<NewEvent> {
        let ids = identifiers(company);
        let verdict = assess(&ids, self.current_year());
        company.validation_status = verdict.status.to_owned();
        company.validation_errors = verdict.errors.clone();
        if verdict.status == "unchecked" {
            return Vec::new();
        }
        let now = self.now();
        let mut events = vec![validated_event(
            actor,
            company,
            "offline",
            verdict.status == "valid",
            &verdict.errors,
            now,
        )];
        if let Some(registry) = &self.registry {
            let online = registry
                .verify(&ids)
                .await
                .unwrap_or_else(|e| RegistryVerdict {
                    valid: false,
                    errors: vec![format!("registry unavailable: {e}")],
                });
            if !online.valid {
                company.validation_status = "failed".into();
                company
                    .validation_errors
                    .extend(online.errors.iter().cloned());
            }
            events.push(validated_event(
                actor,
                company,
                registry.source(),
                online.valid,
                &online.errors,
                now,
            ));
        }
        events
    }

    fn apply_company_input(&self, c: &mut Company, input: CompanyInput) -> Result<(), CrmError> {
        let input = input.checked()?;
        let year = self.current_year();
        c.name = input.name;
        c.domains = input.domains;
        c.gstins = input
            .gstins
            .iter()
            .map(|g| canonical(IdKind::Gstin, g, year))
            .collect();
        c.gstins.dedup();
        c.pan = input.pan.map(|p| canonical(IdKind::Pan, &p, year));
        c.cin = input.cin.map(|v| canonical(detect(&v), &v, year));
        c.address = input.address;
        c.state = input.state;
        Ok(())
    }

    pub async fn create_company(
        &self,
        actor: Actor,
        input: CompanyInput,
    ) -> Result<Company, CrmError> {
        let now = self.now().timestamp_micros();
        let mut c = Company {
            id: new_id(),
            name: String::new(),
            domains: Vec::new(),
            gstins: Vec::new(),
            pan: None,
            cin: None,
            address: None,
            state: None,
            validation_status: "unchecked".into(),
            validation_errors: Vec::new(),
            merged_into: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        self.apply_company_input(&mut c, input)?;
        let events = self.validation_events(&actor, &mut c).await;
        let mut tx = self.db.begin().await?;
        sql::insert_company(&mut tx, &c).await?;
        self.audit.append(&mut tx, &events).await?;
        self.audit.commit(tx).await?;
        Ok(c)
    }

    /// Replace a company's fields (a full update: absent optional fields are cleared).
    pub async fn update_company(
        &self,
        actor: Actor,
        id: &str,
        input: CompanyInput,
    ) -> Result<Company, CrmError> {
        let mut c = self.live_company(id).await?;
        self.apply_company_input(&mut c, input)?;
        c.updated_at = self.now().timestamp_micros();
        let events = self.validation_events(&actor, &mut c).await;
        let mut tx = self.db.begin().await?;
        live(sql::company_tx(&mut tx, id).await?, |c| {
            (c.merged_into.clone(), c.deleted_at)
        })?;
        sql::update_company(&mut tx, &c).await?;
        self.audit.append(&mut tx, &events).await?;
        self.audit.commit(tx).await?;
        Ok(c)
    }

    async fn live_company(&self, id: &str) -> Result<Company, CrmError> {
        live(sql::company(&self.db, id).await?, |c| {
            (c.merged_into.clone(), c.deleted_at)
        })
    }

    pub async fn company(&self, id: &str) -> Result<Detail<Company>, CrmError> {
        let record = sql::company(&self.db, id)
            .await?
            .filter(|c| c.deleted_at.is_none())
            .ok_or(CrmError::NotFound)?;
        let absorbed = sql::absorbed_companies(&self.db, id).await?;
        let notes = sql::notes(&self.db, "company", id).await?;
        let history = self.history("company", id, &absorbed).await?;
        Ok(Detail {
            record,
            absorbed,
            notes,
            history,
        })
    }

    pub async fn list_companies(&self, q: &ListQuery) -> Result<Vec<Company>, CrmError> {
        Ok(sql::list_companies(&self.db, q).await?)
    }

    /// Merge `duplicate` into `survivor`: the survivor takes the duplicate's
    /// domains, GSTINs, contacts, leads and notes and fills its own empty
    /// fields from it; the duplicate stays, pointing at the survivor, with
    /// its events untouched.
    pub async fn merge_companies(
        &self,
        actor: Actor,
        survivor_id: &str,
        duplicate_id: &str,
    ) -> Result<Company, CrmError> {
        if survivor_id == duplicate_id {
            return Err(bad("duplicate", "a company cannot be merged into itself"));
        }
        let mut survivor = self.live_company(survivor_id).await?;
        let mut duplicate = live(sql::company(&self.db, duplicate_id).await?, |c| {
            (c.merged_into.clone(), c.deleted_at)
        })
        .map_err(|e| match e {
            CrmError::NotFound => bad("duplicate", "no such company"),
            other => other,
        })?;
        let now = self.now();
        for d in duplicate.domains.drain(..) {
            if !survivor.domains.contains(&d) {
                survivor.domains.push(d);
            }
        }
        for g in &duplicate.gstins {
            if !survivor.gstins.contains(g) {
                survivor.gstins.push(g.clone());
            }
        }
        for (mine, theirs) in [
            (&mut survivor.pan, &duplicate.pan),
            (&mut survivor.cin, &duplicate.cin),
            (&mut survivor.address, &duplicate.address),
            (&mut survivor.state, &duplicate.state),
        ] {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        survivor.updated_at = now.timestamp_micros();
        duplicate.merged_into = Some(survivor.id.clone());
        duplicate.updated_at = now.timestamp_micros();
        let mut events = self.validation_events(&actor, &mut survivor).await;
        let payload = json!({"survivor_id": survivor.id, "merged_id": duplicate.id});
        for entity in [&duplicate.id, &survivor.id] {
            events.push(NewEvent::new(
                EventType::CompanyMerged,
                actor.clone(),
                "company",
                entity.clone(),
                payload.clone(),
                now,
            ));
        }
        let mut tx = self.db.begin().await?;
        for id in [survivor_id, duplicate_id] {
            live(sql::company_tx(&mut tx, id).await?, |c| {
                (c.merged_into.clone(), c.deleted_at)
            })?;
        }
        // The duplicate lets go of its domains before the survivor claims them.
        sql::update_company(&mut tx, &duplicate).await?;
        sql::update_company(&mut tx, &survivor).await?;
        sql::move_company_links(&mut tx, &duplicate.id, &survivor.id).await?;
        self.audit.append(&mut tx, &events).await?;
        self.audit.commit(tx).await?;
        Ok(survivor)
    }

    // ------------------------------------------------------------ contacts

    async fn check_company_ref(&self, tx: &mut Tx, id: &Option<String>) -> Result<(), CrmError> {
        if let Some(id) = id {
            live(sql::company_tx(tx, id).await?, |c| {
                (c.merged_into.clone(), c.deleted_at)
            })
            .map_err(|_| bad("company_id", "no such company (or it was merged)"))?;
        }
        Ok(())
    }

    pub async fn create_contact(&self, input: ContactInput) -> Result<Contact, CrmError> {
        let input = input.checked()?;
        let now = self.now().timestamp_micros();
        let c = Contact {
            id: new_id(),
            email: input.email,
            name: input.name,
            phone: input.phone,
            company_id: input.company_id,
            merged_into: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let mut tx = self.db.begin().await?;
        self.check_company_ref(&mut tx, &c.company_id).await?;
        sql::insert_contact(&mut tx, &c).await?;
        tx.commit().await?;
        Ok(c)
    }

    pub async fn update_contact(&self, id: &str, input: ContactInput) -> Result<Contact, CrmError> {
        let input = input.checked()?;
        let mut tx = self.db.begin().await?;
        let mut c = live(sql::contact_tx(&mut tx, id).await?, |c| {
            (c.merged_into.clone(), c.deleted_at)
        })?;
        self.check_company_ref(&mut tx, &input.company_id).await?;
        c.email = input.email;
        c.name = input.name;
        c.phone = input.phone;
        c.company_id = input.company_id;
        c.updated_at = self.now().timestamp_micros();
        sql::update_contact(&mut tx, &c).await?;
        tx.commit().await?;
        Ok(c)
    }

    pub async fn contact(&self, id: &str) -> Result<Detail<Contact>, CrmError> {
        let record = sql::contact(&self.db, id)
            .await?
            .filter(|c| c.deleted_at.is_none())
            .ok_or(CrmError::NotFound)?;
        let absorbed = sql::absorbed_contacts(&self.db, id).await?;
        let notes = sql::notes(&self.db, "contact", id).await?;
        let history = self.history("contact", id, &absorbed).await?;
        Ok(Detail {
            record,
            absorbed,
            notes,
            history,
        })
    }

    pub async fn list_contacts(&self, q: &ListQuery) -> Result<Vec<Contact>, CrmError> {
        Ok(sql::list_contacts(&self.db, q).await?)
    }

    pub async fn merge_contacts(
        &self,
        actor: Actor,
        survivor_id: &str,
        duplicate_id: &str,
    ) -> Result<Contact, CrmError> {
        if survivor_id == duplicate_id {
            return Err(bad("duplicate", "a contact cannot be merged into itself"));
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut survivor = live(sql::contact_tx(&mut tx, survivor_id).await?, |c| {
            (c.merged_into.clone(), c.deleted_at)
        })?;
        let mut duplicate = live(sql::contact_tx(&mut tx, duplicate_id).await?, |c| {
            (c.merged_into.clone(), c.deleted_at)
        })
        .map_err(|e| match e {
            CrmError::NotFound => bad("duplicate", "no such contact"),
            other => other,
        })?;
        if survivor.name.is_empty() {
            survivor.name.clone_from(&duplicate.name);
        }
        if survivor.phone.is_none() {
            survivor.phone.clone_from(&duplicate.phone);
        }
        if survivor.company_id.is_none() {
            survivor.company_id.clone_from(&duplicate.company_id);
        }
        survivor.updated_at = now.timestamp_micros();
        duplicate.merged_into = Some(survivor.id.clone());
        duplicate.updated_at = now.timestamp_micros();
        sql::update_contact(&mut tx, &duplicate).await?;
        sql::update_contact(&mut tx, &survivor).await?;
        sql::move_contact_links(&mut tx, &duplicate.id, &survivor.id).await?;
        let payload = json!({"survivor_id": survivor.id, "merged_id": duplicate.id});
        let events: Vec<NewEvent> = [&duplicate.id, &survivor.id]
            .into_iter()
            .map(|entity| {
                NewEvent::new(
                    EventType::ContactMerged,
                    actor.clone(),
                    "contact",
                    entity.clone(),
                    payload.clone(),
                    now,
                )
            })
            .collect();
        self.audit.append(&mut tx, &events).await?;
        self.audit.commit(tx).await?;
        Ok(survivor)
    }

    // ------------------------------------------------------------ leads

    /// A new lead at stage `new`. Without an owner, a Sales user creating it
    /// owns it; an owner must be an enabled Sales user.
    pub async fn create_lead(
        &self,
        actor: Actor,
        creator_is_sales: bool,
        input: LeadInput,
    ) -> Result<Lead, CrmError> {
        let input = input.checked()?;
        let now = self.now();
        let owner_id = input
            .owner_id
            .or_else(|| creator_is_sales.then(|| actor.id.clone()));
        let lead = Lead {
            id: new_id(),
            title: input.title,
            company_id: input.company_id,
            contact_id: input.contact_id,
            stage: Stage::New.as_str().into(),
            lost_reason: None,
            owner_id,
            source_email_id: input.source_email_id,
            created_at: now.timestamp_micros(),
            updated_at: now.timestamp_micros(),
        };
        let mut tx = self.db.begin().await?;
        self.check_company_ref(&mut tx, &Some(lead.company_id.clone()))
            .await?;
        if let Some(contact) = &lead.contact_id {
            live(sql::contact_tx(&mut tx, contact).await?, |c| {
                (c.merged_into.clone(), c.deleted_at)
            })
            .map_err(|_| bad("contact_id", "no such contact (or it was merged)"))?;
        }
        if let Some(owner) = &lead.owner_id {
            if !sql::user_has_role(&mut tx, owner, "sales").await? {
                return Err(bad("owner_id", "must be an enabled Sales user"));
            }
        }
        sql::insert_lead(&mut tx, &lead).await?;
        let event = NewEvent::new(
            EventType::LeadCreated,
            actor,
            "lead",
            lead.id.clone(),
            json!({
                "lead_id": lead.id,
                "company_id": lead.company_id,
                "contact_id": lead.contact_id,
                "owner_id": lead.owner_id,
                "source_email_id": lead.source_email_id,
                "from_stage": null,
                "to_stage": lead.stage,
            }),
            now,
        );
        self.audit.append(&mut tx, &[event]).await?;
        self.audit.commit(tx).await?;
        Ok(lead)
    }

    /// Move a lead along the funnel; only the transitions in [`Stage::can_move_to`].
    pub async fn change_stage(
        &self,
        actor: Actor,
        id: &str,
        change: StageChange,
    ) -> Result<Lead, CrmError> {
        let (to, reason) = change.checked()?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut lead = sql::lead_tx(&mut tx, id).await?.ok_or(CrmError::NotFound)?;
        let from: Stage = lead
            .stage
            .parse()
            .map_err(|_| CrmError::Store(StoreError::Refused("unknown stored stage".into())))?;
        if !from.can_move_to(to) {
            return Err(CrmError::Conflict(format!(
                "a lead cannot move from {} to {}; allowed: {}",
                from.as_str(),
                to.as_str(),
                from.next_allowed()
            )));
        }
        if !sql::set_lead_stage(
            &mut tx,
            id,
            from.as_str(),
            to.as_str(),
            reason.as_deref(),
            now.timestamp_micros(),
        )
        .await?
        {
            return Err(CrmError::Conflict(
                "the lead changed meanwhile; retry".into(),
            ));
        }
        let event = NewEvent::new(
            EventType::LeadStageChanged,
            actor,
            "lead",
            lead.id.clone(),
            json!({
                "lead_id": lead.id,
                "company_id": lead.company_id,
                "from_stage": from.as_str(),
                "to_stage": to.as_str(),
                "reason": reason,
            }),
            now,
        );
        self.audit.append(&mut tx, &[event]).await?;
        self.audit.commit(tx).await?;
        lead.stage = to.as_str().into();
        lead.lost_reason = reason;
        lead.updated_at = now.timestamp_micros();
        Ok(lead)
    }

    pub async fn lead(&self, id: &str) -> Result<Detail<Lead>, CrmError> {
        let record = sql::lead(&self.db, id).await?.ok_or(CrmError::NotFound)?;
        let notes = sql::notes(&self.db, "lead", id).await?;
        let history = self.history("lead", id, &[]).await?;
        Ok(Detail {
            record,
            absorbed: Vec::new(),
            notes,
            history,
        })
    }

    pub async fn list_leads(&self, q: &ListQuery) -> Result<Vec<Lead>, CrmError> {
        Ok(sql::list_leads(&self.db, q).await?)
    }

    // ------------------------------------------------------------ notes

    pub async fn add_note(&self, author: &str, input: NoteInput) -> Result<Note, CrmError> {
        let input = input.checked()?;
        let mut tx = self.db.begin().await?;
        let exists = match input.entity_type.as_str() {
            "company" => sql::company_tx(&mut tx, &input.entity_id)
                .await?
                .is_some_and(|c| c.merged_into.is_none() && c.deleted_at.is_none()),
            "contact" => sql::contact_tx(&mut tx, &input.entity_id)
                .await?
                .is_some_and(|c| c.merged_into.is_none() && c.deleted_at.is_none()),
            _ => sql::lead_tx(&mut tx, &input.entity_id).await?.is_some(),
        };
        if !exists {
            return Err(bad("entity_id", format!("no such {}", input.entity_type)));
        }
        let note = Note {
            id: new_id(),
            entity_type: input.entity_type,
            entity_id: input.entity_id,
            author_id: author.to_owned(),
            body: input.body,
            created_at: self.now().timestamp_micros(),
        };
        sql::insert_note(&mut tx, &note).await?;
        tx.commit().await?;
        Ok(note)
    }

    /// The events about `id` and about the records merged into it, in order.
    async fn history(
        &self,
        entity_type: &str,
        id: &str,
        absorbed: &[String],
    ) -> Result<Vec<StoredEvent>, CrmError> {
        let mut all = Vec::new();
        for entity_id in std::iter::once(id).chain(absorbed.iter().map(String::as_str)) {
            let filter = Filter {
                entity_type: Some(entity_type.to_owned()),
                entity_id: Some(entity_id.to_owned()),
                ..Filter::default()
            };
            all.extend(
                activity::search(&self.db, &filter, Page::OldestFirst { after: None }, 1000)
                    .await?,
            );
        }
        all.sort_by_key(|e| e.seq);
        Ok(all)
    }
}

/// A record that exists, is not deleted and was not merged away.
fn live<T>(
    record: Option<T>,
    state: impl Fn(&T) -> (Option<String>, Option<i64>),
) -> Result<T, CrmError> {
    let record = record.ok_or(CrmError::NotFound)?;
    match state(&record) {
        (_, Some(_)) => Err(CrmError::NotFound),
        (Some(survivor), None) => Err(CrmError::Conflict(format!(
            "this record was merged into {survivor}; change that one"
        ))),
        (None, None) => Ok(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_company_without_identifiers_is_unchecked_and_a_mismatch_fails() {
        let none = CompanyIdentifiers::default();
        assert_eq!(assess(&none, 2026).status, "unchecked");
        let ok = CompanyIdentifiers {
            pan: Some("AAPCA1234A".into()),
            ..Default::default()
        };
        let v = assess(&ok, 2026);
        assert_eq!((v.status, v.errors.len()), ("valid", 0), "{:?}", v.errors);
        let personal = CompanyIdentifiers {
            pan: Some("ABCPK1234A".into()),
            ..Default::default()
        };
        let v = assess(&personal, 2026);
        assert_eq!(v.status, "failed");
        assert!(v.errors[0].contains("holder type P"), "{:?}", v.errors);
    }

    #[test]
    fn identifiers_are_stored_canonical_when_valid_and_as_given_otherwise() {
        assert_eq!(canonical(IdKind::Pan, " aapca1234a ", 2026), "AAPCA1234A");
        assert_eq!(canonical(IdKind::Pan, "'; drop--", 2026), "'; drop--");
        assert_eq!(canonical(IdKind::Llpin, "aab 1234", 2026), "AAB-1234");
    }
}
