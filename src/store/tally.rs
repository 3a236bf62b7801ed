//! The Tally catalogue cache and its sync state.

use pebble_core::catalog::{CatalogItem, Exact};
use sqlx::Row;

use super::{check_text, on_db, on_tx, Db, StoreError};

/// A cached stock item with what the sync knew about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedItem {
    pub item: CatalogItem,
    pub part_number: Option<String>,
    pub alter_id: Option<i64>,
    /// When this row was last written from Tally (µs).
    pub synced_at: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncState {
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_full_at: Option<i64>,
    pub last_error: Option<String>,
    pub items: i64,
}

macro_rules! cached_from_row {
    ($r:expr) => {{
        let r = $r;
        (|| -> Result<CachedItem, StoreError> {
            let aliases: String = r.try_get("aliases")?;
            let rate: Option<String> = r.try_get("rate")?;
            let qty: String = r.try_get("closing_qty")?;
            let corrupt =
                |what: &str| StoreError::Refused(format!("tally_catalog.{what} is corrupt"));
            Ok(CachedItem {
                item: CatalogItem {
                    sku: r.try_get("sku")?,
                    tally_name: r.try_get("tally_name")?,
                    aliases: serde_json::from_str(&aliases).map_err(|_| corrupt("aliases"))?,
                    unit: r.try_get("unit")?,
                    rate_inr: rate
                        .map(|t| t.parse::<Exact>())
                        .transpose()
                        .map_err(|_| corrupt("rate"))?,
                    closing_qty: qty.parse().map_err(|_| corrupt("closing_qty"))?,
                    group: r.try_get("stock_group")?,
                },
                part_number: r.try_get("part_number")?,
                alter_id: r.try_get("alter_id")?,
                synced_at: r.try_get("synced_at")?,
            })
        })()
    }};
}

/// Every lower-cased name an item answers to.
fn keys(item: &CatalogItem) -> Vec<String> {
    let mut keys: Vec<String> = std::iter::once(&item.tally_name)
        .chain(&item.aliases)
        .chain(std::iter::once(&item.sku))
        .map(|k| k.trim().to_lowercase())
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn check(item: &CachedItem) -> Result<(), StoreError> {
    check_text(&item.item.sku)?;
    check_text(&item.item.tally_name)?;
    for a in &item.item.aliases {
        check_text(a)?;
    }
    for t in [&item.item.unit, &item.item.group, &item.part_number]
        .into_iter()
        .flatten()
    {
        check_text(t)?;
    }
    Ok(())
}

/// Write items (insert or replace by Tally name); with `replace_all`, every
/// other cached item is removed first, in the same transaction.
pub async fn write(db: &Db, items: &[CachedItem], replace_all: bool) -> Result<(), StoreError> {
    for i in items {
        check(i)?;
    }
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |c| {
        if replace_all {
            sqlx::query("delete from tally_catalog_keys")
                .execute(&mut *c)
                .await?;
            sqlx::query("delete from tally_catalog")
                .execute(&mut *c)
                .await?;
        }
        for i in items {
            let aliases = serde_json::to_string(&i.item.aliases)
                .map_err(|e| StoreError::Refused(e.to_string()))?;
            sqlx::query(
                "insert into tally_catalog (tally_name, sku, aliases, part_number, unit, rate, closing_qty, stock_group, alter_id, synced_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 on conflict (tally_name) do update set sku = excluded.sku, aliases = excluded.aliases, \
                 part_number = excluded.part_number, unit = excluded.unit, rate = excluded.rate, \
                 closing_qty = excluded.closing_qty, stock_group = excluded.stock_group, \
                 alter_id = excluded.alter_id, synced_at = excluded.synced_at",
            )
            .bind(&i.item.tally_name)
            .bind(&i.item.sku)
            .bind(aliases)
            .bind(&i.part_number)
            .bind(&i.item.unit)
            .bind(i.item.rate_inr.as_ref().map(Exact::as_str))
            .bind(i.item.closing_qty.as_str())
            .bind(&i.item.group)
            .bind(i.alter_id)
            .bind(i.synced_at)
            .execute(&mut *c)
            .await?;
            sqlx::query("delete from tally_catalog_keys where tally_name = $1")
                .bind(&i.item.tally_name)
                .execute(&mut *c)
                .await?;
            for k in keys(&i.item) {
                sqlx::query(
                    "insert into tally_catalog_keys (search_key, tally_name) values ($1, $2)",
                )
                .bind(k)
                .bind(&i.item.tally_name)
                .execute(&mut *c)
                .await?;
            }
        }
    });
    tx.commit().await?;
    Ok(())
}

