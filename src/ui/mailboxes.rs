//! `/admin/mailboxes`: the IMAP mailboxes feeding the streams, with each
//! one's last poll, and the form to add or change one (Admin, Ops), through
//! `Ingest` like the API and the CLI. Passwords never pass through the page:
//! a mailbox names the environment variable that holds its password.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::admin::admin_page;
use super::{done, local_offset, redirect, when, Ctx, UiError};
use crate::http::{ApiError, AppState};
use crate::ingest::imap::MailboxConfig;
use crate::store::emails as sql;

const DONE: &[(&str, &str)] = &[(
    "saved",
    "Mailbox saved; the watchers pick it up within a minute.",
)];

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let boxes = state.ingest.mailboxes().await?;
    let mut polls = Vec::with_capacity(boxes.len());
    for mb in &boxes {
        polls.push(
            sql::mailbox_state(&state.db, &mb.name)
                .await
                .map_err(ApiError::from)?,
        );
    }
    let offset = local_offset(&state);
    let body = html! {
        (done(&q, DONE))
        div.table-wrap { table #mailboxes {
            thead { tr { th { "Name" } th { "Stream" } th { "Server" } th { "User" } th { "Folder" } th { "State" } th { "Last poll" } } }
            tbody {
                @for (mb, poll) in boxes.iter().zip(&polls) {
                    tr {
                        td { (mb.name) }
                        td { (mb.stream) }
                        td { (mb.host) ":" (mb.port) @if !mb.tls { " " span.badge.warn { "no TLS" } } }
                        td { (mb.username) br; span.muted { "password in $" (mb.password_env) } }
                        td { (mb.folder) }
                        td { @if mb.enabled { span.badge.ok { "enabled" } } @else { span.badge.warn { "disabled" } } }
                        td {
                            @match poll {
                                Some(p) => {
                                    @if let Some(at) = p.last_poll_at { (when(offset, at)) }
                                    @if let Some(e) = &p.last_error { br; span.badge.bad { "error" } " " (e) }
                                }
                                None => { span.muted { "never" } }
                            }
                        }
                    }
                }
                @if boxes.is_empty() { tr { td colspan="7" { "No mailboxes yet." } } }
            }
        } }
        h2 { "Add or change a mailbox" }
        p.muted { "A mailbox with an existing name is changed." }
        form.stack method="post" action="/admin/mailboxes" {
            (ctx.csrf_field())
            div { label for="mb-name" { "Name (letters, digits, - and _)" } input #mb-name name="name" required maxlength="64" pattern="[A-Za-z0-9_-]+"; }
            div {
                label for="mb-stream" { "Stream" }
                select #mb-stream name="stream" { @for s in state.ingest.streams() { option value=(s) { (s) } } }
            }
            div { label for="mb-host" { "IMAP server" } input #mb-host name="host" required maxlength="253"; }
            div { label for="mb-port" { "Port" } input #mb-port name="port" type="number" min="1" max="65535" value="993" required; }
            div { label { input name="tls" type="checkbox" value="on" checked; " Use TLS" } }
            div { label for="mb-user" { "User name" } input #mb-user name="username" required maxlength="320" autocomplete="off"; }
            div { label for="mb-env" { "Environment variable with the password" } input #mb-env name="password_env" required maxlength="128" placeholder="PEBBLE_IMAP_SALES_PASSWORD"; }
            div { label for="mb-folder" { "Folder" } input #mb-folder name="folder" value="INBOX" required maxlength="256"; }
            div { label { input name="enabled" type="checkbox" value="on" checked; " Fetch from it" } }
            div { button type="submit" { "Save mailbox" } }
        }
    };
    Ok(admin_page(&ctx, "Mailboxes", body))
}

/// An HTML form sends a checkbox only when it is ticked.
#[derive(Deserialize)]
pub struct MailboxForm {
    name: String,
    stream: String,
    host: String,
    port: String,
    #[serde(default)]
    tls: Option<String>,
    username: String,
    password_env: String,
    folder: String,
    #[serde(default)]
    enabled: Option<String>,
}

pub async fn save(
    State(state): State<AppState>,
    Form(f): Form<MailboxForm>,
) -> Result<Response, UiError> {
    let port = f
        .port
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ApiError::bad("port", "must be a number from 1 to 65535"))?;
    state
        .ingest
        .put_mailbox(&MailboxConfig {
            name: f.name.trim().to_owned(),
            stream: f.stream,
            host: f.host.trim().to_owned(),
            port,
            tls: f.tls.is_some(),
            username: f.username.trim().to_owned(),
            password_env: f.password_env.trim().to_owned(),
            folder: f.folder.trim().to_owned(),
            enabled: f.enabled.is_some(),
        })
        .await?;
    Ok(redirect("/admin/mailboxes?done=saved"))
}
