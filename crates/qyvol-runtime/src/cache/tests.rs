use std::fs;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::Engine;

use super::CodeCache;
use crate::engine::EngineOptions;
use crate::metrics::CodeSource;

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
    let mut sum: serde_json::Value = serde_json::from_slice(&fs::read(&sum_path).unwrap()).unwrap();
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
