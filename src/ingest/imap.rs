//! IMAP mailboxes → streams. Per mailbox: connect (TLS, or plain for local
//! use), log in with the password from the named environment variable,
//! select the folder, fetch every UID above the last one stored, and wait
//! with IDLE where the server offers it (polling otherwise).
//!
//! Nothing missed, nothing doubled: messages are received (durably) before
//! `last_uid` moves past them, so a crash or a dropped connection refetches
//! at most the last chunk, which dedup then recognises. A new UIDVALIDITY
//! means the server renumbered the folder: fetch it all again, and dedup
//! again keeps it from doubling.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::Session;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::{Ingest, IngestError, Source};
use crate::clock::Clock;
use crate::metrics::pipeline::{MailboxLabel, StageLabel};
use crate::metrics::Metrics;
use crate::store::emails::{self as sql, MailboxRow, MailboxState};
use crate::store::{Db, StoreError};

/// A mailbox as configured (file, environment or API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxConfig {
    /// A short name: letters, digits, `-` and `_`.
    pub name: String,
    pub stream: String,
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_tls")]
    pub tls: bool,
    pub username: String,
    /// The environment variable that holds the password.
    pub password_env: String,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default = "default_tls")]
    pub enabled: bool,
}

fn default_port() -> u16 {
    993
}
fn default_tls() -> bool {
    true
}
fn default_folder() -> String {
    "INBOX".into()
}

impl MailboxConfig {
    pub fn validate(&self) -> Result<(), String> {
        let short = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !short(&self.name) {
            return Err("name: 1–64 letters, digits, '-' or '_'".into());
        }
        if self.host.trim().is_empty() || self.host.contains(char::is_whitespace) {
            return Err("host: a host name or address".into());
        }
        if self.port == 0 {
            return Err("port: 1–65535".into());
        }
        if self.username.is_empty() || self.username.contains(['\r', '\n', '\0']) {
            return Err("username: required, one line".into());
        }
        if !self
            .password_env
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || self.password_env.is_empty()
        {
            return Err("password_env: the name of an environment variable".into());
        }
        if self.folder.is_empty() || self.folder.contains(['\r', '\n', '\0', '"']) {
            return Err("folder: a folder name".into());
        }
        Ok(())
    }

