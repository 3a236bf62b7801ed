//! The backup file: a plain POSIX tar, so that an operator without Pebble can
//! still `tar xf` it and `zstd -d` a part. Entries are streamed straight into
//! the file (the header is patched with the size once the entry is written),
//! each part compressed with zstd and, with a key, sealed (`crypto`). The file
//! is written as `NAME.partial` and renamed once complete and on disk, so a
//! crash never leaves a plausible-looking half backup.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::crypto::{Key, OpenReader, SealWriter};
use super::manifest::PartRecord;

/// Counts and hashes the bytes passing through.
pub struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    bytes: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    pub fn finish(self) -> (T, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

pub struct ArchiveWriter {
    file: File,
    partial: PathBuf,
    path: PathBuf,
}

impl ArchiveWriter {
    pub fn create(path: &Path) -> io::Result<ArchiveWriter> {
        let partial = path.with_extension("partial");
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&partial)?;
        Ok(ArchiveWriter {
            file,
            partial,
            path: path.to_owned(),
        })
    }

    fn entry(&mut self, name: &str) -> io::Result<EntryWriter<'_>> {
        let header_at = self.file.stream_position()?;
        self.file.write_all(&[0u8; 512])?;
        Ok(EntryWriter {
            out: BufWriter::with_capacity(1 << 20, &mut self.file),
            header_at,
            name: name.to_owned(),
            size: 0,
        })
    }

    /// A small entry written whole (the manifest and its seal).
    pub fn put(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut e = self.entry(name)?;
        e.write_all(data)?;
        e.finish()
    }

    /// A part: compressed, sealed with `key` when given, hashed on both sides.
    pub fn part(
        &mut self,
        path: &str,
        level: i32,
        key: Option<(&Key, Vec<u8>)>,
    ) -> io::Result<PartWriter<'_>> {
        let entry = Hashing::new(self.entry(path)?);
        let sink = match key {
            Some((k, aad)) => Sink::Sealed(SealWriter::new(entry, k, aad)?),
            None => Sink::Plain(entry),
        };
        Ok(PartWriter {
            raw: Hashing::new(zstd::stream::write::Encoder::new(sink, level)?),
        })
    }

    /// End the archive, put it on disk and give it its final name. Returns
    /// the file's size and SHA-256.
    pub fn finish(mut self) -> io::Result<(PathBuf, u64, String)> {
        self.file.write_all(&[0u8; 1024])?;
        self.file.sync_all()?;
        // Taken, so that `drop` has nothing left to remove.
        let partial = std::mem::take(&mut self.partial);
        let path = std::mem::take(&mut self.path);
        std::fs::rename(&partial, &path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        let (size, sha) = file_digest(&path)?;
        Ok((path, size, sha))
    }
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        // Unfinished: leave nothing behind.
        if !self.partial.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

pub fn file_digest(path: &Path) -> io::Result<(u64, String)> {
    let mut h = Hashing::new(io::sink());
    io::copy(
        &mut BufReader::with_capacity(1 << 20, File::open(path)?),
        &mut h,
    )?;
    let (_, sha, size) = h.finish();
    Ok((size, sha))
}

struct EntryWriter<'a> {
    out: BufWriter<&'a mut File>,
    header_at: u64,
    name: String,
    size: u64,
}

impl Write for EntryWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.out.write(data)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl EntryWriter<'_> {
    fn finish(self) -> io::Result<()> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        let pad = (512 - self.size % 512) % 512;
        file.write_all(&vec![0u8; pad as usize])?;
        let mut header = tar::Header::new_ustar();
        header.set_path(&self.name)?;
        header.set_size(self.size);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        );
        header.set_cksum();
        file.seek(SeekFrom::Start(self.header_at))?;
        file.write_all(header.as_bytes())?;
        file.seek(SeekFrom::End(0))?;
        Ok(())
    }
}

enum Sink<'a> {
    Plain(Hashing<EntryWriter<'a>>),
    Sealed(SealWriter<Hashing<EntryWriter<'a>>>),
}

impl Write for Sink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(data),
            Sink::Sealed(w) => w.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Sealed(w) => w.flush(),
        }
    }
}

