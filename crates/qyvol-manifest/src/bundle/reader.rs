//! An opened bundle, and reading its contents without trusting them.
//! Opening (`open.rs`) reads only the header, the table of contents and the
//! trailer; contents are hashed here when read, copied or checked, piece by
//! piece, and a caller that copies must discard what it wrote when the copy
//! fails.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::error::{BundleError, BundleErrorKind};
use super::format::{Entry, EntryKind, Native};
use super::keys::PublicKey;
use super::open::Reader;
use super::source::{Piece, Source, Stored};
use crate::sync::lock;

/// Below this many bytes, a bundle is hashed faster than threads start.
const PARALLEL_MIN: u64 = 8 << 20;

/// Bytes hashed per read: large enough that system calls cost nothing,
/// small enough to stay in cache between the read and the hash.
const CHUNK: usize = 1 << 20;

/// An opened bundle: its structure checked, its contents not yet.
#[derive(Debug)]
pub struct Bundle<S: Source = File> {
    source: S,
    file: PathBuf,
    size: u64,
    entries: Vec<Entry>,
    natives: Vec<Native>,
    digest: [u8; 32],
    signer: Option<PublicKey>,
}

impl Bundle<File> {
    /// Opens and checks the bundle at `path` (see the module's comment).
    pub fn open(path: &Path) -> Result<Bundle<File>, BundleError> {
        let file = crate::regular::open_regular(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::IsADirectory => BundleError::new(
                path,
                BundleErrorKind::NotABundle,
                "is a folder, not a bundle",
            ),
            std::io::ErrorKind::InvalidInput => {
                BundleError::new(path, BundleErrorKind::NotABundle, e.to_string())
            }
            _ => BundleError::io(path, "open", e),
        })?;
        Bundle::from_source(file, path)
    }
}

