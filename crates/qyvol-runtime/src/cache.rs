//! The compiled-code cache.
//!
//! Compiling a large component takes seconds; loading its compiled form takes
//! milliseconds. Artifacts live under the user's cache folder, keyed by the
//! SHA-256 of the wasm bytes and by the engine's compatibility key, and are
//! memory-mapped when loaded.
//!
//! Two records spare the work that would otherwise dominate a cached start:
//! - an *index* entry per source file, found by its device and inode, holds
//!   the file's metadata stamp (size, mtime, ctime) and its digest: while the
//!   stamp matches, the wasm is not read at all;
//! - a *sum* beside each artifact holds the artifact's own stamp and SHA-256:
//!   while the stamp matches, the artifact is trusted without hashing it; if
//!   it changed in any way (ctime moves on every write, and cannot be set
//!   back by a user), the artifact is hashed and rebuilt when it differs.
//!
//! Every file is written to a temporary name and renamed into place, so that
//! concurrent runs never see half an entry and mapped files never change.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qyvol_manifest::bundle::{piece_digest, piece_hashes};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::code::Code;
use crate::engine::compatibility_key;
use crate::error::{RuntimeError, chain};
use crate::kind::WasmKind;
use crate::metrics::CodeSource;

/// Bumped when the layout below changes, so old layouts are simply ignored.
const LAYOUT: &str = "v1";

/// The cache on disk.
#[derive(Clone, Debug)]
pub struct CodeCache {
    root: PathBuf,
}

/// Metadata that changes whenever a file's content changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_ns: i64,
    ctime: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
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
struct IndexEntry {
    path: PathBuf,
    stamp: Stamp,
    sha256: String,
    kind: String,
}

/// What the cache knows of one artifact.
#[derive(Debug, Serialize, Deserialize)]
struct Sum {
    stamp: Stamp,
    /// Its content's digest in pieces, as a bundle names its precompiled
    /// code ([`piece_digest`]): code copied from a bundle is recorded with
    /// the digest the bundle's signature covers, without hashing it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    /// The SHA-256 of the whole file, which records written before the
    /// digest in pieces hold: still honoured, so that updating qyv does not
    /// turn a sound cache into warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// The wasm file it was compiled from, for `qyv cache ls`.
    source: PathBuf,
}

/// One artifact, as `qyv cache ls` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CacheEntry {
    pub path: PathBuf,
    pub engine: String,
    pub kind: String,
    pub wasm_sha256: String,
    pub size: u64,
    pub source: Option<PathBuf>,
}

/// Compiled code ready to instantiate, and how it was obtained.
pub(crate) struct LoadedCode {
    pub code: Code,
    pub kind: WasmKind,
    pub source: CodeSource,
    pub read_time: Duration,
    pub code_time: Duration,
    /// Problems with the cache itself; the run goes on without it.
    pub warnings: Vec<String>,
    /// Things worth knowing about where the code came from (precompiled
    /// code that did not match this engine, say).
    pub notes: Vec<String>,
}

/// Wasm whose SHA-256 and kind are known, and maybe its bytes.
pub(crate) struct KnownWasm<'a> {
    /// The file it is, or is in: for messages and `qyv cache ls`.
    pub origin: &'a Path,
    pub sha256: String,
    pub kind: WasmKind,
    pub bytes: Option<Vec<u8>>,
}

/// What the cache knows of one bundle file: every byte was verified while
/// the file had this stamp.
#[derive(Debug, Serialize, Deserialize)]
struct BundleRecord {
    path: PathBuf,
    stamp: Stamp,
    digest: String,
}

enum ArtifactState {
    Missing,
    Trusted,
    Damaged(String),
}

impl CodeCache {
    pub fn new(root: impl Into<PathBuf>) -> CodeCache {
        CodeCache { root: root.into() }
    }

