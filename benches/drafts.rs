//! Template draft generation: facts for five requested products read from
//! a 10,000-item catalogue cache (SQLite), the template loaded, the text
//! rendered and checked for unsourced numbers — the part timed as
//! `pebble_draft_generation_latency_seconds`. A pass of 10,000 timed
//! generations prints p50/p99 (target p99 < 2 ms); criterion measures the
//! mean. Storing the draft with its `DraftGenerated` event is measured apart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pebble::clock::SystemClock;
use pebble::config::Settings;
use pebble::drafts::{DraftInput, EmailRef};
use pebble::store::tally::{self, CachedItem};
use pebble_core::catalog::{parse_catalog, CatalogItem};
use pebble_intent::products::ProductMatcher;
use pebble_intent::Intent;

const FILLER: usize = 10_000;
const RUNS: usize = 10_000;

fn cached(item: CatalogItem) -> CachedItem {
    CachedItem {
        part_number: Some(item.sku.clone()),
        item,
        alter_id: Some(1),
        synced_at: 1_768_469_400_000_000,
    }
}

fn filler(i: usize) -> CachedItem {
    cached(CatalogItem {
        sku: format!("SKU-{i:05}"),
        tally_name: format!("Filler Item {i} lot {}", i % 97),
        aliases: vec![format!("filler alias {i}")],
        unit: Some("Nos".into()),
        rate_inr: Some("125.50".parse().unwrap()),
        closing_qty: format!("{}", i % 500).parse().unwrap(),
        group: Some("Accessories".into()),
    })
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99), samples[samples.len() - 1])
}

fn generation(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        business_name: "Demo Electricals".into(),
        draft_terms: "Payment within 30 days; freight extra.".into(),
        // Nothing listens here: facts come from the cache, as when Tally is down.
        tally_url: "http://127.0.0.1:9".into(),
        tally_sync_interval_secs: 0,
        log: "error".into(),
        ..Settings::default()
    };
    let state = rt
        .block_on(pebble::startup::services(&settings, Arc::new(SystemClock)))
        .unwrap();
    let catalog = parse_catalog(include_bytes!("../data/demo/catalog.json")).unwrap();
    let mut rows: Vec<CachedItem> = catalog.iter().cloned().map(cached).collect();
    rows.extend((0..FILLER).map(filler));
    rt.block_on(tally::write(&state.db, &rows, true)).unwrap();

    let body = "Pls send rate and stock:\n2.5 sq mm FR wire 10 coil\n32A DP MCB 25 nos\n\
                6 sq mm FR wire 20 coil\n1 HP monoblock 2 nos\n25mm conduit 200 mtr\nRegards, Ramesh";
    let products = ProductMatcher::new(&catalog).find(body);
    assert_eq!(products.len(), 5, "{products:?}");
    let input = DraftInput {
        email: EmailRef {
            id: "bench".into(),
            stream: "sales".into(),
            message_id: Some("bench@customer.in".into()),
            from_addr: "ramesh@customer.in".into(),
            from_name: Some("Ramesh Iyer".into()),
            subject: "Rate required".into(),
            body_text: body.into(),
            received_at: 1_768_469_400_000_000,
            ..EmailRef::default()
        },
        intent: Intent::ProductInquiry,
        products,
        company_id: None,
        contact_id: None,
        assignee_id: None,
        stock: Vec::new(),
        absent: Vec::new(),
        history: None,
    };
    let drafts = state.drafts.clone();

    let samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let made = rt
                .block_on(drafts.compose(&input, "product_inquiry"))
                .unwrap();
            let took = started.elapsed();
            assert!(made.1.contains("₹2,590.00 per Coil"));
            took
        })
        .collect();
    let (p50, p99, max) = percentiles(samples);
    eprintln!(
        "template draft generation, 5 items from a {}-item cache (sqlite): p50 {p50:?}, p99 {p99:?}, max {max:?}",
        rows.len()
    );

    // Generation plus storing the draft and its DraftGenerated event (one commit).
    let stored: Vec<Duration> = (0..1_000)
        .map(|n| {
            let mut i = input.clone();
            i.email.id = format!("bench-{n}");
            let started = Instant::now();
            rt.block_on(drafts.generate(&i, None)).unwrap().unwrap();
            started.elapsed()
        })
        .collect();
    let (p50, p99, max) = percentiles(stored);
    eprintln!("generation + store + DraftGenerated (sqlite, fsync on commit): p50 {p50:?}, p99 {p99:?}, max {max:?}");

    c.bench_function("template_draft_5_items_10k_cache", |b| {
        b.to_async(&rt)
            .iter(|| async { drafts.compose(&input, "product_inquiry").await.unwrap() })
    });
}

criterion_group!(benches, generation);
criterion_main!(benches);
