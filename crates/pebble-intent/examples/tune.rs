//! Chooses training hyper-parameters by macro-F1 on the calibration split
//! (never the test split): `cargo run --release -p pebble-intent --example tune`.

use std::path::Path;

use pebble_intent::corpus::{parse_jsonl, split, Example, Part};
use pebble_intent::model::{Model, TrainConfig};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/intents");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("data/intents")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let all: Vec<Example> = files
        .iter()
        .flat_map(|f| parse_jsonl(&std::fs::read_to_string(f).expect("read")).expect("parse"))
        .collect();
    let parts = split(&all);
    let pick = |part| -> Vec<&Example> {
        all.iter()
            .zip(&parts)
            .filter(|(_, p)| **p == part)
            .map(|(e, _)| e)
            .collect()
    };
    let (train, cal) = (pick(Part::Train), pick(Part::Calibration));
    for bits in [18] {
        for epochs in [25, 40] {
            for learning_rate in [2.0, 4.0, 8.0] {
                for l2 in [1e-5, 1e-4] {
                    let config = TrainConfig {
                        bits,
                        epochs,
                        learning_rate,
                        l2,
                        seed: 42,
                    };
                    let m = Model::train(&train, &[], config, String::new());
                    let e = m.evaluate(&cal);
                    println!(
                        "bits={bits} epochs={epochs} lr={learning_rate} l2={l2:e}: macro-F1 {:.3}",
                        e.macro_f1
                    );
                }
            }
        }
    }
}
