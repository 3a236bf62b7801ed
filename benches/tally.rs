//! Cached stock lookups: the path every lookup takes while Tally is down.
//! A 10,000-item catalogue in SQLite; criterion measures the mean, and a
//! separate pass of 10,000 timed lookups prints the p50/p99 the issue asks
//! for (target p99 < 1 ms). The codec's parse benchmark (10,000-item UTF-16
//! export) is in `crates/pebble-tally/benches/parse.rs`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pebble::store::tally::{self, CachedItem};
use pebble::store::Db;
use pebble_core::catalog::CatalogItem;

const ITEMS: usize = 10_000;

fn item(i: usize) -> CachedItem {
    CachedItem {
        item: CatalogItem {
            sku: format!("SKU-{i:05}"),
            tally_name: format!("FR PVC Wire {}.5 sq mm (90 m coil) lot {i}", i % 7),
            aliases: vec![
                format!("{}.5 sq mm FR wire {i}", i % 7),
                format!("wire alias {i}"),
            ],
            unit: Some("Coil".into()),
            rate_inr: Some("2590.50".parse().unwrap()),
            closing_qty: format!("{}", i % 500).parse().unwrap(),
            group: Some("Wires & Cables".into()),
        },
        part_number: Some(format!("SKU-{i:05}")),
        alter_id: Some(i as i64 + 1),
        synced_at: 1_700_000_000_000_000,
    }
}

fn cached_lookup(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let db = rt.block_on(Db::open(&url, 4, "bench")).unwrap();
    let items: Vec<CachedItem> = (0..ITEMS).map(item).collect();
    rt.block_on(tally::write(&db, &items, true)).unwrap();

    // p50 / p99 over 10,000 lookups by alias, spread over the catalogue.
    let mut samples: Vec<Duration> = (0..ITEMS)
        .map(|n| {
            let key = format!("wire alias {}", (n * 7919) % ITEMS);
            let started = Instant::now();
            let found = rt.block_on(tally::find(&db, &key)).unwrap();
            let took = started.elapsed();
            assert!(found.is_some());
            took
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    eprintln!(
        "tally cached lookup over {ITEMS} items (sqlite): p50 {:?}, p99 {:?}, max {:?}",
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    );

    let mut n = 0usize;
    c.bench_function("tally_cached_lookup_by_alias_10k", |b| {
        b.to_async(&rt).iter(|| {
            n = (n + 7919) % ITEMS;
            let key = format!("wire alias {n}");
            let db = db.clone();
            async move { tally::find(&db, &key).await.unwrap() }
        })
    });
    c.bench_function("tally_cache_search_10k", |b| {
        b.to_async(&rt)
            .iter(|| async { tally::search(&db, "sq mm fr wire 12", 20).await.unwrap() })
    });
}

criterion_group!(benches, cached_lookup);
criterion_main!(benches);
