//! Parsing a full stock export: 10,000 items in UTF-16LE, the size of a large
//! distributor's catalogue. Target: under 100 ms.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pebble_tally::{
    parse_stock_items, render_stock_items, Amount, Decimal, Limits, MasterCounts, Quantity, Rate,
    StockItem, WireEncoding,
};

const ITEMS: usize = 10_000;

fn catalogue() -> Vec<StockItem> {
    (0..ITEMS)
        .map(|i| {
            let qty = Decimal::new(i as i128 % 500, 0).expect("small");
            let rate = Decimal::new(25_000 + i as i128, 2).expect("small");
            let value = Decimal::new(-(qty.mantissa() * rate.mantissa()), 2).expect("small");
            StockItem {
                name: format!("Item {i:05} PVC Pipe & Fitting (Grade {})", i % 7),
                guid: Some(format!("f0347998-2c19-4a5e-a4ed-01f589cb92a5-{i:08x}")),
                aliases: vec![format!("IT-{i:05}")],
                part_number: Some(format!("PN-{i:06}")),
                // Every third item sits under Primary and is written with the &#4; marker.
                group: (i % 3 != 0).then(|| format!("Group {}", i % 40)),
                unit: Some("Nos".into()),
                closing_qty: Quantity::new(qty, "Nos"),
                rate: Some(Rate::new(rate, "Nos")),
                closing_value: Some(Amount::from_signed(value)),
                alter_id: Some(1000 + i as u64),
            }
        })
        .collect()
}

fn parse_10k_utf16(c: &mut Criterion) {
    let items = catalogue();
    let counts = MasterCounts {
        stock_items: ITEMS as u64,
        ..MasterCounts::default()
    };
    let body = render_stock_items(&items, &counts, WireEncoding::Utf16Le);
    let limits = Limits::default();
    assert_eq!(
        parse_stock_items(&body, &limits).map(|v| v.len()),
        Ok(ITEMS)
    );

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);
    group.bench_function("stock_items_10k_utf16le", |b| {
        b.iter(|| parse_stock_items(std::hint::black_box(&body), &limits))
    });
    group.finish();
}

criterion_group!(benches, parse_10k_utf16);
criterion_main!(benches);
