//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;
use crate::store::activity;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, body = Object)))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers, the schema is current and the chain head
/// is readable. A broken audit chain is reported (and alerted on through the
/// metric) but does not take the instance out of service: the business keeps
/// running while the break is investigated.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, body = Object), (status = 503, body = Object)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.db.check_ready().await;
    let head = activity::head(&state.db).await;
    let chain = state.chain.read().await.clone();
    let chain_json = match &chain {
        None => json!({"status": "not yet verified"}),
        Some(r) if r.ok => json!({"status": "ok", "verified": r.verified}),
        Some(r) => {
            json!({"status": "broken", "first_bad_seq": r.first_bad_seq, "problem": r.message})
        }
    };
    let ready = database.is_ok() && head.is_ok();
    let body = json!({
        "status": if !ready { "unavailable" } else if chain.as_ref().is_some_and(|r| !r.ok) { "degraded" } else { "ready" },
        "database": match &database { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
        "audit_head": match &head { Ok((seq, hash)) => json!({"seq": seq, "hash": hash}), Err(_) => json!("unreadable") },
        "audit_chain": chain_json,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
