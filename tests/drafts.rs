//! Drafting and review, through the service the pipeline calls and the
//! public API: facts from their sources, every number checked against them,
//! templates Admin can edit, approval with edits kept as a diff, rejection,
//! roles, the CLI list.

mod common;

use std::collections::BTreeSet;

use common::drafting::{self, catalog, check_every_number, email, input, settings_texts};
use common::{Backend, TestApp};
use pebble::drafts::Drafts;
use pebble::store::drafts::Draft;
use pebble_core::access::Role;
use pebble_core::audit::Actor;
use pebble_core::catalog::CatalogItem;
use pebble_intent::Intent;
use serde_json::{json, Value};

const INQUIRY: &str = "Dear sir,\nPls send rate and stock for:\n2.5 sq mm FR wire 10 coil\n32A DP MCB 25 nos\n\
    6 sq mm FR wire 20 coil\n4 sq mm FRLS wire 5 coil\n1 HP monoblock 2 nos\n0.5 HP openwell pump 1 no\n\
    25mm conduit 200 mtr\nfan regulator 10 nos\nRegards,\nRamesh Iyer\nIyer Electricals, Pune 411001";

fn drafts(app: &TestApp) -> &Drafts {
    &app.state.drafts
}

async fn events(app: &TestApp, event_type: &str) -> Vec<Value> {
    let (status, body) = app
        .get_json(&format!(
            "/api/v1/activity?event_type={event_type}&limit=100"
        ))
        .await;
    assert_eq!(status, 200);
    body["items"].as_array().cloned().unwrap_or_default()
}

/// The app with the fan regulator gone from Tally since the email was read.
async fn app(b: Backend) -> Option<(TestApp, pebble::tally::sim::SimHandle)> {
    let (app, sim) = drafting::app(b, |_| {}).await?;
    let without: Vec<CatalogItem> = catalog()
        .into_iter()
        .filter(|c| c.sku != "SW-MOD-06")
        .collect();
    sim.set_catalog(&without);
    app.state
        .tally
        .sync(true, Actor::system("test"))
        .await
        .unwrap();
    Some((app, sim))
}

