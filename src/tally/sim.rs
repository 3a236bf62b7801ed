//! A Tally stand-in for demos and fault tests: answers Pebble's requests (and
//! Tally's `GET /` probe) in Tally's own response bytes, from a catalogue
//! file, with injectable faults. It proves nothing about Tally; the codec's
//! fixtures do that.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::NaiveDate;
use pebble_core::catalog::CatalogItem;
use pebble_tally::{
    recognise, render_companies, render_company_not_loaded, render_ledgers, render_line_error,
    render_stock_items, render_unknown_request, Amount, Company, Decimal, Ledger, MasterCounts,
    Quantity, Query, Rate, StockItem, WireEncoding,
};
use rand::Rng;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};

/// What the simulator can be told to do wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Accept the request and never answer.
    Hang,
    /// Reset every connection as soon as it is accepted.
    Reset,
    /// Answer 200 with an HTML error page instead of XML.
    Garbage,
    /// Answer correctly, after `slow_ms`.
    Slow,
    /// Answer every export with a `LINEERROR`.
    Lineerror,
}

/// A party in the `--ledgers` file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimLedger {
    pub name: String,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub gstin: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub company: String,
    pub catalog: Vec<CatalogItem>,
    pub ledgers: Vec<SimLedger>,
    pub latency: Duration,
    /// Share of requests answered with an empty body (Tally's "company closed" shape).
    pub fail_rate: f64,
    pub encoding: WireEncoding,
    pub fault: Option<Fault>,
    pub slow: Duration,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            company: "Demo Electricals".into(),
            catalog: Vec::new(),
            ledgers: Vec::new(),
            latency: Duration::ZERO,
            fail_rate: 0.0,
            encoding: WireEncoding::Utf16Le,
            fault: None,
            slow: Duration::from_secs(5),
        }
    }
}

struct Sim {
    company: String,
    items: RwLock<Vec<StockItem>>,
    ledgers: Vec<Ledger>,
    latency: Duration,
    fail_rate: f64,
    encoding: WireEncoding,
    fault: Mutex<Option<Fault>>,
    slow: Duration,
    requests: AtomicU64,
}

impl Sim {
    fn fault(&self) -> Option<Fault> {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulator; dropping it stops the server.
pub struct SimHandle {
    pub addr: SocketAddr,
    sim: Arc<Sim>,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        *self.sim.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    /// Replace the catalogue Tally serves (e.g. with nothing, as after a company reload).
    pub fn set_catalog(&self, catalog: &[CatalogItem]) {
        *self.sim.items.write().unwrap_or_else(|p| p.into_inner()) = stock_items(catalog);
    }

    /// Requests received (POST and GET), faults included.
    pub fn requests(&self) -> u64 {
        self.sim.requests.load(Ordering::Relaxed)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bind `127.0.0.1:0` and serve in the background: for tests and the demo.
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sim = build(config);
    let app = router(sim.clone());
    let served = sim.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            FaultyListener {
                inner: listener,
                sim: served,
            },
            app,
        )
        .await;
    });
    Ok(SimHandle { addr, sim, task })
}

/// Serve on `listener` until the process ends (`pebble tally-sim`).
pub async fn serve(listener: TcpListener, config: SimConfig) -> std::io::Result<()> {
    let sim = build(config);
    axum::serve(
        FaultyListener {
            inner: listener,
            sim: sim.clone(),
        },
        router(sim),
    )
    .await
}

fn build(config: SimConfig) -> Arc<Sim> {
    Arc::new(Sim {
        company: config.company,
        items: RwLock::new(stock_items(&config.catalog)),
        ledgers: ledgers(&config.ledgers),
        latency: config.latency,
        fail_rate: config.fail_rate.clamp(0.0, 1.0),
        encoding: config.encoding,
        fault: Mutex::new(config.fault),
        slow: config.slow,
        requests: AtomicU64::new(0),
    })
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new().fallback(handle).with_state(sim)
}

/// Resets connections at accept time while the `reset` fault is on.
struct FaultyListener {
    inner: TcpListener,
    sim: Arc<Sim>,
}

impl axum::serve::Listener for FaultyListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            if self.sim.fault() == Some(Fault::Reset) {
                self.sim.requests.fetch_add(1, Ordering::Relaxed);
                // Linger 0: close with RST, as a crashed Tally or a firewall would.
                let _ = stream.set_zero_linger();
                drop(stream);
                continue;
            }
            return (stream, addr);
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

