//! The durable SMTP outbox: approved replies go out from here, threaded to
//! the email they answer, with retries, backoff and a dead letter.
//!
//! # Never twice
//!
//! SMTP commits a message when the server answers the final `.` of DATA.
//! Pebble cannot ask a server afterwards whether it has a message, so the one
//! window that matters is between writing that dot and recording the answer.
//! Each attempt moves its row through states, every change conditional on
//! the worker still holding the row's lease:
//!
//! 1. `queued` → `attempting`: claimed with a lease longer than the attempt's
//!    deadline (`smtp_timeout_secs` + [`LEASE_MARGIN`]), attempt counted.
//! 2. Connect, TLS, AUTH, `MAIL`, `RCPT`, `DATA`. Any failure here means the
//!    server has no message: retry with backoff, or dead-letter (a permanent
//!    5xx refusal, or no attempts left).
//! 3. `attempting` → `committing`, committed to the database *before* the
//!    message and its dot are written; if the lease was lost meanwhile the
//!    worker aborts without writing them.
//! 4. Write the message; on `250` record `sent` (with `EmailSent`, the
//!    draft's outcome and the response time) in one transaction. A refusal
//!    (4xx/5xx) after the dot is definite: retry or dead-letter. No answer
//!    (timeout, broken connection) leaves the outcome unknown: `unknown`.
//!
//! After a crash, a row left `attempting` past its lease never reached step
//! 4 (a connection dropped before the dot aborts the SMTP transaction), so it
//! is queued again; a row left `committing` may have been delivered, so it
//! becomes `unknown` and is never resent by Pebble itself. A person resolves
//! it (`POST /api/v1/outbox/{id}/confirm-sent` after finding it delivered, or
//! `…/requeue` accepting the risk of a duplicate). At most once, always; a
//! message is delayed rather than doubled.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailBodyParameter, MailParameter};
use lettre::Address;
use pebble_core::audit::{Actor, EventType, NewEvent};
use rand::Rng;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::audit::{Audit, AuditError};
use crate::clock::Clock;
use crate::config::Settings;
use crate::metrics::drafts::SendLabel;
use crate::metrics::Metrics;
use crate::store::drafts::{self as draft_sql, Draft};
use crate::store::outbox::{self as sql, OutboxRow};
use crate::store::{Db, StoreError, Tx};

