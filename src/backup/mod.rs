//! Backups, restore and disaster-recovery drills (SPEC §10).
//!
//! A backup is one tar file (`archive`) of compressed, optionally sealed
//! parts (`crypto`) and a manifest (`manifest`). A full backup holds the
//! database as of one consistent snapshot (SQLite: `VACUUM INTO`; PostgreSQL:
//! every table by `COPY` inside one `REPEATABLE READ` transaction), the object
//! store, and the chain head; an activity backup holds the events appended
//! since an earlier backup (the stream is append-only, so that is all that
//! changed in it). `restore` rebuilds a database from them, `schedule` runs
//! it all inside `pebble serve`.

pub mod archive;
pub mod crypto;
pub mod manifest;
pub mod objects;
pub mod restore;
pub mod schedule;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use indicatif::ProgressBar;
use pebble_core::audit::{Actor, EventType, NewEvent};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::audit::{Audit, AuditError};
use crate::clock::Clock;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::store::backup::{self as sql, BackupRow, Created};
use crate::store::{Backend, Db, StoreError, Tx};
use archive::ArchiveWriter;
use crypto::Key;
use manifest::{
    ChainPoint, Encryption, Kind, Manifest, MigrationRef, ObjectsSummary, PartFormat, PartRecord,
    TableRows,
};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A part (or the manifest, or the archive itself) failed a check.
    #[error("{part}: {detail}")]
    Corrupt { part: String, detail: String },
    /// Refused on purpose: a newer schema, a live target, a backend mix it cannot do.
    #[error("{0}")]
    Refused(String),
    /// The encryption key is missing or is not the one the backup was sealed with.
    #[error("{0}")]
    Key(String),
    #[error("another backup is running; try again when it has finished")]
    Busy,
    #[error("no such backup")]
    NotFound,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl BackupError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
        let what = what.into();
        move |source| BackupError::Io { what, source }
    }

    pub fn corrupt(part: impl Into<String>, detail: impl std::fmt::Display) -> BackupError {
        BackupError::Corrupt {
            part: part.into(),
            detail: detail.to_string(),
        }
    }
}

