//! `/admin/models`: the intent-model registry — what serves now, drift,
//! every registered model with its held-out scores — and retraining (Admin,
//! Ops), promotion and rollback (Admin), through `IntentService` like the API.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::html;

use super::admin::admin_page;
use super::{done, local_offset, redirect, when, Ctx, UiError};
use crate::http::{ApiError, AppState};

const DONE: &[(&str, &str)] = &[
    (
        "trained",
        "A new model is registered as a candidate; compare it below before promoting it.",
    ),
    (
        "same",
        "Training gave a model already registered (same data, same weights).",
    ),
    (
        "promoted",
        "Model promoted: it classifies new emails from now on.",
    ),
    (
        "rolled-back",
        "Rolled back to the model that served before.",
    ),
];

fn f4(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())
}

pub async fn registry(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let reg = state.intent.registry().await?;
    let drift = state.intent.drift().await?;
    let offset = local_offset(&state);
    let may_train = ctx.may("POST", "/admin/models/train");
    let may_promote = ctx.may("POST", "/admin/models/{version}/promote");
    let body = html! {
        (done(&q, DONE))
        div.tiles {
            div.tile { span.n #serving { (reg.serving.version) } "serving (" (reg.serving.source) ")" }
            div.tile { span.n { (reg.serving.catalog_items) } "catalogue items it matches" }
            div.tile { span.n #drift-status { (drift.status.replace('_', " ")) } "drift over " (drift.decisions) " recent decisions" }
            div.tile { span.n { (f4(drift.override_rate)) } "override rate" }
        }
        p.muted {
            "Confidence PSI " (f4(drift.confidence_psi)) ", label PSI " (f4(drift.label_psi))
            " (watch above " (drift.psi_watch) ", alert above " (drift.psi_alert) ")."
            @for r in &drift.reasons { " " (r) "." }
        }
        div.inline-forms {
            @if may_train {
                form method="post" action="/admin/models/train" {
                    (ctx.csrf_field())
                    button type="submit" { "Retrain on the corpus and reviewed emails" }
                }
            }
            @if may_promote && reg.serving.source == "registry" {
                form method="post" action="/admin/models/rollback"
                    data-confirm="Roll back to the model that served before this one?" {
                    (ctx.csrf_field())
                    button.secondary type="submit" { "Roll back" }
                }
            }
        }
        h2 { "Registered models" }
        div.table-wrap { table #models {
            thead { tr { th { "Version" } th { "State" } th { "Trained" } th.num { "Examples" } th.num { "Corrections" }
                th.num { "Macro-F1" } th.num { "ECE" } th { "Promote" } } }
            tbody {
                @for m in &reg.models {
                    tr {
                        td { (m.version) @if m.serving { " " span.badge.ok { "serving" } } }
                        td { (m.state) }
                        td { (when(offset, m.created_at)) br; span.muted { (m.created_by) } }
                        td.num { (m.corpus_examples) }
                        td.num { (m.correction_examples) }
                        td.num { (format!("{:.3}", m.macro_f1)) }
                        td.num { (format!("{:.3}", m.ece)) }
                        td {
                            @if may_promote && !m.serving {
                                form method="post" action=(format!("/admin/models/{}/promote", m.version)) {
                                    (ctx.csrf_field())
                                    button.secondary type="submit" { "Promote " span.sr-only { (m.version) } }
                                }
                            }
                        }
                    }
                }
                @if reg.models.is_empty() { tr { td colspan="8" { "No model trained here yet: the shipped model serves." } } }
            }
        } }
        p.muted { "A model is promoted only if it is not worse than the serving one on today's held-out split." }
    };
    Ok(admin_page(&ctx, "Model registry", body))
}

pub async fn train(State(state): State<AppState>, ctx: Ctx) -> Result<Response, UiError> {
    let t = state.intent.train(ctx.principal.actor()).await?;
    Ok(redirect(if t.new {
        "/admin/models?done=trained"
    } else {
        "/admin/models?done=same"
    }))
}

pub async fn promote(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(version): Path<String>,
) -> Result<Response, UiError> {
    if version.is_empty() || version.len() > 256 || version.contains('\0') {
        return Err(ApiError::NotFound.into());
    }
    state
        .intent
        .promote(ctx.principal.actor(), &version)
        .await?;
    Ok(redirect("/admin/models?done=promoted"))
}

pub async fn rollback(State(state): State<AppState>, ctx: Ctx) -> Result<Response, UiError> {
    state.intent.rollback(ctx.principal.actor()).await?;
    Ok(redirect("/admin/models?done=rolled-back"))
}
