//! The object store part: every regular file under the objects directory
//! (raw emails, attachments; content-addressed, never rewritten) as a tar.
//! Taken after the database snapshot: an object is stored before any row
//! refers to it, so every object the snapshot names is already there.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use indicatif::ProgressBar;

use super::manifest::ObjectsSummary;

pub struct ObjectFile {
    pub path: PathBuf,
    pub name: String,
    pub size: u64,
}

/// Regular files under `root`, sorted by name; symlinks are not followed
/// (an object store holds none, and following one could leave the tree).
pub fn list(root: &Path) -> io::Result<Vec<ObjectFile>> {
    let mut out = Vec::new();
    if !root.exists() {
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("walked from root")
                    .to_string_lossy()
                    .replace('\\', "/");
                // Ingestion writes through a temporary name and renames; a
                // file still being written is not an object yet.
                if rel.rsplit('/').next().is_some_and(|n| n.starts_with('.')) {
                    continue;
                }
                out.push(ObjectFile {
                    size: entry.metadata()?.len(),
                    path,
                    name: rel,
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub fn write_tar<W: Write>(
    w: W,
    files: &[ObjectFile],
    progress: &ProgressBar,
) -> io::Result<(W, ObjectsSummary)> {
    let mut builder = tar::Builder::new(w);
    builder.mode(tar::HeaderMode::Deterministic);
    let mut summary = ObjectsSummary { files: 0, bytes: 0 };
    for f in files {
        let mut file = match File::open(&f.path) {
            Ok(file) => file,
            // Removed since it was listed (e.g. by a quarantine clean-up): not part of this backup.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let size = file.metadata()?.len();
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, &f.name, (&mut file).take(size))?;
        summary.files += 1;
        summary.bytes += size;
        progress.inc(size);
    }
    Ok((builder.into_inner()?, summary))
}

fn safe_name(path: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            _ => return Err(format!("unsafe path {:?} in the object store part", path)),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("an empty path in the object store part".into());
    }
    Ok(out)
}

/// Read the whole tar, checking every name; returns what it holds.
pub fn check_tar<R: Read>(r: R) -> Result<ObjectsSummary, String> {
    let mut archive = tar::Archive::new(r);
    let mut summary = ObjectsSummary { files: 0, bytes: 0 };
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err("the object store part holds something other than files".into());
        }
        safe_name(&entry.path().map_err(|e| e.to_string())?)?;
        let n = io::copy(&mut entry, &mut io::sink()).map_err(|e| e.to_string())?;
        summary.files += 1;
        summary.bytes += n;
    }
    Ok(summary)
}

/// Put missing objects in place under `root` (each through a temporary name);
/// objects already present are kept as they are. Returns (written, present).
pub fn extract_tar<R: Read>(r: R, root: &Path) -> Result<(u64, u64), String> {
    let mut archive = tar::Archive::new(r);
    let (mut written, mut present) = (0, 0);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let rel = safe_name(&entry.path().map_err(|e| e.to_string())?)?;
        let target = root.join(&rel);
        if target.exists() {
            present += 1;
            io::copy(&mut entry, &mut io::sink()).map_err(|e| e.to_string())?;
            continue;
        }
        let dir = target.parent().expect("joined under root");
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
        io::copy(&mut entry, &mut tmp).map_err(|e| e.to_string())?;
        tmp.as_file().sync_all().map_err(|e| e.to_string())?;
        tmp.persist(&target).map_err(|e| e.to_string())?;
        written += 1;
    }
    Ok((written, present))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_names_and_skips_files_in_flight() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("ab/cd")).unwrap();
        std::fs::write(src.path().join("ab/cd/abcdef"), b"raw email").unwrap();
        std::fs::write(src.path().join("ab/.tmp-123"), b"half").unwrap();
        std::fs::write(src.path().join("top"), b"x").unwrap();
        let files = list(src.path()).unwrap();
        assert_eq!(
            files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["ab/cd/abcdef", "top"]
        );
        let (tar, summary) = write_tar(Vec::new(), &files, &ProgressBar::hidden()).unwrap();
        assert_eq!((summary.files, summary.bytes), (2, 10));
        assert_eq!(check_tar(&tar[..]).unwrap(), summary);
        let dst = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dst.path().join("ab/cd")).unwrap();
        std::fs::write(dst.path().join("top"), b"x").unwrap();
        assert_eq!(extract_tar(&tar[..], dst.path()).unwrap(), (1, 1));
        assert_eq!(
            std::fs::read(dst.path().join("ab/cd/abcdef")).unwrap(),
            b"raw email"
        );
    }

    #[test]
    fn path_tricks_are_refused() {
        let mut raw = Vec::new();
        {
            let mut b = tar::Builder::new(&mut raw);
            let mut h = tar::Header::new_gnu();
            let data = b"evil";
            h.set_size(data.len() as u64);
            h.set_entry_type(tar::EntryType::Regular);
            // Bypass the builder's own path check, as a hostile archive would.
            h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
            h.set_cksum();
            b.append(&h, &data[..]).unwrap();
            b.finish().unwrap();
        }
        let dst = tempfile::tempdir().unwrap();
        assert!(check_tar(&raw[..]).unwrap_err().contains("unsafe path"));
        assert!(extract_tar(&raw[..], dst.path()).is_err());
        assert!(!dst.path().parent().unwrap().join("escape").exists());
    }
}