/// Write the raw bytes of a part, then `finish`.
pub struct PartWriter<'a> {
    raw: Hashing<zstd::stream::write::Encoder<'static, Sink<'a>>>,
}

/// What a written part measured.
pub struct PartDigest {
    pub raw_bytes: u64,
    pub raw_sha256: String,
    pub stored_bytes: u64,
    pub stored_sha256: String,
}

impl Write for PartWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.raw.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.raw.flush()
    }
}

impl PartWriter<'_> {
    pub fn finish(self) -> io::Result<PartDigest> {
        let (encoder, raw_sha256, raw_bytes) = self.raw.finish();
        let stored = match encoder.finish()? {
            Sink::Plain(w) => w,
            Sink::Sealed(w) => w.finish()?,
        };
        let (entry, stored_sha256, stored_bytes) = stored.finish();
        entry.finish()?;
        Ok(PartDigest {
            raw_bytes,
            raw_sha256,
            stored_bytes,
            stored_sha256,
        })
    }
}

/// Where each entry's data lies in the file.
#[derive(Clone, Debug)]
pub struct EntryInfo {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

pub struct ArchiveReader {
    path: PathBuf,
    entries: Vec<EntryInfo>,
}

impl ArchiveReader {
    /// Index the entries; a damaged tar header is reported here.
    pub fn open(path: &Path) -> io::Result<ArchiveReader> {
        let file = File::open(path)?;
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut entries = Vec::new();
        for entry in archive.entries_with_seek()? {
            let entry = entry?;
            entries.push(EntryInfo {
                name: entry.path()?.to_string_lossy().into_owned(),
                offset: entry.raw_file_position(),
                size: entry.size(),
            });
        }
        Ok(ArchiveReader {
            path: path.to_owned(),
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }

    pub fn find(&self, name: &str) -> Option<&EntryInfo> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The stored bytes of one entry.
    pub fn raw(&self, e: &EntryInfo) -> io::Result<impl Read + Send> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(e.offset))?;
        Ok(BufReader::with_capacity(1 << 20, file).take(e.size))
    }

    pub fn read_small(&self, name: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(e) = self.find(name) else {
            return Ok(None);
        };
        if e.size > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name} is implausibly large ({} bytes)", e.size),
            ));
        }
        let mut out = Vec::with_capacity(e.size as usize);
        self.raw(e)?.read_to_end(&mut out)?;
        Ok(Some(out))
    }

    /// SHA-256 and size of an entry's stored bytes.
    pub fn stored_digest(&self, e: &EntryInfo) -> io::Result<(String, u64)> {
        let mut h = Hashing::new(io::sink());
        io::copy(&mut self.raw(e)?, &mut h)?;
        let (_, sha, n) = h.finish();
        Ok((sha, n))
    }

    /// The decoded (opened and decompressed) bytes of a part. Read it to the
    /// end, then `PartReader::check` compares size and SHA-256 with the manifest.
    pub fn part(&self, part: &PartRecord, key: Option<(&Key, Vec<u8>)>) -> io::Result<PartReader> {
        let e = self.find(&part.path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the part is missing from the archive",
            )
        })?;
        let stored: Box<dyn Read + Send> = match key {
            Some((k, aad)) => Box::new(OpenReader::new(self.raw(e)?, k, aad)?),
            None => Box::new(self.raw(e)?),
        };
        Ok(PartReader {
            inner: Hashing::new(zstd::stream::read::Decoder::new(stored)?),
            expect_bytes: part.raw_bytes,
            expect_sha: part.raw_sha256.clone(),
        })
    }
}

pub struct PartReader {
    inner: Hashing<zstd::stream::read::Decoder<'static, BufReader<Box<dyn Read + Send>>>>,
    expect_bytes: u64,
    expect_sha: String,
}

impl Read for PartReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl PartReader {
    /// After reading to the end: did the decoded bytes match the manifest?
    pub fn check(mut self) -> io::Result<()> {
        io::copy(&mut self.inner, &mut io::sink())?;
        let (_, sha, n) = self.inner.finish();
        if n != self.expect_bytes || sha != self.expect_sha {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "decoded content differs from the manifest ({n} bytes, SHA-256 {sha}; expected {} bytes, {})",
                    self.expect_bytes, self.expect_sha
                ),
            ));
        }
        Ok(())
    }
}
