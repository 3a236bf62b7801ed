//! Reading backups back: open and check a file, rebuild a database from a
//! full backup and the activity backups after it into a staging place
//! (a SQLite file, or a PostgreSQL schema), verify it, and then either throw
//! it away (verify, drill) or put it in place of the target (restore).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use indicatif::ProgressBar;
use pebble_core::audit::{Actor, ChainVerifier, EventType, NewEvent, StoredEvent};
use serde::{Deserialize, Serialize};

use super::archive::{file_digest, ArchiveReader};
use super::crypto::Key;
use super::manifest::{
    self, ChainPoint, Kind, Manifest, ObjectsSummary, PartFormat, PartRecord, TableRows,
};
use super::{backend_of, joined, key_from, objects, BackupError};
use crate::audit::{Audit, Signer};
use crate::clock::Clock;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::store::activity::{self, Checkpoint};
use crate::store::backup::{self as sql, BackupRow, Created, Redaction};
use crate::store::{Backend, Db, StoreError};

/// One line of an activity backup.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Event(StoredEvent),
    Redaction(Redaction),
    Checkpoint(Checkpoint),
}

impl Record {
    pub fn write_line(&self, buf: &mut Vec<u8>) {
        serde_json::to_writer(&mut *buf, self).expect("a record serialises");
        buf.push(b'\n');
    }
}

/// A backup file, its manifest checked.
pub struct Opened {
    pub archive: ArchiveReader,
    pub manifest: Manifest,
    pub size: u64,
    pub sha256: String,
    key: Option<Key>,
}

impl Opened {
    fn file(&self) -> String {
        self.archive.path().display().to_string()
    }

    fn part(&self, name: &str) -> Result<&PartRecord, BackupError> {
        self.manifest
            .parts
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| BackupError::corrupt(name, "missing from the manifest"))
    }

    /// The decoded bytes of a part (read to the end, then `check`).
    fn reader(&self, part: &PartRecord) -> Result<super::archive::PartReader, BackupError> {
        let aad = Manifest::part_aad(&self.manifest.id, &part.path);
        let key = match (&self.manifest.encryption, &self.key) {
            (Some(_), Some(k)) => Some((k, aad)),
            (Some(_), None) => return Err(missing_key(&self.manifest)),
            (None, _) => None,
        };
        self.archive
            .part(part, key)
            .map_err(|e| BackupError::corrupt(&part.name, e))
    }
}

fn missing_key(m: &Manifest) -> BackupError {
    BackupError::Key(format!(
        "this backup is encrypted (key id {}): set PEBBLE_BACKUP_ENCRYPTION_KEY to its key",
        m.encryption
            .as_ref()
            .map(|e| e.key_id.as_str())
            .unwrap_or("?")
    ))
}

