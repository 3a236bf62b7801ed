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
    for cmd in [
        "serve",
        "config",
        "db",
        "audit",
        "users",
        "validate",
        "model",
        "classify",
        "tally",
        "tally-sim",
        "backup",
        "dr",
    ] {
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

/// Every transparency-dev vector, through the command a regulator would run.
#[test]
fn verify_proof_accepts_exactly_the_valid_conformance_vectors_on_stdin() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/pebble-core/tests/vectors/merkle");
    let mut files = Vec::new();
    walk(&root, &mut files);
    assert!(files.len() >= 190, "only {} vectors found", files.len());
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
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
    }
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

#[tokio::test]
async fn users_are_managed_from_the_command_line() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let add = |email: &str, role: &str, password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pebble"))
            .args([
                "users",
                "add",
                "--email",
                email,
                "--role",
                role,
                "--name",
                "Priya Nair",
                "--password-stdin",
            ])
            .env_clear()
            .env("PEBBLE_DATA_DIR", db.data_dir())
            .env("PEBBLE_DATABASE_URL", &db.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let o = add("priya@shreebalaji.in", "sales", "a long enough passphrase");
    assert!(o.status.success(), "{}", text(&o));
    let o = add("priya@shreebalaji.in", "sales", "a long enough passphrase");
    assert_eq!(o.status.code(), Some(2), "duplicate: {}", text(&o));
    let o = add("short@shreebalaji.in", "sales", "short");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("at least 12"), "{}", text(&o));
    let o = add("x@shreebalaji.in", "superuser", "a long enough passphrase");
    assert_eq!(o.status.code(), Some(2));

    let o = pebble(&db, &["users", "set-role", "priya@shreebalaji.in", "ops"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = pebble(&db, &["users", "disable", "priya@shreebalaji.in"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = pebble(&db, &["users", "list", "--json"]);
    let users: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["role"], "ops");
    assert_eq!(users[0]["disabled"], true);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("argon2"),
        "hashes are never shown"
    );
}

/// Start the real binary with secrets in its environment, sign in, fail a
/// sign-in, and check that no secret or password reaches the logs.
#[tokio::test]
async fn serve_bootstraps_an_admin_once_and_never_logs_secrets() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The server's output goes to a file: at trace level it outgrows a pipe
    // nobody reads until the end, and the server would block writing logs.
    let log = db.data_dir().join("serve.log");
    let start = |admin_password: Option<&str>| {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_pebble"));
        c.arg("serve")
            .env_clear()
            .env("PEBBLE_DATA_DIR", db.data_dir())
            .env("PEBBLE_DATABASE_URL", &db.url)
            .env("PEBBLE_BIND", format!("127.0.0.1:{port}"))
            .env("PEBBLE_METRICS_BIND", format!("127.0.0.1:{metrics_port}"))
            .env("PEBBLE_LOG", "trace")
            .env(
                "PEBBLE_JWT_SECRET",
                "jwt-secret-that-must-never-be-logged-1234",
            )
            .env(
                "PEBBLE_AUDIT_SIGNING_KEY",
                "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
            )
            .stdout(out)
            .stderr(err);
        if let Some(p) = admin_password {
            c.env("PEBBLE_ADMIN_PASSWORD", p);
        }
        c.spawn().unwrap()
    };
    let mut server = start(Some("admin-password-never-logged"));
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v1/auth/login");
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "server did not start");
    let ok = client
        .post(&url)
        .json(&serde_json::json!({"email": "admin@pebble.local", "password": "admin-password-never-logged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let tokens: serde_json::Value = ok.json().await.unwrap();
    let bad = client
        .post(&url)
        .json(&serde_json::json!({"email": "admin@pebble.local", "password": "a-wrong-password-never-logged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    let me = client
        .get(format!("http://127.0.0.1:{port}/api/v1/auth/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    nix_terminate(&server);
    server.wait().unwrap();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("pebble serving"), "{logs}");
    for secret in [
        "jwt-secret-that-must-never-be-logged",
        "c2VjcmV0c2VjcmV0",
        "admin-password-never-logged",
        "a-wrong-password-never-logged",
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!logs.contains(secret), "{secret:.20}… appeared in the logs");
    }
    // One JSON line per request, inside its span: route template, request id, user, latency.
    let me_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "request" && l["span"]["route"] == "/api/v1/auth/me")
        .unwrap_or_else(|| panic!("no request line for /api/v1/auth/me in\n{logs}"));
    assert_eq!(me_line["status"], 200, "{me_line}");
    assert!(me_line["latency_ms"].as_f64().is_some(), "{me_line}");
    assert_eq!(
        me_line["span"]["request_id"].as_str().map(str::len),
        Some(36),
        "{me_line}"
    );
    assert!(
        me_line["span"]["user_id"]
            .as_str()
            .is_some_and(|u| !u.is_empty()),
        "{me_line}"
    );

    // Restarting on a database with users creates nobody and prints no password.
    server = start(None);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    nix_terminate(&server);
    server.wait().unwrap();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(!logs.contains("Created the first administrator"), "{logs}");
}

#[tokio::test]
async fn a_first_start_without_a_configured_password_prints_a_generated_one_once() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .arg("serve")
        .env_clear()
        .env("PEBBLE_DATA_DIR", db.data_dir())
        .env("PEBBLE_DATABASE_URL", &db.url)
        .env("PEBBLE_BIND", format!("127.0.0.1:{port}"))
        .env("PEBBLE_METRICS_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    nix_terminate(&server);
    let out = server.wait_with_output().unwrap();
    let logs = text(&out);
    let line = logs
        .lines()
        .find(|l| l.starts_with("Created the first administrator"))
        .expect("password printed");
    let password = line.rsplit(' ').next().unwrap();
    assert!(password.len() >= 20);
    assert_eq!(
        logs.matches(password).count(),
        1,
        "printed once, never logged"
    );
}

/// SIGTERM, as an orchestrator stops the service.
fn nix_terminate(child: &std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

fn validate_cmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pebble"))
        .arg("validate")
        .args(args)
        .env_clear()
        .output()
        .expect("run pebble")
}

#[test]
fn validate_prints_one_json_line_per_value_and_exits_by_validity() {
    let o = validate_cmd(&[
        "auto",
        "--json",
        "27aapca1234a1z5",
        "AAPCA1234A",
        "L17110MH1973PLC019786",
        "AAB-1234",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0]["normalized"], "27AAPCA1234A1Z5",
        "lower case is normalised"
    );
    assert_eq!(lines[0]["info"]["pan"], "AAPCA1234A");
    assert_eq!(lines[1]["info"]["holder_type"], "Company");
    assert_eq!(lines[2]["kind"], "cin");
    assert_eq!(lines[3]["kind"], "llpin");
    let keys: Vec<_> = lines[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["errors", "info", "kind", "normalized", "valid", "value"]
    );

    let o = validate_cmd(&["gstin", "--json", "27AAPCA1234A1Z5", "27AAPCA1234A1Z6"]);
    assert_eq!(o.status.code(), Some(1), "one invalid value fails the run");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let second: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(
        second["errors"][0],
        "check character mismatch at position 15: expected '5', found '6'"
    );
}

#[test]
fn validate_reads_stdin_and_explains_bad_input_in_plain_text() {
    let huge = "9".repeat(10 * 1024);
    let input = format!(
        "AAPCA1234A\r\n\u{410}APCA1234A\nAAPCA\u{ff11}234A\n{huge}\nAAPCA\u{0}1234A\naapca1234a\n"
    );
    let o = pebble_stdin(&["validate", "pan"], input.as_bytes());
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert!(lines[0].starts_with("AAPCA1234A: valid PAN"), "{out}");
    assert!(lines[1].contains("invalid PAN: bad character"), "{out}");
    assert!(lines[1].contains("position 1"), "{out}");
    assert!(lines[2].contains("position 6"), "full-width digit: {out}");
    assert!(
        lines[3].contains("wrong length"),
        "10 kB: {}",
        &lines[3][..200.min(lines[3].len())]
    );
    assert!(lines[4].contains("invalid PAN"), "NUL: {out}");
    assert!(
        lines[5].starts_with("AAPCA1234A: valid PAN"),
        "lower case: {out}"
    );

    let o = pebble_stdin(&["validate", "cin"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("nothing to validate"));
    let o = validate_cmd(&["auto", ""]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("empty input"), "{}", text(&o));
}

/// `pebble demo` as a new user runs it: the real binary on the embedded
/// default (its own SQLite and files), the printed passwords, and within a
/// minute classified emails, leads, stock-aware drafts waiting for review
/// and the activity stream, through the API and the web UI.
#[tokio::test]
async fn the_demo_shows_classified_emails_leads_drafts_and_the_stream_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dir.path().join("demo.out");
    let mut demo = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .arg("demo")
        .env_clear()
        .env("PEBBLE_DATA_DIR", dir.path().join("data"))
        .env("PEBBLE_BIND", format!("127.0.0.1:{port}"))
        .env("PEBBLE_METRICS_BIND", "127.0.0.1:0")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    // The password is printed once the server is listening.
    let password = loop {
        assert!(
            started.elapsed().as_secs() < 120,
            "the demo did not start: {}",
            std::fs::read_to_string(&out).unwrap_or_default()
        );
        let printed = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(line) = printed.lines().find(|l| l.contains("sales@demo.in")) {
            break line.split_whitespace().last().unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "sales@demo.in", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"]
        .as_str()
        .expect("signed in")
        .to_owned();
    // The pipeline works through the mailbox while the server runs.
    let get = |path: &str| get_json(&client, &base, &token, path.to_owned());
    let drafts = loop {
        let page = get("/api/v1/drafts?status=pending").await;
        if page["items"].as_array().is_some_and(|a| a.len() >= 5) {
            break page;
        }
        assert!(
            started.elapsed().as_secs() < 120,
            "no drafts after two minutes: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let first = &drafts["items"][0];
    assert!(
        first["facts"]["items"].as_array().is_some(),
        "drafts carry their facts: {first}"
    );
    assert!(
        drafts["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["facts"]["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["stock"]["source"] == "live"))),
        "a stock-aware draft from the Tally simulator: {drafts}"
    );
    let email = first["email_id"].as_str().unwrap();
    let decision = get(&format!("/api/v1/classifications/{email}")).await;
    assert!(decision["intent"].is_string(), "{decision}");
    let leads = get("/api/v1/leads").await;
    assert!(!leads["items"].as_array().unwrap().is_empty(), "{leads}");
    let stream = get("/api/v1/activity?event_type=DraftGenerated").await;
    assert!(!stream["items"].as_array().unwrap().is_empty(), "{stream}");
    // The web UI answers the same person.
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    nix_terminate(&demo);
    assert!(demo.wait().unwrap().success(), "a clean stop on SIGTERM");
}

async fn get_json(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: String,
) -> serde_json::Value {
    client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
