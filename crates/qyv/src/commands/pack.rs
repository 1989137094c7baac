//! `qyv pack`: an app's manifest, wasm and mounted files in one `.qyvbin`,
//! optionally with machine code for this machine and a signature. Packs
//! what `qyv run` can run from a bundle: what `crate::admission` admits for
//! pack (a valid manifest and wasm, no feature not built yet, nothing a
//! bundle cannot carry).

use std::path::PathBuf;

use anyhow::{Result, bail};
use qyvol_manifest::bundle::{self, Packer, SecretKey};
use qyvol_manifest::{Purpose, format_size};
use qyvol_runtime::{RunSpec, precompile};

use crate::admission::load_bundleable;
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
    let Some(m) = load_bundleable(&path, Purpose::Pack)? else {
        return Ok(crate::exit::QYV_ERROR);
    };
    // Read before anything is written: a bad key should not cost a compile.
    let key = args.sign.as_deref().map(SecretKey::load).transpose()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(bundle::file_name(&m)));

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
