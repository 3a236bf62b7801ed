//! Activity-stream benchmarks: durable append (single and batched) on SQLite
//! and, with PEBBLE_TEST_DATABASE_URL, PostgreSQL; chain verification rate;
//! entity search at 1M events. Export time and memory at 1M rows are measured
//! by `bench/export-1m.sh` (a separate process, for peak RSS).

use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use pebble::store::activity::{self, Filter, Page};
use pebble::store::Db;
use pebble_core::audit::{seal, Actor, ChainVerifier, EventType, NewEvent, GENESIS_HASH};

fn event(i: u64) -> NewEvent {
    NewEvent::new(
        EventType::EmailReceived,
        Actor::system("bench"),
        "email",
        format!("e{i}"),
        serde_json::json!({"message_id": format!("<{i}@x.in>"), "from": "purchase@buyer.in", "subject": "Rate for 32A DP MCB, 50 nos", "stream": "sales"}),
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    )
}

async fn fresh(url: Option<&str>, dir: &std::path::Path) -> Db {
    let url = match url {
        Some(base) => {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(base).await.unwrap();
            sqlx::query(&format!("create schema {schema}"))
                .execute(&pool)
                .await
                .unwrap();
            format!("{base}?options=-c%20search_path%3D{schema}")
        }
        None => format!(
            "sqlite://{}/{}.db",
            dir.display(),
            uuid::Uuid::new_v4().simple()
        ),
    };
    Db::open(&url, 4, "bench").await.unwrap()
}

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pg = std::env::var("PEBBLE_TEST_DATABASE_URL").ok();
    let mut backends = vec![("sqlite", None)];
    if let Some(url) = pg.as_deref() {
        backends.push(("postgres", Some(url)));
    }
    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(8));
    for (name, url) in backends {
        let db = rt.block_on(fresh(url, dir.path()));
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("single_durable", name), |b| {
            let mut i = 0;
            b.to_async(&rt).iter(|| {
                i += 1;
                let db = db.clone();
                async move {
                    let mut tx = db.begin().await.unwrap();
                    activity::append(&mut tx, &[event(i)], Utc::now())
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                }
            })
        });
        let batch: Vec<_> = (0..1000).map(event).collect();
        group.throughput(Throughput::Elements(batch.len() as u64));
        group.bench_function(BenchmarkId::new("batch_1000_durable", name), |b| {
            b.to_async(&rt).iter(|| {
                let (db, batch) = (db.clone(), batch.clone());
                async move {
                    let mut tx = db.begin().await.unwrap();
                    activity::append(&mut tx, &batch, Utc::now()).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        });
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    let mut prev = GENESIS_HASH;
    let chain: Vec<_> = (1..=100_000)
        .map(|seq| {
            let e = seal(
                &event(seq as u64),
                seq,
                uuid::Uuid::now_v7().to_string(),
                Utc::now(),
                &prev,
            );
            hex::decode_to_slice(&e.hash, &mut prev).unwrap();
            e
        })
        .collect();
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(chain.len() as u64));
    group.bench_function("chain_in_memory", |b| {
        b.iter_batched(
            ChainVerifier::default,
            |mut v| {
                for e in &chain {
                    v.check(e).unwrap();
                }
                v
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Entity search on a SQLite database of 1M events (seeded once and kept in
/// target/bench-data, because seeding takes longer than the measurement).
fn search(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/activity-1m.db", dir.display());
    let db = rt.block_on(async {
        let db = Db::open(&url, 4, "bench").await.unwrap();
        let (mut have, _) = activity::head(&db).await.unwrap();
        while have < 1_000_000 {
            let batch: Vec<_> = (have as u64..have as u64 + 10_000)
                .map(|i| {
                    let mut e = event(i);
                    e.entity_type = "company".into();
                    e.entity_id = format!("company-{}", i % 10_000);
                    e
                })
                .collect();
            let mut tx = db.begin().await.unwrap();
            activity::append(&mut tx, &batch, Utc::now()).await.unwrap();
            tx.commit().await.unwrap();
            have += 10_000;
        }
        db
    });
    let mut group = c.benchmark_group("search_1m");
    let mut k = 0u64;
    group.bench_function("entity_newest_50", |b| {
        b.to_async(&rt).iter(|| {
            k = (k + 7_919) % 10_000;
            let filter = Filter {
                entity_type: Some("company".into()),
                entity_id: Some(format!("company-{k}")),
                ..Filter::default()
            };
            let db = db.clone();
            async move {
                let page = activity::search(&db, &filter, Page::NewestFirst { before: None }, 50)
                    .await
                    .unwrap();
                assert_eq!(page.len(), 50);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, append, verify, search);
criterion_main!(benches);