story!(
    a_product_inquiry_draft_tabulates_stock_rate_gst_and_lead_time_from_tally_and_the_cache,
    |b: Backend| async move {
        let Some((app, _sim)) = app(b).await else {
            return;
        };
        let mut inp = input(
            Intent::ProductInquiry,
            email(
                "e-1",
                "ramesh@iyer-electricals.in",
                Some("Ramesh Iyer"),
                "Rate required",
                INQUIRY,
            ),
        );
        assert_eq!(inp.products.len(), 8, "{:?}", inp.products);
        // The enrich step asked Tally about the MCB; the rest come from the cache.
        let live = app
            .state
            .tally
            .lookup("MCB 32A DP C-Curve 10kA", Actor::system("enrich"))
            .await
            .unwrap();
        inp.stock.push(live.item.unwrap());
        let d = drafts(&app)
            .generate(&inp, None)
            .await
            .unwrap()
            .expect("a draft");
        let body = &d.body;
        assert!(body.starts_with("Dear Ramesh Iyer,\n"), "{body}");
        assert!(
            body.contains("Item")
                && body.contains("Rate (excl. GST)")
                && body.contains("Lead time"),
            "{body}"
        );
        let line = |name: &str| {
            body.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("no row for {name}:\n{body}"))
                .to_owned()
        };
        let wire = line("FR PVC Wire 2.5 sq mm");
        assert!(wire.contains("10 coil"), "{wire}");
        assert!(
            wire.contains("86 Coil in stock (as of 15 Jan 2026, 15:00 IST)"),
            "{wire}"
        );
        assert!(
            wire.contains("₹2,590.00 per Coil") && wire.contains("18%"),
            "{wire}"
        );
        assert!(wire.contains("dispatch in 1-2 working days"), "{wire}");
        let mcb = line("MCB 32A DP");
        assert!(
            mcb.contains("140 Nos in stock") && !mcb.contains("as of"),
            "live stock carries no as-of: {mcb}"
        );
        assert!(
            line("FR PVC Wire 6.0").contains("only 18 Coil in stock"),
            "{body}"
        );
        assert!(line("FR PVC Wire 6.0").contains("2-3 weeks"), "{body}");
        assert!(
            line("FRLS House Wire 4.0").contains("out of stock"),
            "{body}"
        );
        assert!(
            line("Openwell").contains("out of stock"),
            "negative stock is out of stock: {body}"
        );
        assert!(
            !line("Openwell").contains("-2 Nos"),
            "negative stock is never quoted: {body}"
        );
        assert!(
            line("Monoblock").contains("12%"),
            "Pumps are 12% here: {body}"
        );
        assert!(line("PVC Conduit Pipe 25 mm").contains("200 m"), "{body}");
        assert!(
            line("Fan Regulator").contains("not in our stock records"),
            "{body}"
        );
        assert!(
            body.contains("Fan Regulator Step Type 5 Speed is not in our current stock records"),
            "{body}"
        );
        assert!(body.contains("For the priced items above:"), "{body}");
        assert!(body.contains("Terms: Payment within 30 days"), "{body}");
        assert!(body.ends_with("Regards,\nDemo Electricals, Shop 12, Lamington Road, Mumbai 400007\nPh. 022 2387 1234\n"), "{body}");

        let facts: Value = serde_json::from_str(&d.facts).unwrap();
        let item = |sku: &str| {
            facts["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["sku"] == sku)
                .cloned()
                .unwrap()
        };
        assert_eq!(item("MCB-32DP-C")["stock"]["source"], "live");
        assert_eq!(item("W-FR-2.5")["stock"]["source"], "cache");
        assert_eq!(item("W-FR-2.5")["amount"], "25900.00");
        assert_eq!(
            item("PIPE-PVC-25-M")["amount"],
            Value::Null,
            "200 m of a pipe sold by the piece"
        );
        assert_eq!(item("SW-MOD-06")["availability"], "unknown");
        assert_eq!(
            facts["customer"]["name"],
            json!({"value": "Ramesh Iyer", "source": "email"})
        );
        check_every_number(
            &d,
            &catalog(),
            &format!("Rate required\n{INQUIRY}"),
            &settings_texts(&app)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );

        assert_eq!(d.subject, "Re: Rate required");
        assert_eq!(d.in_reply_to.as_deref(), Some("e-1@customer.example.in"));
        assert_eq!(d.status, "pending");
        assert_eq!(d.generator, "template");
        let generated = events(&app, "DraftGenerated").await;
        assert_eq!(generated.len(), 1);
        let p = &generated[0]["payload"];
        assert_eq!(p["draft_id"], d.id.as_str());
        assert_eq!(p["email_id"], "e-1");
        assert_eq!(p["generator"], "template");
        assert!(p["latency_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(generated[0]["actor_kind"], "ai_agent");
        let metrics = reqwest::get(format!("http://{}/metrics", app.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("pebble_draft_generation_latency_seconds_count 1"),
            "{metrics}"
        );
        assert!(
            metrics
                .contains(r#"pebble_drafts_generated_total{generator="template",outcome="ok"} 1"#),
            "{metrics}"
        );
    }
);

story!(
    every_number_in_every_kind_of_generated_draft_comes_from_a_source,
    |b: Backend| async move {
        let Some((app, _sim)) = app(b).await else {
            return;
        };
        let cases = [
            (Intent::ProductInquiry, "Rate required", INQUIRY),
            (Intent::ProductInquiry, "quote", "rate bhejo 2.5mm wire ka, 10 coil chahiye aur 16A switch 40 pcs"),
            (Intent::ProductInquiry, "price?", "what are your best prices for solar panels"),
            (Intent::PurchaseOrder, "PO 4512", "Please find our PO No. 4512 for 16A SP MCB 50 nos and 9W LED bulb 200 nos. Kindly dispatch by 20th."),
            (Intent::OrderFollowup, "status?", "What is the status of order no SO/24/117? Material not received yet, 3 days late."),
            (Intent::Payment, "payment done", "We have paid Rs. 25,000/- against invoice INV-2291, UTR HDFCR52026011512345."),
            (Intent::Complaint, "damaged", "3 out of 10 fan regulator received are damaged. Invoice no INV-3310 dated 02/01/2026."),
        ];
        let settings = settings_texts(&app);
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        let mut seen = BTreeSet::new();
        for (n, (intent, subject, body)) in cases.iter().enumerate() {
            let inp = input(
                *intent,
                email(
                    &format!("n-{n}"),
                    "buyer@shop.in",
                    Some("Anil 2"),
                    subject,
                    body,
                ),
            );
            let d = drafts(&app)
                .generate(&inp, None)
                .await
                .unwrap()
                .expect("a draft");
            check_every_number(
                &d,
                &catalog(),
                &format!("{subject}\n{body}\nAnil 2"),
                &settings,
            );
            seen.insert(d.intent.clone());
        }
        // A person asks for a draft of a spam email: the general template.
        let spam = input(
            Intent::Spam,
            email(
                "spam-1",
                "win@lottery.example",
                None,
                "You won 10,00,000!",
                "Claim now",
            ),
        );
        let d = drafts(&app)
            .generate(&spam, Some("someone"))
            .await
            .unwrap()
            .unwrap();
        check_every_number(&d, &catalog(), "You won 10,00,000!\nClaim now", &settings);
        assert_eq!(seen.len(), 5, "every template was exercised: {seen:?}");

        let payment = drafts(&app).list(&Default::default()).await.unwrap();
        let payment = payment.iter().find(|d| d.intent == "payment").unwrap();
        assert!(
            payment
                .body
                .contains("your payment of ₹25,000.00 (UTR HDFCR52026011512345)"),
            "{}",
            payment.body
        );
        let po = drafts(&app).list(&Default::default()).await.unwrap();
        let po = po.iter().find(|d| d.intent == "purchase_order").unwrap();
        assert!(
            po.body.contains("Thank you for your order 4512."),
            "{}",
            po.body
        );
        assert!(
            po.body.contains("- MCB 16A SP C-Curve 10kA: 50 nos"),
            "{}",
            po.body
        );
        let unknown = drafts(&app).list(&Default::default()).await.unwrap();
        let unknown = unknown.iter().find(|d| d.email_id == "n-2").unwrap();
        assert!(
            unknown
                .body
                .contains("We could not match the products in your email"),
            "{}",
            unknown.body
        );
    }
);

story!(
    the_pipeline_drafts_an_email_once_and_nothing_for_spam_vendor_offers_or_other,
    |b: Backend| async move {
        let Some((app, _sim)) = app(b).await else {
            return;
        };
        let inp = input(
            Intent::ProductInquiry,
            email("once", "a@b.in", None, "rate", "32A DP MCB 5 nos"),
        );
        let first = drafts(&app).generate(&inp, None).await.unwrap().unwrap();
        let again = drafts(&app).generate(&inp, None).await.unwrap().unwrap();
        assert_eq!(first.id, again.id);
        assert!(
            first.body.starts_with("Dear Sir/Madam,"),
            "no name known: {}",
            first.body
        );
        for intent in [Intent::Spam, Intent::VendorOffer, Intent::Other] {
            let inp = input(
                intent,
                email(&format!("skip-{intent}"), "a@b.in", None, "hello", "hello"),
            );
            assert!(
                drafts(&app).generate(&inp, None).await.unwrap().is_none(),
                "{intent}"
            );
        }
        assert_eq!(events(&app, "DraftGenerated").await.len(), 1);
        // A person may ask for one, and again.
        let inp = input(
            Intent::Other,
            email("asked", "a@b.in", None, "hello", "hello"),
        );
        let a = drafts(&app)
            .generate(&inp, Some("u-1"))
            .await
            .unwrap()
            .unwrap();
        let b2 = drafts(&app)
            .generate(&inp, Some("u-1"))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(a.id, b2.id);
        assert!(a.body.contains("We have noted it"), "{}", a.body);
        let ev = events(&app, "DraftGenerated").await;
        assert_eq!(ev[0]["actor_kind"], "user");
        // An address no reply can go to is refused, not drafted.
        let bad = input(
            Intent::Payment,
            email("bad", "not an address", None, "x", "y"),
        );
        assert!(drafts(&app).generate(&bad, None).await.is_err());
    }
);

story!(
    the_customer_is_named_from_the_crm_before_the_email,
    |b: Backend| async move {
        let Some((app, _sim)) = app(b).await else {
            return;
        };
        let admin = app.admin().await;
        let (s, company) = app
            .post_json(
                &admin,
                "/api/v1/companies",
                json!({"name": "Iyer Electricals"}),
            )
            .await;
        assert_eq!(s, 201, "{company}");
        let (s, contact) = app
            .post_json(
                &admin,
                "/api/v1/contacts",
                json!({"email": "ri@iyer.in", "name": "R. Iyer", "company_id": company["id"]}),
            )
            .await;
        assert_eq!(s, 201, "{contact}");
        let mut inp = input(
            Intent::OrderFollowup,
            email(
                "crm",
                "ri@iyer.in",
                Some("ramesh"),
                "status",
                "status of PO 7781?",
            ),
        );
        inp.company_id = company["id"].as_str().map(str::to_owned);
        inp.contact_id = contact["id"].as_str().map(str::to_owned);
        let d = drafts(&app).generate(&inp, None).await.unwrap().unwrap();
        assert!(d.body.starts_with("Dear R. Iyer,"), "{}", d.body);
        let facts: Value = serde_json::from_str(&d.facts).unwrap();
        assert_eq!(
            facts["customer"]["company"],
            json!({"value": "Iyer Electricals", "source": "crm"})
        );
        assert!(d.body.contains("your order 7781."), "{}", d.body);
    }
);

async fn pending_draft(app: &TestApp, id: &str, stream: &str) -> Draft {
    let mut e = email(
        id,
        "ramesh@iyer-electricals.in",
        Some("Ramesh Iyer"),
        "Rate required",
        "2.5 sq mm FR wire 10 coil",
    );
    e.stream = stream.into();
    drafts(app)
        .generate(&input(Intent::ProductInquiry, e), None)
        .await
        .unwrap()
        .unwrap()
}

story!(
    sales_approves_after_editing_and_the_edit_is_kept_as_a_diff,
    |b: Backend| async move {
        let Some((app, _sim)) = app(b).await else {
            return;
        };
        let d = pending_draft(&app, "e-approve", "sales").await;
        let sales = app.token(Role::Sales).await;
        let edited = d.body.replace(
            "Please confirm the quantities",
            "Kindly confirm the quantities",
        );
        let (s, body) = app
            .post_json(
                &sales,
                &format!("/api/v1/drafts/{}/approve", d.id),
                json!({"text": edited}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["status"], "approved");
        assert_eq!(body["approved_text"], edited.as_str());
        assert_eq!(body["text"], d.body.as_str(), "the generated text is kept");
        assert_eq!(
            body["edits_made"],
            json!({"edited": true, "lines_added": 1, "lines_removed": 1})
        );
        let (s, detail) = app.get_json(&format!("/api/v1/drafts/{}", d.id)).await;
        assert_eq!(s, 200);
        let diff = detail["edits"][0]["diff"].as_str().unwrap();
        assert!(diff.contains("-Please confirm the quantities"), "{diff}");
        assert!(diff.contains("+Kindly confirm the quantities"), "{diff}");
        assert_eq!(detail["outbox"]["status"], "queued");
        let message_id = detail["outbox"]["message_id"].as_str().unwrap();
        assert!(message_id.ends_with("@demo-electricals.in"), "{message_id}");

        let approved = events(&app, "DraftApproved").await;
        assert_eq!(approved.len(), 1);
        let p = &approved[0]["payload"];
        let me = app
            .get_with(&sales, "/api/v1/auth/me")
            .await
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(p["user_id"], me["user_id"]);
        assert_eq!(p["draft_id"], d.id.as_str());
        assert_eq!(p["edits_made"]["edited"], true);
        assert_eq!(p["message_id"], message_id);

        // Reviewed once: a second approval or a rejection is a conflict.
        let admin = app.admin().await;
        let (s, _) = app
            .post_json(
                &admin,
                &format!("/api/v1/drafts/{}/approve", d.id),
                json!({}),
            )
            .await;
        assert_eq!(s, 409);
        let (s, _) = app
            .post_json(
                &admin,
                &format!("/api/v1/drafts/{}/reject", d.id),
                json!({"reason": "late"}),
            )
            .await;
        assert_eq!(s, 409);

        // Approved as drafted: no edit.
        let d2 = pending_draft(&app, "e-approve-2", "sales").await;
        let (s, body) = app
            .post_json(
                &admin,
                &format!("/api/v1/drafts/{}/approve", d2.id),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["edits_made"]["edited"], false);
        assert_eq!(body["approved_text"], d2.body.as_str());
        let metrics = reqwest::get(format!("http://{}/metrics", app.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(r#"pebble_drafts_reviewed_total{decision="approved"} 2"#),
            "{metrics}"
        );
    }
);

story!(
    a_rejection_needs_a_reason_and_only_sales_and_admin_review,
    |b: Backend| async move {
        let Some((app, _sim)) = app(b).await else {
            return;
        };
        let d = pending_draft(&app, "e-reject", "sales").await;
        for role in [Role::Ops, Role::ReadOnly] {
            let t = app.token(role).await;
            let (s, _) = app
                .post_json(&t, &format!("/api/v1/drafts/{}/approve", d.id), json!({}))
                .await;
            assert_eq!(s, 403, "{role:?} approves");
            let (s, _) = app
                .post_json(
                    &t,
                    &format!("/api/v1/drafts/{}/reject", d.id),
                    json!({"reason": "x"}),
                )
                .await;
            assert_eq!(s, 403, "{role:?} rejects");
            assert_eq!(
                app.get_with(&t, "/api/v1/drafts").await.status(),
                200,
                "{role:?} reads"
            );
        }
        let sales = app.token(Role::Sales).await;
        let path = format!("/api/v1/drafts/{}/reject", d.id);
        let (s, body) = app.post_json(&sales, &path, json!({"reason": "  "})).await;
        assert_eq!((s, body["field"].as_str()), (400, Some("reason")));
        let (s, body) = app.post_json(&sales, &path, json!({})).await;
        assert_eq!(s, 400, "{body}");
        let (s, body) = app
            .post_json(
                &sales,
                &path,
                json!({"reason": "Customer called; quoted by phone"}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["status"], "rejected");
        assert_eq!(body["reject_reason"], "Customer called; quoted by phone");
        let rejected = events(&app, "DraftRejected").await;
        assert_eq!(
            rejected[0]["payload"]["reason"],
            "Customer called; quoted by phone"
        );
        assert_eq!(rejected[0]["payload"]["draft_id"], d.id.as_str());
        let (s, _) = app
            .post_json(&sales, "/api/v1/drafts/no-such-draft/approve", json!({}))
            .await;
        assert_eq!(s, 404);
        let (s, body) = app
            .post_json(
                &sales,
                &format!("/api/v1/drafts/{}/approve", d.id),
                json!({"text": "x", "extra": 1}),
            )
            .await;
        assert_eq!(s, 400, "{body}");
    }
);

story!(
    drafts_are_listed_by_status_stream_email_and_assignee_with_their_facts,
    |b: Backend| async move {
        let Some((app, _sim)) = app(b).await else {
            return;
        };
        let a = pending_draft(&app, "l-1", "sales").await;
        app.clock.advance(chrono::Duration::seconds(1));
        let _ = pending_draft(&app, "l-2", "support").await;
        app.clock.advance(chrono::Duration::seconds(1));
        let mut assigned = input(
            Intent::Complaint,
            email("l-3", "x@y.in", None, "broken", "broken"),
        );
        assigned.assignee_id = Some("u-42".into());
        drafts(&app)
            .generate(&assigned, None)
            .await
            .unwrap()
            .unwrap();
        let admin = app.admin().await;
        app.post_json(
            &admin,
            &format!("/api/v1/drafts/{}/reject", a.id),
            json!({"reason": "dup"}),
        )
        .await;

        let ids = |v: &Value| -> Vec<String> {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["email_id"].as_str().unwrap().to_owned())
                .collect()
        };
        let (_, all) = app.get_json("/api/v1/drafts").await;
        assert_eq!(ids(&all), vec!["l-3", "l-2", "l-1"]);
        assert!(
            all["items"][2]["facts"]["items"][0]["rate"]["value"].is_string(),
            "{all}"
        );
        assert!(all["items"][2]["text"]
            .as_str()
            .unwrap()
            .contains("FR PVC Wire 2.5"));
        let (_, pending) = app.get_json("/api/v1/drafts?status=pending").await;
        assert_eq!(ids(&pending), vec!["l-3", "l-2"]);
        let (_, support) = app.get_json("/api/v1/drafts?stream=support").await;
        assert_eq!(ids(&support), vec!["l-2"]);
        let (_, one) = app.get_json("/api/v1/drafts?email=l-1").await;
        assert_eq!(ids(&one), vec!["l-1"]);
        let (_, mine) = app.get_json("/api/v1/drafts?assignee=u-42").await;
        assert_eq!(ids(&mine), vec!["l-3"]);
        let (_, page) = app.get_json("/api/v1/drafts?limit=2").await;
        assert_eq!(ids(&page), vec!["l-3", "l-2"]);
        let cursor = page["next_cursor"].as_str().unwrap();
        let (_, rest) = app
            .get_json(&format!("/api/v1/drafts?limit=2&cursor={cursor}"))
            .await;
        assert_eq!(ids(&rest), vec!["l-1"]);
        for bad in ["status=maybe", "colour=red", "limit=0", "cursor=zzz"] {
            let (s, _) = app.get_json(&format!("/api/v1/drafts?{bad}")).await;
            assert_eq!(s, 400, "{bad}");
        }
        let (s, stats) = app.get_json("/api/v1/drafts/stats").await;
        assert_eq!(s, 200);
        let pending: Vec<(String, Value, i64)> = stats["pending"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["stream"].as_str().unwrap().to_owned(),
                    p["assignee_id"].clone(),
                    p["count"].as_i64().unwrap(),
                )
            })
            .collect();
        assert!(
            pending.contains(&("sales".into(), json!("u-42"), 1)),
            "{stats}"
        );
        assert!(
            pending.contains(&("support".into(), Value::Null, 1)),
            "{stats}"
        );
    }
);

story!(
    admin_edits_a_template_and_new_drafts_follow_it,
    |b: Backend| async move {
        let Some((app, _sim)) = app(b).await else {
            return;
        };
        let admin = app.admin().await;
        let sales = app.token(Role::Sales).await;
        let (s, list) = app.get_json("/api/v1/drafts/templates").await;
        assert_eq!(s, 200);
        assert_eq!(list.as_array().unwrap().len(), 6);
        assert_eq!(list[0]["builtin"], true);
        let put = |token: String, key: &'static str, body: Value| {
            let app = &app;
            async move {
                let r = app
                    .client
                    .put(app.url(&format!("/api/v1/drafts/templates/{key}")))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let s = r.status().as_u16();
                (s, r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let text =
            "{{greeting}}\n\nNamaste! Our stock and rates:\n\n{{items_table}}\n\n{{signature}}";
        let (s, _) = put(sales.clone(), "product_inquiry", json!({"body": text})).await;
        assert_eq!(s, 403);
        let (s, body) = put(
            admin.clone(),
            "product_inquiry",
            json!({"body": "Dispatch in 2 days. {{signature}}"}),
        )
        .await;
        assert_eq!(
            (s, body["field"].as_str()),
            (400, Some("body")),
            "digits refused: {body}"
        );
        let (s, body) = put(
            admin.clone(),
            "product_inquiry",
            json!({"body": "{{greeting}} {{discount}}"}),
        )
        .await;
        assert_eq!(s, 400, "{body}");
        let (s, body) = put(admin.clone(), "spam", json!({"body": "hi"})).await;
        assert_eq!(s, 404, "{body}");
        let (s, body) = put(admin.clone(), "product_inquiry", json!({"body": text})).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(
            (body["version"].as_i64(), body["builtin"].as_bool()),
            (Some(1), Some(false))
        );

        let d = pending_draft(&app, "t-1", "sales").await;
        assert!(
            d.body.contains("Namaste! Our stock and rates:"),
            "{}",
            d.body
        );
        assert!(
            d.body
                .contains("FR PVC Wire 2.5 sq mm (90 m coil) | 10 coil"),
            "{}",
            d.body
        );
        assert_eq!(d.template_version, 1);

        let r = app
            .client
            .delete(app.url("/api/v1/drafts/templates/product_inquiry"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (body["version"].as_i64(), body["builtin"].as_bool()),
            (Some(2), Some(true))
        );
        let d = pending_draft(&app, "t-2", "sales").await;
        assert!(d.body.contains("Thank you for your enquiry."), "{}", d.body);
    }
);

story!(
    pebble_drafts_list_prints_the_drafts_with_their_facts,
    |b: Backend| async move {
        let Some((app, _sim)) = app(b).await else {
            return;
        };
        pending_draft(&app, "cli-1", "sales").await;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pebble"))
            .args(["drafts", "list", "--json", "--status", "pending"])
            .env_clear()
            .env("PEBBLE_DATA_DIR", app.db.data_dir())
            .env("PEBBLE_DATABASE_URL", &app.db.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(list[0]["email_id"], "cli-1");
        assert_eq!(list[0]["facts"]["items"][0]["stock"]["qty"], "86");
        assert!(list[0]["text"]
            .as_str()
            .unwrap()
            .contains("₹2,590.00 per Coil"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pebble"))
            .args(["drafts", "list", "--status", "maybe"])
            .env_clear()
            .env("PEBBLE_DATA_DIR", app.db.data_dir())
            .env("PEBBLE_DATABASE_URL", &app.db.url)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("status"));
    }
);

story!(
    an_imported_price_request_waits_in_the_review_queue_with_a_stock_aware_draft,
    |b: Backend| async move {
        // No background workers: the test drains the queue itself.
        let Some((app, _sim)) = drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        let email_id = drafting::post_price_request(&app, "price-1@sharma-traders.in").await;
        let queue = format!("/api/v1/drafts?status=pending&stream=sales&email={email_id}");
        let (_, before) = app.get_json(&queue).await;
        assert_eq!(
            before["items"],
            json!([]),
            "nothing is drafted before the pipeline runs"
        );

        let ran = app.state.pipeline.drain(20).await.unwrap();
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
        let (_, decision) = app
            .get_json(&format!("/api/v1/classifications/{email_id}"))
            .await;
        assert_eq!(decision["intent"], "product_inquiry");

        let (status, page) = app.get_json(&queue).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{page}");
        let d = &items[0];
        assert_eq!(d["intent"], "product_inquiry");
        let text = d["text"].as_str().unwrap();
        assert!(text.starts_with("Dear Anil Sharma,"), "{text}");
        // The enrich step asked Tally itself: live stock states no age.
        assert!(text.contains("86 Coil in stock "), "{text}");
        assert!(!text.contains("as of"), "{text}");
        assert!(text.contains("₹2,590.00 per Coil"), "{text}");
        let wire = &d["facts"]["items"][0];
        assert_eq!(wire["stock"]["source"], "live", "{wire}");
        assert_eq!(events(&app, "DraftGenerated").await.len(), 1);
    }
);

story!(
    erasing_the_sender_empties_their_drafts_and_stops_their_unsent_reply,
    |b: Backend| async move {
        // No SMTP server: an approved reply stays queued in the outbox.
        let Some((app, _sim)) = drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        let approved_email = drafting::post_price_request(&app, "price-2@sharma-traders.in").await;
        app.state.pipeline.drain(20).await.unwrap();
        let (_, page) = app
            .get_json(&format!("/api/v1/drafts?email={approved_email}"))
            .await;
        let approved = page["items"][0]["id"].as_str().unwrap().to_owned();
        let sales = app.token(Role::Sales).await;
        let (s, body) = app
            .post_json(
                &sales,
                &format!("/api/v1/drafts/{approved}/approve"),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let pending_email = drafting::post_price_request(&app, "price-3@sharma-traders.in").await;
        app.state.pipeline.drain(20).await.unwrap();

        let (ops, admin) = (app.token(Role::Ops).await, app.admin().await);
        let (s, _) = app
            .post_json(
                &ops,
                "/api/v1/dsr/erasure",
                json!({"email": "anil@sharma-traders.in", "reason": "asked to be forgotten"}),
            )
            .await;
        assert_eq!(s, 201);
        let (_, requests) = app.get_json("/api/v1/dsr/erasure").await;
        let approve = format!(
            "/api/v1/dsr/erasure/{}/approve",
            requests[0]["id"].as_str().unwrap()
        );
        let (s, report) = app.post_json(&admin, &approve, json!({})).await;
        assert_eq!(s, 200, "{report}");

        let (_, drafts) = app.get_json("/api/v1/drafts").await;
        let (_, outbox) = app.get_json("/api/v1/outbox").await;
        // Message-IDs stay, as they do on the erased email itself.
        for text in [drafts.to_string(), outbox.to_string()] {
            for personal in ["Anil", "anil@", "FR PVC"] {
                assert!(!text.contains(personal), "{personal}: {text}");
            }
        }
        let status = |email: &str| {
            drafts["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["email_id"] == email)
                .map(|d| d["status"].clone())
        };
        assert_eq!(status(&approved_email), Some(json!("failed")), "{drafts}");
        assert_eq!(status(&pending_email), Some(json!("rejected")), "{drafts}");
        assert_eq!(outbox["items"][0]["status"], "dead", "{outbox}");
        assert_eq!(outbox["items"][0]["last_error"], "the recipient was erased");

        // Drafting an erased email (a step that read it just before the
        // erasure) stores nothing.
        let late = input(
            Intent::ProductInquiry,
            email(
                &pending_email,
                "anil@sharma-traders.in",
                Some("Anil Sharma"),
                "Price request",
                "2.5 sq mm FR wire 10 coil",
            ),
        );
        assert!(matches!(
            app.state.drafts.generate(&late, Some("u-1")).await,
            Err(pebble::drafts::DraftError::Erased)
        ));
        let (_, after) = app.get_json("/api/v1/drafts").await;
        assert_eq!(after["items"].as_array().unwrap().len(), 2, "{after}");
    }
);
