//! Backup SQL: the catalogue of backups and drills, consistent read
//! snapshots, table discovery, PostgreSQL `COPY` out and in, staging schemas,
//! and the activity-stream records an incremental backup carries.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use futures::stream::BoxStream;
use futures::StreamExt;
use pebble_core::audit::StoredEvent;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgConnection, PgPool, Row, TypeInfo, ValueRef};

use super::activity::Checkpoint;
use super::{on_db, on_tx, refused, Db, StoreError, Tx};

// ------------------------------------------------------------ catalogue

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BackupRow {
    pub id: String,
    /// `full` or `activity`.
    pub kind: String,
    /// `running`, `created` or `failed`.
    pub status: String,
    pub file: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub schema_version: Option<i64>,
    pub chain_seq: Option<i64>,
    pub chain_hash: Option<String>,
    pub from_seq: Option<i64>,
    pub encrypted: bool,
    pub error: Option<String>,
    pub verified_at: Option<i64>,
    pub verify_ok: Option<bool>,
    pub verify_error: Option<String>,
    pub deleted_at: Option<i64>,
}

/// What a finished backup records in its catalogue row.
#[derive(Clone, Debug)]
pub struct Created {
    pub file: String,
    pub finished_at: i64,
    pub size_bytes: i64,
    pub sha256: String,
    pub schema_version: i64,
    pub chain_seq: i64,
    pub chain_hash: String,
    pub from_seq: Option<i64>,
}

pub async fn insert_running(
    db: &Db,
    id: &str,
    kind: &str,
    started_at: i64,
    encrypted: bool,
) -> Result<(), StoreError> {
    on_db!(db, |p| {
        sqlx::query(
        "insert into backups (id, kind, status, started_at, encrypted) values ($1, $2, 'running', $3, $4)"
    )
    .bind(id)
    .bind(kind)
    .bind(started_at)
    .bind(encrypted)
    .execute(p)
    .await
    .map_err(refused)
    .map(|_| ())
    })
}

pub async fn mark_created(tx: &mut Tx, id: &str, c: &Created) -> Result<(), StoreError> {
    on_tx!(tx, |conn| sqlx::query(
        "update backups set status = 'created', file = $2, finished_at = $3, size_bytes = $4, \
         sha256 = $5, schema_version = $6, chain_seq = $7, chain_hash = $8, from_seq = $9, \
         error = null where id = $1"
    )
    .bind(id)
    .bind(&c.file)
    .bind(c.finished_at)
    .bind(c.size_bytes)
    .bind(&c.sha256)
    .bind(c.schema_version)
    .bind(c.chain_seq)
    .bind(&c.chain_hash)
    .bind(c.from_seq)
    .execute(conn)
    .await
    .map_err(refused)
    .map(|_| ()))
}

pub async fn mark_failed(db: &Db, id: &str, at: i64, error: &str) -> Result<(), StoreError> {
    on_db!(db, |p| sqlx::query(
        "update backups set status = 'failed', finished_at = $2, error = $3 where id = $1"
    )
    .bind(id)
    .bind(at)
    .bind(error)
    .execute(p)
    .await
    .map_err(refused)
    .map(|_| ()))
}

pub async fn mark_verified(
    tx: &mut Tx,
    id: &str,
    at: i64,
    ok: bool,
    error: Option<&str>,
) -> Result<(), StoreError> {
    on_tx!(tx, |conn| sqlx::query(
        "update backups set verified_at = $2, verify_ok = $3, verify_error = $4 where id = $1"
    )
    .bind(id)
    .bind(at)
    .bind(ok)
    .bind(error)
    .execute(conn)
    .await
    .map_err(refused)
    .map(|_| ()))
}

pub async fn mark_deleted(db: &Db, id: &str, at: i64) -> Result<(), StoreError> {
    on_db!(db, |p| sqlx::query(
        "update backups set deleted_at = $2 where id = $1"
    )
    .bind(id)
    .bind(at)
    .execute(p)
    .await
    .map_err(refused)
    .map(|_| ()))
}

/// Newest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<BackupRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from backups order by started_at desc, id desc limit $1"
    )
    .bind(limit)
    .fetch_all(p)
    .await?))
}