    pub fn row(&self, now: i64) -> MailboxRow {
        MailboxRow {
            name: self.name.clone(),
            stream: self.stream.clone(),
            host: self.host.clone(),
            port: i32::from(self.port),
            tls: self.tls,
            username: self.username.clone(),
            password_env: self.password_env.clone(),
            folder: self.folder.clone(),
            enabled: self.enabled,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn from_row(r: &MailboxRow) -> MailboxConfig {
        MailboxConfig {
            name: r.name.clone(),
            stream: r.stream.clone(),
            host: r.host.clone(),
            port: u16::try_from(r.port).unwrap_or(993),
            tls: r.tls,
            username: r.username.clone(),
            password_env: r.password_env.clone(),
            folder: r.folder.clone(),
            enabled: r.enabled,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("environment variable {0} (the mailbox password) is not set")]
    NoPassword(String),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("IMAP: {0}")]
    Protocol(#[from] async_imap::error::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("timed out talking to the server")]
    Timeout,
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Messages fetched and received per round trip.
const CHUNK: usize = 50;
const IO_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Fetcher {
    pub db: Db,
    pub ingest: Arc<Ingest>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// Longest wait between checks (IDLE is renewed at least this often).
    pub poll: Duration,
    /// Extra trust anchors (PEM) for servers with a private CA.
    pub ca_file: Option<std::path::PathBuf>,
}

/// What one fetch round did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Fetched {
    pub fetched: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub uidvalidity: u32,
    pub last_uid: u32,
}

impl Fetcher {
    /// Connect, fetch everything new once, log out (`pebble mailbox fetch`).
    pub async fn fetch_once(&self, mb: &MailboxConfig) -> Result<Fetched, ImapError> {
        let stream = connect(mb).await?;
        if mb.tls {
            let tls = self.tls(mb, stream).await?;
            self.once_on(mb, tls).await
        } else {
            self.once_on(mb, stream).await
        }
    }

    async fn once_on<T>(&self, mb: &MailboxConfig, stream: T) -> Result<Fetched, ImapError>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let mut session = login(mb, stream).await?;
        let fetched = self.fetch_new(mb, &mut session).await?;
        let _ = session.logout().await;
        Ok(fetched)
    }

    /// Keep a mailbox flowing until `stop`: reconnect with backoff after
    /// any failure.
    pub async fn watch(&self, mb: MailboxConfig, stop: CancellationToken) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.session(&mb, &stop) => r,
            };
            match result {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(mailbox = %mb.name, error = %e, "IMAP session ended; reconnecting");
                    self.metrics
                        .pipeline
                        .errors
                        .get_or_create(&StageLabel { stage: "imap" })
                        .inc();
                    let _ = self.record_error(&mb.name, &e.to_string()).await;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    }

    async fn session(&self, mb: &MailboxConfig, stop: &CancellationToken) -> Result<(), ImapError> {
        let stream = connect(mb).await?;
        if mb.tls {
            let tls = self.tls(mb, stream).await?;
            self.session_on(mb, tls, stop).await
        } else {
            self.session_on(mb, stream, stop).await
        }
    }

    async fn session_on<T>(
        &self,
        mb: &MailboxConfig,
        stream: T,
        stop: &CancellationToken,
    ) -> Result<(), ImapError>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let mut session = login(mb, stream).await?;
        let idle = session.capabilities().await?.has_str("IDLE");
        loop {
            self.fetch_new(mb, &mut session).await?;
            if idle {
                let mut handle = session.idle();
                handle.init().await?;
                // Renew IDLE before servers' 30-minute cut-off.
                let wait = self.poll.min(Duration::from_secs(25 * 60));
                let (response, interrupt) = handle.wait_with_timeout(wait);
                let outcome = tokio::select! {
                    r = response => Some(r?),
                    _ = stop.cancelled() => None,
                };
                drop(interrupt);
                session = handle.done().await?;
                match outcome {
                    None => break,
                    Some(IdleResponse::NewData(_) | IdleResponse::Timeout) => {}
                    Some(IdleResponse::ManualInterrupt) => {}
                }
            } else {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(self.poll) => {}
                }
                session.noop().await?;
            }
        }
        let _ = session.logout().await;
        Ok(())
    }

    async fn fetch_new<T>(
        &self,
        mb: &MailboxConfig,
        session: &mut Session<T>,
    ) -> Result<Fetched, ImapError>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let selected = timed(session.select(&mb.folder)).await??;
        let uidvalidity = selected.uid_validity.unwrap_or(0);
        let state = sql::mailbox_state(&self.db, &mb.name).await?;
        let mut last_uid = match &state {
            Some(s) if s.uidvalidity == i64::from(uidvalidity) => s.last_uid as u32,
            Some(_) => {
                tracing::warn!(mailbox = %mb.name, "UIDVALIDITY changed: fetching the folder again");
                0
            }
            None => 0,
        };
        let mut out = Fetched {
            uidvalidity,
            last_uid,
            ..Fetched::default()
        };
        // "N:*" always matches the highest UID, even below N: filter.
        let mut uids: Vec<u32> = timed(session.uid_search(format!("UID {}:*", last_uid + 1)))
            .await??
            .into_iter()
            .filter(|u| *u > last_uid)
            .collect();
        uids.sort_unstable();
        for chunk in uids.chunks(CHUNK) {
            let set = chunk
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let mut messages: Vec<(u32, Vec<u8>)> = Vec::with_capacity(chunk.len());
            {
                let mut fetches = timed(session.uid_fetch(&set, "(UID BODY.PEEK[])")).await??;
                while let Some(f) = timed(fetches.next()).await? {
                    let f = f?;
                    if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                        messages.push((uid, body.to_vec()));
                    }
                }
            }
            messages.sort_by_key(|(uid, _)| *uid);
            let Some(highest) = messages.last().map(|(uid, _)| *uid) else {
                continue;
            };
            let raws = messages.into_iter().map(|(_, raw)| raw).collect();
            let source = Source::Imap {
                mailbox: mb.name.clone(),
            };
            for r in self.ingest.receive_batch(raws, &mb.stream, &source).await? {
                out.fetched += 1;
                match r.outcome {
                    super::Outcome::Stored => out.stored += 1,
                    super::Outcome::Duplicate => out.duplicates += 1,
                    super::Outcome::Quarantined => out.quarantined += 1,
                }
            }
            last_uid = highest;
            self.save(&mb.name, uidvalidity, last_uid, None).await?;
        }
        out.last_uid = last_uid;
        self.save(&mb.name, uidvalidity, last_uid, None).await?;
        self.metrics
            .pipeline
            .mailbox_last_poll
            .get_or_create(&MailboxLabel {
                mailbox: mb.name.clone(),
            })
            .set(self.clock.now().timestamp_micros() as f64 / 1e6);
        Ok(out)
    }

    async fn save(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        last_uid: u32,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        sql::save_mailbox_state(
            &mut tx,
            &MailboxState {
                mailbox: mailbox.to_owned(),
                uidvalidity: i64::from(uidvalidity),
                last_uid: i64::from(last_uid),
                last_poll_at: Some(self.clock.now().timestamp_micros()),
                last_error: error,
            },
        )
        .await?;
        tx.commit().await
    }

    async fn record_error(&self, mailbox: &str, error: &str) -> Result<(), StoreError> {
        let state = sql::mailbox_state(&self.db, mailbox).await?;
        let (v, uid) = state.map_or((0, 0), |s| (s.uidvalidity as u32, s.last_uid as u32));
        self.save(mailbox, v, uid, Some(error.to_owned())).await
    }

    async fn tls(
        &self,
        mb: &MailboxConfig,
        stream: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| ImapError::Tls(format!("{}: {e}", path.display())))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| ImapError::Tls(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| ImapError::Tls(format!("{}: {e}", path.display())))?;
            }
        }
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(mb.host.clone())
            .map_err(|e| ImapError::Tls(e.to_string()))?;
        timed(tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream))
            .await?
            .map_err(|e| ImapError::Tls(e.to_string()))
    }
}

