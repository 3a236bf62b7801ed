//! The HTTP API, through a real server on random ports.

mod common;

use common::{spawn_app, Backend};
use pebble::clock::Clock;
use pebble_core::audit::{Actor, EventType, NewEvent};
use serde_json::json;

async fn record(app: &common::TestApp, n: usize) {
    let events: Vec<_> = (0..n)
        .map(|i| {
            NewEvent::new(
                EventType::EmailReceived,
                Actor::system("ingest"),
                "email",
                format!("e{i}"),
                json!({"subject": "<script>alert(1)</script>' or 1=1 --"}),
                app.clock.now(),
            )
        })
        .collect();
    app.state.audit.record(&events).await.unwrap();
}

story!(
    health_and_readiness_answer_on_a_fresh_database,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        // Public: no token.
        let get = |path: &str| app.client.get(app.url(path)).send();
        let r = get("/healthz").await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        let r = get("/readyz").await.unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["database"], "ok");
        // The four test users' UserCreated events.
        assert_eq!(body["audit_head"]["seq"], 4);
        app.shutdown().await;
    }
);

story!(
    every_response_carries_a_request_id_and_security_headers,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        for path in [
            "/healthz",
            "/api/v1/activity",
            "/api/v1/activity?limit=0",
            "/no/such/route",
        ] {
            let r = app.get(path).await;
            let h = r.headers();
            assert!(h.get("x-request-id").is_some(), "{path}");
            assert_eq!(
                h.get("x-content-type-options").unwrap(),
                "nosniff",
                "{path}"
            );
            assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{path}");
            assert!(h.get("content-security-policy").is_some(), "{path}");
        }
        app.shutdown().await;
    }
);

story!(
    malformed_search_filters_get_a_problem_naming_the_field,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        for (query, field) in [
            ("limit=abc", "limit"),
            ("limit=0", "limit"),
            ("limit=100000", "limit"),
            ("cursor=-4", "cursor"),
            ("from=yesterday", "from"),
            ("from=2026-02-01&to=2026-01-01", "to"),
            ("event_type=EmailGone", "event_type"),
            ("actor_kind=robot", "actor_kind"),
            ("entity=nocolon", "entity"),
            ("entity_id=a%00b", "entity_id"),
            ("order=sideways", "order"),
            ("colour=red", "colour"),
        ] {
            let r = app.get(&format!("/api/v1/activity?{query}")).await;
            assert_eq!(r.status().as_u16(), 400, "{query}");
            assert_eq!(
                r.headers()["content-type"],
                "application/problem+json",
                "{query}"
            );
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["field"], field, "{query}: {body}");
            assert_eq!(body["status"], 400);
        }
        app.shutdown().await;
    }
);

story!(
    search_returns_pages_with_a_cursor_and_payloads_verbatim,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        record(&app, 5).await;
        let (status, page) = app
            .get_json("/api/v1/activity?limit=2&event_type=EmailReceived")
            .await;
        assert_eq!(status, 200);
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let first = page["items"][0]["seq"].as_i64().unwrap();
        assert_eq!(page["items"][1]["seq"].as_i64().unwrap(), first - 1);
        assert_eq!(
            page["items"][0]["payload"]["subject"],
            "<script>alert(1)</script>' or 1=1 --"
        );
        let cursor = page["next_cursor"].as_i64().unwrap();
        let (_, next) = app
            .get_json(&format!(
                "/api/v1/activity?limit=2&event_type=EmailReceived&cursor={cursor}"
            ))
            .await;
        assert_eq!(next["items"][0]["seq"].as_i64().unwrap(), first - 2);
        let (_, by_entity) = app.get_json("/api/v1/activity?entity=email:e3").await;
        assert_eq!(by_entity["items"].as_array().unwrap().len(), 1);
        assert!(by_entity["next_cursor"].is_null());
        app.shutdown().await;
    }
);

