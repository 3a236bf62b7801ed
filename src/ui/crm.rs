//! `/companies` (with validation status), `/companies/{id}` and `/leads`
//! (the funnel, and moving a lead along it), through `crate::crm::Crm` and
//! the API's own list-parameter parser.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::{chart, filled, local_offset, page, redirect, when, Ctx, UiError};
use crate::crm::{Stage, StageChange};
use crate::dashboard;
use crate::http::crm::{encode_cursor, list_query};
use crate::http::{ApiError, AppState};
use crate::store::crm::{sort_value_company, sort_value_lead, SortKey};

fn badge(status: &str) -> Markup {
    html! { span.badge.(status) { (status) } }
}

fn next_link(base: &str, q: &HashMap<String, String>, cursor: Option<String>) -> Markup {
    let Some(c) = cursor else { return html! {} };
    let mut pairs: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| *k != "cursor")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pairs.sort();
    pairs.push(("cursor".into(), c));
    let qs = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    html! { nav.pager aria-label="Pages" { a href=(format!("{base}?{qs}")) { "Next page →" } } }
}

pub async fn companies(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let q = filled(q);
    if let Some(v) = q.get("validation") {
        if !matches!(v.as_str(), "unchecked" | "valid" | "failed") {
            return Err(ApiError::bad("validation", "must be unchecked, valid or failed").into());
        }
    }
    let lq = list_query(
        &q,
        &[("validation", "validation_status")],
        true,
        (SortKey::Name, false),
    )?;
    let rows = state.crm.list_companies(&lq).await?;
    let cursor = (rows.len() as i64 == lq.limit)
        .then(|| {
            rows.last()
                .map(|c| encode_cursor(lq.sort, sort_value_company(c, lq.sort), &c.id))
        })
        .flatten();
    let value = |k: &str| q.get(k).cloned().unwrap_or_default();
    let body = html! {
        form.inline method="get" action="/companies" role="search" aria-label="Find companies" {
            div {
                label for="q" { "Name, GSTIN, PAN, CIN or domain" }
                input #q name="q" value=(value("q")) data-search;
            }
            div {
                label for="validation" { "Validation" }
                select #validation name="validation" {
                    option value="" { "any" }
                    @for s in ["valid", "failed", "unchecked"] {
                        option value=(s) selected[value("validation") == s] { (s) }
                    }
                }
            }
            div { button type="submit" { "Search" } }
        }
        div.table-wrap { table #companies {
            thead { tr { th { "Company" } th { "GSTIN" } th { "PAN" } th { "CIN / LLPIN" } th { "Validation" } } }
            tbody {
                @for c in &rows {
                    tr {
                        td { a href=(format!("/companies/{}", c.id)) { (c.name) } }
                        td { (c.gstins.join(", ")) }
                        td { (c.pan.as_deref().unwrap_or("")) }
                        td { (c.cin.as_deref().unwrap_or("")) }
                        td {
                            (badge(&c.validation_status))
                            @if !c.validation_errors.is_empty() {
                                ul { @for e in &c.validation_errors { li { (e) } } }
                            }
                        }
                    }
                }
                @if rows.is_empty() { tr { td colspan="5" { "No companies match." } } }
            }
        } }
        (next_link("/companies", &q, cursor))
    };
    Ok(page(&ctx, "Companies", body))
}

pub async fn company(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    if id.len() > 64 || id.contains('\0') {
        return Err(ApiError::NotFound.into());
    }
    let d = state.crm.company(&id).await?;
    let c = &d.record;
    let offset = local_offset(&state);
    let body = html! {
        dl {
            dt { "Validation" } dd { (badge(&c.validation_status)) }
            @if !c.validation_errors.is_empty() {
                dt { "Problems" } dd { ul { @for e in &c.validation_errors { li { (e) } } } }
            }
            dt { "GSTINs" } dd { (c.gstins.join(", ")) }
            dt { "PAN" } dd { (c.pan.as_deref().unwrap_or("—")) }
            dt { "CIN / LLPIN" } dd { (c.cin.as_deref().unwrap_or("—")) }
            dt { "State" } dd { (c.state.as_deref().unwrap_or("—")) }
            dt { "Domains" } dd { (c.domains.join(", ")) }
            dt { "Address" } dd { (c.address.as_deref().unwrap_or("—")) }
        }
        h2 { "Notes" }
        @if d.notes.is_empty() { p.muted { "No notes." } }
        @for n in &d.notes { div.panel { p.muted { (when(offset, n.created_at)) } p { (n.body) } } }
        h2 { "History" }
        div.table-wrap { table {
            thead { tr { th.num { "Seq" } th { "When" } th { "Event" } th { "Actor" } } }
            tbody { @for e in &d.history {
                tr { td.num { (e.seq) } td { (when(offset, e.occurred_at)) } td { (e.event_type) } td { (e.actor_kind) ":" (e.actor_id) } }
            } }
        } }
    };
    Ok(page(&ctx, &c.name, body))
}

