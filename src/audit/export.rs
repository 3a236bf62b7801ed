//! CSV and Excel exports of the activity stream for regulators. Rows stream
//! from the database to the file, so memory stays flat at millions of rows;
//! every export is itself recorded as `DataExported`.

use std::io::Write;
use std::path::Path;

use futures::TryStreamExt;
use pebble_core::audit::{canonical_time, Actor, EventType, NewEvent, StoredEvent};
use rust_xlsxwriter::Workbook;

use super::{Audit, AuditError};
use crate::store::activity::{self, Filter};
use crate::store::Db;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

pub const COLUMNS: [&str; 15] = [
    "seq",
    "id",
    "occurred_at",
    "recorded_at",
    "event_type",
    "actor_kind",
    "actor_id",
    "entity_type",
    "entity_id",
    "retention_class",
    "payload",
    "payload_hash",
    "prev_hash",
    "hash",
    "redacted_at",
];

/// Excel refuses longer cell text; such payloads are cut with a marker (the
/// CSV export carries them whole).
const XLSX_CELL_LIMIT: usize = 32_767;

/// Excel's sheet height; larger exports continue on the next sheet.
const XLSX_ROWS_PER_SHEET: u32 = 1_048_575;

fn fields(e: &StoredEvent) -> [String; 15] {
    [
        e.seq.to_string(),
        e.id.clone(),
        canonical_time(e.occurred_at),
        canonical_time(e.recorded_at),
        e.event_type.clone(),
        e.actor_kind.clone(),
        e.actor_id.clone(),
        e.entity_type.clone(),
        e.entity_id.clone(),
        e.retention_class.clone(),
        e.payload.clone().unwrap_or_default(),
        e.payload_hash.clone(),
        e.prev_hash.clone(),
        e.hash.clone(),
        e.redacted_at.map(canonical_time).unwrap_or_default(),
    ]
}

fn io(e: impl std::fmt::Display) -> AuditError {
    AuditError::Export(e.to_string())
}

/// Write matching events as CSV (header first, even when nothing matches).
pub async fn write_csv(db: &Db, filter: &Filter, out: impl Write) -> Result<u64, AuditError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS).map_err(io)?;
    let mut rows = 0;
    let mut events = activity::stream(db, filter);
    while let Some(e) = events.try_next().await? {
        w.write_record(fields(&e)).map_err(io)?;
        rows += 1;
    }
    w.flush().map_err(io)?;
    Ok(rows)
}

/// Write matching events as a real `.xlsx` in constant-memory mode (rows go
/// to a temporary file as they are written).
pub async fn write_xlsx(db: &Db, filter: &Filter, path: &Path) -> Result<u64, AuditError> {
    let mut book = Workbook::new();
    let mut rows: u64 = 0;
    let mut row_in_sheet: u32 = 0;
    let mut sheet = new_sheet(&mut book, 1)?;
    let mut events = activity::stream(db, filter);
    while let Some(e) = events.try_next().await? {
        if row_in_sheet == XLSX_ROWS_PER_SHEET {
            sheet = new_sheet(
                &mut book,
                (rows / u64::from(XLSX_ROWS_PER_SHEET) + 1) as u32,
            )?;
            row_in_sheet = 0;
        }
        row_in_sheet += 1;
        for (col, value) in fields(&e).iter().enumerate() {
            let text = if value.len() > XLSX_CELL_LIMIT {
                let mut cut = XLSX_CELL_LIMIT - 40;
                while !value.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("{}…[truncated; see the CSV export]", &value[..cut])
            } else {
                value.clone()
            };
            // Always strings: an export must never carry a formula.
            sheet
                .write_string(row_in_sheet, col as u16, text)
                .map_err(io)?;
        }
        rows += 1;
    }
    drop(events);
    book.save(path).map_err(io)?;
    Ok(rows)
}

fn new_sheet(book: &mut Workbook, n: u32) -> Result<&mut rust_xlsxwriter::Worksheet, AuditError> {
    let sheet = book.add_worksheet_with_constant_memory();
    sheet.set_name(format!("activity_{n}")).map_err(io)?;
    for (col, name) in COLUMNS.iter().enumerate() {
        sheet.write_string(0, col as u16, *name).map_err(io)?;
    }
    Ok(sheet)
}

/// How an export was asked for, recorded in its `DataExported` event.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExportFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub event_type: Option<String>,
    pub actor_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl From<&Filter> for ExportFilter {
    fn from(f: &Filter) -> Self {
        ExportFilter {
            entity_type: f.entity_type.clone(),
            entity_id: f.entity_id.clone(),
            event_type: f.event_type.clone(),
            actor_id: f.actor_id.clone(),
            from: f.from.map(canonical_time),
            to: f.to.map(canonical_time),
        }
    }
}

impl Audit {
    /// Export to `path` and record the export. Returns the number of rows.
    pub async fn export(
        &self,
        db: &Db,
        filter: &Filter,
        format: Format,
        path: &Path,
        actor: Actor,
    ) -> Result<u64, AuditError> {
        let rows = match format {
            Format::Csv => {
                let file = std::fs::File::create(path).map_err(io)?;
                let mut buffered = std::io::BufWriter::with_capacity(256 * 1024, file);
                let rows = write_csv(db, filter, &mut buffered).await?;
                buffered.into_inner().map_err(io)?.sync_all().map_err(io)?;
                rows
            }
            Format::Xlsx => write_xlsx(db, filter, path).await?,
        };
        self.record(&[NewEvent::new(
            EventType::DataExported,
            actor,
            "export",
            format!("activity_{}", format.as_str()),
            serde_json::json!({
                "kind": format!("activity_stream_{}", format.as_str()),
                "filter": ExportFilter::from(filter),
                "rows": rows,
            }),
            self.clock().now(),
        )])
        .await?;
        Ok(rows)
    }
}
