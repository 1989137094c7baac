//! `qyv pack`: an app's manifest, wasm and mounted files in one `.qyvbin`,
//! optionally with machine code for this machine and a signature. Packs
//! what `qyv run` can run from a bundle: a valid manifest and wasm, no
//! feature not built yet, nothing a bundle cannot carry.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use qyvol_manifest::bundle::{Packer, SecretKey, unpackable};
use qyvol_manifest::{Manifest, format_size};
use qyvol_runtime::{ExitCodes, RunSpec, check_file, precompile};

use crate::cli::PackArgs;
use crate::target::{self, Target};

pub fn pack(args: PackArgs) -> Result<i32> {
    let path = match target::resolve(&args.target)? {
        Target::Manifest(p) => p,
        _ => bail!(
            "{}: qyv pack takes a .qyv manifest (or a folder holding one)",
            args.target.display()
        ),
    };
    let Some(m) = load_packable(&path)? else {
        return Ok(ExitCodes::QYV_ERROR);
    };
    // Read before anything is written: a bad key should not cost a compile.
    let key = args.sign.as_deref().map(SecretKey::load).transpose()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(bundle_name(&m)));

    let mut packer = Packer::for_app(&m, &out)?;
    let mut precompiled = None;
    if args.precompile {
        eprintln!("compiling {} for this machine...", m.entrypoint.display());
        let mut labels = Vec::new();
        for p in precompile(&RunSpec::from_manifest(&m))? {
            labels.push(format!("{}/{}", p.target, p.engine));
            packer.add_native(&p.target, &p.engine, p.code);
        }
        precompiled = Some(labels.join(", "));
    }
    let packed = packer.write_file(&out, key.as_ref())?;
    println!(
        "packed {} ({}, {} entries)",
        out.display(),
        format_size(packed.size),
        packed.entries
    );
    println!("  digest       sha256:{}", packed.digest_hex());
    match &precompiled {
        Some(label) => println!("  precompiled  {label}"),
        None => println!("  precompiled  no (the wasm is compiled when it first runs)"),
    }
    match &packed.signer {
        Some(k) => println!("  signed       key {}", k.id()),
        None => println!("  signed       no"),
    }
    Ok(0)
}

/// The manifest at `path` when its app can be packed; otherwise `None`,
/// after printing what stops it. `qyv deploy` packs with it too.
pub(crate) fn load_packable(path: &Path) -> Result<Option<Manifest>> {
    let m = Manifest::load(path)?;
    let errors = problems(&m);
    for e in &errors {
        eprintln!("error: {e}");
    }
    Ok(errors.is_empty().then_some(m))
}

/// The file name a packed app gets when none is given: `NAME.qyvbin`.
pub(crate) fn bundle_name(m: &Manifest) -> String {
    format!("{}.{}", m.name, qyvol_manifest::bundle::FILE_EXTENSION)
}

/// What stops an app from being packed: features not built yet, what a
/// bundle cannot carry, a wasm file that is not one.
fn problems(m: &Manifest) -> Vec<String> {
    let mut errors: Vec<String> = m.unsupported().iter().map(ToString::to_string).collect();
    errors.extend(unpackable(m).iter().map(ToString::to_string));
    if let Err(e) = check_file(&m.entrypoint_path()) {
        errors.push(m.error_at("entrypoint", e.to_string()).to_string());
    }
    errors
}
