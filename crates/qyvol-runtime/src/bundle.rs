//! Bundles on the engine's side: precompiling an app's wasm for `qyv pack`,
//! and, for `qyv run app.qyvbin`, verifying the bundle, choosing its
//! precompiled code or compiling its wasm, and extracting its files.
//!
//! Everything lives in the code cache:
//! - precompiled code is copied (and hashed on the way) into the cache's
//!   code folder for this engine, under a name of its own, then
//!   memory-mapped as any cached artifact is;
//! - files are extracted into `files/<digest of their table>/`, a folder
//!   written under a temporary name and renamed, then mounted read-only, so
//!   bundles with the same files share it;
//! - once every byte of a bundle file has been checked, a record keyed by
//!   the file's device, inode, size, mtime and ctime says so, and later runs
//!   of the unchanged file skip the hashing (as the cache does for wasm).
//!
//! The first run hashes every byte of the bundle before anything runs: the
//! precompiled code's pieces on every core while they are copied, the rest
//! at the same time.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use qyvol_manifest::bundle::{
    Bundle, BundleError, BundleErrorKind, Entry, EntryKind, Native, Source,
};
use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::cache::{
    CodeCache, KnownWasm, LoadedCode, compile_known, describe_non_wasm, map_cached, record_artifact,
};
use crate::code::Code;
use crate::engine::{EngineOptions, compatibility_key, host_target};
use crate::error::{RuntimeError, chain};
use crate::kind::WasmKind;
use crate::metrics::CodeSource;
use crate::spec::{Preopen, RunSpec};

/// A run whose program and files come from a bundle.
#[derive(Clone, Debug)]
pub struct BundleRun {
    /// Opened: structure, digest and signature checked.
    pub bundle: Arc<Bundle>,
    /// The guest path of each of the manifest's mounts, in order: the
    /// bundle's folder `fs/N` is seen at `mounts[N]`.
    pub mounts: Vec<String>,
    /// Use the bundle's precompiled code when it matches this engine. The
    /// caller decides: machine code runs outside the sandbox, so it should
    /// come from a trusted signer.
    pub allow_native: bool,
}

/// Precompiled code of a wasm, for one engine on this machine.
pub struct Precompiled {
    pub target: String,
    /// The engine's compatibility key.
    pub engine: String,
    pub code: Vec<u8>,
}

/// Compiles the spec's wasm for each engine the app may run with, as
/// `qyv pack --precompile` ships it: the engine a run of `spec` uses (the
/// same time and fuel settings), and the one with epoch checks that a node
/// uses (a node can stop any app, and gives commands and HTTP requests a
/// time limit by default), when that is another.
pub fn precompile(spec: &RunSpec) -> Result<Vec<Precompiled>, RuntimeError> {
    let bytes = crate::cache::read_wasm(&spec.wasm)?;
    let kind = WasmKind::detect(&bytes).ok_or_else(|| RuntimeError::NotWasm {
        path: spec.wasm.clone(),
        what: describe_non_wasm(&bytes),
    })?;
    let local = EngineOptions::for_spec(spec);
    let supervised = EngineOptions {
        epoch_interruption: true,
        ..local
    };
    let mut variants = vec![local];
    if supervised != local {
        variants.push(supervised);
    }
    variants
        .into_iter()
        .map(|options| {
            let engine = options.engine()?;
            let code = Code::compile(&engine, kind, &bytes)
                .and_then(|c| c.serialize())
                .map_err(|e| {
                    crate::threads::refusal(&spec.wasm, &bytes, || RuntimeError::InvalidWasm {
                        path: spec.wasm.clone(),
                        message: chain(&e),
                    })
                })?;
            Ok(Precompiled {
                target: host_target(),
                engine: compatibility_key(&engine),
                code,
            })
        })
        .collect()
}

/// A bundle made ready to run.
pub(crate) struct Unpacked {
    pub code: LoadedCode,
    /// The folder holding `fs/N` for each mount.
    pub files: Option<PathBuf>,
    /// Keeps a temporary files folder (no cache) alive for the run.
    pub _temp: Option<tempfile::TempDir>,
}

