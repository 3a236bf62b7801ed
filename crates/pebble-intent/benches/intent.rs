//! Intent model benchmarks: classification (model + evidence + product and
//! identifier extraction) per email on one core, training time on 5,000
//! emails, and the model file size. Also prints throughput and p50/p99
//! latency over the corpus in this thread's CPU time as well as wall time:
//! on a shared machine the CPU clock is what one core of its own would
//! take, the wall clock includes waiting for other processes.
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

/// A catalog of 494 items in the shape of a distributor's Tally stock list.
fn catalog() -> Vec<CatalogItem> {
    let brands = [
        "Polycab",
        "Finolex",
        "Havells",
        "KEI",
        "Anchor",
        "Legrand",
        "Schneider",
        "Siemens",
        "L&T",
        "Crompton",
        "Kirloskar",
        "V-Guard",
        "RR Kabel",
    ];
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
    // Resident memory with the shipped model loaded, before anything else
    // (the corpus, training) takes memory of its own.
    let before = rss_kib();
    let shipped = Model::from_bytes(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/models/intent-default.bin.gz"),
        )
        .expect("shipped model"),
    )
    .expect("load");
    let loaded = Classifier::new(shipped, &catalog());
    println!(
        "RSS: {} KiB before loading, {} KiB with the shipped model and a {}-item catalog loaded",
        before,
        rss_kib(),
        catalog().len()
    );
    drop(loaded);
    let all = corpus();
    let model = Model::train_on(&all, &[], TrainConfig::default());
    println!(
        "model {}: file {} bytes",
        model.meta.version,
        model.to_bytes().len()
    );
    let classifier = Classifier::new(model, &catalog());

    // Five passes over every corpus email, after a warm-up pass. Other
    // processes on a shared machine slow some passes down (their caches,
    // their hyper-threads): the fastest pass is the least disturbed.
    for e in &all {
        black_box(classifier.classify(&e.subject, &e.body, 2026));
    }
    let mut passes: Vec<(Duration, Duration)> = Vec::new();
    let (mut cpu, mut wall): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (pass_cpu, pass_wall) = (thread_cpu(), Instant::now());
        for e in &all {
            let (c, w) = (thread_cpu(), Instant::now());
            black_box(classifier.classify(&e.subject, &e.body, 2026));
            cpu.push(thread_cpu() - c);
            wall.push(w.elapsed());
        }
        passes.push((thread_cpu() - pass_cpu, pass_wall.elapsed()));
    }
    let rate = |d: Duration| all.len() as f64 / d.as_secs_f64();
    let mut by_cpu: Vec<Duration> = passes.iter().map(|p| p.0).collect();
    by_cpu.sort();
    let mut by_wall: Vec<Duration> = passes.iter().map(|p| p.1).collect();
    by_wall.sort();
    println!(
        "classify: {:.0} emails/s in CPU time (fastest of 5 passes; median pass {:.0}), {:.0} emails/s in wall time (fastest; median {:.0})",
        rate(by_cpu[0]),
        rate(by_cpu[2]),
        rate(by_wall[0]),
        rate(by_wall[2]),
    );
    for (clock, times) in [("CPU", &mut cpu), ("wall", &mut wall)] {
        times.sort();
        println!(
            "classify latency ({clock} time, {} classifications): p50 {:?}, p99 {:?}, max {:?}",
            times.len(),
            times[times.len() / 2],
            times[times.len() * 99 / 100],
            times[times.len() - 1]
        );
    }

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
    let c = thread_cpu();
    let w = Instant::now();
    black_box(Model::train_on(&five_k, &[], TrainConfig::default()));
    println!(
        "train 5000 emails: {:?} CPU, {:?} wall",
        thread_cpu() - c,
        w.elapsed()
    );
    g.throughput(Throughput::Elements(5000));
    g.bench_function("train 5000 emails", |b| {
        b.iter(|| black_box(Model::train_on(&five_k, &[], TrainConfig::default())))
    });
    g.finish();
}

/// Resident set size of this process (Linux), in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

criterion_group!(benches, bench);
criterion_main!(benches);
