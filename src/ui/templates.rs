//! `/admin/templates`: the reply templates per intent, edited by Admin
//! through `Drafts::set_template` like the API (placeholders only from the
//! documented set, no digits outside them, so every number in a draft keeps
//! a source), or restored to the built-in text.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::admin::admin_page;
use super::{done, redirect, Ctx, UiError};
use crate::drafts::render::{KEYS, MAX_TEMPLATE_CHARS, PLACEHOLDERS};
use crate::http::{ApiError, AppState};

const DONE: &[(&str, &str)] = &[
    ("saved", "Template saved; new drafts use it."),
    ("restored", "Built-in template restored."),
];

fn key(k: &str) -> Result<&str, ApiError> {
    KEYS.iter()
        .copied()
        .find(|known| *known == k)
        .ok_or(ApiError::NotFound)
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let templates = state.drafts.templates().await?;
    let may_edit = ctx.may("POST", "/admin/templates/{key}");
    let body = html! {
        (done(&q, DONE))
        p { "One template per kind of email; spam, vendor offers and other get no draft unless someone asks for one. "
            "Numbers come only from placeholders, so that every number in a draft has a source." }
        details {
            summary { "Placeholders" }
            dl.headers { @for (name, what) in PLACEHOLDERS { dt { code { "{{" (name) "}}" } } dd { (what) } } }
        }
        @for t in &templates {
            section aria-labelledby=(format!("t-{}", t.key)) {
                h2 #(format!("t-{}", t.key)) { (t.key.replace('_', " ")) }
                p.muted {
                    @if t.builtin { "Built-in text." } @else {
                        "Version " (t.version) @if let Some(by) = &t.updated_by { ", changed by " (by) } @if let Some(at) = &t.updated_at { " at " (at) } "."
                    }
                }
                @if may_edit {
                    form.stack.wide method="post" action=(format!("/admin/templates/{}", t.key)) {
                        (ctx.csrf_field())
                        div {
                            label for=(format!("body-{}", t.key)) { "Template for " (t.key.replace('_', " ")) }
                            textarea id=(format!("body-{}", t.key)) name="body" rows="12" required maxlength=(MAX_TEMPLATE_CHARS) { (t.body) }
                        }
                        div { button type="submit" { "Save " span.sr-only { (t.key) } } }
                    }
                    @if !t.builtin {
                        form method="post" action=(format!("/admin/templates/{}/restore", t.key)) {
                            (ctx.csrf_field())
                            button.secondary type="submit" { "Restore the built-in text " span.sr-only { "of " (t.key) } }
                        }
                    }
                } @else {
                    pre.body { (t.body) }
                }
            }
        }
    };
    Ok(admin_page(&ctx, "Reply templates", body))
}

#[derive(Deserialize)]
pub struct TemplateForm {
    body: String,
}

pub async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(k): Path<String>,
    Form(f): Form<TemplateForm>,
) -> Result<Response, UiError> {
    // Browsers send a textarea's lines with CRLF; templates keep LF.
    let body = f.body.replace("\r\n", "\n");
    state
        .drafts
        .set_template(key(&k)?, Some(&body), &ctx.principal.user_id)
        .await?;
    Ok(redirect("/admin/templates?done=saved"))
}

pub async fn restore(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(k): Path<String>,
) -> Result<Response, UiError> {
    state
        .drafts
        .set_template(key(&k)?, None, &ctx.principal.user_id)
        .await?;
    Ok(redirect("/admin/templates?done=restored"))
}