pub async fn get(db: &Db, id: &str) -> Result<Option<BackupRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from backups where id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await?))
}

/// Created backups whose file retention has not removed, oldest first.
pub async fn usable(db: &Db) -> Result<Vec<BackupRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from backups where status = 'created' and deleted_at is null \
         order by started_at asc, id asc"
    )
    .fetch_all(p)
    .await?))
}

/// After a restore: the backup restored from is complete (its row was
/// written as `running` before its own snapshot), and any other backup that
/// was running at that moment never finished in this history.
pub async fn restore_fixup(tx: &mut Tx, id: &str, c: &Created, at: i64) -> Result<(), StoreError> {
    mark_created(tx, id, c).await?;
    on_tx!(tx, |conn| sqlx::query(
        "update backups set status = 'failed', finished_at = $2, \
         error = 'interrupted: the database was restored from an earlier backup' \
         where status = 'running' and id <> $1"
    )
    .bind(id)
    .bind(at)
    .execute(conn)
    .await
    .map_err(refused)
    .map(|_| ()))
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DrillRow {
    pub id: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub ok: bool,
    /// JSON array of backup ids, the full backup first.
    pub backup_ids: String,
    pub rto_ms: Option<i64>,
    pub rpo_ms: Option<i64>,
    pub events_behind: Option<i64>,
    pub error: Option<String>,
}

pub async fn insert_drill(tx: &mut Tx, d: &DrillRow) -> Result<(), StoreError> {
    on_tx!(tx, |conn| sqlx::query(
        "insert into dr_drills (id, started_at, finished_at, ok, backup_ids, rto_ms, rpo_ms, \
         events_behind, error) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(&d.id)
    .bind(d.started_at)
    .bind(d.finished_at)
    .bind(d.ok)
    .bind(&d.backup_ids)
    .bind(d.rto_ms)
    .bind(d.rpo_ms)
    .bind(d.events_behind)
    .bind(&d.error)
    .execute(conn)
    .await
    .map_err(refused)
    .map(|_| ()))
}

pub async fn last_drill(db: &Db) -> Result<Option<DrillRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from dr_drills order by started_at desc, id desc limit 1"
    )
    .fetch_optional(p)
    .await?))
}

// ------------------------------------------------------------ snapshots

/// A read transaction that sees one consistent state of the whole database
/// while writers go on: a WAL read snapshot on SQLite, `REPEATABLE READ` on
/// PostgreSQL (what `pg_dump` uses).
pub async fn begin_snapshot(db: &Db) -> Result<Tx, StoreError> {
    Ok(match db {
        Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN DEFERRED").await?),
        Db::Postgres(p) => Tx::Postgres(
            p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?,
        ),
    })
}

pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Pebble's tables and their columns in order; sqlx's own bookkeeping
/// table is left out (the manifest lists the migrations instead).
pub async fn tables(tx: &mut Tx) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let rows: Vec<(String, String)> =
        match tx {
            Tx::Sqlite(t) => {
                sqlx::query_as(
                    "select m.name, c.name from sqlite_master m, pragma_table_info(m.name) c \
                 where m.type = 'table' and m.name not like 'sqlite_%' \
                 and m.name <> '_sqlx_migrations' order by m.name, c.cid",
                )
                .fetch_all(&mut **t)
                .await?
            }
            Tx::Postgres(t) => sqlx::query_as(
                "select c.table_name::text, c.column_name::text from information_schema.columns c \
                 join information_schema.tables t on t.table_schema = c.table_schema \
                 and t.table_name = c.table_name and t.table_type = 'BASE TABLE' \
                 where c.table_schema = current_schema() and c.table_name <> '_sqlx_migrations' \
                 order by c.table_name, c.ordinal_position",
            )
            .fetch_all(&mut **t)
            .await?,
        };
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, column) in rows {
        out.entry(table).or_default().push(column);
    }
    Ok(out)
}

pub async fn count(tx: &mut Tx, table: &str) -> Result<i64, StoreError> {
    let sql = format!("select count(*) from {}", ident(table));
    Ok(on_tx!(tx, |c| sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(c)
        .await?))
}

