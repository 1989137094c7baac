//! The cache's files on disk: the records that let a cached start skip
//! reading and hashing (stamps, index entries, checksum records), and how
//! they are written so that no reader sees half of one.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use qyvol_manifest::bundle::{piece_digest, piece_hashes};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::code::Code;
use crate::error::chain;
use crate::kind::WasmKind;

/// Metadata that changes whenever a file's content changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stamp {
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) size: u64,
    pub(super) mtime: i64,
    pub(super) mtime_ns: i64,
    pub(super) ctime: i64,
    pub(super) ctime_ns: i64,
}

impl Stamp {
    pub(super) fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec(),
        }
    }
}

/// What the cache knows of one source file.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IndexEntry {
    pub(super) path: PathBuf,
    pub(super) stamp: Stamp,
    pub(super) sha256: String,
    pub(super) kind: String,
}

/// What the cache knows of one artifact.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Sum {
    pub(super) stamp: Stamp,
    /// Its content's digest in pieces, as a bundle names its precompiled
    /// code ([`piece_digest`]): code copied from a bundle is recorded with
    /// the digest the bundle's signature covers, without hashing it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) digest: Option<String>,
    /// The SHA-256 of the whole file, which records written before the
    /// digest in pieces hold: still honoured, so that updating qyv does not
    /// turn a sound cache into warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sha256: Option<String>,
    /// The wasm file it was compiled from, for `qyv cache ls`.
    pub(super) source: PathBuf,
}

/// What the cache knows of one bundle file: every byte was verified while
/// the file had this stamp.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct BundleRecord {
    pub(super) path: PathBuf,
    pub(super) stamp: Stamp,
    pub(super) digest: String,
}

pub(super) enum ArtifactState {
    Missing,
    Trusted,
    Damaged(String),
}

/// The artifact at `artifact`, memory-mapped, if the cache holds a valid
/// one; `Err` says why an artifact that is there cannot be used.
pub(crate) fn map_cached(
    engine: &Engine,
    kind: WasmKind,
    artifact: &Path,
) -> Result<Option<Code>, String> {
    let stamp = fs::metadata(artifact).ok().map(|m| Stamp::of(&m));
    if let Some(stamp) = &stamp
        && let Some(code) = super::shared::get(engine, artifact, stamp)
    {
        return Ok(Some(code));
    }
    match check_artifact(artifact, &artifact.with_extension("sum")) {
        ArtifactState::Missing => Ok(None),
        ArtifactState::Damaged(why) => Err(format!(
            "cached code {} is damaged ({why})",
            artifact.display()
        )),
        // SAFETY: the artifact matches the digest recorded when it was
        // stored for this engine configuration (its folder is named by the
        // compatibility key), and cache files are only replaced by rename.
        ArtifactState::Trusted => match unsafe { Code::deserialize_file(engine, kind, artifact) } {
            Ok(code) => {
                if let Some(stamp) = stamp {
                    super::shared::put(engine, artifact, stamp, &code);
                }
                Ok(Some(code))
            }
            Err(e) => Err(format!(
                "cached code {} was refused ({})",
                artifact.display(),
                chain(&e)
            )),
        },
    }
}

/// Stores an artifact and its checksum record.
pub(crate) fn store_artifact(artifact: &Path, bytes: &[u8], source: &Path) -> io::Result<()> {
    write_atomic(artifact, bytes)?;
    record_artifact(artifact, &content_digest(bytes), source)
}

/// What an artifact's checksum record holds.
pub(super) fn content_digest(bytes: &[u8]) -> String {
    hex::encode(piece_digest(&piece_hashes(bytes)))
}

/// Writes the checksum record of an artifact already in place, whose
/// digest in pieces the caller knows.
pub(crate) fn record_artifact(artifact: &Path, digest: &str, source: &Path) -> io::Result<()> {
    let stamp = Stamp::of(&fs::metadata(artifact)?);
    write_json_atomic(
        &artifact.with_extension("sum"),
        &Sum {
            stamp,
            digest: Some(digest.to_string()),
            sha256: None,
            source: absolute(source),
        },
    )
}

pub(super) fn check_artifact(artifact: &Path, sum_path: &Path) -> ArtifactState {
    // Not there, or not reachable (a file where a folder should be, no
    // permission): either way there is nothing to load.
    let Ok(meta) = fs::metadata(artifact) else {
        return ArtifactState::Missing;
    };
    let Some(sum) = read_json::<Sum>(sum_path) else {
        return ArtifactState::Damaged("its checksum record is missing or unreadable".into());
    };
    if sum.stamp == Stamp::of(&meta) {
        return ArtifactState::Trusted;
    }
    // The file was touched since it was written: only its content can tell.
    let bytes = match fs::read(artifact) {
        Ok(bytes) => bytes,
        Err(e) => return ArtifactState::Damaged(e.to_string()),
    };
    let intact = match (&sum.digest, &sum.sha256) {
        (Some(digest), _) => content_digest(&bytes) == *digest,
        (None, Some(sha256)) => hex::encode(Sha256::digest(&bytes)) == *sha256,
        (None, None) => {
            return ArtifactState::Damaged("its checksum record holds no checksum".into());
        }
    };
    if !intact {
        return ArtifactState::Damaged("its content does not match its checksum".into());
    }
    let refreshed = Sum {
        stamp: Stamp::of(&meta),
        ..sum
    };
    // Failing to refresh only means hashing again next time.
    let _ = write_json_atomic(sum_path, &refreshed);
    ArtifactState::Trusted
}

pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub(super) fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Writes to a temporary file in the same folder, then renames it over
/// `path`: readers see the old file or the new one, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("no parent folder"))?;
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub(super) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

pub(super) fn dir_size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    let entries = match fs::read_dir(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
