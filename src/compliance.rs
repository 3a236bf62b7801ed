//! The quarterly compliance export of SPEC §8: every AI decision, every
//! manual override with its justification, every failed CIN/PAN/GSTIN
//! validation in one quarter, as CSV and XLSX, with a manifest that gives
//! each file's row count and SHA-256, the audit-chain verification result and
//! who exported it. The export is itself recorded (`DataExported`).
//!
//! One implementation behind `pebble report quarterly`, the API and the UI.
//! Rows come straight from the activity stream (the record regulators trust),
//! streamed, so memory stays flat however busy the quarter was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use futures::TryStreamExt;
use pebble_core::audit::{canonical_time, Actor, EventType, NewEvent, StoredEvent};
use rust_xlsxwriter::Workbook;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::audit::{Audit, AuditError, VerifyReport};
use crate::store::activity::{self, Filter};
use crate::store::Db;

pub const MANIFEST: &str = "manifest.json";
pub const FORMAT: &str = "pebble-quarterly-audit/1";

/// A calendar quarter, written `2026Q3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quarter {
    year: i32,
    q: u32,
}

impl FromStr for Quarter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a quarter like 2026Q3");
        let (y, q) = s.trim().split_once(['Q', 'q']).ok_or_else(bad)?;
        let year: i32 = y.parse().map_err(|_| bad())?;
        let q: u32 = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&q) || !(2000..=9999).contains(&year) || y.len() != 4 {
            return Err(bad());
        }
        Ok(Quarter { year, q })
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}Q{}", self.year, self.q)
    }
}

impl Quarter {
    /// The quarter containing `t` in the business's local time.
    pub fn containing(t: DateTime<Utc>, offset: FixedOffset) -> Quarter {
        use chrono::Datelike;
        let local = t.with_timezone(&offset);
        Quarter {
            year: local.year(),
            q: (local.month() - 1) / 3 + 1,
        }
    }

    /// The previous quarter (what a regulator usually asks for).
    pub fn previous(self) -> Quarter {
        if self.q == 1 {
            Quarter {
                year: self.year - 1,
                q: 4,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q - 1,
            }
        }
    }

    fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.q - 1) * 3 + 1, 1).expect("a valid quarter")
    }

    /// `[start, end)` in UTC: local midnight of the first day to local
    /// midnight of the next quarter's first day.
    pub fn bounds(self, offset: FixedOffset) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = if self.q == 4 {
            Quarter {
                year: self.year + 1,
                q: 1,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q + 1,
            }
        };
        let at = |d: NaiveDate| {
            offset
                .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
                .single()
                .expect("a fixed offset is never ambiguous")
                .with_timezone(&Utc)
        };
        (at(self.first_day()), at(next.first_day()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("cannot write the report: {0}")]
    Io(String),
}

fn io(e: impl std::fmt::Display) -> ReportError {
    ReportError::Io(e.to_string())
}

/// One file pair of the report.
struct Dataset {
    name: &'static str,
    event_type: EventType,
    columns: &'static [&'static str],
    keep: fn(&StoredEvent, &Value) -> bool,
    row: fn(&StoredEvent, &Value) -> Vec<String>,
}

