//! A known history for dashboards and reports: emails, the model's
//! decisions, overrides, draft decisions and Tally syncs at fixed times.

use chrono::Duration;
use pebble::clock::Clock;
use pebble_core::access::Role;
use pebble_core::audit::{Actor, EventType, NewEvent};
use serde_json::{json, Value};

use super::TestApp;

pub fn user_email(role: Role) -> String {
    format!("{}@test.in", role.as_str().replace('_', "-"))
}

pub async fn user_id(app: &TestApp, role: Role) -> String {
    app.state
        .auth
        .find_user(&user_email(role))
        .await
        .unwrap()
        .id
}

/// A history like a working week's: emails, the model's decisions, two
/// overrides, draft decisions and Tally syncs, at known times.
pub async fn seed_history(app: &TestApp) {
    let now = app.clock.now();
    let sales = user_id(app, Role::Sales).await;
    let admin = user_id(app, Role::Admin).await;
    let mut events = Vec::new();
    let ev = |t: EventType, actor: Actor, entity: (&str, String), payload: Value, at| {
        NewEvent::new(t, actor, entity.0, entity.1, payload, at)
    };
    // 3 emails today, 2 yesterday, 1 three days ago.
    for (i, ago) in [1, 1, 1, 25, 25, 73].iter().enumerate() {
        events.push(ev(
            EventType::EmailReceived,
            Actor::system("ingest"),
            ("email", format!("e{i}")),
            json!({"message_id": format!("<m{i}@x>"), "from": "buyer@example.in", "subject": "Need cable", "stream": "sales"}),
            now - Duration::hours(*ago),
        ));
    }
    for i in 0..10 {
        let intent = if i < 6 {
            "product_inquiry"
        } else {
            "order_status"
        };
        events.push(ev(
            EventType::LeadClassified,
            Actor::ai_agent("classifier:intent-v1"),
            ("email", format!("e{i}")),
            json!({"email_id": format!("e{i}"), "ai_intent": intent, "confidence": 0.91,
                   "model_version": "intent-v1", "manual_override": false}),
            now - Duration::minutes(90),
        ));
    }
    for i in 0..2 {
        events.push(ev(
            EventType::LeadClassified,
            Actor::user(sales.clone()),
            ("email", format!("e{i}")),
            json!({"email_id": format!("e{i}"), "ai_intent": "complaint", "previous_intent": "product_inquiry",
                   "confidence": 1.0, "model_version": "intent-v1", "manual_override": true,
                   "justification": "customer is complaining about a late delivery"}),
            now - Duration::minutes(60),
        ));
    }
    for (i, edits) in [0, 0, 2].iter().enumerate() {
        events.push(ev(
            EventType::DraftApproved,
            Actor::user(sales.clone()),
            ("draft", format!("d{i}")),
            json!({"user_id": sales, "draft_id": format!("d{i}"), "edits_made": edits}),
            now - Duration::minutes(30),
        ));
    }
    events.push(ev(
        EventType::DraftRejected,
        Actor::user(sales.clone()),
        ("draft", "d9".into()),
        json!({"user_id": sales, "draft_id": "d9", "reason": "wrong price"}),
        now - Duration::minutes(20),
    ));
    events.push(ev(
        EventType::DraftApproved,
        Actor::user(admin.clone()),
        ("draft", "d8".into()),
        json!({"user_id": admin, "draft_id": "d8", "edits_made": 0}),
        now - Duration::minutes(20),
    ));
    for ok in [true, true, false] {
        events.push(ev(
            EventType::TallySyncCompleted,
            Actor::system("tally-sync"),
            ("tally", "catalog".into()),
            json!({"items": 10, "duration_ms": 5, "ok": ok, "error": if ok { Value::Null } else { json!("timeout") }}),
            now - Duration::hours(2),
        ));
    }
    app.state.audit.record(&events).await.unwrap();
}

/// A hostile message: script in the text, an HTML part with handlers,
/// `javascript:` links, CSS tricks, a huge line, and an attachment.
pub fn hostile_email(id: &str, stream_hint: &str) -> String {
    let huge = "A".repeat(20_000);
    format!(
        "From: Mallory <mallory@evil.example>\r\nTo: {stream_hint}@pebble.example\r\n\
         Subject: <script>window.__xss=1</script> urgent {id}\r\nMessage-ID: <{id}@evil.example>\r\n\
         Date: Thu, 15 Jan 2026 09:00:00 +0530\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=outer\r\n\r\n\
         --outer\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n\
         --alt\r\nContent-Type: text/plain\r\n\r\n<script>window.__xss=2</script> plain part {huge}\r\n\
         --alt\r\nContent-Type: text/html\r\n\r\n<html><head><style>body{{display:none}}</style></head><body>\
         <p style=\"position:fixed;top:0;left:0;width:100%;height:100%\">cover</p>\
         <img src=x onerror=\"window.__xss=3\"><a href=\"javascript:window.__xss=4\">pay here</a>\
         <svg onload=\"window.__xss=5\"></svg><iframe src=\"https://evil.example\"></iframe>\
         <form action=\"https://evil.example\"><input name=p></form><b>bold stays</b></body></html>\r\n\
         --alt--\r\n--outer\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=\"../../etc/passwd.html\"\r\n\r\n\
         <script>window.__xss=6</script>\r\n--outer--\r\n"
    )
}
