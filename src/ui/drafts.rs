//! The draft review queue: `/drafts` (by status, stream, mine) and
//! `/drafts/{id}` (the email and the reply side by side, the facts the reply
//! states with their sources, and the forms to approve — after editing, if
//! need be — or reject with a reason), through `Drafts` like the API.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::review::intent_name;
use super::{done, filled, local_offset, page, people, redirect, when, Ctx, UiError};
use crate::drafts::facts::{Availability, FactSource, Facts, Item};
use crate::http::drafts::{draft_filter, encode_cursor};
use crate::http::{ApiError, AppState};
use crate::store::drafts::Draft;
use crate::store::emails;

const DONE: &[(&str, &str)] = &[
    ("approved", "Approved; the reply is queued for sending."),
    ("rejected", "Rejected."),
];

const STATUSES: [&str; 5] = ["pending", "approved", "rejected", "sent", "failed"];

fn draft_key(id: &str) -> Result<&str, ApiError> {
    if id.is_empty() || id.len() > 64 || id.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(id)
}

fn intent_of(stored: &str) -> &str {
    pebble_intent::Intent::parse(stored)
        .map(intent_name)
        .unwrap_or(stored)
}

fn status_badge(status: &str) -> Markup {
    let class = match status {
        "approved" | "sent" => "ok",
        "rejected" | "failed" => "bad",
        _ => "warn",
    };
    html! { span.badge.(class) { (status) } }
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let mut q = filled(q);
    let shown = q.remove("done");
    // The queue is what waits for review unless another status is asked for.
    let status = q
        .entry("status".into())
        .or_insert_with(|| "pending".into())
        .clone();
    if status == "any" {
        q.remove("status");
    }
    let mine = q.get("assignee").is_some_and(|a| a == "me");
    let filter = draft_filter(&q, &ctx.principal.user_id)?;
    let rows = state.drafts.list(&filter).await?;
    let offset = local_offset(&state);
    let next = (rows.len() as i64 == filter.limit)
        .then(|| rows.last().map(encode_cursor))
        .flatten();
    let value = |k: &str| q.get(k).cloned().unwrap_or_default();
    let flash = shown
        .map(|d| HashMap::from([("done".to_owned(), d)]))
        .unwrap_or_default();
    let body = html! {
        (done(&flash, DONE))
        form.inline method="get" action="/drafts" aria-label="Filter drafts" {
            div {
                label for="status" { "Status" }
                select #status name="status" {
                    @for s in STATUSES { option value=(s) selected[status == s] { (s) } }
                    option value="any" selected[status == "any"] { "any" }
                }
            }
            div {
                label for="stream" { "Stream" }
                select #stream name="stream" {
                    option value="" { "all" }
                    @for s in state.ingest.streams() { option value=(s) selected[value("stream") == *s] { (s) } }
                }
            }
            div {
                label for="assignee" { "Whose" }
                select #assignee name="assignee" {
                    option value="" { "everyone's" }
                    option value="me" selected[mine] { "mine" }
                }
            }
            div { button type="submit" { "Show" } }
        }
        div.table-wrap { table #drafts {
            thead { tr { th { "Received" } th { "Stream" } th { "Intent" } th { "To" } th { "Subject" } th { "Status" } th { "Written by" } } }
            tbody {
                @for d in &rows {
                    tr {
                        td { (when(offset, d.received_at)) }
                        td { (d.stream) }
                        td { (intent_of(&d.intent)) }
                        td { (d.to_addr) }
                        td { a href=(format!("/drafts/{}", d.id)) { (d.subject) } }
                        td { (status_badge(&d.status)) }
                        td { (d.generator) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="7" { "No drafts here." } } }
            }
        } }
        @if let Some(cursor) = next {
            nav.pager aria-label="Pages" {
                a href=(format!("/drafts?{}", url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(q.iter().filter(|(k, _)| *k != "cursor"))
                    .append_pair("cursor", &cursor)
                    .finish())) { "Older drafts →" }
            }
        }
    };
    Ok(page(&ctx, "Drafts", body))
}