pub async fn count(db: &Db) -> Result<i64, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar(
        "select count(*) from tally_catalog"
    )
    .fetch_one(p)
    .await?))
}

/// Every cached item, by Tally name: the catalogue product extraction matches against.
pub async fn all(db: &Db) -> Result<Vec<CachedItem>, StoreError> {
    on_db!(db, |p| {
        let rows = sqlx::query("select * from tally_catalog order by tally_name")
            .fetch_all(p)
            .await?;
        rows.iter().map(|r| cached_from_row!(r)).collect()
    })
}

/// The highest AlterID cached: incremental syncs ask for what changed after it.
pub async fn max_alter_id(db: &Db) -> Result<Option<i64>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar(
        "select max(alter_id) from tally_catalog"
    )
    .fetch_one(p)
    .await?))
}

/// The item answering to `name` exactly (case-insensitive): its Tally name
/// first, then an alias or SKU.
pub async fn find(db: &Db, name: &str) -> Result<Option<CachedItem>, StoreError> {
    check_text(name)?;
    let key = name.trim().to_lowercase();
    on_db!(db, |p| {
        let row = sqlx::query(
            "select c.* from tally_catalog c where c.tally_name in \
             (select tally_name from tally_catalog_keys where search_key = $1) \
             order by case when c.tally_name = $2 then 0 else 1 end, c.tally_name limit 1",
        )
        .bind(&key)
        .bind(name)
        .fetch_optional(p)
        .await?;
        row.map(|r| cached_from_row!(&r)).transpose()
    })
}

/// Items whose name, an alias or the SKU contains `q` (case-insensitive).
pub async fn search(db: &Db, q: &str, limit: i64) -> Result<Vec<CachedItem>, StoreError> {
    check_text(q)?;
    let escaped: String = q
        .trim()
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let pattern = format!("%{escaped}%");
    on_db!(db, |p| {
        let rows = sqlx::query(
            "select c.* from tally_catalog c where c.tally_name in \
             (select tally_name from tally_catalog_keys where search_key like $1 escape '\\') \
             order by c.tally_name limit $2",
        )
        .bind(&pattern)
        .bind(limit)
        .fetch_all(p)
        .await?;
        rows.iter().map(|r| cached_from_row!(r)).collect()
    })
}

pub async fn sync_state(db: &Db) -> Result<SyncState, StoreError> {
    on_db!(db, |p| {
        let r = sqlx::query("select * from tally_sync_state where id = 1")
            .fetch_one(p)
            .await?;
        Ok(SyncState {
            last_attempt_at: r.try_get("last_attempt_at")?,
            last_success_at: r.try_get("last_success_at")?,
            last_full_at: r.try_get("last_full_at")?,
            last_error: r.try_get("last_error")?,
            items: r.try_get("items")?,
        })
    })
}

/// Note how a sync attempt ended.
pub async fn record_sync(
    db: &Db,
    at: i64,
    outcome: Result<bool, &str>,
    items: i64,
) -> Result<(), StoreError> {
    on_db!(db, |p| {
        match outcome {
            Ok(full) => {
                sqlx::query(
                    "update tally_sync_state set last_attempt_at = $1, last_success_at = $1, \
                     last_full_at = case when $2 then $1 else last_full_at end, last_error = null, items = $3 \
                     where id = 1",
                )
                .bind(at)
                .bind(full)
                .bind(items)
                .execute(p)
                .await?;
            }
            Err(error) => {
                sqlx::query(
                    "update tally_sync_state set last_attempt_at = $1, last_error = $2 where id = 1",
                )
                .bind(at)
                .bind(error.replace('\0', ""))
                .execute(p)
                .await?;
            }
        }
        Ok(())
    })
}
