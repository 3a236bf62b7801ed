//! Reply drafts (SPEC §2 steps 6–7, §4): generated from an email, its
//! intent, the products found in it and the facts gathered for them; stored
//! with those facts; reviewed by Sales or Admin, who approve (possibly after
//! editing; the edit is kept as a diff) or reject with a reason. Approval
//! queues the reply in the outbox (`crate::outbox`).
//!
//! The pipeline's draft step calls [`Drafts::generate`]; so does a person
//! who asks for a draft of an email the pipeline does not draft (spam,
//! vendor offers, other).

pub mod facts;
pub mod llm;
pub mod numbers;
pub mod render;
pub mod step;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use pebble_core::audit::{Actor, EventType, NewEvent};
use pebble_intent::products::ProductMention;
use pebble_intent::Intent;
use serde::Serialize;
use serde_json::json;
use similar::{ChangeTag, TextDiff};
use tracing::Instrument;

use crate::audit::{Audit, AuditError};
use crate::clock::Clock;
use crate::config::Settings;
use crate::llm::{ChatClient, LlmConfig};
use crate::metrics::drafts::GeneratedLabels;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxError};
use crate::store::drafts::{self as sql, Draft, DraftFilter, Edit, TemplateVersion};
use crate::store::{crm, Db, StoreError};
use crate::tally::{StockAnswer, Tally};
use facts::{BusinessTerms, Customer, EmailFacts, FactSource, Facts, Named};

/// The generator recorded for template drafts.
pub const TEMPLATE: &str = "template";
/// The metric label of LLM drafts; their recorded generator is `llm:<model>`,
/// the model as the endpoint names it.
pub const LLM: &str = "llm";
/// Longest reviewed text and rejection reason accepted.
const MAX_TEXT_CHARS: usize = 100_000;
const MAX_REASON_CHARS: usize = 2_000;
/// References kept in a reply's `References` header (the oldest and the newest).
const MAX_REFERENCES: usize = 20;

/// The email a draft answers, as the pipeline holds it.
#[derive(Clone, Debug, Default)]
pub struct EmailRef {
    pub id: String,
    pub stream: String,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub from_addr: String,
    pub from_name: Option<String>,
    /// Where replies should go, when the sender asked (`Reply-To`).
    pub reply_to: Option<String>,
    pub subject: String,
    pub body_text: String,
    /// Receipt time, µs since the epoch.
    pub received_at: i64,
    /// The original's `References` (then its `In-Reply-To`), without angle brackets.
    pub references: Vec<String>,
}

/// Everything the draft step knows about an email.
#[derive(Clone, Debug)]
pub struct DraftInput {
    pub email: EmailRef,
    pub intent: Intent,
    pub products: Vec<ProductMention>,
    pub company_id: Option<String>,
    pub contact_id: Option<String>,
    /// Who should review the draft (the lead's owner), when known.
    pub assignee_id: Option<String>,
    /// Answers the enrich step already got from Tally (live or cache); items
    /// without one are read from the cache.
    pub stock: Vec<StockAnswer>,
    /// SKUs Tally, asked live, said it does not have: the cache's older
    /// figures for them are not stated.
    pub absent: Vec<String>,
    /// The customer's CRM history the enrich step gathered, if it did.
    pub history: Option<facts::History>,
}

#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("{field}: {detail}")]
    BadInput { field: String, detail: String },
    #[error("not found")]
    NotFound,
    /// The email was erased while it was being drafted: nothing to reply to.
    #[error("the email was erased")]
    Erased,
    #[error("{0}")]
    Conflict(String),
    /// The rendered text states a number its facts do not hold (a bug, never
    /// sent to a reviewer).
    #[error("the draft states numbers without a source: {0:?}")]
    Unsourced(Vec<String>),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<StoreError> for DraftError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => DraftError::NotFound,
            StoreError::NulByte => bad("text", "must not contain NUL bytes"),
            other => DraftError::Store(other),
        }
    }
}

fn bad(field: impl Into<String>, detail: impl Into<String>) -> DraftError {
    DraftError::BadInput {
        field: field.into(),
        detail: detail.into(),
    }
}

/// A template as Admin sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    pub key: String,
    pub body: String,
    /// 0 = the built-in template, never changed.
    pub version: i64,
    pub builtin: bool,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

