//! IMAP against a real dovecot on loopback (Debian `dovecot-imapd`), started
//! by the test: fetch, restart without missing or repeating, IDLE inside
//! `pebble serve`, a connection dropped mid-fetch, a new UIDVALIDITY.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{spawn_app_with, Backend, TestDb};
use pebble::clock::SystemClock;
use pebble::ingest::imap::{Fetcher, MailboxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PASSWORD_ENV: &str = "PEBBLE_TEST_IMAP_PASSWORD";
const PASSWORD: &str = "s3cret-imap";
const USER: &str = "sales@test";

/// A dovecot master serving one Maildir user on a free loopback port.
struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
}

impl Dovecot {
    fn start() -> Option<Dovecot> {
        let binary = ["/usr/sbin/dovecot", "/usr/bin/dovecot"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(binary) = binary else {
            if std::env::var("PEBBLE_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("PEBBLE_REQUIRE_SERVICES=1 but dovecot is not installed (apt-get install dovecot-imapd)");
            }
            eprintln!("skipping: dovecot is not installed (apt-get install dovecot-imapd)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all(d.join("run")).unwrap();
        std::fs::create_dir_all(d.join("mail")).unwrap();
        std::fs::write(d.join("users"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/run\nprotocols = imap\nlisten = 127.0.0.1\nssl = no\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\nlog_path = {d}/dovecot.log\n\
             default_internal_user = dovecot\ndefault_internal_group = dovecot\ndefault_login_user = dovenull\n\
             first_valid_uid = 8\nmail_location = maildir:{d}/mail/%u\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid=mail gid=mail home={d}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n}}\n",
            d = d.display()
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        let ok = Command::new("chmod")
            .args(["755", d.to_str().unwrap()])
            .status()
            .unwrap()
            .success()
            && Command::new("chown")
                .args(["-R", "mail:mail", d.join("mail").to_str().unwrap()])
                .status()
                .unwrap()
                .success();
        assert!(ok, "preparing dovecot's directories");
        let status = Command::new(binary)
            .args(["-c", d.join("dovecot.conf").to_str().unwrap()])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "dovecot did not start: {}",
            std::fs::read_to_string(d.join("dovecot.log")).unwrap_or_default()
        );
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Dovecot { dir, port });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("dovecot did not listen on {port}");
    }

    fn mailbox(&self, name: &str, port: u16) -> MailboxConfig {
        MailboxConfig {
            name: name.into(),
            stream: "sales".into(),
            host: "127.0.0.1".into(),
            port,
            tls: false,
            username: USER.into(),
            password_env: PASSWORD_ENV.into(),
            folder: "INBOX".into(),
            enabled: true,
        }
    }

    /// Deliver messages the way a sender's server would: IMAP APPEND.
    async fn append(&self, messages: &[Vec<u8>]) {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().unwrap();
        let mut session = client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        for m in messages {
            session.append("INBOX", None, None, m).await.unwrap();
        }
        session.logout().await.unwrap();
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let pid_file: PathBuf = self.dir.path().join("run/master.pid");
        if let Ok(pid) = std::fs::read_to_string(pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn message(i: usize) -> Vec<u8> {
    format!(
        "Message-ID: <imap-{i}@buyer.in>\r\nFrom: buyer{i}@buyer.in\r\nSubject: need {i} coils\r\n\r\nrate bhejo, {i} coil chahiye\r\n"
    )
    .into_bytes()
}

fn pebble(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pebble"))
        .args(args)
        .env_clear()
        .env("PEBBLE_DATA_DIR", db.data_dir())
        .env("PEBBLE_DATABASE_URL", &db.url)
        .env(PASSWORD_ENV, PASSWORD)
        .output()
        .unwrap()
}

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetching_twice_and_after_new_mail_neither_misses_nor_repeats() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    dovecot
        .append(&(0..3).map(message).collect::<Vec<_>>())
        .await;
    let port = dovecot.port.to_string();
    let o = pebble(
        &db,
        &[
            "mailbox",
            "add",
            "sales-box",
            "--stream",
            "sales",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--plain",
            "--username",
            USER,
            "--password-env",
            PASSWORD_ENV,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = json(&pebble(&db, &["mailbox", "fetch", "sales-box", "--json"]));
    assert_eq!(
        (first["fetched"].as_u64(), first["stored"].as_u64()),
        (Some(3), Some(3))
    );
    let again = json(&pebble(&db, &["mailbox", "fetch", "sales-box", "--json"]));
    assert_eq!(again["fetched"], 0, "a restart does not fetch again");
    dovecot
        .append(&(3..5).map(message).collect::<Vec<_>>())
        .await;
    let more = json(&pebble(&db, &["mailbox", "fetch", "sales-box", "--json"]));
    assert_eq!(
        (more["fetched"].as_u64(), more["stored"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(more["last_uid"], 5);

    // The server renumbers the folder: everything comes again, nothing doubles.
    let conn = db.connect().await;
    let mut state = pebble::store::emails::mailbox_state(&conn, "sales-box")
        .await
        .unwrap()
        .unwrap();
    state.uidvalidity += 1;
    let mut tx = conn.begin().await.unwrap();
    pebble::store::emails::save_mailbox_state(&mut tx, &state)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let renumbered = json(&pebble(&db, &["mailbox", "fetch", "sales-box", "--json"]));
    assert_eq!(
        (
            renumbered["fetched"].as_u64(),
            renumbered["duplicates"].as_u64()
        ),
        (Some(5), Some(5))
    );
    assert_eq!(pebble::store::emails::count(&conn).await.unwrap(), 5);

    let o = pebble(
        &db,
        &[
            "mailbox",
            "add",
            "bad",
            "--stream",
            "sales",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--plain",
            "--username",
            USER,
            "--password-env",
            "PEBBLE_NOT_SET_ANYWHERE",
        ],
    );
    assert!(o.status.success());
    let o = pebble(&db, &["mailbox", "fetch", "bad"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("PEBBLE_NOT_SET_ANYWHERE"),
        "the error names the missing variable"
    );
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pebble_serve_takes_new_mail_through_idle() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    std::env::set_var(PASSWORD_ENV, PASSWORD);
    let mb = dovecot.mailbox("live", dovecot.port);
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.mailboxes = vec![mb];
        // Far longer than the test: only IDLE can bring the mail in time.
        s.imap_poll_secs = 3600;
    })
    .await
    else {
        return;
    };
    dovecot.append(&[message(1)]).await;
    let mut seen = 0;
    for _ in 0..100 {
        let (_, page) = app.get_json("/api/v1/emails?stream=sales").await;
        seen = page["items"].as_array().unwrap().len();
        if seen == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 1, "the message on the server before start arrives");
    dovecot.append(&[message(2), message(3)]).await;
    for _ in 0..100 {
        let (_, page) = app.get_json("/api/v1/emails?stream=sales").await;
        seen = page["items"].as_array().unwrap().len();
        if seen == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 3, "IDLE wakes the watcher for new mail");
    let metrics = reqwest::get(format!("http://{}/metrics", app.metrics_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("pebble_mailbox_last_poll_timestamp_seconds{mailbox=\"live\"}"));
    app.shutdown().await;
}

/// Forwards to `upstream`; the first connection is cut after `cut_after`
/// bytes from the server, in the middle of a fetch.
async fn flaky_proxy(upstream: SocketAddr, cut_after: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let mut server = TcpStream::connect(upstream).await.unwrap();
            let cut = first.then_some(cut_after);
            first = false;
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = tokio::io::copy(&mut cr, &mut sw);
                let down = async {
                    let mut sent = 0;
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = sr.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        let n = match cut {
                            Some(limit) if sent + n > limit => {
                                cw.write_all(&buf[..limit - sent]).await?;
                                return Ok::<_, std::io::Error>(());
                            }
                            _ => n,
                        };
                        cw.write_all(&buf[..n]).await?;
                        sent += n;
                    }
                    Ok(())
                };
                tokio::select! {
                    _ = up => {}
                    _ = down => {}
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_dropped_mid_fetch_reconnects_and_loses_nothing() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    std::env::set_var(PASSWORD_ENV, PASSWORD);
    // 120 messages of ~2 KB: the cut lands inside the first fetch.
    let big: Vec<Vec<u8>> = (0..120)
        .map(|i| {
            let mut m = message(i);
            m.extend_from_slice("padding line for size\r\n".repeat(80).as_bytes());
            m
        })
        .collect();
    dovecot.append(&big).await;
    let proxy = flaky_proxy(SocketAddr::from(([127, 0, 0, 1], dovecot.port)), 60_000).await;
    let services = common::services(Backend::Sqlite).await.unwrap();
    let state = services.state.clone();
    let fetcher = Arc::new(Fetcher {
        db: state.db.clone(),
        ingest: state.ingest.clone(),
        clock: Arc::new(SystemClock),
        metrics: state.metrics.clone(),
        poll: Duration::from_secs(3600),
        ca_file: None,
    });
    let stop = tokio_util::sync::CancellationToken::new();
    let watch = tokio::spawn({
        let (f, s) = (fetcher.clone(), stop.clone());
        let mb = dovecot.mailbox("flaky", proxy.port());
        async move { f.watch(mb, s).await }
    });
    let mut count = 0;
    for _ in 0..200 {
        count = pebble::store::emails::count(&state.db).await.unwrap();
        if count == 120 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    watch.await.unwrap();
    assert_eq!(count, 120, "every message arrived after the reconnect");
    let (_, distinct): (i64, i64) = match &state.db {
        pebble::store::Db::Sqlite(p) => {
            sqlx::query_as("select count(*), count(distinct message_id) from emails")
                .fetch_one(p)
                .await
                .unwrap()
        }
        pebble::store::Db::Postgres(_) => unreachable!(),
    };
    assert_eq!(distinct, 120, "and none twice");
    let errors = state
        .metrics
        .pipeline
        .errors
        .get_or_create(&pebble::metrics::pipeline::StageLabel { stage: "imap" })
        .get();
    assert!(errors >= 1, "the dropped connection was seen and counted");
    drop(services);
}
