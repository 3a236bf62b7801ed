//! Optional encryption of backup parts: XChaCha20-Poly1305 in the STREAM
//! construction (RustCrypto `aead::stream`, big-endian 32-bit counter), in
//! 64 KiB chunks, so a part of any size is encrypted and authenticated in
//! constant memory and a truncated or reordered part fails to open.
//!
//! Stored part = 19-byte random nonce prefix ‖ chunks (plaintext + 16-byte tag);
//! the last chunk is sealed with the "last" flag. Every chunk's associated data
//! names the backup and the part, so parts cannot be swapped between backups.

use std::io::{self, Read, Write};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "xchacha20poly1305-stream-be32-64k";
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const PREFIX: usize = 19;

/// The backup key (32 bytes, given as base64 in the environment).
#[derive(Clone)]
pub struct Key {
    bytes: [u8; 32],
    id: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Key {
    pub fn from_base64(text: &str) -> Result<Key, String> {
        let raw = B64
            .decode(text.trim())
            .map_err(|_| "the backup encryption key is not base64".to_owned())?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| {
            "the backup encryption key must be 32 bytes (e.g. `openssl rand -base64 32`)".to_owned()
        })?;
        let mut h = Sha256::new();
        h.update(b"pebble-backup-key-id\0");
        h.update(bytes);
        let id = hex::encode(&h.finalize()[..8]);
        Ok(Key { bytes, id })
    }

    /// A public name for the key, kept in the manifest so that a wrong key
    /// is named as such rather than as corruption.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(GenericArray::from_slice(&self.bytes))
    }

    /// Authenticate a digest (the manifest's): nonce ‖ ciphertext of it.
    pub fn seal(&self, digest: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher()
                .encrypt(&nonce, Payload { msg: digest, aad })
                .expect("encrypting 32 bytes cannot fail"),
        );
        out
    }

    /// The digest inside `sealed`, or `None` when it does not authenticate.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 24 {
            return None;
        }
        let (nonce, ct) = sealed.split_at(24);
        self.cipher()
            .decrypt(GenericArray::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
    }
}

/// Encrypts everything written to it; `finish` seals the last chunk.
pub struct SealWriter<W: Write> {
    inner: W,
    enc: Option<EncryptorBE32<XChaCha20Poly1305>>,
    buf: Vec<u8>,
    aad: Vec<u8>,
}

impl<W: Write> SealWriter<W> {
    pub fn new(mut inner: W, key: &Key, aad: Vec<u8>) -> io::Result<Self> {
        let mut prefix = [0u8; PREFIX];
        rand::rngs::OsRng.fill_bytes(&mut prefix);
        inner.write_all(&prefix)?;
        Ok(SealWriter {
            inner,
            enc: Some(EncryptorBE32::from_aead(
                key.cipher(),
                GenericArray::from_slice(&prefix),
            )),
            buf: Vec::with_capacity(2 * CHUNK),
            aad,
        })
    }