/// How much longer a claim lasts than the attempt's own deadline, so that a
/// live worker's lease never runs out under it.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Retry delays double up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("{setting}: {detail}")]
    Config {
        setting: &'static str,
        detail: String,
    },
    #[error("sending is not configured: {0}")]
    NotConfigured(&'static str),
    #[error("{field}: {detail}")]
    BadInput { field: &'static str, detail: String },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

fn config(setting: &'static str, detail: impl Into<String>) -> OutboxError {
    OutboxError::Config {
        setting,
        detail: detail.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tls {
    None,
    Starttls,
    Implicit,
}

#[derive(Clone, Debug)]
struct Server {
    host: String,
    port: u16,
    tls: Tls,
}

impl Server {
    fn parse(url: &str) -> Result<Server, OutboxError> {
        let u = url::Url::parse(url).map_err(|e| config("smtp_url", e.to_string()))?;
        let implicit = match u.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(config(
                    "smtp_url",
                    format!("scheme {other:?}: use smtp:// or smtps://"),
                ))
            }
        };
        if !u.username().is_empty() || u.password().is_some() {
            return Err(config(
                "smtp_url",
                "put credentials in smtp_username / smtp_password (the environment), not the URL",
            ));
        }
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| config("smtp_url", "no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let mut tls = if implicit { Tls::Implicit } else { Tls::None };
        for (k, v) in u.query_pairs() {
            match (k.as_ref(), v.as_ref(), implicit) {
                ("tls", "required", false) => tls = Tls::Starttls,
                ("tls", "none", false) => tls = Tls::None,
                _ => {
                    return Err(config(
                        "smtp_url",
                        format!("unknown option {k}={v}; smtp:// takes tls=required or tls=none"),
                    ))
                }
            }
        }
        Ok(Server {
            port: u.port().unwrap_or(if implicit { 465 } else { 25 }),
            host,
            tls,
        })
    }

    fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// How one attempt ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Sent,
    /// The server has no message; try again later.
    Retry(String),
    /// The server refused it for good, or attempts ran out.
    Dead(String),
    /// The dot was written and no answer came.
    Unknown(String),
    /// Another worker took the row over; this one wrote no dot.
    LostLease,
}

/// What one pass over the due messages did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    pub sent: u32,
    pub retried: u32,
    pub dead: u32,
    pub unknown: u32,
    /// Claims of stopped workers put back in the queue.
    pub recovered: u32,
}

pub struct Outbox {
    db: Db,
    audit: Arc<Audit>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    server: Option<Server>,
    credentials: Option<Credentials>,
    from: Option<Address>,
    from_by_stream: HashMap<String, Address>,
    sender_name: String,
    timeout: Duration,
    max_attempts: u32,
    backoff: Duration,
    pub poll: Duration,
    worker_id: String,
    wake: Notify,
}

impl Outbox {
    pub fn new(
        settings: &Settings,
        db: Db,
        audit: Arc<Audit>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Outbox, OutboxError> {
        let server = match settings.smtp_url.trim() {
            "" => None,
            url => Some(Server::parse(url)?),
        };
        let credentials = match (&settings.smtp_username, &settings.smtp_password) {
            (Some(u), Some(p)) => Some(Credentials::new(
                u.expose_secret().to_owned(),
                p.expose_secret().to_owned(),
            )),
            (None, None) => None,
            _ => {
                return Err(config(
                    "smtp_username",
                    "set both smtp_username and smtp_password, or neither",
                ))
            }
        };
        if let (Some(s), Some(_)) = (&server, &credentials) {
            if s.tls == Tls::None && !s.is_loopback() {
                return Err(config(
                    "smtp_url",
                    "refusing to send SMTP credentials unencrypted: use smtps:// or ?tls=required",
                ));
            }
        }
        let address = |setting: &'static str, text: &str| {
            text.trim()
                .parse::<Address>()
                .map_err(|e| config(setting, format!("{text:?}: {e}")))
        };
        let from = match settings.smtp_from.trim() {
            "" => None,
            f => Some(address("smtp_from", f)?),
        };
        let mut from_by_stream = HashMap::new();
        for pair in settings
            .smtp_from_by_stream
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (stream, addr) = pair.split_once('=').ok_or_else(|| {
                config(
                    "smtp_from_by_stream",
                    format!("{pair:?} is not stream=address"),
                )
            })?;
            from_by_stream.insert(
                stream.trim().to_owned(),
                address("smtp_from_by_stream", addr)?,
            );
        }
        if server.is_some() && from.is_none() && from_by_stream.is_empty() {
            return Err(config("smtp_from", "set it when smtp_url is set"));
        }
        if settings.outbox_max_attempts == 0 {
            return Err(config("outbox_max_attempts", "must be at least 1"));
        }
        Ok(Outbox {
            db,
            audit,
            clock,
            metrics,
            server,
            credentials,
            from,
            from_by_stream,
            sender_name: settings.business_name.trim().to_owned(),
            timeout: Duration::from_secs(settings.smtp_timeout_secs.max(1)),
            max_attempts: settings.outbox_max_attempts,
            backoff: Duration::from_secs(settings.outbox_backoff_secs),
            poll: Duration::from_millis(settings.outbox_poll_ms.max(50)),
            worker_id: format!("{}:{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            wake: Notify::new(),
        })
    }

    /// Is there a server to send to?
    pub fn is_configured(&self) -> bool {
        self.server.is_some()
    }

    /// Tell the worker a message is waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn woken(&self) {
        self.wake.notified().await
    }

    fn sender_for(&self, stream: &str) -> Option<&Address> {
        self.from_by_stream.get(stream).or(self.from.as_ref())
    }

    /// Compose the reply to an approved draft and queue it, in the caller's
    /// transaction: its Message-ID is fixed and recorded here, before any
    /// attempt. Returns the Message-ID.
    pub async fn enqueue(
        &self,
        tx: &mut Tx,
        draft: &Draft,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<String, OutboxError> {
        let from = self
            .sender_for(&draft.stream)
            .ok_or(OutboxError::NotConfigured(
                "set smtp_from (PEBBLE_SMTP_FROM) to approve replies",
            ))?;
        let to: Address = draft.to_addr.parse().map_err(|e| OutboxError::BadInput {
            field: "to",
            detail: format!(
                "{:?} is not an address replies can go to: {e}",
                draft.to_addr
            ),
        })?;
        let message_id = format!("{}@{}", uuid::Uuid::new_v4().simple(), from.domain());
        let refs: Vec<String> = serde_json::from_str(&draft.refs).unwrap_or_default();
        let message = compose(
            Mailbox::new(
                (!self.sender_name.is_empty()).then(|| self.sender_name.clone()),
                from.clone(),
            ),
            Mailbox::new(draft.to_name.clone(), to.clone()),
            &draft.subject,
            draft.in_reply_to.as_deref(),
            &refs,
            &message_id,
            now,
            body,
        )?;
        sql::enqueue(
            tx,
            &OutboxRow {
                id: uuid::Uuid::new_v4().to_string(),
                draft_id: draft.id.clone(),
                message_id: message_id.clone(),
                from_addr: from.to_string(),
                to_addr: to.to_string(),
                message,
                status: "queued".into(),
                attempts: 0,
                next_attempt_at: now.timestamp_micros(),
                lease_owner: None,
                lease_until: None,
                last_error: None,
                created_at: now.timestamp_micros(),
                updated_at: now.timestamp_micros(),
                sent_at: None,
            },
        )
        .await?;
        Ok(message_id)
    }

    /// Recover the claims of stopped workers, then send every due message,
    /// one at a time. Background work that a test can step.
    pub async fn run_once(&self) -> Result<RunReport, OutboxError> {
        self.run(None).await
    }

    /// As [`Outbox::run_once`], stopping between messages once `stop` is
    /// cancelled: an attempt under way is finished and recorded, never cut.
    pub async fn run(&self, stop: Option<&CancellationToken>) -> Result<RunReport, OutboxError> {
        let mut report = RunReport::default();
        let Some(server) = self.server.clone() else {
            return Ok(report);
        };
        let now = self.clock.now().timestamp_micros();
        let (requeued, unknown, dead) =
            sql::recover_expired(&self.db, now, i64::from(self.max_attempts)).await?;
        report.recovered = u32::try_from(requeued).unwrap_or(u32::MAX);
        report.unknown += u32::try_from(unknown).unwrap_or(u32::MAX);
        for row in dead {
            self.give_up(&row).await?;
            report.dead += 1;
        }
        if unknown > 0 {
            tracing::error!(
                count = unknown,
                "replies whose delivery is unknown after a worker stopped; a person must resolve them"
            );
        }
        while !stop.is_some_and(CancellationToken::is_cancelled) {
            let now = self.clock.now();
            let lease = self.timeout + LEASE_MARGIN;
            let lease_until = now.timestamp_micros() + micros(lease);
            let Some(row) = sql::claim(
                &self.db,
                now.timestamp_micros(),
                &self.worker_id,
                lease_until,
            )
            .await?
            else {
                break;
            };
            let outcome = self.deliver(&server, &row).await;
            match self.record(&row, outcome).await? {
                Outcome::Sent => report.sent += 1,
                Outcome::Retry(_) => report.retried += 1,
                Outcome::Dead(_) => report.dead += 1,
                Outcome::Unknown(_) => report.unknown += 1,
                Outcome::LostLease => {}
            }
        }
        Ok(report)
    }

    /// One attempt, bounded by the deadline as a whole.
    async fn deliver(&self, server: &Server, row: &OutboxRow) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let secs = self.timeout.as_secs();
        // Both were checked when the reply was queued.
        let (Ok(from), Ok(to)) = (row.from_addr.parse(), row.to_addr.parse()) else {
            return Outcome::Dead("the stored sender or recipient address is invalid".into());
        };
        let open = self.open(server, row, from, to);
        let mut conn = match tokio::time::timeout_at(deadline, open).await {
            Err(_) => return Outcome::Retry(format!("no answer within {secs} s; not handed over")),
            Ok(Err(e)) if e.is_permanent() => return Outcome::Dead(format!("refused: {e}")),
            Ok(Err(e)) => return Outcome::Retry(e.to_string()),
            Ok(Ok(c)) => c,
        };
        let now = self.clock.now().timestamp_micros();
        match sql::mark_committing(&self.db, &row.id, &self.worker_id, now).await {
            Ok(true) => {}
            Ok(false) => {
                conn.abort().await;
                return Outcome::LostLease;
            }
            Err(e) => {
                conn.abort().await;
                return Outcome::Retry(format!("could not record the attempt: {e}"));
            }
        }
        let answer = tokio::time::timeout_at(deadline, conn.message(row.message.as_bytes())).await;
        match answer {
            Ok(Ok(_)) => {
                // The message is the server's now; a slow goodbye changes nothing.
                let _ = tokio::time::timeout(Duration::from_secs(2), conn.quit()).await;
                Outcome::Sent
            }
            Ok(Err(e)) if e.is_permanent() => Outcome::Dead(format!("refused: {e}")),
            Ok(Err(e)) if e.is_transient() => Outcome::Retry(format!("deferred: {e}")),
            Ok(Err(e)) => Outcome::Unknown(format!(
                "the connection failed after the message was handed over: {e}"
            )),
            Err(_) => Outcome::Unknown(format!(
                "no answer within {secs} s after the message was handed over"
            )),
        }
    }

    /// Connect and open the transaction up to `DATA`'s 354.
    async fn open(
        &self,
        server: &Server,
        row: &OutboxRow,
        from: Address,
        to: Address,
    ) -> Result<AsyncSmtpConnection, lettre::transport::smtp::Error> {
        let hello = ClientId::default();
        let tls = |host: &str| TlsParameters::new(host.to_owned());
        let implicit = match server.tls {
            Tls::Implicit => Some(tls(&server.host)?),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (server.host.as_str(), server.port),
            Some(self.timeout),
            &hello,
            implicit,
            None,
        )
        .await?;
        if server.tls == Tls::Starttls {
            conn.starttls(tls(&server.host)?, &hello).await?;
        }
        if let Some(c) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], c).await?;
        }
        let mut params = Vec::new();
        if !row.message.is_ascii() {
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        conn.command(Mail::new(Some(from), params)).await?;
        conn.command(Rcpt::new(to, vec![])).await?;
        conn.command(Data).await?;
        Ok(conn)
    }

    /// Write the outcome; returns it (a retry past the last attempt is dead).
    async fn record(&self, row: &OutboxRow, outcome: Outcome) -> Result<Outcome, OutboxError> {
        let now = self.clock.now();
        let at = now.timestamp_micros();
        let outcome = match outcome {
            Outcome::Retry(e) if row.attempts >= i64::from(self.max_attempts) => {
                Outcome::Dead(format!("gave up after {} attempts: {e}", row.attempts))
            }
            o => o,
        };
        match &outcome {
            Outcome::Sent => self.record_sent(row, now).await?,
            Outcome::Retry(e) => {
                let next = at + micros(self.backoff_for(row.attempts));
                let mut tx = self.db.begin().await?;
                sql::mark_failed(&mut tx, &row.id, &self.worker_id, at, next, false, e).await?;
                tx.commit().await?;
                self.count("retry");
                tracing::warn!(outbox_id = row.id, attempts = row.attempts, error = %e, "reply not sent; will retry");
            }
            Outcome::Dead(e) => {
                let mut tx = self.db.begin().await?;
                if sql::mark_failed(&mut tx, &row.id, &self.worker_id, at, at, true, e).await? {
                    draft_sql::set_outcome(&mut tx, &row.draft_id, None).await?;
                }
                tx.commit().await?;
                self.count("dead");
                tracing::error!(outbox_id = row.id, attempts = row.attempts, error = %e, "reply dead-lettered");
            }
            Outcome::Unknown(e) => {
                sql::mark_unknown(&self.db, &row.id, &self.worker_id, at, e).await?;
                self.count("unknown");
                tracing::error!(outbox_id = row.id, error = %e, "reply delivery unknown; not resending");
            }
            Outcome::LostLease => {
                tracing::warn!(
                    outbox_id = row.id,
                    "claim lost before sending; another worker has it"
                );
            }
        }
        Ok(outcome)
    }

    async fn record_sent(&self, row: &OutboxRow, now: DateTime<Utc>) -> Result<(), OutboxError> {
        let at = now.timestamp_micros();
        let mut tx = self.db.begin().await?;
        let marked = sql::mark_sent(&mut tx, &row.id, &self.worker_id, at).await?;
        if !marked {
            // Recovery judged this claim dead and made it unknown; the server's
            // 250 settles it.
            sql::confirm_sent(&mut tx, &row.id, at).await?;
        }
        let draft = self
            .finish(&mut tx, row, now, Actor::system("outbox"), None)
            .await?;
        self.audit.commit(tx).await?;
        self.count("sent");
        self.observe_response(&draft, at);
        tracing::info!(
            outbox_id = row.id,
            message_id = row.message_id,
            "reply sent"
        );
        Ok(())
    }

    /// Mark the draft sent and record `EmailSent`, in `tx`.
    async fn finish(
        &self,
        tx: &mut Tx,
        row: &OutboxRow,
        now: DateTime<Utc>,
        actor: Actor,
        confirmed_by: Option<&str>,
    ) -> Result<Draft, OutboxError> {
        let at = now.timestamp_micros();
        draft_sql::set_outcome(tx, &row.draft_id, Some(at)).await?;
        let draft = draft_sql::get_tx(tx, &row.draft_id)
            .await?
            .ok_or(OutboxError::NotFound)?;
        self.audit
            .append(
                tx,
                &[NewEvent::new(
                    EventType::EmailSent,
                    actor,
                    "draft",
                    &row.draft_id,
                    json!({
                        "draft_id": row.draft_id,
                        "message_id": row.message_id,
                        "to": row.to_addr,
                        "email_id": draft.email_id,
                        "attempts": row.attempts,
                        "confirmed_by": confirmed_by,
                        "response_secs": (at - draft.received_at) / 1_000_000,
                    }),
                    now,
                )],
            )
            .await?;
        Ok(draft)
    }

    fn observe_response(&self, draft: &Draft, sent_at: i64) {
        let secs = (sent_at - draft.received_at).max(0) as f64 / 1e6;
        self.metrics.drafts.response_time.observe(secs);
    }

    /// A stopped worker's message out of attempts: its draft failed.
    async fn give_up(&self, row: &OutboxRow) -> Result<(), OutboxError> {
        let mut tx = self.db.begin().await?;
        draft_sql::set_outcome(&mut tx, &row.draft_id, None).await?;
        tx.commit().await?;
        self.count("dead");
        tracing::error!(
            outbox_id = row.id,
            "reply dead-lettered after its worker stopped"
        );
        Ok(())
    }

    fn count(&self, outcome: &'static str) {
        self.metrics
            .drafts
            .sent
            .get_or_create(&SendLabel { outcome })
            .inc();
    }

    /// `backoff × 2^(attempt-1)`, at most an hour, plus up to a tenth of jitter
    /// so that many replies failing together do not retry together.
    fn backoff_for(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        let base = self.backoff.saturating_mul(1 << exp).min(MAX_BACKOFF);
        let jitter = rand::thread_rng().gen_range(0.0..0.1);
        base + base.mul_f64(jitter)
    }

    pub async fn list(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, OutboxError> {
        Ok(sql::list(&self.db, status, limit).await?)
    }

    pub async fn get(&self, id: &str) -> Result<OutboxRow, OutboxError> {
        sql::get(&self.db, id).await?.ok_or(OutboxError::NotFound)
    }

    /// Send a dead or unknown reply again. An unknown one may already have
    /// arrived, so the caller must accept a possible duplicate.
    pub async fn requeue(
        &self,
        id: &str,
        user_id: &str,
        accept_duplicate: bool,
    ) -> Result<OutboxRow, OutboxError> {
        let row = self.get(id).await?;
        if row.status == "unknown" && !accept_duplicate {
            return Err(OutboxError::BadInput {
                field: "accept_duplicate",
                detail: "this reply may already have been delivered; check the recipient's copy, \
                         then confirm it sent, or requeue with accept_duplicate: true"
                    .into(),
            });
        }
        let now = self.clock.now().timestamp_micros();
        let mut tx = self.db.begin().await?;
        if !sql::requeue(&mut tx, id, now).await? {
            return Err(OutboxError::Conflict(format!(
                "only dead or unknown replies can be requeued; this one is {}",
                row.status
            )));
        }
        draft_sql::set_outcome_approved(&mut tx, &row.draft_id).await?;
        tx.commit().await?;
        tracing::warn!(
            outbox_id = id,
            user_id,
            previous = row.status,
            "reply requeued by hand"
        );
        self.wake();
        self.get(id).await
    }

    /// A person found an unknown reply delivered: record it sent.
    pub async fn confirm_sent(&self, id: &str, user_id: &str) -> Result<OutboxRow, OutboxError> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let row = sql::get_tx(&mut tx, id)
            .await?
            .ok_or(OutboxError::NotFound)?;
        if !sql::confirm_sent(&mut tx, id, now.timestamp_micros()).await? {
            return Err(OutboxError::Conflict(format!(
                "only a reply whose delivery is unknown can be confirmed; this one is {}",
                row.status
            )));
        }
        let draft = self
            .finish(&mut tx, &row, now, Actor::user(user_id), Some(user_id))
            .await?;
        self.audit.commit(tx).await?;
        self.observe_response(&draft, now.timestamp_micros());
        self.get(id).await
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The reply as RFC 5322 text, threaded to the original (RFC 5322 §3.6.4).
#[allow(clippy::too_many_arguments)]
pub fn compose(
    from: Mailbox,
    to: Mailbox,
    subject: &str,
    in_reply_to: Option<&str>,
    references: &[String],
    message_id: &str,
    date: DateTime<Utc>,
    body: &str,
) -> Result<String, OutboxError> {
    let mut b = lettre::Message::builder()
        .message_id(Some(format!("<{message_id}>")))
        .from(from)
        .to(to)
        .subject(subject)
        .date(SystemTime::from(date));
    if let Some(id) = in_reply_to {
        b = b.in_reply_to(format!("<{id}>"));
    }
    if !references.is_empty() {
        let refs: Vec<String> = references.iter().map(|r| format!("<{r}>")).collect();
        b = b.references(refs.join(" "));
    }
    let message = b
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| OutboxError::BadInput {
            field: "text",
            detail: format!("cannot compose the reply: {e}"),
        })?;
    String::from_utf8(message.formatted()).map_err(|_| OutboxError::BadInput {
        field: "text",
        detail: "the composed reply is not UTF-8".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_say_where_and_how() {
        let s = Server::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("127.0.0.1", 2525, Tls::None)
        );
        assert!(s.is_loopback());
        let s = Server::parse("smtp://mail.example.in:587?tls=required").unwrap();
        assert_eq!((s.port, s.tls), (587, Tls::Starttls));
        assert!(!s.is_loopback());
        assert_eq!(Server::parse("smtps://mail.example.in").unwrap().port, 465);
        for bad in [
            "http://x",
            "smtp://u:p@host",
            "smtp://host?tls=maybe",
            "smtps://host?tls=none",
            "not a url",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reply_is_threaded_and_carries_its_message_id() {
        let date = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 15, 9, 30, 0).unwrap();
        let text = compose(
            "Demo Electricals <sales@demo.in>".parse().unwrap(),
            "Ramesh <ramesh@sharma.in>".parse().unwrap(),
            "Re: Rate for 2.5 sq mm wire — urgent",
            Some("orig@sharma.in"),
            &["first@sharma.in".into(), "orig@sharma.in".into()],
            "abc@demo.in",
            date,
            "Dear Ramesh,\n₹2,590.00 per Coil\n",
        )
        .unwrap();
        assert!(text.contains("Message-ID: <abc@demo.in>\r\n"), "{text}");
        assert!(text.contains("In-Reply-To: <orig@sharma.in>\r\n"), "{text}");
        assert!(
            text.contains("References: <first@sharma.in> <orig@sharma.in>\r\n"),
            "{text}"
        );
        // Whole header or only the non-ASCII word: lettre's choice; either is RFC 2047.
        let subject = text.lines().find(|l| l.starts_with("Subject: ")).unwrap();
        assert!(
            subject.contains("=?utf-8?"),
            "non-ASCII subject encoded: {text}"
        );
        assert!(text.is_ascii(), "the body is transfer-encoded");
        let parsed = crate::mail::parse(text.as_bytes(), &Default::default()).unwrap();
        assert_eq!(parsed.subject, "Re: Rate for 2.5 sq mm wire — urgent");
        assert_eq!(parsed.in_reply_to.as_deref(), Some("orig@sharma.in"));
        assert_eq!(parsed.references, vec!["first@sharma.in", "orig@sharma.in"]);
        assert!(parsed.body.contains("₹2,590.00 per Coil"));
    }
}
