//! `/stock`: search the catalogue, live stock for an exact match — the same
//! `Tally::search` the API answers with, saying where each figure came from.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;

use super::{filled, fmt_time, local_offset, page, Ctx, UiError};
use crate::http::{ApiError, AppState};

pub async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let q = filled(q);
    let text = q.get("q").cloned().unwrap_or_default();
    if text.chars().count() > 200 || text.contains('\0') {
        return Err(ApiError::bad("q", "must hold at most 200 characters").into());
    }
    let items = if text.is_empty() {
        Vec::new()
    } else {
        state.tally.search(&text, 50, ctx.principal.actor()).await?
    };
    let offset = local_offset(&state);
    let body = html! {
        form.inline method="get" action="/stock" role="search" aria-label="Find stock" {
            div {
                label for="q" { "Product name, alias or SKU" }
                input #q name="q" value=(text) required maxlength="200" data-search;
            }
            div { button type="submit" { "Search" } }
        }
        @if !text.is_empty() {
            div.table-wrap { table #stock {
                thead { tr { th { "Item" } th { "SKU" } th.num { "In stock" } th { "Unit" } th.num { "Rate (₹)" } th { "Source" } } }
                tbody {
                    @for a in &items {
                        tr {
                            td { (a.item.tally_name) @if !a.item.aliases.is_empty() { br; span.muted { (a.item.aliases.join(", ")) } } }
                            td { (a.item.sku) }
                            td.num { (a.item.closing_qty.to_string()) }
                            td { (a.item.unit.as_deref().unwrap_or("")) }
                            td.num { (a.item.rate_inr.as_ref().map(|r| r.to_string()).unwrap_or_default()) }
                            td { (a.source.as_str()) ", as of " (fmt_time(offset, a.as_of)) }
                        }
                    }
                    @if items.is_empty() { tr { td colspan="6" { "Nothing in the catalogue matches." } } }
                }
            } }
        }
    };
    Ok(page(&ctx, "Stock", body))
}
