//! `/compliance`: the quarterly audit export as one ZIP (CSV, XLSX and the
//! manifest), built by `crate::compliance` exactly as the CLI and API build it.

use axum::extract::State;
use axum::response::Response;
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::{local_offset, Ctx, UiError};
use crate::compliance::Quarter;
use crate::http::{reports, ApiError, AppState};

pub async fn page(State(state): State<AppState>, ctx: Ctx) -> Response {
    let state = &state;
    let now = state.audit.clock().now();
    let current = Quarter::containing(now, local_offset(state));
    let mut quarters = vec![current];
    for _ in 0..7 {
        let q = quarters.last().copied().unwrap_or(current).previous();
        quarters.push(q);
    }
    let default = current.previous();
    let body = html! {
        p { "One archive per quarter for regulators and auditors: every AI decision, every manual override with its justification, and every failed CIN/PAN/GSTIN validation, each as CSV and Excel, with a manifest giving row counts, SHA-256 checksums, the audit-chain verification result and who exported it. The export is itself recorded." }
        form.inline method="post" action="/compliance/quarterly" {
            (ctx.csrf_field())
            div {
                label for="quarter" { "Quarter" }
                select #quarter name="quarter" {
                    @for q in &quarters {
                        option value=(q.to_string()) selected[*q == default] { (q.to_string()) @if *q == current { " (so far)" } }
                    }
                }
            }
            div { button type="submit" { "Download the quarterly export" } }
        }
        p.muted { "From the command line: " code { "pebble report quarterly --quarter " (default) " --out DIR" } }
    };
    super::page(&ctx, "Compliance", body)
}

#[derive(Deserialize)]
pub struct QuarterForm {
    quarter: String,
}

pub async fn quarterly(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<QuarterForm>,
) -> Result<Response, UiError> {
    let quarter: Quarter = f
        .quarter
        .parse()
        .map_err(|e: String| ApiError::bad("quarter", e))?;
    Ok(reports::quarterly_zip(
        &state,
        quarter,
        ctx.principal.actor(),
        Some(ctx.principal.email.clone()),
    )
    .await?)
}
