//! Triage: `/review` (low-confidence decisions waiting for a person) and, on
//! each email's page, its classification with the evidence, the overrides
//! with their justifications, and the forms to confirm or override it
//! (Sales and Admin), through the same `IntentService` calls as the API.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use pebble_intent::Intent;
use serde::Deserialize;

use super::inbox::email_id;
use super::{done, filled, local_offset, page, people, redirect, when, Ctx, UiError};
use crate::http::{ApiError, AppState};
use crate::intent::{Decision, IntentError, OverrideView};

const PAGE: i64 = 50;

pub const DONE: &[(&str, &str)] = &[
    (
        "overridden",
        "Classification changed; the correction is trained on in the next run.",
    ),
    ("confirmed", "Classification confirmed."),
];

pub fn intent_name(i: Intent) -> &'static str {
    match i {
        Intent::ProductInquiry => "Product inquiry",
        Intent::PurchaseOrder => "Purchase order",
        Intent::OrderFollowup => "Order follow-up",
        Intent::Payment => "Payment",
        Intent::Complaint => "Complaint",
        Intent::VendorOffer => "Vendor offer",
        Intent::Spam => "Spam",
        Intent::Other => "Other",
    }
}

pub fn percent(confidence: f64) -> String {
    format!("{:.0}%", confidence * 100.0)
}

/// Low-confidence decisions nobody has reviewed, oldest first.
pub async fn queue(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let q = filled(q);
    if let Some(k) = q.keys().find(|k| !["after", "done"].contains(&k.as_str())) {
        return Err(ApiError::bad(k.clone(), "unknown parameter").into());
    }
    let after = match q.get("after") {
        None => None,
        Some(a) => Some(
            a.split_once('.')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                .filter(|(_, id)| !id.contains('\0'))
                .ok_or_else(|| ApiError::bad("after", "not a page of this queue"))?,
        ),
    };
    let items = state.intent.review_queue(after, PAGE).await?;
    let next = (items.len() as i64 == PAGE)
        .then(|| {
            items
                .last()
                .map(|i| format!("{}.{}", i.created_at_micros, i.email_id))
        })
        .flatten();
    let may_review = ctx.may("POST", "/emails/{id}/confirm");
    let offset = local_offset(&state);
    let body = html! {
        (done(&q, DONE))
        p {
            "Decisions below " (percent(state.intent.review_threshold())) " confidence wait here for a person. "
            "Confirm the ones that are right; open an email to change a wrong one, with a reason."
        }
        div.table-wrap { table #review-queue {
            thead { tr { th { "Decided" } th { "Subject" } th { "Intent" } th.num { "Confidence" } th { "Evidence" }
                @if may_review { th { "Confirm" } } } }
            tbody {
                @for i in &items {
                    tr {
                        td { (when(offset, i.created_at_micros)) }
                        td { a href=(format!("/emails/{}", i.email_id)) {
                            @if i.subject.trim().is_empty() { "(no subject)" } @else { (i.subject) }
                        } }
                        td { (intent_name(i.intent)) }
                        td.num { (percent(i.confidence)) }
                        td { (i.evidence.iter().take(3).map(|e| e.phrase.as_str()).collect::<Vec<_>>().join(", ")) }
                        @if may_review {
                            td {
                                form method="post" action=(format!("/emails/{}/confirm", i.email_id)) {
                                    (ctx.csrf_field())
                                    input type="hidden" name="back" value="review";
                                    button.secondary type="submit" {
                                        "Confirm " span.sr-only { (intent_name(i.intent)) " for " (i.subject) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if items.is_empty() { tr { td colspan="6" { "Nothing waits for review." } } }
            }
        } }
        @if let Some(n) = next {
            nav.pager aria-label="Pages" { a href=(format!("/review?after={n}")) { "More →" } }
        }
    };
    Ok(page(&ctx, "Review classifications", body))
}

/// The classification part of an email's page.
pub async fn panel(state: &AppState, ctx: &Ctx, email_id: &str) -> Result<Markup, UiError> {
    let (d, overrides) = match state.intent.decision(email_id).await {
        Ok(found) => found,
        Err(IntentError::NotFound) => {
            return Ok(html! {
                section #classification aria-labelledby="classification-h" {
                    h2 #classification-h { "Classification" }
                    p { "Not classified yet: the pipeline has not reached this email." }
                }
            })
        }
        Err(e) => return Err(e.into()),
    };
    let people = people(state, ctx).await?;
    let offset = local_offset(state);
    let may_review = ctx.may("POST", "/emails/{id}/override");
    Ok(html! {
        section #classification aria-labelledby="classification-h" {
            h2 #classification-h { "Classification" }
            dl.headers {
                dt { "Intent" }
                dd {
                    strong #intent { (intent_name(d.intent)) } " "
                    (status_badge(&d, state.intent.review_threshold()))
                }
                dt { "Confidence" }
                dd { span #confidence { (percent(d.confidence)) } " " span.muted { "by " (d.decided_by) } }
                @if d.decided_by.starts_with("llm:") {
                    dt { "Local model" }
                    dd { (intent_name(d.model_intent)) " " (percent(d.model_confidence)) " (" (d.model_version) ")" }
                }
                @if let Some(e) = &d.llm_error {
                    dt { "LLM" } dd { "not used: " (e) }
                }
                @if d.overridden {
                    dt { "AI said" } dd { (intent_name(d.ai_intent)) }
                }
                @if let (Some(by), Some(at)) = (&d.reviewed_by, d.reviewed_at) {
                    dt { "Reviewed" } dd { (people.name(by)) ", " (when(offset, at)) }
                }
            }
            @if !d.evidence.is_empty() {
                h3 { "Evidence" }
                ul #evidence {
                    @for e in &d.evidence {
                        li { "“" (e.phrase) "”" @if let Some(w) = e.weight { " " span.muted { "(weight " (format!("{w:.2}")) ")" } } }
                    }
                }
            }
            @let products = d.products();
            @if !products.is_empty() {
                h3 { "Products found" }
                ul #products {
                    @for p in &products {
                        li { (p.name) " " span.muted { (p.sku) }
                            @if let Some(q) = p.qty { " × " (q) " " (p.unit) } }
                    }
                }
            }
            @if !overrides.is_empty() { (override_list(&overrides, &people, offset)) }
            @if may_review {
                form.stack #override method="post" action=(format!("/emails/{}/override", d.email_id)) {
                    (ctx.csrf_field())
                    div {
                        label for="override-intent" { "Correct intent" }
                        select #override-intent name="intent" {
                            @for i in Intent::ALL {
                                option value=(i.as_str()) selected[i == d.intent] { (intent_name(i)) }
                            }
                        }
                    }
                    div {
                        label for="justification" { "Why the classification is wrong (required)" }
                        textarea #justification name="justification" required maxlength="2000" rows="3" {}
                    }
                    div { button type="submit" { "Override" } }
                }
                @if d.reviewed_at.is_none() {
                    form method="post" action=(format!("/emails/{}/confirm", d.email_id)) {
                        (ctx.csrf_field())
                        button.secondary #confirm type="submit" { "Confirm " (intent_name(d.intent)) }
                    }
                }
            }
        }
    })
}

fn status_badge(d: &Decision, threshold: f64) -> Markup {
    html! {
        @if d.overridden { span.badge.warn { "overridden" } }
        @else if d.reviewed_at.is_some() { span.badge.ok { "confirmed" } }
        @else if d.confidence < threshold { span.badge.bad { "needs review" } }
    }
}

fn override_list(
    overrides: &[OverrideView],
    people: &crate::dashboard::People,
    offset: chrono::FixedOffset,
) -> Markup {
    html! {
        h3 { "Overrides" }
        ul #overrides {
            @for o in overrides {
                li {
                    (label_of(&o.previous_intent)) " → " strong { (label_of(&o.intent)) }
                    " by " (people.name(&o.user_id)) ", " (when(offset, o.created_at)) ": "
                    q { (o.justification) }
                }
            }
        }
    }
}

