//! The socket side of Tally: the codec's bytes over HTTP, one request at a
//! time, with timeouts, retries and a circuit breaker.
//!
//! Tally's XML server handles one request at a time and queues the rest, so a
//! second request while one is running only waits longer. Pebble therefore
//! holds one slot per Tally; a lookup that cannot get the slot within its own
//! timeout gives up (and the caller answers from the cache) rather than pile
//! up behind a long export or a hung request.

use std::sync::Arc;
use std::time::Duration;

use pebble_tally::{
    parse_companies, parse_ledgers, parse_stock_item, parse_stock_items, Company, Ledger, Limits,
    Query, Request, RequestError, Scope, StockItem, TallyError, WireEncoding,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use rand::Rng;

use super::breaker::Breaker;
use crate::clock::Clock;
use crate::config::Settings;
use crate::metrics::tally::RequestLabels;

/// How long the call may take: lookups are short (the cache can answer), syncs long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Lookup,
    Sync,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Tally is not reachable: {0}")]
    Transport(String),
    #[error("Tally did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Tally answered HTTP {0}")]
    Status(u16),
    #[error("circuit breaker open: Tally is left alone until the cool-down ends")]
    BreakerOpen,
    #[error("another request to Tally is still in flight")]
    Busy,
    #[error(transparent)]
    Tally(#[from] TallyError),
    #[error("invalid request: {0}")]
    Request(#[from] RequestError),
}

impl ClientError {
    /// A fault of the link or of Tally's process (worth a retry, counted by
    /// the breaker), as opposed to an answer Tally gave on purpose.
    fn is_fault(&self) -> bool {
        match self {
            ClientError::Transport(_) | ClientError::Timeout(_) | ClientError::Status(_) => true,
            ClientError::Tally(e) => matches!(
                e,
                TallyError::EmptyBody
                    | TallyError::TooLarge { .. }
                    | TallyError::MalformedEncoding { .. }
                    | TallyError::NotXml { .. }
                    | TallyError::Xml { .. }
                    | TallyError::Truncated { .. }
                    | TallyError::UnexpectedResponse { .. }
            ),
            _ => false,
        }
    }

    /// The failure class counted in `pebble_tally_requests_total`.
    fn class(&self) -> &'static str {
        match self {
            ClientError::Transport(_) => "transport",
            ClientError::Timeout(_) => "timeout",
            ClientError::Status(_) => "http_status",
            ClientError::BreakerOpen => "breaker_open",
            ClientError::Busy => "busy",
            ClientError::Request(_) => "invalid_request",
            ClientError::Tally(e) => match e {
                TallyError::LineError { .. }
                | TallyError::CompanyNotLoaded { .. }
                | TallyError::UnknownReport { .. }
                | TallyError::UnknownRequest
                | TallyError::Exception { .. }
                | TallyError::Rejected { .. }
                | TallyError::NoCompanyOpen => "refused",
                _ => "malformed",
            },
        }
    }
}

fn query_name(query: &Query) -> &'static str {
    match query {
        Query::Companies => "companies",
        Query::StockItems { .. } => "stock_items",
        Query::StockItem { .. } => "stock_item",
        Query::Ledgers { .. } => "ledgers",
        Query::Ledger { .. } => "ledger",
    }
}

pub struct TallyClient {
    http: reqwest::Client,
    url: String,
    scope: Scope,
    encoding: WireEncoding,
    slot: tokio::sync::Mutex<()>,
    pub breaker: Breaker,
    limits: Limits,
    retries: u32,
    lookup_timeout: Duration,
    sync_timeout: Duration,
    requests: Family<RequestLabels, Counter>,
}

