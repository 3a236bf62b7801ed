//! `pebble import mbox|maildir|eml PATH --stream S`: files into the same
//! receiving path as IMAP and the API, in batches that commit atomically.
//! A killed import leaves whole batches behind; running it again skips what
//! is there (dedup by Message-ID and content), so every message ends up
//! present exactly once.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::{Ingest, IngestError, Outcome, Source};
use crate::mail::mbox;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Mbox,
    Maildir,
    Eml,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub messages: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    /// Same Message-ID as an earlier email with other content (kept, flagged).
    pub conflicts: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a Maildir (no cur/ or new/ folder)")]
    NotMaildir(PathBuf),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Messages per transaction: large enough that the per-commit fsyncs
/// vanish in the cost, small enough that a kill loses little work.
pub const BATCH: usize = 200;

pub async fn import(
    ingest: &Ingest,
    format: Format,
    path: &Path,
    stream: &str,
    progress: bool,
) -> Result<Summary, ImportError> {
    ingest.check_stream(stream)?;
    let messages = match format {
        Format::Mbox => mbox::split(&read(path)?),
        Format::Maildir => maildir_files(path)?
            .iter()
            .map(|p| read(p))
            .collect::<Result<_, _>>()?,
        Format::Eml => eml_files(path)?
            .iter()
            .map(|p| read(p))
            .collect::<Result<_, _>>()?,
    };
    let bar = if progress {
        let bar = ProgressBar::new(messages.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} messages ({per_sec}, eta {eta})",
            )
            .expect("the template is valid"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut summary = Summary::default();
    let mut messages = messages.into_iter().peekable();
    while messages.peek().is_some() {
        let batch: Vec<Vec<u8>> = messages.by_ref().take(BATCH).collect();
        let n = batch.len() as u64;
        for r in ingest.receive_batch(batch, stream, &Source::Import).await? {
            summary.messages += 1;
            summary.conflicts += u64::from(r.conflict);
            match r.outcome {
                Outcome::Stored => summary.imported += 1,
                Outcome::Duplicate => summary.duplicates += 1,
                Outcome::Quarantined => summary.quarantined += 1,
            }
        }
        bar.inc(n);
    }
    bar.finish_and_clear();
    Ok(summary)
}

fn read(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ImportError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ImportError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if path.is_file() {
            files.push(path);
        }
    }
    // Maildir names start with the delivery time: sorted is delivery order.
    files.sort();
    Ok(files)
}

/// The messages of a Maildir: `new/` and `cur/` (never `tmp/`, which holds
/// deliveries in progress).
fn maildir_files(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let (cur, new) = (dir.join("cur"), dir.join("new"));
    if !cur.is_dir() && !new.is_dir() {
        return Err(ImportError::NotMaildir(dir.to_owned()));
    }
    let mut files = Vec::new();
    for sub in [new, cur] {
        if sub.is_dir() {
            files.extend(list(&sub)?);
        }
    }
    Ok(files)
}

/// One .eml file, or every file in a folder.
fn eml_files(path: &Path) -> Result<Vec<PathBuf>, ImportError> {
    if path.is_dir() {
        list(path)
    } else {
        Ok(vec![path.to_owned()])
    }
}