impl<S: Source> Bundle<S> {
    /// Checks a bundle held by `source`; `file` names it in messages.
    pub fn from_source(source: S, file: &Path) -> Result<Bundle<S>, BundleError> {
        let reader = Reader {
            source: &source,
            file,
        };
        let parts = reader.decode()?;
        Ok(Bundle {
            source,
            file: file.to_path_buf(),
            size: parts.size,
            entries: parts.entries,
            natives: parts.natives,
            digest: parts.digest,
            signer: parts.signer,
        })
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Where the bytes come from (the open file, for its metadata).
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Size of the whole file, in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// SHA-256 of the header and table of contents, which name every
    /// entry's SHA-256: one value that stands for the whole bundle.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }

    /// The key whose signature the bundle carries; the signature has been
    /// verified. Whether the key is trusted is a [`super::TrustPolicy`]'s
    /// question.
    pub fn signer(&self) -> Option<&PublicKey> {
        self.signer.as_ref()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn manifest_entry(&self) -> &Entry {
        &self.entries[0]
    }

    pub fn wasm_entry(&self) -> &Entry {
        &self.entries[1]
    }

    /// Folders and files, sorted by name.
    pub fn files(&self) -> &[Entry] {
        &self.entries[2..]
    }

    pub fn natives(&self) -> &[Native] {
        &self.natives
    }

    /// The precompiled code for this target and engine, if the bundle has it.
    pub fn native_for(&self, target: &str, engine: &str) -> Option<&Native> {
        self.natives
            .iter()
            .find(|n| n.target == target && n.engine == engine)
    }

    /// The manifest's bytes, checked against their SHA-256.
    pub fn read_manifest(&self) -> Result<Vec<u8>, BundleError> {
        self.read(self.manifest_entry())
    }

    /// An entry's or native's bytes, checked against their SHA-256s. The
    /// allocation is bounded by the file's real size, checked at open.
    pub fn read(&self, item: &impl Stored) -> Result<Vec<u8>, BundleError> {
        let mut out = Vec::with_capacity(to_usize(item.blob().size));
        self.stream(item, |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(out)
    }

    /// Writes an item's bytes to `out` while hashing them. On error, what
    /// was written is not the item: the caller must throw it away.
    pub fn copy_to(&self, item: &impl Stored, out: &mut dyn Write) -> Result<(), BundleError> {
        self.stream(item, |chunk| out.write_all(chunk))
    }

    /// Writes an item's bytes at the start of `out`, its pieces on as many
    /// threads as pay (see [`Bundle::verify_all`]), each piece checked as it
    /// is written: for precompiled code, tens of megabytes whose hashing is
    /// the first run's floor. The bytes written are the very buffers that
    /// were hashed, so a file changing under the reader cannot slip unchecked
    /// bytes into `out`. On error, `out` holds no valid item: throw it away.
    pub fn copy_to_file(&self, item: &(impl Stored + Sync), out: &File) -> Result<(), BundleError> {
        let base = item.blob().offset;
        let pieces = item.pieces();
        let threads = workers(item.blob().size, pieces.len());
        in_parallel(&pieces, threads, |buf, i, piece| {
            let mut at = piece.offset - base;
            self.check_piece(item, piece, buf, |chunk| {
                out.write_all_at(chunk, at)?;
                at += chunk.len() as u64;
                Ok(())
            })
            .map_err(|e| (i, e))
        })
    }

    /// The first `len` bytes of an item (fewer if it is shorter), NOT checked
    /// against its SHA-256: only for choices (such as the wasm's kind) that
    /// are made before the check and used only after it passes.
    pub fn read_unverified_prefix(
        &self,
        item: &impl Stored,
        len: usize,
    ) -> Result<Vec<u8>, BundleError> {
        let blob = item.blob();
        let mut out = vec![0u8; to_usize(blob.size.min(len as u64))];
        self.source
            .read_exact_at(&mut out, blob.offset)
            .map_err(|e| self.read_error(e))?;
        Ok(out)
    }

    /// Checks an item's bytes against its SHA-256s.
    pub fn check(&self, item: &impl Stored) -> Result<(), BundleError> {
        self.stream(item, |_| Ok(()))
    }

    /// Checks every entry and every piece of every native, largest first,
    /// on as many threads as the machine has cores (up to 4) when there is
    /// enough to hash to make that worth it. The error reported is the one
    /// of the first damaged item in table order, whatever thread found it.
    pub fn verify_all(&self) -> Result<(), BundleError> {
        let mut units: Vec<(usize, &(dyn Stored + Sync), Piece)> = self
            .entries
            .iter()
            .map(|e| e as &(dyn Stored + Sync))
            .chain(self.natives.iter().map(|n| n as &(dyn Stored + Sync)))
            .enumerate()
            .flat_map(|(index, item)| item.pieces().into_iter().map(move |p| (index, item, p)))
            .collect();
        units.sort_by_key(|(_, _, piece)| std::cmp::Reverse(piece.size));
        let total = units
            .iter()
            .fold(0u64, |t, (_, _, p)| t.saturating_add(p.size));
        in_parallel(
            &units,
            workers(total, units.len()),
            |buf, _, (index, item, piece)| {
                self.check_piece(*item, piece, buf, |_| Ok(()))
                    .map_err(|e| (*index, e))
            },
        )
    }

    /// Writes `entries` (folders and files of this bundle) under `dest`,
    /// which should be a new, empty folder: names are relative and
    /// normalised, so nothing lands outside it, and files are created, never
    /// opened, so nothing already there is followed or overwritten. Each
    /// file is checked against its SHA-256 as it is written.
    pub fn extract(&self, entries: &[&Entry], dest: &Path) -> Result<(), BundleError> {
        for entry in entries {
            let path = dest.join(&entry.name);
            let made = match entry.kind {
                EntryKind::File => path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| {
                        std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&path)
                    })
                    .map_err(|e| BundleError::io(&path, "create", e))
                    .and_then(|mut file| self.copy_to(*entry, &mut file)),
                _ => {
                    std::fs::create_dir_all(&path).map_err(|e| BundleError::io(&path, "create", e))
                }
            };
            made?;
        }
        Ok(())
    }

    fn stream(
        &self,
        item: &impl Stored,
        mut sink: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), BundleError> {
        let mut buf = Vec::new();
        for piece in item.pieces() {
            self.check_piece(item, &piece, &mut buf, &mut sink)?;
        }
        Ok(())
    }

    /// Reads one piece of `item` in chunks through `buf` (grown as needed,
    /// and kept by the caller for the next piece), hashing each chunk and
    /// giving it to `sink`, then compares the hash.
    fn check_piece(
        &self,
        item: &(impl Stored + ?Sized),
        piece: &Piece,
        buf: &mut Vec<u8>,
        mut sink: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), BundleError> {
        let mut hasher = Sha256::new();
        let want = to_usize(piece.size.min(CHUNK as u64));
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let mut done = 0u64;
        while done < piece.size {
            let n = to_usize((piece.size - done).min(CHUNK as u64));
            self.source
                .read_exact_at(&mut buf[..n], piece.offset + done)
                .map_err(|e| self.read_error(e))?;
            hasher.update(&buf[..n]);
            sink(&buf[..n]).map_err(|e| {
                BundleError::io(&self.file, &format!("copy the {}", item.describe()), e)
            })?;
            done += n as u64;
        }
        if <[u8; 32]>::from(hasher.finalize()) != piece.sha256 {
            return Err(self.mismatch(item));
        }
        Ok(())
    }

    fn mismatch(&self, item: &(impl Stored + ?Sized)) -> BundleError {
        self.error(
            BundleErrorKind::Tampered,
            format!(
                "the {} does not match its SHA-256: the bundle was changed or damaged after it was packed",
                item.describe()
            ),
        )
    }

    fn read_error(&self, e: io::Error) -> BundleError {
        read_failure(&self.file, e)
    }

    fn error(&self, kind: BundleErrorKind, message: impl Into<String>) -> BundleError {
        BundleError::new(&self.file, kind, message)
    }
}

/// How many threads hash `total` bytes split into `units` pieces: one below
/// [`PARALLEL_MIN`], else one per core, at most 4 and at most one per piece.
fn workers(total: u64, units: usize) -> usize {
    if total < PARALLEL_MIN {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(units)
        .max(1)
}

/// Runs `work` on every unit, on `threads` threads (this one is one of
/// them), each thread with a read buffer of its own that `work` may reuse
/// from one unit to the next. Every unit is done even after a failure, so
/// that the error returned, the one with the smallest number, does not
/// depend on timing.
fn in_parallel<T: Sync>(
    units: &[T],
    threads: usize,
    work: impl Fn(&mut Vec<u8>, usize, &T) -> Result<(), (usize, BundleError)> + Sync,
) -> Result<(), BundleError> {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let worker = || {
        let mut buf = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(unit) = units.get(i) else { break };
            if let Err(failure) = work(&mut buf, i, unit) {
                lock(&failures).push(failure);
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(worker);
        }
        worker();
    });
    let mut failures = std::mem::take(&mut *lock(&failures));
    failures.sort_by_key(|(number, _)| *number);
    match failures.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// A read past the end of a file whose size was checked means it shrank.
pub(super) fn read_failure(file: &Path, e: io::Error) -> BundleError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        BundleError::new(
            file,
            BundleErrorKind::Truncated,
            "the file became shorter while it was read",
        )
    } else {
        BundleError::io(file, "read", e)
    }
}

/// Sizes were checked against the file's size, which fits in memory
/// addresses on every platform qyv runs on.
pub(super) fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
