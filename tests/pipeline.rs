//! The pipeline end to end, through the real app beside the Tally simulator:
//! an email posted as a mail relay would is classified, its identifiers,
//! phone numbers and products extracted, validated into the CRM with a lead,
//! enriched with live stock (or the cache, with its age, when Tally is
//! down) and the customer's history, and drafted to its Reply-To. Steps run
//! again after a crash change nothing. A data-subject export holds what the
//! pipeline made of the subject's mail, and erasure empties it.

mod common;

use std::io::Read;
use std::sync::Arc;

use common::drafting::{self, catalog, check_every_number, settings_texts};
use common::{Backend, TestApp};
use pebble::pipeline::enrich::EnrichStep;
use pebble::pipeline::extract::ExtractStep;
use pebble::pipeline::link::LinkStep;
use pebble::pipeline::{Ran, StepHandler};
use pebble::store::drafts::DraftFilter;
use pebble::store::steps;
use pebble_core::access::Role;
use serde_json::{json, Value};

const GOOD_GSTIN: &str = "27AAPCA1234A1Z5";
/// One check character off.
const BAD_GSTIN: &str = "27AAPFU0939F1ZX";

/// A price request from Anil Sharma with his firm's GSTIN, a mistyped
/// second one and his mobile number in the signature.
fn price_request(message_id: &str, extra_headers: &str) -> String {
    format!(
        "Message-ID: <{message_id}>\r\n\
         From: Anil Sharma <anil@sharma-traders.in>\r\n\
         {extra_headers}\
         To: sales@demo-electricals.in\r\n\
         Subject: Price request\r\n\
         Date: Thu, 15 Jan 2026 14:00:00 +0530\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello,\r\nPlease quote your price and stock for\r\n\
         2.5 sq mm FR wire 10 coil\r\n\
         32A DP MCB 25 nos\r\n\
         Thanks,\r\nAnil Sharma\r\nSharma Traders, Pune\r\n\
         GSTIN: {GOOD_GSTIN}\r\nGST No. {BAD_GSTIN}\r\nMob: +91 98200 12345\r\n"
    )
}

fn email_text(raw: &str) -> String {
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    format!("Price request\n{}", body.replace("\r\n", "\n"))
}

/// Post a raw message to the sales stream as Ops; the stored email's id.
async fn post(app: &TestApp, raw: &str) -> String {
    let ops = app.token(Role::Ops).await;
    let r = app
        .client
        .post(app.url("/api/v1/emails?stream=sales"))
        .bearer_auth(&ops)
        .header("content-type", "message/rfc822")
        .body(raw.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Sales sets the intent (an override, or nothing when the model agreed),
/// so a story does not hang on the model's reading of one email.
async fn set_intent(app: &TestApp, email_id: &str, intent: &str) {
    let sales = app.token(Role::Sales).await;
    let (s, body) = app
        .post_json(
            &sales,
            &format!("/api/v1/classifications/{email_id}/override"),
            json!({"intent": intent, "justification": "the customer says so"}),
        )
        .await;
    assert!(s == 200 || s == 409, "{s} {body}");
}

async fn events(app: &TestApp, event_type: &str) -> Vec<Value> {
    let (status, body) = app
        .get_json(&format!(
            "/api/v1/activity?event_type={event_type}&limit=100"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

fn steps_of(ran: &[Ran]) -> Vec<(&str, &str)> {
    ran.iter().map(|r| (r.step.as_str(), r.outcome)).collect()
}

const ALL_OK: [(&str, &str); 5] = [
    ("classify", "ok"),
    ("extract", "ok"),
    ("link", "ok"),
    ("enrich", "ok"),
    ("draft", "ok"),
];

fn note<'a>(ran: &'a [Ran], step: &str) -> &'a str {
    ran.iter()
        .find(|r| r.step == step)
        .and_then(|r| r.note.as_deref())
        .unwrap_or_else(|| panic!("{step} said nothing"))
}

fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().to_owned(), data)
        })
        .collect()
}

