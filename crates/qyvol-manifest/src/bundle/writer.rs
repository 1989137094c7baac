//! Writing a bundle. The output depends only on the inputs: entries are
//! sorted by name, nothing records a time, an owner or a mode, and Ed25519
//! signatures are deterministic, so packing the same app twice gives the
//! same bytes. Files are hashed, then copied and hashed again: a file that
//! changes in between fails the pack instead of giving a bundle whose
//! content does not match its table. The output file is written under a
//! temporary name and renamed, so it is complete or absent.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{BundleError, BundleErrorKind};
use super::format::*;
use super::keys::{PublicKey, SecretKey};
use super::names::check_entry_name;

/// Where an entry's bytes come from while packing.
#[derive(Clone, Debug)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A file, read when the bundle is written.
    File(PathBuf),
}

impl Content {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            Content::Bytes(b) => Box::new(b.as_slice()),
            Content::File(p) => Box::new(crate::regular::open_regular(p)?),
        })
    }

    fn origin(&self) -> Option<&Path> {
        match self {
            Content::Bytes(_) => None,
            Content::File(p) => Some(p),
        }
    }
}

/// What `write` made.
#[derive(Clone, Debug)]
pub struct Packed {
    pub size: u64,
    pub digest: [u8; 32],
    pub entries: usize,
    pub natives: usize,
    pub signer: Option<PublicKey>,
}

impl Packed {
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }
}

/// A bundle being put together.
pub struct Packer {
    /// The output, for messages.
    out: PathBuf,
    entries: Vec<(EntryKind, String, Option<Content>)>,
    natives: Vec<(String, String, Vec<u8>)>,
}

impl Packer {
    /// A bundle of the manifest (its file name and bytes, verbatim) and the
    /// wasm (its file name and bytes), to be written to `out`.
    pub fn new(
        out: &Path,
        manifest_name: &str,
        manifest: Vec<u8>,
        wasm_name: &str,
        wasm: Content,
    ) -> Result<Packer, BundleError> {
        let mut packer = Packer {
            out: out.to_path_buf(),
            entries: Vec::new(),
            natives: Vec::new(),
        };
        packer.push(
            EntryKind::Manifest,
            manifest_name,
            Some(Content::Bytes(manifest)),
        )?;
        packer.push(EntryKind::Wasm, wasm_name, Some(wasm))?;
        Ok(packer)
    }

    /// Adds a folder (with nothing in it yet).
    pub fn add_dir(&mut self, name: &str) -> Result<(), BundleError> {
        self.push(EntryKind::Dir, name, None)
    }

    pub fn add_file(&mut self, name: &str, content: Content) -> Result<(), BundleError> {
        self.push(EntryKind::File, name, Some(content))
    }

    /// Adds precompiled code for one target and engine.
    pub fn add_native(&mut self, target: &str, engine: &str, code: Vec<u8>) {
        self.natives
            .push((target.to_string(), engine.to_string(), code));
    }

    fn push(
        &mut self,
        kind: EntryKind,
        name: &str,
        content: Option<Content>,
    ) -> Result<(), BundleError> {
        check_entry_name(name).map_err(|why| {
            let from = content
                .as_ref()
                .and_then(Content::origin)
                .map(|p| format!(" (from {})", p.display()))
                .unwrap_or_default();
            self.error(format!("cannot pack {name:?}{from}: {why}"))
        })?;
        self.entries.push((kind, name.to_string(), content));
        Ok(())
    }

    fn error(&self, message: impl Into<String>) -> BundleError {
        BundleError::new(&self.out, BundleErrorKind::Pack, message)
    }

    /// Writes the bundle to `path` atomically, signed with `key` if given.
    pub fn write_file(&self, path: &Path, key: Option<&SecretKey>) -> Result<Packed, BundleError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // A bundle is made to be shared: the usual mode of a new file (0666
        // less the umask), not a temporary file's 0600.
        let tmp = tempfile::Builder::new()
            .prefix(".qyvbin-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(|e| BundleError::io(dir, "create a file in", e))?;
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        let packed = self.write(&mut out, key)?;
        out.flush().map_err(|e| BundleError::io(path, "write", e))?;
        drop(out);
        tmp.persist(path)
            .map_err(|e| BundleError::io(path, "write", e.error))?;
        Ok(packed)
    }