fn xml(body: Vec<u8>, encoding: WireEncoding) -> Response {
    ([(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
}

async fn handle(State(sim): State<Arc<Sim>>, method: Method, body: Bytes) -> Response {
    sim.requests.fetch_add(1, Ordering::Relaxed);
    if !sim.latency.is_zero() {
        tokio::time::sleep(sim.latency).await;
    }
    match sim.fault() {
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::Slow) => tokio::time::sleep(sim.slow).await,
        Some(Fault::Garbage) => {
            return (
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response()
        }
        _ => {}
    }
    if method == Method::GET {
        return "<RESPONSE>TallyPrime Server is Running</RESPONSE>".into_response();
    }
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let enc = sim.encoding;
    if sim.fault() == Some(Fault::Lineerror) {
        return xml(
            render_line_error("Could not find Report 'Pebble'!", enc),
            enc,
        );
    }
    if sim.fail_rate > 0.0 && rand::thread_rng().gen_bool(sim.fail_rate) {
        return (StatusCode::OK, "").into_response();
    }
    let request = match recognise(&body) {
        Ok(r) => r,
        Err(_) => return xml(render_unknown_request(enc), enc),
    };
    if let Some(company) = request.scope().company_name() {
        // Tally compares names without regard to case.
        if !company.eq_ignore_ascii_case(&sim.company) {
            return xml(render_company_not_loaded(company, enc), enc);
        }
    }
    let items = sim.items.read().unwrap_or_else(|p| p.into_inner()).clone();
    let counts = MasterCounts {
        groups: 28,
        ledgers: 2 + sim.ledgers.len() as u64,
        stock_items: items.len() as u64,
    };
    let body = match request.query() {
        Query::Companies => render_companies(
            &[Company {
                name: sim.company.clone(),
                books_from: NaiveDate::from_ymd_opt(2024, 4, 1),
                last_master_alter_id: items.iter().filter_map(|i| i.alter_id).max(),
                last_voucher_alter_id: Some(0),
                is_active: true,
            }],
            enc,
        ),
        Query::StockItems { changed_after } => {
            let after = changed_after.unwrap_or(0);
            let chosen: Vec<StockItem> = items
                .into_iter()
                .filter(|i| i.alter_id.unwrap_or(0) > after)
                .collect();
            render_stock_items(&chosen, &counts, enc)
        }
        Query::StockItem { name } => {
            let chosen: Vec<StockItem> = items
                .into_iter()
                .filter(|i| i.name.to_lowercase() == name.to_lowercase())
                .collect();
            render_stock_items(&chosen, &counts, enc)
        }
        Query::Ledgers { .. } => render_ledgers(&sim.ledgers, &counts, enc),
        Query::Ledger { name } => {
            let chosen: Vec<Ledger> = sim
                .ledgers
                .iter()
                .filter(|l| l.name.to_lowercase() == name.to_lowercase())
                .cloned()
                .collect();
            render_ledgers(&chosen, &counts, enc)
        }
    };
    xml(body, enc)
}

/// Catalogue entries as Tally would hold them; AlterIDs follow file order.
pub fn stock_items(catalog: &[CatalogItem]) -> Vec<StockItem> {
    let dec = |text: &str| text.parse::<Decimal>().ok();
    catalog
        .iter()
        .zip(1u64..)
        .map(|(c, alter_id)| {
            let qty = dec(c.closing_qty.as_str()).unwrap_or(Decimal::ZERO);
            let closing_qty = match &c.unit {
                Some(u) => Quantity::new(qty, u.clone()),
                None => Quantity {
                    value: qty,
                    ..Quantity::zero()
                },
            };
            let rate = c.rate_inr.as_ref().and_then(|r| dec(r.as_str()));
            let closing_value = rate
                .and_then(|r| Decimal::new(r.mantissa() * qty.mantissa(), r.scale() + qty.scale()))
                // Tally prints stock value as a debit.
                .map(|v| Amount::from_signed(-v));
            StockItem {
                name: c.tally_name.clone(),
                guid: Some(format!("pebble-sim-{alter_id:08}")),
                aliases: c.aliases.clone(),
                part_number: Some(c.sku.clone()),
                group: c.group.clone(),
                unit: c.unit.clone(),
                closing_qty,
                rate: rate.map(|r| Rate {
                    amount: r,
                    currency: None,
                    per_unit: c.unit.clone(),
                    forex: None,
                }),
                closing_value,
                alter_id: Some(alter_id),
            }
        })
        .collect()
}

fn ledgers(file: &[SimLedger]) -> Vec<Ledger> {
    file.iter()
        .zip(1u64..)
        .map(|(l, alter_id)| Ledger {
            name: l.name.clone(),
            guid: Some(format!("pebble-sim-ledger-{alter_id:08}")),
            aliases: l.aliases.clone(),
            group: l.group.clone(),
            gstin: l.gstin.clone(),
            gst_registrations: Vec::new(),
            state: l.state.clone(),
            closing_balance: None,
            alter_id: Some(alter_id),
        })
        .collect()
}