/// Applied migrations: version and hex checksum.
pub async fn migrations(tx: &mut Tx) -> Result<Vec<(i64, String)>, StoreError> {
    let rows: Vec<(i64, Vec<u8>)> = on_tx!(tx, |c| sqlx::query_as(
        "select version, checksum from _sqlx_migrations where success order by version"
    )
    .fetch_all(c)
    .await?);
    Ok(rows.into_iter().map(|(v, c)| (v, hex::encode(c))).collect())
}

/// The chain head inside a transaction.
pub async fn head(tx: &mut Tx) -> Result<(i64, String), StoreError> {
    let row: Option<(i64, String)> = on_tx!(tx, |c| sqlx::query_as(
        "select seq, hash from activity_stream order by seq desc limit 1"
    )
    .fetch_optional(c)
    .await?);
    Ok(row.unwrap_or((0, hex::encode(pebble_core::audit::GENESIS_HASH))))
}

/// The migrations this build knows for a backend: version and hex checksum.
pub fn known_migrations(backend: super::Backend) -> Vec<(i64, String)> {
    let migrator = match backend {
        super::Backend::Sqlite => &super::SQLITE_MIGRATIONS,
        super::Backend::Postgres => &super::POSTGRES_MIGRATIONS,
    };
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, hex::encode(&m.checksum)))
        .collect()
}

/// Apply only these migration versions (a backup's schema), nothing newer.
pub async fn migrate_only(db: &Db, versions: &BTreeSet<i64>) -> Result<(), StoreError> {
    let all = db.migrator();
    let migrator = sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            all.iter()
                .filter(|m| versions.contains(&m.version))
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    on_db!(db, |p| migrator.run(p).await?);
    Ok(())
}

/// A SQLite file opened read-only (a snapshot, or a restore target probed
/// before anything may write to it).
pub async fn open_sqlite_readonly(path: &std::path::Path) -> Result<Db, StoreError> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    Ok(Db::Sqlite(pool))
}

/// Tables in a SQLite file, without writing to it.
pub async fn sqlite_table_count(path: &std::path::Path) -> Result<i64, StoreError> {
    let db = open_sqlite_readonly(path).await?;
    let n = match &db {
        Db::Sqlite(p) => {
            sqlx::query_scalar("select count(*) from sqlite_master where type = 'table'")
                .fetch_one(p)
                .await
        }
        Db::Postgres(_) => unreachable!("opened as SQLite"),
    };
    db.close().await;
    Ok(n?)
}

/// Write everything in SQLite's WAL back into the main file, so the file
/// alone is the whole database (before it is renamed into place).
pub async fn sqlite_checkpoint(db: &Db) -> Result<(), StoreError> {
    if let Db::Sqlite(p) = db {
        sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(p)
            .await?;
    }
    Ok(())
}

/// On PostgreSQL, take the backup advisory lock on a connection of its own;
/// `None` when another process holds it.
pub async fn pg_try_lock(
    pool: &PgPool,
    key: i64,
) -> Result<Option<sqlx::pool::PoolConnection<sqlx::Postgres>>, StoreError> {
    let mut conn = pool.acquire().await?;
    // Advisory locks are per database; Pebble deployments are per schema,
    // so the schema is part of the key and two deployments sharing one
    // database do not take turns at each other's backups.
    let got: bool =
        sqlx::query_scalar("select pg_try_advisory_lock(hashtextextended(current_schema(), $1))")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
    Ok(got.then_some(conn))
}

/// `VACUUM INTO`: a consistent, compact copy of a live SQLite database,
/// taken inside one read transaction while writers carry on.
pub async fn sqlite_vacuum_into(db: &Db, path: &std::path::Path) -> Result<(), StoreError> {
    let Db::Sqlite(p) = db else {
        return Err(StoreError::Refused("VACUUM INTO is SQLite only".into()));
    };
    sqlx::query("vacuum into $1")
        .bind(path.to_string_lossy().into_owned())
        .execute(p)
        .await?;
    Ok(())
}

// ------------------------------------------------------------ PostgreSQL COPY

