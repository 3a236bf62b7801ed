//! The admin section: `/admin` leads to the first admin page the role may
//! open, every admin page carries the section's tabs, and `/admin/users`
//! (accounts and roles) lives here, through the same `Auth` calls as the API
//! (each change audited there; a role change or disable ends sessions).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use pebble_core::access::Role;
use serde::Deserialize;

use super::{done, page, redirect, Ctx, UiError};
use crate::http::{ApiError, AppState};

/// The admin pages, in tab order; each role sees those it may open.
const SECTION: &[(&str, &str)] = &[
    ("/admin/users", "Users and roles"),
    ("/admin/models", "Model registry"),
    ("/admin/templates", "Reply templates"),
    ("/admin/mailboxes", "Mailboxes"),
    ("/admin/backups", "Backups"),
];

fn tabs(ctx: &Ctx) -> Markup {
    html! {
        nav aria-label="Admin" {
            ul.tabs {
                @for (path, label) in SECTION.iter().filter(|(p, _)| ctx.may("GET", p)) {
                    li { a href=(path) aria-current=[(ctx.path == *path).then_some("page")] { (label) } }
                }
            }
        }
    }
}

/// A page of the admin section, under its tabs.
pub fn admin_page(ctx: &Ctx, title: &str, body: Markup) -> Response {
    page(ctx, title, html! { (tabs(ctx)) (body) })
}

pub async fn section(ctx: Ctx) -> Result<Response, UiError> {
    let first = SECTION
        .iter()
        .map(|(p, _)| *p)
        .find(|p| ctx.may("GET", p))
        .ok_or(ApiError::Forbidden)?;
    Ok(redirect(first))
}

const DONE: &[(&str, &str)] = &[
    ("created", "User created."),
    ("role", "Role changed; that user's sessions have ended."),
    ("disabled", "User disabled; their sessions have ended."),
];

fn parse_role(s: &str) -> Result<Role, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad("role", "must be admin, sales, ops or read_only"))
}

fn user_id(id: &str) -> Result<&str, ApiError> {
    if id.len() > 64 || id.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(id)
}

pub async fn users(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let all = state.auth.list_users().await?;
    let body = html! {
        (done(&q, DONE))
        div.table-wrap { table #users {
            thead { tr { th { "Name" } th { "Email" } th { "Role" } th { "Status" } th { "Change" } } }
            tbody { @for u in &all {
                tr {
                    td { (u.display_name) }
                    td { (u.email) }
                    td { (u.role) }
                    td { @if u.disabled { span.badge.bad { "disabled" } } @else { span.badge.ok { "active" } } }
                    td {
                        @if !u.disabled && u.id != ctx.principal.user_id {
                            form.inline method="post" action=(format!("/admin/users/{}/role", u.id)) {
                                (ctx.csrf_field())
                                div {
                                    label for=(format!("role-{}", u.id)) { "Role" }
                                    select id=(format!("role-{}", u.id)) name="role" {
                                        @for r in Role::ALL { option value=(r.as_str()) selected[r.as_str() == u.role] { (r.as_str()) } }
                                    }
                                }
                                div { button.secondary type="submit" { "Set role" } }
                            }
                            form method="post" action=(format!("/admin/users/{}/disable", u.id))
                                data-confirm=(format!("Disable {}? Their sessions end at once.", u.email)) {
                                (ctx.csrf_field())
                                button.danger type="submit" { "Disable " span.sr-only { (u.email) } }
                            }
                        }
                    }
                }
            } }
        } }
        h2 { "Add a user" }
        form.stack method="post" action="/admin/users" {
            (ctx.csrf_field())
            div { label for="new-email" { "Email" } input #new-email type="email" name="email" required maxlength="254" autocomplete="off"; }
            div { label for="new-name" { "Display name" } input #new-name name="display_name" maxlength="200"; }
            div {
                label for="new-role" { "Role" }
                select #new-role name="role" { @for r in Role::ALL { option value=(r.as_str()) { (r.as_str()) } } }
            }
            div {
                label for="new-password" { "Initial password (at least 12 characters)" }
                input #new-password type="password" name="password" required minlength="12" maxlength="1024" autocomplete="new-password";
            }
            div { button type="submit" { "Create user" } }
        }
    };
    Ok(admin_page(&ctx, "Users and roles", body))
}

#[derive(Deserialize)]
pub struct NewUser {
    email: String,
    #[serde(default)]
    display_name: String,
    role: String,
    password: String,
}

pub async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<NewUser>,
) -> Result<Response, UiError> {
    let role = parse_role(&f.role)?;
    state
        .auth
        .create_user(
            ctx.principal.actor(),
            &f.email,
            &f.display_name,
            role,
            &f.password,
        )
        .await?;
    Ok(redirect("/admin/users?done=created"))
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<RoleForm>,
) -> Result<Response, UiError> {
    let role = parse_role(&f.role)?;
    state
        .auth
        .set_role(ctx.principal.actor(), user_id(&id)?, role)
        .await?;
    Ok(redirect("/admin/users?done=role"))
}

pub async fn disable(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    state
        .auth
        .disable(ctx.principal.actor(), user_id(&id)?)
        .await?;
    Ok(redirect("/admin/users?done=disabled"))
}
