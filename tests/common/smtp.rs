//! A real SMTP server on loopback (`tests/fixtures/smtp_sink.py`, aiosmtpd),
//! skipped with a message when Python or aiosmtpd is absent, and failing
//! the test under `PEBBLE_REQUIRE_SERVICES=1`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

/// One message the server accepted.
#[derive(Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub raw: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp_sink.py")
}

/// Is aiosmtpd importable? Says why not, or panics when services are required.
pub fn available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("PEBBLE_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("PEBBLE_REQUIRE_SERVICES=1 but aiosmtpd is missing: python3 -m pip install aiosmtpd");
        }
        eprintln!("skipping: aiosmtpd is not installed (python3 -m pip install aiosmtpd)");
    }
    ok
}

impl SmtpSink {
    /// Start a server with the script's options (`--refuse-rcpt`, `--delay-data`, …).
    pub fn start(options: &[&str]) -> Option<SmtpSink> {
        if !available() {
            return None;
        }
        Some(Self::start_in(tempfile::tempdir().unwrap(), None, options))
    }

    /// Start again on the same port, keeping what was received, e.g. after `stop`.
    pub fn restart(&mut self, options: &[&str]) {
        self.stop();
        let (child, port) = Self::spawn(&self.dir, Some(self.port), options);
        self.child = child;
        self.port = port;
    }

    fn start_in(dir: TempDir, port: Option<u16>, options: &[&str]) -> SmtpSink {
        let (child, port) = Self::spawn(&dir, port, options);
        SmtpSink { child, port, dir }
    }

    fn spawn(dir: &TempDir, port: Option<u16>, options: &[&str]) -> (Child, u16) {
        let port_arg = port.unwrap_or(0).to_string();
        let mut child = Command::new("python3")
            .arg(script())
            .args(["--dir", dir.path().to_str().unwrap(), "--port", &port_arg])
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP sink did not start: {line:?}"));
        (child, port)
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stop the server; its port refuses connections until `restart`.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for n in 1.. {
            let base = self.dir.path().join(n.to_string());
            let Ok(raw) = std::fs::read_to_string(base.with_extension("eml")) else {
                break;
            };
            let env: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(base.with_extension("json")).unwrap(),
            )
            .unwrap();
            out.push(Received {
                mail_from: env["mail_from"].as_str().unwrap_or_default().to_owned(),
                rcpt_tos: env["rcpt_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect(),
                raw,
            });
        }
        out
    }

    /// Has the server seen the RCPT of transaction `n` begin?
    pub fn saw_rcpt(&self, n: usize) -> bool {
        self.dir.path().join(format!("rcpt-{n}")).exists()
    }

    /// Wait (bounded) until `ready` holds.
    pub fn wait_until(&self, what: &str, ready: impl Fn(&SmtpSink) -> bool) {
        let until = Instant::now() + Duration::from_secs(30);
        while !ready(self) {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