pub fn copy_columns(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Send a table's rows, in `COPY` text format, read inside the caller's
/// snapshot, to `out`. Returns the rows sent (text format ends every row,
/// and only a row, with a newline).
pub async fn pg_copy_out(
    conn: &mut PgConnection,
    table: &str,
    columns: &[String],
    out: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<u64, StoreError> {
    let sql = format!(
        "copy {} ({}) to stdout",
        ident(table),
        copy_columns(columns)
    );
    let mut chunks = conn.copy_out_raw(&sql).await?;
    let mut rows = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        rows += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        if out.send(chunk.to_vec()).await.is_err() {
            return Err(StoreError::Refused("the backup writer stopped".into()));
        }
    }
    Ok(rows)
}

/// Tables in an order that satisfies every foreign key (referenced first).
pub async fn pg_load_order(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables \
         where table_schema = current_schema() and table_type = 'BASE TABLE' \
         and table_name <> '_sqlx_migrations' order by table_name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let edges: Vec<(String, String)> = sqlx::query_as(
        "select distinct cl.relname::text, rf.relname::text from pg_constraint k \
         join pg_class cl on cl.oid = k.conrelid join pg_class rf on rf.oid = k.confrelid \
         where k.contype = 'f' and cl.relnamespace = current_schema()::regnamespace",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in &edges {
        if from != to {
            needs.entry(from).or_default().insert(to);
        }
    }
    let mut order = Vec::new();
    let mut placed = BTreeSet::new();
    while order.len() < tables.len() {
        let before = order.len();
        for t in &tables {
            if placed.contains(t.as_str()) {
                continue;
            }
            let ready = needs
                .get(t.as_str())
                .is_none_or(|deps| deps.iter().all(|d| placed.contains(d)));
            if ready {
                placed.insert(t.as_str());
                order.push(t.clone());
            }
        }
        if order.len() == before {
            return Err(StoreError::Refused(
                "the tables' foreign keys form a cycle; cannot order a restore".into(),
            ));
        }
    }
    Ok(order)
}

/// Load one table from `COPY` text chunks. Seed rows a migration inserted
/// are removed first: the backup holds them as they were. Returns the rows
/// loaded.
pub async fn pg_copy_in(
    conn: &mut PgConnection,
    table: &str,
    columns: &[String],
    mut chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
) -> Result<u64, StoreError> {
    sqlx::query(&format!("delete from {}", ident(table)))
        .execute(&mut *conn)
        .await
        .map_err(refused)?;
    let sql = format!(
        "copy {} ({}) from stdin",
        ident(table),
        copy_columns(columns)
    );
    let mut copy = conn.copy_in_raw(&sql).await?;
    while let Some(chunk) = chunks.recv().await {
        if let Err(e) = copy.send(chunk).await {
            return Err(StoreError::Database(e));
        }
    }
    copy.finish().await.map_err(refused)
}

/// After loading rows with explicit ids, move every sequence past them.
pub async fn pg_reset_sequences(conn: &mut PgConnection) -> Result<(), StoreError> {
    let seqs: Vec<(String, String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text, \
         pg_get_serial_sequence(quote_ident(table_name), column_name)::text \
         from information_schema.columns where table_schema = current_schema() \
         and pg_get_serial_sequence(quote_ident(table_name), column_name) is not null",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (table, column, seq) in seqs {
        let sql = format!(
            "select setval($1, coalesce((select max({}) from {}), 0) + 1, false)",
            ident(&column),
            ident(&table)
        );
        sqlx::query(&sql).bind(seq).execute(&mut *conn).await?;
    }
    Ok(())
}

/// One SQLite table as `COPY` text, for loading a SQLite backup into
/// PostgreSQL. Integers, reals and text map directly; booleans are stored as
/// 0/1, which PostgreSQL's boolean input accepts; blobs become bytea hex.
pub fn sqlite_as_copy<'a>(
    pool: &'a sqlx::SqlitePool,
    table: &str,
    columns: &[String],
) -> BoxStream<'a, Result<Vec<u8>, StoreError>> {
    let sql = format!("select {} from {}", copy_columns(columns), ident(table));
    async_stream::try_stream! {
        let mut rows = sqlx::query(&sql).fetch(pool);
        let mut buf = Vec::with_capacity(1 << 16);
        while let Some(row) = futures::TryStreamExt::try_next(&mut rows).await? {
            for i in 0..row.columns().len() {
                if i > 0 {
                    buf.push(b'\t');
                }
                let raw = row.try_get_raw(i)?;
                if raw.is_null() {
                    buf.extend_from_slice(b"\\N");
                    continue;
                }
                let type_name = raw.type_info().name().to_owned();
                match type_name.as_str() {
                    "INTEGER" | "BOOLEAN" => {
                        let v: i64 = row.try_get(i)?;
                        buf.extend_from_slice(v.to_string().as_bytes());
                    }
                    "REAL" => {
                        let v: f64 = row.try_get(i)?;
                        buf.extend_from_slice(v.to_string().as_bytes());
                    }
                    "BLOB" => {
                        let v: Vec<u8> = row.try_get(i)?;
                        buf.extend_from_slice(b"\\\\x");
                        buf.extend_from_slice(hex::encode(v).as_bytes());
                    }
                    _ => {
                        let v: String = row.try_get(i)?;
                        if v.contains('\0') {
                            Err(StoreError::NulByte)?;
                        }
                        copy_escape(&v, &mut buf);
                    }
                }
            }
            buf.push(b'\n');
            if buf.len() >= 1 << 16 {
                yield std::mem::replace(&mut buf, Vec::with_capacity(1 << 16));
            }
        }
        if !buf.is_empty() {
            yield buf;
        }
    }
    .boxed()
}

