//! Reading a bundle without trusting it. Opening reads only the header, the
//! table of contents and the trailer: every count and length is checked
//! against the format's limits and against the bytes the file really has
//! before anything is allocated, the digest is recomputed and the signature,
//! if any, verified. Contents are hashed when read, copied or checked; a
//! caller that copies must discard what it wrote when the copy fails.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::error::{BundleError, BundleErrorKind};
use super::format::*;
use super::keys::PublicKey;

/// Below this many bytes, a bundle is hashed faster than threads start.
const PARALLEL_MIN: u64 = 8 << 20;

/// Bytes hashed per read: large enough that system calls cost nothing,
/// small enough to stay in cache between the read and the hash.
const CHUNK: usize = 1 << 20;

/// Where a bundle's bytes come from. Reads are positioned, so threads can
/// hash different parts of one open file at once.
pub trait Source: Send + Sync {
    fn size(&self) -> io::Result<u64>;
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl Source for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl Source for Vec<u8> {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

impl Source for &[u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|end| *end <= self.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
}

/// A stretch of an item's bytes checked against one SHA-256: a whole entry,
/// or one piece of a native.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// From the start of the file.
    pub offset: u64,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// Something with bytes in the bundle: an entry or a native.
pub trait Stored {
    fn blob(&self) -> &Blob;
    /// How messages name it.
    fn describe(&self) -> String;
    /// What its bytes are checked against, in order; together they cover
    /// the blob exactly.
    fn pieces(&self) -> Vec<Piece>;
}

impl Stored for Entry {
    fn blob(&self) -> &Blob {
        &self.blob
    }

    fn describe(&self) -> String {
        format!("{} entry {:?}", self.kind, self.name)
    }

    fn pieces(&self) -> Vec<Piece> {
        vec![Piece {
            offset: self.blob.offset,
            size: self.blob.size,
            sha256: self.blob.sha256,
        }]
    }
}

impl Stored for Native {
    fn blob(&self) -> &Blob {
        &self.blob
    }

    fn describe(&self) -> String {
        format!("precompiled code for {}", self.label())
    }

    fn pieces(&self) -> Vec<Piece> {
        let mut start = 0u64;
        self.pieces
            .iter()
            .map(|sha256| {
                let size = (self.blob.size - start).min(PIECE_LEN);
                let piece = Piece {
                    offset: self.blob.offset + start,
                    size,
                    sha256: *sha256,
                };
                start += size;
                piece
            })
            .collect()
    }
}

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
                failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(failure);
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(worker);
        }
        worker();
    });
    let mut failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    failures.sort_by_key(|(number, _)| *number);
    match failures.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// A read past the end of a file whose size was checked means it shrank.
fn read_failure(file: &Path, e: io::Error) -> BundleError {
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
fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

struct Parts {
    size: u64,
    entries: Vec<Entry>,
    natives: Vec<Native>,
    digest: [u8; 32],
    signer: Option<PublicKey>,
}

struct Reader<'a, S: Source> {
    source: &'a S,
    file: &'a Path,
}

