//! The SMTP outbox against a real SMTP server on loopback (aiosmtpd): replies
//! threaded to the original, retries with backoff, dead letters, servers that
//! refuse, stall or demand a login, and processes killed mid-send that never
//! send a reply twice.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::drafting::{self, email, input};
use common::smtp::SmtpSink;
use common::{Backend, TestDb};
use pebble::clock::{Clock, ManualClock, SystemClock};
use pebble::config::Settings;
use pebble::http::AppState;
use pebble::store::drafts::Draft;
use pebble::store::outbox::OutboxRow;
use pebble::tally::sim::{self, SimConfig, SimHandle};
use pebble_core::access::Role;
use pebble_core::audit::Actor;
use pebble_intent::Intent;
use serde_json::{json, Value};

const SALES: &str = "u-sales";

/// Services without a server (no background worker): the outbox is stepped.
struct Rig {
    state: AppState,
    clock: Arc<ManualClock>,
    db: TestDb,
    settings: Settings,
    _sim: SimHandle,
}

fn outbox_settings(s: &mut Settings, smtp_url: &str) {
    drafting::business(s);
    s.smtp_url = smtp_url.into();
    s.smtp_timeout_secs = 2;
    s.outbox_backoff_secs = 60;
    s.outbox_max_attempts = 3;
    s.tally_sync_interval_secs = 0;
}

