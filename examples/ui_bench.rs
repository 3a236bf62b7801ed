//! Server time of the web UI's heaviest pages on a busy database:
//! `cargo run --release --example ui_bench -- URL EMAILS REQUESTS`.
//!
//! Seeds (once) EMAILS emails' worth of history spread over the last 180
//! days — each email received and classified, one in 30 overridden, one in
//! three answered by a draft that a staff member approved or rejected — plus
//! companies and leads across the funnel and EMAILS stored emails for the
//! inbox (through the ingestion path, pipeline workers off), then starts Pebble on a loopback
//! port exactly as `pebble serve` does, signs in through the login form and
//! times REQUESTS sequential GETs of each page. Prints p50/p95/p99 in ms.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use pebble::clock::SystemClock;
use pebble::config::Settings;
use pebble::crm::{CompanyInput, LeadInput, StageChange};
use pebble::startup::Application;
use pebble::store::activity;
use pebble_core::access::Role;
use pebble_core::audit::{Actor, EventType, NewEvent};
use serde_json::json;

const PASSWORD: &str = "bench password 2026";
const INTENTS: [&str; 8] = [
    "product_inquiry",
    "order_placement",
    "order_status",
    "payment",
    "complaint",
    "vendor_offer",
    "spam",
    "other",
];

fn email_events(i: u64, n: u64, staff: &[String]) -> Vec<NewEvent> {
    let span = Duration::days(180).num_seconds() as u64;
    let at = Utc::now() - Duration::seconds((span - i * span / n.max(1)) as i64);
    let id = format!("email-{i}");
    let intent = INTENTS[(i * 7 % 8) as usize];
    let mut out = vec![
        NewEvent::new(
            EventType::EmailReceived,
            Actor::system("imap:sales"),
            "email",
            id.clone(),
            json!({"message_id": format!("<{i}@buyer{}.in>", i % 1000), "from": format!("purchase@buyer{}.in", i % 1000),
                   "subject": "Rate required for 2.5 sq mm FR wire, 10 coils", "stream": "sales"}),
            at,
        ),
        NewEvent::new(
            EventType::LeadClassified,
            Actor::ai_agent("classifier:intent-v1"),
            "email",
            id.clone(),
            json!({"email_id": id, "ai_intent": intent, "confidence": 0.9, "model_version": "intent-v1", "manual_override": false}),
            at + Duration::seconds(1),
        ),
    ];
    let person = &staff[(i % staff.len() as u64) as usize];
    if i % 30 == 0 {
        out.push(NewEvent::new(
            EventType::LeadClassified,
            Actor::user(person.clone()),
            "email",
            id.clone(),
            json!({"email_id": id, "ai_intent": "complaint", "previous_intent": intent, "manual_override": true,
                   "justification": "the customer reports a defect"}),
            at + Duration::minutes(5),
        ));
    }
    if i % 3 == 0 {
        let (t, payload) = if i % 9 == 0 {
            (
                EventType::DraftRejected,
                json!({"user_id": person, "draft_id": format!("d{i}"), "reason": "wrong rate"}),
            )
        } else {
            (
                EventType::DraftApproved,
                json!({"user_id": person, "draft_id": format!("d{i}"), "edits_made": i % 2}),
            )
        };
        out.push(NewEvent::new(
            t,
            Actor::user(person.clone()),
            "draft",
            format!("d{i}"),
            payload,
            at + Duration::minutes(20),
        ));
    }
    if i % 500 == 0 {
        out.push(NewEvent::new(
            EventType::TallySyncCompleted,
            Actor::system("tally-sync"),
            "tally",
            "catalog",
            json!({"items": 5000, "duration_ms": 800, "ok": i % 5000 != 0}),
            at,
        ));
    }
    out
}

