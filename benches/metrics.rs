//! The cost of metrics: one observation on a hot path (target < 100 ns) and
//! rendering `/metrics` with a realistic number of series (target < 5 ms).
//!
//! "Realistic" is a busy production instance: every API route with several
//! statuses (150 HTTP histograms), every activity-stream event type, eight
//! pipeline stages with three outcomes each, two streams and mailboxes, all
//! intents and deciders, every Tally query and outcome.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pebble::metrics::pipeline::{QuarantineLabels, StreamLabel};
use pebble::metrics::{HttpLabels, Metrics};
use pebble_core::audit::EventType;

const STAGES: [&str; 8] = [
    "parse", "classify", "extract", "link", "enrich", "draft", "send", "imap",
];
const INTENTS: [&str; 8] = [
    "order",
    "quote_request",
    "stock_query",
    "complaint",
    "payment",
    "delivery",
    "spam",
    "other",
];

fn busy_instance() -> Metrics {
    let m = Metrics::new("postgres");
    let paths: Vec<String> = pebble::http::openapi()
        .paths
        .paths
        .keys()
        .cloned()
        .collect();
    let mut http = 0;
    'fill: for status in [200u16, 400, 401, 403, 404, 409, 422, 429, 500] {
        for path in &paths {
            for method in ["GET", "POST"] {
                m.http_request_duration
                    .get_or_create(&HttpLabels {
                        route: path.clone(),
                        method,
                        status,
                    })
                    .observe(0.004);
                http += 1;
                if http == 150 {
                    break 'fill;
                }
            }
        }
    }
    for t in EventType::ALL {
        m.count_event(t.as_str());
    }
    for stream in ["sales", "support"] {
        m.pipeline
            .emails_ingested
            .get_or_create(&StreamLabel {
                stream: stream.into(),
            })
            .inc();
        m.pipeline
            .emails_quarantined
            .get_or_create(&QuarantineLabels {
                stream: stream.into(),
                reason: "unparsable",
            })
            .inc();
    }
    for stage in STAGES {
        for outcome in ["ok", "retry", "dead"] {
            m.pipeline.step(stage, outcome, 0.01);
        }
    }
    for intent in INTENTS {
        for by in ["classifier", "llm"] {
            m.ai.classified(intent, by, 0.9, 0.00005);
        }
    }
    for outcome in ["found", "not_found", "failed"] {
        for source in ["live", "cache"] {
            m.tally.lookup(outcome, source, 0.002);
        }
    }
    m
}

fn observe(c: &mut Criterion) {
    let m = Metrics::new("sqlite");
    let mut g = c.benchmark_group("observe");
    // What the HTTP middleware does per request: own the route label, find the
    // histogram for route/method/status, observe.
    g.bench_function("http_request_duration", |b| {
        b.iter(|| {
            m.http_request_duration
                .get_or_create(&HttpLabels {
                    route: black_box("/api/v1/leads/{id}").to_owned(),
                    method: "GET",
                    status: 200,
                })
                .observe(black_box(0.0042))
        })
    });
    g.bench_function("histogram_without_labels", |b| {
        b.iter(|| m.ai.latency.observe(black_box(0.00004)))
    });
    g.bench_function("counter_inc", |b| b.iter(|| m.rate_limited.inc()));
    // Latency, confidence, the labelled counter and the rolling override window.
    g.bench_function("classification", |b| {
        b.iter(|| {
            m.ai.classified(
                black_box("order"),
                "classifier",
                black_box(0.93),
                black_box(0.00004),
            )
        })
    });
    g.bench_function("tally_lookup", |b| {
        b.iter(|| m.tally.lookup(black_box("found"), "live", black_box(0.002)))
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    let m = busy_instance();
    let text = m.encode();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "/metrics for a busy instance: {series} samples, {} bytes",
        text.len()
    );
    c.bench_function("render_busy_instance", |b| b.iter(|| black_box(m.encode())));
}

criterion_group!(benches, observe, render);
criterion_main!(benches);
