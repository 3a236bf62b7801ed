//! Classification records and the human in the loop: the pipeline's
//! classify call, the review queue, overrides with a justification,
//! confirmations, and drift over the recorded decisions.

mod common;

use pebble_core::access::Role;
use serde_json::{json, Value};

const INQUIRY: (&str, &str) = (
    "rate chahiye",
    "rate bhejo 2.5mm wire ka, 10 coil chahiye. Also 32A DP MCB 5 nos. Kindly quote best price.",
);
const PAYMENT: (&str, &str) = (
    "Payment done",
    "Dear Sir, we have released Rs 48,500 by NEFT against your invoice 221. UTR SBIN424178839912. Kindly confirm receipt and update our ledger.",
);
const VAGUE: (&str, &str) = ("", "Hi, please see the attached and let me know.");

async fn metrics(app: &common::TestApp) -> String {
    reqwest::get(format!("http://{}/metrics", app.metrics_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn events(app: &common::TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app.get_json(&format!("/api/v1/activity?{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// Post one plain-text message from ravi@acme.co.in to the sales stream, as
/// a mail client or the IMAP fetcher would hand it over; returns its id.
async fn import(
    app: &common::TestApp,
    token: &str,
    message_id: &str,
    subject: &str,
    body: &str,
) -> String {
    let raw = format!(
        "Message-ID: <{message_id}>\r\nFrom: Ravi <ravi@acme.co.in>\r\nTo: sales@pebble.test\r\n\
         Subject: {subject}\r\nDate: Tue, 2 Apr 2024 10:00:00 +0530\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    );
    let r = app
        .client
        .post(app.url("/api/v1/emails?stream=sales"))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let stored: Value = r.json().await.unwrap();
    stored["id"].as_str().unwrap().to_owned()
}

story!(
    a_classified_email_is_recorded_once_with_its_provenance,
    |backend| async move {
        let Some(app) = common::spawn_app(backend).await else {
            return;
        };
        let intent = &app.state.intent;
        let d = intent
            .classify_email("email-1", INQUIRY.0, INQUIRY.1)
            .await
            .expect("classified");
        assert_eq!(d.intent.as_str(), "product_inquiry");
        assert!(d.is_lead);
        assert_eq!(d.ai_intent, d.intent);
        assert_eq!(d.model_intent, d.intent);
        assert!(d.model_version.starts_with("intent-"));
        assert_eq!(d.decided_by, format!("classifier:{}", d.model_version));
        assert!((0.0..=1.0).contains(&d.confidence));
        assert!(!d.evidence.is_empty());
        assert!(d.evidence.iter().all(|e| e.weight.is_some()));
        assert!(d.entities["gstin"].is_array());
        assert!(!d.overridden && d.reviewed_at.is_none());

        // The pipeline may run the step again after a crash: nothing twice.
        let again = intent
            .classify_email("email-1", "something else", "entirely")
            .await
            .unwrap();
        assert_eq!(again, d);
        let recorded = events(&app, "event_type=LeadClassified").await;
        assert_eq!(recorded.len(), 1);
        let e = &recorded[0];
        assert_eq!(e["entity_type"], "email");
        assert_eq!(e["entity_id"], "email-1");
        assert_eq!(e["actor_kind"], "ai_agent");
        assert_eq!(e["actor_id"], d.decided_by);
        let p = &e["payload"];
        assert_eq!(p["email_id"], "email-1");
        assert_eq!(p["ai_intent"], "product_inquiry");
        assert_eq!(p["confidence"].as_f64(), Some(d.confidence));
        assert_eq!(p["model_version"], d.model_version);
        assert_eq!(p["manual_override"], false);

        let m = metrics(&app).await;
        assert!(
        m.contains(r#"pebble_ai_classifications_total{intent="product_inquiry",decided_by="classifier"} 1"#),
        "{m}"
    );
        assert!(
            m.contains("pebble_ai_classification_latency_seconds_count 1"),
            "{m}"
        );
        assert!(
            m.contains("pebble_ai_classification_confidence_score_count 1"),
            "{m}"
        );

        // The API shows it to every role.
        let ro = app.token(Role::ReadOnly).await;
        let r = app.get_with(&ro, "/api/v1/classifications/email-1").await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["intent"], "product_inquiry");
        assert_eq!(body["overrides"], json!([]));
        assert!(body["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-15T09:30:00"));
        let r = app.get_with(&ro, "/api/v1/classifications/nope").await;
        assert_eq!(r.status(), 404);

        // Bad ids and NUL bytes are refused or made storable, never lost.
        assert!(intent.classify_email("", "s", "b").await.is_err());
        let nul = intent
            .classify_email("email-nul", "sub\0ject", "bo\0dy")
            .await
            .expect("a NUL byte does not stop classification");
        assert_eq!(nul.email_id, "email-nul");
        app.shutdown().await;
    }
);

story!(
    overrides_need_a_justification_and_the_right_role,
    |backend| async move {
        let Some(app) = common::spawn_app(backend).await else {
            return;
        };
        let d = app
            .state
            .intent
            .classify_email("email-2", PAYMENT.0, PAYMENT.1)
            .await
            .unwrap();
        assert_eq!(d.intent.as_str(), "payment");
        let path = "/api/v1/classifications/email-2/override";
        let body = json!({"intent": "order_followup", "justification": "asks for the ledger, not a payment"});
        for role in [Role::ReadOnly, Role::Ops] {
            let t = app.token(role).await;
            let (status, _) = app.post_json(&t, path, body.clone()).await;
            assert_eq!(status, 403, "{role:?}");
        }
        let sales = app.token(Role::Sales).await;
        for (bad, field) in [
            (
                json!({"intent": "order_followup", "justification": "  "}),
                "justification",
            ),
            (json!({"intent": "refund", "justification": "x"}), "intent"),
            (json!({"intent": "order_followup"}), "body"),
        ] {
            let (status, problem) = app.post_json(&sales, path, bad).await;
            assert_eq!(status, 400, "{problem}");
            if field != "body" {
                assert_eq!(problem["field"], field, "{problem}");
            }
        }
        let (status, _) = app
            .post_json(
                &sales,
                "/api/v1/classifications/none/override",
                body.clone(),
            )
            .await;
        assert_eq!(status, 404);
        let (status, same) = app
            .post_json(
                &sales,
                path,
                json!({"intent": "payment", "justification": "it is a payment"}),
            )
            .await;
        assert_eq!(status, 409, "{same}");

        let (status, changed) = app.post_json(&sales, path, body).await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["intent"], "order_followup");
        assert_eq!(changed["ai_intent"], "payment");
        assert_eq!(changed["overridden"], true);
        assert_eq!(changed["is_lead"], false);
        assert!(changed["reviewed_by"].is_string());
        // An admin may override again; both overrides are kept, oldest first.
        let admin = app.admin().await;
        let (status, _) = app
            .post_json(
                &admin,
                path,
                json!({"intent": "other", "justification": "internal mail from accounts"}),
            )
            .await;
        assert_eq!(status, 200);
        let (_, detail) = app.get_json("/api/v1/classifications/email-2").await;
        let o = detail["overrides"].as_array().unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(o[0]["previous_intent"], "payment");
        assert_eq!(o[0]["intent"], "order_followup");
        assert_eq!(o[0]["justification"], "asks for the ledger, not a payment");
        assert_eq!(o[1]["previous_intent"], "order_followup");

        let recorded = events(
            &app,
            "event_type=LeadClassified&entity=email:email-2&order=oldest",
        )
        .await;
        assert_eq!(recorded.len(), 3);
        let first = &recorded[1];
        assert_eq!(first["actor_kind"], "user");
        let p = &first["payload"];
        assert_eq!(p["manual_override"], true);
        assert_eq!(p["ai_intent"], "order_followup");
        assert_eq!(p["previous_intent"], "payment");
        assert_eq!(p["justification"], "asks for the ledger, not a payment");
        assert_eq!(p["model_version"], d.model_version);

        let m = metrics(&app).await;
        assert!(
            m.contains("pebble_ai_classification_overrides_total 2"),
            "{m}"
        );
        // One decision and two overrides in the window.
        assert!(
            m.contains("pebble_ai_classification_override_rate 0.666"),
            "{m}"
        );
        app.shutdown().await;
    }
);

story!(
    the_review_queue_holds_unreviewed_low_confidence_decisions,
    |backend| async move {
        let Some(app) = common::spawn_app_with(backend, |s| s.intent_review_threshold = 0.97).await
        else {
            return;
        };
        let intent = &app.state.intent;
        let mut low = Vec::new();
        let mut labels = Vec::new();
        for (i, (s, b)) in [INQUIRY, PAYMENT, VAGUE, VAGUE, VAGUE, INQUIRY, VAGUE]
            .into_iter()
            .enumerate()
        {
            let id = format!("q-{i}");
            let d = intent.classify_email(&id, s, b).await.unwrap();
            if d.confidence < 0.97 {
                low.push(id);
                labels.push(d.intent.as_str());
            }
        }
        assert!(low.len() >= 4, "the vague mails are unsure: {low:?}");
        let ro = app.token(Role::ReadOnly).await;
        let r = app
            .get_with(&ro, "/api/v1/classifications/review?limit=2")
            .await;
        assert_eq!(r.status(), 200);
        let page: Value = r.json().await.unwrap();
        assert_eq!(page["threshold"], 0.97);
        let mut seen: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["email_id"].as_str().unwrap().to_owned())
            .collect();
        let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
        while let Some(c) = cursor {
            let r = app
                .get_with(
                    &ro,
                    &format!("/api/v1/classifications/review?limit=2&cursor={c}"),
                )
                .await;
            let page: Value = r.json().await.unwrap();
            for i in page["items"].as_array().unwrap() {
                assert!(i["confidence"].as_f64().unwrap() < 0.97);
                assert!(i["subject"].is_string() && i["evidence"].is_array());
                seen.push(i["email_id"].as_str().unwrap().to_owned());
            }
            cursor = page["next_cursor"].as_str().map(str::to_owned);
        }
        assert_eq!(seen, low, "oldest first, each once");

        // Confirming or overriding takes a decision out of the queue.
        let sales = app.token(Role::Sales).await;
        let (status, confirmed) = app
            .post_json(
                &sales,
                &format!("/api/v1/classifications/{}/confirm", low[0]),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{confirmed}");
        assert!(confirmed["reviewed_at"].is_string());
        assert_eq!(confirmed["overridden"], false);
        let (status, _) = app
            .post_json(
                &sales,
                &format!("/api/v1/classifications/{}/confirm", low[0]),
                json!({}),
            )
            .await;
        assert_eq!(status, 409);
        let other = if labels[1] == "spam" { "other" } else { "spam" };
        let (status, _) = app
            .post_json(
                &sales,
                &format!("/api/v1/classifications/{}/override", low[1]),
                json!({"intent": other, "justification": "mass mail with a tracking link"}),
            )
            .await;
        assert_eq!(status, 200);
        let (_, page) = app.get_json("/api/v1/classifications/review").await;
        let left: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["email_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            left,
            low[2..].iter().map(String::as_str).collect::<Vec<_>>()
        );
        for bad in ["limit=0", "limit=abc", "cursor=%%%", "colour=red"] {
            let (status, _) = app
                .get_json(&format!("/api/v1/classifications/review?{bad}"))
                .await;
            assert_eq!(status, 400, "{bad}");
        }
        app.shutdown().await;
    }
);

story!(
    drift_alerts_once_when_recent_decisions_leave_the_baseline,
    |backend| async move {
        let Some(app) = common::spawn_app_with(backend, |s| {
            s.intent_drift_min_decisions = 20;
            s.intent_drift_window = 50;
        })
        .await
        else {
            return;
        };
        let intent = &app.state.intent;
        let (status, early) = app.get_json("/api/v1/models/drift").await;
        assert_eq!(status, 200);
        assert_eq!(early["status"], "insufficient_data");
        assert_eq!(early["decisions"], 0);
        for i in 0..25 {
            intent
            .classify_email(
                &format!("spam-{i}"),
                &format!("Congratulations winner {i}"),
                "You have won Rs 25 lakh in the lucky draw. Click here and pay the processing fee to claim your prize.",
            )
            .await
            .unwrap();
        }
        let (view, raised) = intent.check_drift().await.expect("drift check");
        assert_eq!(view.status, "alert", "{view:?}");
        assert!(raised);
        assert!(view.label_psi.unwrap() > 0.25);
        assert_eq!(view.decisions, 25);
        assert_eq!(view.override_rate, Some(0.0));
        // While the alert lasts it is not raised again.
        let (_, again) = intent.check_drift().await.unwrap();
        assert!(!again);
        let alerts = events(&app, "event_type=DriftAlertRaised").await;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["payload"]["model_version"], view.model_version);
        assert!(
            alerts[0]["payload"]["metrics"]["label_psi"]
                .as_f64()
                .unwrap()
                > 0.25
        );
        let m = metrics(&app).await;
        assert!(m.contains(r#"pebble_ai_drift_psi{kind="label"}"#), "{m}");
        assert!(m.contains("pebble_ai_drift_alerts_total 1"), "{m}");
        let (status, api) = app.get_json("/api/v1/models/drift").await;
        assert_eq!(status, 200);
        assert_eq!(api["status"], "alert");
        assert_eq!(api["decisions"], 25);
        app.shutdown().await;
    }
);

story!(
    a_high_override_rate_alone_raises_a_drift_alert,
    |backend| async move {
        let Some(app) = common::spawn_app_with(backend, |s| {
            s.intent_drift_min_decisions = 4;
            s.intent_drift_override_rate = 0.3;
            // PSI on four decisions would alert by itself; only overrides count here.
            s.intent_drift_psi_watch = 100.0;
            s.intent_drift_psi_alert = 100.0;
        })
        .await
        else {
            return;
        };
        let intent = &app.state.intent;
        for (i, (s, b)) in [INQUIRY, PAYMENT, INQUIRY, PAYMENT].into_iter().enumerate() {
            intent
                .classify_email(&format!("o-{i}"), s, b)
                .await
                .unwrap();
        }
        assert_eq!(intent.drift().await.unwrap().status, "stable");
        let sales = app.token(Role::Sales).await;
        for id in ["o-0", "o-1"] {
            let (status, _) = app
                .post_json(
                    &sales,
                    &format!("/api/v1/classifications/{id}/override"),
                    json!({"intent": "other", "justification": "internal test mail"}),
                )
                .await;
            assert_eq!(status, 200);
        }
        let (view, raised) = intent.check_drift().await.unwrap();
        assert_eq!(view.status, "alert");
        assert!(raised);
        assert_eq!(view.override_rate, Some(0.5));
        assert!(
            view.reasons.iter().any(|r| r.contains("overrode 2 of 4")),
            "{:?}",
            view.reasons
        );
        app.shutdown().await;
    }
);

story!(
    an_imported_email_is_classified_by_the_pipeline,
    |backend| async move {
        // No background workers: the test drains the queue itself.
        let Some(app) = common::spawn_app_with(backend, |s| s.pipeline_workers = 0).await else {
            return;
        };
        let ops = app.token(Role::Ops).await;
        let email_id = import(&app, &ops, "inq-1@acme.co.in", INQUIRY.0, INQUIRY.1).await;
        let path = format!("/api/v1/classifications/{email_id}");
        assert_eq!(
            app.get_json(&path).await.0,
            404,
            "nothing is decided before the pipeline runs"
        );

        let ran = app.state.pipeline.drain(10).await.unwrap();
        let steps: Vec<(&str, &str)> = ran.iter().map(|r| (r.step.as_str(), r.outcome)).collect();
        assert_eq!(
            steps,
            [
                ("classify", "ok"),
                ("extract", "ok"),
                ("link", "ok"),
                ("enrich", "ok"),
                ("draft", "ok")
            ]
        );

        let (status, decision) = app.get_json(&path).await;
        assert_eq!(status, 200, "{decision}");
        assert_eq!(decision["intent"], "product_inquiry");
        assert_eq!(decision["is_lead"], true);
        assert!(decision["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("classifier:intent-"));
        let recorded = events(&app, "event_type=LeadClassified").await;
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0]["entity_id"], email_id);
    }
);

story!(
    erasing_the_sender_scrubs_the_text_the_decision_kept,
    |backend| async move {
        let Some(app) = common::spawn_app_with(backend, |s| s.pipeline_workers = 0).await else {
            return;
        };
        let (ops, admin) = (app.token(Role::Ops).await, app.admin().await);
        let body = format!("{} Call Ravi on +91 98200 12345.", INQUIRY.1);
        let email_id = import(&app, &ops, "inq-2@acme.co.in", INQUIRY.0, &body).await;
        app.state.pipeline.drain(10).await.unwrap();
        let path = format!("/api/v1/classifications/{email_id}");
        let (_, before) = app.get_json(&path).await;
        assert_eq!(before["entities"]["phone"], json!(["+919820012345"]));
        let sales = app.token(Role::Sales).await;
        let (status, _) = app
            .post_json(&sales, &format!("{path}/confirm"), Value::Null)
            .await;
        assert_eq!(status, 200);
        let unread = import(&app, &ops, "inq-3@acme.co.in", "Re: rate", &body).await;

        let (status, _) = app
            .post_json(
                &ops,
                "/api/v1/dsr/erasure",
                json!({"email": "ravi@acme.co.in", "reason": "asked to be forgotten"}),
            )
            .await;
        assert_eq!(status, 201);
        let (_, requests) = app.get_json("/api/v1/dsr/erasure").await;
        let approve = format!(
            "/api/v1/dsr/erasure/{}/approve",
            requests[0]["id"].as_str().unwrap()
        );
        let (status, report) = app.post_json(&admin, &approve, json!({})).await;
        assert_eq!(status, 200, "{report}");

        let (status, after) = app.get_json(&path).await;
        assert_eq!(status, 200);
        assert_eq!(
            after["intent"], before["intent"],
            "the label stays for drift"
        );
        assert_eq!(after["evidence"], json!([]));
        assert_eq!(after["entities"]["phone"], json!([]));
        assert!(!after.to_string().contains("98200"), "{after}");
        let stored = pebble::store::intent::decision(&app.state.db, &email_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.subject.as_str(), stored.body.as_str()),
            ("(erased)", "")
        );
        assert!(
            pebble::store::intent::corrections(&app.state.db)
                .await
                .unwrap()
                .is_empty(),
            "an erased email is not trained on"
        );

        // Mail erased before its turn in the queue is passed on undecided.
        let ran = app.state.pipeline.drain(10).await.unwrap();
        assert!(ran.iter().all(|r| r.outcome == "ok"), "{ran:?}");
        assert_eq!(ran.len(), 5);
        let (status, _) = app
            .get_json(&format!("/api/v1/classifications/{unread}"))
            .await;
        assert_eq!(status, 404);
    }
);
