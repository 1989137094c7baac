//! Compiling without the cache, and what every way of getting code returns.

use std::path::Path;
use std::time::{Duration, Instant};

use wasmtime::Engine;

use crate::code::Code;
use crate::error::{RuntimeError, chain};
use crate::kind::WasmKind;
use crate::metrics::CodeSource;

/// Compiled code ready to instantiate, and how it was obtained.
#[derive(Clone)]
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
pub(super) fn compile_uncached(
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

pub(super) fn detect(path: &Path, bytes: &[u8]) -> Result<WasmKind, RuntimeError> {
    WasmKind::detect(bytes).ok_or_else(|| RuntimeError::NotWasm {
        path: path.to_path_buf(),
        what: describe_non_wasm(bytes),
    })
}

pub(super) fn compile(
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
