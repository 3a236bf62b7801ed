//! The object store: raw emails and attachments as immutable files named by
//! their SHA-256, under `data_dir/objects/sha256/ab/abcd…`. Content
//! addressing makes a write idempotent (the same bytes land on the same
//! name), so a retried import or a second copy of an attachment costs nothing.
//!
//! Durability: an object is written to a temporary file, flushed, and only
//! then renamed into place, so a name in the store always holds complete
//! bytes. `put` does that for one object; a `Batch` does it for many with
//! two file-system syncs in all instead of two per object, and its `commit`
//! must come before the database commit that refers to the objects.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("object {0} is not in the store")]
    Missing(String),
    #[error("object {key} does not match its checksum: the file is damaged")]
    Corrupt { key: String },
    #[error("{0:?} is not an object key")]
    BadKey(String),
    #[error("object store I/O at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

#[derive(Clone, Debug)]
pub struct ObjectStore {
    root: PathBuf,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ObjectStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ObjectStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Store `bytes` durably; returns its key.
    pub fn put(&self, bytes: &[u8]) -> Result<String, ObjectError> {
        let (key, written) = self.write(bytes)?;
        if let Some(path) = written {
            let dir = path.parent().expect("objects live in a directory");
            sync_dir(dir)?;
        }
        Ok(key)
    }

    /// Start a batch of writes made durable together by `Batch::commit`.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            store: self,
            pending: Vec::new(),
        }
    }

    pub fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ObjectError::Missing(key.into())),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    /// Read and check against the key: the object store is where bit rot
    /// would otherwise go unnoticed.
    pub fn get_verified(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
        let bytes = self.get(key)?;
        if sha256_hex(&bytes) != key {
            return Err(ObjectError::Corrupt { key: key.into() });
        }
        Ok(bytes)
    }

    pub fn contains(&self, key: &str) -> Result<bool, ObjectError> {
        Ok(self.path(key)?.exists())
    }

    /// Delete an object (data-subject erasure). Absent is not an error.
    pub fn remove(&self, key: &str) -> Result<(), ObjectError> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    pub fn path(&self, key: &str) -> Result<PathBuf, ObjectError> {
        if key.len() != 64 || !key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ObjectError::BadKey(key.into()));
        }
        Ok(self.root.join("sha256").join(&key[..2]).join(key))
    }

    /// Writes the object unless it is already there; returns the path when
    /// it wrote (and synced the file itself).
    fn write(&self, bytes: &[u8]) -> Result<(String, Option<PathBuf>), ObjectError> {
        let key = sha256_hex(bytes);
        let path = self.path(&key)?;
        if path.exists() {
            return Ok((key, None));
        }
        let tmp = temp_with(&path, bytes)?;
        tmp.as_file()
            .sync_data()
            .map_err(|e| io_err(tmp.path(), e))?;
        tmp.persist(&path).map_err(|e| io_err(&path, e.error))?;
        Ok((key, Some(path)))
    }

    fn sync_fs(&self) -> Result<(), ObjectError> {
        fs::create_dir_all(&self.root).map_err(|e| io_err(&self.root, e))?;
        let dir = File::open(&self.root).map_err(|e| io_err(&self.root, e))?;
        rustix::fs::syncfs(&dir).map_err(|e| io_err(&self.root, e.into()))
    }
}

/// Objects written but not yet in place. Dropped without `commit`, the
/// temporary files are removed and nothing appears in the store.
pub struct Batch<'a> {
    store: &'a ObjectStore,
    pending: Vec<(tempfile::NamedTempFile, PathBuf)>,
}

impl Batch<'_> {
    /// Write `bytes` to a temporary file; returns its key.
    pub fn put(&mut self, bytes: &[u8]) -> Result<String, ObjectError> {
        let key = sha256_hex(bytes);
        let path = self.store.path(&key)?;
        if !path.exists() && !self.pending.iter().any(|(_, p)| *p == path) {
            let tmp = temp_with(&path, bytes)?;
            self.pending.push((tmp, path));
        }
        Ok(key)
    }

    /// Flush the data, rename every object into place, flush the renames.
    pub fn commit(self) -> Result<(), ObjectError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.store.sync_fs()?;
        for (tmp, path) in self.pending {
            tmp.persist(&path).map_err(|e| io_err(&path, e.error))?;
        }
        self.store.sync_fs()
    }
}

fn temp_with(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, ObjectError> {
    let dir = path.parent().expect("objects live in a directory");
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_err(dir, e))?;
    tmp.write_all(bytes).map_err(|e| io_err(tmp.path(), e))?;
    Ok(tmp)
}

fn sync_dir(dir: &Path) -> Result<(), ObjectError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

fn io_err(path: &Path, source: io::Error) -> ObjectError {
    ObjectError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_content_addressed_idempotent_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::new(dir.path());
        let key = store.put(b"hello").unwrap();
        assert_eq!(key, sha256_hex(b"hello"));
        let mut batch = store.batch();
        assert_eq!(batch.put(b"hello").unwrap(), key);
        let other = batch.put(b"world").unwrap();
        assert_eq!(batch.put(b"world").unwrap(), other);
        assert!(
            !store.contains(&other).unwrap(),
            "not in place before commit"
        );
        batch.commit().unwrap();
        assert_eq!(store.get_verified(&other).unwrap(), b"world");
        let mut dropped = store.batch();
        let never = dropped.put(b"never").unwrap();
        drop(dropped);
        assert!(!store.contains(&never).unwrap());
        assert_eq!(store.get_verified(&key).unwrap(), b"hello");
        fs::write(store.path(&key).unwrap(), b"hellO").unwrap();
        assert!(matches!(
            store.get_verified(&key),
            Err(ObjectError::Corrupt { .. })
        ));
        store.remove(&key).unwrap();
        assert!(matches!(store.get(&key), Err(ObjectError::Missing(_))));
        assert!(matches!(
            store.get("../../etc/passwd"),
            Err(ObjectError::BadKey(_))
        ));
    }
}