/// Read and authenticate the manifest. Blocking.
pub fn open(path: &Path, key: Option<&Key>) -> Result<Opened, BackupError> {
    if !path.exists() {
        return Err(BackupError::Io {
            what: format!("opening {}", path.display()),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let archive = ArchiveReader::open(path).map_err(|e| {
        BackupError::corrupt("archive", format!("not a readable backup archive: {e}"))
    })?;
    let text = archive
        .read_small(manifest::MANIFEST, 64 << 20)
        .map_err(|e| BackupError::corrupt("manifest", e))?
        .ok_or_else(|| BackupError::corrupt("manifest", "missing: this is not a Pebble backup"))?;
    let digest = pebble_core::audit::sha256(&text);
    let parsed: Result<Manifest, _> = serde_json::from_slice(&text);
    let small = |name| {
        archive
            .read_small(name, 4096)
            .map_err(|e| BackupError::corrupt("manifest", e))
    };
    if let Some(sealed) = small(manifest::MANIFEST_SEAL)? {
        let Some(key) = key else {
            return Err(match &parsed {
                Ok(m) => missing_key(m),
                Err(_) => BackupError::Key(
                    "this backup is encrypted: set PEBBLE_BACKUP_ENCRYPTION_KEY to its key".into(),
                ),
            });
        };
        match key.open(&sealed, manifest::SEAL_AAD) {
            Some(d) if d == digest => {}
            Some(_) => return Err(BackupError::corrupt("manifest", "does not match its seal")),
            None => {
                if let Ok(Some(e)) = parsed.as_ref().map(|m| m.encryption.as_ref()) {
                    if e.key_id != key.id() {
                        return Err(BackupError::Key(format!(
                            "this backup was encrypted with key id {}, but PEBBLE_BACKUP_ENCRYPTION_KEY is key id {}",
                            e.key_id,
                            key.id()
                        )));
                    }
                }
                return Err(BackupError::corrupt(
                    "manifest",
                    "its seal does not authenticate: the manifest or the seal was altered",
                ));
            }
        }
    } else if let Some(sha) = small(manifest::MANIFEST_SHA)? {
        if String::from_utf8_lossy(&sha).trim() != hex::encode(digest) {
            return Err(BackupError::corrupt("manifest", "checksum mismatch"));
        }
    } else {
        return Err(BackupError::corrupt(
            "manifest",
            "its checksum entry is missing",
        ));
    }
    let manifest =
        parsed.map_err(|e| BackupError::corrupt("manifest", format!("not a manifest: {e}")))?;
    if manifest.format != manifest::FORMAT {
        return Err(BackupError::Refused(format!(
            "{} is in format {:?}; this Pebble reads {:?}",
            path.display(),
            manifest.format,
            manifest::FORMAT
        )));
    }
    if manifest.encryption.is_some() && small(manifest::MANIFEST_SEAL)?.is_none() {
        return Err(BackupError::corrupt(
            "manifest",
            "says encrypted but carries no seal",
        ));
    }
    let (size, sha256) = file_digest(path).map_err(BackupError::io("reading the backup"))?;
    Ok(Opened {
        archive,
        manifest,
        size,
        sha256,
        key: key.cloned(),
    })
}

/// Every part's stored bytes against the manifest's checksum. Blocking.
pub fn check_parts(o: &Opened, progress: &ProgressBar) -> Result<(), BackupError> {
    for part in &o.manifest.parts {
        let entry = o
            .archive
            .find(&part.path)
            .ok_or_else(|| BackupError::corrupt(&part.name, "missing from the archive"))?;
        let (sha, n) = o
            .archive
            .stored_digest(entry)
            .map_err(|e| BackupError::corrupt(&part.name, e))?;
        if n != part.stored_bytes || sha != part.stored_sha256 {
            return Err(BackupError::corrupt(
                &part.name,
                format!(
                    "checksum mismatch ({n} bytes with SHA-256 {sha}; the manifest says {} bytes, {})",
                    part.stored_bytes, part.stored_sha256
                ),
            ));
        }
        progress.inc(n);
    }
    Ok(())
}

async fn open_checked(
    files: &[PathBuf],
    key: Option<Key>,
    progress: &ProgressBar,
) -> Result<Vec<Opened>, BackupError> {
    let files = files.to_vec();
    let pb = progress.clone();
    joined(
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for f in &files {
                let o = open(f, key.as_ref())?;
                pb.set_message("checksums");
                check_parts(&o, &pb)?;
                out.push(o);
            }
            Ok(out)
        })
        .await,
    )
}

/// Refuse a backup whose schema this build cannot rebuild exactly.
fn check_schema(m: &Manifest) -> Result<BTreeSet<i64>, BackupError> {
    let backend = if m.backend == "sqlite" {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    let known: BTreeMap<i64, String> = sql::known_migrations(backend).into_iter().collect();
    let newest = known.keys().max().copied().unwrap_or(0);
    if m.schema_version > newest {
        return Err(BackupError::Refused(format!(
            "the backup's schema is version {}, newer than this Pebble knows ({newest}): restore it with a newer Pebble",
            m.schema_version
        )));
    }
    let mut versions = BTreeSet::new();
    for r in &m.migrations {
        match known.get(&r.version) {
            Some(c) if *c == r.checksum => {}
            Some(_) => {
                return Err(BackupError::Refused(format!(
                "the backup's migration {} differs from this Pebble's: it came from another build",
                r.version
            )))
            }
            None => {
                return Err(BackupError::Refused(format!(
                    "the backup has migration {}, which this Pebble does not know",
                    r.version
                )))
            }
        }
        versions.insert(r.version);
    }
    Ok(versions)
}

/// Where a database is rebuilt.
#[derive(Clone, Debug)]
pub enum Stage {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

const STAGE_LABEL: &str = "the restore staging database";

/// Decode a part into a file. Blocking.
fn decode_to_file(
    o: &Opened,
    part: &PartRecord,
    dest: &Path,
    progress: &ProgressBar,
) -> Result<(), BackupError> {
    let mut reader = o.reader(part)?;
    let mut file = std::fs::File::create(dest)
        .map_err(BackupError::io(format!("creating {}", dest.display())))?;
    std::io::copy(&mut progress.wrap_read(&mut reader), &mut file)
        .map_err(|e| BackupError::corrupt(&part.name, e))?;
    reader
        .check()
        .map_err(|e| BackupError::corrupt(&part.name, e))?;
    file.sync_all()
        .map_err(BackupError::io(format!("writing {}", dest.display())))?;
    Ok(())
}

/// Decode a part on a blocking thread into a channel of chunks.
fn decode_to_channel(
    o: Arc<Opened>,
    part: PartRecord,
    progress: ProgressBar,
) -> (
    tokio::sync::mpsc::Receiver<Vec<u8>>,
    tokio::task::JoinHandle<Result<(), BackupError>>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let handle = tokio::task::spawn_blocking(move || {
        let mut reader = o.reader(&part)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| BackupError::corrupt(&part.name, e))?;
            if n == 0 {
                break;
            }
            progress.inc(n as u64);
            if sender.blocking_send(buf[..n].to_vec()).is_err() {
                // The loader stopped; its own error says why.
                return Ok(());
            }
        }
        drop(sender);
        reader
            .check()
            .map_err(|e| BackupError::corrupt(&part.name, e))
    });
    (receiver, handle)
}

/// Rebuild the database of a full backup at `stage`, on the newest schema.
async fn stage_full(
    full: &Arc<Opened>,
    stage: &Stage,
    progress: &ProgressBar,
) -> Result<Db, BackupError> {
    let m = &full.manifest;
    if m.kind != Kind::Full {
        return Err(BackupError::Refused(format!(
            "{} is an activity backup: a restore starts from a full backup",
            full.file()
        )));
    }
    let versions = check_schema(m)?;
    progress.set_message("restoring");
    match (m.backend.as_str(), stage) {
        ("sqlite", Stage::Sqlite(path)) => {
            let (o, part, dest, pb) = (
                full.clone(),
                full.part("database")?.clone(),
                path.clone(),
                progress.clone(),
            );
            joined(
                tokio::task::spawn_blocking(move || decode_to_file(&o, &part, &dest, &pb)).await,
            )?;
            Ok(Db::open(&sqlite_url(path), 2, STAGE_LABEL).await?)
        }
        ("sqlite", Stage::Postgres { url, schema }) => {
            let tmp = tempfile::tempdir().map_err(BackupError::io("creating a temporary directory"))?;
            let file = tmp.path().join("pebble.db");
            let (o, part, dest, pb) = (
                full.clone(),
                full.part("database")?.clone(),
                file.clone(),
                progress.clone(),
            );
            joined(
                tokio::task::spawn_blocking(move || decode_to_file(&o, &part, &dest, &pb)).await,
            )?;
            let src = Db::open(&sqlite_url(&file), 2, "the SQLite backup").await?;
            let dst = sql::pg_pool_in_schema(url, schema).await?;
            let copied = sqlite_into_postgres(&src, &dst).await;
            src.close().await;
            if let Err(e) = copied {
                dst.close().await;
                return Err(e);
            }
            Ok(dst)
        }
        ("postgres", Stage::Postgres { url, schema }) => {
            let dst = sql::pg_pool_in_schema(url, schema).await?;
            if let Err(e) = postgres_parts_into(full, &dst, &versions, progress).await {
                dst.close().await;
                return Err(e);
            }
            Ok(dst)
        }
        ("postgres", Stage::Sqlite(_)) => Err(BackupError::Refused(
            "a PostgreSQL backup restores into PostgreSQL only; moving from PostgreSQL back to SQLite is not supported (SQLite backups do restore into PostgreSQL)".into(),
        )),
        (other, _) => Err(BackupError::Refused(format!(
            "the backup comes from an unknown backend {other:?}"
        ))),
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn postgres_parts_into(
    full: &Arc<Opened>,
    dst: &Db,
    versions: &BTreeSet<i64>,
    progress: &ProgressBar,
) -> Result<(), BackupError> {
    sql::migrate_only(dst, versions).await?;
    let Db::Postgres(pool) = dst else {
        unreachable!("staged on PostgreSQL")
    };
    let mut conn = pool.acquire().await.map_err(StoreError::from)?;
    let order = sql::pg_load_order(&mut conn).await?;
    let in_backup: BTreeSet<&str> = full
        .manifest
        .parts
        .iter()
        .filter(|p| p.format == PartFormat::PgCopy)
        .filter_map(|p| p.name.strip_prefix("table:"))
        .collect();
    let in_schema: BTreeSet<&str> = order.iter().map(String::as_str).collect();
    if in_backup != in_schema {
        return Err(BackupError::corrupt(
            "manifest",
            format!("its tables {in_backup:?} differ from its schema's {in_schema:?}"),
        ));
    }
    for table in &order {
        let part = full.part(&format!("table:{table}"))?.clone();
        let columns = part.columns.clone().unwrap_or_default();
        let expected = full.manifest.rows(table);
        let (chunks, reader) = decode_to_channel(full.clone(), part.clone(), progress.clone());
        let loaded = sql::pg_copy_in(&mut conn, table, &columns, chunks).await;
        joined(reader.await)?;
        let loaded = loaded.map_err(|e| BackupError::corrupt(&part.name, e))?;
        if Some(loaded as i64) != expected {
            return Err(BackupError::corrupt(
                &part.name,
                format!("loaded {loaded} rows; the manifest says {expected:?}"),
            ));
        }
    }
    sql::pg_reset_sequences(&mut conn).await?;
    drop(conn);
    dst.migrate(STAGE_LABEL).await?;
    Ok(())
}

/// Copy every table of a SQLite database into an empty PostgreSQL schema of
/// the same migrations: the two schemas are kept table for table and column
/// for column alike, so this is a logical copy, not a translation.
async fn sqlite_into_postgres(src: &Db, dst: &Db) -> Result<(), BackupError> {
    dst.migrate(STAGE_LABEL).await?;
    let (Db::Sqlite(sp), Db::Postgres(pool)) = (src, dst) else {
        unreachable!("called with SQLite and PostgreSQL")
    };
    let mut tx = sql::begin_snapshot(src).await?;
    let src_tables = sql::tables(&mut tx).await?;
    let mut src_counts = BTreeMap::new();
    for t in src_tables.keys() {
        src_counts.insert(t.clone(), sql::count(&mut tx, t).await?);
    }
    tx.commit().await?;
    let mut dtx = sql::begin_snapshot(dst).await?;
    let dst_tables = sql::tables(&mut dtx).await?;
    dtx.commit().await?;
    if src_tables.keys().ne(dst_tables.keys()) {
        return Err(BackupError::Refused(format!(
            "the SQLite backup's tables {:?} differ from PostgreSQL's {:?} at the same schema version",
            src_tables.keys().collect::<Vec<_>>(),
            dst_tables.keys().collect::<Vec<_>>()
        )));
    }
    let mut conn = pool.acquire().await.map_err(StoreError::from)?;
    for table in sql::pg_load_order(&mut conn).await? {
        let columns = &dst_tables[&table];
        let mut a: Vec<&String> = src_tables[&table].iter().collect();
        let mut b: Vec<&String> = columns.iter().collect();
        a.sort();
        b.sort();
        if a != b {
            return Err(BackupError::Refused(format!(
                "table {table} has columns {a:?} in SQLite but {b:?} in PostgreSQL"
            )));
        }
        let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
        let pump = async {
            let mut rows = sql::sqlite_as_copy(sp, &table, columns);
            while let Some(chunk) = rows.next().await {
                if sender.send(chunk?).await.is_err() {
                    break;
                }
            }
            drop(sender);
            Ok::<_, StoreError>(())
        };
        let (pumped, loaded) =
            tokio::join!(pump, sql::pg_copy_in(&mut conn, &table, columns, receiver));
        pumped?;
        let loaded = loaded?;
        if loaded as i64 != src_counts[&table] {
            return Err(BackupError::corrupt(
                "database",
                format!(
                    "table {table}: {loaded} rows reached PostgreSQL of {}",
                    src_counts[&table]
                ),
            ));
        }
    }
    sql::pg_reset_sequences(&mut conn).await?;
    Ok(())
}

/// Parse an activity backup's records, checking its piece of the chain from
/// the point it continues. Blocking.
fn read_increment(o: &Opened) -> Result<Vec<Record>, BackupError> {
    let m = &o.manifest;
    let part = o.part("activity")?;
    let from = m
        .from
        .clone()
        .ok_or_else(|| BackupError::corrupt("manifest", "an activity backup without `from`"))?;
    let mut start = [0u8; 32];
    hex::decode_to_slice(&from.hash, &mut start)
        .map_err(|_| BackupError::corrupt("manifest", "`from.hash` is not a hash"))?;
    let mut chain = ChainVerifier::resume(from.seq, start);
    let mut reader = std::io::BufReader::new(o.reader(part)?);
    let mut records = Vec::new();
    let (mut events, mut redactions, mut checkpoints) = (0i64, 0i64, 0i64);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| BackupError::corrupt("activity", e))?;
        if n == 0 {
            break;
        }
        let r: Record = serde_json::from_str(&line).map_err(|e| {
            BackupError::corrupt("activity", format!("a record does not parse: {e}"))
        })?;
        match &r {
            Record::Event(e) => {
                chain
                    .check(e)
                    .map_err(|b| BackupError::corrupt("activity", format!("chain broken: {b}")))?;
                events += 1;
            }
            Record::Redaction(x) if x.seq > m.chain.seq => {
                return Err(BackupError::corrupt(
                    "activity",
                    format!("a redaction of seq {} is past the chain head", x.seq),
                ))
            }
            Record::Redaction(_) => redactions += 1,
            Record::Checkpoint(_) => checkpoints += 1,
        }
        records.push(r);
    }
    reader
        .into_inner()
        .check()
        .map_err(|e| BackupError::corrupt("activity", e))?;
    if chain.verified() != m.chain.seq || hex::encode(chain.head()) != m.chain.hash {
        return Err(BackupError::corrupt(
            "activity",
            format!(
                "its events end at seq {}, the manifest says seq {}",
                chain.verified(),
                m.chain.seq
            ),
        ));
    }
    for (name, n) in [
        ("events", events),
        ("redactions", redactions),
        ("checkpoints", checkpoints),
    ] {
        if m.rows(name) != Some(n) {
            return Err(BackupError::corrupt(
                "activity",
                format!("{n} {name}; the manifest says {:?}", m.rows(name)),
            ));
        }
    }
    Ok(records)
}

/// Append an activity backup to a rebuilt database, in one transaction.
async fn apply_increment(db: &Db, inc: &Arc<Opened>) -> Result<(), BackupError> {
    let m = &inc.manifest;
    if m.kind != Kind::Activity {
        return Err(BackupError::Refused(format!(
            "{} is a full backup: only the first file may be one",
            inc.file()
        )));
    }
    let (seq, hash) = activity::head(db).await?;
    let from = m.from.clone().unwrap_or(ChainPoint {
        seq: -1,
        hash: String::new(),
    });
    if from.seq != seq || from.hash != hash {
        return Err(BackupError::Refused(format!(
            "{} continues the chain from seq {}, but the restored chain ends at seq {seq}: give the activity backups in order, none missing",
            inc.file(),
            from.seq
        )));
    }
    let o = inc.clone();
    let records = joined(tokio::task::spawn_blocking(move || read_increment(&o)).await)?;
    let mut tx = db.begin().await?;
    let mut batch = Vec::new();
    for r in records {
        match r {
            Record::Event(e) => {
                batch.push(e);
                if batch.len() == 5_000 {
                    activity::insert(&mut tx, &batch).await?;
                    batch.clear();
                }
            }
            Record::Redaction(x) => {
                if !batch.is_empty() {
                    activity::insert(&mut tx, &batch).await?;
                    batch.clear();
                }
                sql::apply_redaction(&mut tx, &x).await?;
            }
            Record::Checkpoint(c) => {
                if !batch.is_empty() {
                    activity::insert(&mut tx, &batch).await?;
                    batch.clear();
                }
                activity::insert_checkpoint(&mut tx, &c).await?;
            }
        }
    }
    if !batch.is_empty() {
        activity::insert(&mut tx, &batch).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The part a table's rows came from, for naming a failure.
fn table_part(m: &Manifest, table: &str) -> String {
    if m.backend == "sqlite" {
        "database".into()
    } else {
        format!("table:{table}")
    }
}

/// Verify a rebuilt database: the whole chain, its head, and (when nothing
/// changed the rows since the snapshot) every table's count.
async fn check_staged(
    db: &Db,
    set: &[Arc<Opened>],
) -> Result<(ChainPoint, Vec<TableRows>, i64), BackupError> {
    let full = &set[0].manifest;
    let last = &set[set.len() - 1].manifest;
    let chain_part = if set.len() > 1 {
        "activity".to_owned()
    } else {
        table_part(full, "activity_stream")
    };
    let report = crate::audit::verify_chain(db).await?;
    if !report.ok {
        return Err(BackupError::corrupt(
            chain_part,
            format!(
                "the restored audit chain is broken at seq {}: {}",
                report.first_bad_seq.unwrap_or_default(),
                report.message.unwrap_or_default()
            ),
        ));
    }
    if report.verified != last.chain.seq || report.head_hash != last.chain.hash {
        return Err(BackupError::corrupt(
            chain_part,
            format!(
                "the restored chain ends at seq {} ({}), the backup says seq {} ({})",
                report.verified, report.head_hash, last.chain.seq, last.chain.hash
            ),
        ));
    }
    let mut tx = sql::begin_snapshot(db).await?;
    let mut counts = Vec::new();
    for t in sql::tables(&mut tx).await?.keys() {
        counts.push(TableRows {
            name: t.clone(),
            rows: sql::count(&mut tx, t).await?,
        });
    }
    tx.commit().await?;
    let known = sql::known_migrations(db.backend());
    let same_schema = known.iter().map(|(v, _)| *v).max() == Some(full.schema_version);
    let changed_by_increments = ["activity_stream", "activity_redaction", "audit_checkpoint"];
    if same_schema && full.backend == db.backend().as_str() {
        for expected in &full.tables {
            if set.len() > 1 && changed_by_increments.contains(&expected.name.as_str()) {
                continue;
            }
            let got = counts
                .iter()
                .find(|c| c.name == expected.name)
                .map(|c| c.rows);
            if got != Some(expected.rows) {
                return Err(BackupError::corrupt(
                    table_part(full, &expected.name),
                    format!(
                        "table {} has {} rows after restore; the manifest says {}",
                        expected.name,
                        got.map(|n| n.to_string()).unwrap_or_else(|| "no".into()),
                        expected.rows
                    ),
                ));
            }
        }
    }
    Ok((
        ChainPoint {
            seq: report.verified,
            hash: report.head_hash,
        },
        counts,
        report.redacted,
    ))
}

/// Read the object store part to the end, checking names and totals.
async fn check_objects(full: &Arc<Opened>) -> Result<Option<ObjectsSummary>, BackupError> {
    let Some(expected) = full.manifest.objects.clone() else {
        return Ok(None);
    };
    let o = full.clone();
    joined(
        tokio::task::spawn_blocking(move || {
            let mut reader = o.reader(o.part("objects")?)?;
            let got =
                objects::check_tar(&mut reader).map_err(|e| BackupError::corrupt("objects", e))?;
            reader
                .check()
                .map_err(|e| BackupError::corrupt("objects", e))?;
            if got != expected {
                return Err(BackupError::corrupt(
                    "objects",
                    format!(
                        "{} files, {} bytes; the manifest says {} files, {} bytes",
                        got.files, got.bytes, expected.files, expected.bytes
                    ),
                ));
            }
            Ok(Some(got))
        })
        .await,
    )
}

/// A scratch place to rebuild a backup in, removed afterwards.
enum Scratch {
    /// Removed when dropped.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        schema: String,
    },
}

impl Scratch {
    async fn new(
        settings: &Settings,
        backend: &str,
        scratch_url: Option<&str>,
        near: &Path,
    ) -> Result<(Scratch, Stage), BackupError> {
        if backend == "sqlite" {
            let dir = tempfile::Builder::new()
                .prefix(".pebble-scratch-")
                .tempdir_in(near)
                .or_else(|_| tempfile::tempdir())
                .map_err(BackupError::io("creating a scratch directory"))?;
            let stage = Stage::Sqlite(dir.path().join("pebble.db"));
            return Ok((Scratch::Sqlite { _dir: dir }, stage));
        }
        let url = scratch_server(settings, scratch_url)?;
        let schema = format!(
            "pebble_scratch_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let base = Db::connect(&url, 1).await?;
        let Db::Postgres(pool) = &base else {
            return Err(BackupError::Refused(
                "the scratch database for a PostgreSQL backup must be PostgreSQL".into(),
            ));
        };
        let created = sql::pg_create_schema(pool, &schema).await;
        base.close().await;
        created?;
        Ok((
            Scratch::Postgres {
                url: url.clone(),
                schema: schema.clone(),
            },
            Stage::Postgres { url, schema },
        ))
    }

    async fn remove(self) {
        if let Scratch::Postgres { url, schema } = self {
            match Db::connect(&url, 1).await {
                Ok(Db::Postgres(pool)) => {
                    if let Err(e) = sql::pg_drop_schema(&pool, &schema).await {
                        tracing::error!(schema, error = %e, "could not drop a scratch schema");
                    }
                    pool.close().await;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(schema, error = %e, "could not drop a scratch schema"),
            }
        }
    }
}

/// The PostgreSQL server scratch schemas go to.
fn scratch_server(settings: &Settings, given: Option<&str>) -> Result<String, BackupError> {
    use secrecy::ExposeSecret;
    let configured = settings
        .backup_scratch_url
        .as_ref()
        .map(|s| s.expose_secret().to_owned())
        .filter(|s| !s.is_empty());
    let url = given
        .map(str::to_owned)
        .or(configured)
        .unwrap_or_else(|| settings.database_url());
    if backend_of(&url) != Backend::Postgres {
        return Err(BackupError::Refused(
            "checking a PostgreSQL backup restores it into a scratch schema on a PostgreSQL server: pass --scratch postgres://… or set PEBBLE_BACKUP_SCRATCH_URL".into(),
        ));
    }
    Ok(url)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub file: String,
    pub id: Option<String>,
    pub kind: Option<Kind>,
    pub ok: bool,
    /// The part that failed: `manifest`, `archive`, `database`, `table:NAME`, `objects` or `activity`.
    pub failed_part: Option<String>,
    pub message: Option<String>,
    pub size_bytes: u64,
    pub sha256: String,
    pub parts_checked: usize,
    /// The chain head of the restored copy.
    pub chain: Option<ChainPoint>,
    pub tables: Vec<TableRows>,
    pub objects: Option<ObjectsSummary>,
    pub duration_ms: u64,
}

/// Verify one backup file: manifest, checksums, a restore into scratch with
/// chain verification and counts (full), or its piece of the chain (activity).
pub async fn verify_file(
    settings: &Settings,
    file: &Path,
    scratch_url: Option<&str>,
    progress: &ProgressBar,
) -> Result<VerifyReport, BackupError> {
    let started = Instant::now();
    let key = key_from(settings)?;
    let mut report = VerifyReport {
        file: file.display().to_string(),
        id: None,
        kind: None,
        ok: false,
        failed_part: None,
        message: None,
        size_bytes: 0,
        sha256: String::new(),
        parts_checked: 0,
        chain: None,
        tables: Vec::new(),
        objects: None,
        duration_ms: 0,
    };
    let outcome = async {
        let opened = open_checked(&[file.to_path_buf()], key, progress).await?;
        let o = Arc::new(opened.into_iter().next().expect("one file opened"));
        report.id = Some(o.manifest.id.clone());
        report.kind = Some(o.manifest.kind);
        report.size_bytes = o.size;
        report.sha256 = o.sha256.clone();
        report.parts_checked = o.manifest.parts.len();
        match o.manifest.kind {
            Kind::Activity => {
                let o2 = o.clone();
                joined(tokio::task::spawn_blocking(move || read_increment(&o2)).await)?;
                report.chain = Some(o.manifest.chain.clone());
                report.tables = o.manifest.tables.clone();
            }
            Kind::Full => {
                let near = file.parent().unwrap_or(Path::new("."));
                let (scratch, stage) =
                    Scratch::new(settings, &o.manifest.backend, scratch_url, near).await?;
                let checked = async {
                    let db = stage_full(&o, &stage, progress).await?;
                    let checked = check_staged(&db, std::slice::from_ref(&o)).await;
                    db.close().await;
                    let (chain, tables, _) = checked?;
                    let objects = check_objects(&o).await?;
                    Ok::<_, BackupError>((chain, tables, objects))
                }
                .await;
                scratch.remove().await;
                let (chain, tables, objects) = checked?;
                report.chain = Some(chain);
                report.tables = tables;
                report.objects = objects;
            }
        }
        Ok::<_, BackupError>(())
    }
    .await;
    report.duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(()) => {
            report.ok = true;
            Ok(report)
        }
        Err(BackupError::Corrupt { part, detail }) => {
            report.message = Some(format!("{part}: {detail}"));
            report.failed_part = Some(part);
            Ok(report)
        }
        Err(e) => Err(e),
    }
}

pub struct RestoreRequest {
    /// A full backup, then the activity backups after it, in order.
    pub files: Vec<PathBuf>,
    pub to: String,
    pub force: bool,
    pub objects_dir: PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct RestoreReport {
    pub backup_ids: Vec<String>,
    pub target: String,
    pub chain: ChainPoint,
    pub tables: Vec<TableRows>,
    /// Where the database that was there before was kept.
    pub set_aside: Option<String>,
    pub objects_written: u64,
    pub objects_present: u64,
    pub duration_ms: u64,
}

/// What the target holds now, so that a restore never replaces a database
/// in use without being told to.
async fn target_tables(to: &str) -> Result<i64, BackupError> {
    match backend_of(to) {
        Backend::Sqlite => {
            let path = sqlite_path(to)?;
            if !path.exists() {
                return Ok(0);
            }
            match sql::sqlite_table_count(&path).await {
                Ok(n) => Ok(n),
                // Not a database at all: something is there, so it counts as in use.
                Err(_) => Ok(1),
            }
        }
        Backend::Postgres => {
            let db = Db::connect(to, 1).await?;
            let Db::Postgres(pool) = &db else {
                unreachable!("a PostgreSQL URL")
            };
            let n = async {
                let schema = sql::pg_current_schema(pool).await?.ok_or_else(|| {
                    BackupError::Refused(
                        "the target's search_path names no existing schema: create it first".into(),
                    )
                })?;
                Ok::<_, BackupError>(sql::pg_schema_tables(pool, &schema).await?)
            }
            .await;
            db.close().await;
            n
        }
    }
}

pub fn sqlite_path(url: &str) -> Result<PathBuf, BackupError> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).map_err(StoreError::from)?;
    Ok(options.get_filename().to_path_buf())
}

/// Rebuild the backups into the target database: refuse a corrupt backup, a
/// newer schema or a target in use (without `force`); rebuild in staging,
/// verify there, record `RestorePerformed`, then swap it in, keeping what was
/// there before aside.
pub async fn restore(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    req: RestoreRequest,
    progress: &ProgressBar,
) -> Result<RestoreReport, BackupError> {
    let started = Instant::now();
    if req.files.is_empty() {
        return Err(BackupError::Refused("name at least one backup file".into()));
    }
    let key = key_from(settings)?;
    let set: Vec<Arc<Opened>> = open_checked(&req.files, key, progress)
        .await?
        .into_iter()
        .map(Arc::new)
        .collect();
    check_schema(&set[0].manifest)?;
    let target_backend = backend_of(&req.to);
    if set[0].manifest.backend == "postgres" && target_backend == Backend::Sqlite {
        return Err(BackupError::Refused(
            "a PostgreSQL backup restores into PostgreSQL only; moving from PostgreSQL back to SQLite is not supported (SQLite backups do restore into PostgreSQL)".into(),
        ));
    }
    let label = crate::store::redact_url(&req.to);
    let in_use = target_tables(&req.to).await?;
    if in_use > 0 && !req.force {
        return Err(BackupError::Refused(format!(
            "{label} already holds a database ({in_use} tables): restoring over it needs --force (what is there now is kept aside, not deleted); stop every Pebble using it first"
        )));
    }
    let short = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let stamp = clock.now().format("%Y%m%dT%H%M%SZ").to_string();
    let (stage, target_sqlite) = match target_backend {
        Backend::Sqlite => {
            let path = sqlite_path(&req.to)?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            std::fs::create_dir_all(&dir)
                .map_err(BackupError::io(format!("creating {}", dir.display())))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                Stage::Sqlite(dir.join(format!(".{name}.restoring-{short}"))),
                Some(path),
            )
        }
        Backend::Postgres => {
            let schema = format!("pebble_restore_{short}");
            let base = Db::connect(&req.to, 1).await?;
            if let Db::Postgres(pool) = &base {
                sql::pg_create_schema(pool, &schema).await?;
            }
            base.close().await;
            (
                Stage::Postgres {
                    url: req.to.clone(),
                    schema,
                },
                None,
            )
        }
    };
    let rebuilt = async {
        let db = stage_full(&set[0], &stage, progress).await?;
        let done = async {
            for inc in &set[1..] {
                apply_increment(&db, inc).await?;
            }
            let (chain, tables, _) = check_staged(&db, &set).await?;
            record_restore(settings, clock.clone(), &db, &set, &label, started).await?;
            sql::sqlite_checkpoint(&db).await?;
            Ok::<_, BackupError>((chain, tables))
        }
        .await;
        db.close().await;
        done
    }
    .await;
    let (chain, tables) = match rebuilt {
        Ok(r) => r,
        Err(e) => {
            discard(&stage).await;
            return Err(e);
        }
    };
    let set_aside = match (&stage, target_sqlite) {
        (Stage::Sqlite(staged), Some(target)) => swap_sqlite(staged, &target, &stamp)?,
        (Stage::Postgres { url, schema }, _) => {
            let base = Db::connect(url, 1).await?;
            let Db::Postgres(pool) = &base else {
                unreachable!("a PostgreSQL URL")
            };
            let target = sql::pg_current_schema(pool)
                .await?
                .unwrap_or_else(|| "public".into());
            let aside = format!("{target}_pre_{}", clock.now().timestamp());
            let swapped = sql::pg_swap_schema(pool, schema, &target, &aside).await;
            base.close().await;
            swapped?.then_some(aside)
        }
        (Stage::Sqlite(_), None) => unreachable!("a SQLite stage has a SQLite target"),
    };
    let (objects_written, objects_present) = restore_objects(&set[0], &req.objects_dir).await?;
    Ok(RestoreReport {
        backup_ids: set.iter().map(|o| o.manifest.id.clone()).collect(),
        target: label,
        chain,
        tables,
        set_aside,
        objects_written,
        objects_present,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

async fn discard(stage: &Stage) {
    match stage {
        Stage::Sqlite(path) => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        Stage::Postgres { url, schema } => {
            if let Ok(Db::Postgres(pool)) = Db::connect(url, 1).await {
                if let Err(e) = sql::pg_drop_schema(&pool, schema).await {
                    tracing::error!(schema, error = %e, "could not drop the restore staging schema");
                }
                pool.close().await;
            }
        }
    }
}

/// Rename the target (and its WAL files) aside and the staged file into place.
fn swap_sqlite(staged: &Path, target: &Path, stamp: &str) -> Result<Option<String>, BackupError> {
    let mut aside = None;
    if target.exists() {
        let kept = PathBuf::from(format!("{}.before-restore-{stamp}", target.display()));
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", target.display()));
            if from.exists() {
                let to = PathBuf::from(format!("{}{suffix}", kept.display()));
                std::fs::rename(&from, &to)
                    .map_err(BackupError::io(format!("moving {} aside", from.display())))?;
            }
        }
        aside = Some(kept.display().to_string());
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", staged.display()));
    }
    std::fs::rename(staged, target).map_err(BackupError::io(format!(
        "moving the restored database to {}",
        target.display()
    )))?;
    if let Some(dir) = target.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(BackupError::io("syncing the database directory"))?;
    }
    Ok(aside)
}

/// In the rebuilt database: mark the backups it came from as complete in its
/// catalogue, and append `RestorePerformed`.
async fn record_restore(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    db: &Db,
    set: &[Arc<Opened>],
    label: &str,
    started: Instant,
) -> Result<(), BackupError> {
    let signer = Signer::load(
        &settings.audit_origin,
        settings.audit_signing_key.as_ref(),
        &settings.signing_key_file(),
    )?;
    let audit = Audit::new(
        db.clone(),
        clock.clone(),
        signer,
        Arc::new(Metrics::new(db.backend().as_str())),
    );
    let now = clock.now();
    let mut tx = db.begin().await?;
    for (i, o) in set.iter().enumerate() {
        let m = &o.manifest;
        let created = Created {
            file: o.file(),
            finished_at: m.created_at,
            size_bytes: o.size as i64,
            sha256: o.sha256.clone(),
            schema_version: m.schema_version,
            chain_seq: m.chain.seq,
            chain_hash: m.chain.hash.clone(),
            from_seq: m.from.as_ref().map(|f| f.seq),
        };
        if i == 0 {
            sql::restore_fixup(&mut tx, &m.id, &created, now.timestamp_micros()).await?;
        } else {
            sql::mark_created(&mut tx, &m.id, &created).await?;
        }
    }
    let full = &set[0];
    let last = &set[set.len() - 1].manifest;
    audit
        .append(
            &mut tx,
            &[NewEvent::new(
                EventType::RestorePerformed,
                Actor::system("restore"),
                "backup",
                full.manifest.id.clone(),
                serde_json::json!({
                    "id": full.manifest.id,
                    "size": full.size,
                    "checksum": full.sha256,
                    "duration_ms": started.elapsed().as_millis() as u64,
                    "increments": set[1..].iter().map(|o| o.manifest.id.clone()).collect::<Vec<_>>(),
                    "chain_seq": last.chain.seq,
                    "chain_hash": last.chain.hash,
                    "source_backend": full.manifest.backend,
                    "target_backend": db.backend().as_str(),
                    "target": label,
                    "backup_created_at": full.manifest.created_at,
                }),
                now,
            )],
        )
        .await?;
    audit.commit(tx).await?;
    Ok(())
}

async fn restore_objects(full: &Arc<Opened>, root: &Path) -> Result<(u64, u64), BackupError> {
    if full.manifest.objects.is_none() {
        return Ok((0, 0));
    }
    let (o, root) = (full.clone(), root.to_path_buf());
    joined(
        tokio::task::spawn_blocking(move || {
            let mut reader = o.reader(o.part("objects")?)?;
            let counts = objects::extract_tar(&mut reader, &root)
                .map_err(|e| BackupError::corrupt("objects", e))?;
            reader
                .check()
                .map_err(|e| BackupError::corrupt("objects", e))?;
            Ok(counts)
        })
        .await,
    )
}

/// The newest restorable set: the newest full backup and the activity
/// backups that continue it, link by link.
pub fn newest_chain(usable: &[BackupRow]) -> Vec<BackupRow> {
    let Some(full) = usable
        .iter()
        .filter(|b| b.kind == "full")
        .max_by_key(|b| (b.started_at, b.id.clone()))
    else {
        return Vec::new();
    };
    let mut set = vec![full.clone()];
    loop {
        let at = set.last().and_then(|b| b.chain_seq);
        let next = usable
            .iter()
            .filter(|b| b.kind == "activity" && b.from_seq == at && b.chain_seq > at)
            .max_by_key(|b| (b.chain_seq, b.started_at));
        match next {
            Some(b) => set.push(b.clone()),
            None => return set,
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DrillReport {
    pub backup_ids: Vec<String>,
    pub backend: String,
    /// Time to restore and verify, in milliseconds.
    pub rto_ms: u64,
    /// Age of the newest restored data when the drill ran, in milliseconds.
    pub rpo_ms: i64,
    /// Events in the live database the restored copy does not have.
    pub events_behind: i64,
    pub chain: ChainPoint,
    pub tables: Vec<TableRows>,
    pub objects: Option<ObjectsSummary>,
}

/// Restore `set` into scratch and verify it, timing the whole recovery.
pub async fn drill(
    settings: &Settings,
    set: &[BackupRow],
    live_seq: i64,
    now: DateTime<Utc>,
    progress: &ProgressBar,
) -> Result<DrillReport, BackupError> {
    let files: Vec<PathBuf> = set
        .iter()
        .map(|b| {
            b.file
                .as_ref()
                .map(PathBuf::from)
                .ok_or_else(|| BackupError::Refused(format!("backup {} has no file", b.id)))
        })
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let key = key_from(settings)?;
    let opened: Vec<Arc<Opened>> = open_checked(&files, key, progress)
        .await?
        .into_iter()
        .map(Arc::new)
        .collect();
    let full = &opened[0];
    let near = files[0].parent().unwrap_or(Path::new("."));
    let (scratch, stage) = Scratch::new(settings, &full.manifest.backend, None, near).await?;
    let rebuilt = async {
        let db = stage_full(full, &stage, progress).await?;
        let done = async {
            for inc in &opened[1..] {
                apply_increment(&db, inc).await?;
            }
            check_staged(&db, &opened).await
        }
        .await;
        db.close().await;
        let checked = done?;
        let objects = check_objects(full).await?;
        Ok::<_, BackupError>((checked, objects))
    }
    .await;
    scratch.remove().await;
    let ((chain, tables, _), objects) = rebuilt?;
    let rto_ms = started.elapsed().as_millis() as u64;
    let newest = &opened[opened.len() - 1].manifest;
    Ok(DrillReport {
        backup_ids: opened.iter().map(|o| o.manifest.id.clone()).collect(),
        backend: full.manifest.backend.clone(),
        rto_ms,
        rpo_ms: ((now.timestamp_micros() - newest.created_at) / 1000).max(0),
        events_behind: (live_seq - chain.seq).max(0),
        chain,
        tables,
        objects,
    })
}
