//! `/` (the inbox by stream), `/emails/{id}` (one email: its text, its HTML
//! sanitised, its attachments) and attachment downloads. Email content is
//! untrusted: text is escaped by the template, HTML goes through the same
//! sanitiser as the API, and the page's CSP would stop a script that slipped
//! through anyway.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{html, Markup, PreEscaped};

use super::{done, filled, local_offset, page, review, when, Ctx, UiError};
use crate::http::emails::{attachment_download, sanitise};
use crate::http::{ApiError, AppState};
use crate::store::drafts::DraftFilter;
use crate::store::emails::{self as sql, EmailFilter, EmailRow};

const PAGE: i64 = 50;

fn list_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn sender(e: &EmailRow) -> Markup {
    html! {
        @match (&e.from_name, &e.from_addr) {
            (Some(n), Some(a)) if !n.is_empty() => { (n) " " span.muted { "<" (a) ">" } }
            (_, Some(a)) => { (a) }
            _ => { span.muted { "(no sender)" } }
        }
    }
}

fn short(text: &str, n: usize) -> String {
    let mut s: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        s.push('…');
    }
    s
}

pub async fn inbox(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let q = filled(q);
    if let Some(k) = q
        .keys()
        .find(|k| !["stream", "from", "intent", "before"].contains(&k.as_str()))
    {
        return Err(ApiError::bad(k.clone(), "unknown parameter").into());
    }
    let stream = q.get("stream").cloned();
    if let Some(s) = &stream {
        state.ingest.check_stream(s)?;
    }
    let from = q.get("from").map(|f| f.to_lowercase());
    if from
        .as_ref()
        .is_some_and(|f| f.len() > 320 || f.contains('\0'))
    {
        return Err(ApiError::bad("from", "at most 320 characters").into());
    }
    let intent = crate::http::emails::intent_param(&q)?;
    let before = match q.get("before") {
        None => None,
        Some(b) => {
            let (at, id) = b
                .split_once('.')
                .and_then(|(a, i)| Some((a.parse::<i64>().ok()?, i.to_owned())))
                .ok_or_else(|| ApiError::bad("before", "not a page of this list"))?;
            Some((at, id))
        }
    };
    let rows = sql::list(
        &state.db,
        &EmailFilter {
            stream: stream.clone(),
            status: Some("ready".into()),
            from_addr: from.clone(),
            intent: intent.clone(),
            before,
            limit: PAGE,
            ..EmailFilter::default()
        },
    )
    .await
    .map_err(ApiError::from)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let labels = state.intent.labels(&ids).await?;
    let threshold = state.intent.review_threshold();
    let offset = local_offset(&state);
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|r| format!("{}.{}", r.received_at, r.id)))
        .flatten();
    let link = |s: Option<&str>| -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = s {
            pairs.push(("stream", s));
        }
        if let Some(f) = &from {
            pairs.push(("from", f));
        }
        if let Some(i) = &intent {
            pairs.push(("intent", i));
        }
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        if qs.is_empty() {
            "/".into()
        } else {
            format!("/?{qs}")
        }
    };
    let body = html! {
        nav aria-label="Streams" {
            ul.tabs {
                li { a href=(link(None)) aria-current=[stream.is_none().then_some("page")] { "All streams" } }
                @for s in state.ingest.streams() {
                    li { a href=(link(Some(s))) aria-current=[(stream.as_deref() == Some(s.as_str())).then_some("page")] { (s) } }
                }
            }
        }
        form.inline method="get" action="/" role="search" aria-label="Filter the inbox" {
            @if let Some(s) = &stream { input type="hidden" name="stream" value=(s); }
            div {
                label for="from" { "From (address)" }
                input #from type="email" name="from" value=(from.clone().unwrap_or_default()) data-search;
            }
            div {
                label for="intent" { "Intent" }
                select #intent name="intent" {
                    option value="" { "any" }
                    @for i in pebble_intent::Intent::ALL {
                        option value=(i.as_str()) selected[intent.as_deref() == Some(i.as_str())] { (review::intent_name(i)) }
                    }
                }
            }
            div { button type="submit" { "Filter" } }
        }
        div.table-wrap { table #inbox {
            thead { tr { th { "Received" } th { "Stream" } th { "Intent" } th { "From" } th { "Subject" } } }
            tbody {
                @for e in &rows {
                    tr {
                        td { (when(offset, e.received_at)) }
                        td { (e.stream) }
                        td { (review::label_cell(labels.get(&e.id), threshold)) }
                        td { (sender(e)) }
                        td {
                            a href=(format!("/emails/{}", e.id)) {
                                @if e.subject.trim().is_empty() { "(no subject)" } @else { (short(&e.subject, 140)) }
                            }
                            br;
                            span.muted { (short(&e.body_text.replace(['\r', '\n'], " "), 120)) }
                        }
                    }
                }
                @if rows.is_empty() { tr { td colspan="5" { "No emails here." } } }
            }
        } }
        @if let Some(n) = next {
            nav.pager aria-label="Pages" {
                a href=(format!("{}{}before={}", link(stream.as_deref()), if link(stream.as_deref()).contains('?') { "&" } else { "?" }, n)) { "Older emails →" }
            }
        }
    };
    Ok(page(&ctx, "Inbox", body))
}

