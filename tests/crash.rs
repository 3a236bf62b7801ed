//! A process killed with SIGKILL in the middle of appending batches leaves a
//! chain that verifies, holds every acknowledged event and no partial batch.
//! The test re-runs its own binary as the child that gets killed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{Backend, TestDb};
use pebble::clock::{Clock, SystemClock};
use pebble::store::{activity, Db};
use pebble_core::audit::{Actor, EventType, NewEvent};

const BATCH: i64 = 50;
const CHILD_ENV: &str = "PEBBLE_CRASH_CHILD_URL";

/// The child: append batches forever, acknowledging each after its commit.
fn append_until_killed(url: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = Db::connect(url, 2).await.unwrap();
        let clock = SystemClock;
        loop {
            let events: Vec<_> = (0..BATCH)
                .map(|i| {
                    NewEvent::new(
                        EventType::EmailReceived,
                        Actor::system("crash-child"),
                        "email",
                        i.to_string(),
                        serde_json::json!({"i": i, "padding": "x".repeat(200)}),
                        clock.now(),
                    )
                })
                .collect();
            let mut tx = db.begin().await.unwrap();
            let stored = activity::append(&mut tx, &events, clock.now())
                .await
                .unwrap();
            tx.commit().await.unwrap();
            println!("ack {}", stored.last().unwrap().seq);
        }
    });
}

async fn kill_mid_batch_and_check(backend: Backend, kills_after_acks: usize) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    pebble::startup::open_database(&db.settings())
        .await
        .unwrap()
        .close()
        .await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_process_killed_mid_batch_leaves_a_verifiable_prefix",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &db.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut last_acked = 0;
    let mut acks = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(seq) = line.strip_prefix("ack ") {
            last_acked = seq.parse().unwrap();
            acks += 1;
            if acks == kills_after_acks {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no rollback by the client
    child.wait().unwrap();
    assert!(last_acked > 0, "the child never acknowledged a batch");

    let state = pebble::startup::services(&db.settings(), Arc::new(SystemClock))
        .await
        .unwrap();
    let report = state.audit.verify().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert!(
        report.verified >= last_acked,
        "acknowledged {last_acked}, found {}",
        report.verified
    );
    assert_eq!(
        report.verified % BATCH,
        0,
        "a partial batch is visible: {} events",
        report.verified
    );
}

#[test]
fn a_process_killed_mid_batch_leaves_a_verifiable_prefix() {
    if let Ok(url) = std::env::var(CHILD_ENV) {
        append_until_killed(&url);
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for kills_after in [3, 17, 41] {
            kill_mid_batch_and_check(Backend::Sqlite, kills_after).await;
            kill_mid_batch_and_check(Backend::Postgres, kills_after).await;
        }
    });
}