pub async fn leads(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let q = filled(q);
    if let Some(s) = q.get("stage") {
        if s.parse::<Stage>().is_err() {
            return Err(ApiError::bad(
                "stage",
                "must be new, contacted, qualified, quoted, won or lost",
            )
            .into());
        }
    }
    let lq = list_query(
        &q,
        &[("stage", "stage"), ("company_id", "company_id")],
        false,
        (SortKey::UpdatedAt, true),
    )?;
    let rows = state.crm.list_leads(&lq).await?;
    let cursor = (rows.len() as i64 == lq.limit)
        .then(|| {
            rows.last()
                .map(|l| encode_cursor(lq.sort, sort_value_lead(l, lq.sort), &l.id))
        })
        .flatten();
    let (funnel, _) = dashboard::funnel(&state.db).await?;
    let funnel: Vec<(String, f64)> = funnel
        .iter()
        .map(|f| (f.stage.clone(), f.now as f64))
        .collect();
    let offset = local_offset(&state);
    let may_move = ctx.may("POST", "/leads/{id}/stage");
    let selected = q.get("stage").cloned().unwrap_or_default();
    let body = html! {
        (chart::bars("leads-by-stage", "Leads at each stage now", &funnel, ""))
        form.inline method="get" action="/leads" aria-label="Filter leads" {
            div {
                label for="stage" { "Stage" }
                select #stage name="stage" {
                    option value="" { "any" }
                    @for st in Stage::ALL {
                        option value=(st.as_str()) selected[selected == st.as_str()] { (st.as_str()) }
                    }
                }
            }
            div { button type="submit" { "Show" } }
        }
        div.table-wrap { table #leads {
            thead { tr { th { "Lead" } th { "Stage" } th { "Updated" } @if may_move { th { "Move" } } } }
            tbody {
                @for l in &rows {
                    tr {
                        td { (l.title) br; a.muted href=(format!("/companies/{}", l.company_id)) { "company" } }
                        td { (l.stage) @if let Some(r) = &l.lost_reason { br; span.muted { (r) } } }
                        td { (when(offset, l.updated_at)) }
                        @if may_move {
                            td {
                                @let from: Option<Stage> = l.stage.parse().ok();
                                @let targets: Vec<Stage> = Stage::ALL.into_iter().filter(|t| from.is_some_and(|f| f.can_move_to(*t))).collect();
                                @if targets.is_empty() { span.muted { "closed" } } @else {
                                    form.inline method="post" action=(format!("/leads/{}/stage", l.id)) {
                                        (ctx.csrf_field())
                                        div {
                                            label for=(format!("to-{}", l.id)) { "To" }
                                            select id=(format!("to-{}", l.id)) name="stage" {
                                                @for t in &targets { option value=(t.as_str()) { (t.as_str()) } }
                                            }
                                        }
                                        div {
                                            label for=(format!("why-{}", l.id)) { "Reason (if lost)" }
                                            input id=(format!("why-{}", l.id)) name="reason" maxlength="500";
                                        }
                                        div { button type="submit" { "Move" } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() { tr { td colspan="4" { "No leads match." } } }
            }
        } }
        (next_link("/leads", &q, cursor))
    };
    Ok(page(&ctx, "Leads", body))
}

#[derive(Deserialize)]
pub struct StageForm {
    stage: String,
    #[serde(default)]
    reason: String,
}

pub async fn change_stage(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<StageForm>,
) -> Result<Response, UiError> {
    if id.len() > 64 || id.contains('\0') {
        return Err(ApiError::NotFound.into());
    }
    let reason = Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty());
    state
        .crm
        .change_stage(
            ctx.principal.actor(),
            &id,
            StageChange {
                stage: form.stage,
                reason,
            },
        )
        .await?;
    Ok(redirect("/leads"))
}
