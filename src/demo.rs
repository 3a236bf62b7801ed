//! `pebble demo`: the whole product in one command on the embedded default.
//! A Tally simulator serves the demo catalogue, demo users are created (and
//! their passwords printed), the demo mailbox is imported, and the pipeline
//! carries it through while the server runs; the user sees classified
//! emails, leads, drafts and the activity stream within a minute.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use pebble_core::access::Role;
use pebble_core::audit::Actor;
use rand::distributions::{Alphanumeric, DistString};
use tokio::net::TcpListener;

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::ingest::Source;
use crate::startup::{self, Application};
use crate::tally::sim::{self, SimConfig, SimLedger};

const CATALOG: &[u8] = include_bytes!("../data/demo/catalog.json");
const LEDGERS: &[u8] = include_bytes!("../data/demo/ledgers.json");
const MAILBOX: &[u8] = include_bytes!("../data/demo/mailbox.mbox");
const CREDENTIALS: &str = "demo-credentials.json";

/// The demo's users: (login, name, role).
const USERS: [(&str, &str, Role); 4] = [
    ("admin@demo.in", "Asha (owner)", Role::Admin),
    ("sales@demo.in", "Sunil (sales)", Role::Sales),
    ("ops@demo.in", "Omkar (operations)", Role::Ops),
    ("auditor@demo.in", "CA Rekha (auditor)", Role::ReadOnly),
];

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    if std::env::var_os("PEBBLE_DATA_DIR").is_none() {
        settings.data_dir = "./pebble-demo".into();
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create {}", settings.data_dir.display()))?;
    let credentials = credentials(&settings.data_dir)?;
    settings.admin_email = USERS[0].0.into();
    settings.admin_password = Some(credentials[USERS[0].0].clone().into());

    let catalog = pebble_core::catalog::parse_catalog(CATALOG).context("the demo catalogue")?;
    let ledgers: Vec<SimLedger> = serde_json::from_slice(LEDGERS).context("the demo ledgers")?;
    let tally = sim::spawn(SimConfig {
        company: "Demo Electricals".into(),
        catalog,
        ledgers,
        ..SimConfig::default()
    })
    .await
    .context("starting the Tally simulator")?;
    settings.tally_url = tally.url();
    // The demo business signs its drafts and can approve them; an operator's
    // own settings win.
    if settings.business_name.is_empty() {
        settings.business_name = "Demo Electricals".into();
    }
    if settings.smtp_from.is_empty() {
        settings.smtp_from = "sales@demo.in".into();
    }

    let listener = TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    let metrics_listener = TcpListener::bind(settings.metrics_bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.metrics_bind))?;
    let app = Application::build(
        settings.clone(),
        Arc::new(SystemClock),
        listener,
        metrics_listener,
    )
    .await?;
    let state = app.state().clone();
    for (email, name, role) in USERS.iter().skip(1) {
        match state
            .auth
            .create_user(
                Actor::system("demo"),
                email,
                name,
                *role,
                &credentials[*email],
            )
            .await
        {
            Ok(_) | Err(crate::auth::AuthError::Conflict) => {}
            Err(e) => return Err(e).with_context(|| format!("creating {email}")),
        }
    }
    let synced = state.tally.sync(true, Actor::system("demo")).await?;
    // Before the mailbox goes in: the classifier must know the synced
    // catalogue, or the first drafts would match no products.
    state
        .intent
        .refresh()
        .await
        .context("loading the catalogue into the intent model")?;
    let imported = state
        .ingest
        .receive_batch(crate::mail::mbox::split(MAILBOX), "sales", &Source::Import)
        .await?;
    let new = imported
        .iter()
        .filter(|r| r.outcome == crate::ingest::Outcome::Stored)
        .count();

    let url = format!("http://{}", app.addr());
    println!("Pebble demo is running at {url}");
    println!("  data: {}", settings.data_dir.display());
    println!(
        "  Tally simulator: {} ({} stock items synced)",
        tally.url(),
        synced.items
    );
    println!(
        "  demo mailbox: {} messages ({new} new this run); the pipeline is working through them",
        imported.len()
    );
    println!("  metrics: http://{}/metrics", app.metrics_addr());
    println!("Sign in as:");
    for (email, _, role) in USERS {
        println!("  {:<10} {email:<18} {}", role.as_str(), credentials[email]);
    }
    println!("API: {url}/api/v1/openapi.json — stop with Ctrl-C");
    app.run(startup::shutdown_signal()).await?;
    drop(tally);
    Ok(())
}

/// The demo users' passwords: made up on the first run, kept in the data
/// directory (readable by the owner only) so later runs print the same.
fn credentials(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let path = dir.join(CREDENTIALS);
    let text = crate::keyfile::read_or_create(&path, || {
        let mut rng = rand::thread_rng();
        let made: BTreeMap<&str, String> = USERS
            .iter()
            .map(|(e, _, _)| (*e, Alphanumeric.sample_string(&mut rng, 16)))
            .collect();
        serde_json::to_string_pretty(&made).expect("a map of strings serialises")
    })
    .with_context(|| format!("cannot read or write {}", path.display()))?;
    let saved: BTreeMap<String, String> = serde_json::from_str(&text)
        .with_context(|| format!("{} is damaged; delete it to start over", path.display()))?;
    anyhow::ensure!(
        USERS.iter().all(|(e, _, _)| saved.contains_key(*e)),
        "{} lacks a demo user; delete it to start over",
        path.display()
    );
    Ok(saved)
}