impl<S: Source> Reader<'_, S> {
    fn error(&self, kind: BundleErrorKind, message: impl Into<String>) -> BundleError {
        BundleError::new(self.file, kind, message)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), BundleError> {
        self.source
            .read_exact_at(buf, offset)
            .map_err(|e| read_failure(self.file, e))
    }

    fn decode(&self) -> Result<Parts, BundleError> {
        use BundleErrorKind::*;
        let size = self
            .source
            .size()
            .map_err(|e| BundleError::io(self.file, "read", e))?;

        let mut header = [0u8; HEADER_LEN as usize];
        let head = &mut header[..to_usize(size.min(HEADER_LEN))];
        self.read_at(head, 0)?;
        let magic_len = head.len().min(MAGIC.len());
        if head[..magic_len] != MAGIC[..magic_len] || head.is_empty() {
            return Err(self.error(NotABundle, not_a_bundle(head)));
        }
        if size < HEADER_LEN {
            return Err(self.error(
                Truncated,
                format!(
                    "cut short: the file is {size} bytes, a bundle's header alone is {HEADER_LEN}"
                ),
            ));
        }
        let version = u16::from_le_bytes([header[8], header[9]]);
        if version != FORMAT_VERSION {
            let advice = if version > FORMAT_VERSION {
                "upgrade qyv"
            } else if version == 0 {
                "the file is damaged"
            } else {
                "pack it again with this qyv (`qyv pack`)"
            };
            return Err(self.error(
                Version,
                format!(
                    "bundle format version {version}; this qyv reads version {FORMAT_VERSION}: {advice}"
                ),
            ));
        }
        let flags = u16::from_le_bytes([header[10], header[11]]);
        if flags & !FLAG_SIGNED != 0 {
            return Err(self.error(
                Malformed,
                format!("unknown flags 0x{flags:04x} in the header"),
            ));
        }
        let signed = flags & FLAG_SIGNED != 0;
        let toc_len = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        if toc_len > MAX_TOC_LEN {
            return Err(self.error(
                Limit,
                format!(
                    "the header announces a table of contents of {toc_len} bytes; at most {MAX_TOC_LEN} are allowed"
                ),
            ));
        }
        let trailer_len = DIGEST_LEN + if signed { SIGNATURE_LEN } else { 0 };
        let least = HEADER_LEN + u64::from(toc_len) + trailer_len;
        if size < least {
            return Err(self.error(
                Truncated,
                format!(
                    "cut short: the header announces at least {least} bytes, the file has {size}"
                ),
            ));
        }

        // Bounded by MAX_TOC_LEN and by the file's size, both checked above.
        let mut toc = vec![0u8; toc_len as usize];
        self.read_at(&mut toc, HEADER_LEN)?;
        let (mut entries, mut natives) =
            parse_table(&toc).map_err(|(kind, m)| self.error(kind, m))?;

        // Offsets follow from the sizes: each blob starts where the last ended.
        let mut offset = HEADER_LEN + u64::from(toc_len);
        let blobs = entries
            .iter_mut()
            .map(|e| &mut e.blob)
            .chain(natives.iter_mut().map(|n| &mut n.blob));
        for blob in blobs {
            blob.offset = offset;
            offset = offset.checked_add(blob.size).ok_or_else(|| {
                self.error(
                    Limit,
                    "the table of contents describes more than 2^64 bytes",
                )
            })?;
        }
        let expected = offset.checked_add(trailer_len).ok_or_else(|| {
            self.error(
                Limit,
                "the table of contents describes more than 2^64 bytes",
            )
        })?;
        if size < expected {
            return Err(self.error(
                Truncated,
                format!("cut short: the table of contents describes {expected} bytes, the file has {size}"),
            ));
        }
        if size > expected {
            return Err(self.error(
                Malformed,
                format!(
                    "{} unexpected bytes after the end of the bundle (the table of contents describes {expected} bytes)",
                    size - expected
                ),
            ));
        }

        let mut trailer = [0u8; (DIGEST_LEN + SIGNATURE_LEN) as usize];
        let trailer = &mut trailer[..to_usize(trailer_len)];
        self.read_at(trailer, offset)?;
        let digest = digest(&[header.as_slice(), &toc].concat());
        if trailer[..32] != digest {
            return Err(self.error(
                Tampered,
                "the header or table of contents does not match the bundle's digest: the bundle was changed or damaged after it was packed",
            ));
        }
        let signer = if signed {
            let key = PublicKey::from_bytes(trailer[32..64].try_into().unwrap_or([0; 32]));
            let signature: [u8; 64] = trailer[64..128].try_into().unwrap_or([0; 64]);
            if !key.verifies(&digest, &signature) {
                return Err(self.error(
                    Tampered,
                    "the signature does not match: the bundle was changed after it was signed, or its signature is damaged",
                ));
            }
            Some(key)
        } else {
            None
        };
        // After the digest: a changed name reads as a changed bundle, not as
        // a badly made one.
        check_table(&entries, &natives).map_err(|m| self.error(Malformed, m))?;
        Ok(Parts {
            size,
            entries,
            natives,
            digest,
            signer,
        })
    }
}

/// "it starts with ...", in the words a user can act on.
fn not_a_bundle(head: &[u8]) -> String {
    if head.is_empty() {
        return "the file is empty, not a bundle".into();
    }
    if head.starts_with(crate::WASM_MAGIC) {
        return "this is a .wasm file, not a bundle; run it directly, or pack it with its manifest: qyv pack APP.qyv".into();
    }
    format!(
        "not a Qyvol bundle (it starts with {}); bundles are made by qyv pack",
        crate::files::describe_head(head)
    )
}

type TableError = (BundleErrorKind, String);

