//! Fill a database with N realistic activity events, for load scripts and
//! benchmarks: `cargo run --release --example seed_activity -- URL N`.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use pebble::store::{activity, Db};
use pebble_core::audit::{Actor, EventType, NewEvent};

/// Events as a busy mailbox produces them: many emails, their classifications
/// and drafts, spread over 1,000 companies and a year.
pub fn event(i: u64) -> NewEvent {
    let t = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + Duration::seconds((i * 31) as i64);
    let email = format!("email-{}", i / 3);
    match i % 3 {
        0 => NewEvent::new(
            EventType::EmailReceived,
            Actor::system("imap:sales"),
            "email",
            email,
            serde_json::json!({"message_id": format!("<{i}@buyer{}.in>", i % 1000), "from": format!("purchase@buyer{}.in", i % 1000), "subject": "Rate required for 2.5 sq mm FR wire, 10 coils", "stream": "sales"}),
            t,
        ),
        1 => NewEvent::new(
            EventType::LeadClassified,
            Actor::ai_agent("classifier:intent-v1"),
            "email",
            email,
            serde_json::json!({"email_id": i / 3, "ai_intent": "product_inquiry", "confidence": 0.93, "model_version": "intent-v1", "manual_override": false}),
            t,
        ),
        _ => NewEvent::new(
            EventType::TallyLookup,
            Actor::system("tally"),
            "company",
            format!("company-{}", i % 1000),
            serde_json::json!({"product": "FR WIRE 2.5 SQMM 90M", "stock_returned": 140, "source": "live", "ok": true}),
            t,
        ),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: seed_activity URL N");
    let n: u64 = args.next().expect("usage: seed_activity URL N").parse()?;
    let db = Db::open(&url, 2, "bench").await?;
    let (have, _) = activity::head(&db).await?;
    let started = Instant::now();
    let mut i = have as u64;
    while i < n {
        let batch: Vec<_> = (i..(i + 5_000).min(n)).map(event).collect();
        let mut tx = db.begin().await?;
        activity::append(&mut tx, &batch, Utc::now()).await?;
        tx.commit().await?;
        i += batch.len() as u64;
    }
    eprintln!(
        "{} events present; appended {} in {:.1?}",
        n,
        n - have as u64,
        started.elapsed()
    );
    Ok(())
}
