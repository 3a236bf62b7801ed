//! Intent model benchmarks: classification (model + evidence + product and
//! identifier extraction) per email on one core, training time on 5,000
//! emails, and the model file size. Also prints the p99 latency over the
//! corpus, which criterion does not report.
//!
//! `cargo bench -p pebble-intent --bench intent`

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pebble_core::catalog::CatalogItem;
use pebble_intent::classify::Classifier;
use pebble_intent::corpus::{parse_jsonl, Example};
use pebble_intent::model::{Model, TrainConfig};

fn corpus() -> Vec<Example> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/intents");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("data/intents")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| parse_jsonl(&std::fs::read_to_string(f).expect("read")).expect("parse"))
        .collect()
}

/// A catalog of 500 items in the shape of a distributor's Tally stock list.
fn catalog() -> Vec<CatalogItem> {
    let brands = ["Polycab", "Finolex", "Havells", "KEI", "Anchor"];
    let mut items = Vec::new();
    for (b, brand) in brands.iter().enumerate() {
        for size in ["0.75", "1", "1.5", "2.5", "4", "6", "10", "16"] {
            items.push(item(
                &format!("W-{b}-{size}"),
                &format!("{brand} {size} sq mm FR PVC Wire 90m"),
                "coil",
            ));
        }
        for amps in [6, 10, 16, 20, 25, 32, 40, 63] {
            for pole in ["SP", "DP", "TP"] {
                items.push(item(
                    &format!("MCB-{b}-{amps}-{pole}"),
                    &format!("{brand} {amps}A {pole} MCB C-Curve"),
                    "nos",
                ));
            }
        }
        for hp in ["0.5", "1", "1.5", "2", "3", "5"] {
            items.push(item(
                &format!("P-{b}-{hp}"),
                &format!("{brand} {hp} HP Monoblock Pump"),
                "nos",
            ));
        }
    }
    items.truncate(500);
    items
}

fn item(sku: &str, name: &str, unit: &str) -> CatalogItem {
    CatalogItem {
        sku: sku.into(),
        tally_name: name.into(),
        aliases: vec![],
        unit: Some(unit.into()),
        rate_inr: Some("100".parse().unwrap()),
        closing_qty: "10".parse().unwrap(),
        group: None,
    }
}

fn bench(c: &mut Criterion) {
    let all = corpus();
    let model = Model::train_on(&all, &[], TrainConfig::default());
    println!(
        "model {}: file {} bytes",
        model.meta.version,
        model.to_bytes().len()
    );
    let classifier = Classifier::new(model, &catalog());

    // p99 over every corpus email, after a warm-up pass.
    for e in &all {
        black_box(classifier.classify(&e.subject, &e.body, 2026));
    }
    let mut times: Vec<Duration> = all
        .iter()
        .map(|e| {
            let t = Instant::now();
            black_box(classifier.classify(&e.subject, &e.body, 2026));
            t.elapsed()
        })
        .collect();
    times.sort();
    let total: Duration = times.iter().sum();
    println!(
        "classify: {:.0} emails/s, p50 {:?}, p99 {:?}, max {:?}",
        all.len() as f64 / total.as_secs_f64(),
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        times[times.len() - 1]
    );

    let mut g = c.benchmark_group("intent");
    g.throughput(Throughput::Elements(all.len() as u64));
    g.sample_size(10);
    g.bench_function("classify corpus (with extraction)", |b| {
        b.iter(|| {
            for e in &all {
                black_box(classifier.classify(&e.subject, &e.body, 2026));
            }
        })
    });

    // 5,000 emails: the corpus repeated with distinct ids.
    let five_k: Vec<Example> = all
        .iter()
        .cycle()
        .take(5000)
        .enumerate()
        .map(|(i, e)| Example {
            id: format!("{}-{i}", e.id),
            ..e.clone()
        })
        .collect();
    g.throughput(Throughput::Elements(5000));
    g.bench_function("train 5000 emails", |b| {
        b.iter(|| black_box(Model::train_on(&five_k, &[], TrainConfig::default())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