/// Pending drafts and response times, for dashboards.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub pending: Vec<PendingCount>,
    pub response_by_user: Vec<ResponseTimes>,
    pub response_by_stream: Vec<ResponseTimes>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PendingCount {
    pub stream: String,
    pub assignee_id: Option<String>,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ResponseTimes {
    /// A user id (the approver) or a stream.
    pub key: String,
    pub replies: usize,
    pub p50_secs: f64,
    pub p95_secs: f64,
}

pub struct Drafts {
    db: Db,
    audit: Arc<Audit>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    tally: Arc<Tally>,
    outbox: Arc<Outbox>,
    terms: BusinessTerms,
    /// Set when `draft_llm` is on: drafts are asked of it first.
    llm: Option<llm::LlmDrafter>,
}

impl Drafts {
    pub fn new(
        settings: &Settings,
        db: Db,
        audit: Arc<Audit>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        tally: Arc<Tally>,
        outbox: Arc<Outbox>,
    ) -> anyhow::Result<Drafts> {
        let llm = match (settings.draft_llm, LlmConfig::from_settings(settings)?) {
            (false, _) => None,
            (true, Some(c)) => Some(llm::LlmDrafter::new(ChatClient::new(c)?)),
            (true, None) => anyhow::bail!(
                "draft_llm: drafting by LLM needs an endpoint in llm_url (and llm_model)"
            ),
        };
        Ok(Drafts {
            db,
            audit,
            clock,
            metrics,
            tally,
            outbox,
            terms: BusinessTerms::from_settings(settings)?,
            llm,
        })
    }

    /// The facts for a draft: stock answers the enrich step got, else the
    /// catalogue cache; the customer from the CRM, else the email.
    pub async fn gather(&self, input: &DraftInput) -> Result<Facts, DraftError> {
        let mut items = Vec::with_capacity(input.products.len());
        for m in &input.products {
            let given = input
                .stock
                .iter()
                .find(|a| a.item.tally_name == m.name || a.item.sku == m.sku)
                .cloned();
            let answer = match given {
                Some(a) => Some(a),
                None if input.absent.contains(&m.sku) => None,
                None => match self.tally.cached(&m.name).await? {
                    Some(a) => Some(a),
                    None => self.tally.cached(&m.sku).await?,
                },
            };
            items.push(facts::item(m, answer.as_ref(), &self.terms));
        }
        let totals = facts::totals(&items);
        let e = &input.email;
        Ok(Facts {
            email: EmailFacts {
                id: e.id.clone(),
                from: e.from_addr.clone(),
                subject: e.subject.clone(),
                received_at: DateTime::from_timestamp_micros(e.received_at).unwrap_or_default(),
            },
            customer: self.customer(input).await?,
            business: facts::Business {
                name: self.terms.name.clone(),
                signature: self.terms.signature.clone(),
                terms: self.terms.terms.clone(),
                source: FactSource::Config,
            },
            items,
            totals,
            references: facts::references(&e.subject, &e.body_text),
            history: input.history.clone(),
        })
    }

    async fn customer(&self, input: &DraftInput) -> Result<Customer, DraftError> {
        let usable = |n: &str| {
            let n = n.trim();
            (!n.is_empty() && !n.contains('@')).then(|| n.to_owned())
        };
        let mut name = None;
        if let Some(id) = &input.contact_id {
            if let Some(c) = crm::contact(&self.db, id).await? {
                name = usable(&c.name).map(|value| Named {
                    value,
                    source: FactSource::Crm,
                });
            }
        }
        if name.is_none() {
            name = input
                .email
                .from_name
                .as_deref()
                .and_then(usable)
                .map(|value| Named {
                    value,
                    source: FactSource::Email,
                });
        }
        let mut company = None;
        if let Some(id) = &input.company_id {
            company = crm::company(&self.db, id).await?.map(|c| Named {
                value: c.name,
                source: FactSource::Crm,
            });
        }
        Ok(Customer { name, company })
    }

    /// The template in force for a key: Admin's latest version, else built in.
    async fn template(&self, key: &str) -> Result<(i64, String), DraftError> {
        let builtin = render::builtin(key).ok_or(DraftError::NotFound)?;
        Ok(match sql::template(&self.db, key).await? {
            Some(TemplateVersion {
                version,
                body: Some(body),
                ..
            }) => (version, body),
            Some(t) => (t.version, builtin.to_owned()),
            None => (0, builtin.to_owned()),
        })
    }

    /// Draft a reply and store it. The pipeline (`requested_by` none) drafts
    /// an email once, and nothing for spam, vendor offers or other; a person
    /// may ask for a draft of any email. Returns `None` when no draft is due.
    pub async fn generate(
        &self,
        input: &DraftInput,
        requested_by: Option<&str>,
    ) -> Result<Option<Draft>, DraftError> {
        let key = match (render::key_for(input.intent), requested_by) {
            (Some(k), _) => k,
            (None, Some(_)) => "general",
            (None, None) => return Ok(None),
        };
        if requested_by.is_none() {
            if let Some(d) = sql::pipeline_draft(&self.db, &input.email.id).await? {
                return Ok(Some(d));
            }
        }
        let to = input
            .email
            .reply_to
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or(&input.email.from_addr)
            .trim()
            .to_owned();
        if to.parse::<lettre::Address>().is_err() {
            return Err(bad(
                "from",
                format!("{to:?} is not an address a reply can go to"),
            ));
        }
        let started = Instant::now();
        let made = self.compose(input, key).await;
        let (version, template_body, facts) = match made {
            Ok(m) => m,
            Err(e) => {
                self.count(TEMPLATE, "failed");
                tracing::error!(email_id = input.email.id, error = %e, "draft generation failed");
                return Err(e);
            }
        };
        // The template's draft is made first either way: it is what the
        // reviewer gets whenever the LLM's is not usable.
        let (generator, body, fallback) = match self.ask_llm(input, key, &facts).await {
            Some(Ok(d)) => (format!("{LLM}:{}", d.model), d.text, None),
            Some(Err(why)) => (TEMPLATE.to_owned(), template_body, Some(why)),
            None => (TEMPLATE.to_owned(), template_body, None),
        };
        let elapsed = started.elapsed();
        let now = self.clock.now();
        let draft = Draft {
            id: uuid::Uuid::new_v4().to_string(),
            email_id: input.email.id.clone(),
            stream: input.email.stream.clone(),
            intent: input.intent.as_str().to_owned(),
            status: "pending".into(),
            generator: generator.clone(),
            template_version: version,
            to_addr: to,
            to_name: input
                .email
                .from_name
                .clone()
                .filter(|n| !n.trim().is_empty()),
            subject: reply_subject(&input.email.subject),
            in_reply_to: input.email.message_id.clone(),
            refs: serde_json::to_string(&reply_references(&input.email))
                .expect("strings serialise"),
            body,
            final_body: None,
            facts: serde_json::to_string(&facts).expect("facts serialise"),
            latency_us: i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX),
            company_id: input.company_id.clone(),
            contact_id: input.contact_id.clone(),
            assignee_id: input.assignee_id.clone(),
            requested_by: requested_by.map(str::to_owned),
            received_at: input.email.received_at,
            created_at: now.timestamp_micros(),
            reviewed_by: None,
            reviewed_at: None,
            reject_reason: None,
            edits_made: None,
            sent_at: None,
        };
        let mut tx = self.db.begin().await?;
        if !sql::insert(&mut tx, &draft).await? {
            // Another run of the step drafted this email first.
            drop(tx);
            return Ok(sql::pipeline_draft(&self.db, &input.email.id).await?);
        }
        // Checked after the insert, in its transaction: an erasure of this
        // email either committed before (the draft is dropped) or runs after
        // and empties it.
        if crate::store::intent::email_erased(&mut tx, &input.email.id).await? {
            return Err(DraftError::Erased);
        }
        let actor = match requested_by {
            Some(u) => Actor::user(u),
            None => Actor::ai_agent(format!("drafter:{generator}")),
        };
        let mut payload = json!({
            "draft_id": draft.id,
            "email_id": draft.email_id,
            "generator": draft.generator,
            "latency_ms": elapsed.as_secs_f64() * 1000.0,
            "intent": draft.intent,
            "template": key,
            "template_version": version,
            "requested_by": requested_by,
        });
        if let Some(why) = &fallback {
            payload["fallback_reason"] = why.reason().into();
            payload["llm_error"] = truncate(&why.to_string(), MAX_LLM_ERROR_CHARS).into();
        }
        self.audit
            .append(
                &mut tx,
                &[NewEvent::new(
                    EventType::DraftGenerated,
                    actor,
                    "draft",
                    &draft.id,
                    payload,
                    now,
                )],
            )
            .await?;
        self.audit.commit(tx).await?;
        self.metrics
            .drafts
            .generation_latency
            .observe(elapsed.as_secs_f64());
        if let Some(why) = &fallback {
            self.count(LLM, why.reason());
        }
        let by = if generator == TEMPLATE { TEMPLATE } else { LLM };
        self.count(by, "ok");
        Ok(Some(draft))
    }

    /// The LLM's draft, checked, or why not; `None` when drafting by LLM is off.
    async fn ask_llm(
        &self,
        input: &DraftInput,
        key: &str,
        facts: &Facts,
    ) -> Option<Result<llm::LlmDraft, llm::Fallback>> {
        let llm = self.llm.as_ref()?;
        let facts_text = serde_json::to_string(facts).expect("facts serialise");
        let span = tracing::info_span!("draft_llm", model = llm.model(), intent = key);
        let answer = llm
            .draft(&input.email, input.intent, key, facts, |text| {
                unsourced(text, &facts_text, &input.email)
            })
            .instrument(span)
            .await;
        if let Err(why) = &answer {
            tracing::warn!(
                email_id = input.email.id,
                reason = why.reason(),
                error = %why,
                "LLM draft not used; the template answers"
            );
        }
        Some(answer)
    }

    /// Facts, template and text: the timed part of generation.
    pub async fn compose(
        &self,
        input: &DraftInput,
        key: &str,
    ) -> Result<(i64, String, Facts), DraftError> {
        let facts = self.gather(input).await?;
        let (version, template) = self.template(key).await?;
        let parts = render::parse(&template).map_err(|e| bad("template", e.to_string()))?;
        let body = render::render(&parts, &facts);
        let facts_text = serde_json::to_string(&facts).expect("facts serialise");
        let missing = unsourced(&body, &facts_text, &input.email);
        if !missing.is_empty() {
            return Err(DraftError::Unsourced(missing));
        }
        Ok((version, body, facts))
    }

    fn count(&self, generator: &'static str, outcome: &'static str) {
        self.metrics
            .drafts
            .generated
            .get_or_create(&GeneratedLabels { generator, outcome })
            .inc();
    }

    pub async fn list(&self, filter: &DraftFilter) -> Result<Vec<Draft>, DraftError> {
        Ok(sql::list(&self.db, filter).await?)
    }

    pub async fn get(&self, id: &str) -> Result<Draft, DraftError> {
        sql::get(&self.db, id).await?.ok_or(DraftError::NotFound)
    }

    pub async fn edits(&self, id: &str) -> Result<Vec<Edit>, DraftError> {
        Ok(sql::edits(&self.db, id).await?)
    }

    /// Approve a pending draft, optionally with the reviewer's text, and
    /// queue the reply. The edit (if any) is stored as a unified diff.
    pub async fn approve(
        &self,
        id: &str,
        user_id: &str,
        text: Option<&str>,
    ) -> Result<Draft, DraftError> {
        if let Some(t) = text {
            if t.trim().is_empty() {
                return Err(bad(
                    "text",
                    "must not be empty; omit it to approve as drafted",
                ));
            }
            if t.chars().count() > MAX_TEXT_CHARS {
                return Err(bad(
                    "text",
                    format!("longer than {MAX_TEXT_CHARS} characters"),
                ));
            }
        }
        let draft = self.get(id).await?;
        let now = self.clock.now();
        let at = now.timestamp_micros();
        let generated = normalise(&draft.body);
        let final_body = text.map(normalise).unwrap_or_else(|| generated.clone());
        let edit = (final_body != generated).then(|| diff(&generated, &final_body));
        let edits_made = match &edit {
            Some((_, added, removed)) => {
                json!({"edited": true, "lines_added": added, "lines_removed": removed})
            }
            None => json!({"edited": false, "lines_added": 0, "lines_removed": 0}),
        };
        let mut tx = self.db.begin().await?;
        if !sql::approve(
            &mut tx,
            id,
            user_id,
            at,
            &final_body,
            &edits_made.to_string(),
        )
        .await?
        {
            return Err(self.not_pending(id).await);
        }
        if let Some((diff, added, removed)) = &edit {
            sql::insert_edit(
                &mut tx,
                &Edit {
                    id: uuid::Uuid::new_v4().to_string(),
                    draft_id: id.to_owned(),
                    user_id: user_id.to_owned(),
                    diff: diff.clone(),
                    lines_added: *added,
                    lines_removed: *removed,
                    created_at: at,
                },
            )
            .await?;
        }
        let message_id = self
            .outbox
            .enqueue(&mut tx, &draft, &final_body, now)
            .await?;
        self.audit
            .append(
                &mut tx,
                &[NewEvent::new(
                    EventType::DraftApproved,
                    Actor::user(user_id),
                    "draft",
                    id,
                    json!({
                        "user_id": user_id,
                        "draft_id": id,
                        "edits_made": edits_made,
                        "email_id": draft.email_id,
                        "message_id": message_id,
                    }),
                    now,
                )],
            )
            .await?;
        self.audit.commit(tx).await?;
        self.metrics.drafts.reviewed(true);
        self.outbox.wake();
        self.get(id).await
    }

    /// Reject a pending draft with a reason.
    pub async fn reject(&self, id: &str, user_id: &str, reason: &str) -> Result<Draft, DraftError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(bad(
                "reason",
                format!("must hold 1 to {MAX_REASON_CHARS} characters"),
            ));
        }
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        if !sql::reject(&mut tx, id, user_id, now.timestamp_micros(), reason).await? {
            return Err(self.not_pending(id).await);
        }
        let draft = sql::get_tx(&mut tx, id)
            .await?
            .ok_or(DraftError::NotFound)?;
        self.audit
            .append(
                &mut tx,
                &[NewEvent::new(
                    EventType::DraftRejected,
                    Actor::user(user_id),
                    "draft",
                    id,
                    json!({
                        "user_id": user_id,
                        "draft_id": id,
                        "reason": reason,
                        "email_id": draft.email_id,
                    }),
                    now,
                )],
            )
            .await?;
        self.audit.commit(tx).await?;
        self.metrics.drafts.reviewed(false);
        Ok(draft)
    }

    async fn not_pending(&self, id: &str) -> DraftError {
        match sql::get(&self.db, id).await {
            Ok(Some(d)) => DraftError::Conflict(format!(
                "the draft is {} (reviewed by {}); only pending drafts can be reviewed",
                d.status,
                d.reviewed_by.as_deref().unwrap_or("nobody")
            )),
            Ok(None) => DraftError::NotFound,
            Err(e) => e.into(),
        }
    }

    /// Every editable template, as in force.
    pub async fn templates(&self) -> Result<Vec<TemplateView>, DraftError> {
        let changed: HashMap<String, TemplateVersion> = sql::templates(&self.db)
            .await?
            .into_iter()
            .map(|t| (t.intent.clone(), t))
            .collect();
        Ok(render::KEYS
            .iter()
            .map(|key| view(key, changed.get(*key)))
            .collect())
    }

    /// Admin replaces a template (`Some`) or restores the built-in one (`None`).
    pub async fn set_template(
        &self,
        key: &str,
        body: Option<&str>,
        user_id: &str,
    ) -> Result<TemplateView, DraftError> {
        if !render::KEYS.contains(&key) {
            return Err(DraftError::NotFound);
        }
        if let Some(b) = body {
            render::parse(b).map_err(|e| bad("body", e.to_string()))?;
        }
        let now = self.clock.now().timestamp_micros();
        let mut tx = self.db.begin().await?;
        sql::insert_template(&mut tx, key, body, user_id, now).await?;
        tx.commit().await?;
        tracing::info!(
            template = key,
            user_id,
            restored = body.is_none(),
            "draft template changed"
        );
        let current = sql::template(&self.db, key).await?;
        Ok(view(key, current.as_ref()))
    }

    /// Pending drafts by stream and assignee; response times (receipt to
    /// sending) by approver and by stream, for replies sent since `since`.
    pub async fn stats(&self, since: DateTime<Utc>) -> Result<Stats, DraftError> {
        let pending = sql::pending_counts(&self.db)
            .await?
            .into_iter()
            .map(|(stream, assignee_id, count)| PendingCount {
                stream,
                assignee_id,
                count,
            })
            .collect();
        let rows = sql::response_times(&self.db, since.timestamp_micros()).await?;
        let mut by_user: HashMap<String, Vec<f64>> = HashMap::new();
        let mut by_stream: HashMap<String, Vec<f64>> = HashMap::new();
        for (user, stream, received, sent) in rows {
            let secs = (sent - received).max(0) as f64 / 1e6;
            by_user
                .entry(user.unwrap_or_default())
                .or_default()
                .push(secs);
            by_stream.entry(stream).or_default().push(secs);
        }
        Ok(Stats {
            pending,
            response_by_user: percentiles(by_user),
            response_by_stream: percentiles(by_stream),
        })
    }
}

