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

mod compile;
mod shared;
mod store;
#[cfg(test)]
mod tests;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qyvol_manifest::env;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::engine::compatibility_key;
use crate::error::{RuntimeError, chain};
use crate::kind::WasmKind;
use crate::metrics::CodeSource;

pub(crate) use compile::{
    KnownWasm, LoadedCode, compile_known, describe_non_wasm, load_uncached, read_wasm,
};
use compile::{compile, detect};
use store::{
    BundleRecord, IndexEntry, Stamp, Sum, absolute, dir_size, read_json, write_json_atomic,
};
pub(crate) use store::{map_cached, record_artifact, store_artifact, write_atomic};

/// Bumped when the layout below changes, so old layouts are simply ignored.
const LAYOUT: &str = "v1";

/// The cache on disk.
#[derive(Clone, Debug)]
pub struct CodeCache {
    root: PathBuf,
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

impl CodeCache {
    pub fn new(root: impl Into<PathBuf>) -> CodeCache {
        CodeCache { root: root.into() }
    }

    /// `$QYVOL_CACHE_DIR`, else `$XDG_CACHE_HOME/qyvol`, else
    /// `$HOME/.cache/qyvol`.
    pub fn default_root() -> Option<PathBuf> {
        match env::var("QYVOL_CACHE_DIR") {
            Some(dir) => Some(PathBuf::from(dir)),
            None => env::cache_home().map(|d| d.join("qyvol")),
        }
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
