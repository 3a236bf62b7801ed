//! Ingestion through the public API and the CLI, on both backends: raw
//! first, dedup, conflicts, threads, linking, quarantine and retry, imports
//! that survive being killed, and the durable pipeline.

mod common;

use std::process::{Command, Output};
use std::sync::Arc;

use common::{spawn_app_with, spawn_on, Backend, TestApp, TestDb};
use pebble::clock::ManualClock;
use pebble::pipeline::{StepDone, StepHandler};
use pebble_core::access::Role;
use serde_json::Value;

async fn post_raw(app: &TestApp, token: &str, stream: &str, raw: &[u8]) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/emails?stream={stream}")))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn mail(id: &str, from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{id}>\r\nFrom: {from}\r\nTo: sales@pebble.test\r\nSubject: {subject}\r\nDate: Tue, 2 Apr 2024 10:00:00 +0530\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn reply(id: &str, parent: &str, from: &str, subject: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{id}>\r\nIn-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\nFrom: {from}\r\nSubject: {subject}\r\n\r\nsee below\r\n"
    )
    .into_bytes()
}

async fn email(app: &TestApp, id: &Value) -> Value {
    let (status, e) = app
        .get_json(&format!("/api/v1/emails/{}", id.as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    e
}

/// The test app without background pipeline workers, so tests drain the
/// queue themselves.
async fn app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |s| s.pipeline_workers = 0).await
}

