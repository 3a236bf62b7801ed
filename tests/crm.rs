//! Identifier validation over HTTP, and the CRM: companies, contacts, the
//! lead funnel, notes and merges, on SQLite and PostgreSQL.

mod common;

use std::sync::Arc;

use common::{services, spawn_app, Backend, TestApp};
use futures::future::BoxFuture;
use pebble::clock::Clock;
use pebble::crm::{link_sender, Crm, RegistryProvider, RegistryVerdict};
use pebble_core::access::Role;
use pebble_core::audit::Actor;
use pebble_core::identifiers::CompanyIdentifiers;
use serde_json::{json, Value};

const GSTIN: &str = "27AAPCA1234A1Z5";
const PAN: &str = "AAPCA1234A";
const CIN: &str = "L17110MH1973PLC019786";
/// Valid on its own, but carries another holder's PAN.
const OTHER_GSTIN: &str = "27AAPFU0939F1ZV";

async fn put_json(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app.get_with(token, path).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn events(app: &TestApp, token: &str, event_type: &str) -> Vec<Value> {
    let (s, page) = get(
        app,
        token,
        &format!("/api/v1/activity?event_type={event_type}&order=oldest&limit=1000"),
    )
    .await;
    assert_eq!(s, 200);
    page["items"].as_array().unwrap().clone()
}

story!(
    validate_reports_every_value_for_every_role_and_refuses_bad_requests,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        for role in Role::ALL {
            let token = app.token(role).await;
            let (s, body) = app
                .post_json(
                    &token,
                    "/api/v1/validate",
                    json!({"values": [" 27aapcA1234a1z5 ", "AAPCA1234A", CIN, "AAB-1234"]}),
                )
                .await;
            assert_eq!(s, 200, "{role}: {body}");
            let kinds: Vec<_> = body
                .as_array()
                .unwrap()
                .iter()
                .map(|v| (v["kind"].as_str().unwrap(), v["valid"].as_bool().unwrap()))
                .collect();
            assert_eq!(
                kinds,
                [
                    ("gstin", true),
                    ("pan", true),
                    ("cin", true),
                    ("llpin", true)
                ]
            );
            assert_eq!(body[0]["normalized"], GSTIN, "lower case is normalised");
            assert_eq!(body[0]["value"], " 27aapcA1234a1z5 ");
            assert_eq!(body[0]["info"]["state"], "Maharashtra");
            let keys: Vec<_> = body[0].as_object().unwrap().keys().cloned().collect();
            assert_eq!(
                keys,
                ["errors", "info", "kind", "normalized", "valid", "value"]
            );
        }
        let token = app.token(Role::ReadOnly).await;

        // Look-alikes and empties are reports, not request errors.
        let (s, body) = app
            .post_json(
                &token,
                "/api/v1/validate",
                json!({"kind": "pan", "values": ["", "АAPCA1234A", "AAPCA１２３４A", "27AAPCA1234A1Z6"]}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let reports = body.as_array().unwrap();
        assert!(reports.iter().all(|r| r["valid"] == false));
        assert_eq!(reports[0]["errors"][0], "empty input");
        assert!(reports[1]["errors"][0]
            .as_str()
            .unwrap()
            .contains("position 1"));
        assert!(reports[2]["errors"][0]
            .as_str()
            .unwrap()
            .contains("position 6"));

        // The injectable clock bounds a CIN's year.
        let next_year = "L17110MH2027PLC019786";
        let (_, body) = app
            .post_json(
                &token,
                "/api/v1/validate",
                json!({"kind": "cin", "values": [next_year]}),
            )
            .await;
        assert_eq!(body[0]["valid"], false);
        assert!(body[0]["errors"][0].as_str().unwrap().contains("future"));
        app.clock.advance(chrono::Duration::days(366));
        let token = app.token(Role::ReadOnly).await;
        let (_, body) = app
            .post_json(
                &token,
                "/api/v1/validate",
                json!({"kind": "cin", "values": [next_year]}),
            )
            .await;
        assert_eq!(body[0]["valid"], true, "{body}");

        let huge = "2".repeat(10 * 1024);
        for (request, field) in [
            (json!({"values": []}), "values"),
            (json!({"values": [huge]}), "values[0]"),
            (
                json!({"values": ["ok", "27AAPCA\u{0}1234A1Z5"]}),
                "values[1]",
            ),
            (json!({"kind": "aadhaar", "values": ["x"]}), "kind"),
            (json!({"values": ["x"], "extra": 1}), "body"),
            (json!({"values": vec!["AAPCA1234A"; 1001]}), "values"),
        ] {
            let (s, body) = app.post_json(&token, "/api/v1/validate", request).await;
            assert_eq!(s, 400, "{body}");
            if field != "body" {
                assert_eq!(body["field"], field, "{body}");
            }
        }
        app.shutdown().await;
    }
);

story!(
    companies_are_validated_on_every_write_and_failures_are_queryable,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let sales = app.token(Role::Sales).await;
        let (s, good) = app
            .post_json(
                &sales,
                "/api/v1/companies",
                json!({"name": "Acme Industries", "domains": ["Acme.co.in"], "gstins": [" 27aapca1234a1z5"],
                       "pan": "aapca1234a", "cin": CIN, "state": "Maharashtra", "address": "Pune"}),
            )
            .await;
        assert_eq!(s, 201, "{good}");
        assert_eq!(good["validation_status"], "valid", "{good}");
        assert_eq!(good["gstins"], json!([GSTIN]));
        assert_eq!(good["pan"], PAN);
        assert_eq!(good["domains"], json!(["acme.co.in"]));

        let (s, bad) = app
            .post_json(
                &sales,
                "/api/v1/companies",
                json!({"name": "Borrowed GSTIN Pvt Ltd", "gstins": [OTHER_GSTIN], "pan": PAN}),
            )
            .await;
        assert_eq!(s, 201);
        assert_eq!(bad["validation_status"], "failed");
        assert!(bad["validation_errors"][0]
            .as_str()
            .unwrap()
            .contains("carries PAN AAPFU0939F"));

        let (s, plain) = app
            .post_json(&sales, "/api/v1/companies", json!({"name": "No Ids"}))
            .await;
        assert_eq!(s, 201);
        assert_eq!(plain["validation_status"], "unchecked");

        let validated = events(&app, &sales, "CompanyValidated").await;
        assert_eq!(validated.len(), 2, "none for a company without identifiers");
        let p = &validated[0]["payload"];
        assert_eq!(validated[0]["entity_type"], "company");
        assert_eq!(validated[0]["entity_id"], good["id"]);
        assert_eq!(
            (&p["cin"], &p["pan"], &p["gstin"], &p["source"], &p["valid"]),
            (
                &json!(CIN),
                &json!(PAN),
                &json!(GSTIN),
                &json!("offline"),
                &json!(true)
            )
        );
        assert_eq!(p["errors"], json!([]));
        assert_eq!(validated[1]["payload"]["valid"], false);
        assert_eq!(validated[1]["payload"]["errors"], bad["validation_errors"]);

        let (s, failed) = get(&app, &sales, "/api/v1/companies?validation=failed").await;
        assert_eq!(s, 200);
        let ids: Vec<_> = failed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect();
        assert_eq!(ids, [bad["id"].clone()]);

        // Fixing the PAN revalidates and records it again.
        let id = bad["id"].as_str().unwrap();
        let (s, fixed) = put_json(
            &app,
            &sales,
            &format!("/api/v1/companies/{id}"),
            json!({"name": "Borrowed GSTIN Pvt Ltd", "gstins": [OTHER_GSTIN], "pan": "AAPFU0939F"}),
        )
        .await;
        assert_eq!(s, 200, "{fixed}");
        assert_eq!(fixed["validation_status"], "valid");
        let (_, detail) = get(&app, &sales, &format!("/api/v1/companies/{id}")).await;
        let history: Vec<_> = detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["payload"]["valid"].as_bool().unwrap())
            .collect();
        assert_eq!(history, [false, true]);
        let (_, failed) = get(&app, &sales, "/api/v1/companies?validation=failed").await;
        assert_eq!(failed["items"], json!([]));

        // A domain belongs to one company; free-mail domains to none.
        let (s, body) = app
            .post_json(
                &sales,
                "/api/v1/companies",
                json!({"name": "Copycat", "domains": ["acme.co.in"]}),
            )
            .await;
        assert_eq!(s, 409, "{body}");
        let (s, body) = app
            .post_json(
                &sales,
                "/api/v1/companies",
                json!({"name": "Gmail Users", "domains": ["gmail.com"]}),
            )
            .await;
        assert_eq!((s, body["field"].as_str()), (400, Some("domains[0]")));
        app.shutdown().await;
    }
);

