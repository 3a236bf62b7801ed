//! The labelled corpus (`data/intents/*.jsonl`) and its deterministic split.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Intent;

/// One labelled email.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Example {
    pub id: String,
    pub subject: String,
    pub body: String,
    pub label: Intent,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CorpusError {
    pub line: usize,
    pub message: String,
}

/// Parses JSON lines (blank lines skipped), naming the first bad line.
pub fn parse_jsonl(text: &str) -> Result<Vec<Example>, CorpusError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| CorpusError {
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Which part of the split an example belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Train,
    Calibration,
    Test,
}

/// Percent of each label used for training, then for calibration; the rest
/// is the held-out test split.
pub const TRAIN_PERCENT: usize = 70;
pub const CALIBRATION_PERCENT: usize = 15;

/// Stratified split by id hash: within each label, examples are ordered by
/// SHA-256 of their id and cut 70/15/15. Deterministic, independent of file
/// order, and stable when examples are added (most keep their part).
pub fn split(examples: &[Example]) -> Vec<Part> {
    let mut parts = vec![Part::Train; examples.len()];
    for label in Intent::ALL {
        let mut members: Vec<(u64, usize)> = examples
            .iter()
            .enumerate()
            .filter(|(_, e)| e.label == label)
            .map(|(i, e)| (id_hash(&e.id), i))
            .collect();
        members.sort_unstable();
        let n = members.len();
        for (rank, (_, i)) in members.into_iter().enumerate() {
            let pct = rank * 100 / n.max(1);
            parts[i] = if pct < TRAIN_PERCENT {
                Part::Train
            } else if pct < TRAIN_PERCENT + CALIBRATION_PERCENT {
                Part::Calibration
            } else {
                Part::Test
            };
        }
    }
    parts
}

fn id_hash(id: &str) -> u64 {
    let d = Sha256::digest(format!("pebble-split-v1:{id}").as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// SHA-256 over the examples in id order: names the training data a model
/// was built from.
pub fn snapshot_hash<'a>(examples: impl IntoIterator<Item = &'a Example>) -> String {
    let mut sorted: Vec<&Example> = examples.into_iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut h = Sha256::new();
    for e in sorted {
        for field in [e.id.as_str(), e.label.as_str(), &e.subject, &e.body] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: &str, label: Intent) -> Example {
        Example {
            id: id.into(),
            subject: String::new(),
            body: id.into(),
            label,
            tags: vec![],
        }
    }

    #[test]
    fn the_split_is_stratified_and_ignores_order() {
        let mut all: Vec<Example> = (0..100)
            .map(|i| ex(&format!("a-{i}"), Intent::Spam))
            .chain((0..40).map(|i| ex(&format!("b-{i}"), Intent::Other)))
            .collect();
        let parts = split(&all);
        let count = |label, part| {
            all.iter()
                .zip(&parts)
                .filter(|(e, p)| e.label == label && **p == part)
                .count()
        };
        assert_eq!(count(Intent::Spam, Part::Train), 70);
        assert_eq!(count(Intent::Spam, Part::Test), 15);
        assert_eq!(count(Intent::Other, Part::Train), 28);
        let before: Vec<(String, Part)> = all.iter().map(|e| e.id.clone()).zip(parts).collect();
        all.reverse();
        let after = split(&all);
        for (e, p) in all.iter().zip(after) {
            assert!(before.contains(&(e.id.clone(), p)));
        }
        assert_eq!(snapshot_hash(&all), {
            all.reverse();
            snapshot_hash(&all)
        });
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = parse_jsonl(
            "{\"id\":\"x\",\"subject\":\"\",\"body\":\"b\",\"label\":\"spam\"}\n\n{\"id\":1}",
        )
        .unwrap_err();
        assert_eq!(err.line, 3);
        assert!(
            parse_jsonl("{\"id\":\"x\",\"subject\":\"\",\"body\":\"b\",\"label\":\"nope\"}")
                .is_err()
        );
    }
}