fn raw_email(i: u64) -> Vec<u8> {
    let b = i % 1000;
    format!(
        "From: Purchase {b} <purchase@buyer{b}.in>\r\nTo: sales@pebble.example\r\n\
         Subject: Rate required for 2.5 sq mm FR wire, {i} coils\r\n\
         Message-ID: <{i}.bench@buyer{b}.in>\r\nDate: Fri, 4 Dec 2026 10:00:00 +0530\r\n\r\n\
         Please quote your best rate for {i} coils of 2.5 sq mm FR wire, delivery to Pune.\r\n"
    )
    .into_bytes()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: ui_bench URL EMAILS REQUESTS";
    let url = args.next().expect(usage);
    let emails: u64 = args.next().expect(usage).parse()?;
    let requests: usize = args.next().expect(usage).parse()?;
    let data_dir =
        std::env::var("PEBBLE_DATA_DIR").unwrap_or_else(|_| "target/bench-data/ui".into());
    let settings = Settings {
        data_dir: data_dir.into(),
        database_url: Some(url.into()),
        audit_checkpoint_interval_secs: 0,
        audit_retention_interval_secs: 0,
        tally_sync_interval_secs: 0,
        rate_limit_per_minute: 0,
        pipeline_workers: 0,
        log: "warn".into(),
        ..Settings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = Application::build(settings, Arc::new(SystemClock), listener, metrics).await?;
    let state = app.state().clone();
    let addr = app.addr();

    let mut staff = Vec::new();
    for n in 0..5 {
        let email = format!("staff{n}@bench.in");
        let id = match state.auth.find_user(&email).await {
            Ok(u) => u.id,
            Err(_) => {
                state
                    .auth
                    .create_user(
                        Actor::system("bench"),
                        &email,
                        &format!("Staff member {n}"),
                        Role::Sales,
                        PASSWORD,
                    )
                    .await?
                    .id
            }
        };
        staff.push(id);
    }
    let (events, _) = activity::head(&state.db).await?;
    if events < emails as i64 {
        let started = Instant::now();
        let mut i = 0;
        while i < emails {
            let batch: Vec<NewEvent> = (i..(i + 2_000).min(emails))
                .flat_map(|k| email_events(k, emails, &staff))
                .collect();
            state.audit.record(&batch).await?;
            i += 2_000;
        }
        for c in 0..50 {
            let company = state
                .crm
                .create_company(
                    Actor::system("bench"),
                    CompanyInput {
                        name: format!("Buyer {c} Electricals"),
                        domains: vec![format!("buyer{c}.in")],
                        gstins: Vec::new(),
                        pan: None,
                        cin: None,
                        address: None,
                        state: None,
                    },
                )
                .await?;
            for l in 0..6 {
                let lead = state
                    .crm
                    .create_lead(
                        Actor::user(staff[0].clone()),
                        true,
                        LeadInput {
                            title: format!("Cable order {c}-{l}"),
                            company_id: company.id.clone(),
                            contact_id: None,
                            owner_id: None,
                            source_email_id: None,
                        },
                    )
                    .await?;
                for stage in ["contacted", "qualified", "quoted", "won"]
                    .iter()
                    .take(l % 5)
                {
                    state
                        .crm
                        .change_stage(
                            Actor::user(staff[0].clone()),
                            &lead.id,
                            StageChange {
                                stage: (*stage).into(),
                                reason: None,
                            },
                        )
                        .await?;
                }
            }
        }
        // After the companies, so that senders link to them (and the rest
        // of the domains become companies the way ingestion makes them).
        let mut i = 0;
        while i < emails {
            let raws = (i..(i + 200).min(emails)).map(raw_email).collect();
            state
                .ingest
                .receive_batch(raws, "sales", &pebble::ingest::Source::Import)
                .await?;
            i += 200;
        }
        eprintln!(
            "seeded {emails} emails of history in {:.1?}",
            started.elapsed()
        );
    }
    let admin = "bench-admin@bench.in";
    if state.auth.find_user(admin).await.is_err() {
        state
            .auth
            .create_user(
                Actor::system("bench"),
                admin,
                "Bench admin",
                Role::Admin,
                PASSWORD,
            )
            .await?;
    }
    let server = tokio::spawn(app.run(std::future::pending()));

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://{addr}");
    let form = client.get(format!("{base}/login")).send().await?;
    let login_cookie = form.headers()["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = csrf_in(&form.text().await?);
    let r = client
        .post(format!("{base}/login"))
        .header("cookie", login_cookie)
        .form(&[
            ("csrf", token.as_str()),
            ("email", admin),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await?;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("pebble_session="))
        .expect("signed in")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    println!("page\trequests\tp50 ms\tp95 ms\tp99 ms\tmax ms\tbytes");
    for path in [
        "/",
        "/?stream=sales",
        "/?from=purchase%40buyer7.in",
        "/dashboards/sales-ops",
        "/dashboards/owner",
        "/leads",
    ] {
        let mut times = Vec::with_capacity(requests);
        let mut bytes = 0;
        for _ in 0..requests {
            let started = Instant::now();
            let r = client
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            assert_eq!(r.status().as_u16(), 200, "{path}");
            bytes = r.bytes().await?.len();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{path}\t{requests}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{bytes}",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 0.99),
            times.last().unwrap()
        );
    }
    server.abort();
    Ok(())
}
