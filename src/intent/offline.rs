//! The intent model without a database: the embedded default model,
//! reading the corpus and catalog files, and the commands that work on
//! files alone (`pebble classify`, `pebble model train --out`,
//! `pebble model eval --model`, `pebble model drift --mbox`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Datelike;
use pebble_core::catalog::CatalogItem;
use pebble_intent::classify::{Classification, Classifier};
use pebble_intent::corpus::{parse_jsonl, Example};
use pebble_intent::drift::{self, DriftReport, Profile};
use pebble_intent::eval::Evaluation;
use pebble_intent::model::{Model, TrainConfig};
use pebble_intent::Intent;
use serde::Serialize;

use crate::mail::{self, mbox};

/// The shipped model, built from `data/intents` by
/// `pebble model train --out data/models/intent-default.bin.gz` (a test
/// checks that this reproduces it).
static DEFAULT_MODEL: &[u8] = include_bytes!("../../data/models/intent-default.bin.gz");

/// Where the corpus and the shipped model live in the repository.
pub const DEFAULT_DATA: &str = "data/intents";
pub const DEFAULT_MODEL_PATH: &str = "data/models/intent-default.bin.gz";

pub fn default_model() -> anyhow::Result<Model> {
    Model::from_bytes(DEFAULT_MODEL).context("embedded default model")
}

/// `path` or, without one, the embedded default model.
pub fn load_model(path: Option<&Path>) -> anyhow::Result<Model> {
    match path {
        None => default_model(),
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Model::from_bytes(&bytes).with_context(|| format!("loading {}", p.display()))
        }
    }
}

/// Every `*.jsonl` file in `dir`, in file-name order.
pub fn load_corpus(dir: &Path) -> anyhow::Result<Vec<Example>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        all.extend(parse_jsonl(&text).with_context(|| f.display().to_string())?);
    }
    anyhow::ensure!(!all.is_empty(), "no examples in {}", dir.display());
    Ok(all)
}

/// The catalog file: a JSON array of [`CatalogItem`].
pub fn load_catalog(path: &Path) -> anyhow::Result<Vec<CatalogItem>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing catalog {}", path.display()))
}

/// `pebble model train --out FILE`: train on the corpus alone (no
/// corrections, no database), print the held-out evaluation, write the
/// model. This is how the shipped model is made.
pub fn train_to_file(data: &Path, out: &Path, json: bool) -> anyhow::Result<()> {
    let corpus = load_corpus(data)?;
    let started = std::time::Instant::now();
    let model = Model::train_on(&corpus, &[], TrainConfig::default());
    let elapsed = started.elapsed();
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let bytes = model.to_bytes();
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let eval = model
        .meta
        .evaluation
        .as_ref()
        .context("evaluation missing")?;
    if json {
        println!("{}", serde_json::to_string(&model.meta)?);
    } else {
        println!(
            "model {} trained on {} examples in {:.2}s (temperature {:.3}, {} bytes) -> {}",
            model.meta.version,
            model.meta.train_examples,
            elapsed.as_secs_f64(),
            model.meta.temperature,
            bytes.len(),
            out.display()
        );
        println!("training data snapshot {}", model.meta.training_snapshot);
        println!("\nheld-out test split:\n{}", eval.render());
    }
    Ok(())
}

/// The held-out evaluation of a model file on the corpus in `data`.
pub fn eval_file(data: &Path, model: &Path) -> anyhow::Result<(String, Evaluation)> {
    let corpus = load_corpus(data)?;
    let model = load_model(Some(model))?;
    let e = model.evaluate(&Model::test_split(&corpus));
    Ok((model.meta.version, e))
}

/// `pebble model drift --mbox`: PSI of the decisions on the messages of
/// `mbox_data` against the model's held-out baseline (recorded in the model;
/// computed from the corpus for a model that predates baselines).
pub fn drift_mbox(
    mbox_data: &[u8],
    data: &Path,
    model: Option<&Path>,
    thresholds: drift::Thresholds,
) -> anyhow::Result<DriftReport> {
    let model = load_model(model)?;
    let baseline = match model.meta.baseline.clone() {
        Some(b) => b,
        None => model.profile(&Model::test_split(&load_corpus(data)?)),
    };
    let recent: Vec<(Intent, f64)> = mbox::split(mbox_data)
        .iter()
        .filter_map(|raw| mail::parse(raw, &mail::Limits::default()).ok())
        .map(|m| {
            let p = model.predict(&m.subject, &m.body);
            (p.intent, p.confidence)
        })
        .collect();
    anyhow::ensure!(!recent.is_empty(), "no readable messages in the mbox");
    Ok(drift::report(baseline, Profile::of(&recent), thresholds))
}

/// One line of `pebble classify` output.
#[derive(Serialize)]
struct Line<'a> {
    message_id: Option<String>,
    #[serde(flatten)]
    classification: &'a Classification,
}

#[derive(Serialize)]
struct Unreadable {
    message_id: Option<String>,
    error: &'static str,
}

/// `pebble classify`: one message from `input`, or every message of an mbox,
/// one JSON line each, in order. A message that cannot be parsed yields an
/// `{"message_id": null, "error": "unparseable"}` line so output lines stay
/// aligned with input messages.
pub fn classify(
    input: &[u8],
    is_mbox: bool,
    model: Model,
    catalog: &[CatalogItem],
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let classifier = Classifier::new(model, catalog);
    let year = chrono::Utc::now().year();
    let messages = if is_mbox {
        mbox::split(input)
    } else {
        vec![input.to_vec()]
    };
    for raw in messages {
        match mail::parse(&raw, &mail::Limits::default()) {
            Ok(m) => {
                let classification = classifier.classify(&m.subject, &m.body, year);
                let line = Line {
                    message_id: m.message_id,
                    classification: &classification,
                };
                serde_json::to_writer(&mut *out, &line)?;
            }
            Err(_) => serde_json::to_writer(
                &mut *out,
                &Unreadable {
                    message_id: None,
                    error: "unparseable",
                },
            )?,
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
