//! `qyv inspect FILE.wasm` and `qyv inspect APP.qyvbin`.

use std::path::Path;

use anyhow::Result;
use qyvol_manifest::bundle::{Bundle, EntryKind, FILE_EXTENSION as BUNDLE_EXTENSION};
use qyvol_manifest::format_size;
use qyvol_runtime::{EngineOptions, RunSpec, compatibility_key, host_target, inspect_file};
use serde_json::json;

use crate::bundled::{Policy, manifest_of, signer_text};
use crate::cli::{InspectArgs, TrustFlags};
use crate::target::{self, Target};

pub fn inspect(args: InspectArgs) -> Result<i32> {
    let named_bundle = args.file.extension().and_then(|e| e.to_str()) == Some(BUNDLE_EXTENSION);
    if named_bundle || matches!(target::resolve(&args.file), Ok(Target::Bundle(_))) {
        return inspect_bundle(&args.file, args.json);
    }
    let i = inspect_file(&args.file)?;
    if args.json {
        let mut v = serde_json::to_value(&i)?;
        v["file"] = args.file.display().to_string().into();
        v["wasi_version"] = i.wasi.to_string().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("file:    {}", args.file.display());
    println!("size:    {} ({} bytes)", format_size(i.size), i.size);
    println!("kind:    {}", i.kind);
    println!("wasi:    {}", i.wasi);
    println!("world:   {}", i.world);
    if i.needs.is_empty() {
        println!("needs:   no permissions");
    } else {
        for (n, need) in i.needs.iter().enumerate() {
            println!(
                "{}{} (imports {})",
                if n == 0 { "needs:   " } else { "         " },
                need.permission,
                need.why.join(", ")
            );
        }
    }
    let width = i
        .imports
        .iter()
        .chain(&i.exports)
        .map(|x| x.name.len())
        .max()
        .unwrap_or(0);
    println!("imports ({}):", i.imports.len());
    for x in &i.imports {
        println!("  {:<width$}  {}", x.name, x.kind);
    }
    println!("exports ({}):", i.exports.len());
    for x in &i.exports {
        println!("  {:<width$}  {}", x.name, x.kind);
    }
    Ok(0)
}

/// The table of a bundle, its signer and its precompiled code; opening it
/// checks its structure, digest and signature, not every entry's SHA-256
/// (`qyv verify` does).
fn inspect_bundle(path: &Path, json: bool) -> Result<i32> {
    let bundle = Bundle::open(path)?;
    let m = manifest_of(&bundle)?;
    let policy = Policy::load(&TrustFlags::default())?;
    let standing = policy.policy.standing(bundle.signer());
    // The engine this bundle's manifest would run on here.
    let engine = EngineOptions::for_spec(&RunSpec::from_manifest(&m)).engine()?;
    let (target, key) = (host_target(), compatibility_key(&engine));
    let matches = |t: &str, k: &str| t == target && k == key;
    if json {
        let entries: Vec<_> = bundle
            .entries()
            .iter()
            .map(|e| {
                json!({"kind": e.kind.as_str(), "name": e.name, "size": e.blob.size, "sha256": e.blob.sha256_hex()})
            })
            .collect();
        let natives: Vec<_> = bundle
            .natives()
            .iter()
            .map(|n| {
                json!({"target": n.target, "engine": n.engine, "size": n.blob.size, "pieces": n.pieces.len(), "digest": n.blob.sha256_hex(), "matches_this_engine": matches(&n.target, &n.engine)})
            })
            .collect();
        let v = json!({
            "file": path.display().to_string(),
            "format_version": qyvol_manifest::bundle::FORMAT_VERSION,
            "size": bundle.size(),
            "digest": bundle.digest_hex(),
            "signer": bundle.signer().map(|k| json!({"key_id": k.id(), "standing": signer_text(&standing)})),
            "manifest": m,
            "entries": entries,
            "precompiled": natives,
            "this_engine": {"target": target, "engine": key},
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("file:        {}", path.display());
    println!(
        "format:      qyvbin version {}, {} ({} bytes)",
        qyvol_manifest::bundle::FORMAT_VERSION,
        format_size(bundle.size()),
        bundle.size()
    );
    println!("digest:      sha256:{}", bundle.digest_hex());
    println!("signature:   {}", signer_text(&standing));
    println!(
        "app:         {} {}",
        m.name,
        m.version.as_deref().unwrap_or("(no version)")
    );
    let width = bundle
        .entries()
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0);
    println!("entries ({}):", bundle.entries().len());
    for e in bundle.entries() {
        if e.kind == EntryKind::Dir {
            println!("  {:<8} {}", e.kind, e.name);
        } else {
            println!(
                "  {:<8} {:<width$}  {:>10}  sha256:{}",
                e.kind,
                e.name,
                format_size(e.blob.size),
                e.blob.sha256_hex()
            );
        }
    }
    println!("precompiled ({}):", bundle.natives().len());
    for n in bundle.natives() {
        println!(
            "  {}  {}  {}",
            n.label(),
            format_size(n.blob.size),
            if matches(&n.target, &n.engine) {
                "(matches this qyv and machine)"
            } else {
                "(for another engine or machine)"
            }
        );
    }
    println!("this engine: {target}/{key}");
    println!("contents:    not hashed here; qyv verify checks every SHA-256");
    Ok(0)
}
