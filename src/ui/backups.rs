//! `/admin/backups`: the backup catalogue, "back up now" and "verify" (Admin,
//! Ops). Both run in the background like the API's; the page shows each
//! backup's status and verdict. Restore stays on the command line: it
//! replaces the database this server runs on.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::admin::admin_page;
use super::{done, local_offset, redirect, when, Ctx, UiError};
use crate::backup::manifest::Kind;
use crate::http::{ApiError, AppState};

const DONE: &[(&str, &str)] = &[
    (
        "started",
        "Backup started; reload this page to see it finish.",
    ),
    (
        "verifying",
        "Verification started; reload this page for the verdict.",
    ),
];

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let rows = state.backups.list(50).await?;
    let offset = local_offset(&state);
    let body = html! {
        (done(&q, DONE))
        form.inline method="post" action="/admin/backups" {
            (ctx.csrf_field())
            div {
                label for="kind" { "Kind" }
                select #kind name="kind" {
                    option value="full" { "full (database, files, chain)" }
                    option value="activity" { "activity (events since the last backup)" }
                }
            }
            div { button type="submit" { "Back up now" } }
        }
        div.table-wrap { table #backups {
            thead { tr { th { "Started" } th { "Kind" } th { "Status" } th.num { "Size" } th { "Chain" } th { "Verified" } th { "Verify" } } }
            tbody {
                @for b in &rows {
                    tr {
                        td { (when(offset, b.started_at)) br; span.muted { (b.id) } }
                        td { (b.kind) @if b.encrypted { " " span.badge.ok { "encrypted" } } }
                        td {
                            @match b.status.as_str() {
                                "created" => { span.badge.ok { "created" } }
                                "failed" => { span.badge.bad { "failed" } }
                                s => { span.badge.warn { (s) } }
                            }
                            @if b.deleted_at.is_some() { " " span.muted { "removed by retention" } }
                            @if let Some(e) = &b.error { br; span.muted { (e) } }
                        }
                        td.num { @if let Some(n) = b.size_bytes { (format!("{:.1} MB", n as f64 / 1e6)) } }
                        td { @if let Some(s) = b.chain_seq { "to event " (s) } }
                        td {
                            @match (b.verify_ok, b.verified_at) {
                                (Some(true), Some(at)) => { span.badge.ok { "ok" } " " (when(offset, at)) }
                                (Some(false), _) => { span.badge.bad { "failed" } @if let Some(e) = &b.verify_error { br; span.muted { (e) } } }
                                _ => { span.muted { "not yet" } }
                            }
                        }
                        td {
                            @if b.status == "created" && b.deleted_at.is_none() {
                                form method="post" action=(format!("/admin/backups/{}/verify", b.id)) {
                                    (ctx.csrf_field())
                                    button.secondary type="submit" { "Verify " span.sr-only { (b.id) } }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() { tr { td colspan="7" { "No backups yet." } } }
            }
        } }
        p.muted { "Restore with " code { "pebble backup restore" } " while the servers are stopped." }
    };
    Ok(admin_page(&ctx, "Backups", body))
}

#[derive(Deserialize)]
pub struct NewBackup {
    kind: String,
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<NewBackup>,
) -> Result<Response, UiError> {
    let kind: Kind = f
        .kind
        .parse()
        .map_err(|e: String| ApiError::bad("kind", e))?;
    state
        .backups
        .start_create(kind, ctx.principal.actor())
        .await?;
    Ok(redirect("/admin/backups?done=started"))
}

pub async fn verify(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    if id.len() > 64 || id.contains('\0') {
        return Err(ApiError::NotFound.into());
    }
    state
        .backups
        .start_verify(&id, ctx.principal.actor())
        .await?;
    Ok(redirect("/admin/backups?done=verifying"))
}