/// A spawned blocking task that panicked or was cancelled.
fn joined<T>(r: Result<Result<T, BackupError>, tokio::task::JoinError>) -> Result<T, BackupError> {
    r.unwrap_or_else(|e| {
        Err(BackupError::Io {
            what: "backup worker".into(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

/// The backup key from the settings, if one is configured.
pub fn key_from(settings: &Settings) -> Result<Option<Key>, BackupError> {
    match &settings.backup_encryption_key {
        Some(k) if !k.expose_secret().trim().is_empty() => Key::from_base64(k.expose_secret())
            .map(Some)
            .map_err(BackupError::Key),
        _ => Ok(None),
    }
}

/// What a new backup is.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedBackup {
    pub id: String,
    pub kind: Kind,
    pub file: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub duration_ms: u64,
    pub chain: ChainPoint,
    pub from: Option<ChainPoint>,
    pub encrypted: bool,
    pub tables: Vec<TableRows>,
    pub objects: Option<ObjectsSummary>,
}

/// The backup service shared by the CLI, the API and the scheduler.
pub struct Backups {
    settings: Arc<Settings>,
    db: Db,
    audit: Arc<Audit>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    /// One backup, verification or drill at a time per process.
    busy: Arc<tokio::sync::Mutex<()>>,
}

/// The process-wide turn for backup work, movable into a spawned task.
pub type Turn = tokio::sync::OwnedMutexGuard<()>;

/// A backup whose catalogue row is written (as `running`), to be completed.
pub struct Pending {
    pub id: String,
    pub kind: Kind,
    _cluster: ClusterLock,
    at: DateTime<Utc>,
    started: Instant,
    base: Option<Base>,
    key: Option<Key>,
    dir: PathBuf,
}

/// An incremental continues from here; `since_us` bounds the redactions of
/// older events it must carry (with a day's margin for clock skew).
struct Base {
    from: ChainPoint,
    since_us: i64,
}

const REDACTION_MARGIN_US: i64 = 86_400 * 1_000_000;

impl Backups {
    pub fn new(
        settings: Arc<Settings>,
        db: Db,
        audit: Arc<Audit>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Backups {
            settings,
            db,
            audit,
            metrics,
            clock,
            busy: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub async fn list(&self, limit: i64) -> Result<Vec<BackupRow>, BackupError> {
        Ok(sql::list(&self.db, limit).await?)
    }

    pub async fn get(&self, id: &str) -> Result<BackupRow, BackupError> {
        sql::get(&self.db, id).await?.ok_or(BackupError::NotFound)
    }

    /// The catalogue's last successful backup of each kind seeds the age
    /// gauges, so a restart does not look like "never backed up".
    pub async fn seed_metrics(&self) -> Result<(), BackupError> {
        for row in sql::usable(&self.db).await? {
            let kind = if row.kind == "full" {
                "full"
            } else {
                "activity"
            };
            self.metrics
                .backup
                .seed_last_success(kind, row.finished_at.unwrap_or(row.started_at));
        }
        if let Some(d) = sql::last_drill(&self.db).await? {
            if d.ok {
                self.metrics
                    .backup
                    .drill_last
                    .set(d.finished_at as f64 / 1e6);
                self.metrics
                    .backup
                    .drill_rto
                    .set(d.rto_ms.unwrap_or(0) as f64 / 1e3);
                self.metrics
                    .backup
                    .drill_rpo
                    .set(d.rpo_ms.unwrap_or(0) as f64 / 1e3);
            }
        }
        Ok(())
    }

    /// This process's turn for backup work, or `Busy`.
    pub fn turn(&self) -> Result<Turn, BackupError> {
        self.busy
            .clone()
            .try_lock_owned()
            .map_err(|_| BackupError::Busy)
    }

    /// Take a backup now. Only one runs at a time in this process and, on
    /// PostgreSQL, in the whole cluster of Pebble processes.
    pub async fn create(
        &self,
        kind: Kind,
        out_dir: Option<&Path>,
        actor: Actor,
        progress: &ProgressBar,
    ) -> Result<CreatedBackup, BackupError> {
        let _turn = self.turn()?;
        let pending = self.begin(kind, out_dir).await?;
        self.complete(pending, actor, progress).await
    }

    /// The first, quick half of a backup (the caller holds a `Turn`): take
    /// the cluster lock, find what an increment continues from, and write
    /// the catalogue row, so that the backup has an id to follow.
    pub async fn begin(&self, kind: Kind, out_dir: Option<&Path>) -> Result<Pending, BackupError> {
        let cluster = ClusterLock::take(&self.db).await?;
        let key = key_from(&self.settings)?;
        let dir = out_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.settings.backup_dir());
        std::fs::create_dir_all(&dir)
            .map_err(BackupError::io(format!("creating {}", dir.display())))?;
        let base = match kind {
            Kind::Full => None,
            Kind::Activity => Some(self.incremental_base().await?),
        };
        let id = uuid::Uuid::now_v7().to_string();
        let at = self.clock.now();
        sql::insert_running(
            &self.db,
            &id,
            kind.as_str(),
            at.timestamp_micros(),
            key.is_some(),
        )
        .await?;
        Ok(Pending {
            id,
            kind,
            _cluster: cluster,
            at,
            started: Instant::now(),
            base,
            key,
            dir,
        })
    }

    /// Write the backup `begin` started, and record it (`BackupCreated`).
    pub async fn complete(
        &self,
        p: Pending,
        actor: Actor,
        progress: &ProgressBar,
    ) -> Result<CreatedBackup, BackupError> {
        let Pending {
            id,
            kind,
            _cluster,
            at,
            started,
            base,
            key,
            dir,
        } = p;
        let written = self
            .write(kind, &id, at, &dir, base, key.as_ref(), progress)
            .await;
        let finished = self.clock.now().timestamp_micros();
        let (manifest, path, size, sha) = match written {
            Ok(w) => w,
            Err(e) => {
                self.metrics.backup.failed(kind.as_str());
                if let Err(e2) = sql::mark_failed(&self.db, &id, finished, &e.to_string()).await {
                    tracing::error!(error = %e2, "could not record a failed backup");
                }
                return Err(e);
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let file = path.to_string_lossy().into_owned();
        let created = Created {
            file: file.clone(),
            finished_at: finished,
            size_bytes: size as i64,
            sha256: sha.clone(),
            schema_version: manifest.schema_version,
            chain_seq: manifest.chain.seq,
            chain_hash: manifest.chain.hash.clone(),
            from_seq: manifest.from.as_ref().map(|f| f.seq),
        };
        let mut tx = self.db.begin().await?;
        sql::mark_created(&mut tx, &id, &created).await?;
        self.audit
            .append(
                &mut tx,
                &[NewEvent::new(
                    EventType::BackupCreated,
                    actor,
                    "backup",
                    id.clone(),
                    serde_json::json!({
                        "id": id,
                        "kind": kind.as_str(),
                        "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                        "size": size,
                        "checksum": sha,
                        "duration_ms": duration_ms,
                        "chain_seq": manifest.chain.seq,
                        "chain_hash": manifest.chain.hash,
                        "from_seq": manifest.from.as_ref().map(|f| f.seq),
                        "schema_version": manifest.schema_version,
                        "encrypted": key.is_some(),
                    }),
                    at,
                )],
            )
            .await?;
        self.audit.commit(tx).await?;
        self.metrics.backup.succeeded(kind.as_str(), finished);
        tracing::info!(
            id,
            kind = kind.as_str(),
            file,
            size,
            duration_ms,
            "backup created"
        );
        Ok(CreatedBackup {
            id,
            kind,
            file,
            size_bytes: size,
            sha256: sha,
            duration_ms,
            chain: manifest.chain,
            from: manifest.from,
            encrypted: key.is_some(),
            tables: manifest.tables,
            objects: manifest.objects,
        })
    }

    /// An incremental continues from the newest backup still on disk.
    async fn incremental_base(&self) -> Result<Base, BackupError> {
        let newest = sql::usable(&self.db)
            .await?
            .into_iter()
            .filter(|b| b.chain_seq.is_some() && b.chain_hash.is_some())
            .max_by_key(|b| (b.chain_seq, b.started_at));
        match newest {
            Some(b) => Ok(Base {
                from: ChainPoint {
                    seq: b.chain_seq.unwrap_or(0),
                    hash: b.chain_hash.unwrap_or_default(),
                },
                since_us: b.started_at - REDACTION_MARGIN_US,
            }),
            None => Err(BackupError::Refused(
                "an activity backup continues an earlier backup, and there is none: take a full backup first".into(),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        kind: Kind,
        id: &str,
        at: DateTime<Utc>,
        dir: &Path,
        base: Option<Base>,
        key: Option<&Key>,
        progress: &ProgressBar,
    ) -> Result<(Manifest, PathBuf, u64, String), BackupError> {
        let path = dir.join(format!(
            "pebble-{}-{}-{}.tar",
            kind.as_str(),
            at.format("%Y%m%dT%H%M%SZ"),
            &id[id.len() - 8..]
        ));
        let archive = ArchiveWriter::create(&path)
            .map_err(BackupError::io(format!("creating {}", path.display())))?;
        let mut manifest = Manifest {
            format: manifest::FORMAT.into(),
            id: id.to_owned(),
            kind,
            created_at: at.timestamp_micros(),
            pebble_version: env!("CARGO_PKG_VERSION").into(),
            backend: self.db.backend().as_str().into(),
            schema_version: 0,
            migrations: Vec::new(),
            chain: ChainPoint {
                seq: 0,
                hash: String::new(),
            },
            from: None,
            tables: Vec::new(),
            objects: None,
            compression: "zstd".into(),
            encryption: key.map(|k| Encryption {
                algorithm: crypto::ALGORITHM.into(),
                key_id: k.id().into(),
            }),
            parts: Vec::new(),
        };
        let level = self.settings.backup_compression_level;
        let archive = match (kind, base, &self.db) {
            (Kind::Full, _, Db::Sqlite(_)) => {
                self.full_sqlite(archive, &mut manifest, dir, level, key, progress)
                    .await?
            }
            (Kind::Full, _, Db::Postgres(_)) => {
                self.full_postgres(archive, &mut manifest, level, key, progress)
                    .await?
            }
            (Kind::Activity, Some(base), _) => {
                self.activity(archive, &mut manifest, base, level, key)
                    .await?
            }
            (Kind::Activity, None, _) => unreachable!("an activity backup always has a base"),
        };
        let mut archive = if kind == Kind::Full {
            self.objects_part(archive, &mut manifest, level, key, progress)
                .await?
        } else {
            archive
        };
        let (path, size, sha) = tokio::task::spawn_blocking({
            let manifest = manifest.clone();
            let key = key.cloned();
            move || -> Result<_, BackupError> {
                let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
                let digest = pebble_core::audit::sha256(&text);
                archive
                    .put(manifest::MANIFEST, &text)
                    .map_err(BackupError::io("writing the manifest"))?;
                match &key {
                    Some(k) => archive.put(
                        manifest::MANIFEST_SEAL,
                        &k.seal(&digest, manifest::SEAL_AAD),
                    ),
                    None => archive.put(manifest::MANIFEST_SHA, hex::encode(digest).as_bytes()),
                }
                .map_err(BackupError::io("writing the manifest digest"))?;
                archive
                    .finish()
                    .map_err(BackupError::io("finishing the backup file"))
            }
        })
        .await
        .map_err(|e| BackupError::Io {
            what: "backup worker".into(),
            source: std::io::Error::other(e.to_string()),
        })??;
        Ok((manifest, path, size, sha))
    }

    async fn full_sqlite(
        &self,
        archive: ArchiveWriter,
        manifest: &mut Manifest,
        dir: &Path,
        level: i32,
        key: Option<&Key>,
        progress: &ProgressBar,
    ) -> Result<ArchiveWriter, BackupError> {
        let scratch = tempfile::Builder::new()
            .prefix(".snapshot-")
            .tempdir_in(dir)
            .map_err(BackupError::io("creating a snapshot directory"))?;
        let snap = scratch.path().join("pebble.db");
        progress.set_message("snapshot");
        sql::sqlite_vacuum_into(&self.db, &snap).await?;
        // The manifest describes the snapshot file itself, read back.
        let snap_db = sql::open_sqlite_readonly(&snap).await?;
        let facts = facts(&snap_db).await;
        snap_db.close().await;
        let facts = facts?;
        facts.fill(manifest);
        let len = std::fs::metadata(&snap)
            .map_err(BackupError::io("reading the snapshot"))?
            .len();
        progress.set_length(len);
        progress.set_message("database");
        let (pb, key, id) = (progress.clone(), key.cloned(), manifest.id.clone());
        let (archive, record) = joined(
            tokio::task::spawn_blocking(move || {
                let mut archive = archive;
                let path = "parts/database.sqlite.zst";
                let aad = key.as_ref().map(|k| (k, Manifest::part_aad(&id, path)));
                let mut part = archive
                    .part(path, level, aad)
                    .map_err(BackupError::io("writing the database part"))?;
                let file =
                    std::fs::File::open(&snap).map_err(BackupError::io("reading the snapshot"))?;
                std::io::copy(&mut pb.wrap_read(file), &mut part)
                    .map_err(BackupError::io("writing the database part"))?;
                let d = part
                    .finish()
                    .map_err(BackupError::io("writing the database part"))?;
                drop(scratch);
                Ok((
                    archive,
                    record(path, "database", PartFormat::Sqlite, None, d),
                ))
            })
            .await,
        )?;
        manifest.parts.push(record);
        Ok(archive)
    }

    async fn full_postgres(
        &self,
        mut archive: ArchiveWriter,
        manifest: &mut Manifest,
        level: i32,
        key: Option<&Key>,
        progress: &ProgressBar,
    ) -> Result<ArchiveWriter, BackupError> {
        let mut tx = sql::begin_snapshot(&self.db).await?;
        let facts = facts_in(&mut tx, false).await?;
        let Tx::Postgres(t) = &mut tx else {
            unreachable!("a PostgreSQL database gives PostgreSQL transactions")
        };
        let mut rows = Vec::new();
        progress.set_message("tables");
        for (table, columns) in &facts.tables {
            let path = format!("parts/table-{table}.copy.zst");
            let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
            let (pb, key, id, p) = (
                progress.clone(),
                key.cloned(),
                manifest.id.clone(),
                path.clone(),
            );
            let writer = tokio::task::spawn_blocking(move || {
                let aad = key.as_ref().map(|k| (k, Manifest::part_aad(&id, &p)));
                let mut part = archive
                    .part(&p, level, aad)
                    .map_err(BackupError::io("writing a table part"))?;
                while let Some(chunk) = receiver.blocking_recv() {
                    part.write_all(&chunk)
                        .map_err(BackupError::io("writing a table part"))?;
                    pb.inc(chunk.len() as u64);
                }
                let d = part
                    .finish()
                    .map_err(BackupError::io("writing a table part"))?;
                Ok((archive, d))
            });
            let copied = sql::pg_copy_out(&mut *t, table, columns, &sender).await;
            drop(sender);
            let (back, d) = joined(writer.await)?;
            archive = back;
            let n = copied?;
            rows.push(TableRows {
                name: table.clone(),
                rows: n as i64,
            });
            manifest.parts.push(record(
                &path,
                &format!("table:{table}"),
                PartFormat::PgCopy,
                Some(columns.clone()),
                d,
            ));
        }
        tx.commit().await?;
        facts.fill(manifest);
        manifest.tables = rows;
        Ok(archive)
    }

    async fn activity(
        &self,
        archive: ArchiveWriter,
        manifest: &mut Manifest,
        base: Base,
        level: i32,
        key: Option<&Key>,
    ) -> Result<ArchiveWriter, BackupError> {
        let mut tx = sql::begin_snapshot(&self.db).await?;
        let facts = facts_in(&mut tx, true).await?;
        if facts.head.0 < base.from.seq {
            return Err(BackupError::Refused(format!(
                "the activity stream ends at seq {} but the last backup holds seq {}: was the database restored? take a full backup",
                facts.head.0, base.from.seq
            )));
        }
        let redactions =
            sql::redactions_for(&mut tx, base.from.seq, facts.head.0, base.since_us).await?;
        let checkpoints = sql::checkpoints_between(&mut tx, base.from.seq, facts.head.0).await?;
        let path = "parts/activity.jsonl.zst";
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
        let (key2, id) = (key.cloned(), manifest.id.clone());
        let writer = tokio::task::spawn_blocking(move || {
            let mut archive = archive;
            let aad = key2.as_ref().map(|k| (k, Manifest::part_aad(&id, path)));
            let mut part = archive
                .part(path, level, aad)
                .map_err(BackupError::io("writing the activity part"))?;
            while let Some(chunk) = receiver.blocking_recv() {
                part.write_all(&chunk)
                    .map_err(BackupError::io("writing the activity part"))?;
            }
            let d = part
                .finish()
                .map_err(BackupError::io("writing the activity part"))?;
            Ok((archive, d))
        });
        let mut events = 0i64;
        let mut first_link = None;
        let pumped: Result<(), BackupError> = async {
            let mut buf = Vec::with_capacity(1 << 16);
            let mut rows = sql::events_between(&mut tx, base.from.seq, facts.head.0);
            while let Some(e) = rows.next().await {
                let e = e?;
                if first_link.is_none() {
                    first_link = Some(e.prev_hash.clone());
                }
                events += 1;
                restore::Record::Event(e).write_line(&mut buf);
                if buf.len() >= 1 << 16 {
                    send(&sender, &mut buf).await?;
                }
            }
            drop(rows);
            for r in &redactions {
                restore::Record::Redaction(r.clone()).write_line(&mut buf);
            }
            for c in &checkpoints {
                restore::Record::Checkpoint(c.clone()).write_line(&mut buf);
            }
            send(&sender, &mut buf).await
        }
        .await;
        drop(sender);
        let (archive, d) = joined(writer.await)?;
        pumped?;
        tx.commit().await?;
        if let Some(link) = first_link {
            if link != base.from.hash {
                return Err(BackupError::Refused(format!(
                    "the event after seq {} does not continue the last backup's chain head: the live chain differs from the backed-up one",
                    base.from.seq
                )));
            }
        }
        facts.fill(manifest);
        manifest.from = Some(base.from);
        manifest.tables = vec![
            TableRows {
                name: "events".into(),
                rows: events,
            },
            TableRows {
                name: "redactions".into(),
                rows: redactions.len() as i64,
            },
            TableRows {
                name: "checkpoints".into(),
                rows: checkpoints.len() as i64,
            },
        ];
        manifest
            .parts
            .push(record(path, "activity", PartFormat::Jsonl, None, d));
        Ok(archive)
    }

    async fn objects_part(
        &self,
        archive: ArchiveWriter,
        manifest: &mut Manifest,
        level: i32,
        key: Option<&Key>,
        progress: &ProgressBar,
    ) -> Result<ArchiveWriter, BackupError> {
        let root = self.settings.objects_dir();
        let (pb, key, id) = (progress.clone(), key.cloned(), manifest.id.clone());
        let (archive, record, summary) = joined(
            tokio::task::spawn_blocking(move || {
                let mut archive = archive;
                let files = objects::list(&root)
                    .map_err(BackupError::io(format!("listing {}", root.display())))?;
                pb.set_length(files.iter().map(|f| f.size).sum());
                pb.set_position(0);
                pb.set_message("objects");
                let path = "parts/objects.tar.zst";
                let aad = key.as_ref().map(|k| (k, Manifest::part_aad(&id, path)));
                let part = archive
                    .part(path, level, aad)
                    .map_err(BackupError::io("writing the objects part"))?;
                let (part, summary) = objects::write_tar(part, &files, &pb)
                    .map_err(BackupError::io("writing the objects part"))?;
                let d = part
                    .finish()
                    .map_err(BackupError::io("writing the objects part"))?;
                Ok((
                    archive,
                    record(path, "objects", PartFormat::Tar, None, d),
                    summary,
                ))
            })
            .await,
        )?;
        manifest.parts.push(record);
        manifest.objects = Some(summary);
        Ok(archive)
    }

    /// Start a backup in the background and return its id at once (the API
    /// and the UI answer before the minutes a backup can take); the
    /// catalogue row shows the outcome.
    pub async fn start_create(
        self: &Arc<Self>,
        kind: Kind,
        actor: Actor,
    ) -> Result<String, BackupError> {
        let turn = self.turn()?;
        let pending = self.begin(kind, None).await?;
        let id = pending.id.clone();
        let backups = self.clone();
        tokio::spawn(async move {
            let _turn = turn;
            if let Err(e) = backups
                .complete(pending, actor, &ProgressBar::hidden())
                .await
            {
                tracing::error!(error = %e, "a backup started in the background failed");
            }
        });
        Ok(id)
    }

    /// Start verifying a catalogued backup in the background; the row shows
    /// the verdict. Refused when the backup has no file (failed, or removed
    /// by retention).
    pub async fn start_verify(
        self: &Arc<Self>,
        id: &str,
        actor: Actor,
    ) -> Result<Kind, BackupError> {
        let row = self.get(id).await?;
        let file = match (&row.file, row.status.as_str(), row.deleted_at) {
            (Some(f), "created", None) => PathBuf::from(f),
            _ => {
                return Err(BackupError::Refused(format!(
                    "backup {id} has no file to verify (status {}{})",
                    row.status,
                    if row.deleted_at.is_some() {
                        ", removed by retention"
                    } else {
                        ""
                    }
                )))
            }
        };
        let kind: Kind = row
            .kind
            .parse()
            .map_err(|e: String| BackupError::corrupt("catalogue", e))?;
        let turn = self.turn()?;
        let backups = self.clone();
        tokio::spawn(async move {
            let _turn = turn;
            if let Err(e) = backups
                .verify_in_turn(&file, None, actor, &ProgressBar::hidden())
                .await
            {
                tracing::error!(error = %e, "a verification started in the background failed");
            }
        });
        Ok(kind)
    }

    /// Verify a backup file; records `BackupVerified` (and the catalogue's
    /// verdict) when the backup is one of this database's.
    pub async fn verify(
        &self,
        file: &Path,
        scratch: Option<&str>,
        actor: Actor,
        progress: &ProgressBar,
    ) -> Result<restore::VerifyReport, BackupError> {
        let _turn = self.turn()?;
        self.verify_in_turn(file, scratch, actor, progress).await
    }

    /// `verify`, for a caller that already holds the `Turn`.
    pub async fn verify_in_turn(
        &self,
        file: &Path,
        scratch: Option<&str>,
        actor: Actor,
        progress: &ProgressBar,
    ) -> Result<restore::VerifyReport, BackupError> {
        let report = restore::verify_file(&self.settings, file, scratch, progress).await?;
        self.record_verified(&report, actor).await?;
        Ok(report)
    }

    /// Append `BackupVerified` for a backup in this database's catalogue.
    /// Returns false when the backup is not one of this database's.
    pub async fn record_verified(
        &self,
        report: &restore::VerifyReport,
        actor: Actor,
    ) -> Result<bool, BackupError> {
        let Some(id) = &report.id else {
            return Ok(false);
        };
        if sql::get(&self.db, id).await?.is_none() {
            return Ok(false);
        }
        let at = self.clock.now();
        let mut tx = self.db.begin().await?;
        sql::mark_verified(
            &mut tx,
            id,
            at.timestamp_micros(),
            report.ok,
            report.message.as_deref().filter(|_| !report.ok),
        )
        .await?;
        self.audit
            .append(
                &mut tx,
                &[NewEvent::new(
                    EventType::BackupVerified,
                    actor,
                    "backup",
                    id.clone(),
                    serde_json::json!({
                        "id": id,
                        "ok": report.ok,
                        "size": report.size_bytes,
                        "checksum": report.sha256,
                        "duration_ms": report.duration_ms,
                        "failed_part": report.failed_part,
                        "message": report.message,
                        "chain_seq": report.chain.as_ref().map(|c| c.seq),
                    }),
                    at,
                )],
            )
            .await?;
        self.audit.commit(tx).await?;
        Ok(true)
    }

    /// Backup, restore into scratch, verify; measure how long recovery
    /// takes (RTO) and how much the newest backups would lose (RPO).
    pub async fn drill(
        &self,
        fresh: bool,
        actor: Actor,
        progress: &ProgressBar,
    ) -> Result<restore::DrillReport, BackupError> {
        let _turn = self.turn()?;
        let started_at = self.clock.now();
        let drill_id = uuid::Uuid::now_v7().to_string();
        let outcome = async {
            let mut set = restore::newest_chain(&sql::usable(&self.db).await?);
            if fresh || set.is_empty() {
                let pending = self.begin(Kind::Full, None).await?;
                self.complete(pending, actor.clone(), progress).await?;
                set = restore::newest_chain(&sql::usable(&self.db).await?);
            }
            let (live_seq, _) = crate::store::activity::head(&self.db).await?;
            restore::drill(&self.settings, &set, live_seq, self.clock.now(), progress).await
        }
        .await;
        let finished_at = self.clock.now();
        let (row, result) = match outcome {
            Ok(report) => (
                sql::DrillRow {
                    id: drill_id.clone(),
                    started_at: started_at.timestamp_micros(),
                    finished_at: finished_at.timestamp_micros(),
                    ok: true,
                    backup_ids: serde_json::to_string(&report.backup_ids).expect("ids serialise"),
                    rto_ms: Some(report.rto_ms as i64),
                    rpo_ms: Some(report.rpo_ms),
                    events_behind: Some(report.events_behind),
                    error: None,
                },
                Ok(report),
            ),
            Err(e) => (
                sql::DrillRow {
                    id: drill_id.clone(),
                    started_at: started_at.timestamp_micros(),
                    finished_at: finished_at.timestamp_micros(),
                    ok: false,
                    backup_ids: "[]".into(),
                    rto_ms: None,
                    rpo_ms: None,
                    events_behind: None,
                    error: Some(e.to_string()),
                },
                Err(e),
            ),
        };
        let mut tx = self.db.begin().await?;
        sql::insert_drill(&mut tx, &row).await?;
        if let Ok(report) = &result {
            let full = report.backup_ids.first().cloned().unwrap_or_default();
            self.audit
                .append(
                    &mut tx,
                    &[NewEvent::new(
                        EventType::BackupVerified,
                        actor,
                        "backup",
                        full.clone(),
                        serde_json::json!({
                            "id": full,
                            "ok": true,
                            "drill": drill_id,
                            "backup_ids": report.backup_ids,
                            "duration_ms": report.rto_ms,
                            "rto_seconds": report.rto_ms as f64 / 1e3,
                            "rpo_seconds": report.rpo_ms as f64 / 1e3,
                            "events_behind": report.events_behind,
                            "chain_seq": report.chain.seq,
                        }),
                        finished_at,
                    )],
                )
                .await?;
        }
        self.audit.commit(tx).await?;
        if let Ok(report) = &result {
            let m = &self.metrics.backup;
            m.drill_rto.set(report.rto_ms as f64 / 1e3);
            m.drill_rpo.set(report.rpo_ms as f64 / 1e3);
            m.drill_last
                .set(finished_at.timestamp_micros() as f64 / 1e6);
        }
        result
    }

    /// Apply retention now: full backups by day and ISO week, and the
    /// activity backups no kept full backup can use any more.
    pub async fn prune(&self) -> Result<Vec<String>, BackupError> {
        let usable = sql::usable(&self.db).await?;
        let doomed = schedule::doomed(
            &usable,
            self.settings.backup_keep_daily,
            self.settings.backup_keep_weekly,
        );
        let now = self.clock.now().timestamp_micros();
        let mut removed = Vec::new();
        for b in usable.iter().filter(|b| doomed.contains(&b.id)) {
            if let Some(file) = &b.file {
                match std::fs::remove_file(file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::error!(file, error = %e, "retention could not remove a backup");
                        continue;
                    }
                }
            }
            sql::mark_deleted(&self.db, &b.id, now).await?;
            removed.push(b.id.clone());
        }
        Ok(removed)
    }
}

/// Facts about one snapshot, read inside it.
struct Facts {
    tables: std::collections::BTreeMap<String, Vec<String>>,
    counts: Vec<TableRows>,
    migrations: Vec<MigrationRef>,
    head: (i64, String),
}

impl Facts {
    fn fill(&self, m: &mut Manifest) {
        m.schema_version = self.migrations.iter().map(|r| r.version).max().unwrap_or(0);
        m.migrations = self.migrations.clone();
        m.chain = ChainPoint {
            seq: self.head.0,
            hash: self.head.1.clone(),
        };
        m.tables = self.counts.clone();
    }
}

async fn facts(db: &Db) -> Result<Facts, BackupError> {
    let mut tx = sql::begin_snapshot(db).await?;
    let mut f = facts_in(&mut tx, false).await?;
    for t in f.tables.keys() {
        let rows = sql::count(&mut tx, t).await?;
        f.counts.push(TableRows {
            name: t.clone(),
            rows,
        });
    }
    tx.commit().await?;
    Ok(f)
}

async fn facts_in(tx: &mut Tx, head_only: bool) -> Result<Facts, BackupError> {
    let head = sql::head(tx).await?;
    let migrations = sql::migrations(tx)
        .await?
        .into_iter()
        .map(|(version, checksum)| MigrationRef { version, checksum })
        .collect();
    let tables = if head_only {
        Default::default()
    } else {
        sql::tables(tx).await?
    };
    Ok(Facts {
        tables,
        counts: Vec::new(),
        migrations,
        head,
    })
}

async fn send(
    sender: &tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: &mut Vec<u8>,
) -> Result<(), BackupError> {
    if buf.is_empty() {
        return Ok(());
    }
    sender
        .send(std::mem::replace(buf, Vec::with_capacity(1 << 16)))
        .await
        .map_err(|_| BackupError::Io {
            what: "backup writer".into(),
            source: std::io::Error::other("the writer stopped"),
        })
}

fn record(
    path: &str,
    name: &str,
    format: PartFormat,
    columns: Option<Vec<String>>,
    d: archive::PartDigest,
) -> PartRecord {
    PartRecord {
        name: name.to_owned(),
        path: path.to_owned(),
        format,
        columns,
        raw_bytes: d.raw_bytes,
        raw_sha256: d.raw_sha256,
        stored_bytes: d.stored_bytes,
        stored_sha256: d.stored_sha256,
    }
}

/// On PostgreSQL, a session advisory lock held for the whole backup, so that
/// several Pebble processes sharing the database (and schema) never back up at once.
struct ClusterLock(Option<sqlx::pool::PoolConnection<sqlx::Postgres>>);

const ADVISORY_KEY: i64 = 0x7065_6262_6c65_6b70; // "pebblekp"

impl ClusterLock {
    async fn take(db: &Db) -> Result<ClusterLock, BackupError> {
        let Db::Postgres(pool) = db else {
            return Ok(ClusterLock(None));
        };
        let Some(conn) = sql::pg_try_lock(pool, ADVISORY_KEY).await? else {
            return Err(BackupError::Busy);
        };
        Ok(ClusterLock(Some(conn)))
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // Closing the session releases its advisory locks; a pooled
            // connection would keep holding it.
            let _ = conn.detach();
        }
    }
}

/// The backend a database URL names.
pub fn backend_of(url: &str) -> Backend {
    if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}
