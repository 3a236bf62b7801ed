//! `/activity`: search the activity stream, with CSV and Excel export buttons
//! for the roles that may export (the API's own parser and export path).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use pebble_core::audit::EventType;

use super::{filled, local_offset, page, when, Ctx, UiError};
use crate::audit::export::Format;
use crate::http::activity::{export_response, parse_filter, parse_int};
use crate::http::{ApiError, AppState};
use crate::store::activity::{self, Page};

const PAGE: i64 = 50;

pub async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let q = filled(q);
    let filter = parse_filter(&q, &["cursor"])?;
    let cursor = parse_int(&q, "cursor", 1, i64::MAX)?;
    let events = activity::search(
        &state.db,
        &filter,
        Page::NewestFirst { before: cursor },
        PAGE,
    )
    .await
    .map_err(ApiError::from)?;
    let offset = local_offset(&state);
    let value = |k: &str| q.get(k).cloned().unwrap_or_default();
    // The same filter, for the export links and the next page.
    let query_without = |skip: &str| -> String {
        let mut pairs: Vec<(&String, &String)> = q.iter().filter(|(k, _)| *k != skip).collect();
        pairs.sort();
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let base = query_without("cursor");
    let join = |extra: &str| {
        if base.is_empty() {
            extra.to_owned()
        } else {
            format!("{base}&{extra}")
        }
    };
    let next = (events.len() as i64 == PAGE)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let body = html! {
        form.inline method="get" action="/activity" role="search" aria-label="Filter the activity stream" {
            div {
                label for="event_type" { "Event type" }
                select #event_type name="event_type" {
                    option value="" { "any" }
                    @for t in EventType::ALL {
                        option value=(t.as_str()) selected[value("event_type") == t.as_str()] { (t.as_str()) }
                    }
                }
            }
            div {
                label for="entity" { "Entity (TYPE:ID)" }
                input #entity name="entity" value=(value("entity")) placeholder="company:…" data-search;
            }
            div {
                label for="actor_id" { "Actor id" }
                input #actor_id name="actor_id" value=(value("actor_id"));
            }
            div {
                label for="from" { "From (date)" }
                input #from type="date" name="from" value=(value("from"));
            }
            div {
                label for="to" { "To (date, exclusive)" }
                input #to type="date" name="to" value=(value("to"));
            }
            div { button type="submit" { "Search" } }
        }
        @if ctx.may("GET", "/activity/export") {
            p {
                a.button.secondary href=(format!("/activity/export?{}", join("format=csv"))) download { "Export CSV" }
                " "
                a.button.secondary href=(format!("/activity/export?{}", join("format=xlsx"))) download { "Export Excel" }
                span.muted { " Exports match the filter above and are recorded in the activity stream." }
            }
        }
        div.table-wrap { table #events {
            thead { tr { th.num { "Seq" } th { "When" } th { "Event" } th { "Actor" } th { "Entity" } th { "Payload" } } }
            tbody {
                @for e in &events {
                    tr {
                        td.num { (e.seq) }
                        td { (when(offset, e.occurred_at)) }
                        td { (e.event_type) }
                        td { (e.actor_kind) ":" (e.actor_id) }
                        td { (e.entity_type) ":" (e.entity_id) }
                        td.payload {
                            @match &e.payload {
                                Some(p) => { (p.chars().take(400).collect::<String>()) @if p.chars().count() > 400 { "…" } }
                                None => { span.muted { "(redacted)" } }
                            }
                        }
                    }
                }
                @if events.is_empty() { tr { td colspan="6" { "No events match." } } }
            }
        } }
        @if let Some(n) = next {
            nav.pager aria-label="Pages" { a href=(format!("/activity?{}", join(&format!("cursor={n}")))) { "Older events →" } }
        }
    };
    Ok(page(&ctx, "Activity stream", body))
}

pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let q = filled(q);
    let filter = parse_filter(&q, &["format", "cursor"])?;
    let format = match q.get("format").map(String::as_str) {
        None | Some("csv") => Format::Csv,
        Some("xlsx") => Format::Xlsx,
        Some(_) => return Err(ApiError::bad("format", "must be csv or xlsx").into()),
    };
    Ok(export_response(&state, &filter, format, ctx.principal.actor()).await?)
}
