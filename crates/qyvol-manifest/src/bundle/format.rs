//! The bytes of a `.qyvbin`, version 2. `docs/qyvbin.md` is the prose
//! version of this file; the two must agree.
//!
//! ```text
//! header    16 bytes  magic "\x89QYV\r\n\x1a\n", version u16, flags u16, toc_size u32
//! toc       toc_size  entry_count u32, entries, native_count u32, natives
//! data                every entry's bytes, then every native's, in table order
//! trailer   32 bytes  SHA-256 of header + toc (the bundle's digest)
//!           96 bytes  when flags has SIGNED: Ed25519 public key (32), signature (64)
//! ```
//!
//! Integers are little-endian. An entry is `kind u8, name_len u16, name,
//! size u64, sha256 [32]`; a native is `target_len u8, target, engine_len
//! u8, engine, size u64`, then one SHA-256 per [`PIECE_LEN`] piece of its
//! bytes (`ceil(size / PIECE_LEN)` of them): machine code is tens of
//! megabytes, and pieces can be checked on every core at once where one
//! SHA-256 is one core's work (version 2's change). Offsets are not stored:
//! each blob starts where the one before it ends, so blobs can neither
//! overlap nor leave gaps, and the file must end exactly after the trailer.
//! Every byte is thereby covered: the header and table by the digest (and
//! the signature), the data by the entries' and pieces' SHA-256s, the
//! trailer by comparison and signature verification.

use std::fmt;

/// Extension of bundle files, without the dot.
pub const FILE_EXTENSION: &str = "qyvbin";

/// First bytes of every bundle. As PNG's: the high byte catches 7-bit
/// transfers, CR LF and LF catch line-ending conversion, 0x1a stops `type`
/// on Windows.
pub const MAGIC: [u8; 8] = *b"\x89QYV\r\n\x1a\n";

/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 2;

/// Flag bit: the trailer holds a public key and a signature.
pub const FLAG_SIGNED: u16 = 1;

pub const HEADER_LEN: u64 = 16;
pub const DIGEST_LEN: u64 = 32;
/// Public key and signature.
pub const SIGNATURE_LEN: u64 = 32 + 64;

/// What the signature signs: this prefix, then the 32-byte digest. The
/// prefix keeps a signature made for a bundle from meaning anything else
/// signed with the same key.
pub const SIGNING_CONTEXT: &[u8] = b"qyvol bundle v1\0";

// Hard limits. A reader checks every count and length against these and
// against the bytes actually left in the file before it allocates anything.
/// Largest table of contents.
pub const MAX_TOC_LEN: u32 = 16 << 20;
/// Most entries (manifest, wasm, folders and files).
pub const MAX_ENTRIES: u32 = 100_000;
/// Most precompiled artifacts.
pub const MAX_NATIVES: u32 = 16;
/// Longest entry name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Longest component of an entry name, in bytes (as most file systems).
pub const MAX_COMPONENT_LEN: usize = 255;
/// Longest target triple or engine key.
pub const MAX_LABEL_LEN: usize = 128;
/// Largest manifest entry: manifests are a few hundred bytes.
pub const MAX_MANIFEST_LEN: u64 = 1 << 20;

/// Smallest encoded entry: kind, name length, a 1-byte name, size, sha256.
pub(crate) const MIN_ENTRY_LEN: usize = 1 + 2 + 1 + 8 + 32;
/// Smallest encoded native: two 1-byte labels with their lengths, size, no
/// piece.
pub(crate) const MIN_NATIVE_LEN: usize = 2 + 2 + 8;

/// The pieces of precompiled code, each with its own SHA-256. 2 MiB keeps
/// the table small (16 bytes of hash per MiB) while a 30 MiB native still
/// splits into enough pieces to keep every core busy.
pub const PIECE_LEN: u64 = 2 << 20;

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// The `.qyv` manifest, verbatim: always the first entry.
    Manifest = 1,
    /// The program: always the second entry.
    Wasm = 2,
    /// A folder (no data), so that empty folders survive.
    Dir = 3,
    /// A regular file.
    File = 4,
}