story!(
    a_message_is_stored_once_threaded_and_linked,
    |backend| async move {
        let Some(app) = app(backend).await else {
            return;
        };
        let ops = app.token(Role::Ops).await;
        let first = mail(
            "q1@acme.co.in",
            "Ravi <ravi@acme.co.in>",
            "Rate for MCB",
            "32A DP MCB 10 nos",
        );
        let (status, a) = post_raw(&app, &ops, "sales", &first).await;
        assert_eq!(status, 201, "{a}");
        assert_eq!(a["outcome"], "stored");
        let (status, again) = post_raw(&app, &ops, "sales", &first).await;
        assert_eq!(
            (status, &again["outcome"]),
            (200, &Value::from("duplicate"))
        );
        assert_eq!(
            again["id"], a["id"],
            "a duplicate names the email it duplicates"
        );
        // The same message over IMAP arrives with other line endings: still the same.
        let lf: Vec<u8> = first.iter().copied().filter(|b| *b != b'\r').collect();
        assert_eq!(
            post_raw(&app, &ops, "sales", &lf).await.1["outcome"],
            "duplicate"
        );

        let other = mail(
            "q1@acme.co.in",
            "Ravi <ravi@acme.co.in>",
            "Rate for MCB",
            "changed body",
        );
        let (status, c) = post_raw(&app, &ops, "sales", &other).await;
        assert_eq!(status, 201);
        assert_eq!(
            c["conflict"], true,
            "same Message-ID, other content: kept and flagged"
        );

        let r = reply(
            "q2@acme.co.in",
            "q1@acme.co.in",
            "Anita <anita@acme.co.in>",
            "Re: Rate for MCB",
        );
        let (_, r) = post_raw(&app, &ops, "sales", &r).await;
        let unrelated = reply(
            "x9@spam.example",
            "q1@acme.co.in",
            "promo@spam.example",
            "Cheap loans",
        );
        let (_, u) = post_raw(&app, &ops, "sales", &unrelated).await;
        let free = mail(
            "g1@gmail.com",
            "Kiran <kiran@gmail.com>",
            "Need wire",
            "2.5 sq mm 10 coil",
        );
        let (_, g) = post_raw(&app, &ops, "sales", &free).await;
        let free2 = mail(
            "g2@gmail.com",
            "Meena <meena@gmail.com>",
            "Need pipe",
            "1 inch",
        );
        let (_, g2) = post_raw(&app, &ops, "sales", &free2).await;

        let a = email(&app, &a["id"]).await;
        let r = email(&app, &r["id"]).await;
        let u = email(&app, &u["id"]).await;
        let g = email(&app, &g["id"]).await;
        let g2 = email(&app, &g2["id"]).await;
        assert_eq!(a["from"], "ravi@acme.co.in");
        assert_eq!(a["text"].as_str().unwrap().trim(), "32A DP MCB 10 nos");
        assert_eq!(
            r["thread_id"], a["thread_id"],
            "a reply from a colleague joins the thread"
        );
        assert_ne!(
            u["thread_id"], a["thread_id"],
            "other sender and subject: not glued on"
        );
        assert!(a["company_id"].is_string());
        assert_eq!(
            r["company_id"], a["company_id"],
            "one company per business domain"
        );
        assert!(g["contact_id"].is_string());
        assert!(
            g["company_id"].is_null() && g2["company_id"].is_null(),
            "free mail is never a company"
        );
        assert_ne!(g["contact_id"], g2["contact_id"]);

        let (_, page) = app.get_json("/api/v1/emails?stream=sales&limit=2").await;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let next = page["next_before"].as_str().unwrap();
        let (_, rest) = app
            .get_json(&format!("/api/v1/emails?stream=sales&before={next}"))
            .await;
        assert_eq!(
            rest["items"].as_array().unwrap().len(),
            4,
            "6 emails in all, no repeats"
        );

        let (_, events) = app
            .get_json("/api/v1/activity?event_type=EmailReceived&limit=50")
            .await;
        let events = events["items"].as_array().unwrap();
        assert_eq!(
            events.len(),
            6,
            "one EmailReceived per email, none for duplicates"
        );
        assert!(events
            .iter()
            .any(|e| e["payload"]["message_id"] == "q1@acme.co.in"
                && e["payload"]["stream"] == "sales"
                && e["payload"]["from"] == "ravi@acme.co.in"
                && e["payload"]["subject"] == "Rate for MCB"));

        let (status, _) = post_raw(&app, &ops, "nonsense", &first).await;
        assert_eq!(status, 400, "unknown streams are refused");
        let sales = app.token(Role::Sales).await;
        assert_eq!(post_raw(&app, &sales, "sales", &first).await.0, 403);
        let raw = app
            .get_with(
                &sales,
                &format!("/api/v1/emails/{}/raw", a["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(
            raw.bytes().await.unwrap().as_ref(),
            first.as_slice(),
            "raw bytes kept exactly"
        );
        let metrics = reqwest::get(format!("http://{}/metrics", app.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("pebble_emails_ingested_total{stream=\"sales\"} 6"),
            "{metrics}"
        );
        assert!(metrics.contains("pebble_emails_duplicate_total{stream=\"sales\"} 2"));
        app.shutdown().await;
    }
);

story!(
    bad_input_is_quarantined_with_its_reason_and_nothing_is_lost,
    |backend| async move {
        let Some(app) = spawn_app_with(backend, |s| {
            s.pipeline_workers = 0;
            s.max_body_bytes = 40 * 1024 * 1024;
            s.ingest_max_message_bytes = 1024 * 1024;
        })
        .await
        else {
            return;
        };
        let ops = app.token(Role::Ops).await;
        let mut headers = String::new();
        for i in 0..10_000 {
            headers.push_str(&format!("X-Filler-{i}: v\r\n"));
        }
        let big_attachment = format!(
        "From: a@big.in\r\nSubject: drawings\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=big.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--B--\r\n",
        "QUFBQUFBQUFBQUFB\r\n".repeat(30 * 1024 * 1024 / 18)
    );
        let quarantined: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            (
                "too_many_headers",
                format!("From: a@b.in\r\n{headers}\r\nbody").into_bytes(),
            ),
            ("too_large", big_attachment.into_bytes()),
            (
                "no_headers",
                b"\x00\x01\x02 just binary junk \xff\xfe".to_vec(),
            ),
        ];
        let mut ids = Vec::new();
        for (reason, raw) in &quarantined {
            let (status, r) = post_raw(&app, &ops, "support", raw).await;
            assert_eq!(status, 202, "{reason}: {r}");
            assert_eq!(r["outcome"], "quarantined");
            assert_eq!(r["reason"], *reason);
            ids.push(r["id"].as_str().unwrap().to_owned());
        }
        // Hostile but readable: taken, with the damage contained.
        let readable: Vec<Vec<u8>> = vec![
        b"From: a@b.in\r\nSubject: cut\r\nContent-Type: multipart/mixed; boundary=ZZ\r\n\r\n--ZZ\r\nContent-Type: text/plain\r\n\r\ntruncated in the mid".to_vec(),
        b"From: a@b.in\r\nSubject: no boundary\r\nContent-Type: multipart/mixed\r\n\r\nbody without parts\r\n".to_vec(),
        "From: Rāj <raj@b.in>\r\nSubject: दर सूची chahiye\r\n\r\n8-bit headers\r\n".as_bytes().to_vec(),
        b"From: a@b.in\r\nSubject: charset\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nunknown charset\r\n".to_vec(),
        b"From: a@b.in\r\nSubject: nul\0here\r\n\r\nbody with \0 nul\r\n".to_vec(),
        b"From: a@b.in\r\nSubject: passwd\r\nContent-Type: multipart/mixed; boundary=P\r\n\r\n--P\r\nContent-Type: text/plain\r\n\r\nhi\r\n--P\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\r\n\r\nroot:x:0:0\r\n--P--\r\n".to_vec(),
    ];
        for raw in &readable {
            let (status, r) = post_raw(&app, &ops, "support", raw).await;
            assert_eq!(
                status,
                201,
                "{r} for {}",
                String::from_utf8_lossy(&raw[..40])
            );
        }
        let (_, list) = app.get_json("/api/v1/emails?stream=support").await;
        let passwd = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"] == "passwd")
            .unwrap();
        let (_, detail) = app
            .get_json(&format!(
                "/api/v1/emails/{}",
                passwd["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(detail["attachments"][0]["filename"], "passwd");
        let download = app
            .get(&format!(
                "/api/v1/emails/{}/attachments/0",
                passwd["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            download.headers()["content-disposition"],
            "attachment; filename=\"passwd\""
        );
        assert_eq!(download.bytes().await.unwrap().as_ref(), b"root:x:0:0");
        assert!(!app.db.data_dir().join("etc").exists());

        let (_, q) = app.get_json("/api/v1/quarantine").await;
        let q = q["items"].as_array().unwrap();
        assert_eq!(q.len(), 4);
        assert!(q
            .iter()
            .all(|e| e["quarantine_detail"].as_str().unwrap().len() > 5));
        let big = q
            .iter()
            .find(|e| e["quarantine_reason"] == "too_large")
            .unwrap();
        let raw = app
            .get(&format!(
                "/api/v1/emails/{}/raw",
                big["id"].as_str().unwrap()
            ))
            .await;
        assert!(
            raw.bytes().await.unwrap().len() > 30 * 1024 * 1024,
            "the raw message is kept"
        );

        // Retried under the same limits it stays; under raised limits it is released.
        let (status, same) = app
            .post_json(
                &ops,
                &format!("/api/v1/quarantine/{}/retry", ids[1]),
                Value::Null,
            )
            .await;
        assert_eq!(
            (status, &same["outcome"]),
            (200, &Value::from("quarantined"))
        );
        let mut settings = app.db.settings();
        settings.pipeline_workers = 0;
        settings.ingest_max_headers = 20_000;
        let db = TestDb::reuse(&app.db);
        let second = spawn_on(db, settings, Arc::new(ManualClock::new(common::t0())))
            .await
            .unwrap();
        let ops2 = second.token(Role::Ops).await;
        let (status, released) = second
            .post_json(
                &ops2,
                &format!("/api/v1/quarantine/{}/retry", ids[1]),
                Value::Null,
            )
            .await;
        assert_eq!(
            (status, &released["outcome"]),
            (200, &Value::from("stored")),
            "{released}"
        );
        let (_, jobs) = second
            .get_json(&format!("/api/v1/pipeline/jobs?email_id={}", ids[1]))
            .await;
        assert_eq!(
            jobs[0]["step"], "classify",
            "a released email enters the pipeline"
        );
        second.shutdown().await;
        app.shutdown().await;
    }
);

fn pebble(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pebble"))
        .args(args)
        .env_clear()
        .env("PEBBLE_DATA_DIR", db.data_dir())
        .env("PEBBLE_DATABASE_URL", &db.url)
        .output()
        .expect("run pebble")
}

fn mbox_of(n: usize, tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(b"From sender@example.in Tue Apr  2 10:00:00 2024\n");
        out.extend_from_slice(
            format!("Message-ID: <{tag}-{i}@example.in>\nFrom: buyer{i}@shop{}.in\nSubject: order {i}\n\n>From the desk: 5 nos MCB\n\n", i % 7)
                .as_bytes(),
        );
    }
    out
}

story!(
    imports_report_a_summary_and_never_double_a_message,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let dir = db.data_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let mbox = dir.join("sales.mbox");
        std::fs::write(&mbox, mbox_of(450, "imp")).unwrap();
        let mbox = mbox.to_str().unwrap();
        let o = pebble(
            &db,
            &["import", "mbox", mbox, "--stream", "sales", "--json"],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary["imported"], 450);
        assert_eq!(summary["duplicates"], 0);
        let o = pebble(
            &db,
            &["import", "mbox", mbox, "--stream", "sales", "--json"],
        );
        let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            (summary["imported"].as_u64(), summary["duplicates"].as_u64()),
            (Some(0), Some(450))
        );

        let maildir = dir.join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        std::fs::write(
            maildir.join("new/1.host"),
            mail("md1@x.in", "a@x.in", "one", "1"),
        )
        .unwrap();
        std::fs::write(
            maildir.join("cur/2.host:2,S"),
            mail("md2@x.in", "a@x.in", "two", "2"),
        )
        .unwrap();
        std::fs::write(
            maildir.join("tmp/3.host"),
            mail("md3@x.in", "a@x.in", "partial", "3"),
        )
        .unwrap();
        let o = pebble(
            &db,
            &[
                "import",
                "maildir",
                maildir.to_str().unwrap(),
                "--stream",
                "support",
                "--json",
            ],
        );
        let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary["imported"], 2, "tmp/ holds deliveries in progress");

        let eml = dir.join("one.eml");
        std::fs::write(&eml, b"").unwrap();
        let o = pebble(
            &db,
            &[
                "import",
                "eml",
                eml.to_str().unwrap(),
                "--stream",
                "accounts",
            ],
        );
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("1 quarantined"));

        let o = pebble(
            &db,
            &["import", "mbox", "/no/such/file", "--stream", "sales"],
        );
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/file"));
        let o = pebble(&db, &["import", "mbox", mbox, "--stream", "nope"]);
        assert!(String::from_utf8_lossy(&o.stderr).contains("unknown stream"));
    }
);

story!(
    an_import_killed_midway_then_run_again_holds_each_message_once,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let dir = db.data_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let mbox = dir.join("big.mbox");
        let n = 6000;
        std::fs::write(&mbox, mbox_of(n, "kill")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pebble"))
            .args([
                "import",
                "mbox",
                mbox.to_str().unwrap(),
                "--stream",
                "sales",
            ])
            .env_clear()
            .env("PEBBLE_DATA_DIR", &dir)
            .env("PEBBLE_DATABASE_URL", &db.url)
            .spawn()
            .unwrap();
        let conn = db.connect().await;
        // Kill once some batches are in and before the end.
        let mut stored = 0;
        for _ in 0..600 {
            // Before the child's migrations there is no table yet.
            stored = pebble::store::emails::count(&conn).await.unwrap_or(0);
            if stored >= 400 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let at_kill = pebble::store::emails::count(&conn).await.unwrap();
        assert!(
            at_kill >= 400 && at_kill < n as i64,
            "killed midway: {stored} → {at_kill}"
        );
        assert_eq!(
            at_kill % pebble::ingest::import::BATCH as i64,
            0,
            "only whole batches commit"
        );

        let o = pebble(
            &db,
            &[
                "import",
                "mbox",
                mbox.to_str().unwrap(),
                "--stream",
                "sales",
                "--json",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary["duplicates"].as_i64().unwrap(), at_kill);
        assert_eq!(summary["imported"].as_i64().unwrap(), n as i64 - at_kill);
        assert_eq!(pebble::store::emails::count(&conn).await.unwrap(), n as i64);
        let o = pebble(&db, &["audit", "verify"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        conn.close().await;
    }
);

/// A step that fails its first `failures` runs, counting every run.
struct Flaky {
    failures: usize,
    runs: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl StepHandler for Flaky {
    async fn run(&self, _email_id: &str) -> anyhow::Result<StepDone> {
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        anyhow::ensure!(n >= self.failures, "Tally did not answer (run {n})");
        Ok(StepDone { note: None })
    }
}

story!(
    the_pipeline_retries_with_backoff_dead_letters_and_resumes,
    |backend| async move {
        let Some(app) = app(backend).await else {
            return;
        };
        let ops = app.token(Role::Ops).await;
        let (_, r) = post_raw(&app, &ops, "sales", &mail("p1@x.in", "a@x.in", "one", "1")).await;
        let email = r["id"].as_str().unwrap().to_owned();
        let flaky = Arc::new(Flaky {
            failures: 4,
            runs: Default::default(),
        });
        let pipeline = pebble::pipeline::Pipeline::new(
            app.state.db.clone(),
            app.clock.clone(),
            app.state.metrics.clone(),
            pebble::pipeline::Policy {
                max_attempts: 3,
                retry_base: std::time::Duration::from_secs(10),
                lease: std::time::Duration::from_secs(60),
            },
        )
        .with_handler("extract", flaky.clone());

        let ran = pipeline.run_once().await.unwrap().unwrap();
        assert_eq!((ran.step.as_str(), ran.outcome), ("classify", "ok"));
        let ran = pipeline.run_once().await.unwrap().unwrap();
        assert_eq!((ran.step.as_str(), ran.outcome), ("extract", "retry"));
        assert!(
            pipeline.run_once().await.unwrap().is_none(),
            "backing off: nothing due"
        );
        app.clock.advance(chrono::Duration::seconds(10));
        assert_eq!(pipeline.run_once().await.unwrap().unwrap().outcome, "retry");
        app.clock.advance(chrono::Duration::seconds(15));
        assert!(
            pipeline.run_once().await.unwrap().is_none(),
            "the second wait is twice the first"
        );
        app.clock.advance(chrono::Duration::seconds(5));
        let ran = pipeline.run_once().await.unwrap().unwrap();
        assert_eq!(ran.outcome, "dead");
        assert!(ran.error.unwrap().contains("Tally did not answer"));
        let (_, dead) = app.get_json("/api/v1/pipeline/jobs?state=dead").await;
        let job = dead[0]["id"].as_i64().unwrap();
        assert_eq!(dead[0]["attempts"], 3);
        let (status, _) = app
            .post_json(
                &ops,
                &format!("/api/v1/pipeline/jobs/{job}/retry"),
                Value::Null,
            )
            .await;
        assert_eq!(status, 204);
        let ran = pipeline.drain(10).await.unwrap();
        let steps: Vec<(&str, &str)> = ran.iter().map(|r| (r.step.as_str(), r.outcome)).collect();
        assert_eq!(
            steps,
            [("extract", "retry")],
            "fourth failure, then waits again"
        );
        app.clock.advance(chrono::Duration::seconds(10));
        let ran = pipeline.drain(10).await.unwrap();
        let steps: Vec<&str> = ran.iter().map(|r| r.step.as_str()).collect();
        assert_eq!(steps, ["extract", "link", "enrich", "draft"]);
        assert_eq!(flaky.runs.load(std::sync::atomic::Ordering::SeqCst), 5);
        let (_, jobs) = app
            .get_json(&format!("/api/v1/pipeline/jobs?email_id={email}"))
            .await;
        assert!(jobs
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["state"] == "done"));
        assert_eq!(jobs.as_array().unwrap().len(), 5);

        // A worker that died holding a job loses it when the lease runs out.
        let (_, r2) = post_raw(&app, &ops, "sales", &mail("p2@x.in", "a@x.in", "two", "2")).await;
        let dies = pebble::pipeline::Pipeline::new(
            app.state.db.clone(),
            app.clock.clone(),
            app.state.metrics.clone(),
            pebble::pipeline::Policy {
                max_attempts: 3,
                retry_base: std::time::Duration::from_secs(10),
                lease: std::time::Duration::from_secs(60),
            },
        );
        let now = pebble::clock::Clock::now(app.clock.as_ref()).timestamp_micros();
        let taken =
            pebble::store::jobs::claim(&app.state.db, dies.worker_id(), now, now + 60_000_000)
                .await
                .unwrap()
                .unwrap();
        assert_eq!(taken.email_id, r2["id"].as_str().unwrap());
        assert!(
            pipeline.run_once().await.unwrap().is_none(),
            "held by the other worker"
        );
        app.clock.advance(chrono::Duration::seconds(61));
        assert_eq!(pipeline.run_once().await.unwrap().unwrap().job_id, taken.id);
        app.shutdown().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_processes_share_the_queue_without_double_processing() {
    let Some(first) = spawn_app_with(Backend::Postgres, |s| {
        s.pipeline_workers = 0;
        s.max_body_bytes = 4 * 1024 * 1024;
    })
    .await
    else {
        return;
    };
    let ops = first.token(Role::Ops).await;
    let dir = first.db.data_dir();
    std::fs::write(dir.join("q.mbox"), mbox_of(200, "share")).unwrap();
    let o = pebble(
        &first.db,
        &[
            "import",
            "mbox",
            dir.join("q.mbox").to_str().unwrap(),
            "--stream",
            "sales",
            "--json",
        ],
    );
    assert!(o.status.success());
    drop(ops);
    // Three `pebble pipeline run` processes drain the same queue at once.
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_pebble"))
                .args(["pipeline", "run"])
                .env_clear()
                .env("PEBBLE_DATA_DIR", &dir)
                .env("PEBBLE_DATABASE_URL", &first.db.url)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut runs: Vec<(i64, String)> = Vec::new();
    let mut workers = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let lines: Vec<Value> = out
            .stdout
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        workers += usize::from(!lines.is_empty());
        runs.extend(lines.iter().map(|l| {
            (
                l["job_id"].as_i64().unwrap(),
                l["outcome"].as_str().unwrap().to_owned(),
            )
        }));
    }
    assert_eq!(runs.len(), 200 * 5, "every step of every email ran");
    let mut ids: Vec<i64> = runs.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), runs.len(), "no job ran twice");
    assert!(runs.iter().all(|r| r.1 == "ok"));
    assert!(workers >= 2, "the work was shared");
    first.shutdown().await;
}