impl Unpacked {
    /// The bundle's files as the folders the guest sees, read-only, in the
    /// order of the manifest's mounts (which come before any other).
    pub(crate) fn mounts(&self, run: &BundleRun) -> Vec<Preopen> {
        match &self.files {
            Some(root) => run
                .mounts
                .iter()
                .enumerate()
                .map(|(i, guest)| Preopen {
                    host: root.join("fs").join(i.to_string()),
                    guest: guest.clone(),
                    writable: false,
                })
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Verifies the bundle (unless an earlier run verified this very file),
/// gets its code and puts its files in place.
pub(crate) fn unpack(
    engine: &Engine,
    run: &BundleRun,
    cache: Option<&CodeCache>,
) -> Result<Unpacked, RuntimeError> {
    let started = Instant::now();
    let bundle = &*run.bundle;
    check_layout(bundle, run.mounts.len())?;
    let mut notes = Vec::new();
    let mut warnings = Vec::new();

    let wasm = bundle.wasm_entry();
    // The kind only picks a code path; nothing runs before every byte of
    // the wasm (or of the code chosen instead) has been checked.
    let head = bundle.read_unverified_prefix(wasm, 8)?;
    let kind = WasmKind::detect(&head).ok_or_else(|| RuntimeError::NotWasm {
        path: bundle.file().to_path_buf(),
        what: format!(
            "its wasm entry {:?}: {}",
            wasm.name,
            describe_non_wasm(&head)
        ),
    })?;

    let key = compatibility_key(engine);
    let target = host_target();
    let mut native = None;
    if run.allow_native && !bundle.natives().is_empty() {
        native = bundle.native_for(&target, &key);
        if native.is_none() {
            let have: Vec<String> = bundle.natives().iter().map(Native::label).collect();
            notes.push(format!(
                "{} has precompiled code for {}, not for this engine and machine ({target}/{key}); compiled its wasm instead",
                bundle.file().display(),
                have.join(", ")
            ));
        } else if cache.is_none() {
            notes.push(format!(
                "precompiled code is used through the code cache, which is off: compiled the wasm of {} instead",
                bundle.file().display()
            ));
            native = None;
        }
    }

    let meta = bundle
        .source()
        .metadata()
        .map_err(|e| BundleError::new(bundle.file(), BundleErrorKind::Io, e.to_string()))?;
    let digest = bundle.digest_hex();
    let verified_before = cache.is_some_and(|c| c.bundle_verified(&meta, &digest));

    let (native_result, rest) = std::thread::scope(|scope| {
        let native_job = match (native, cache) {
            (Some(n), Some(c)) => {
                Some(scope.spawn(move || native_code(engine, c, bundle, n, kind, verified_before)))
            }
            _ => None,
        };
        let rest = unpack_rest(bundle, cache, native, verified_before, &mut warnings);
        let native_result = native_job.map(|job| {
            job.join()
                .unwrap_or_else(|_| Err(RuntimeError::Engine("the unpacking thread failed".into())))
        });
        (native_result, rest)
    });
    let rest = rest?;
    let native_code = native_result.transpose()?;
    if !verified_before
        && let Some(c) = cache
        && let Err(e) = c.record_bundle_verified(&meta, &digest, bundle.file())
    {
        warnings.push(format!(
            "cannot record that {} was verified: {e}",
            bundle.file().display()
        ));
    }
    let read_time = started.elapsed();

    let mut code = match native_code {
        // Checking and copying count as reading, mapping as getting code.
        Some(NativeCode::Mapped { code, source, took }) => LoadedCode {
            code,
            kind,
            source,
            read_time: read_time.saturating_sub(took),
            code_time: took,
            warnings: Vec::new(),
            notes: Vec::new(),
        },
        other => {
            if let Some(NativeCode::Unusable(why)) = other {
                warnings.push(format!("{why}; compiled the wasm instead"));
            }
            let known = KnownWasm {
                origin: bundle.file(),
                sha256: wasm.blob.sha256_hex(),
                kind,
                bytes: rest.wasm_bytes,
            };
            let read = || bundle.read(wasm).map_err(RuntimeError::from);
            let mut loaded = match cache {
                Some(c) => c.load_known(engine, known, read)?,
                None => compile_known(engine, known, read)?,
            };
            loaded.read_time = read_time;
            loaded
        }
    };
    code.warnings.splice(0..0, warnings);
    code.notes.splice(0..0, notes);
    Ok(Unpacked {
        code,
        files: rest.files,
        _temp: rest.temp,
    })
}

/// What the main thread got: the wasm's bytes when they will be compiled,
/// and the files' folder.
struct Rest {
    wasm_bytes: Option<Vec<u8>>,
    files: Option<PathBuf>,
    temp: Option<tempfile::TempDir>,
}

/// Everything but the chosen precompiled code (which its own thread checks
/// as it copies it): the files, the wasm and, unless an earlier run
/// verified this file, every other entry and native.
fn unpack_rest(
    bundle: &Bundle,
    cache: Option<&CodeCache>,
    chosen: Option<&Native>,
    verified_before: bool,
    warnings: &mut Vec<String>,
) -> Result<Rest, RuntimeError> {
    let (files, temp) = place_files(bundle, cache, verified_before, warnings)?;
    let wasm = bundle.wasm_entry();
    let wasm_bytes = match (chosen, verified_before) {
        (None, false) => Some(bundle.read(wasm)?),
        (Some(_), false) => {
            bundle.check(wasm)?;
            None
        }
        // Read later, only if the cache has no code for it.
        (_, true) => None,
    };
    if !verified_before {
        bundle.check(bundle.manifest_entry())?;
        for native in bundle.natives() {
            if !chosen.is_some_and(|c| std::ptr::eq(c, native)) {
                bundle.check(native)?;
            }
        }
    }
    Ok(Rest {
        wasm_bytes,
        files,
        temp,
    })
}

/// How the precompiled code turned out.
enum NativeCode {
    Mapped {
        code: Code,
        source: CodeSource,
        took: std::time::Duration,
    },
    /// It could not be used (the cache cannot hold it, or the engine refused
    /// it): why, for a warning; the wasm is compiled instead.
    Unusable(String),
}

/// Maps the bundle's precompiled code from the cache, copying it there first
/// (hashing it on the way) unless an intact copy is there already.
fn native_code(
    engine: &Engine,
    cache: &CodeCache,
    bundle: &Bundle,
    native: &Native,
    kind: WasmKind,
    verified_before: bool,
) -> Result<NativeCode, RuntimeError> {
    let sha = native.blob.sha256_hex();
    let artifact = cache.artifact_path(
        engine,
        &bundle.wasm_entry().blob.sha256_hex(),
        kind,
        Some(&sha[..16]),
    );
    let mapping = Instant::now();
    if let Ok(Some(code)) = map_cached(engine, kind, &artifact) {
        let took = mapping.elapsed();
        if !verified_before {
            bundle.check(native)?;
        }
        return Ok(NativeCode::Mapped {
            code,
            source: CodeSource::CacheHit,
            took,
        });
    }
    match copy_native(bundle, native, &artifact) {
        Ok(()) => {}
        Err(CopyError::Bundle(e)) => return Err(e.into()),
        Err(CopyError::Cache(e)) => {
            return Ok(NativeCode::Unusable(format!(
                "cannot copy the precompiled code of {} into the cache ({e})",
                bundle.file().display()
            )));
        }
    }
    let mapping = Instant::now();
    Ok(match map_cached(engine, kind, &artifact) {
        Ok(Some(code)) => NativeCode::Mapped {
            code,
            source: CodeSource::Precompiled,
            took: mapping.elapsed(),
        },
        Ok(None) => NativeCode::Unusable(format!(
            "the precompiled code of {} vanished from the cache",
            bundle.file().display()
        )),
        Err(why) => NativeCode::Unusable(format!(
            "the precompiled code of {} cannot be used: {why}",
            bundle.file().display()
        )),
    })
}

enum CopyError {
    /// The bundle is at fault (its bytes do not match): refuse it.
    Bundle(BundleError),
    /// The cache is: go on without it.
    Cache(io::Error),
}

/// Copies precompiled code into the cache under a temporary name, checking
/// its SHA-256 on the way, and renames it into place with its checksum
/// record: a damaged bundle leaves nothing behind.
fn copy_native(bundle: &Bundle, native: &Native, artifact: &Path) -> Result<(), CopyError> {
    let dir = artifact.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(CopyError::Cache)?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(CopyError::Cache)?;
    match bundle.copy_to_file(native, tmp.as_file()) {
        Ok(()) => {}
        Err(e) if e.kind() == BundleErrorKind::Io => {
            return Err(CopyError::Cache(io::Error::other(e.message)));
        }
        Err(e) => return Err(CopyError::Bundle(e)),
    }
    tmp.persist(artifact)
        .map_err(|e| CopyError::Cache(e.error))?;
    record_artifact(artifact, &native.blob.sha256_hex(), bundle.file()).map_err(CopyError::Cache)
}

/// The folder holding the bundle's files, `fs/N` for mount N: the cache's
/// content-addressed copy (made now if missing), or a temporary folder when
/// there is no cache or it cannot be written.
fn place_files(
    bundle: &Bundle,
    cache: Option<&CodeCache>,
    verified_before: bool,
    warnings: &mut Vec<String>,
) -> Result<(Option<PathBuf>, Option<tempfile::TempDir>), RuntimeError> {
    let entries: Vec<&Entry> = bundle.files().iter().collect();
    if entries.is_empty() {
        return Ok((None, None));
    }
    if let Some(cache) = cache {
        let dir = cache.files_dir(&files_digest(&entries));
        if dir.is_dir() {
            if !verified_before {
                for entry in &entries {
                    bundle.check(*entry)?;
                }
            }
            return Ok((Some(dir), None));
        }
        match extract_into_cache(bundle, &entries, &dir) {
            Ok(()) => return Ok((Some(dir), None)),
            Err(CopyError::Bundle(e)) => return Err(e.into()),
            Err(CopyError::Cache(e)) => warnings.push(format!(
                "cannot keep the files of {} in the cache ({e}); using a temporary folder",
                bundle.file().display()
            )),
        }
    }
    let temp = tempfile::Builder::new()
        .prefix("qyvol-bundle-")
        .tempdir()
        .map_err(|e| {
            BundleError::new(
                bundle.file(),
                BundleErrorKind::Io,
                format!("cannot make a temporary folder: {e}"),
            )
        })?;
    bundle.extract(&entries, temp.path())?;
    Ok((Some(temp.path().to_path_buf()), Some(temp)))
}

/// Extracts under a temporary name beside `dir`, then renames: readers see
/// the whole folder or none. If another run got there first, its folder
/// (the same content, by its name) is kept.
fn extract_into_cache(bundle: &Bundle, entries: &[&Entry], dir: &Path) -> Result<(), CopyError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(CopyError::Cache)?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(parent)
        .map_err(CopyError::Cache)?;
    match bundle.extract(entries, tmp.path()) {
        Ok(()) => {}
        Err(e) if e.kind() == BundleErrorKind::Io => {
            return Err(CopyError::Cache(io::Error::other(e.to_string())));
        }
        Err(e) => return Err(CopyError::Bundle(e)),
    }
    let tmp = tmp.keep();
    if let Err(e) = fs::rename(&tmp, dir) {
        let _ = fs::remove_dir_all(&tmp);
        if !dir.is_dir() {
            return Err(CopyError::Cache(e));
        }
    }
    Ok(())
}

/// Names a set of files by its table: kind, name and SHA-256 of each.
fn files_digest(entries: &[&Entry]) -> String {
    let mut h = Sha256::new();
    for e in entries {
        h.update([e.kind as u8]);
        h.update(e.name.as_bytes());
        h.update([0]);
        h.update(e.blob.sha256);
    }
    hex::encode(h.finalize())
}

/// Every folder and file must sit in `fs/N/` for a mount N of the manifest,
/// and every mount must have its folder `fs/N`.
fn check_layout<S: Source>(bundle: &Bundle<S>, mounts: usize) -> Result<(), BundleError> {
    let malformed = |m: String| BundleError::new(bundle.file(), BundleErrorKind::Malformed, m);
    for entry in bundle.files() {
        let mut parts = entry.name.split('/');
        let index = match (parts.next(), parts.next()) {
            (Some("fs"), Some(n)) => n.parse::<usize>().ok().filter(|i| i.to_string() == n),
            _ => None,
        };
        match index {
            Some(i) if i < mounts => {}
            _ => {
                return Err(malformed(format!(
                    "the {} entry {:?} belongs to no mount of the bundle's manifest (it has {mounts}; files sit in fs/N/ for mount N)",
                    entry.kind, entry.name
                )));
            }
        }
    }
    for i in 0..mounts {
        let name = format!("fs/{i}");
        let found = bundle
            .files()
            .binary_search_by(|e| e.name.as_str().cmp(&name))
            .is_ok_and(|at| bundle.files()[at].kind == EntryKind::Dir);
        if !found {
            return Err(malformed(format!(
                "the manifest's mount {i} has no folder {name:?} in the bundle"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use qyvol_manifest::bundle::{Content, Packer};

    fn bundle(dirs: &[&str], files: &[&str]) -> Bundle<Vec<u8>> {
        let mut p = Packer::new(
            Path::new("t.qyvbin"),
            "app.qyv",
            b"name: t\nentrypoint: t.wasm\n".to_vec(),
            "t.wasm",
            Content::Bytes(b"\0asm\x01\0\0\0".to_vec()),
        )
        .unwrap();
        for d in dirs {
            p.add_dir(d).unwrap();
        }
        for f in files {
            p.add_file(f, Content::Bytes(f.as_bytes().to_vec()))
                .unwrap();
        }
        let mut out = Vec::new();
        p.write(&mut out, None).unwrap();
        Bundle::from_source(out, Path::new("t.qyvbin")).unwrap()
    }

    #[test]
    fn files_must_sit_in_the_folder_of_a_mount() {
        assert!(check_layout(&bundle(&[], &[]), 0).is_ok());
        assert!(check_layout(&bundle(&["fs/0", "fs/1"], &["fs/1/a"]), 2).is_ok());
        for (dirs, files, mounts, says) in [
            (
                &["fs/0"][..],
                &["data/a"][..],
                1,
                "\"data/a\" belongs to no mount",
            ),
            (&["fs/0"], &["fs/1/a"], 1, "\"fs/1/a\" belongs to no mount"),
            (
                &["fs/0"],
                &["fs/00/a"],
                1,
                "\"fs/00/a\" belongs to no mount",
            ),
            (&["fs/0"], &[], 2, "mount 1 has no folder \"fs/1\""),
            (&[], &["fs/0"], 1, "mount 0 has no folder \"fs/0\""),
        ] {
            let err = check_layout(&bundle(dirs, files), mounts)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{dirs:?} {files:?}: {err}");
        }
    }

    #[test]
    fn the_files_digest_names_the_table_not_the_bundle() {
        let a = bundle(&["fs/0"], &["fs/0/a"]);
        let b = bundle(&["fs/0"], &["fs/0/a"]);
        let c = bundle(&["fs/0"], &["fs/0/b"]);
        let digest = |b: &Bundle<Vec<u8>>| files_digest(&b.files().iter().collect::<Vec<_>>());
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&c));
    }
}
