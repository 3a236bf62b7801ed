//! `pebble classify` run as a user would: stdin and `--mbox`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

const CATALOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/catalog.json");

fn classify(args: &[&str], stdin: &[u8]) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .arg("classify")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pebble");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn one_message_on_stdin_is_classified_with_products_and_identifiers() {
    let msg = b"Message-ID: <inq-1@example.in>\r\nFrom: Harpreet <h@example.in>\r\nSubject: rate chahiye\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nrate bhejo 2.5mm wire ka, 10 coil chahiye. Also 32A DP MCB 5 nos.\r\nKindly quote best price.\r\n\r\nRegards\r\nHarpreet Singh\r\nGSTIN: 27AAPFU0939F1ZV\r\nGST No. 27AAPFU0939F1ZX\r\nMob: +91 98140 22345\r\n";
    let lines = classify(&["--offline", "--catalog", CATALOG], msg);
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l["message_id"], "inq-1@example.in");
    assert_eq!(l["intent"], "product_inquiry");
    assert_eq!(l["is_lead"], true);
    let confidence = l["confidence"].as_f64().expect("confidence");
    assert!((0.0..=1.0).contains(&confidence));
    assert!(l["model_version"]
        .as_str()
        .expect("version")
        .starts_with("intent-"));
    assert!(!l["evidence"].as_array().expect("evidence").is_empty());
    let products = &l["entities"]["products"];
    assert_eq!(products[0]["sku"], "W-25-PC");
    assert_eq!(products[0]["qty"], 10.0);
    assert_eq!(products[0]["unit"], "coil");
    assert_eq!(products[1]["sku"], "MCB-32-DP");
    assert_eq!(products[1]["qty"], 5.0);
    // The valid GSTIN is valid; the mistyped one is reported, invalid.
    let gstins = l["entities"]["gstin"].as_array().expect("gstin");
    assert_eq!(gstins.len(), 2);
    assert_eq!(gstins[0]["normalized"], "27AAPFU0939F1ZV");
    assert_eq!(gstins[0]["valid"], true);
    assert_eq!(gstins[1]["valid"], false);
    assert_eq!(l["entities"]["phone"][0], "+919814022345");
}

#[test]
fn an_mbox_yields_one_line_per_message_in_order() {
    let mbox = concat!(
        "From ravi@example.in Tue Apr  2 10:00:00 2024\n",
        "Message-ID: <po-1@example.in>\nSubject: PO 4471\n\n",
        "PO attached. Please dispatch 40 coils 1.5 sq mm FR wire at the quoted rate.\n\n",
        "On Mon, 1 Apr 2024 at 10:12, Sales <s@x.in> wrote:\n> Kindly find our quotation.\n\n",
        "From accounts@example.in Tue Apr  2 11:00:00 2024\n",
        "Message-ID: <pay-1@example.in>\nSubject: Payment done\n\n",
        "Payment kar diya hai, check karo. UTR SBIN424178839912. Rs 48,500.\n",
        ">From the accounts team\n\n",
        "From x@spam.example Tue Apr  2 12:00:00 2024\n",
        "Message-ID: <s-1@spam.example>\nSubject: Your account will be suspended\n\n",
        "Dear customer, your KYC is pending. Click here within 24 hours to verify your account or it will be blocked.\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.mbox");
    std::fs::write(&path, mbox).expect("write");
    let lines = classify(
        &[
            "--offline",
            "--mbox",
            path.to_str().expect("path"),
            "--catalog",
            CATALOG,
        ],
        b"",
    );
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["message_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        ["po-1@example.in", "pay-1@example.in", "s-1@spam.example"]
    );
    let intents: Vec<&str> = lines
        .iter()
        .map(|l| l["intent"].as_str().expect("intent"))
        .collect();
    assert_eq!(intents, ["purchase_order", "payment", "spam"]);
    assert_eq!(lines[0]["entities"]["products"][0]["sku"], "W-15-PC");
    assert_eq!(lines[0]["entities"]["products"][0]["qty"], 40.0);
    assert_eq!(lines[1]["is_lead"], false);
}

#[test]
fn model_drift_raises_an_alert_when_every_mail_is_spam() {
    let mut mbox = String::new();
    for i in 0..20 {
        mbox.push_str(&format!(
            "From x@spam.example Tue Apr  2 12:00:00 2024\nMessage-ID: <s-{i}@spam.example>\nSubject: Congratulations winner {i}\n\nYou have won Rs 25 lakh in the lucky draw. Click here and pay the processing fee to claim your prize.\n\n"
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("spam.mbox");
    std::fs::write(&path, mbox).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_pebble"))
        .args([
            "model",
            "drift",
            "--json",
            "--mbox",
            path.to_str().expect("path"),
        ])
        .args([
            "--data",
            concat!(env!("CARGO_MANIFEST_DIR"), "/data/intents"),
        ])
        .output()
        .expect("run pebble");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["status"], "alert");
    assert!(report["label_psi"].as_f64().expect("psi") > 0.25);
    assert_eq!(report["recent"]["n"], 20);
}
