//! The intent model's adapters: the embedded default model, reading the
//! corpus and catalog files, and the `pebble model` / `pebble classify`
//! commands' work. The model itself is the pure `pebble-intent` crate.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Datelike;
use pebble_core::catalog::CatalogItem;
use pebble_intent::classify::{Classification, Classifier};
use pebble_intent::corpus::{parse_jsonl, Example};
use pebble_intent::drift::{self, Profile};
use pebble_intent::model::{Model, TrainConfig};
use pebble_intent::Intent;
use serde::Serialize;

use crate::mail::{self, mbox};

/// The shipped model, built from `data/intents` by
/// `pebble model train --out data/models/intent-default.bin.gz`.
static DEFAULT_MODEL: &[u8] = include_bytes!("../data/models/intent-default.bin.gz");

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

/// `pebble model train`: train, print the held-out evaluation, write the model.
pub fn train(data: &Path, out: &Path, json: bool) -> anyhow::Result<()> {
    let corpus = load_corpus(data)?;
    let started = std::time::Instant::now();
    let model = Model::train_on_corpus(&corpus, TrainConfig::default());
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

/// `pebble model eval`: a model (default: the embedded one) on the held-out
/// test split of the corpus in `data`.
pub fn eval(data: &Path, model: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let corpus = load_corpus(data)?;
    let model = load_model(model)?;
    let e = model.evaluate(&Model::test_split(&corpus));
    if json {
        println!("{}", serde_json::to_string(&e)?);
    } else {
        println!("model {}\n{}", model.meta.version, e.render());
    }
    Ok(())
}

/// `pebble model drift`: PSI of the decisions on the messages of `mbox_data`
/// against the model's decisions on the corpus's held-out split. Prints the
/// report as JSON; returns false when it raises an alert.
pub fn drift(mbox_data: &[u8], data: &Path, model: Option<&Path>) -> anyhow::Result<bool> {
    let corpus = load_corpus(data)?;
    let model = load_model(model)?;
    let baseline: Vec<(Intent, f64)> = Model::test_split(&corpus)
        .iter()
        .map(|e| {
            let p = model.predict(&e.subject, &e.body);
            (p.intent, p.confidence)
        })
        .collect();
    let recent: Vec<(Intent, f64)> = mbox::split(mbox_data)
        .iter()
        .filter_map(|raw| mail::parse(raw, &mail::Limits::default()).ok())
        .map(|m| {
            let p = model.predict(&m.subject, &m.body);
            (p.intent, p.confidence)
        })
        .collect();
    anyhow::ensure!(!recent.is_empty(), "no readable messages in the mbox");
    let report = drift::report(Profile::of(&baseline), Profile::of(&recent));
    println!("{}", serde_json::to_string(&report)?);
    Ok(report.status != drift::Status::Alert)
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
    model: Option<&Path>,
    catalog: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let items = match catalog {
        Some(p) => load_catalog(p)?,
        None => Vec::new(),
    };
    let classifier = Classifier::new(load_model(model)?, &items);
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