async fn connect(mb: &MailboxConfig) -> Result<TcpStream, ImapError> {
    let addr = format!("{}:{}", mb.host, mb.port);
    timed(TcpStream::connect(&addr))
        .await?
        .map_err(|e| ImapError::Connect(addr, e))
}

async fn login<T>(mb: &MailboxConfig, stream: T) -> Result<Session<T>, ImapError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let password = std::env::var(&mb.password_env)
        .map_err(|_| ImapError::NoPassword(mb.password_env.clone()))?;
    let mut client = async_imap::Client::new(stream);
    match timed(client.read_response()).await? {
        Some(Ok(_greeting)) => {}
        Some(Err(e)) => return Err(ImapError::Protocol(e.into())),
        None => return Err(ImapError::Closed),
    }
    timed(client.login(&mb.username, password))
        .await?
        .map_err(|(e, _)| ImapError::Protocol(e))
}

async fn timed<F: std::future::Future>(f: F) -> Result<F::Output, ImapError> {
    tokio::time::timeout(IO_TIMEOUT, f)
        .await
        .map_err(|_| ImapError::Timeout)
}

/// Runs one watcher per enabled mailbox and follows changes made through
/// the API: every `every`, started, stopped or restarted as the list says.
pub async fn supervise(fetcher: Arc<Fetcher>, every: Duration, stop: CancellationToken) {
    let mut running: HashMap<String, (MailboxConfig, CancellationToken)> = HashMap::new();
    loop {
        match sql::mailboxes(&fetcher.db).await {
            Ok(rows) => {
                let wanted: HashMap<String, MailboxConfig> = rows
                    .iter()
                    .filter(|r| r.enabled)
                    .map(|r| (r.name.clone(), MailboxConfig::from_row(r)))
                    .collect();
                running.retain(|name, (cfg, token)| {
                    let keep = wanted.get(name) == Some(cfg);
                    if !keep {
                        token.cancel();
                    }
                    keep
                });
                for (name, cfg) in wanted {
                    if running.contains_key(&name) {
                        continue;
                    }
                    let token = stop.child_token();
                    let f = fetcher.clone();
                    let (c, t) = (cfg.clone(), token.clone());
                    tokio::spawn(async move { f.watch(c, t).await });
                    running.insert(name, (cfg, token));
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the mailbox list"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