impl TallyClient {
    pub fn new(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        requests: Family<RequestLabels, Counter>,
    ) -> anyhow::Result<TallyClient> {
        let scope = if settings.tally_company.is_empty() {
            Scope::default()
        } else {
            Scope::company(&settings.tally_company)
                .map_err(|e| anyhow::anyhow!("tally_company: {e}"))?
        };
        let encoding = match settings.tally_encoding.as_str() {
            "utf16" | "utf-16" => WireEncoding::Utf16Le,
            "utf8" | "utf-8" => WireEncoding::Utf8,
            other => anyhow::bail!("tally_encoding: {other:?} is not utf16 or utf8"),
        };
        let url =
            url::Url::parse(&settings.tally_url).map_err(|e| anyhow::anyhow!("tally_url: {e}"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "tally_url: {} is not an http URL",
            settings.tally_url
        );
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(
                settings.tally_connect_timeout_ms.max(1),
            ))
            // Tally closes idle connections at will; a fresh one costs little on a LAN.
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(TallyClient {
            http,
            url: url.to_string(),
            scope,
            encoding,
            slot: tokio::sync::Mutex::new(()),
            breaker: Breaker::new(
                clock,
                settings.tally_breaker_failures,
                chrono::Duration::seconds(
                    i64::try_from(settings.tally_breaker_cooldown_secs)
                        .unwrap_or(i64::MAX / 2_000_000),
                ),
            ),
            limits: Limits {
                max_body_bytes: settings.tally_max_response_bytes,
            },
            retries: settings.tally_retries,
            lookup_timeout: Duration::from_millis(settings.tally_lookup_timeout_ms.max(1)),
            sync_timeout: Duration::from_secs(settings.tally_sync_timeout_secs.max(1)),
            requests,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn timeout(&self, mode: Mode) -> Duration {
        match mode {
            Mode::Lookup => self.lookup_timeout,
            Mode::Sync => self.sync_timeout,
        }
    }

    /// Tally's `GET /` banner (`TallyPrime Server is Running`).
    pub async fn ping(&self) -> Result<String, ClientError> {
        let bytes = self
            .guarded("ping", Mode::Lookup, 1, || async {
                self.exchange(self.http.get(&self.url), Mode::Lookup).await
            })
            .await?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    }

    pub async fn companies(&self) -> Result<Vec<Company>, ClientError> {
        self.call(Query::Companies, Mode::Lookup, parse_companies)
            .await
    }

    pub async fn stock_items(
        &self,
        changed_after: Option<u64>,
    ) -> Result<Vec<StockItem>, ClientError> {
        self.call(
            Query::StockItems { changed_after },
            Mode::Sync,
            parse_stock_items,
        )
        .await
    }

    pub async fn stock_item(&self, name: &str) -> Result<Option<StockItem>, ClientError> {
        self.call(
            Query::StockItem {
                name: name.to_owned(),
            },
            Mode::Lookup,
            parse_stock_item,
        )
        .await
    }

    pub async fn ledgers(&self) -> Result<Vec<Ledger>, ClientError> {
        self.call(
            Query::Ledgers {
                changed_after: None,
            },
            Mode::Sync,
            parse_ledgers,
        )
        .await
    }

    async fn call<T>(
        &self,
        query: Query,
        mode: Mode,
        parse: fn(&[u8], &Limits) -> Result<T, TallyError>,
    ) -> Result<T, ClientError> {
        let name = query_name(&query);
        let request = match Request::new(query, self.scope.clone()) {
            Ok(r) => r,
            Err(e) => {
                let e = ClientError::from(e);
                self.count(name, Err(&e));
                return Err(e);
            }
        };
        let body = request.body(self.encoding);
        // Every request Pebble sends is a read, so a retry cannot do harm;
        // lookups do not retry because the cache answers sooner.
        let attempts = match mode {
            Mode::Lookup => 1,
            Mode::Sync => 1 + self.retries,
        };
        self.guarded(name, mode, attempts, || async {
            let bytes = self
                .exchange(
                    self.http
                        .post(&self.url)
                        .header(reqwest::header::CONTENT_TYPE, self.encoding.content_type())
                        .body(body.clone()),
                    mode,
                )
                .await?;
            // Parse inside the attempt so that garbage counts as a fault and is retried.
            parse(&bytes, &self.limits).map_err(ClientError::from)
        })
        .await
    }

    /// Run `attempt` through the breaker, with retries and jittered backoff.
    async fn guarded<T, F, Fut>(
        &self,
        query: &'static str,
        mode: Mode,
        attempts: u32,
        attempt: F,
    ) -> Result<T, ClientError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut last = ClientError::BreakerOpen;
        for n in 0..attempts.max(1) {
            if n > 0 {
                tokio::time::sleep(backoff(n)).await;
            }
            if !self.breaker.allow() {
                self.count(query, Err(&ClientError::BreakerOpen));
                return Err(ClientError::BreakerOpen);
            }
            // One request in flight per Tally; waiting longer than the call's own
            // timeout would only hide a hung request.
            let slot = match tokio::time::timeout(self.timeout(mode), self.slot.lock()).await {
                Ok(slot) => slot,
                Err(_) => {
                    self.breaker.release();
                    self.count(query, Err(&ClientError::Busy));
                    return Err(ClientError::Busy);
                }
            };
            let result = attempt().await;
            drop(slot);
            self.count(query, result.as_ref().map(|_| ()));
            match result {
                Ok(v) => {
                    self.breaker.success();
                    return Ok(v);
                }
                Err(e) if e.is_fault() => {
                    self.breaker.failure();
                    tracing::warn!(error = %e, attempt = n + 1, "Tally request failed");
                    last = e;
                }
                Err(e) => {
                    // Tally answered, if unhelpfully: it is alive.
                    self.breaker.success();
                    return Err(e);
                }
            }
        }
        Err(last)
    }

    fn count(&self, query: &'static str, result: Result<(), &ClientError>) {
        let outcome = match result {
            Ok(()) => "ok",
            Err(e) => e.class(),
        };
        self.requests
            .get_or_create(&RequestLabels { query, outcome })
            .inc();
    }

    /// Send one request and read the body up to the size cap, all within the mode's timeout.
    async fn exchange(
        &self,
        builder: reqwest::RequestBuilder,
        mode: Mode,
    ) -> Result<Vec<u8>, ClientError> {
        let timeout = self.timeout(mode);
        let limit = self.limits.max_body_bytes;
        let work = async {
            let mut response = builder.send().await.map_err(transport)?;
            let status = response.status();
            if !status.is_success() {
                return Err(ClientError::Status(status.as_u16()));
            }
            if let Some(len) = response.content_length() {
                if len > limit as u64 {
                    return Err(TallyError::TooLarge {
                        len: usize::try_from(len).unwrap_or(usize::MAX),
                        limit,
                    }
                    .into());
                }
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > limit {
                    return Err(TallyError::TooLarge {
                        len: body.len() + chunk.len(),
                        limit,
                    }
                    .into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }
}

fn transport(e: reqwest::Error) -> ClientError {
    // The source chain says "connection refused" / "reset"; the top level only "error sending request".
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    ClientError::Transport(text)
}

/// Full jitter on an exponential base: 200 ms, 400 ms, … capped at 5 s.
fn backoff(attempt: u32) -> Duration {
    let cap = 200u64.saturating_mul(1 << attempt.min(5)).min(5_000);
    Duration::from_millis(rand::thread_rng().gen_range(cap / 2..=cap))
}
