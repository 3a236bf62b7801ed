//! Tally as Pebble uses it: a catalogue cache kept in sync, and stock lookups
//! that answer live while Tally is healthy and from the cache when it is not,
//! always saying which and how old.
//!
//! The wire format is `pebble-tally`'s; this module owns the socket
//! (`client`), the breaker, the cache (`store::tally`) and the simulator (`sim`).

pub mod breaker;
pub mod client;
pub mod sim;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use pebble_core::audit::{Actor, EventType, NewEvent};
use pebble_core::catalog::{CatalogItem, Exact};
use pebble_tally::StockItem;
use serde::Serialize;
use serde_json::json;

use crate::audit::{Audit, AuditError};
use crate::clock::Clock;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::store::tally::{self as cache, CachedItem, SyncState};
use crate::store::{Db, StoreError};
use breaker::BreakerState;
use client::{ClientError, TallyClient};

/// A full sync at least this often, because incremental syncs by AlterID do
/// not see items deleted in Tally.
const FULL_SYNC_EVERY_SECS: i64 = 24 * 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Live,
    Cache,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Live => "live",
            Source::Cache => "cache",
        }
    }
}

/// One item with where its figures came from and how old they are.
#[derive(Clone, Debug, Serialize)]
pub struct StockAnswer {
    #[serde(flatten)]
    pub item: CatalogItem,
    pub source: Source,
    /// When Pebble last read these figures from Tally.
    pub as_of: DateTime<Utc>,
    pub age_secs: i64,
}