story!(
    lists_page_sort_and_search_by_name_gstin_and_email,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let admin = app.admin().await;
        let names = [
            "delta", "Alpha", "charlie", "Echo", "bravo", "foxtrot", "golf",
        ];
        for (i, n) in names.iter().enumerate() {
            app.clock.advance(chrono::Duration::seconds(1));
            let gstins = if i == 3 { json!([GSTIN]) } else { json!([]) };
            let (s, _) = app
                .post_json(
                    &admin,
                    "/api/v1/companies",
                    json!({"name": n, "gstins": gstins}),
                )
                .await;
            assert_eq!(s, 201);
        }
        let mut seen = Vec::new();
        let mut path = "/api/v1/companies?limit=3".to_owned();
        loop {
            let (s, page) = get(&app, &admin, &path).await;
            assert_eq!(s, 200, "{page}");
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            seen.extend(items.iter().map(|c| c["name"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/companies?limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(
            seen,
            ["Alpha", "bravo", "charlie", "delta", "Echo", "foxtrot", "golf"],
            "case-insensitive name order, every row once"
        );

        let (_, newest) = get(&app, &admin, "/api/v1/companies?sort=-created_at&limit=2").await;
        let first: Vec<_> = newest["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(first, ["golf", "foxtrot"]);
        let cursor = newest["next_cursor"].as_str().unwrap();
        let (_, next) = get(
            &app,
            &admin,
            &format!("/api/v1/companies?sort=-created_at&limit=2&cursor={cursor}"),
        )
        .await;
        assert_eq!(next["items"][0]["name"], "bravo");
        let (s, body) = get(
            &app,
            &admin,
            &format!("/api/v1/companies?sort=name&cursor={cursor}"),
        )
        .await;
        assert_eq!((s, body["field"].as_str()), (400, Some("cursor")));

        for (q, expected) in [
            ("ECH", "Echo"),
            ("aapca1234a1z5", "Echo"),
            ("27AAPCA", "Echo"),
        ] {
            let (_, found) = get(&app, &admin, &format!("/api/v1/companies?q={q}")).await;
            assert_eq!(found["items"].as_array().unwrap().len(), 1, "{q}");
            assert_eq!(found["items"][0]["name"], expected);
        }
        let (_, none) = get(&app, &admin, "/api/v1/companies?q=%25").await;
        assert_eq!(none["items"], json!([]), "% is a literal, not a wildcard");

        for email in ["ravi@acme.co.in", "Priya@Beta.in", "o'neil@gamma.in"] {
            let (s, c) = app
                .post_json(
                    &admin,
                    "/api/v1/contacts",
                    json!({"email": email, "name": email}),
                )
                .await;
            assert_eq!(s, 201, "{c}");
        }
        let (_, found) = get(&app, &admin, "/api/v1/contacts?q=PRIYA%40beta").await;
        assert_eq!(found["items"][0]["email"], "priya@beta.in");
        let (s, dup) = app
            .post_json(
                &admin,
                "/api/v1/contacts",
                json!({"email": "RAVI@acme.co.in"}),
            )
            .await;
        assert_eq!(s, 409, "{dup}");

        for bad in [
            "/api/v1/companies?limit=0",
            "/api/v1/companies?sort=rank",
            "/api/v1/companies?validation=maybe",
            "/api/v1/companies?colour=red",
            "/api/v1/leads?q=x",
            "/api/v1/leads?stage=Won",
        ] {
            let (s, body) = get(&app, &admin, bad).await;
            assert_eq!(s, 400, "{bad}: {body}");
            assert!(body["field"].is_string(), "{bad}: {body}");
        }
        app.shutdown().await;
    }
);

story!(
    the_lead_funnel_allows_only_valid_moves_and_records_each,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let sales = app.token(Role::Sales).await;
        let (_, company) = app
            .post_json(&sales, "/api/v1/companies", json!({"name": "Funnel Co"}))
            .await;
        let company_id = company["id"].as_str().unwrap();
        let (s, lead) = app
            .post_json(
                &sales,
                "/api/v1/leads",
                json!({"title": "500 valves", "company_id": company_id, "source_email_id": "email-1"}),
            )
            .await;
        assert_eq!(s, 201, "{lead}");
        assert_eq!(lead["stage"], "new");
        let (_, me) = get(&app, &sales, "/api/v1/auth/me").await;
        assert_eq!(
            lead["owner_id"], me["user_id"],
            "a Sales creator owns the lead"
        );
        let id = lead["id"].as_str().unwrap();
        let stage = format!("/api/v1/leads/{id}/stage");

        let (s, body) = app.post_json(&sales, &stage, json!({"stage": "won"})).await;
        assert_eq!(s, 409, "new cannot jump to won: {body}");
        let (s, body) = app
            .post_json(&sales, &stage, json!({"stage": "lost"}))
            .await;
        assert_eq!((s, body["field"].as_str()), (400, Some("reason")));
        for to in ["contacted", "qualified", "quoted"] {
            let (s, body) = app.post_json(&sales, &stage, json!({"stage": to})).await;
            assert_eq!(s, 200, "{to}: {body}");
            assert_eq!(body["stage"], to);
        }
        let (s, body) = app
            .post_json(
                &sales,
                &stage,
                json!({"stage": "lost", "reason": "price too high"}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["lost_reason"], "price too high");
        let (s, _) = app.post_json(&sales, &stage, json!({"stage": "won"})).await;
        assert_eq!(s, 409, "lost is final");

        let created = events(&app, &sales, "LeadCreated").await;
        assert_eq!(created.len(), 1);
        assert_eq!(created[0]["payload"]["lead_id"], id);
        assert_eq!(created[0]["payload"]["company_id"], company_id);
        assert_eq!(created[0]["payload"]["to_stage"], "new");
        let moves: Vec<_> = events(&app, &sales, "LeadStageChanged")
            .await
            .iter()
            .map(|e| {
                assert_eq!(e["payload"]["company_id"], company_id);
                (
                    e["payload"]["from_stage"].as_str().unwrap().to_owned(),
                    e["payload"]["to_stage"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("new", "contacted"),
            ("contacted", "qualified"),
            ("qualified", "quoted"),
            ("quoted", "lost"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(moves, expected);

        let (_, detail) = get(&app, &sales, &format!("/api/v1/leads/{id}")).await;
        assert_eq!(detail["history"].as_array().unwrap().len(), 5);
        let (_, lost) = get(&app, &sales, "/api/v1/leads?stage=lost").await;
        assert_eq!(lost["items"][0]["id"], id);

        // The owner must be a Sales user; Ops reads but does not write.
        let admin = app.admin().await;
        let (_, admin_me) = get(&app, &admin, "/api/v1/auth/me").await;
        let (s, body) = app
            .post_json(
                &admin,
                "/api/v1/leads",
                json!({"title": "x", "company_id": company_id, "owner_id": admin_me["user_id"]}),
            )
            .await;
        assert_eq!((s, body["field"].as_str()), (400, Some("owner_id")));
        let ops = app.token(Role::Ops).await;
        let (s, _) = app
            .post_json(
                &ops,
                "/api/v1/leads",
                json!({"title": "x", "company_id": company_id}),
            )
            .await;
        assert_eq!(s, 403);
        let (s, _) = get(&app, &ops, &format!("/api/v1/leads/{id}")).await;
        assert_eq!(s, 200);
        app.shutdown().await;
    }
);

story!(
    merging_duplicates_keeps_every_history_and_points_at_the_survivor,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let sales = app.token(Role::Sales).await;
        let (_, survivor) = app
            .post_json(
                &sales,
                "/api/v1/companies",
                json!({"name": "Acme", "domains": ["acme.co.in"], "state": "Maharashtra"}),
            )
            .await;
        let (_, duplicate) = app
            .post_json(
                &sales,
                "/api/v1/companies",
                json!({"name": "ACME Industries", "domains": ["acmeindustries.in"], "gstins": [GSTIN], "pan": PAN}),
            )
            .await;
        let (sid, did) = (
            survivor["id"].as_str().unwrap(),
            duplicate["id"].as_str().unwrap(),
        );
        let (_, contact) = app
            .post_json(
                &sales,
                "/api/v1/contacts",
                json!({"email": "ravi@acmeindustries.in", "company_id": did}),
            )
            .await;
        let (_, lead) = app
            .post_json(
                &sales,
                "/api/v1/leads",
                json!({"title": "valves", "company_id": did}),
            )
            .await;
        let (s, _) = app
            .post_json(
                &sales,
                "/api/v1/notes",
                json!({"entity_type": "company", "entity_id": did, "body": "met at the fair"}),
            )
            .await;
        assert_eq!(s, 201);

        let (s, merged) = app
            .post_json(
                &sales,
                &format!("/api/v1/companies/{sid}/merge"),
                json!({"duplicate": did}),
            )
            .await;
        assert_eq!(s, 200, "{merged}");
        assert_eq!(
            merged["domains"],
            json!(["acme.co.in", "acmeindustries.in"])
        );
        assert_eq!(merged["gstins"], json!([GSTIN]));
        assert_eq!(merged["pan"], PAN);
        assert_eq!(merged["validation_status"], "valid");

        let (s, absorbed) = get(&app, &sales, &format!("/api/v1/companies/{did}")).await;
        assert_eq!(s, 200);
        assert_eq!(absorbed["merged_into"], sid);
        let own: Vec<_> = absorbed["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            own,
            ["CompanyValidated", "CompanyMerged"],
            "its events stay"
        );

        let (_, detail) = get(&app, &sales, &format!("/api/v1/companies/{sid}")).await;
        assert_eq!(detail["absorbed"], json!([did]));
        let kinds: Vec<_> = detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["event_type"].as_str().unwrap(),
                    e["entity_id"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("CompanyValidated", did),
                ("CompanyValidated", sid),
                ("CompanyMerged", did),
                ("CompanyMerged", sid),
            ]
        );
        assert_eq!(detail["notes"][0]["body"], "met at the fair");
        let (_, c) = get(
            &app,
            &sales,
            &format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(c["company_id"], sid);
        let (_, l) = get(
            &app,
            &sales,
            &format!("/api/v1/leads/{}", lead["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(l["company_id"], sid);
        let (_, list) = get(&app, &sales, "/api/v1/companies").await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);

        // A merged record cannot be changed or merged again; nor can a record absorb itself.
        let (s, _) = put_json(
            &app,
            &sales,
            &format!("/api/v1/companies/{did}"),
            json!({"name": "zombie"}),
        )
        .await;
        assert_eq!(s, 409);
        let (s, _) = app
            .post_json(
                &sales,
                &format!("/api/v1/companies/{sid}/merge"),
                json!({"duplicate": did}),
            )
            .await;
        assert_eq!(s, 409);
        let (s, _) = app
            .post_json(
                &sales,
                &format!("/api/v1/companies/{sid}/merge"),
                json!({"duplicate": sid}),
            )
            .await;
        assert_eq!(s, 400);

        // Contacts merge the same way.
        let (_, a) = app
            .post_json(
                &sales,
                "/api/v1/contacts",
                json!({"email": "a@acme.co.in", "name": "Asha"}),
            )
            .await;
        let (_, b2) = app
            .post_json(
                &sales,
                "/api/v1/contacts",
                json!({"email": "asha.k@acme.co.in", "phone": "+91 98200 12345"}),
            )
            .await;
        let (aid, bid) = (a["id"].as_str().unwrap(), b2["id"].as_str().unwrap());
        let (s, kept) = app
            .post_json(
                &sales,
                &format!("/api/v1/contacts/{aid}/merge"),
                json!({"duplicate": bid}),
            )
            .await;
        assert_eq!(s, 200, "{kept}");
        assert_eq!(kept["phone"], "+91 98200 12345");
        let (_, gone) = get(&app, &sales, &format!("/api/v1/contacts/{bid}")).await;
        assert_eq!(gone["merged_into"], aid);
        assert_eq!(gone["history"][0]["event_type"], "ContactMerged");
        app.shutdown().await;
    }
);

story!(
    sql_and_html_in_every_crm_field_are_stored_verbatim_and_nul_or_10_kb_are_refused,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let sales = app.token(Role::Sales).await;
        let sql = "Robert'); DROP TABLE companies;--";
        let html = "<script>alert(\"x\")</script> & <b>bold</b>";
        let (s, c) = app
            .post_json(
                &sales,
                "/api/v1/companies",
                json!({"name": sql, "address": html, "state": sql, "pan": html, "cin": sql, "gstins": [html]}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        let id = c["id"].as_str().unwrap();
        let (_, got) = get(&app, &sales, &format!("/api/v1/companies/{id}")).await;
        assert_eq!(
            (
                &got["name"],
                &got["address"],
                &got["state"],
                &got["pan"],
                &got["cin"],
                &got["gstins"][0]
            ),
            (
                &json!(sql),
                &json!(html),
                &json!(sql),
                &json!(html),
                &json!(sql),
                &json!(html)
            )
        );
        assert_eq!(got["validation_status"], "failed");
        let (_, found) = get(&app, &sales, "/api/v1/companies?q=robert%27%29%3B%20drop").await;
        assert_eq!(found["items"][0]["id"], id);

        let (s, contact) = app
            .post_json(
                &sales,
                "/api/v1/contacts",
                json!({"email": "o'brien+x@acme.in", "name": html, "phone": sql, "company_id": id}),
            )
            .await;
        assert_eq!(s, 201, "{contact}");
        assert_eq!(
            (&contact["name"], &contact["phone"], &contact["email"]),
            (&json!(html), &json!(sql), &json!("o'brien+x@acme.in"))
        );
        let (s, lead) = app
            .post_json(
                &sales,
                "/api/v1/leads",
                json!({"title": html, "company_id": id, "source_email_id": sql}),
            )
            .await;
        assert_eq!(s, 201, "{lead}");
        assert_eq!(
            (&lead["title"], &lead["source_email_id"]),
            (&json!(html), &json!(sql))
        );
        let lid = lead["id"].as_str().unwrap();
        let (_, lost) = app
            .post_json(
                &sales,
                &format!("/api/v1/leads/{lid}/stage"),
                json!({"stage": "lost", "reason": sql}),
            )
            .await;
        assert_eq!(lost["lost_reason"], sql);
        let (s, note) = app
            .post_json(
                &sales,
                "/api/v1/notes",
                json!({"entity_type": "lead", "entity_id": lid, "body": html}),
            )
            .await;
        assert_eq!((s, &note["body"]), (201, &json!(html)));

        let huge = "x".repeat(10 * 1024);
        let cid = contact["id"].as_str().unwrap();
        for (path, body, field) in [
            ("/api/v1/companies", json!({"name": "a\u{0}b"}), "name"),
            ("/api/v1/companies", json!({"name": huge}), "name"),
            (
                "/api/v1/companies",
                json!({"name": "x", "address": huge}),
                "address",
            ),
            (
                "/api/v1/companies",
                json!({"name": "x", "gstins": [huge]}),
                "gstins[0]",
            ),
            ("/api/v1/companies", json!({"name": "  "}), "name"),
            ("/api/v1/contacts", json!({"email": huge}), "email"),
            (
                "/api/v1/contacts",
                json!({"email": "a@b.in", "name": huge}),
                "name",
            ),
            (
                "/api/v1/contacts",
                json!({"email": "a@b.in", "phone": "1\u{0}"}),
                "phone",
            ),
            (
                "/api/v1/leads",
                json!({"title": huge, "company_id": id}),
                "title",
            ),
            (
                "/api/v1/notes",
                json!({"entity_type": "lead", "entity_id": lid, "body": huge}),
                "body",
            ),
            (
                "/api/v1/notes",
                json!({"entity_type": "email", "entity_id": lid, "body": "x"}),
                "entity_type",
            ),
        ] {
            let (s, problem) = app.post_json(&sales, path, body).await;
            assert_eq!(s, 400, "{path} {field}: {problem}");
            assert_eq!(problem["field"], field, "{path}: {problem}");
        }
        let (s, problem) = put_json(
            &app,
            &sales,
            &format!("/api/v1/contacts/{cid}"),
            json!({"email": "x@y.in", "name": "\u{0}"}),
        )
        .await;
        assert_eq!((s, problem["field"].as_str()), (400, Some("name")));
        let (s, _) = get(&app, &sales, "/api/v1/companies?q=a%00b").await;
        assert_eq!(s, 400);
        app.shutdown().await;
    }
);

story!(
    a_sender_is_linked_by_domain_and_free_mail_senders_get_no_company,
    |b: Backend| async move {
        let Some(s) = services(b).await else {
            return;
        };
        let now = s.clock.now().timestamp_micros();
        let mut tx = s.state.db.begin().await.unwrap();
        let ravi = link_sender(&mut tx, "Ravi@Acme.co.in", "Ravi Kumar", now)
            .await
            .unwrap();
        assert!(ravi.created_contact && ravi.created_company);
        let priya = link_sender(&mut tx, "priya@acme.co.in", "Priya", now)
            .await
            .unwrap();
        assert_eq!(priya.company_id, ravi.company_id, "one company per domain");
        assert!(!priya.created_company);
        let again = link_sender(&mut tx, "RAVI@acme.co.in", "", now)
            .await
            .unwrap();
        assert_eq!(again.contact_id, ravi.contact_id);
        assert!(!again.created_contact);
        let mut free = Vec::new();
        for addr in [
            "a@gmail.com",
            "b@gmail.com",
            "c@yahoo.co.in",
            "d@rediffmail.com",
            "e@outlook.com",
            "f@hotmail.com",
        ] {
            let l = link_sender(&mut tx, addr, "", now).await.unwrap();
            assert_eq!(l.company_id, None, "{addr}");
            free.push(l.contact_id);
        }
        free.dedup();
        assert_eq!(free.len(), 6, "every free-mail sender is their own contact");
        assert!(link_sender(&mut tx, "not an address", "", now)
            .await
            .is_err());
        tx.commit().await.unwrap();
        let company = s
            .state
            .crm
            .company(ravi.company_id.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(company.record.domains, ["acme.co.in"]);
    }
);

struct FakeRegistry;

impl RegistryProvider for FakeRegistry {
    fn source(&self) -> &str {
        "fake-gst-portal"
    }
    fn verify<'a>(
        &'a self,
        ids: &'a CompanyIdentifiers,
    ) -> BoxFuture<'a, Result<RegistryVerdict, String>> {
        Box::pin(async move {
            Ok(RegistryVerdict {
                valid: false,
                errors: vec![format!("{} is cancelled", ids.gstins[0])],
            })
        })
    }
}

story!(
    an_online_registry_adds_its_own_company_validated_event,
    |b: Backend| async move {
        let Some(s) = services(b).await else {
            return;
        };
        let crm = Crm::new(
            s.state.db.clone(),
            s.state.audit.clone(),
            Some(Arc::new(FakeRegistry)),
        );
        let input: pebble::crm::CompanyInput = serde_json::from_value(json!({
            "name": "Acme", "gstins": [GSTIN], "pan": PAN
        }))
        .unwrap();
        let c = crm
            .create_company(Actor::system("test"), input)
            .await
            .unwrap();
        assert_eq!(c.validation_status, "failed");
        let detail = crm.company(&c.id).await.unwrap();
        let payloads: Vec<Value> = detail
            .history
            .iter()
            .map(|e| serde_json::from_str(e.payload.as_deref().unwrap()).unwrap())
            .collect();
        assert_eq!(payloads.len(), 2);
        assert_eq!(
            (&payloads[0]["source"], &payloads[0]["valid"]),
            (&json!("offline"), &json!(true))
        );
        assert_eq!(
            (&payloads[1]["source"], &payloads[1]["valid"]),
            (&json!("fake-gst-portal"), &json!(false))
        );
        assert_eq!(
            payloads[1]["errors"],
            json!([format!("{GSTIN} is cancelled")])
        );
    }
);