    /// Writes the bundle to `out`, signed with `key` if given.
    pub fn write(
        &self,
        out: &mut dyn Write,
        key: Option<&SecretKey>,
    ) -> Result<Packed, BundleError> {
        let mut entries: Vec<(Entry, Option<&Content>)> = Vec::with_capacity(self.entries.len());
        for (kind, name, content) in &self.entries {
            let blob = match content {
                Some(c) => self.hash(c, name)?,
                None => Blob {
                    offset: 0,
                    size: 0,
                    sha256: EMPTY_SHA256,
                },
            };
            let entry = Entry {
                kind: *kind,
                name: name.clone(),
                blob,
            };
            entries.push((entry, content.as_ref()));
        }
        // Manifest and wasm stay first; the rest by name, as the reader wants.
        entries[2..].sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let mut natives: Vec<(Native, &Vec<u8>)> = self
            .natives
            .iter()
            .map(|(target, engine, code)| {
                let pieces = piece_hashes(code);
                let native = Native {
                    target: target.clone(),
                    engine: engine.clone(),
                    blob: Blob {
                        offset: 0,
                        size: code.len() as u64,
                        sha256: piece_digest(&pieces),
                    },
                    pieces,
                };
                (native, code)
            })
            .collect();
        natives.sort_by(|a, b| (&a.0.target, &a.0.engine).cmp(&(&b.0.target, &b.0.engine)));
        let table: Vec<Entry> = entries.iter().map(|(e, _)| e.clone()).collect();
        let native_table: Vec<Native> = natives.iter().map(|(n, _)| n.clone()).collect();
        check_table(&table, &native_table).map_err(|m| self.error(format!("cannot pack: {m}")))?;

        let toc = encode_table(&table, &native_table);
        let toc_len = u32::try_from(toc.len())
            .ok()
            .filter(|n| *n <= MAX_TOC_LEN)
            .ok_or_else(|| {
                self.error(format!(
                    "the table of contents would be {} bytes; at most {MAX_TOC_LEN} are allowed: pack fewer files",
                    toc.len()
                ))
            })?;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let flags = if key.is_some() { FLAG_SIGNED } else { 0 };
        header.extend_from_slice(&flags.to_le_bytes());
        header.extend_from_slice(&toc_len.to_le_bytes());
        let digest = digest(&[header.as_slice(), &toc].concat());

        let mut written = Counter { out, count: 0 };
        let io = |e| BundleError::io(&self.out, "write", e);
        written.write_all(&header).map_err(io)?;
        written.write_all(&toc).map_err(io)?;
        for (entry, content) in &entries {
            if let Some(content) = content {
                self.copy(content, entry, &mut written)?;
            }
        }
        for (_, code) in &natives {
            written.write_all(code).map_err(io)?;
        }
        written.write_all(&digest).map_err(io)?;
        if let Some(key) = key {
            written.write_all(&key.public().to_bytes()).map_err(io)?;
            written.write_all(&key.sign_digest(&digest)).map_err(io)?;
        }
        Ok(Packed {
            size: written.count,
            digest,
            entries: entries.len(),
            natives: natives.len(),
            signer: key.map(SecretKey::public),
        })
    }

    fn hash(&self, content: &Content, name: &str) -> Result<Blob, BundleError> {
        let mut hasher = Sha256::new();
        let size = self.each_chunk(content, name, |chunk| {
            hasher.update(chunk);
            Ok(())
        })?;
        Ok(Blob {
            offset: 0,
            size,
            sha256: hasher.finalize().into(),
        })
    }

    fn copy(
        &self,
        content: &Content,
        entry: &Entry,
        out: &mut dyn Write,
    ) -> Result<(), BundleError> {
        let mut hasher = Sha256::new();
        let size = self.each_chunk(content, &entry.name, |chunk| {
            hasher.update(chunk);
            out.write_all(chunk)
                .map_err(|e| BundleError::io(&self.out, "write", e))
        })?;
        if size != entry.blob.size || <[u8; 32]>::from(hasher.finalize()) != entry.blob.sha256 {
            let what = content
                .origin()
                .map_or_else(|| entry.name.clone(), |p| p.display().to_string());
            return Err(self.error(format!(
                "{what} changed while it was being packed; pack again once it is stable"
            )));
        }
        Ok(())
    }

    /// Feeds `content` to `f` in chunks; returns its size.
    fn each_chunk(
        &self,
        content: &Content,
        name: &str,
        mut f: impl FnMut(&[u8]) -> Result<(), BundleError>,
    ) -> Result<u64, BundleError> {
        let origin = content.origin().unwrap_or(Path::new(name));
        let mut reader = content
            .open()
            .map_err(|e| BundleError::io(origin, "read", e))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(size),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BundleError::io(origin, "read", e)),
            };
            f(&buf[..n])?;
            size += n as u64;
        }
    }
}

/// The table of contents' bytes (see `format.rs`). Lengths fit their fields:
/// names and labels were checked against limits far below them.
fn encode_table(entries: &[Entry], natives: &[Native]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.push(e.kind as u8);
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&e.blob.size.to_le_bytes());
        out.extend_from_slice(&e.blob.sha256);
    }
    out.extend_from_slice(&(natives.len() as u32).to_le_bytes());
    for n in natives {
        out.push(n.target.len() as u8);
        out.extend_from_slice(n.target.as_bytes());
        out.push(n.engine.len() as u8);
        out.extend_from_slice(n.engine.as_bytes());
        out.extend_from_slice(&n.blob.size.to_le_bytes());
        for piece in &n.pieces {
            out.extend_from_slice(piece);
        }
    }
    out
}

/// Counts what goes through, for the summary.
struct Counter<'a> {
    out: &'a mut dyn Write,
    count: u64,
}

impl Write for Counter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
