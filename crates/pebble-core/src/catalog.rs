//! The stock catalog as Pebble reads and writes it everywhere: one JSON array
//! of items, usually synced from Tally.

use serde::{Deserialize, Serialize};

/// One stock item. `aliases` are the other names customers use for it
/// ("2.5 sq mm FR wire", "32A DP MCB").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    pub sku: String,
    pub tally_name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub unit: String,
    pub rate_inr: f64,
    pub closing_qty: f64,
    #[serde(default)]
    pub group: String,
}
