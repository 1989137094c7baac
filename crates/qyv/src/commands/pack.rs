//! `qyv pack`: an app's manifest, wasm and mounted files in one `.qyvbin`,
//! optionally with machine code for this machine and a signature. Packs
//! what `qyv run` can run from a bundle: a valid manifest and wasm, no
//! feature not built yet, nothing a bundle cannot carry.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use qyvol_manifest::bundle::{Content, Packer, SecretKey, unpackable};
use qyvol_manifest::{Manifest, MountKind, format_size};
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
    let m = Manifest::load(&path)?;
    let mut errors: Vec<String> = m.unsupported().iter().map(ToString::to_string).collect();
    errors.extend(unpackable(&m).iter().map(ToString::to_string));
    if let Err(e) = check_file(&m.entrypoint_path()) {
        errors.push(m.error_at("entrypoint", e.to_string()).to_string());
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        return Ok(ExitCodes::QYV_ERROR);
    }
    // Read before anything is written: a bad key should not cost a compile.
    let key = args.sign.as_deref().map(SecretKey::load).transpose()?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}.{}",
            m.name,
            qyvol_manifest::bundle::FILE_EXTENSION
        ))
    });

    let manifest_bytes =
        fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut packer = Packer::new(
        &out,
        &file_name(&path),
        manifest_bytes,
        &file_name(&m.entrypoint),
        Content::File(m.entrypoint_path()),
    )?;
    let out_abs = std::path::absolute(&out)?;
    for (i, mount) in m.effective_mounts().iter().enumerate() {
        if mount.kind == MountKind::Dir {
            add_tree(&mut packer, &mount.source, &format!("fs/{i}"), &out_abs)?;
        }
    }
    let mut precompiled = None;
    if args.precompile {
        eprintln!("compiling {} for this machine...", m.entrypoint.display());
        let p = precompile(&RunSpec::from_manifest(&m))?;
        precompiled = Some(format!("{}/{}", p.target, p.engine));
        packer.add_native(&p.target, &p.engine, p.code);
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

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Adds `dir` (a mount's source) as the folder `prefix`, and everything in
/// it: folders and regular files only. `skip` is the bundle being written,
/// which may sit inside a mounted folder.
fn add_tree(packer: &mut Packer, dir: &Path, prefix: &str, skip: &Path) -> Result<()> {
    packer.add_dir(prefix)?;
    let mut children: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let path = child.path();
        if path == skip {
            continue;
        }
        let Some(name) = child.file_name().to_str().map(str::to_string) else {
            bail!(
                "{}: the file name is not UTF-8; a bundle's names are UTF-8: rename it",
                path.display()
            );
        };
        let entry = format!("{prefix}/{name}");
        let kind = child
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if kind.is_dir() {
            add_tree(packer, &path, &entry, skip)?;
        } else if kind.is_file() {
            packer.add_file(&entry, Content::File(path))?;
        } else if kind.is_symlink() {
            bail!(
                "{}: a symbolic link; a bundle holds folders and regular files only: replace the link with what it points to",
                path.display()
            );
        } else {
            bail!(
                "{}: not a folder or a regular file (a socket, a device, a pipe?); a bundle cannot hold it",
                path.display()
            );
        }
    }
    Ok(())
}
