//! `manifest.json`: what a backup holds and how to check it. Stored in the
//! archive in clear (so a backup can be listed without its key), followed by
//! `manifest.sha256`, or `manifest.seal` (the digest sealed with the key) for
//! encrypted backups, so that the manifest itself is checked first.

use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "pebble-backup/1";
pub const MANIFEST: &str = "manifest.json";
pub const MANIFEST_SHA: &str = "manifest.sha256";
pub const MANIFEST_SEAL: &str = "manifest.seal";
pub const SEAL_AAD: &[u8] = b"pebble-backup/1 manifest";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The whole database, the object store and the chain head.
    Full,
    /// Activity-stream events appended since an earlier backup.
    Activity,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Full => "full",
            Kind::Activity => "activity",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Kind::Full),
            "activity" => Ok(Kind::Activity),
            _ => Err(format!("{s:?} is not a backup kind (full or activity)")),
        }
    }
}

/// A position in the activity stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainPoint {
    pub seq: i64,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MigrationRef {
    pub version: i64,
    /// Hex SHA-384 of the migration's SQL, as sqlx records it.
    pub checksum: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TableRows {
    pub name: String,
    pub rows: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectsSummary {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Encryption {
    pub algorithm: String,
    pub key_id: String,
}

/// How a part's decoded bytes are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartFormat {
    /// A SQLite database file (an online snapshot).
    Sqlite,
    /// One PostgreSQL table in `COPY … TO STDOUT` text format.
    PgCopy,
    /// A tar of the object store.
    Tar,
    /// Activity-stream records, one JSON object a line.
    Jsonl,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartRecord {
    /// The name verification reports: `database`, `table:NAME`, `objects`, `activity`.
    pub name: String,
    /// The entry inside the archive.
    pub path: String,
    pub format: PartFormat,
    /// For `pg_copy`: the columns, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    pub raw_bytes: u64,
    pub raw_sha256: String,
    pub stored_bytes: u64,
    pub stored_sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Manifest {
    pub format: String,
    pub id: String,
    pub kind: Kind,
    /// When the snapshot was taken, µs since the epoch.
    pub created_at: i64,
    pub pebble_version: String,
    /// `sqlite` or `postgres`: the backend the data came from.
    pub backend: String,
    pub schema_version: i64,
    /// Every migration applied to the source database.
    pub migrations: Vec<MigrationRef>,
    /// The last event inside (the chain head at the snapshot).
    pub chain: ChainPoint,
    /// Activity backups: the event this one continues from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChainPoint>,
    /// Rows per table at the snapshot (activity backups: records by kind).
    pub tables: Vec<TableRows>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<ObjectsSummary>,
    pub compression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    pub parts: Vec<PartRecord>,
}

impl Manifest {
    pub fn rows(&self, table: &str) -> Option<i64> {
        self.tables.iter().find(|t| t.name == table).map(|t| t.rows)
    }

    /// Associated data binding a sealed part to this backup and its place.
    pub fn part_aad(id: &str, path: &str) -> Vec<u8> {
        format!("{FORMAT}\0{id}\0{path}").into_bytes()
    }
}