/// Reads a table of contents. Sizes and hashes are taken as written; the
/// offsets are filled in by the caller.
fn parse_table(toc: &[u8]) -> Result<(Vec<Entry>, Vec<Native>), TableError> {
    let mut c = Cursor { bytes: toc, pos: 0 };
    let count = c.u32("the entry count")?;
    c.room_for(count, MAX_ENTRIES, MIN_ENTRY_LEN, "entries")?;
    let mut entries = Vec::with_capacity(count as usize);
    for i in 0..count {
        let kind_byte = c.u8(&format!("entry {i}'s kind"))?;
        let kind = EntryKind::from_byte(kind_byte).ok_or_else(|| {
            (
                BundleErrorKind::Malformed,
                format!("entry {i} has the unknown kind {kind_byte}"),
            )
        })?;
        let name_len = c.u16(&format!("entry {i}'s name length"))?;
        let name = c.text(usize::from(name_len), &format!("entry {i}'s name"))?;
        let size = c.u64(&format!("entry {i}'s size"))?;
        let sha256 = c.sha256(&format!("entry {i}'s SHA-256"))?;
        entries.push(Entry {
            kind,
            name,
            blob: Blob {
                offset: 0,
                size,
                sha256,
            },
        });
    }
    let count = c.u32("the count of precompiled code")?;
    c.room_for(count, MAX_NATIVES, MIN_NATIVE_LEN, "precompiled codes")?;
    let mut natives = Vec::with_capacity(count as usize);
    for i in 0..count {
        let len = c.u8(&format!("precompiled code {i}'s target length"))?;
        let target = c.text(usize::from(len), &format!("precompiled code {i}'s target"))?;
        let len = c.u8(&format!("precompiled code {i}'s engine length"))?;
        let engine = c.text(usize::from(len), &format!("precompiled code {i}'s engine"))?;
        let size = c.u64(&format!("precompiled code {i}'s size"))?;
        let count = piece_count(size);
        c.room_for_pieces(count, &format!("precompiled code {i}"))?;
        let pieces = (0..count)
            .map(|p| c.sha256(&format!("precompiled code {i}'s piece {p} SHA-256")))
            .collect::<Result<Vec<_>, _>>()?;
        natives.push(Native {
            target,
            engine,
            blob: Blob {
                offset: 0,
                size,
                sha256: piece_digest(&pieces),
            },
            pieces,
        });
    }
    if c.pos != toc.len() {
        return Err((
            BundleErrorKind::Malformed,
            format!(
                "{} unexpected bytes at the end of the table of contents",
                toc.len() - c.pos
            ),
        ));
    }
    Ok((entries, natives))
}

/// Bounds-checked reads from the table; positions in messages are offsets
/// in the file.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], TableError> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err((
                BundleErrorKind::Truncated,
                format!(
                    "the table of contents is cut short: {what} at byte {} needs {n} bytes, {left} are left",
                    HEADER_LEN as usize + self.pos
                ),
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, TableError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, TableError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, TableError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, TableError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }

    fn sha256(&mut self, what: &str) -> Result<[u8; 32], TableError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32, what)?);
        Ok(a)
    }

    fn text(&mut self, n: usize, what: &str) -> Result<String, TableError> {
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| (BundleErrorKind::Malformed, format!("{what} is not UTF-8")))
    }

    /// Refuses a native whose pieces' SHA-256s cannot fit in what is left
    /// of the table (its size, hence its piece count, is not checked
    /// against the file yet).
    fn room_for_pieces(&self, count: u64, what: &str) -> Result<(), TableError> {
        let left = self.bytes.len() - self.pos;
        if count.saturating_mul(32) > left as u64 {
            return Err((
                BundleErrorKind::Truncated,
                format!(
                    "{what} has {count} pieces, whose SHA-256s cannot fit in the {left} bytes left of the table of contents"
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a count over `max`, or one that cannot fit in what is left of
    /// the table at `min_len` bytes per item: no allocation is sized by a
    /// count the file cannot back.
    fn room_for(&self, count: u32, max: u32, min_len: usize, what: &str) -> Result<(), TableError> {
        if count > max {
            return Err((
                BundleErrorKind::Limit,
                format!("the table of contents lists {count} {what}; at most {max} are allowed"),
            ));
        }
        let left = self.bytes.len() - self.pos;
        if (count as usize).saturating_mul(min_len) > left {
            return Err((
                BundleErrorKind::Truncated,
                format!(
                    "the table of contents lists {count} {what}, which cannot fit in the {left} bytes left of it"
                ),
            ));
        }
        Ok(())
    }
}