async fn rig(b: Backend, smtp_url: &str, tweak: impl FnOnce(&mut Settings)) -> Option<Rig> {
    let db = TestDb::new(b).await?;
    let sim = sim::spawn(SimConfig {
        catalog: drafting::catalog(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut settings = db.settings();
    settings.tally_url = sim.url();
    outbox_settings(&mut settings, smtp_url);
    tweak(&mut settings);
    let clock = Arc::new(ManualClock::new(common::t0()));
    let state = pebble::startup::services(&settings, clock.clone())
        .await
        .unwrap();
    state.tally.sync(true, Actor::system("test")).await.unwrap();
    Some(Rig {
        state,
        clock,
        db,
        settings,
        _sim: sim,
    })
}

impl Rig {
    /// A product-inquiry draft for `id`, approved by the sales user.
    async fn approved(&self, id: &str) -> (Draft, OutboxRow) {
        let inp = input(
            Intent::ProductInquiry,
            email(
                id,
                "ramesh@iyer-electricals.in",
                Some("Ramesh Iyer"),
                "Rate required",
                "2.5 sq mm FR wire 10 coil",
            ),
        );
        let d = self
            .state
            .drafts
            .generate(&inp, None)
            .await
            .unwrap()
            .unwrap();
        let d = self.state.drafts.approve(&d.id, SALES, None).await.unwrap();
        let row = pebble::store::outbox::by_draft(&self.state.db, &d.id)
            .await
            .unwrap()
            .unwrap();
        (d, row)
    }

    async fn row(&self, id: &str) -> OutboxRow {
        self.state.outbox.get(id).await.unwrap()
    }

    async fn draft(&self, id: &str) -> Draft {
        self.state.drafts.get(id).await.unwrap()
    }

    /// Events of a type, newest first, with their payloads parsed.
    async fn events(&self, event_type: &str) -> Vec<(pebble_core::audit::StoredEvent, Value)> {
        let filter = pebble::store::activity::Filter {
            event_type: Some(event_type.into()),
            ..Default::default()
        };
        let page = pebble::store::activity::Page::NewestFirst { before: None };
        pebble::store::activity::search(&self.state.db, &filter, page, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                let p = serde_json::from_str(e.payload.as_deref().unwrap_or("null")).unwrap();
                (e, p)
            })
            .collect()
    }
}

story!(
    an_approved_reply_goes_out_once_threaded_with_the_message_id_recorded_before_sending,
    |b: Backend| async move {
        let Some(sink) = SmtpSink::start(&[]) else {
            return;
        };
        let Some(rig) = rig(b, &sink.url(), |_| {}).await else {
            return;
        };
        let (d, row) = rig.approved("e-1").await;
        assert_eq!(row.status, "queued");
        assert!(row.message_id.ends_with("@demo-electricals.in"));
        assert!(row
            .message
            .contains(&format!("Message-ID: <{}>", row.message_id)));

        let report = rig.state.outbox.run_once().await.unwrap();
        assert_eq!(report.sent, 1, "{report:?}");
        let got = sink.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].mail_from, "sales@demo-electricals.in");
        assert_eq!(got[0].rcpt_tos, vec!["ramesh@iyer-electricals.in"]);
        let m = pebble::mail::parse(got[0].raw.as_bytes(), &Default::default()).unwrap();
        assert_eq!(m.message_id.as_deref(), Some(row.message_id.as_str()));
        assert_eq!(m.subject, "Re: Rate required");
        assert_eq!(m.in_reply_to.as_deref(), Some("e-1@customer.example.in"));
        assert_eq!(
            m.references,
            vec![
                "thread-start-e-1@customer.example.in",
                "e-1@customer.example.in"
            ]
        );
        assert_eq!(m.from.unwrap().name, "Demo Electricals");
        assert!(m.body.contains("₹2,590.00 per Coil"), "{}", m.body);
        assert_eq!(
            m.body.replace("\r\n", "\n").trim_end(),
            d.final_body.clone().unwrap().trim_end()
        );
        let row = rig.row(&row.id).await;
        assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
        let d = rig.draft(&d.id).await;
        assert_eq!(d.status, "sent");
        assert_eq!(d.sent_at, Some(common::t0().timestamp_micros()));
        let sent = rig.events("EmailSent").await;
        assert_eq!(sent.len(), 1);
        let p = &sent[0].1;
        assert_eq!(p["draft_id"], d.id.as_str());
        assert_eq!(p["message_id"], row.message_id.as_str());
        assert_eq!(p["to"], "ramesh@iyer-electricals.in");
        assert_eq!(p["response_secs"], 3600);

        // Nothing is sent twice.
        rig.clock.advance(chrono::Duration::days(1));
        assert_eq!(rig.state.outbox.run_once().await.unwrap().sent, 0);
        assert_eq!(sink.received().len(), 1);

        // Response time: an hour from receipt, by approver and by stream.
        let stats = rig
            .state
            .drafts
            .stats(common::t0() - chrono::Duration::days(1))
            .await
            .unwrap();
        let by_user = &stats.response_by_user[0];
        assert_eq!(
            (by_user.key.as_str(), by_user.replies, by_user.p50_secs),
            (SALES, 1, 3600.0)
        );
        assert_eq!(stats.response_by_stream[0].key, "sales");
        // The Sales Ops dashboard's staff response times; Read-Only sees no names.
        for (show, staff) in [(true, SALES), (false, "Staff 1")] {
            let people = pebble::dashboard::People::load(&rig.state.db, show)
                .await
                .unwrap();
            let s = pebble::dashboard::sales_ops(
                &rig.state.db,
                &people,
                rig.clock.now(),
                chrono::FixedOffset::east_opt(19_800).unwrap(),
            )
            .await
            .unwrap();
            assert_eq!(
                (s.response.replies, s.response.p50_secs, s.response.p95_secs),
                (1, Some(3600), Some(3600))
            );
            assert_eq!(s.response.by_staff[0].staff, staff);
            assert_eq!(s.response.by_staff[0].p95_secs, 3600);
        }
        let metrics = rig.state.metrics.render(&rig.state.db);
        assert!(
            metrics.contains("pebble_response_time_seconds_count 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains(r#"pebble_emails_sent_total{outcome="sent"} 1"#),
            "{metrics}"
        );
    }
);

story!(
    a_refused_recipient_is_dead_lettered_at_once_and_an_operator_can_requeue_it,
    |b: Backend| async move {
        let Some(mut sink) = SmtpSink::start(&["--refuse-rcpt", "550 5.1.1 no such user"]) else {
            return;
        };
        let Some(rig) = rig(b, &sink.url(), |_| {}).await else {
            return;
        };
        let (d, row) = rig.approved("e-refused").await;
        let report = rig.state.outbox.run_once().await.unwrap();
        assert_eq!(report.dead, 1, "{report:?}");
        let r = rig.row(&row.id).await;
        assert_eq!((r.status.as_str(), r.attempts), ("dead", 1));
        assert!(r.last_error.as_deref().unwrap().contains("550"), "{r:?}");
        assert_eq!(rig.draft(&d.id).await.status, "failed");
        assert!(sink.received().is_empty());

        sink.restart(&[]);
        let r = rig
            .state
            .outbox
            .requeue(&row.id, "u-ops", false)
            .await
            .unwrap();
        assert_eq!((r.status.as_str(), r.attempts), ("queued", 0));
        assert_eq!(rig.draft(&d.id).await.status, "approved");
        assert_eq!(rig.state.outbox.run_once().await.unwrap().sent, 1);
        assert_eq!(sink.received().len(), 1);
        assert_eq!(rig.draft(&d.id).await.status, "sent");
        let again = rig.state.outbox.requeue(&row.id, "u-ops", true).await;
        assert!(again.is_err(), "a sent reply is never requeued");
    }
);

story!(
    a_deferring_server_is_retried_with_backoff_then_dead_lettered_after_the_last_attempt,
    |b: Backend| async move {
        let Some(sink) = SmtpSink::start(&["--refuse-data", "451 4.3.0 try again later"]) else {
            return;
        };
        let Some(rig) = rig(b, &sink.url(), |_| {}).await else {
            return;
        };
        let (d, row) = rig.approved("e-deferred").await;
        let first = rig.state.outbox.run_once().await.unwrap();
        assert_eq!(first.retried, 1, "{first:?}");
        let r = rig.row(&row.id).await;
        assert_eq!((r.status.as_str(), r.attempts), ("queued", 1));
        let wait = r.next_attempt_at - common::t0().timestamp_micros();
        assert!(
            (60_000_000..=66_000_000).contains(&wait),
            "first retry after 60 s (+10% jitter): {wait} µs"
        );
        assert!(r.last_error.as_deref().unwrap().contains("451"));
        // Not due yet: nothing happens.
        rig.clock.advance(chrono::Duration::seconds(30));
        assert_eq!(
            rig.state.outbox.run_once().await.unwrap(),
            Default::default()
        );

        rig.clock.advance(chrono::Duration::seconds(40));
        assert_eq!(rig.state.outbox.run_once().await.unwrap().retried, 1);
        let r = rig.row(&row.id).await;
        let wait = r.next_attempt_at - rig.clock_now();
        assert!(
            (120_000_000..=132_000_000).contains(&wait),
            "the delay doubles: {wait} µs"
        );

        rig.clock.advance(chrono::Duration::seconds(140));
        assert_eq!(rig.state.outbox.run_once().await.unwrap().dead, 1);
        let r = rig.row(&row.id).await;
        assert_eq!((r.status.as_str(), r.attempts), ("dead", 3));
        assert!(
            r.last_error
                .as_deref()
                .unwrap()
                .contains("gave up after 3 attempts"),
            "{r:?}"
        );
        assert_eq!(rig.draft(&d.id).await.status, "failed");
        assert!(
            sink.received().is_empty(),
            "a refused message was never accepted"
        );
        let metrics = rig.state.metrics.render(&rig.state.db);
        assert!(
            metrics.contains(r#"pebble_emails_sent_total{outcome="retry"} 2"#),
            "{metrics}"
        );
        assert!(
            metrics.contains(r#"pebble_emails_sent_total{outcome="dead"} 1"#),
            "{metrics}"
        );
    }
);

impl Rig {
    fn clock_now(&self) -> i64 {
        use pebble::clock::Clock;
        self.clock.now().timestamp_micros()
    }
}

story!(
    an_unreachable_server_is_retried_until_it_comes_back,
    |b: Backend| async move {
        let Some(mut sink) = SmtpSink::start(&[]) else {
            return;
        };
        sink.stop();
        let Some(rig) = rig(b, &sink.url(), |_| {}).await else {
            return;
        };
        let (_, row) = rig.approved("e-down").await;
        assert_eq!(rig.state.outbox.run_once().await.unwrap().retried, 1);
        assert_eq!(rig.row(&row.id).await.status, "queued");
        sink.restart(&[]);
        rig.clock.advance(chrono::Duration::minutes(2));
        assert_eq!(rig.state.outbox.run_once().await.unwrap().sent, 1);
        assert_eq!(sink.received().len(), 1);
        assert_eq!(rig.row(&row.id).await.attempts, 2);
    }
);

story!(
    a_slow_server_within_the_deadline_still_delivers,
    |b: Backend| async move {
        let Some(sink) = SmtpSink::start(&["--delay-data", "1"]) else {
            return;
        };
        let Some(rig) = rig(b, &sink.url(), |s| s.smtp_timeout_secs = 5).await else {
            return;
        };
        let (_, row) = rig.approved("e-slow").await;
        assert_eq!(rig.state.outbox.run_once().await.unwrap().sent, 1);
        assert_eq!(rig.row(&row.id).await.status, "sent");
        assert_eq!(sink.received().len(), 1);
    }
);

story!(
    a_server_silent_before_the_message_is_retried_and_one_silent_after_it_is_never_resent,
    |b: Backend| async move {
        // Stalls in RCPT, before any message: safe to send again.
        let Some(sink) = SmtpSink::start(&["--delay-rcpt", "5", "--once"]) else {
            return;
        };
        let Some(first) = rig(b, &sink.url(), |s| s.smtp_timeout_secs = 1).await else {
            return;
        };
        let (_, row) = first.approved("e-stall-rcpt").await;
        let report = first.state.outbox.run_once().await.unwrap();
        assert_eq!(report.retried, 1, "{report:?}");
        assert!(first
            .row(&row.id)
            .await
            .last_error
            .unwrap()
            .contains("not handed over"));
        first.clock.advance(chrono::Duration::minutes(2));
        assert_eq!(first.state.outbox.run_once().await.unwrap().sent, 1);
        assert_eq!(sink.received().len(), 1);

        // Takes the message, then never answers its dot: unknown, not resent.
        let Some(sink) = SmtpSink::start(&["--delay-data", "5", "--once"]) else {
            return;
        };
        let Some(rig) = rig(b, &sink.url(), |s| s.smtp_timeout_secs = 1).await else {
            return;
        };
        let (d, row) = rig.approved("e-stall-dot").await;
        let report = rig.state.outbox.run_once().await.unwrap();
        assert_eq!(report.unknown, 1, "{report:?}");
        let r = rig.row(&row.id).await;
        assert_eq!(r.status, "unknown");
        assert!(r
            .last_error
            .unwrap()
            .contains("after the message was handed over"));
        assert_eq!(sink.received().len(), 1, "the server has it");
        rig.clock.advance(chrono::Duration::days(1));
        assert_eq!(
            rig.state.outbox.run_once().await.unwrap(),
            Default::default()
        );
        assert_eq!(sink.received().len(), 1, "and only once");
        assert_eq!(rig.draft(&d.id).await.status, "approved");
        // A person settles it: requeueing demands accepting a duplicate; confirming records it.
        assert!(rig
            .state
            .outbox
            .requeue(&row.id, "u-ops", false)
            .await
            .is_err());
        let r = rig
            .state
            .outbox
            .confirm_sent(&row.id, "u-ops")
            .await
            .unwrap();
        assert_eq!(r.status, "sent");
        assert_eq!(rig.draft(&d.id).await.status, "sent");
        let sent = rig.events("EmailSent").await;
        assert_eq!(sent[0].1["confirmed_by"], "u-ops");
        assert_eq!(sent[0].0.actor_id, "u-ops");
    }
);

story!(
    credentials_from_the_settings_log_in_and_wrong_ones_are_dead_lettered,
    |b: Backend| async move {
        let Some(sink) = SmtpSink::start(&["--auth", "pebble:s3cret-pass"]) else {
            return;
        };
        let Some(rig) = rig(b, &sink.url(), |s| {
            s.smtp_username = Some("pebble".into());
            s.smtp_password = Some("s3cret-pass".into());
        })
        .await
        else {
            return;
        };
        rig.approved("e-auth").await;
        assert_eq!(rig.state.outbox.run_once().await.unwrap().sent, 1);
        assert_eq!(sink.received().len(), 1);

        let Some(rig) = rig_with_password(b, &sink.url(), "wrong").await else {
            return;
        };
        let (_, row) = rig.approved("e-auth-bad").await;
        let report = rig.state.outbox.run_once().await.unwrap();
        let r = rig.row(&row.id).await;
        assert_eq!(report.dead, 1, "{report:?} {r:?}");
        assert!(r.last_error.unwrap().contains("535"));
        assert_eq!(sink.received().len(), 1);
        // And none is ever sent in the clear to a remote server.
        let mut s = rig.settings.clone();
        s.smtp_url = "smtp://mail.example.in:25".into();
        assert!(pebble::startup::services(&s, Arc::new(SystemClock))
            .await
            .is_err());
    }
);

async fn rig_with_password(b: Backend, url: &str, password: &str) -> Option<Rig> {
    rig(b, url, |s| {
        s.smtp_username = Some("pebble".into());
        s.smtp_password = Some(password.into());
    })
    .await
}

story!(
    approving_through_the_api_sends_the_reply_through_the_running_worker,
    |b: Backend| async move {
        let Some(sink) = SmtpSink::start(&["--refuse-rcpt", "550 5.1.1 no such user", "--once"])
        else {
            return;
        };
        let url = sink.url();
        let Some((app, _sim)) = drafting::app(b, |s| {
            s.smtp_url = url;
            s.outbox_poll_ms = 100;
            s.smtp_timeout_secs = 5;
        })
        .await
        else {
            return;
        };
        let inp = input(
            Intent::ProductInquiry,
            email(
                "api-1",
                "ramesh@iyer-electricals.in",
                Some("Ramesh"),
                "rate",
                "32A DP MCB 5 nos",
            ),
        );
        let d = app
            .state
            .drafts
            .generate(&inp, None)
            .await
            .unwrap()
            .unwrap();
        let sales = app.token(Role::Sales).await;
        let (s, body) = app
            .post_json(
                &sales,
                &format!("/api/v1/drafts/{}/approve", d.id),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        // The worker is woken by the approval; the first transaction is refused.
        let outbox = wait_for(&app, |o| o["status"] == "dead").await;
        let id = outbox["id"].as_str().unwrap().to_owned();
        for role in [Role::Sales, Role::ReadOnly] {
            let t = app.token(role).await;
            let (s, _) = app
                .post_json(&t, &format!("/api/v1/outbox/{id}/requeue"), json!({}))
                .await;
            assert_eq!(s, 403, "{role:?}");
        }
        let ops = app.token(Role::Ops).await;
        let (s, body) = app
            .post_json(&ops, &format!("/api/v1/outbox/{id}/requeue"), json!({}))
            .await;
        assert_eq!(s, 200, "{body}");
        wait_for(&app, |o| o["status"] == "sent").await;
        assert_eq!(sink.received().len(), 1);
        let (_, d) = app.get_json(&format!("/api/v1/drafts/{}", d.id)).await;
        assert_eq!(d["status"], "sent");
        assert_eq!(d["outbox"]["status"], "sent");
        let (s, body) = app
            .post_json(
                &ops,
                &format!("/api/v1/outbox/{id}/confirm-sent"),
                json!({}),
            )
            .await;
        assert_eq!(s, 409, "{body}");
        let (s, _) = app.get_json("/api/v1/outbox?status=nonsense").await;
        assert_eq!(s, 400);
    }
);

async fn wait_for(app: &common::TestApp, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let (_, page) = app.get_json("/api/v1/outbox").await;
        if let Some(o) = page["items"].as_array().and_then(|i| i.first()) {
            if ready(o) {
                return o.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbox never got there");
}

// ------------------------------------------------------------ crashes

const CHILD_DB: &str = "PEBBLE_OUTBOX_CHILD_DB";
const CHILD_DIR: &str = "PEBBLE_OUTBOX_CHILD_DIR";
const CHILD_SMTP: &str = "PEBBLE_OUTBOX_CHILD_SMTP";

/// The child: one outbox pass on the real clock, until killed.
fn send_until_killed(db: &str, dir: &str, smtp: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut s = Settings {
            data_dir: dir.into(),
            database_url: Some(db.to_owned().into()),
            ..Settings::default()
        };
        outbox_settings(&mut s, smtp);
        s.smtp_timeout_secs = 60;
        let state = pebble::startup::services(&s, Arc::new(SystemClock))
            .await
            .unwrap();
        println!("started");
        state.outbox.run_once().await.unwrap();
        println!("finished");
    });
}

/// Approve a reply, let a child process send it, kill the child with
/// SIGKILL once `killed_when` holds, then recover in this process on a
/// clock past the child's lease. Returns the rig and the outbox row after
/// one recovery pass.
async fn kill_mid_send(
    backend: Backend,
    sink: &SmtpSink,
    killed_when: impl Fn(&SmtpSink, &OutboxRow) -> bool,
) -> Option<(Rig, OutboxRow)> {
    let rig = rig(backend, &sink.url(), |_| {}).await?;
    // The child runs on the real clock: queue the reply for now.
    rig.clock.set(Utc::now());
    let (_, row) = rig.approved("e-crash").await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_process_killed_while_sending_never_sends_twice",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &rig.db.url)
        .env(CHILD_DIR, rig.db.data_dir())
        .env(CHILD_SMTP, sink.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // libtest prints the test's name on the same line first.
    assert!(lines.any(|l| l.unwrap().ends_with("started")));
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let current = rig.row(&row.id).await;
        if killed_when(sink, &current) {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "the child never got there: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL: nothing recorded after this
    child.wait().unwrap();
    // Past the dead child's lease (its deadline plus the margin).
    rig.clock
        .set(Utc::now() + chrono::Duration::seconds(60 + 31));
    rig.state.outbox.run_once().await.unwrap();
    let after = rig.row(&row.id).await;
    Some((rig, after))
}

#[test]
fn a_process_killed_while_sending_never_sends_twice() {
    if let (Ok(db), Ok(dir), Ok(smtp)) = (
        std::env::var(CHILD_DB),
        std::env::var(CHILD_DIR),
        std::env::var(CHILD_SMTP),
    ) {
        send_until_killed(&db, &dir, &smtp);
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            // Killed after the server took the message, before its answer was recorded.
            let Some(sink) = SmtpSink::start(&["--delay-data", "30", "--once"]) else {
                return;
            };
            let Some((rig, row)) = kill_mid_send(backend, &sink, |sink, row| {
                row.status == "committing" && sink.received().len() == 1
            })
            .await
            else {
                continue;
            };
            assert_eq!(row.status, "unknown", "{row:?}");
            rig.clock.advance(chrono::Duration::days(1));
            rig.state.outbox.run_once().await.unwrap();
            assert_eq!(rig.row(&row.id).await.status, "unknown");
            assert_eq!(sink.received().len(), 1, "{backend:?}: sent exactly once");

            // Killed in RCPT, before the message: recovered and sent, once.
            let Some(sink) = SmtpSink::start(&["--delay-rcpt", "30", "--once"]) else {
                return;
            };
            let Some((rig, row)) = kill_mid_send(backend, &sink, |sink, row| {
                row.status == "attempting" && sink.saw_rcpt(1)
            })
            .await
            else {
                continue;
            };
            assert_eq!(row.status, "sent", "{backend:?}: {row:?}");
            assert_eq!(row.attempts, 2);
            assert_eq!(sink.received().len(), 1, "{backend:?}: sent exactly once");
            assert_eq!(rig.draft(&row.draft_id).await.status, "sent");
        }
    });
}

// ------------------------------------------------------------ end to end

story!(
    a_posted_email_is_drafted_by_the_pipeline_approved_and_arrives_threaded_at_the_smtp_server,
    |b: Backend| async move {
        let Some(sink) = SmtpSink::start(&[]) else {
            return;
        };
        let url = sink.url();
        let Some((app, _sim)) = drafting::app(b, |s| {
            s.smtp_url = url;
            s.outbox_poll_ms = 100;
            s.smtp_timeout_secs = 5;
            // The test runs the pipeline itself, step by step.
            s.pipeline_workers = 0;
        })
        .await
        else {
            return;
        };
        let raw = "Message-ID: <inq-77@iyer-electricals.in>\r\n\
                   From: Ramesh Iyer <ramesh@iyer-electricals.in>\r\n\
                   To: sales@demo-electricals.in\r\n\
                   Subject: Rate required for wires and MCB\r\n\
                   Date: Thu, 15 Jan 2026 14:00:00 +0530\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\r\n\
                   Dear sir,\r\nPlease send your best rate and stock for\r\n\
                   2.5 sq mm FR wire 10 coil\r\n32A DP MCB 25 nos\r\n\
                   Regards,\r\nRamesh Iyer\r\n";
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
        let received: Value = r.json().await.unwrap();
        let email_id = received["id"].as_str().unwrap().to_owned();

        let ran = app.state.pipeline.drain(20).await.unwrap();
        let steps: Vec<(&str, &str)> = ran.iter().map(|r| (r.step.as_str(), r.outcome)).collect();
        assert_eq!(
            steps,
            vec![
                ("classify", "ok"),
                ("extract", "ok"),
                ("link", "ok"),
                ("enrich", "ok"),
                ("draft", "ok")
            ]
        );
        let (_, page) = app
            .get_json(&format!("/api/v1/drafts?email={email_id}"))
            .await;
        let drafts = page["items"].as_array().unwrap();
        assert_eq!(drafts.len(), 1, "{page}");
        let d = &drafts[0];
        assert_eq!(
            (d["intent"].as_str(), d["status"].as_str()),
            (Some("product_inquiry"), Some("pending"))
        );
        let text = d["text"].as_str().unwrap();
        assert!(text.starts_with("Dear Ramesh Iyer,"), "{text}");
        // Stock asked of Tally live by the enrich step: no "as of".
        assert!(text.contains("86 Coil in stock "), "{text}");
        assert!(!text.contains("as of"), "{text}");
        assert!(text.contains("₹560.00 per Nos"), "{text}");
        // The step is idempotent: run again, still one draft.
        let again = app.state.pipeline.drain(20).await.unwrap();
        assert!(again.is_empty());

        let sales = app.token(Role::Sales).await;
        let edited = text.replace(
            "Please confirm the quantities",
            "Kindly confirm the quantities",
        );
        let (s, body) = app
            .post_json(
                &sales,
                &format!("/api/v1/drafts/{}/approve", d["id"].as_str().unwrap()),
                json!({"text": edited}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        let sent = wait_for(&app, |o| o["status"] == "sent").await;
        let got = sink.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].rcpt_tos, vec!["ramesh@iyer-electricals.in"]);
        let m = pebble::mail::parse(got[0].raw.as_bytes(), &Default::default()).unwrap();
        assert_eq!(m.message_id.as_deref(), sent["message_id"].as_str());
        assert_eq!(m.in_reply_to.as_deref(), Some("inq-77@iyer-electricals.in"));
        assert_eq!(m.references, vec!["inq-77@iyer-electricals.in"]);
        assert_eq!(m.subject, "Re: Rate required for wires and MCB");
        assert!(
            m.body.contains("Kindly confirm the quantities"),
            "{}",
            m.body
        );
        let (_, events) = app.get_json("/api/v1/activity?event_type=EmailSent").await;
        assert_eq!(
            events["items"][0]["payload"]["message_id"],
            sent["message_id"]
        );
    }
);
