//! The intent-model registry end to end: retraining through the API and the
//! CLI, promotion only when not worse on the held-out split, rollback, the
//! serving model following promotions across instances, and corrections
//! feeding the next training run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pebble_core::access::Role;
use serde_json::{json, Value};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/intents");

fn shipped_version() -> String {
    pebble::intent::default_model().unwrap().meta.version
}

async fn events(app: &common::TestApp, event_type: &str) -> Vec<Value> {
    let (status, page) = app
        .get_json(&format!(
            "/api/v1/activity?event_type={event_type}&order=oldest"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn post(app: &common::TestApp, role: Role, path: &str) -> (u16, Value) {
    let t = app.token(role).await;
    app.post_json(&t, path, json!({})).await
}

story!(
    retraining_registers_a_candidate_that_admin_may_promote,
    |backend| async move {
        let Some(app) =
            common::spawn_app_with(backend, |s| s.intent_corpus_dir = CORPUS.into()).await
        else {
            return;
        };
        let shipped = shipped_version();
        let ro = app.token(Role::ReadOnly).await;
        let r = app.get_with(&ro, "/api/v1/models").await;
        assert_eq!(r.status(), 200);
        let registry: Value = r.json().await.unwrap();
        assert_eq!(registry["serving"]["version"], shipped);
        assert_eq!(registry["serving"]["source"], "shipped");
        assert_eq!(registry["models"], json!([]));

        for role in [Role::Sales, Role::ReadOnly] {
            assert_eq!(post(&app, role, "/api/v1/models/train").await.0, 403);
        }
        let (status, trained) = post(&app, Role::Ops, "/api/v1/models/train").await;
        assert_eq!(status, 201, "{trained}");
        let m = &trained["model"];
        // The corpus alone reproduces the shipped model.
        assert_eq!(m["version"], shipped);
        assert_eq!(m["state"], "candidate");
        assert_eq!(m["serving"], false);
        assert_eq!(m["correction_examples"], 0);
        assert!(m["corpus_examples"].as_i64().unwrap() > 2000);
        assert_eq!(m["training_snapshot"].as_str().unwrap().len(), 64);
        assert!(m["macro_f1"].as_f64().unwrap() > 0.85);
        assert!(m["ece"].as_f64().unwrap() < 0.08);
        let confusion = m["evaluation"]["confusion"].as_array().unwrap();
        assert_eq!(confusion.len(), 8);
        assert_eq!(m["evaluation"]["per_class"].as_array().unwrap().len(), 8);
        let c = &trained["comparison"];
        assert_eq!(c["not_worse"], true);
        assert_eq!(c["candidate"]["macro_f1"], c["serving"]["macro_f1"]);
        assert!(c["held_out"].as_u64().unwrap() > 300);

        // The same data again: the same model, registered once.
        let (status, again) = post(&app, Role::Admin, "/api/v1/models/train").await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["new"], false);

        let version = m["version"].as_str().unwrap();
        let promote = format!("/api/v1/models/{version}/promote");
        for role in [Role::Ops, Role::Sales, Role::ReadOnly] {
            assert_eq!(post(&app, role, &promote).await.0, 403, "{role:?}");
        }
        let (status, promoted) = post(&app, Role::Admin, &promote).await;
        assert_eq!(status, 200, "{promoted}");
        assert_eq!(promoted["serving"]["source"], "registry");
        assert_eq!(promoted["previous_version"], shipped);
        assert_eq!(post(&app, Role::Admin, &promote).await.0, 409);
        assert_eq!(
            post(
                &app,
                Role::Admin,
                "/api/v1/models/intent-000000000000/promote"
            )
            .await
            .0,
            404
        );
        let r = app
            .get_with(&ro, &format!("/api/v1/models/{version}"))
            .await;
        let one: Value = r.json().await.unwrap();
        assert_eq!(one["state"], "promoted");
        assert_eq!(one["serving"], true);
        assert!(one["promoted_at"].is_string());

        let trained = events(&app, "ModelTrained").await;
        assert_eq!(trained.len(), 2);
        assert_eq!(trained[0]["entity_type"], "model");
        assert_eq!(trained[0]["payload"]["model_version"], shipped);
        assert_eq!(trained[0]["payload"]["new"], true);
        assert!(
            trained[0]["payload"]["metrics"]["macro_f1"]
                .as_f64()
                .unwrap()
                > 0.85
        );
        let promoted = events(&app, "ModelPromoted").await;
        assert_eq!(promoted.len(), 1);
        assert_eq!(promoted[0]["actor_kind"], "user");
        assert_eq!(promoted[0]["payload"]["previous_version"], shipped);
        assert_eq!(promoted[0]["payload"]["rollback"], false);
        assert_eq!(promoted[0]["payload"]["metrics"]["not_worse"], true);
        app.shutdown().await;
    }
);

story!(
    corrections_feed_the_next_model_which_serves_every_instance_until_rolled_back,
    |backend| async move {
        let Some(app) = common::spawn_app_with(backend, |s| {
            s.intent_corpus_dir = CORPUS.into();
            // A model trained on one more example may move macro-F1 by a hair.
            s.intent_promotion_tolerance = 0.02;
        })
        .await
        else {
            return;
        };
        let shipped = shipped_version();
        let (_, a) = post(&app, Role::Ops, "/api/v1/models/train").await;
        let a = a["model"]["version"].as_str().unwrap().to_owned();
        assert_eq!(
            post(&app, Role::Admin, &format!("/api/v1/models/{a}/promote"))
                .await
                .0,
            200
        );

        // A person corrects a decision; the next run trains on it.
        let subject = "documents";
        let body = "Hi, please see the attached and let me know.";
        let d = app
            .state
            .intent
            .classify_email("corr-1", subject, body)
            .await
            .unwrap();
        assert_eq!(d.model_version, a);
        let target = if d.intent.as_str() == "purchase_order" {
            "complaint"
        } else {
            "purchase_order"
        };
        let sales = app.token(Role::Sales).await;
        let (status, _) = app
            .post_json(
                &sales,
                "/api/v1/classifications/corr-1/override",
                json!({"intent": target, "justification": "the attachment is our PO 4471"}),
            )
            .await;
        assert_eq!(status, 200);
        let (status, trained) = post(&app, Role::Admin, "/api/v1/models/train").await;
        assert_eq!(status, 201, "{trained}");
        let b = trained["model"]["version"].as_str().unwrap().to_owned();
        assert_ne!(b, a);
        assert_eq!(trained["model"]["correction_examples"], 1);
        let (_, registry) = app.get_json("/api/v1/models").await;
        let snapshots: Vec<&str> = registry["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["training_snapshot"].as_str().unwrap())
            .collect();
        assert_eq!(snapshots.len(), 2);
        assert_ne!(
            snapshots[0], snapshots[1],
            "the snapshot covers the corrections"
        );
        let (status, promoted) =
            post(&app, Role::Admin, &format!("/api/v1/models/{b}/promote")).await;
        assert_eq!(status, 200, "{promoted}");
        assert_eq!(promoted["previous_version"], a);

        // The new model learnt the correction and decides new mail from now on.
        let again = app
            .state
            .intent
            .classify_email("corr-2", subject, body)
            .await
            .unwrap();
        assert_eq!(again.model_version, b);
        assert_eq!(again.intent.as_str(), target);

        // A second instance on the same database picks the promotion up.
        let second = common::TestDb::reuse(&app.db);
        let settings = second.settings();
        let other = common::spawn_on(second, settings, app.clock.clone())
            .await
            .expect("second instance");
        assert_eq!(other.state.intent.serving_info().version, b);

        // Rollback walks the promotions back: b → a → the shipped model.
        assert_eq!(
            post(&app, Role::Ops, "/api/v1/models/rollback").await.0,
            403
        );
        let (status, back) = post(&app, Role::Admin, "/api/v1/models/rollback").await;
        assert_eq!(status, 200, "{back}");
        assert_eq!(back["serving"]["version"], a);
        assert_eq!(back["previous_version"], b);
        assert!(other.state.intent.refresh().await.unwrap());
        assert_eq!(other.state.intent.serving_info().version, a);
        let (status, back) = post(&app, Role::Admin, "/api/v1/models/rollback").await;
        assert_eq!(status, 200);
        assert_eq!(back["serving"]["source"], "shipped");
        assert_eq!(back["serving"]["version"], shipped);
        assert_eq!(
            post(&app, Role::Admin, "/api/v1/models/rollback").await.0,
            409
        );
        let (_, registry) = app.get_json("/api/v1/models").await;
        let states: Vec<(&str, &str)> = registry["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["version"].as_str().unwrap(), m["state"].as_str().unwrap()))
            .collect();
        assert!(
            states.contains(&(a.as_str(), "retired")) && states.contains(&(b.as_str(), "retired"))
        );
        let promotions = events(&app, "ModelPromoted").await;
        let rollbacks: Vec<(&Value, &Value)> = promotions
            .iter()
            .filter(|e| e["payload"]["rollback"] == true)
            .map(|e| {
                (
                    &e["payload"]["model_version"],
                    &e["payload"]["previous_version"],
                )
            })
            .collect();
        assert_eq!(
            rollbacks,
            [(&json!(a), &json!(b)), (&json!(shipped), &json!(a))]
        );
        other.shutdown().await;
        app.shutdown().await;
    }
);

// ---------------------------------------------------------------- the CLI

/// The first `n` examples of each label: a corpus too small to train well.
fn tiny_corpus(dir: &Path, n: usize) -> PathBuf {
    let out = dir.join("tiny");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(CORPUS).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(&path).unwrap();
            let head: Vec<&str> = text.lines().take(n).collect();
            std::fs::write(out.join(path.file_name().unwrap()), head.join("\n")).unwrap();
        }
    }
    out
}

struct Cli {
    db: common::TestDb,
}

impl Cli {
    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_pebble"))
            .args(args)
            .env("PEBBLE_DATA_DIR", self.db.data_dir())
            .env("PEBBLE_DATABASE_URL", &self.db.url)
            .env("PEBBLE_INTENT_CORPUS_DIR", CORPUS)
            .env("PEBBLE_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pebble");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let o = self.run(args, b"");
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = String::from_utf8(o.stdout).unwrap();
        serde_json::from_str(text.lines().last().unwrap()).expect("JSON")
    }
}

story!(
    the_model_commands_work_on_the_registry,
    |backend| async move {
        let Some(db) = common::TestDb::new(backend).await else {
            return;
        };
        let cli = Cli { db };
        let shipped = shipped_version();
        let list = cli.json(&["model", "list", "--json"]);
        assert_eq!(list["serving"]["source"], "shipped");

        // A candidate trained on a sliver of the corpus is worse on the full
        // held-out split, and promotion refuses it.
        let tiny = tiny_corpus(&cli.db.data_dir(), 30);
        let weak = cli.json(&["model", "train", "--data", tiny.to_str().unwrap(), "--json"]);
        let weak_version = weak["model"]["version"].as_str().unwrap().to_owned();
        assert_ne!(weak_version, shipped);
        assert_eq!(weak["model"]["corpus_examples"], 240);
        let o = cli.run(&["model", "promote", &weak_version], b"");
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("not promoted") && err.contains("macro-F1"),
            "{err}"
        );
        let eval = cli.json(&["model", "eval", "--version", &weak_version, "--json"]);
        assert!(eval["macro_f1"].as_f64().unwrap() < 0.85, "{eval}");

        // Train on the whole corpus and promote in one go; list; roll back.
        let o = cli.run(&["model", "train", "--promote"], b"");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(&shipped) && text.contains("not worse"),
            "{text}"
        );
        assert!(text.contains(&format!("promoted {shipped}")), "{text}");
        let o = cli.run(&["model", "list"], b"");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(&format!("serving: {shipped} (registry")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{weak_version}\tcandidate")),
            "{text}"
        );
        let eval = cli.json(&["model", "eval", "--json"]);
        assert!(eval["macro_f1"].as_f64().unwrap() > 0.85);

        let drift = cli.json(&["model", "drift", "--json"]);
        assert_eq!(drift["status"], "insufficient_data");
        assert_eq!(drift["model_version"], shipped);

        // classify reads the serving model and the synced catalogue (empty here).
        let msg = b"Subject: Payment done\r\n\r\nPayment kar diya hai, UTR SBIN424178839912, Rs 48,500.\r\n";
        let o = cli.run(&["classify"], msg);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let line: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(line["intent"], "payment");
        assert_eq!(line["model_version"], shipped);

        let back = cli.json(&["model", "rollback", "--json"]);
        assert_eq!(back["serving"]["source"], "shipped");
        let o = cli.run(&["model", "rollback"], b"");
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to roll back"));
    }
);