/// The numbers `text` states that neither the facts (as serialised) nor the
/// email give: the one check every draft passes, template or LLM.
fn unsourced(text: &str, facts_text: &str, email: &EmailRef) -> Vec<String> {
    numbers::unsourced(
        text,
        [facts_text, email.subject.as_str(), email.body_text.as_str()],
    )
}

/// Longest LLM error kept in a `DraftGenerated` event.
const MAX_LLM_ERROR_CHARS: usize = 500;

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn view(key: &str, t: Option<&TemplateVersion>) -> TemplateView {
    let builtin = render::builtin(key).unwrap_or_default();
    let body = t.and_then(|t| t.body.clone());
    TemplateView {
        key: key.to_owned(),
        builtin: body.is_none(),
        body: body.unwrap_or_else(|| builtin.to_owned()),
        version: t.map(|t| t.version).unwrap_or(0),
        updated_by: t.map(|t| t.updated_by.clone()),
        updated_at: t.map(|t| pebble_core::audit::canonical_time(t.updated_at)),
    }
}

fn percentiles(groups: HashMap<String, Vec<f64>>) -> Vec<ResponseTimes> {
    let mut out: Vec<ResponseTimes> = groups
        .into_iter()
        .map(|(key, mut v)| {
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
            ResponseTimes {
                replies: v.len(),
                p50_secs: at(0.5),
                p95_secs: at(0.95),
                key,
            }
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// Line endings as `\n`, one final newline: the form texts are compared in.
fn normalise(text: &str) -> String {
    let t = text.replace("\r\n", "\n").replace('\r', "\n");
    format!("{}\n", t.trim_end())
}

/// A unified diff and the lines added and removed.
fn diff(before: &str, after: &str) -> (String, i64, i64) {
    let d = TextDiff::from_lines(before, after);
    let (mut added, mut removed) = (0, 0);
    for c in d.iter_all_changes() {
        match c.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    let text = d
        .unified_diff()
        .context_radius(2)
        .header("generated", "approved")
        .to_string();
    (text, added, removed)
}

/// `Re: <subject>`, without stacking `Re:`s.
pub fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    let has_re = s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:"));
    match (s.is_empty(), has_re) {
        (true, _) => "Re: your email".into(),
        (false, true) => s.to_owned(),
        (false, false) => format!("Re: {s}"),
    }
}

/// The reply's References: the original's, then the original itself
/// (RFC 5322 §3.6.4), the first and the latest kept when there are many.
pub fn reply_references(email: &EmailRef) -> Vec<String> {
    let mut refs: Vec<String> = email
        .references
        .iter()
        .map(|r| r.trim().trim_matches(['<', '>']).to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    if let Some(id) = &email.message_id {
        let id = id.trim().trim_matches(['<', '>']).to_owned();
        if !id.is_empty() && !refs.contains(&id) {
            refs.push(id);
        }
    }
    if refs.len() > MAX_REFERENCES {
        let tail = refs.split_off(refs.len() - (MAX_REFERENCES - 1));
        refs.truncate(1);
        refs.extend(tail);
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_say_re_once() {
        assert_eq!(reply_subject("Rate for MCB"), "Re: Rate for MCB");
        assert_eq!(reply_subject("RE: Rate for MCB"), "RE: Rate for MCB");
        assert_eq!(reply_subject("  "), "Re: your email");
    }

    #[test]
    fn references_end_with_the_original_and_stay_bounded() {
        let mut e = EmailRef {
            message_id: Some("<c@x>".into()),
            references: vec!["a@x".into(), "<b@x>".into()],
            ..EmailRef::default()
        };
        assert_eq!(reply_references(&e), vec!["a@x", "b@x", "c@x"]);
        e.references = (0..40).map(|i| format!("r{i}@x")).collect();
        let refs = reply_references(&e);
        assert_eq!(refs.len(), MAX_REFERENCES);
        assert_eq!(refs.first().unwrap(), "r0@x");
        assert_eq!(refs.last().unwrap(), "c@x");
    }

    #[test]
    fn an_edit_is_a_diff_with_its_line_counts() {
        let (d, added, removed) = diff("a\nb\nc\n", "a\nB\nc\nd\n");
        assert_eq!((added, removed), (2, 1));
        assert!(d.contains("-b\n+B\n"), "{d}");
        assert_eq!(normalise("x\r\ny  \n\n"), "x\ny\n");
    }
}
