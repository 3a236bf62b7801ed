//! The two dashboards of SPEC §8, drawn from `crate::dashboard`.

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use pebble_core::access::Role;

use super::{chart, fmt_time, local_offset, page, Ctx, UiError};
use crate::dashboard::{self, People};
use crate::http::AppState;

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn duration(secs: Option<i64>) -> String {
    match secs {
        None => "—".into(),
        Some(s) if s < 3600 => format!("{} min", (s + 59) / 60),
        Some(s) => format!("{:.1} h", s as f64 / 3600.0),
    }
}

fn tile(label: &str, value: String, id: &str) -> Markup {
    html! { div.tile { span.n #(id) { (value) } span.muted { (label) } } }
}

/// Roles that may see who did what (SPEC §1: Read-Only sees no personal data).
fn shows_people(role: Role) -> bool {
    role != Role::ReadOnly
}

pub async fn sales_ops(State(state): State<AppState>, ctx: Ctx) -> Result<Response, UiError> {
    let offset = local_offset(&state);
    let now = state.audit.clock().now();
    let people = People::load(&state.db, shows_people(ctx.role())).await?;
    let s = dashboard::sales_ops(&state.db, &people, now, offset).await?;
    let per_day: Vec<(String, f64)> = s
        .emails_per_day
        .iter()
        .map(|d| (d.day.format("%d %b").to_string(), d.count as f64))
        .collect();
    let accuracy: Vec<(String, Option<f64>)> = s
        .accuracy
        .iter()
        .map(|w| (w.week.format("%d %b").to_string(), w.accuracy))
        .collect();
    let funnel: Vec<(String, f64)> = s
        .funnel
        .iter()
        .map(|f| (f.stage.clone(), f.reached as f64))
        .collect();
    let body = html! {
        p.muted { "As of " (fmt_time(offset, s.as_of)) " (business time)." }
        div.tiles {
            (tile("emails processed today", s.emails_today.to_string(), "emails-today"))
            (tile("emails this week", s.emails_this_week.to_string(), "emails-week"))
            (tile("accuracy, 12 weeks (1 − override rate)", pct(s.accuracy_overall), "accuracy"))
            (tile("lead conversion (won ÷ closed)", pct(s.conversion), "conversion"))
            (tile("response time P50", duration(s.response.p50_secs), "response-p50"))
            (tile("response time P95", duration(s.response.p95_secs), "response-p95"))
        }
        div.grid {
            section {
                (chart::columns("emails-per-day", "Emails processed per day (14 days)", &per_day))
            }
            section {
                (chart::percent_line("accuracy-per-week", "Classification accuracy per week (1 − override rate)", &accuracy))
            }
            section {
                (chart::bars("funnel", "Lead funnel: leads that reached each stage", &funnel, ""))
            }
            section {
                h2 { "Staff response time (30 days)" }
                @if s.response.replies == 0 {
                    p.muted { "No replies sent in the last 30 days." }
                } @else {
                    div.table-wrap { table {
                        thead { tr { th { "Staff" } th.num { "Replies" } th.num { "P50" } th.num { "P95" } } }
                        tbody { @for r in &s.response.by_staff {
                            tr { td { (r.staff) } td.num { (r.replies) } td.num { (duration(Some(r.p50_secs))) } td.num { (duration(Some(r.p95_secs))) } }
                        } }
                    } }
                }
            }
        }
        h2 { "The numbers behind the charts" }
        div.table-wrap { table #accuracy-table {
            caption.sr-only { "Model decisions and overrides per week" }
            thead { tr { th { "Week of" } th.num { "Decisions" } th.num { "Overrides" } th.num { "Accuracy" } } }
            tbody { @for w in &s.accuracy {
                tr { td { (w.week) } td.num { (w.decisions) } td.num { (w.overrides) } td.num { (pct(w.accuracy)) } }
            } }
        } }
    };
    Ok(page(&ctx, "Sales Ops", body))
}

pub async fn owner(State(state): State<AppState>, ctx: Ctx) -> Result<Response, UiError> {
    let offset = local_offset(&state);
    let now = state.audit.clock().now();
    let people = People::load(&state.db, shows_people(ctx.role())).await?;
    let o = dashboard::owner(&state.db, &state.tally, &people, now).await?;
    let approval: Vec<(String, f64)> = o
        .drafts_by_staff
        .iter()
        .map(|s| (s.staff.clone(), (s.approval_rate * 1000.0).round() / 10.0))
        .collect();
    let as_is: Vec<(String, f64)> = o
        .drafts_by_staff
        .iter()
        .map(|s| (s.staff.clone(), s.approved_unedited as f64))
        .collect();
    let queries: Vec<(String, f64)> = o
        .top_queries
        .iter()
        .map(|q| (q.intent.replace('_', " "), q.count as f64))
        .collect();
    let t = &o.tally;
    let healthy = t.breaker == "closed" && t.last_error.is_none() && t.last_success_at.is_some();
    let body = html! {
        p.muted { "Last " (o.window_days) " days, as of " (fmt_time(offset, o.as_of)) "." }
        div.grid {
            section { (chart::bars("approval-rate", "Draft approval rate by staff member", &approval, "%")) }
            section { (chart::bars("top-queries", "Most common customer queries", &queries, "")) }
            section { (chart::bars("ai-drafts", "Who uses AI drafts: approved without edits", &as_is, "")) }
            section {
                h2 { "Tally sync health" }
                p { span.badge.(if healthy { "ok" } else { "bad" }) #tally-status { (if healthy { "healthy" } else { "attention" }) } }
                dl {
                    dt { "Circuit breaker" } dd { (t.breaker) }
                    dt { "Items in the cache" } dd { (t.cache_items) }
                    dt { "Last successful sync" } dd { (t.last_success_at.map(|w| fmt_time(offset, w)).unwrap_or_else(|| "never".into())) }
                    dt { "Syncs (ok / failed)" } dd #tally-syncs { (t.syncs_ok) " / " (t.syncs_failed) }
                    @if let Some(e) = &t.last_error { dt { "Last error" } dd { (e) } }
                }
            }
        }
        h2 { "Drafts by staff member" }
        div.table-wrap { table {
            thead { tr { th { "Staff" } th.num { "Approved" } th.num { "As the AI wrote them" } th.num { "Rejected" } th.num { "Approval rate" } } }
            tbody { @for s in &o.drafts_by_staff {
                tr { td { (s.staff) } td.num { (s.approved) } td.num { (s.approved_unedited) } td.num { (s.rejected) } td.num { (pct(Some(s.approval_rate))) } }
            } }
        } }
    };
    Ok(page(&ctx, "Owner", body))
}