async fn pipeline_draft(app: &TestApp, email_id: &str) -> pebble::store::drafts::Draft {
    let list = app
        .state
        .drafts
        .list(&DraftFilter {
            email_id: Some(email_id.to_owned()),
            limit: 10,
            ..DraftFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    list.into_iter().next().unwrap()
}

story!(
    an_inquiry_runs_through_all_five_steps_into_validated_identifiers_a_lead_and_a_draft_with_live_stock,
    |b: Backend| async move {
        let Some((app, _sim)) = drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        let raw = price_request(
            "price-1@sharma-traders.in",
            "Reply-To: Purchase Desk <purchase@sharma-traders.in>\r\n",
        );
        let id = post(&app, &raw).await;
        let ran = app.state.pipeline.drain(1).await.unwrap();
        assert_eq!(steps_of(&ran), [("classify", "ok")]);
        set_intent(&app, &id, "product_inquiry").await;
        let mut ran = ran;
        ran.extend(app.state.pipeline.drain(20).await.unwrap());
        assert_eq!(steps_of(&ran), ALL_OK);

        // Extract: both GSTINs (one invalid), the phone, the two products.
        assert!(
            note(&ran, "extract").starts_with("2 identifier(s) (1 invalid), 1 phone number(s), 2 product(s)"),
            "{}",
            note(&ran, "extract")
        );
        let x = steps::extraction(&app.state.db, &id).await.unwrap().unwrap();
        let ids: Value = serde_json::from_str(&x.identifiers).unwrap();
        let verdicts: Vec<(&str, bool)> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["normalized"].as_str().unwrap(), i["valid"].as_bool().unwrap()))
            .collect();
        assert_eq!(verdicts, [(GOOD_GSTIN, true), (BAD_GSTIN, false)]);
        assert_eq!(x.phones, r#"["+919820012345"]"#);
        let products: Value = serde_json::from_str(&x.products).unwrap();
        assert_eq!(products.as_array().unwrap().len(), 2, "{products}");

        // Link: the good GSTIN is on the sender's company, validated; the bad
        // one is a failed validation; the inquiry opened a lead.
        let link = steps::link(&app.state.db, &id).await.unwrap().unwrap();
        let company_id = link.company_id.clone().expect("a business domain has a company");
        let (s, company) = app.get_json(&format!("/api/v1/companies/{company_id}")).await;
        assert_eq!(s, 200, "{company}");
        assert_eq!(company["gstins"], json!([GOOD_GSTIN]), "{company}");
        assert_eq!(company["validation_status"], "valid", "{company}");
        let validated = events(&app, "CompanyValidated").await;
        assert_eq!(validated.len(), 2, "{validated:?}");
        let valid: Vec<&Value> = validated
            .iter()
            .filter(|e| e["payload"]["valid"] == true)
            .collect();
        assert_eq!(valid.len(), 1);
        assert_eq!(valid[0]["payload"]["gstin"], GOOD_GSTIN);
        assert_eq!(valid[0]["entity_id"], company_id.as_str());
        let failed = validated
            .iter()
            .find(|e| e["payload"]["valid"] == false)
            .unwrap();
        assert_eq!(failed["payload"]["gstin"], BAD_GSTIN);
        assert!(
            failed["payload"]["errors"][0]
                .as_str()
                .unwrap()
                .contains("check character"),
            "{failed}"
        );
        let created = events(&app, "LeadCreated").await;
        assert_eq!(created.len(), 1);
        assert_eq!(created[0]["payload"]["source_email_id"], id.as_str());
        assert_eq!(created[0]["payload"]["company_id"], company_id.as_str());
        assert_eq!(created[0]["actor_id"], "pipeline:link");
        assert_eq!(link.lead_to.as_deref(), Some("new"));
        assert!(note(&ran, "link").contains("1 failed"), "{}", note(&ran, "link"));

        // The failed validation is in the quarterly compliance report.
        let r = app.get("/api/v1/reports/quarterly?quarter=2026Q1").await;
        assert_eq!(r.status(), 200);
        let entries = zip_entries(&r.bytes().await.unwrap());
        let csv = entries
            .iter()
            .find(|(n, _)| n == "failed_validations.csv")
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .unwrap();
        assert!(csv.contains(BAD_GSTIN), "{csv}");
        assert!(!csv.contains(GOOD_GSTIN), "{csv}");

        // Enrich: both products live from Tally, one TallyLookup each.
        assert!(
            note(&ran, "enrich").starts_with("2 product(s): 2 live"),
            "{}",
            note(&ran, "enrich")
        );
        let lookups = events(&app, "TallyLookup").await;
        assert_eq!(lookups.len(), 2, "{lookups:?}");
        for l in &lookups {
            assert_eq!(l["payload"]["source"], "live", "{l}");
            assert_eq!(l["payload"]["ok"], true, "{l}");
        }

        // Draft: to the Reply-To (kept on the email), stock live (no "as of"),
        // every number sourced.
        let (_, email) = app.get_json(&format!("/api/v1/emails/{id}")).await;
        assert_eq!(email["reply_to"], "purchase@sharma-traders.in", "{email}");
        assert_eq!(email["from"], "anil@sharma-traders.in", "{email}");
        let d = pipeline_draft(&app, &id).await;
        assert_eq!(d.to_addr, "purchase@sharma-traders.in");
        assert!(d.body.contains("86 Coil in stock "), "{}", d.body);
        assert!(!d.body.contains("as of"), "{}", d.body);
        let facts: Value = serde_json::from_str(&d.facts).unwrap();
        for item in facts["items"].as_array().unwrap() {
            assert_eq!(item["stock"]["source"], "live", "{item}");
        }
        assert_eq!(facts["history"]["source"], "crm", "{facts}");
        assert_eq!(facts["history"]["previous_emails"], 0, "{facts}");
        assert_eq!(
            facts["history"]["open_leads"][0]["id"],
            link.lead_id.clone().unwrap().as_str()
        );
        let settings = settings_texts(&app);
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        check_every_number(&d, &catalog(), &email_text(&raw), &settings);

        // Each job keeps what its step said.
        let (_, jobs) = app
            .get_json(&format!("/api/v1/pipeline/jobs?email_id={id}"))
            .await;
        let jobs = jobs.as_array().unwrap();
        assert_eq!(jobs.len(), 5);
        for j in jobs {
            assert!(
                j["note"].as_str().is_some_and(|n| !n.is_empty()),
                "{j}"
            );
        }
    }
);

story!(
    with_tally_down_the_enrich_step_answers_from_the_cache_and_the_draft_says_as_of,
    |b: Backend| async move {
        let Some((app, sim)) = drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        // Tally goes away two hours after the last sync.
        drop(sim);
        app.clock.advance(chrono::Duration::hours(2));
        let raw = price_request("price-2@sharma-traders.in", "");
        let id = post(&app, &raw).await;
        app.state.pipeline.drain(1).await.unwrap();
        set_intent(&app, &id, "product_inquiry").await;
        let ran = app.state.pipeline.drain(20).await.unwrap();
        assert_eq!(steps_of(&ran), &ALL_OK[1..]);
        let enrich = note(&ran, "enrich");
        assert!(
            enrich
                .starts_with("2 product(s): 0 live, 2 from the cache as of 15 Jan 2026, 15:00 IST"),
            "{enrich}"
        );
        assert!(enrich.contains("Tally: "), "{enrich}");
        let lookups = events(&app, "TallyLookup").await;
        assert_eq!(lookups.len(), 2);
        for l in &lookups {
            assert_eq!(l["payload"]["source"], "cache", "{l}");
            assert_eq!(l["payload"]["age_secs"], 7200, "{l}");
        }
        let d = pipeline_draft(&app, &id).await;
        // No Reply-To: the reply goes to the sender.
        assert_eq!(d.to_addr, "anil@sharma-traders.in");
        assert!(
            d.body
                .contains("86 Coil in stock (as of 15 Jan 2026, 15:00 IST)"),
            "{}",
            d.body
        );
        let facts: Value = serde_json::from_str(&d.facts).unwrap();
        for item in facts["items"].as_array().unwrap() {
            assert_eq!(item["stock"]["source"], "cache", "{item}");
        }
        let settings = settings_texts(&app);
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        check_every_number(&d, &catalog(), &email_text(&raw), &settings);
    }
);

story!(
    an_item_tally_no_longer_has_is_said_plainly_not_quoted_from_the_cache,
    |b: Backend| async move {
        let Some((app, sim)) = drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        // After the sync, the MCB leaves Tally; the cache still holds it.
        let in_tally: Vec<_> = catalog()
            .into_iter()
            .filter(|i| !i.tally_name.contains("MCB 32A DP"))
            .collect();
        assert_eq!(in_tally.len() + 1, catalog().len(), "one item removed");
        sim.set_catalog(&in_tally);
        let raw = price_request("price-5@sharma-traders.in", "");
        let id = post(&app, &raw).await;
        app.state.pipeline.drain(1).await.unwrap();
        set_intent(&app, &id, "product_inquiry").await;
        let ran = app.state.pipeline.drain(20).await.unwrap();
        assert_eq!(steps_of(&ran), &ALL_OK[1..]);
        let d = pipeline_draft(&app, &id).await;
        let facts: Value = serde_json::from_str(&d.facts).unwrap();
        let items = facts["items"].as_array().unwrap();
        let mcb = items
            .iter()
            .find(|i| i["name"].as_str().unwrap().contains("MCB"))
            .expect("the MCB is still an item of the email");
        assert_eq!(mcb["availability"], "unknown", "{mcb}");
        assert!(mcb["stock"].is_null() && mcb["rate"].is_null(), "{mcb}");
        let wire = items
            .iter()
            .find(|i| i["name"].as_str().unwrap().contains("Wire"))
            .unwrap();
        assert_eq!(wire["stock"]["source"], "live", "{wire}");
        assert!(d.body.contains("not in our stock records"), "{}", d.body);
        let settings = settings_texts(&app);
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        // The item is named from the catalogue the email was matched against.
        check_every_number(&d, &catalog(), &email_text(&raw), &settings);
    }
);

async fn lead_stage(app: &TestApp, id: &str) -> Value {
    app.get_json(&format!("/api/v1/leads/{id}")).await.1["stage"].clone()
}

story!(
    with_tally_hanging_the_lookup_gives_up_at_its_timeout_and_the_draft_states_the_cache,
    |b: Backend| async move {
        let Some((app, sim)) = drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        // Tally accepts the request and never answers.
        sim.set_fault(Some(pebble::tally::sim::Fault::Hang));
        let raw = price_request("price-4@sharma-traders.in", "");
        let id = post(&app, &raw).await;
        app.state.pipeline.drain(1).await.unwrap();
        set_intent(&app, &id, "product_inquiry").await;
        let started = std::time::Instant::now();
        let ran = app.state.pipeline.drain(20).await.unwrap();
        assert_eq!(steps_of(&ran), &ALL_OK[1..]);
        // Two lookups of at most the 500 ms lookup timeout each (and retries
        // within it), not the simulator's hang.
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        let enrich = note(&ran, "enrich");
        assert!(enrich.contains("2 from the cache as of"), "{enrich}");
        let d = pipeline_draft(&app, &id).await;
        assert!(
            d.body.contains("(as of 15 Jan 2026, 15:00 IST)"),
            "{}",
            d.body
        );
    }
);

/// Counts of everything the steps write, to compare before and after re-runs.
async fn footprint(app: &TestApp) -> Vec<(&'static str, usize)> {
    let mut out = Vec::new();
    for t in [
        "CompanyValidated",
        "LeadCreated",
        "LeadStageChanged",
        "TallyLookup",
        "DraftGenerated",
    ] {
        out.push((t, events(app, t).await.len()));
    }
    let (_, leads) = app.get_json("/api/v1/leads?limit=100").await;
    out.push(("leads", leads["items"].as_array().map_or(0, Vec::len)));
    let (_, drafts) = app.get_json("/api/v1/drafts").await;
    out.push(("drafts", drafts["items"].as_array().map_or(0, Vec::len)));
    out
}

story!(
    a_step_run_again_after_a_crash_writes_nothing_twice_and_a_purchase_order_wins_the_lead,
    |b: Backend| async move {
        let Some((app, _sim)) = drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        let raw = price_request("po-1@sharma-traders.in", "");
        let id = post(&app, &raw).await;
        app.state.pipeline.drain(1).await.unwrap();
        set_intent(&app, &id, "purchase_order").await;
        let s = &app.state;
        let clock: Arc<dyn pebble::clock::Clock> = app.clock.clone();
        let handlers: Vec<(&str, Box<dyn StepHandler>)> = vec![
            (
                "extract",
                Box::new(ExtractStep::new(
                    s.db.clone(),
                    s.intent.clone(),
                    clock.clone(),
                )),
            ),
            (
                "link",
                Box::new(LinkStep::new(s.db.clone(), s.crm.clone(), s.intent.clone())),
            ),
            (
                "enrich",
                Box::new(EnrichStep::new(
                    s.db.clone(),
                    s.tally.clone(),
                    clock.clone(),
                )),
            ),
        ];
        // Each step's own writes happen, then its worker dies before the job
        // is marked done: the queue runs every step again.
        for (step, h) in &handlers {
            let done = h.run(&id).await.unwrap();
            assert!(
                !done.note.unwrap().starts_with("already"),
                "{step} wrote on its first run"
            );
        }
        let before = footprint(&app).await;
        let ran = app.state.pipeline.drain(20).await.unwrap();
        assert_eq!(steps_of(&ran), &ALL_OK[1..]);
        for step in ["extract", "link", "enrich"] {
            assert!(
                note(&ran, step).starts_with("already"),
                "{step}: {}",
                note(&ran, step)
            );
        }
        let after = footprint(&app).await;
        let drafted: Vec<(&str, usize)> = before
            .iter()
            .map(|(k, n)| {
                (
                    *k,
                    if *k == "DraftGenerated" || *k == "drafts" {
                        n + 1
                    } else {
                        *n
                    },
                )
            })
            .collect();
        assert_eq!(after, drafted, "only the draft is new");
        // The purchase order took a new lead through the funnel to won, one
        // stage at a time, each step an event.
        let changes = events(&app, "LeadStageChanged").await;
        let mut path: Vec<(String, String)> = changes
            .iter()
            .map(|e| {
                (
                    e["payload"]["from_stage"].as_str().unwrap().to_owned(),
                    e["payload"]["to_stage"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        path.sort_by_key(|(f, _)| {
            ["new", "contacted", "qualified", "quoted"]
                .iter()
                .position(|s| s == f)
        });
        assert_eq!(
            path,
            [
                ("new", "contacted"),
                ("contacted", "qualified"),
                ("qualified", "quoted"),
                ("quoted", "won")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        // And again, every step, after everything is done.
        for (_, h) in &handlers {
            assert!(h
                .run(&id)
                .await
                .unwrap()
                .note
                .unwrap()
                .starts_with("already"));
        }
        assert_eq!(footprint(&app).await, after);

        // Admin puts the customer's history into the follow-up template; the
        // next follow-up's draft states the order's date from the CRM.
        let admin = app.admin().await;
        let r = app
            .client
            .put(app.url("/api/v1/drafts/templates/order_followup"))
            .bearer_auth(&admin)
            .json(&json!({"body": "{{greeting}}\n\n{{customer_history}}\n\nWe are checking {{your_order}}.\n\n{{signature}}"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        app.clock.advance(chrono::Duration::days(2));
        let raw = "Message-ID: <fu-2@sharma-traders.in>\r\nFrom: Anil Sharma <anil@sharma-traders.in>\r\n\
                   Subject: Dispatch status\r\n\r\nWhen will our material be dispatched?\r\n";
        let followup = post(&app, raw).await;
        app.state.pipeline.drain(1).await.unwrap();
        set_intent(&app, &followup, "order_followup").await;
        app.state.pipeline.drain(20).await.unwrap();
        let d = pipeline_draft(&app, &followup).await;
        let facts: Value = serde_json::from_str(&d.facts).unwrap();
        let history = &facts["history"];
        assert_eq!(history["last_order"]["email_id"], id.as_str(), "{history}");
        assert_eq!(history["previous_emails"], 1, "{history}");
        assert_eq!(history["source"], "crm");
        assert!(
            d.body.contains(
                "Thank you for your continued business: your last order reached us on 15 Jan 2026, 15:00 IST."
            ),
            "{}",
            d.body
        );
        let settings = settings_texts(&app);
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        check_every_number(
            &d,
            &catalog(),
            "Dispatch status\nWhen will our material be dispatched?",
            &settings,
        );
    }
);

story!(
    a_lead_never_moves_backwards_and_an_order_follow_up_wins_a_quoted_lead,
    |b: Backend| async move {
        let Some((app, _sim)) = drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        let admin = app.admin().await;
        let (s, company) = app
            .post_json(
                &admin,
                "/api/v1/companies",
                json!({"name": "Sharma Traders", "domains": ["sharma-traders.in"]}),
            )
            .await;
        assert_eq!(s, 201, "{company}");
        let (s, lead) = app
            .post_json(
                &admin,
                "/api/v1/leads",
                json!({"title": "Wires for the Pune site", "company_id": company["id"]}),
            )
            .await;
        assert_eq!(s, 201, "{lead}");
        let lead_id = lead["id"].as_str().unwrap().to_owned();
        for stage in ["contacted", "qualified", "quoted"] {
            let (s, body) = app
                .post_json(
                    &admin,
                    &format!("/api/v1/leads/{lead_id}/stage"),
                    json!({"stage": stage}),
                )
                .await;
            assert_eq!(s, 200, "{body}");
        }

        // A new inquiry from the quoted customer leaves the lead where it is.
        let inquiry = post(&app, &price_request("again-1@sharma-traders.in", "")).await;
        app.state.pipeline.drain(1).await.unwrap();
        set_intent(&app, &inquiry, "product_inquiry").await;
        let ran = app.state.pipeline.drain(20).await.unwrap();
        assert!(
            note(&ran, "link").contains(&format!("lead {lead_id} already at quoted")),
            "{}",
            note(&ran, "link")
        );
        assert_eq!(lead_stage(&app, &lead_id).await, "quoted");
        assert_eq!(
            events(&app, "LeadCreated").await.len(),
            1,
            "only the person's"
        );
        let by_pipeline = |evs: Vec<Value>| {
            evs.into_iter()
                .filter(|e| e["actor_id"] == "pipeline:link")
                .count()
        };
        assert_eq!(by_pipeline(events(&app, "LeadStageChanged").await), 0);

        // A follow-up on the order means the quotation was won.
        let followup = post(
            &app,
            "Message-ID: <fu-1@sharma-traders.in>\r\nFrom: Anil Sharma <anil@sharma-traders.in>\r\n\
             Subject: Status of our order\r\n\r\nWhen will our order be dispatched?\r\n",
        )
        .await;
        app.state.pipeline.drain(1).await.unwrap();
        set_intent(&app, &followup, "order_followup").await;
        let ran = app.state.pipeline.drain(20).await.unwrap();
        assert!(
            note(&ran, "link").contains("moved from quoted to won"),
            "{}",
            note(&ran, "link")
        );
        assert_eq!(lead_stage(&app, &lead_id).await, "won");
        assert_eq!(by_pipeline(events(&app, "LeadStageChanged").await), 1);
        // The enrich step, after the link step, saw the customer's earlier
        // email, and no open lead any more: it was just won.
        let d = pipeline_draft(&app, &followup).await;
        let facts: Value = serde_json::from_str(&d.facts).unwrap();
        assert_eq!(facts["history"]["previous_emails"], 1, "{facts}");
        assert_eq!(facts["history"]["open_leads"], json!([]), "{facts}");
    }
);

story!(
    a_subject_export_holds_what_the_pipeline_made_of_their_mail_and_erasure_empties_it,
    |b: Backend| async move {
        let Some((app, _sim)) = drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        let raw = price_request(
            "price-3@sharma-traders.in",
            "Reply-To: purchase@sharma-traders.in\r\n",
        );
        let id = post(&app, &raw).await;
        app.state.pipeline.drain(1).await.unwrap();
        set_intent(&app, &id, "product_inquiry").await;
        app.state.pipeline.drain(20).await.unwrap();
        // A person's override, after the fact.
        let sales = app.token(Role::Sales).await;
        let other = "payment";
        let (s, body) = app
            .post_json(
                &sales,
                &format!("/api/v1/classifications/{id}/override"),
                json!({"intent": other, "justification": "Anil wrote about his payment"}),
            )
            .await;
        assert_eq!(s, 200, "{body}");

        let ops = app.token(Role::Ops).await;
        let export = |ops: String| {
            let app = &app;
            async move {
                let r = app
                    .client
                    .post(app.url("/api/v1/dsr/export"))
                    .bearer_auth(&ops)
                    .json(&json!({"email": "anil@sharma-traders.in"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let entries = zip_entries(&r.bytes().await.unwrap());
                for csv in [
                    "classifications.csv",
                    "overrides.csv",
                    "drafts.csv",
                    "extractions.csv",
                    "links.csv",
                    "enrichments.csv",
                ] {
                    assert!(entries.iter().any(|(n, _)| n == csv), "{csv}");
                }
                let all: Value = serde_json::from_slice(
                    &entries.iter().find(|(n, _)| n == "subject.json").unwrap().1,
                )
                .unwrap();
                all
            }
        };
        let all = export(ops.clone()).await;
        assert_eq!(all["emails"][0]["reply_to"], "purchase@sharma-traders.in");
        assert_eq!(all["classifications"][0]["email_id"], id.as_str());
        assert_eq!(all["classifications"][0]["intent"], other);
        let overrides = all["overrides"].as_array().unwrap();
        assert_eq!(
            overrides.last().unwrap()["justification"],
            "Anil wrote about his payment"
        );
        assert!(all["drafts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Dear Anil Sharma"));
        assert_eq!(all["drafts"][0]["status"], "pending");
        assert!(
            all["drafts"][0]["facts"]["items"].is_array(),
            "{}",
            all["drafts"]
        );
        assert_eq!(all["extractions"][0]["phones"], json!(["+919820012345"]));
        assert_eq!(all["links"][0]["identifiers"].as_array().unwrap().len(), 2);
        assert_eq!(all["enrichments"][0]["stock"].as_array().unwrap().len(), 2);

        let admin = app.admin().await;
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

        let x = steps::extraction(&app.state.db, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                x.identifiers.as_str(),
                x.phones.as_str(),
                x.products.as_str()
            ),
            ("[]", "[]", "[]")
        );
        let l = steps::link(&app.state.db, &id).await.unwrap().unwrap();
        assert_eq!(l.identifiers, "[]");
        let e = steps::enrichment(&app.state.db, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((e.stock.as_str(), e.history.as_str()), ("[]", "null"));
        let email = pebble::store::emails::email(&app.state.db, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(email.reply_to, None);
        // What is still exported about the email names nobody.
        let text = records_dump(&app, &id).await;
        for personal in [
            "98200",
            "+9198200",
            BAD_GSTIN,
            "purchase@",
            "FR PVC",
            "Anil",
        ] {
            assert!(!text.contains(personal), "{personal}: {text}");
        }
    }
);

/// The pipeline's records and the draft of one email, as text.
async fn records_dump(app: &TestApp, id: &str) -> String {
    let db = &app.state.db;
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        steps::extraction(db, id).await.unwrap(),
        steps::link(db, id).await.unwrap(),
        steps::enrichment(db, id).await.unwrap(),
        pipeline_draft(app, id).await,
    )
}