story!(
    verify_and_readiness_report_a_tampered_chain_while_serving_goes_on,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        record(&app, 6).await;
        let (_, report) = app.get_json("/api/v1/activity/verify").await;
        assert_eq!(report["ok"], true, "{report}");
        match &app.state.db {
            pebble::store::Db::Sqlite(p) => {
                sqlx::query("drop trigger activity_stream_no_update")
                    .execute(p)
                    .await
                    .unwrap();
                sqlx::query("update activity_stream set actor_id = 'x' where seq = 4")
                    .execute(p)
                    .await
                    .unwrap();
            }
            pebble::store::Db::Postgres(p) => {
                let mut tx = p.begin().await.unwrap();
                sqlx::query("alter table activity_stream disable trigger user")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query("update activity_stream set actor_id = 'x' where seq = 4")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query("alter table activity_stream enable trigger user")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }
        let (status, report) = app.get_json("/api/v1/activity/verify").await;
        assert_eq!(status, 200);
        assert_eq!(report["ok"], false);
        assert_eq!(report["first_bad_seq"], 4);
        let (status, ready) = app.get_json("/readyz").await;
        assert_eq!(status, 200);
        assert_eq!(ready["status"], "degraded");
        assert_eq!(ready["audit_chain"]["first_bad_seq"], 4);
        let (status, _) = app.get_json("/api/v1/activity?limit=1").await;
        assert_eq!(status, 200, "search still serves");
        let metrics = reqwest::get(format!("http://{}/metrics", app.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("pebble_audit_chain_ok 0"), "{metrics}");
        app.shutdown().await;
    }
);

story!(
    exports_download_as_csv_and_xlsx_and_an_empty_range_still_has_headers,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        record(&app, 3).await;
        let r = app
            .get("/api/v1/activity/export?format=csv&event_type=EmailReceived")
            .await;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        let text = r.text().await.unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.starts_with("seq,id,occurred_at"));

        let r = app
            .get("/api/v1/activity/export?format=csv&from=2001-01-01&to=2001-01-02")
            .await;
        assert_eq!(r.text().await.unwrap().lines().count(), 1);

        let r = app.get("/api/v1/activity/export?format=xlsx").await;
        assert_eq!(r.status().as_u16(), 200);
        let bytes = r.bytes().await.unwrap();
        assert_eq!(&bytes[..2], b"PK", "an xlsx is a zip archive");

        let r = app.get("/api/v1/activity/export?format=pdf").await;
        assert_eq!(r.status().as_u16(), 400);
        let (_, exports) = app
            .get_json("/api/v1/activity?event_type=DataExported")
            .await;
        assert_eq!(exports["items"].as_array().unwrap().len(), 3);
        app.shutdown().await;
    }
);

story!(
    a_proof_needs_a_signed_checkpoint_and_then_verifies,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        record(&app, 4).await;
        let (status, _) = app.get_json("/api/v1/activity/checkpoint").await;
        assert_eq!(status, 404);
        let (status, _) = app.get_json("/api/v1/activity/2/proof").await;
        assert_eq!(status, 409, "a GET never signs");
        let token = app.admin().await;
        let r = app
            .client
            .post(app.url("/api/v1/activity/checkpoint"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let (status, doc) = app.get_json("/api/v1/activity/2/proof").await;
        assert_eq!(status, 200);
        let doc: pebble::audit::proof::InclusionProof = serde_json::from_value(doc).unwrap();
        let key = app.state.audit.signer().public_key_base64();
        pebble::audit::proof::verify(&doc, Some(&key)).unwrap();
        let (status, _) = app.get_json("/api/v1/activity/999/proof").await;
        assert_eq!(status, 404);
        let (status, _) = app.get_json("/api/v1/activity/abc/proof").await;
        assert_eq!(status, 400);
        app.shutdown().await;
    }
);

story!(
    metrics_are_served_on_their_own_listener,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        record(&app, 2).await;
        app.get("/api/v1/activity").await;
        let text = reqwest::get(format!("http://{}/metrics", app.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(r#"pebble_audit_events_total{event_type="EmailReceived"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"route="/api/v1/activity",method="GET",status="200""#),
            "{text}"
        );
        assert!(text.contains("pebble_db_pool_connections"));
        assert!(text.contains("pebble_build_info"));
        let r = app.get("/metrics").await;
        assert_eq!(r.status().as_u16(), 404, "metrics stay off the public port");
        app.shutdown().await;
    }
);