pub async fn draft(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let d = state.drafts.get(draft_key(&id)?).await?;
    let email = emails::email(&state.db, &d.email_id)
        .await
        .map_err(ApiError::from)?;
    let edits = state.drafts.edits(&d.id).await?;
    let outbox = crate::store::outbox::by_draft(&state.db, &d.id)
        .await
        .map_err(ApiError::from)?;
    let people = people(&state, &ctx).await?;
    let offset = local_offset(&state);
    let may_review = d.status == "pending" && ctx.may("POST", "/drafts/{id}/approve");
    let facts: Option<Facts> = serde_json::from_str(&d.facts).ok();
    let body = html! {
        (done(&q, DONE))
        div.grid {
            section aria-labelledby="email-h" {
                h2 #email-h { "The email" }
                @match &email {
                    Some(e) => {
                        dl.headers {
                            dt { "From" } dd { (e.from_addr.as_deref().unwrap_or("")) }
                            dt { "Received" } dd { (when(offset, e.received_at)) }
                            dt { "Subject" } dd { a href=(format!("/emails/{}", e.id)) { (e.subject) } }
                        }
                        pre.body #email-text { (e.body_text) }
                    }
                    None => { p { "The email is no longer stored." } }
                }
            }
            section aria-labelledby="reply-h" {
                h2 #reply-h { "The reply" }
                dl.headers {
                    dt { "To" } dd #reply-to { (d.to_name.as_deref().map(|n| format!("{n} <{}>", d.to_addr)).unwrap_or_else(|| d.to_addr.clone())) }
                    dt { "Subject" } dd { (d.subject) }
                    dt { "Intent" } dd { (intent_of(&d.intent)) }
                    dt { "Status" } dd #draft-status { (status_badge(&d.status)) }
                    dt { "Written by" } dd { (d.generator) " in " (format!("{:.1}", d.latency_us as f64 / 1000.0)) " ms" }
                    @if let (Some(by), Some(at)) = (&d.reviewed_by, d.reviewed_at) {
                        dt { "Reviewed" } dd { (people.name(by)) ", " (when(offset, at)) }
                    }
                    @if let Some(r) = &d.reject_reason { dt { "Reason" } dd #reject-reason { (r) } }
                    @if let Some(o) = &outbox {
                        dt { "Sending" } dd #outbox-status { (o.status) @if o.attempts > 0 { " after " (o.attempts) " attempt(s)" }
                            @if let Some(e) = &o.last_error { br; span.muted { (e) } } }
                    }
                }
                @if may_review {
                    form.stack.wide #approve method="post" action=(format!("/drafts/{}/approve", d.id)) {
                        (ctx.csrf_field())
                        div {
                            label for="draft-text" { "Reply text (edit it before approving if need be)" }
                            textarea #draft-text name="text" rows="18" required maxlength="20000" { (d.body) }
                        }
                        div { button type="submit" { "Approve and send" } }
                    }
                    form.stack.wide #reject method="post" action=(format!("/drafts/{}/reject", d.id)) {
                        (ctx.csrf_field())
                        div {
                            label for="reason" { "Reason for rejecting" }
                            input #reason name="reason" required maxlength="2000";
                        }
                        div { button.danger type="submit" { "Reject" } }
                    }
                } @else {
                    pre.body #draft-text { (d.final_body.as_deref().unwrap_or(&d.body)) }
                }
                @for e in &edits {
                    h3 { "Edit by " (people.name(&e.user_id)) " (+" (e.lines_added) " −" (e.lines_removed) " lines)" }
                    pre.body.diff { (e.diff) }
                }
            }
        }
        h2 { "Facts the reply states" }
        @match &facts {
            Some(f) => { (facts_table(f)) }
            None => { pre.payload { (d.facts) } }
        }
    };
    Ok(page(&ctx, &format!("Draft: {}", d.subject), body))
}

fn source(s: FactSource) -> &'static str {
    match s {
        FactSource::Live => "Tally (live)",
        FactSource::Cache => "Tally cache",
        FactSource::Catalog => "catalogue",
        FactSource::Email => "the email",
        FactSource::Crm => "CRM",
        FactSource::Config => "settings",
        FactSource::Derived => "computed",
    }
}

fn availability(a: Availability) -> &'static str {
    match a {
        Availability::InStock => "in stock",
        Availability::Short => "short",
        Availability::OutOfStock => "out of stock",
        Availability::Unknown => "unknown",
    }
}