/// The answer to a lookup: the item (if any), where the answer came from, and
/// why Tally itself was not asked or failed.
#[derive(Clone, Debug, Serialize)]
pub struct Lookup {
    pub product: String,
    pub item: Option<StockAnswer>,
    pub source: Source,
    pub tally_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("Tally answered with no stock items while the cache holds {cached}; refusing to wipe the cache")]
    WouldWipe { cached: i64 },
    #[error(transparent)]
    Tally(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum TallyServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

#[derive(Clone, Debug, Serialize)]
pub struct SyncReport {
    pub full: bool,
    /// Items written by this sync.
    pub items: usize,
    /// Items in the cache afterwards.
    pub cached: i64,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Health {
    pub url: String,
    pub company: Option<String>,
    pub breaker: BreakerState,
    pub cache_items: i64,
    /// Seconds since the last successful sync; `None` before the first.
    pub cache_age_secs: Option<i64>,
    pub last_sync: SyncStateView,
}

#[derive(Clone, Debug, Serialize)]
pub struct SyncStateView {
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_full_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub items: i64,
}

pub struct Tally {
    pub client: TallyClient,
    db: Db,
    audit: Arc<Audit>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    company: Option<String>,
    /// One sync at a time per process; the periodic worker skips a tick rather than queue.
    syncing: tokio::sync::Mutex<()>,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// What the cache keeps of a Tally stock item. The rate is the home-currency
/// rate, the quantity the one in the first (base) unit.
pub fn cached_item(item: StockItem, synced_at: i64) -> CachedItem {
    let exact = |d: pebble_tally::Decimal| d.to_string().parse::<Exact>().ok();
    CachedItem {
        item: CatalogItem {
            sku: item
                .part_number
                .clone()
                .unwrap_or_else(|| item.name.clone()),
            tally_name: item.name,
            aliases: item.aliases,
            unit: item.unit.or(item.closing_qty.unit.clone()),
            rate_inr: item.rate.and_then(|r| exact(r.amount)),
            closing_qty: exact(item.closing_qty.value).unwrap_or_else(Exact::zero),
            group: item.group,
        },
        part_number: item.part_number,
        alter_id: item.alter_id.and_then(|a| i64::try_from(a).ok()),
        synced_at,
    }
}

impl Tally {
    pub async fn new(
        settings: &Settings,
        db: Db,
        audit: Arc<Audit>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Tally> {
        let client = TallyClient::new(settings, clock.clone(), metrics.tally.requests.clone())?;
        if let Some(at) = cache::sync_state(&db).await?.last_success_at {
            metrics.tally.synced_at(at);
        }
        Ok(Tally {
            client,
            db,
            audit,
            clock,
            metrics,
            company: (!settings.tally_company.is_empty()).then(|| settings.tally_company.clone()),
            syncing: tokio::sync::Mutex::new(()),
        })
    }

    fn answer(&self, c: CachedItem, source: Source) -> StockAnswer {
        let as_of = from_micros(c.synced_at);
        StockAnswer {
            item: c.item,
            source,
            as_of,
            age_secs: (self.clock.now() - as_of).num_seconds().max(0),
        }
    }

    /// Copy Tally's stock items into the cache: everything (`full`, the first
    /// time, or once a day), otherwise what changed after the highest cached
    /// AlterID. Records `TallySyncCompleted` whatever the outcome.
    pub async fn sync(&self, full: bool, actor: Actor) -> Result<SyncReport, TallyServiceError> {
        let _one = self.syncing.lock().await;
        let started = Instant::now();
        let now = self.clock.now();
        let result = self.sync_inner(full, now).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let cached = cache::count(&self.db).await?;
        let (items, error) = match &result {
            Ok((_, n)) => (*n, None),
            Err(e) => (0, Some(e.to_string())),
        };
        cache::record_sync(
            &self.db,
            micros(now),
            match &result {
                Ok((full, _)) => Ok(*full),
                Err(_) => Err(error.as_deref().unwrap_or_default()),
            },
            cached,
        )
        .await?;
        self.audit
            .record(&[NewEvent::new(
                EventType::TallySyncCompleted,
                actor,
                "tally",
                self.client.url(),
                json!({
                    "items": items,
                    "duration_ms": duration_ms,
                    "ok": result.is_ok(),
                    "error": error,
                    "full": result.as_ref().map(|(f, _)| *f).unwrap_or(full),
                    "cached": cached,
                }),
                now,
            )])
            .await?;
        match result {
            Ok((full, items)) => {
                self.metrics.tally.synced_at(micros(now));
                tracing::info!(items, full, cached, duration_ms, "Tally sync completed");
                Ok(SyncReport {
                    full,
                    items,
                    cached,
                    duration_ms,
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, duration_ms, "Tally sync failed");
                Err(e.into())
            }
        }
    }

    async fn sync_inner(&self, full: bool, now: DateTime<Utc>) -> Result<(bool, usize), SyncError> {
        let cached = cache::count(&self.db).await?;
        let state = cache::sync_state(&self.db).await?;
        let stale_full = state
            .last_full_at
            .is_none_or(|at| micros(now) - at > FULL_SYNC_EVERY_SECS * 1_000_000);
        let since = if full || cached == 0 || stale_full {
            None
        } else {
            cache::max_alter_id(&self.db)
                .await?
                .and_then(|a| u64::try_from(a).ok())
        };
        let items = self.client.stock_items(since).await?;
        // An empty full export over a non-empty cache is far more likely a
        // wrong or reloaded company than a business that sold off everything.
        if since.is_none() && items.is_empty() && cached > 0 {
            return Err(SyncError::WouldWipe { cached });
        }
        let rows: Vec<CachedItem> = items
            .into_iter()
            .map(|i| cached_item(i, micros(now)))
            .collect();
        cache::write(&self.db, &rows, since.is_none()).await?;
        Ok((since.is_none(), rows.len()))
    }

    /// Stock for one product: live from Tally when it answers within the
    /// lookup timeout, else from the cache. Records `TallyLookup`.
    pub async fn lookup(&self, product: &str, actor: Actor) -> Result<Lookup, TallyServiceError> {
        let started = Instant::now();
        let cached = cache::find(&self.db, product).await?;
        // Ask Tally by its own name for the item when the cache knows an alias or SKU.
        let tally_name = cached
            .as_ref()
            .map(|c| c.item.tally_name.clone())
            .unwrap_or_else(|| product.to_owned());
        let (item, source, tally_error) = match self.client.stock_item(&tally_name).await {
            Ok(found) => (
                found.map(|i| self.answer(cached_item(i, micros(self.clock.now())), Source::Live)),
                Source::Live,
                None,
            ),
            Err(e) => (
                cached.map(|c| self.answer(c, Source::Cache)),
                Source::Cache,
                Some(e.to_string()),
            ),
        };
        let outcome = match (&item, &tally_error) {
            (Some(_), _) => "found",
            (None, None) => "not_found",
            (None, Some(_)) => "failed",
        };
        self.metrics
            .tally
            .lookup(outcome, source.as_str(), started.elapsed().as_secs_f64());
        let now = self.clock.now();
        self.audit
            .record(&[NewEvent::new(
                EventType::TallyLookup,
                actor,
                "product",
                item.as_ref()
                    .map(|i| i.item.tally_name.as_str())
                    .unwrap_or(product),
                json!({
                    "product": product,
                    "stock_returned": item.as_ref().map(|i| i.item.closing_qty.as_str()),
                    "unit": item.as_ref().and_then(|i| i.item.unit.as_deref()),
                    "timestamp": now.to_rfc3339(),
                    "source": source,
                    "age_secs": item.as_ref().map(|i| i.age_secs),
                    "ok": item.is_some(),
                }),
                now,
            )])
            .await?;
        Ok(Lookup {
            product: product.to_owned(),
            item,
            source,
            tally_error,
        })
    }

    /// The cached item answering exactly to `name`, without asking Tally.
    pub async fn cached(&self, name: &str) -> Result<Option<StockAnswer>, StoreError> {
        Ok(cache::find(&self.db, name)
            .await?
            .map(|c| self.answer(c, Source::Cache)))
    }

    /// Search the cache by name, alias or SKU; an exact match gets live stock
    /// when the breaker is closed.
    pub async fn search(
        &self,
        q: &str,
        limit: i64,
        actor: Actor,
    ) -> Result<Vec<StockAnswer>, TallyServiceError> {
        let mut found: Vec<StockAnswer> = cache::search(&self.db, q, limit)
            .await?
            .into_iter()
            .map(|c| self.answer(c, Source::Cache))
            .collect();
        let key = q.trim().to_lowercase();
        let exact = found.iter().position(|a| {
            std::iter::once(&a.item.tally_name)
                .chain(&a.item.aliases)
                .chain(std::iter::once(&a.item.sku))
                .any(|n| n.trim().to_lowercase() == key)
        });
        if let Some(i) = exact {
            if self.client.breaker.state() == BreakerState::Closed {
                let name = found[i].item.tally_name.clone();
                if let Some(live) = self.lookup(&name, actor).await?.item {
                    found[i] = live;
                }
            }
        }
        Ok(found)
    }

    pub async fn health(&self) -> Result<Health, StoreError> {
        let state: SyncState = cache::sync_state(&self.db).await?;
        let cache_items = cache::count(&self.db).await?;
        let at = |v: Option<i64>| v.map(from_micros);
        Ok(Health {
            url: self.client.url().to_owned(),
            company: self.company.clone(),
            breaker: self.client.breaker.state(),
            cache_items,
            cache_age_secs: state
                .last_success_at
                .map(|s| (self.clock.now() - from_micros(s)).num_seconds().max(0)),
            last_sync: SyncStateView {
                last_attempt_at: at(state.last_attempt_at),
                last_success_at: at(state.last_success_at),
                last_full_at: at(state.last_full_at),
                last_error: state.last_error,
                items: state.items,
            },
        })
    }
}