fn text(p: &Value, k: &str) -> String {
    match p.get(k) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn redacted(e: &StoredEvent) -> String {
    if e.payload.is_none() {
        "yes".into()
    } else {
        String::new()
    }
}

const DATASETS: [Dataset; 3] = [
    Dataset {
        name: "ai_decisions",
        event_type: EventType::LeadClassified,
        columns: &[
            "seq",
            "occurred_at",
            "email_id",
            "intent",
            "confidence",
            "model_version",
            "decided_by",
            "redacted",
            "event_hash",
        ],
        keep: |e, _| e.actor_kind != "user",
        row: |e, p| {
            vec![
                e.seq.to_string(),
                canonical_time(e.occurred_at),
                text(p, "email_id"),
                text(p, "ai_intent"),
                text(p, "confidence"),
                text(p, "model_version"),
                e.actor_id.clone(),
                redacted(e),
                e.hash.clone(),
            ]
        },
    },
    Dataset {
        name: "overrides",
        event_type: EventType::LeadClassified,
        columns: &[
            "seq",
            "occurred_at",
            "email_id",
            "previous_intent",
            "new_intent",
            "justification",
            "user_id",
            "redacted",
            "event_hash",
        ],
        keep: |e, _| e.actor_kind == "user",
        row: |e, p| {
            vec![
                e.seq.to_string(),
                canonical_time(e.occurred_at),
                text(p, "email_id"),
                text(p, "previous_intent"),
                text(p, "ai_intent"),
                text(p, "justification"),
                e.actor_id.clone(),
                redacted(e),
                e.hash.clone(),
            ]
        },
    },
    Dataset {
        name: "failed_validations",
        event_type: EventType::CompanyValidated,
        columns: &[
            "seq",
            "occurred_at",
            "company_id",
            "cin",
            "pan",
            "gstin",
            "source",
            "errors",
            "actor_id",
            "redacted",
            "event_hash",
        ],
        keep: |e, p| e.payload.is_some() && p.get("valid") == Some(&Value::Bool(false)),
        row: |e, p| {
            let errors = match p.get("errors") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                _ => String::new(),
            };
            vec![
                e.seq.to_string(),
                canonical_time(e.occurred_at),
                text(p, "company_id"),
                text(p, "cin"),
                text(p, "pan"),
                text(p, "gstin"),
                text(p, "source"),
                errors,
                e.actor_id.clone(),
                redacted(e),
                e.hash.clone(),
            ]
        },
    },
];

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FileEntry {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Exporter {
    pub actor_kind: String,
    pub actor_id: String,
    /// The user's email, when a person exported it.
    pub name: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Manifest {
    pub format: &'static str,
    pub quarter: String,
    pub from: String,
    pub to: String,
    pub generated_at: String,
    pub exported_by: Exporter,
    /// The whole chain, verified just before the rows were read.
    pub chain: VerifyReport,
    pub files: Vec<FileEntry>,
}

fn sha256_file(path: &Path) -> Result<(String, u64), ReportError> {
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h).map_err(io)?;
    Ok((hex::encode(h.finalize()), n))
}

/// Write one dataset as CSV and XLSX from one pass over the stream.
async fn write_dataset(
    db: &Db,
    d: &Dataset,
    from: i64,
    to: i64,
    dir: &Path,
) -> Result<(u64, PathBuf, PathBuf), ReportError> {
    let csv_path = dir.join(format!("{}.csv", d.name));
    let xlsx_path = dir.join(format!("{}.xlsx", d.name));
    let file = std::fs::File::create(&csv_path).map_err(io)?;
    let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(file));
    csv.write_record(d.columns).map_err(io)?;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet_with_constant_memory();
    sheet.set_name(d.name).map_err(io)?;
    for (c, name) in d.columns.iter().enumerate() {
        sheet.write_string(0, c as u16, *name).map_err(io)?;
    }
    let filter = Filter {
        event_type: Some(d.event_type.as_str().to_owned()),
        from: Some(from),
        to: Some(to),
        ..Filter::default()
    };
    let mut rows: u64 = 0;
    let mut events = activity::stream(db, &filter);
    while let Some(e) = events.try_next().await.map_err(AuditError::from)? {
        let payload: Value = e
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or(Value::Null);
        if !(d.keep)(&e, &payload) {
            continue;
        }
        let row = (d.row)(&e, &payload);
        csv.write_record(&row).map_err(io)?;
        rows += 1;
        let r = u32::try_from(rows).map_err(|_| io("more rows than one sheet holds"))?;
        for (c, v) in row.iter().enumerate() {
            // Strings only: an export must never carry a formula.
            sheet.write_string(r, c as u16, v).map_err(io)?;
        }
    }
    drop(events);
    let mut inner = csv.into_inner().map_err(io)?;
    inner.flush().map_err(io)?;
    inner.into_inner().map_err(io)?.sync_all().map_err(io)?;
    book.save(&xlsx_path).map_err(io)?;
    Ok((rows, csv_path, xlsx_path))
}

