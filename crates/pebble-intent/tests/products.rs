//! Product-SKU extraction measured on a labelled set written for it
//! (`data/products/labelled.jsonl` against the demo catalogue
//! `data/demo/catalog.json`; see `data/products/README.md`), through the
//! same path classification takes. Prints precision, recall, F1 and the
//! share of matched products with the right quantity:
//! `cargo test -p pebble-intent --test products -- --nocapture`.

use std::path::Path;

use pebble_core::catalog::parse_catalog;
use pebble_intent::classify::Classifier;
use pebble_intent::model::Model;
use serde::Deserialize;

/// Below what the matcher reaches (reported in data/products/README.md),
/// above what a matcher that misses aliases, units or specs scores.
const F1_FLOOR: f64 = 0.85;

#[derive(Deserialize)]
struct Labelled {
    id: String,
    subject: String,
    body: String,
    products: Vec<Expected>,
}

#[derive(Deserialize)]
struct Expected {
    sku: String,
    qty: Option<f64>,
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn product_extraction_on_the_labelled_set_clears_its_floor() {
    let catalog =
        parse_catalog(&std::fs::read(root().join("data/demo/catalog.json")).unwrap()).unwrap();
    let model = Model::from_bytes(
        &std::fs::read(root().join("data/models/intent-default.bin.gz")).unwrap(),
    )
    .unwrap();
    let classifier = Classifier::new(model, &catalog);
    let text = std::fs::read_to_string(root().join("data/products/labelled.jsonl")).unwrap();
    let (mut tp, mut fp, mut fn_, mut qty_right) = (0usize, 0usize, 0usize, 0usize);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let l: Labelled = serde_json::from_str(line).expect("labelled line");
        let found = classifier
            .classify(&l.subject, &l.body, 2026)
            .entities
            .products;
        for f in &found {
            // Never a SKU outside the catalogue.
            assert!(
                catalog.iter().any(|c| c.sku == f.sku),
                "{}: {}",
                l.id,
                f.sku
            );
            match l.products.iter().find(|e| e.sku == f.sku) {
                Some(e) => {
                    tp += 1;
                    if e.qty == f.qty {
                        qty_right += 1;
                    } else {
                        println!("{}: {} qty {:?}, expected {:?}", l.id, f.sku, f.qty, e.qty);
                    }
                }
                None => {
                    fp += 1;
                    println!("{}: extra {} (qty {:?})", l.id, f.sku, f.qty);
                }
            }
        }
        for e in &l.products {
            if !found.iter().any(|f| f.sku == e.sku) {
                fn_ += 1;
                println!("{}: missed {}", l.id, e.sku);
            }
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    let f1 = 2.0 * precision * recall / (precision + recall).max(f64::MIN_POSITIVE);
    println!(
        "product SKUs: precision {precision:.3}, recall {recall:.3}, F1 {f1:.3} \
         ({tp} right, {fp} extra, {fn_} missed); quantity right for {qty_right} of {tp}"
    );
    assert!(f1 >= F1_FLOOR, "F1 {f1:.3} < {F1_FLOOR}");
}