fn item_row(i: &Item) -> Markup {
    html! {
        tr {
            td { (i.name) " " span.muted { (i.sku) } }
            td { @if let Some(a) = &i.asked { (a.qty) " " (a.unit) } }
            td { (availability(i.availability)) }
            td { @if let Some(s) = &i.stock {
                (s.qty) " " (s.unit.as_deref().unwrap_or("")) br;
                span.muted { (source(s.source)) ", as of " (s.as_of_local) }
            } }
            td.num { @if let Some(r) = &i.rate {
                "₹" (r.value) @if let Some(p) = &r.per { " / " (p) } br; span.muted { (source(r.source)) }
            } }
            td.num { (i.gst_percent.value) "%" }
            td.num { @if let Some(a) = &i.amount { "₹" (a) } }
        }
    }
}

fn facts_table(f: &Facts) -> Markup {
    html! {
        dl.headers #facts-customer {
            @if let Some(n) = &f.customer.name { dt { "Customer" } dd { (n.value) " " span.muted { "(" (source(n.source)) ")" } } }
            @if let Some(c) = &f.customer.company { dt { "Company" } dd { (c.value) " " span.muted { "(" (source(c.source)) ")" } } }
            @if !f.references.orders.is_empty() { dt { "Orders cited" } dd { (f.references.orders.join(", ")) } }
            @if !f.references.utrs.is_empty() { dt { "UTRs cited" } dd { (f.references.utrs.join(", ")) } }
            @if !f.references.amounts.is_empty() { dt { "Amounts cited" } dd { "₹" (f.references.amounts.join(", ₹")) } }
            @if let Some(h) = &f.history {
                dt { "History" }
                dd #facts-history {
                    (h.previous_emails) " earlier email(s)"
                    @if !h.open_leads.is_empty() {
                        "; open lead(s): "
                        @for (i, l) in h.open_leads.iter().enumerate() {
                            @if i > 0 { ", " } a href="/leads" { (l.stage) }
                        }
                    }
                    @if let Some(o) = &h.last_order { "; last order " a href=(format!("/emails/{}", o.email_id)) { (o.received_local) } }
                    @if let Some(r) = &h.last_reply { "; last reply " a href=(format!("/drafts/{}", r.draft_id)) { (r.approved_local) } }
                    " " span.muted { "(" (source(h.source)) ")" }
                }
            }
        }
        @if !f.items.is_empty() {
            div.table-wrap { table #facts-items {
                thead { tr { th { "Item" } th { "Asked" } th { "Availability" } th { "Stock" } th.num { "Rate" } th.num { "GST" } th.num { "Amount" } } }
                tbody { @for i in &f.items { (item_row(i)) } }
            } }
        }
        @if let Some(t) = &f.totals {
            p #facts-totals { "Subtotal ₹" (t.subtotal) ", GST ₹" (t.gst) ", total ₹" (t.total)
                " " span.muted { "(" (t.priced_items) " priced item(s), computed)" } }
        }
    }
}

#[derive(Deserialize)]
pub struct ApproveForm {
    text: String,
}

pub async fn approve(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<ApproveForm>,
) -> Result<Response, UiError> {
    let id = draft_key(&id)?;
    // Browsers send a textarea's lines with CRLF; the drafts keep LF.
    let text = f.text.replace("\r\n", "\n");
    state
        .drafts
        .approve(id, &ctx.principal.user_id, Some(&text))
        .await?;
    Ok(redirect(&format!("/drafts/{id}?done=approved")))
}

#[derive(Deserialize)]
pub struct RejectForm {
    reason: String,
}

pub async fn reject(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<RejectForm>,
) -> Result<Response, UiError> {
    let id = draft_key(&id)?;
    state
        .drafts
        .reject(id, &ctx.principal.user_id, &f.reason)
        .await?;
    Ok(redirect(&format!("/drafts/{id}?done=rejected")))
}

/// The drafts of one email, for its page.
pub fn of_email(drafts: &[Draft]) -> Markup {
    html! {
        @if !drafts.is_empty() {
            h2 { "Reply drafts" }
            ul #email-drafts {
                @for d in drafts {
                    li { a href=(format!("/drafts/{}", d.id)) { (d.subject) } " " (status_badge(&d.status)) }
                }
            }
        }
    }
}