/// Write the quarter's report into `dir` (created if needed) and record the
/// export. Returns the manifest, also written as `manifest.json`.
pub async fn quarterly(
    db: &Db,
    audit: &Audit,
    quarter: Quarter,
    offset: FixedOffset,
    dir: &Path,
    actor: Actor,
    actor_name: Option<String>,
) -> Result<Manifest, ReportError> {
    std::fs::create_dir_all(dir).map_err(io)?;
    let chain = audit.verify().await?;
    let (start, end) = quarter.bounds(offset);
    let (from, to) = (start.timestamp_micros(), end.timestamp_micros());
    let mut files = Vec::new();
    for d in &DATASETS {
        let (rows, csv, xlsx) = write_dataset(db, d, from, to, dir).await?;
        for path in [csv, xlsx] {
            let (sha256, bytes) = sha256_file(&path)?;
            files.push(FileEntry {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                rows,
                bytes,
                sha256,
            });
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        quarter: quarter.to_string(),
        from: start.to_rfc3339(),
        to: end.to_rfc3339(),
        generated_at: audit.clock().now().to_rfc3339(),
        exported_by: Exporter {
            actor_kind: actor.kind.as_str().into(),
            actor_id: actor.id.clone(),
            name: actor_name,
        },
        chain,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(io)?;
    std::fs::write(dir.join(MANIFEST), json).map_err(io)?;
    let rows: serde_json::Map<String, Value> = manifest
        .files
        .iter()
        .filter(|f| f.name.ends_with(".csv"))
        .map(|f| {
            (
                f.name.trim_end_matches(".csv").to_owned(),
                Value::from(f.rows),
            )
        })
        .collect();
    audit
        .record(&[NewEvent::new(
            EventType::DataExported,
            actor,
            "export",
            format!("quarterly_{quarter}"),
            serde_json::json!({
                "kind": "quarterly_audit",
                "filter": {"quarter": quarter.to_string(), "from": manifest.from, "to": manifest.to},
                "rows": rows,
                "chain_ok": manifest.chain.ok,
                "files": manifest.files.iter().map(|f| serde_json::json!({"name": f.name, "sha256": f.sha256})).collect::<Vec<_>>(),
            }),
            audit.clock().now(),
        )])
        .await?;
    Ok(manifest)
}

/// Pack a report directory into one ZIP (manifest first), for downloads.
pub fn zip_dir(dir: &Path, manifest: &Manifest, out: &Path) -> Result<(), ReportError> {
    let file = std::fs::File::create(out).map_err(io)?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let names =
        std::iter::once(MANIFEST.to_owned()).chain(manifest.files.iter().map(|f| f.name.clone()));
    for name in names {
        zip.start_file(name.as_str(), options).map_err(io)?;
        let mut f = std::fs::File::open(dir.join(&name)).map_err(io)?;
        std::io::copy(&mut f, &mut zip).map_err(io)?;
    }
    zip.finish().map_err(io)?.sync_all().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_parse_and_bound_in_local_time() {
        let q: Quarter = "2026Q3".parse().unwrap();
        assert_eq!(q.to_string(), "2026Q3");
        let ist = FixedOffset::east_opt(330 * 60).unwrap();
        let (a, b) = q.bounds(ist);
        assert_eq!(a.to_rfc3339(), "2026-06-30T18:30:00+00:00");
        assert_eq!(b.to_rfc3339(), "2026-09-30T18:30:00+00:00");
        let (_, end) = "2026Q4".parse::<Quarter>().unwrap().bounds(ist);
        assert_eq!(end.to_rfc3339(), "2026-12-31T18:30:00+00:00");
        for bad in ["2026Q5", "2026Q0", "26Q1", "2026-Q1", "Q3", "", "2026Q"] {
            assert!(bad.parse::<Quarter>().is_err(), "{bad}");
        }
        assert_eq!(
            Quarter::containing(a, ist),
            q,
            "the first instant belongs to its quarter"
        );
        assert_eq!(q.previous().to_string(), "2026Q2");
        assert_eq!(
            "2026Q1".parse::<Quarter>().unwrap().previous().to_string(),
            "2025Q4"
        );
    }
}