/// An email id from a path, or not found.
pub fn email_id(id: &str) -> Result<&str, ApiError> {
    if id.len() > 128 || id.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(id)
}

pub async fn email(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let e = sql::email(&state.db, email_id(&id)?)
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::NotFound)?;
    let attachments = sql::attachments(&state.db, &e.id)
        .await
        .map_err(ApiError::from)?;
    let classification = review::panel(&state, &ctx, &e.id).await?;
    let drafts = state
        .drafts
        .list(&DraftFilter {
            email_id: Some(e.id.clone()),
            limit: 20,
            ..DraftFilter::default()
        })
        .await?;
    let offset = local_offset(&state);
    let may_download = ctx.may("GET", "/emails/{id}/attachments/{position}");
    let to = list_of(&e.to_addrs);
    let cc = list_of(&e.cc_addrs);
    let body = html! {
        (done(&q, review::DONE))
        dl.headers {
            dt { "From" } dd { (sender(&e)) }
            dt { "To" } dd { (to.join(", ")) }
            @if !cc.is_empty() { dt { "Cc" } dd { (cc.join(", ")) } }
            dt { "Received" } dd { (when(offset, e.received_at)) }
            dt { "Stream" } dd { (e.stream) }
            @if e.erased_at.is_some() { dt { "Erased" } dd { "This email's personal data was erased on request." } }
        }
        (classification)
        (super::drafts::of_email(&drafts))
        h2 { "Message" }
        pre.body #email-text { (e.body_text) }
        @if let Some(h) = &e.body_html {
            details {
                summary { "Show the HTML version (sanitised: no scripts, styles, images or links out)" }
                div.email-html #email-html { (PreEscaped(sanitise(h))) }
            }
        }
        @if !attachments.is_empty() {
            h2 { "Attachments" }
            ul #attachments {
                @for a in &attachments {
                    li {
                        @if may_download {
                            a href=(format!("/emails/{}/attachments/{}", e.id, a.position)) download { (a.filename) }
                        } @else { (a.filename) }
                        " " span.muted { (a.content_type) ", " (a.size) " bytes" }
                    }
                }
            }
        }
    };
    let title = if e.subject.trim().is_empty() {
        "(no subject)".to_owned()
    } else {
        short(&e.subject, 200)
    };
    Ok(page(&ctx, &title, body))
}

/// Always a download, never rendered: attachments are as untrusted as bodies.
pub async fn attachment(
    State(state): State<AppState>,
    Path((id, position)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let position: i32 = position.parse().map_err(|_| ApiError::NotFound)?;
    Ok(attachment_download(&state, email_id(&id)?, position).await?)
}
