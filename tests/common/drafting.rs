//! Drafting fixtures: the app beside a Tally simulator on the demo catalogue
//! (cache synced), and draft inputs built the way the pipeline builds them:
//! products found in the email by the real matcher.

use chrono::{DateTime, Utc};
use pebble::config::Settings;
use pebble::drafts::{DraftInput, EmailRef};
use pebble::tally::sim::{self, SimConfig, SimHandle};
use pebble_core::access::Role;
use pebble_core::audit::Actor;
use pebble_core::catalog::{parse_catalog, CatalogItem};
use pebble_intent::products::ProductMatcher;
use pebble_intent::Intent;

use std::collections::{BTreeSet, HashMap};

use pebble::store::drafts::Draft;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use super::{spawn_app_with, Backend, TestApp};

pub fn catalog() -> Vec<CatalogItem> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo/catalog.json");
    parse_catalog(&std::fs::read(path).unwrap()).unwrap()
}

/// The business as the drafting tests configure it.
pub fn business(s: &mut Settings) {
    s.business_name = "Demo Electricals".into();
    s.draft_signature =
        "Demo Electricals, Shop 12, Lamington Road, Mumbai 400007\nPh. 022 2387 1234".into();
    s.draft_terms = "Payment within 30 days; rates valid for 7 days; freight extra.".into();
    s.draft_gst_percent = "18".into();
    s.draft_gst_by_group = "Pumps=12".into();
    s.draft_lead_time_in_stock = "dispatch in 1-2 working days".into();
    s.draft_lead_time_to_order = "2-3 weeks".into();
    s.smtp_from = "sales@demo-electricals.in".into();
}

