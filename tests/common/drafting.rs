//! Drafting fixtures: the app beside a Tally simulator on the demo catalogue
//! (cache synced), and draft inputs built the way the pipeline builds them:
//! products found in the email by the real matcher.

use chrono::{DateTime, Utc};
use pebble::config::Settings;
use pebble::drafts::{DraftInput, EmailRef};
use pebble::tally::sim::{self, SimConfig, SimHandle};
use pebble_core::audit::Actor;
use pebble_core::catalog::{parse_catalog, CatalogItem};
use pebble_intent::products::ProductMatcher;
use pebble_intent::Intent;

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
        history: None,
    }
}