    /// `$QYVOL_CACHE_DIR`, else `$XDG_CACHE_HOME/qyvol`, else
    /// `$HOME/.cache/qyvol`.
    pub fn default_root() -> Option<PathBuf> {
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(d) = non_empty("QYVOL_CACHE_DIR") {
            return Some(PathBuf::from(d));
        }
        if let Some(d) = non_empty("XDG_CACHE_HOME") {
            return Some(PathBuf::from(d).join("qyvol"));
        }
        non_empty("HOME").map(|h| PathBuf::from(h).join(".cache").join("qyvol"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn index_dir(&self) -> PathBuf {
        self.root.join(LAYOUT).join("index")
    }

    fn code_dir(&self, engine_key: &str) -> PathBuf {
        self.root.join(LAYOUT).join("code").join(engine_key)
    }

    /// Gets compiled code for `path`: from the cache when a valid artifact
    /// exists, otherwise by compiling it and storing the result.
    pub(crate) fn load(&self, engine: &Engine, path: &Path) -> Result<LoadedCode, RuntimeError> {
        let started = Instant::now();
        let mut warnings = Vec::new();
        let meta = fs::metadata(path).map_err(|source| RuntimeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(RuntimeError::Read {
                path: path.to_path_buf(),
                source: io::Error::other("not a regular file"),
            });
        }
        let stamp = Stamp::of(&meta);
        let index_path = self
            .index_dir()
            .join(format!("{}-{}.json", stamp.dev, stamp.ino));

        let known = read_json::<IndexEntry>(&index_path)
            .filter(|e| e.stamp == stamp)
            .and_then(|e| WasmKind::from_str_opt(&e.kind).map(|k| (e.sha256, k)));
        let (bytes, sha256, kind) = match known {
            Some((sha256, kind)) => (None, sha256, kind),
            None => {
                let bytes = read_wasm(path)?;
                let kind = detect(path, &bytes)?;
                let sha256 = hex::encode(Sha256::digest(&bytes));
                let entry = IndexEntry {
                    path: absolute(path),
                    stamp,
                    sha256: sha256.clone(),
                    kind: kind.as_str().to_string(),
                };
                if let Err(e) = write_json_atomic(&index_path, &entry) {
                    warnings.push(format!("cannot write {}: {e}", index_path.display()));
                }
                (Some(bytes), sha256, kind)
            }
        };
        let read_time = started.elapsed();
        let wasm = KnownWasm {
            origin: path,
            sha256,
            kind,
            bytes,
        };
        let mut loaded = self.load_known(engine, wasm, || read_wasm(path))?;
        loaded.read_time = read_time;
        warnings.append(&mut loaded.warnings);
        loaded.warnings = warnings;
        Ok(loaded)
    }

    /// Compiled code for wasm whose digest and kind are known: mapped from
    /// the cache when it holds a valid artifact, otherwise compiled (from
    /// `wasm.bytes`, or what `read` returns) and stored.
    pub(crate) fn load_known(
        &self,
        engine: &Engine,
        wasm: KnownWasm<'_>,
        read: impl FnOnce() -> Result<Vec<u8>, RuntimeError>,
    ) -> Result<LoadedCode, RuntimeError> {
        let started = Instant::now();
        let mut warnings = Vec::new();
        let kind = wasm.kind;
        let artifact = self.artifact_path(engine, &wasm.sha256, kind, None);
        let mut source = CodeSource::Compiled;
        match map_cached(engine, kind, &artifact) {
            Ok(Some(code)) => {
                return Ok(LoadedCode {
                    code,
                    kind,
                    source: CodeSource::CacheHit,
                    read_time: Duration::ZERO,
                    code_time: started.elapsed(),
                    warnings,
                    notes: Vec::new(),
                });
            }
            Ok(None) => {}
            Err(why) => {
                warnings.push(format!("{why}; compiling again"));
                source = CodeSource::Rebuilt;
            }
        }
        let bytes = match wasm.bytes {
            Some(b) => b,
            None => read()?,
        };
        let code = compile(engine, kind, wasm.origin, &bytes)?;
        let code_time = started.elapsed();
        let stored = code
            .serialize()
            .map_err(|e| io::Error::other(chain(&e)))
            .and_then(|bytes| store_artifact(&artifact, &bytes, wasm.origin));
        if let Err(e) = stored {
            warnings.push(format!(
                "cannot store compiled code in {}: {e}",
                artifact.display()
            ));
        }
        Ok(LoadedCode {
            code,
            kind,
            source,
            read_time: Duration::ZERO,
            code_time,
            warnings,
            notes: Vec::new(),
        })
    }

    /// Where the artifact of a wasm (by SHA-256 and kind) lives for this
    /// engine. `native` names precompiled code that came in a bundle: it gets
    /// a name of its own (its SHA-256 after the kind), so code a bundle
    /// brought is never taken for code this `qyv` compiled.
    pub(crate) fn artifact_path(
        &self,
        engine: &Engine,
        wasm_sha256: &str,
        kind: WasmKind,
        native: Option<&str>,
    ) -> PathBuf {
        let name = match native {
            None => format!("{wasm_sha256}.{}.cwasm", kind.as_str()),
            Some(n) => format!("{wasm_sha256}.{}.{n}.cwasm", kind.as_str()),
        };
        self.code_dir(&compatibility_key(engine)).join(name)
    }

    pub(crate) fn files_dir(&self, digest: &str) -> PathBuf {
        self.root.join(LAYOUT).join("files").join(digest)
    }

    fn bundle_record_path(&self, stamp: &Stamp) -> PathBuf {
        self.root
            .join(LAYOUT)
            .join("bundles")
            .join(format!("{}-{}.json", stamp.dev, stamp.ino))
    }

    /// Whether the bundle file (as it is now, by its stamp) was verified
    /// entirely by an earlier run, with this digest.
    pub(crate) fn bundle_verified(&self, meta: &fs::Metadata, digest: &str) -> bool {
        let stamp = Stamp::of(meta);
        read_json::<BundleRecord>(&self.bundle_record_path(&stamp))
            .is_some_and(|r| r.stamp == stamp && r.digest == digest)
    }

    /// Records that every byte of the bundle was checked while its file had
    /// the metadata `meta` (taken before the checks began).
    pub(crate) fn record_bundle_verified(
        &self,
        meta: &fs::Metadata,
        digest: &str,
        path: &Path,
    ) -> io::Result<()> {
        let stamp = Stamp::of(meta);
        let record = BundleRecord {
            path: absolute(path),
            stamp: stamp.clone(),
            digest: digest.to_string(),
        };
        write_json_atomic(&self.bundle_record_path(&stamp), &record)
    }

    /// Every artifact in the cache, for `qyv cache ls`.
    pub fn entries(&self) -> io::Result<Vec<CacheEntry>> {
        let mut out = Vec::new();
        let code = self.root.join(LAYOUT).join("code");
        let engines = match fs::read_dir(&code) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for engine in engines {
            let engine = engine?;
            let engine_key = engine.file_name().to_string_lossy().into_owned();
            for file in fs::read_dir(engine.path())? {
                let file = file?;
                let path = file.path();
                if path.extension().and_then(|e| e.to_str()) != Some("cwasm") {
                    continue;
                }
                let name = file.file_name().to_string_lossy().into_owned();
                let mut parts = name.splitn(3, '.');
                let (Some(sha), Some(kind)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let sum = read_json::<Sum>(&path.with_extension("sum"));
                out.push(CacheEntry {
                    size: file.metadata()?.len(),
                    engine: engine_key.clone(),
                    kind: kind.to_string(),
                    wasm_sha256: sha.to_string(),
                    source: sum.map(|s| s.source),
                    path,
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Removes everything this cache layout stored; returns the bytes freed.
    pub fn clean(&self) -> io::Result<u64> {
        let dir = self.root.join(LAYOUT);
        let freed = dir_size(&dir)?;
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(freed),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// Compiles without the cache: `--no-cache`, or no cache folder at all.
pub(crate) fn load_uncached(engine: &Engine, path: &Path) -> Result<LoadedCode, RuntimeError> {
    let started = Instant::now();
    let bytes = read_wasm(path)?;
    let kind = detect(path, &bytes)?;
    let read_time = started.elapsed();
    let mut loaded = compile_uncached(engine, kind, path, &bytes, Instant::now())?;
    loaded.read_time = read_time;
    Ok(loaded)
}

/// Compiles known wasm without the cache (from `wasm.bytes`, or what `read`
/// returns): a bundle's, when there is no cache.
pub(crate) fn compile_known(
    engine: &Engine,
    wasm: KnownWasm<'_>,
    read: impl FnOnce() -> Result<Vec<u8>, RuntimeError>,
) -> Result<LoadedCode, RuntimeError> {
    let started = Instant::now();
    let bytes = match wasm.bytes {
        Some(b) => b,
        None => read()?,
    };
    compile_uncached(engine, wasm.kind, wasm.origin, &bytes, started)
}

/// Code compiled from `bytes` and not stored; `code_time` counts from
/// `started`, the caller's read time is left for it to fill in.
fn compile_uncached(
    engine: &Engine,
    kind: WasmKind,
    origin: &Path,
    bytes: &[u8],
    started: Instant,
) -> Result<LoadedCode, RuntimeError> {
    let code = compile(engine, kind, origin, bytes)?;
    Ok(LoadedCode {
        code,
        kind,
        source: CodeSource::CompiledUncached,
        read_time: Duration::ZERO,
        code_time: started.elapsed(),
        warnings: Vec::new(),
        notes: Vec::new(),
    })
}

/// Reads a wasm file whole; anything but a regular file (a pipe, a device)
/// is refused without waiting on it.
pub(crate) fn read_wasm(path: &Path) -> Result<Vec<u8>, RuntimeError> {
    qyvol_manifest::read_regular(path, u64::MAX).map_err(|source| RuntimeError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn detect(path: &Path, bytes: &[u8]) -> Result<WasmKind, RuntimeError> {
    WasmKind::detect(bytes).ok_or_else(|| RuntimeError::NotWasm {
        path: path.to_path_buf(),
        what: describe_non_wasm(bytes),
    })
}

fn compile(
    engine: &Engine,
    kind: WasmKind,
    path: &Path,
    bytes: &[u8],
) -> Result<Code, RuntimeError> {
    Code::compile(engine, kind, bytes).map_err(|e| {
        crate::threads::refusal(path, bytes, || RuntimeError::InvalidWasm {
            path: path.to_path_buf(),
            message: chain(&e),
        })
    })
}

/// A short description of what a non-wasm file looks like.
pub(crate) fn describe_non_wasm(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "the file is empty".to_string();
    }
    if bytes.starts_with(b"\0asm") {
        return "it has the wasm magic but an unknown version or layer".to_string();
    }
    let head = &bytes[..bytes.len().min(16)];
    if head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        let text: String = String::from_utf8_lossy(head).chars().take(16).collect();
        return format!("it starts with the text {text:?}");
    }
    format!(
        "it starts with the bytes {}",
        hex::encode(&bytes[..bytes.len().min(8)])
    )
}

/// The artifact at `artifact`, memory-mapped, if the cache holds a valid
/// one; `Err` says why an artifact that is there cannot be used.
pub(crate) fn map_cached(
    engine: &Engine,
    kind: WasmKind,
    artifact: &Path,
) -> Result<Option<Code>, String> {
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
            Ok(code) => Ok(Some(code)),
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
fn content_digest(bytes: &[u8]) -> String {
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

fn check_artifact(artifact: &Path, sum_path: &Path) -> ArtifactState {
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

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
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

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn dir_size(dir: &Path) -> io::Result<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineOptions;

    fn setup() -> (tempfile::TempDir, CodeCache, PathBuf, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(dir.path().join("cache"));
        let wasm = dir.path().join("m.wasm");
        fs::write(
            &wasm,
            wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 7))"#).unwrap(),
        )
        .unwrap();
        let engine = EngineOptions::default().engine().unwrap();
        (dir, cache, wasm, engine)
    }

    fn only_artifact(cache: &CodeCache) -> PathBuf {
        let entries = cache.entries().unwrap();
        assert_eq!(entries.len(), 1, "{entries:?}");
        entries[0].path.clone()
    }

    #[test]
    fn second_load_is_a_hit_and_lists_the_source() {
        let (_d, cache, wasm, engine) = setup();
        let first = cache.load(&engine, &wasm).unwrap();
        assert_eq!(first.source, CodeSource::Compiled);
        assert!(first.warnings.is_empty(), "{:?}", first.warnings);
        let second = cache.load(&engine, &wasm).unwrap();
        assert_eq!(second.source, CodeSource::CacheHit);
        let entries = cache.entries().unwrap();
        assert_eq!(entries[0].source.as_deref(), Some(wasm.as_path()));
        assert_eq!(entries[0].kind, "module");
    }

    #[test]
    fn a_changed_source_is_recompiled() {
        let (_d, cache, wasm, engine) = setup();
        cache.load(&engine, &wasm).unwrap();
        fs::write(
            &wasm,
            wat::parse_str(r#"(module (func (export "g")))"#).unwrap(),
        )
        .unwrap();
        let again = cache.load(&engine, &wasm).unwrap();
        assert_eq!(again.source, CodeSource::Compiled);
        assert_eq!(cache.entries().unwrap().len(), 2);
    }

    #[test]
    fn a_flipped_byte_in_an_artifact_is_detected_and_rebuilt() {
        let (_d, cache, wasm, engine) = setup();
        cache.load(&engine, &wasm).unwrap();
        let artifact = only_artifact(&cache);
        let mut bytes = fs::read(&artifact).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(&artifact, &bytes).unwrap();
        let again = cache.load(&engine, &wasm).unwrap();
        assert_eq!(again.source, CodeSource::Rebuilt);
        assert!(
            again.warnings[0].contains("damaged"),
            "{:?}",
            again.warnings
        );
        assert_eq!(
            cache.load(&engine, &wasm).unwrap().source,
            CodeSource::CacheHit
        );
    }

    #[test]
    fn a_truncated_artifact_or_missing_sum_is_rebuilt() {
        let (_d, cache, wasm, engine) = setup();
        cache.load(&engine, &wasm).unwrap();
        let artifact = only_artifact(&cache);
        let bytes = fs::read(&artifact).unwrap();
        fs::write(&artifact, &bytes[..bytes.len() / 3]).unwrap();
        assert_eq!(
            cache.load(&engine, &wasm).unwrap().source,
            CodeSource::Rebuilt
        );
        fs::remove_file(artifact.with_extension("sum")).unwrap();
        assert_eq!(
            cache.load(&engine, &wasm).unwrap().source,
            CodeSource::Rebuilt
        );
        assert_eq!(
            cache.load(&engine, &wasm).unwrap().source,
            CodeSource::CacheHit
        );
    }

    #[test]
    fn a_record_with_the_whole_file_sha256_is_still_honoured() {
        let (_d, cache, wasm, engine) = setup();
        cache.load(&engine, &wasm).unwrap();
        let artifact = only_artifact(&cache);
        let sum_path = artifact.with_extension("sum");
        let mut sum: serde_json::Value =
            serde_json::from_slice(&fs::read(&sum_path).unwrap()).unwrap();
        let bytes = fs::read(&artifact).unwrap();
        let record = sum.as_object_mut().unwrap();
        record.remove("digest");
        record.insert("sha256".into(), hex::encode(Sha256::digest(&bytes)).into());
        fs::write(&sum_path, serde_json::to_vec(&sum).unwrap()).unwrap();
        let hit = cache.load(&engine, &wasm).unwrap();
        assert_eq!(hit.source, CodeSource::CacheHit);
        assert!(hit.warnings.is_empty(), "{:?}", hit.warnings);
        // Touched: checked against the whole file's SHA-256.
        fs::write(&artifact, &bytes).unwrap();
        assert_eq!(
            cache.load(&engine, &wasm).unwrap().source,
            CodeSource::CacheHit
        );
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 0xff;
        fs::write(&artifact, &flipped).unwrap();
        assert_eq!(
            cache.load(&engine, &wasm).unwrap().source,
            CodeSource::Rebuilt
        );
    }

    #[test]
    fn a_touched_but_intact_artifact_is_trusted_after_one_hash() {
        let (_d, cache, wasm, engine) = setup();
        cache.load(&engine, &wasm).unwrap();
        let artifact = only_artifact(&cache);
        let bytes = fs::read(&artifact).unwrap();
        fs::write(&artifact, &bytes).unwrap();
        assert_eq!(
            cache.load(&engine, &wasm).unwrap().source,
            CodeSource::CacheHit
        );
    }

    #[test]
    fn other_engine_options_use_other_artifacts() {
        let (_d, cache, wasm, engine) = setup();
        cache.load(&engine, &wasm).unwrap();
        let timed = EngineOptions {
            epoch_interruption: true,
            consume_fuel: false,
        }
        .engine()
        .unwrap();
        assert_eq!(
            cache.load(&timed, &wasm).unwrap().source,
            CodeSource::Compiled
        );
        assert_eq!(cache.entries().unwrap().len(), 2);
    }

    #[test]
    fn an_unwritable_cache_warns_and_still_runs() {
        let (d, _cache, wasm, engine) = setup();
        let blocker = d.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let cache = CodeCache::new(blocker.join("cache"));
        let loaded = cache.load(&engine, &wasm).unwrap();
        assert_eq!(loaded.source, CodeSource::Compiled);
        assert!(!loaded.warnings.is_empty());
    }

    #[test]
    fn non_wasm_files_are_described() {
        let (d, cache, _wasm, engine) = setup();
        let text = d.path().join("t.wasm");
        fs::write(&text, b"#!/bin/sh\necho hi\n").unwrap();
        let err = cache.load(&engine, &text).err().unwrap().to_string();
        assert!(err.contains("not a WebAssembly file"), "{err}");
        assert!(err.contains("#!/bin/sh"), "{err}");
    }

    #[test]
    fn clean_removes_everything() {
        let (_d, cache, wasm, engine) = setup();
        cache.load(&engine, &wasm).unwrap();
        assert!(cache.clean().unwrap() > 0);
        assert!(cache.entries().unwrap().is_empty());
        assert_eq!(
            cache.load(&engine, &wasm).unwrap().source,
            CodeSource::Compiled
        );
    }
}