fn label_of(stored: &str) -> &str {
    Intent::parse(stored).map(intent_name).unwrap_or(stored)
}

#[derive(Deserialize)]
pub struct OverrideForm {
    intent: String,
    justification: String,
}

pub async fn override_decision(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<OverrideForm>,
) -> Result<Response, UiError> {
    let id = email_id(&id)?;
    state
        .intent
        .override_decision(&ctx.principal.user_id, id, &f.intent, &f.justification)
        .await?;
    Ok(redirect(&format!("/emails/{id}?done=overridden")))
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    /// `review` to go back to the queue; else the email's page.
    #[serde(default)]
    back: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, UiError> {
    let id = email_id(&id)?;
    state.intent.confirm(&ctx.principal.user_id, id).await?;
    Ok(if f.back == "review" {
        redirect("/review?done=confirmed")
    } else {
        redirect(&format!("/emails/{id}?done=confirmed"))
    })
}

/// For the inbox: the standing label of an email, if it has one.
pub fn label_cell(label: Option<&crate::intent::Label>, threshold: f64) -> Markup {
    html! {
        @match label {
            None => { span.muted { "not yet" } }
            Some(l) => {
                (intent_name(l.intent)) " "
                span.muted { (percent(l.confidence)) }
                @if !l.reviewed && l.confidence < threshold { " " span.badge.bad { "review" } }
            }
        }
    }
}