/// The app, a simulator on the demo catalogue, a full sync done and the
/// intent model reloaded with it.
pub async fn app(b: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<(TestApp, SimHandle)> {
    let sim = sim::spawn(SimConfig {
        catalog: catalog(),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let url = sim.url();
    let app = spawn_app_with(b, |s| {
        s.tally_url = url;
        s.tally_lookup_timeout_ms = 500;
        s.tally_sync_interval_secs = 0;
        business(s);
        tweak(s);
    })
    .await?;
    app.state
        .tally
        .sync(true, Actor::system("test"))
        .await
        .expect("sync");
    // What the intent worker does within `intent_refresh_secs` of a sync: the
    // classifier then finds the catalogue's products in emails.
    app.state.intent.refresh().await.expect("intent refresh");
    Some((app, sim))
}

pub fn email(id: &str, from: &str, name: Option<&str>, subject: &str, body: &str) -> EmailRef {
    EmailRef {
        id: id.into(),
        stream: "sales".into(),
        message_id: Some(format!("{id}@customer.example.in")),
        from_addr: from.into(),
        from_name: name.map(str::to_owned),
        reply_to: None,
        subject: subject.into(),
        body_text: body.into(),
        received_at: received().timestamp_micros(),
        references: vec![format!("thread-start-{id}@customer.example.in")],
    }
}

/// When the test emails arrived: an hour before the test clock starts.
pub fn received() -> DateTime<Utc> {
    super::t0() - chrono::Duration::hours(1)
}

/// A draft input as the pipeline makes it: products found by the matcher.
pub fn input(intent: Intent, email: EmailRef) -> DraftInput {
    let products =
        ProductMatcher::new(&catalog()).find(&format!("{}\n{}", email.subject, email.body_text));
    DraftInput {
        email,
        intent,
        products,
        company_id: None,
        contact_id: None,
        assignee_id: None,
        stock: Vec::new(),
        absent: Vec::new(),
        history: None,
    }
}

/// A price request from Anil Sharma for the demo catalogue's FR wire,
/// posted as a raw message by Ops, as a mail relay would; returns the
/// stored email's id.
pub async fn post_price_request(app: &TestApp, message_id: &str) -> String {
    let raw = format!(
        "Message-ID: <{message_id}>\r\n\
         From: Anil Sharma <anil@sharma-traders.in>\r\n\
         To: sales@demo-electricals.in\r\n\
         Subject: Price request\r\n\
         Date: Thu, 15 Jan 2026 14:00:00 +0530\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello,\r\nPlease quote your price and stock for\r\n\
         2.5 sq mm FR wire 10 coil\r\n\
         Thanks,\r\nAnil\r\n"
    );
    let ops = app.token(Role::Ops).await;
    let r = app
        .client
        .post(app.url("/api/v1/emails?stream=sales"))
        .bearer_auth(&ops)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The numbers a reader sees in `text` (an implementation of the test's own).
pub fn numbers(text: &str) -> Vec<Decimal> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .map(|t| t.trim_matches(|c| c == '.' || c == ','))
        .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
        .flat_map(|t| {
            // "Rs.25,000/-" groups with commas; "10, 20" lists with a comma and space (split above).
            let joined: String = t.chars().filter(|c| *c != ',').collect();
            match joined.parse::<Decimal>() {
                Ok(d) => vec![d.normalize()],
                Err(_) => joined
                    .split('.')
                    .filter_map(|p| p.parse::<Decimal>().ok())
                    .map(|d| d.normalize())
                    .collect(),
            }
        })
        .collect()
}

pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn paise(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Check one draft against the ground truth: the catalogue file, the email,
/// the settings, the sync time. Every fact must equal its source, every
/// derived amount must be the arithmetic of facts, and every number in the
/// text must be one of those.
pub fn check_every_number(
    draft: &Draft,
    catalog: &[CatalogItem],
    email_text: &str,
    settings: &[&str],
) {
    let facts: Value = serde_json::from_str(&draft.facts).unwrap();
    let by_name: HashMap<&str, &CatalogItem> =
        catalog.iter().map(|c| (c.tally_name.as_str(), c)).collect();
    let mut allowed: BTreeSet<Decimal> = BTreeSet::new();
    let add = |text: &str, allowed: &mut BTreeSet<Decimal>| allowed.extend(numbers(text));
    add(email_text, &mut allowed);
    for s in settings {
        add(s, &mut allowed);
    }
    // The sync ran at the test clock's start: 09:30 UTC is 15:00 IST.
    add("15 Jan 2026, 15:00 IST", &mut allowed);
    let mut subtotal = Decimal::ZERO;
    let mut gst_total = Decimal::ZERO;
    let mut priced = 0;
    for item in facts["items"].as_array().unwrap() {
        let name = item["name"].as_str().unwrap();
        let source = by_name
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the catalogue"));
        add(name, &mut allowed);
        if let Some(stock) = item["stock"].as_object() {
            assert_eq!(
                dec(stock["qty"].as_str().unwrap()),
                dec(source.closing_qty.as_str()),
                "{name}"
            );
            add(source.closing_qty.as_str(), &mut allowed);
            if stock["source"] == "cache" {
                assert_eq!(stock["as_of_local"], "15 Jan 2026, 15:00 IST");
            }
        }
        if let Some(rate) = item["rate"].as_object() {
            let truth = source
                .rate_inr
                .as_ref()
                .expect("a rate only when the catalogue has one");
            assert_eq!(
                dec(rate["value"].as_str().unwrap()),
                dec(truth.as_str()),
                "{name}"
            );
            add(truth.as_str(), &mut allowed);
        }
        let gst = dec(item["gst_percent"]["value"].as_str().unwrap());
        let expected_gst = if source.group.as_deref() == Some("Pumps") {
            12
        } else {
            18
        };
        assert_eq!(gst, Decimal::from(expected_gst), "{name}");
        if let Some(asked) = item["asked"].as_object() {
            assert!(
                numbers(email_text).contains(&dec(asked["qty"].as_str().unwrap()).normalize()),
                "{name}: quantity {} is not in the email",
                asked["qty"]
            );
        }
        if let Some(amount) = item["amount"].as_str() {
            let qty = dec(item["asked"]["qty"].as_str().unwrap());
            let rate = dec(source.rate_inr.as_ref().unwrap().as_str());
            let want = paise(qty * rate);
            assert_eq!(dec(amount), want, "{name}: amount");
            let want_gst = paise(want * gst / Decimal::ONE_HUNDRED);
            assert_eq!(
                dec(item["gst_amount"].as_str().unwrap()),
                want_gst,
                "{name}: GST"
            );
            allowed.insert(want.normalize());
            allowed.insert(want_gst.normalize());
            subtotal += want;
            gst_total += want_gst;
            priced += 1;
        }
    }
    if priced > 0 {
        let t = &facts["totals"];
        assert_eq!(dec(t["subtotal"].as_str().unwrap()), subtotal);
        assert_eq!(dec(t["gst"].as_str().unwrap()), gst_total);
        assert_eq!(dec(t["total"].as_str().unwrap()), subtotal + gst_total);
        for d in [subtotal, gst_total, subtotal + gst_total] {
            allowed.insert(d.normalize());
        }
    } else {
        assert!(facts["totals"].is_null());
    }
    for n in numbers(&draft.body) {
        assert!(
            allowed.contains(&n),
            "draft {} ({}) states {n}, which no source gives:\n{}",
            draft.id,
            draft.intent,
            draft.body
        );
    }
}

pub fn settings_texts(app: &TestApp) -> Vec<String> {
    let s = &app.state.settings;
    vec![
        s.draft_signature.clone(),
        s.draft_terms.clone(),
        s.draft_lead_time_in_stock.clone(),
        s.draft_lead_time_to_order.clone(),
        s.draft_gst_percent.clone(),
        s.draft_gst_by_group.clone(),
        s.business_name.clone(),
    ]
}