    pub fn finish(mut self) -> io::Result<W> {
        let enc = self.enc.take().expect("finish is called once");
        let ct = enc
            .encrypt_last(Payload {
                msg: &self.buf,
                aad: &self.aad,
            })
            .map_err(|_| io::Error::other("encryption failed"))?;
        self.inner.write_all(&ct)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        // Strictly more than a chunk: the last chunk must go through `finish`.
        while self.buf.len() > CHUNK {
            let enc = self.enc.as_mut().expect("not finished");
            let ct = enc
                .encrypt_next(Payload {
                    msg: &self.buf[..CHUNK],
                    aad: &self.aad,
                })
                .map_err(|_| io::Error::other("encryption failed"))?;
            self.inner.write_all(&ct)?;
            self.buf.drain(..CHUNK);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts a sealed part; any failed chunk (tampering, truncation, a wrong
/// key) is an `InvalidData` error.
pub struct OpenReader<R: Read> {
    inner: R,
    dec: Option<DecryptorBE32<XChaCha20Poly1305>>,
    aad: Vec<u8>,
    pending: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
}

fn fill<R: Read>(r: &mut R, buf: &mut Vec<u8>, want: usize) -> io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < want {
        let room = (want - buf.len()).min(chunk.len());
        let n = r.read(&mut chunk[..room])?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

fn not_authentic() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "decryption failed: wrong key, or the part was altered",
    )
}

impl<R: Read> OpenReader<R> {
    pub fn new(mut inner: R, key: &Key, aad: Vec<u8>) -> io::Result<Self> {
        let mut prefix = Vec::with_capacity(PREFIX);
        fill(&mut inner, &mut prefix, PREFIX)?;
        if prefix.len() < PREFIX {
            return Err(not_authentic());
        }
        Ok(OpenReader {
            inner,
            dec: Some(DecryptorBE32::from_aead(
                key.cipher(),
                GenericArray::from_slice(&prefix),
            )),
            aad,
            pending: Vec::with_capacity(CHUNK + TAG + 1),
            out: Vec::new(),
            pos: 0,
        })
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        fill(&mut self.inner, &mut self.pending, CHUNK + TAG + 1)?;
        let Some(dec) = self.dec.as_mut() else {
            self.out.clear();
            return Ok(());
        };
        self.out = if self.pending.len() > CHUNK + TAG {
            let pt = dec
                .decrypt_next(Payload {
                    msg: &self.pending[..CHUNK + TAG],
                    aad: &self.aad,
                })
                .map_err(|_| not_authentic())?;
            self.pending.drain(..CHUNK + TAG);
            pt
        } else {
            let dec = self.dec.take().expect("checked above");
            let pt = dec
                .decrypt_last(Payload {
                    msg: &self.pending,
                    aad: &self.aad,
                })
                .map_err(|_| not_authentic())?;
            self.pending.clear();
            pt
        };
        self.pos = 0;
        Ok(())
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if self.dec.is_none() {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key::from_base64(&B64.encode([b; 32])).unwrap()
    }

    fn seal(data: &[u8], k: &Key) -> Vec<u8> {
        let mut w = SealWriter::new(Vec::new(), k, b"aad".to_vec()).unwrap();
        for piece in data.chunks(7_777) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn open(sealed: &[u8], k: &Key, aad: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        OpenReader::new(sealed, k, aad.to_vec())?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_every_size_around_the_chunk_boundary() {
        let k = key(7);
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let sealed = seal(&data, &k);
            assert_eq!(open(&sealed, &k, b"aad").unwrap(), data, "len {len}");
        }
    }

    #[test]
    fn a_flipped_bit_a_wrong_key_a_cut_or_other_aad_fail() {
        let k = key(7);
        let data = vec![42u8; 2 * CHUNK + 100];
        let sealed = seal(&data, &k);
        let mut flipped = sealed.clone();
        flipped[PREFIX + CHUNK + 3] ^= 1;
        assert!(open(&flipped, &k, b"aad").is_err());
        assert!(open(&sealed, &key(8), b"aad").is_err());
        assert!(open(&sealed, &k, b"other").is_err());
        // Cut exactly at a chunk boundary: the remaining chunk was not sealed as last.
        assert!(open(&sealed[..PREFIX + CHUNK + TAG], &k, b"aad").is_err());
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(Key::from_base64("not base64!").is_err());
        assert!(Key::from_base64(&B64.encode([1u8; 16])).is_err());
        let k = key(1);
        assert_eq!(k.id().len(), 16);
        assert!(!format!("{k:?}").contains(&B64.encode([1u8; 32])));
        let sealed = k.seal(&[9; 32], b"m");
        assert_eq!(k.open(&sealed, b"m").unwrap(), vec![9; 32]);
        assert!(key(2).open(&sealed, b"m").is_none());
    }
}