impl EntryKind {
    pub(crate) fn from_byte(b: u8) -> Option<EntryKind> {
        match b {
            1 => Some(EntryKind::Manifest),
            2 => Some(EntryKind::Wasm),
            3 => Some(EntryKind::Dir),
            4 => Some(EntryKind::File),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Manifest => "manifest",
            EntryKind::Wasm => "wasm",
            EntryKind::Dir => "dir",
            EntryKind::File => "file",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where some bytes sit in the bundle and what they hash to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// From the start of the file.
    pub offset: u64,
    pub size: u64,
    pub sha256: [u8; 32],
}

impl Blob {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// One named entry of the table of contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// Relative, `/`-separated, normalised (see `names.rs`).
    pub name: String,
    pub blob: Blob,
}

/// Precompiled machine code for the wasm entry, valid for one engine on one
/// kind of machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Native {
    /// Target triple, e.g. `x86_64-unknown-linux-gnu`.
    pub target: String,
    /// The engine's compatibility key (Wasmtime version and settings, CPU
    /// features, Qyvol's version), as `qyvol-runtime` computes it.
    pub engine: String,
    /// `blob.sha256` is the native's [`piece_digest`], not the SHA-256 of
    /// its bytes: the pieces are what is checked.
    pub blob: Blob,
    /// The SHA-256 of each [`PIECE_LEN`] piece, in order.
    pub pieces: Vec<[u8; 32]>,
}

impl Native {
    /// How messages name it: `x86_64-unknown-linux-gnu/0123abcd…`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.target, self.engine)
    }
}

/// SHA-256 of nothing: the hash every folder entry carries.
pub const EMPTY_SHA256: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The SHA-256 of each [`PIECE_LEN`] piece of `bytes` (none for no bytes).
pub fn piece_hashes(bytes: &[u8]) -> Vec<[u8; 32]> {
    use sha2::{Digest, Sha256};
    bytes
        .chunks(PIECE_LEN as usize)
        .map(|piece| Sha256::digest(piece).into())
        .collect()
}

/// What names content checked in pieces (a native, a cached artifact): the
/// SHA-256 of its pieces' SHA-256s, one after the other. Equal digests mean
/// equal pieces, hence equal bytes.
pub fn piece_digest(pieces: &[[u8; 32]]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in pieces {
        h.update(p);
    }
    h.finalize().into()
}

/// How many pieces `size` bytes make.
pub fn piece_count(size: u64) -> u64 {
    size.div_ceil(PIECE_LEN)
}

/// The digest that the trailer records and the signature signs.
pub(crate) fn digest(header_and_toc: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(header_and_toc).into()
}

/// The message an Ed25519 signature covers.
pub(crate) fn signed_message(digest: &[u8; 32]) -> Vec<u8> {
    [SIGNING_CONTEXT, digest.as_slice()].concat()
}

/// The rules a whole table must follow, checked by the reader on what it
/// decoded and by the writer before it writes: manifest first, wasm second,
/// then folders and files in strictly increasing byte order of their names
/// (so no name appears twice and one tree has one encoding), no entry inside
/// a file, folders without data; precompiled code in strictly increasing
/// (target, engine) order with plain labels.
pub(crate) fn check_table(entries: &[Entry], natives: &[Native]) -> Result<(), String> {
    match entries {
        [first, second, ..]
            if first.kind == EntryKind::Manifest && second.kind == EntryKind::Wasm => {}
        _ => {
            return Err("a bundle starts with its manifest entry, then its wasm entry".into());
        }
    }
    if entries.len() > MAX_ENTRIES as usize {
        return Err(format!(
            "{} entries; at most {MAX_ENTRIES} are allowed",
            entries.len()
        ));
    }
    if natives.len() > MAX_NATIVES as usize {
        return Err(format!(
            "{} precompiled codes; at most {MAX_NATIVES} are allowed",
            natives.len()
        ));
    }
    check_entries(entries)?;
    if entries[0].blob.size > MAX_MANIFEST_LEN {
        return Err(format!(
            "the manifest entry is {} bytes; at most {MAX_MANIFEST_LEN} are allowed",
            entries[0].blob.size
        ));
    }
    check_natives(natives)
}