/// Text in `COPY` text format: backslash, tab, newline and carriage return escaped.
fn copy_escape(v: &str, out: &mut Vec<u8>) {
    for b in v.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

// ------------------------------------------------------------ staging schemas

/// The schema a PostgreSQL URL's connections work in.
pub async fn pg_current_schema(pool: &PgPool) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("select current_schema()::text")
        .fetch_one(pool)
        .await?)
}

pub async fn pg_schema_tables(pool: &PgPool, schema: &str) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar(
            "select count(*) from information_schema.tables where table_schema = $1",
        )
        .bind(schema)
        .fetch_one(pool)
        .await?,
    )
}

pub async fn pg_create_schema(pool: &PgPool, schema: &str) -> Result<(), StoreError> {
    sqlx::query(&format!("create schema {}", ident(schema)))
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn pg_drop_schema(pool: &PgPool, schema: &str) -> Result<(), StoreError> {
    sqlx::query(&format!("drop schema if exists {} cascade", ident(schema)))
        .execute(pool)
        .await?;
    Ok(())
}

/// A pool on `url` whose connections work in `schema`.
pub async fn pg_pool_in_schema(url: &str, schema: &str) -> Result<Db, StoreError> {
    let options: PgConnectOptions = url.parse()?;
    let set_path = format!("set search_path to {}", ident(schema));
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .after_connect(move |conn, _| {
            let sql = set_path.clone();
            Box::pin(async move {
                conn.execute(sql.as_str()).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok(Db::Postgres(pool))
}

/// Put the restored schema in place of `target` in one transaction: the old
/// one is renamed to `aside` when it holds anything, else dropped.
pub async fn pg_swap_schema(
    pool: &PgPool,
    staging: &str,
    target: &str,
    aside: &str,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_namespace where nspname = $1)")
            .bind(target)
            .fetch_one(&mut *tx)
            .await?;
    let mut set_aside = false;
    if exists {
        let objects: i64 = sqlx::query_scalar(
            "select (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1) \
             + (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1)",
        )
        .bind(target)
        .fetch_one(&mut *tx)
        .await?;
        if objects > 0 {
            sqlx::query(&format!(
                "alter schema {} rename to {}",
                ident(target),
                ident(aside)
            ))
            .execute(&mut *tx)
            .await?;
            set_aside = true;
        } else {
            sqlx::query(&format!("drop schema {}", ident(target)))
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query(&format!(
        "alter schema {} rename to {}",
        ident(staging),
        ident(target)
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(set_aside)
}

// ------------------------------------------------------------ activity increments

/// Events with `from < seq <= to`, oldest first, with their redaction time.
pub fn events_between<'a>(
    tx: &'a mut Tx,
    from: i64,
    to: i64,
) -> BoxStream<'a, Result<StoredEvent, StoreError>> {
    let sql = "select a.*, r.redacted_at from activity_stream a \
               left join activity_redaction r on r.seq = a.seq \
               where a.seq > $1 and a.seq <= $2 order by a.seq";
    match tx {
        Tx::Sqlite(t) => async_stream::try_stream! {
            let mut rows = sqlx::query_as::<_, EventRow>(sql).bind(from).bind(to).fetch(&mut **t);
            while let Some(r) = futures::TryStreamExt::try_next(&mut rows).await? {
                yield r.into();
            }
        }
        .boxed(),
        Tx::Postgres(t) => async_stream::try_stream! {
            let mut rows = sqlx::query_as::<_, EventRow>(sql).bind(from).bind(to).fetch(&mut **t);
            while let Some(r) = futures::TryStreamExt::try_next(&mut rows).await? {
                yield r.into();
            }
        }
        .boxed(),
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    id: String,
    occurred_at: i64,
    recorded_at: i64,
    event_type: String,
    actor_kind: String,
    actor_id: String,
    entity_type: String,
    entity_id: String,
    retention_class: String,
    payload: Option<String>,
    payload_hash: String,
    prev_hash: String,
    hash: String,
    redacted_at: Option<i64>,
}

impl From<EventRow> for StoredEvent {
    fn from(r: EventRow) -> Self {
        StoredEvent {
            seq: r.seq,
            id: r.id,
            occurred_at: r.occurred_at,
            recorded_at: r.recorded_at,
            event_type: r.event_type,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            retention_class: r.retention_class,
            payload: r.payload,
            payload_hash: r.payload_hash,
            prev_hash: r.prev_hash,
            hash: r.hash,
            redacted_at: r.redacted_at,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct Redaction {
    pub seq: i64,
    pub redacted_at: i64,
    pub reason: String,
}

/// Redactions an increment must carry: those of its own events, and those
/// of older events recorded since `since_us`.
pub async fn redactions_for(
    tx: &mut Tx,
    from: i64,
    to: i64,
    since_us: i64,
) -> Result<Vec<Redaction>, StoreError> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "select seq, redacted_at, reason from activity_redaction \
         where seq <= $2 and (seq > $1 or redacted_at >= $3) order by seq"
    )
    .bind(from)
    .bind(to)
    .bind(since_us)
    .fetch_all(c)
    .await?))
}

/// Checkpoints signed after the event `from` and seen by a snapshot whose
/// head is `to` (a checkpoint of size N is appended as event N + 1).
pub async fn checkpoints_between(
    tx: &mut Tx,
    from: i64,
    to: i64,
) -> Result<Vec<Checkpoint>, StoreError> {
    let rows = on_tx!(tx, |c| sqlx::query(
        "select tree_size, merkle_root, chain_head, created_at, key_id, public_key, signature \
         from audit_checkpoint where tree_size >= $1 and tree_size < $2 order by id"
    )
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?
    .into_iter()
    .map(|r| {
        Ok::<_, sqlx::Error>(Checkpoint {
            tree_size: r.try_get("tree_size")?,
            merkle_root: r.try_get("merkle_root")?,
            chain_head: r.try_get("chain_head")?,
            created_at: r.try_get("created_at")?,
            key_id: r.try_get("key_id")?,
            public_key: r.try_get("public_key")?,
            signature: r.try_get("signature")?,
        })
    })
    .collect::<Result<Vec<_>, _>>()?);
    Ok(rows)
}

/// Re-record a redaction from a backup (if not already on record) and empty
/// the payload, as the original redaction did.
pub async fn apply_redaction(tx: &mut Tx, r: &Redaction) -> Result<(), StoreError> {
    let inserted = on_tx!(tx, |c| sqlx::query(
        "insert into activity_redaction (seq, redacted_at, reason) \
         select $1, $2, $3 where not exists (select 1 from activity_redaction where seq = $1)"
    )
    .bind(r.seq)
    .bind(r.redacted_at)
    .bind(&r.reason)
    .execute(&mut *c)
    .await
    .map_err(refused)?
    .rows_affected());
    if inserted == 1 {
        on_tx!(tx, |c| sqlx::query(
            "update activity_stream set payload = null where seq = $1 and payload is not null"
        )
        .bind(r.seq)
        .execute(&mut *c)
        .await
        .map_err(refused)
        .map(|_| ())?);
    }
    Ok(())
}
