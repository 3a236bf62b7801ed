//! The `pebble` binary, run as a user would.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{Backend, TestDb};

fn pebble(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pebble"))
        .args(args)
        .env_clear()
        .env("PEBBLE_DATA_DIR", db.data_dir())
        .env("PEBBLE_DATABASE_URL", &db.url)
        .output()
        .expect("run pebble")
}

fn pebble_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn help_lists_every_subcommand() {
    let o = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .arg("--help")
        .output()
        .unwrap();
    let help = text(&o);
    for cmd in ["serve", "config", "db", "audit", "tally", "tally-sim"] {
        assert!(help.contains(cmd), "{cmd} missing from:\n{help}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .args(["audit", "--help"])
        .output()
        .unwrap();
    let help = text(&o);
    for cmd in [
        "verify",
        "checkpoint",
        "prove",
        "verify-proof",
        "export",
        "retention",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from:\n{help}");
    }
}

#[test]
fn config_prints_documented_defaults_and_check_masks_secrets() {
    let o = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .arg("config")
        .env_clear()
        .output()
        .unwrap();
    let out = text(&o);
    assert!(out.contains("bind = \"127.0.0.1:8080\""), "{out}");
    assert!(out.contains("# env: PEBBLE_DATABASE_URL"), "{out}");
    let o = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .args(["config", "check"])
        .env_clear()
        .env(
            "PEBBLE_DATABASE_URL",
            "postgres://pebble:s3cr3t-pw@db.internal/pebble",
        )
        .env(
            "PEBBLE_AUDIT_SIGNING_KEY",
            "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
        )
        .env("PEBBLE_BIND", "0.0.0.0:9999")
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("0.0.0.0:9999"), "{out}");
    assert!(!out.contains("s3cr3t-pw"), "{out}");
    assert!(!out.contains("c2VjcmV0c2Vj"), "{out}");
    assert!(out.contains("********"));
}

#[test]
fn a_config_file_with_a_typo_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pebble.toml");
    std::fs::write(&file, "bindd = \"127.0.0.1:1\"\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .args(["config", "check"])
        .env_clear()
        .env("PEBBLE_CONFIG", &file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("bindd"), "{}", text(&o));
}

#[tokio::test]
async fn audit_verify_exits_one_naming_the_seq_after_tampering() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    assert!(pebble(&db, &["db", "migrate"]).status.success());
    for _ in 0..3 {
        let o = pebble(&db, &["audit", "checkpoint"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = pebble(&db, &["audit", "verify", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["verified"], 3);

    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    sqlx::query("drop trigger activity_stream_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("update activity_stream set occurred_at = occurred_at + 1 where seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let o = pebble(&db, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("BROKEN at seq 2"), "{}", text(&o));
}

#[tokio::test]
async fn prove_then_verify_proof_round_trips_and_a_forged_proof_fails() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    for _ in 0..5 {
        assert!(pebble(&db, &["audit", "checkpoint"]).status.success());
    }
    let o = pebble(&db, &["audit", "prove", "3"]);
    assert!(o.status.success(), "{}", text(&o));
    let key = String::from_utf8(pebble(&db, &["audit", "public-key"]).stdout).unwrap();
    let proof = o.stdout.clone();
    let ok = pebble_stdin(
        &["audit", "verify-proof", "--public-key", key.trim()],
        &proof,
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let forged = String::from_utf8(proof)
        .unwrap()
        .replacen("\"seq\": 3", "\"seq\": 4", 1);
    let bad = pebble_stdin(&["audit", "verify-proof"], forged.as_bytes());
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let o = pebble(&db, &["audit", "prove", "99"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("seq 99 is not in the activity stream"));
}

#[test]
fn verify_proof_accepts_the_conformance_vectors_on_stdin() {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/pebble-core/tests/vectors/merkle"
    );
    let mut checked = 0;
    for kind in ["inclusion", "consistency"] {
        for sub in std::fs::read_dir(format!("{root}/{kind}")).unwrap() {
            let sub = sub.unwrap().path();
            if !sub.is_dir() {
                continue;
            }
            for file in [
                "happy-path.json",
                "wrong-leaf.json",
                "truncated-proof.json",
                "trailing-garbage.json",
            ] {
                let path = sub.join(file);
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                let want_err =
                    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["wantErr"] == true;
                let o = pebble_stdin(&["audit", "verify-proof"], &bytes);
                assert_eq!(
                    o.status.code(),
                    Some(if want_err { 1 } else { 0 }),
                    "{}: {}",
                    path.display(),
                    text(&o)
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} vectors found");
}

#[tokio::test]
async fn export_writes_csv_and_xlsx_files_and_rejects_a_bad_filter() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    assert!(pebble(&db, &["audit", "checkpoint"]).status.success());
    let csv = db.data_dir().join("out.csv");
    let o = pebble(
        &db,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--out",
            csv.to_str().unwrap(),
            "--type",
            "AuditCheckpointSigned",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 2);
    let xlsx = db.data_dir().join("out.xlsx");
    let o = pebble(
        &db,
        &[
            "audit",
            "export",
            "--format",
            "xlsx",
            "--out",
            xlsx.to_str().unwrap(),
            "--from",
            "2000-01-01",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::metadata(&xlsx).unwrap().len() > 1000);
    let o = pebble(
        &db,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--out",
            csv.to_str().unwrap(),
            "--from",
            "last tuesday",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--from"), "{}", text(&o));
}