/// Names, order and nesting of the entries.
fn check_entries(entries: &[Entry]) -> Result<(), String> {
    use super::names::{check_entry_name, parents};

    let mut files = std::collections::HashSet::new();
    let mut previous: Option<&str> = None;
    for (i, entry) in entries.iter().enumerate() {
        check_entry_name(&entry.name)
            .map_err(|why| format!("entry {i} ({:?}): {why}", entry.name))?;
        if i < 2 {
            if entry.name.contains('/') {
                return Err(format!(
                    "the {} entry's name {:?} is a path; it must be a file name",
                    entry.kind, entry.name
                ));
            }
            continue;
        }
        match entry.kind {
            EntryKind::Dir | EntryKind::File => {}
            other => {
                return Err(format!(
                    "entry {i} ({:?}) is a second {other} entry; a bundle has exactly one",
                    entry.name
                ));
            }
        }
        if let Some(before) = previous {
            if before == entry.name {
                return Err(format!("{:?} appears twice", entry.name));
            }
            if before > entry.name.as_str() {
                return Err(format!(
                    "entries are out of order: {:?} comes after {before:?}",
                    entry.name
                ));
            }
        }
        previous = Some(&entry.name);
        if let Some(file) = parents(&entry.name).find(|p| files.contains(p)) {
            return Err(format!(
                "{:?} is inside {file:?}, which is a file",
                entry.name
            ));
        }
        match entry.kind {
            EntryKind::File => {
                files.insert(entry.name.as_str());
            }
            _ if entry.blob.size != 0 || entry.blob.sha256 != EMPTY_SHA256 => {
                return Err(format!("folder entry {:?} carries data", entry.name));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Labels and order of the precompiled codes.
fn check_natives(natives: &[Native]) -> Result<(), String> {
    let mut previous: Option<(&str, &str)> = None;
    for native in natives {
        for (what, label) in [("target", &native.target), ("engine", &native.engine)] {
            check_label(label)
                .map_err(|why| format!("precompiled code: {what} {label:?}: {why}"))?;
        }
        let key = (native.target.as_str(), native.engine.as_str());
        if let Some(before) = previous
            && before >= key
        {
            return Err(format!(
                "precompiled code for {} is repeated or out of order",
                native.label()
            ));
        }
        previous = Some(key);
    }
    Ok(())
}

/// Targets and engine keys: short, and only letters, digits, `.`, `_`, `-`.
fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > MAX_LABEL_LEN {
        return Err(format!("must be 1 to {MAX_LABEL_LEN} bytes long"));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("may hold only letters, digits, '.', '_' and '-'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn empty_sha256_is_the_hash_of_nothing() {
        assert_eq!(EMPTY_SHA256, <[u8; 32]>::from(Sha256::digest(b"")));
    }

    #[test]
    fn pieces_cut_at_piece_len_and_name_the_bytes() {
        let piece = PIECE_LEN as usize;
        assert!(piece_hashes(b"").is_empty());
        assert_eq!(piece_count(0), 0);
        assert_eq!(piece_count(1), 1);
        assert_eq!(piece_count(PIECE_LEN), 1);
        assert_eq!(piece_count(PIECE_LEN + 1), 2);
        let bytes: Vec<u8> = (0..2 * piece + 5).map(|i| (i % 251) as u8).collect();
        let pieces = piece_hashes(&bytes);
        assert_eq!(pieces.len(), 3);
        assert_eq!(
            pieces[2],
            <[u8; 32]>::from(Sha256::digest(&bytes[2 * piece..]))
        );
        let mut other = bytes.clone();
        other[piece + 7] ^= 1;
        assert_ne!(piece_digest(&pieces), piece_digest(&piece_hashes(&other)));
        assert_eq!(piece_digest(&[]), EMPTY_SHA256);
    }

    #[test]
    fn kinds_round_trip_through_their_byte() {
        for kind in [
            EntryKind::Manifest,
            EntryKind::Wasm,
            EntryKind::Dir,
            EntryKind::File,
        ] {
            assert_eq!(EntryKind::from_byte(kind as u8), Some(kind));
        }
        assert_eq!(EntryKind::from_byte(0), None);
        assert_eq!(EntryKind::from_byte(5), None);
    }
}
