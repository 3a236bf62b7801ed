//! `/privacy`: data-subject requests — export one person's or company's data
//! as a ZIP, request an erasure (Ops, Admin), approve or reject it (Admin).
//! The same `crate::privacy` calls as the API and the CLI.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::{redirect, Ctx, UiError};
use crate::http::reports::{subject, subject_zip};
use crate::http::AppState;
use crate::privacy::{self, Subject};

const DONE: &[(&str, &str)] = &[
    (
        "requested",
        "Erasure requested. An administrator must approve it.",
    ),
    (
        "erased",
        "Erased: the subject's data was scrubbed and the audit payloads about them redacted.",
    ),
    ("rejected", "Request rejected."),
];

pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let requests = privacy::erasure_requests(&state.db).await?;
    let done = q
        .get("done")
        .and_then(|d| DONE.iter().find(|(k, _)| k == d))
        .map(|(_, m)| *m);
    let may_decide = ctx.may("POST", "/privacy/erasure/{id}/approve");
    let body = html! {
        @if let Some(m) = done { p.flash.ok role="status" { (m) } }
        h2 { "Export a subject's data" }
        p { "One ZIP with everything Pebble holds: contacts, companies, leads, notes and the activity-stream events that concern them, as JSON and CSV. The export is recorded." }
        form.inline method="post" action="/privacy/export" {
            (ctx.csrf_field())
            div { label for="export-email" { "E-mail address" } input #export-email type="email" name="email" maxlength="254"; }
            div { label for="export-company" { "or company id" } input #export-company name="company" maxlength="64"; }
            div { button type="submit" { "Download the export" } }
        }
        h2 { "Request an erasure" }
        form.stack method="post" action="/privacy/erasure" {
            (ctx.csrf_field())
            div { label for="erase-email" { "E-mail address of the person" } input #erase-email type="email" name="email" required maxlength="254"; }
            div { label for="erase-reason" { "Reason (e.g. their request and its date)" } textarea #erase-reason name="reason" required maxlength="1000" {} }
            div { button type="submit" { "Request erasure" } }
        }
        h2 { "Erasure requests" }
        div.table-wrap { table #erasures {
            thead { tr { th { "Requested" } th { "Subject" } th { "Reason" } th { "Status" } @if may_decide { th { "Decide" } } } }
            tbody {
                @for r in &requests {
                    tr {
                        td { (r.requested_at) br; span.muted { (r.requested_by) } }
                        td { (r.subject.as_deref().unwrap_or("(erased)")) }
                        td { (r.reason.as_deref().unwrap_or("")) }
                        td { span.badge.(if r.status == "pending" { "warn" } else if r.status == "erased" { "ok" } else { "bad" }) { (r.status) } }
                        @if may_decide {
                            td {
                                @if r.status == "pending" {
                                    form method="post" action=(format!("/privacy/erasure/{}/approve", r.id))
                                        data-confirm="Erase this person's data now? This cannot be undone." {
                                        (ctx.csrf_field())
                                        button.danger type="submit" { "Approve and erase" }
                                    }
                                    form.inline method="post" action=(format!("/privacy/erasure/{}/reject", r.id)) {
                                        (ctx.csrf_field())
                                        div {
                                            label for=(format!("reject-{}", r.id)) { "Reason to reject" }
                                            input id=(format!("reject-{}", r.id)) name="reason" required maxlength="1000";
                                        }
                                        div { button.secondary type="submit" { "Reject" } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if requests.is_empty() { tr { td colspan="5" { "No erasure requests." } } }
            }
        } }
    };
    Ok(super::page(&ctx, "Privacy requests", body))
}

#[derive(Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    company: String,
}

pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ExportForm>,
) -> Result<Response, UiError> {
    let s = subject(Some(&f.email), Some(&f.company))?;
    Ok(subject_zip(&state, &s, ctx.principal.actor()).await?)
}

#[derive(Deserialize)]
pub struct ErasureForm {
    email: String,
    reason: String,
}

pub async fn request_erasure(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ErasureForm>,
) -> Result<Response, UiError> {
    let s = Subject::email(&f.email)?;
    privacy::request_erasure(
        &state.db,
        &state.audit,
        &s,
        &f.reason,
        ctx.principal.actor(),
    )
    .await?;
    Ok(redirect("/privacy?done=requested"))
}

pub async fn approve(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    privacy::approve(
        &state.db,
        &state.audit,
        state.ingest.objects(),
        &id,
        ctx.principal.actor(),
    )
    .await?;
    Ok(redirect("/privacy?done=erased"))
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
    privacy::reject(
        &state.db,
        &state.audit,
        &id,
        &f.reason,
        ctx.principal.actor(),
    )
    .await?;
    Ok(redirect("/privacy?done=rejected"))
}
