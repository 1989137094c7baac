//! `qyv install REF`, `qyv uninstall CMD`, `qyv list [--installed]`: an
//! app from a registry as a command on PATH, like `cargo install`. The
//! command is a small shell launcher in `$QYVOL_BIN` (else
//! `~/.local/bin`) that runs `qyv run REF@DIGEST`: pinned to what was
//! installed, run from the store without asking the registry, sandboxed
//! with the manifest's permissions and judged by the trust policy at each
//! start. What is installed is recorded in the store (`installed/CMD.json`),
//! so that a launcher qyv did not write is never overwritten or removed.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use qyvol_hub::{PulledKind, Reference};
use qyvol_manifest::bundle::Bundle;
use serde::{Deserialize, Serialize};

use super::hub::{fetch, judge, store};
use crate::bundled::manifest_of;
use crate::cli::{InstallArgs, ListArgs, UninstallArgs};

#[derive(Debug, Serialize, Deserialize)]
struct Installed {
    command: String,
    /// As the user named it.
    reference: String,
    digest: String,
    launcher: PathBuf,
    /// The public keys given with --key / --trust, kept for each start.
    #[serde(default)]
    keys: Vec<PathBuf>,
    #[serde(default)]
    trust: Vec<PathBuf>,
}

/// `$QYVOL_BIN`, else `$HOME/.local/bin`.
fn bin_dir() -> Result<PathBuf> {
    if let Some(d) = qyvol_manifest::env::var("QYVOL_BIN") {
        return Ok(PathBuf::from(d));
    }
    qyvol_manifest::env::var("HOME")
        .map(|h| PathBuf::from(h).join(".local").join("bin"))
        .context("neither QYVOL_BIN nor HOME is set: no folder for installed commands")
}

fn records() -> Result<PathBuf> {
    Ok(store()?.root().join("installed"))
}

fn record_path(command: &str) -> Result<PathBuf> {
    Ok(records()?.join(format!("{command}.json")))
}

fn load(command: &str) -> Result<Option<Installed>> {
    let path = record_path(command)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{}: not a record of qyv install", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| path.display().to_string()),
    }
}

fn check_command_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        bail!(
            "{name:?} is not a command name: letters, digits, '-', '_' and '.', starting with a letter or digit; choose one with --name"
        );
    }
    Ok(())
}

/// A word for a POSIX shell, in single quotes.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The permissions an app asks for, one per line, as a phone shows them.
fn permission_lines(m: &qyvol_manifest::Manifest) -> Vec<String> {
    let mut lines = Vec::new();
    let p = serde_json::to_value(&m.permissions).unwrap_or_default();
    let fs = p.get("fs").and_then(|v| v.as_str()).unwrap_or("none");
    lines.push(match fs {
        "none" => "files: none".to_string(),
        "full" => "files: FULL ACCESS to the host file system (development only)".to_string(),
        other => format!("files: {other} (in the folders it mounts)"),
    });
    for mount in &m.mounts {
        lines.push(format!(
            "  mounts {} at {} ({:?})",
            mount.source.display(),
            mount.target,
            mount.mode
        ));
    }
    lines.push(match p.get("net") {
        Some(serde_json::Value::Bool(true)) => "network: any host".to_string(),
        Some(serde_json::Value::Array(rules)) => format!(
            "network: {}",
            rules
                .iter()
                .map(|r| r
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| r.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "network: none".to_string(),
    });
    for (key, what) in [
        ("exec", "start other apps"),
        ("ai", "AI inference"),
        ("gfx", "graphics"),
    ] {
        if p.get(key).and_then(|v| v.as_bool()) == Some(true) {
            lines.push(format!("{what}: yes"));
        }
    }
    lines
}

pub fn install(args: InstallArgs) -> Result<i32> {
    let reference = Reference::parse(&args.reference)?;
    let pulled = fetch(&reference)?;
    let (default_name, asks, signer) = match pulled.kind {
        PulledKind::Bundle => {
            let bundle = Bundle::open(&pulled.path)?;
            let Some(signer) = judge(&bundle, &reference, &args.trust)? else {
                return Ok(crate::exit::QYV_ERROR);
            };
            let m = manifest_of(&bundle)?;
            (m.name.clone(), permission_lines(&m), signer)
        }
        PulledKind::Wasm => (
            reference
                .repository
                .rsplit('/')
                .next()
                .unwrap_or(&reference.repository)
                .to_string(),
            vec!["nothing: a bare wasm runs with no permissions".to_string()],
            "a bare wasm, not signed".to_string(),
        ),
    };
    let command = args.name.clone().unwrap_or(default_name);
    check_command_name(&command)?;
    let dir = bin_dir()?;
    let launcher = dir.join(&command);
    let previous = load(&command)?;
    if previous.is_none() && launcher.exists() {
        bail!(
            "{} exists and was not installed by qyv install: choose another name with --name",
            launcher.display()
        );
    }
    if let Some(p) = &previous
        && p.digest == pulled.digest
    {
        println!(
            "{command} is installed already from {} ({}); nothing to do",
            p.reference, p.digest
        );
        return Ok(0);
    }
    println!("{command}: {reference} ({signer})");
    println!("It asks for:");
    for line in &asks {
        println!("  {line}");
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "not installed: standard input is not a terminal to ask on; read the permissions above and pass --yes to install"
            );
        }
        eprint!("Install {command} in {}? [y/N] ", dir.display());
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("not installed");
            return Ok(1);
        }
    }
    let qyv = std::env::current_exe().context("finding the qyv binary for the launcher")?;
    let pinned = reference.with_digest(&pulled.digest);
    let pinned = Reference {
        tag: None,
        ..pinned
    };
    let mut flags = String::new();
    for k in &args.trust.keys {
        flags.push_str(&format!(
            " --key {}",
            quoted(&absolute(k)?.to_string_lossy())
        ));
    }
    for t in &args.trust.trust {
        flags.push_str(&format!(
            " --trust {}",
            quoted(&absolute(t)?.to_string_lossy())
        ));
    }
    // Every word after TARGET goes to the app, so the trust flags come
    // before it.
    let script = format!(
        "#!/bin/sh\n# {command}: {reference}, installed by qyv install; qyv uninstall {command} removes it.\nexec {} run{flags} {} \"$@\"\n",
        quoted(&qyv.to_string_lossy()),
        quoted(&format!("oci://{pinned}")),
    );
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".qyv-install-")
        .tempfile_in(&dir)
        .with_context(|| dir.display().to_string())?;
    tmp.write_all(script.as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))?;
    tmp.persist(&launcher)
        .map_err(|e| e.error)
        .with_context(|| launcher.display().to_string())?;
    let record = Installed {
        command: command.clone(),
        reference: reference.to_string(),
        digest: pulled.digest.clone(),
        launcher: launcher.clone(),
        keys: args
            .trust
            .keys
            .iter()
            .map(|k| absolute(k))
            .collect::<Result<_>>()?,
        trust: args
            .trust
            .trust
            .iter()
            .map(|t| absolute(t))
            .collect::<Result<_>>()?,
    };
    let path = record_path(&command)?;
    let parent = path.parent().expect("a record has a folder");
    std::fs::create_dir_all(parent)?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
    serde_json::to_writer_pretty(&mut tmp, &record)?;
    tmp.persist(&path).map_err(|e| e.error)?;
    match previous {
        Some(p) => println!(
            "updated {command} ({} → {}): {}",
            short(&p.digest),
            short(&pulled.digest),
            launcher.display()
        ),
        None => println!("installed {command}: {}", launcher.display()),
    }
    if !path_has(&dir) {
        println!(
            "note: {} is not on your PATH; add it (export PATH=\"{}:$PATH\") to run {command} by name",
            dir.display(),
            dir.display()
        );
    }
    Ok(0)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

fn path_has(dir: &Path) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d == dir))
        .unwrap_or(false)
}

pub fn uninstall(args: UninstallArgs) -> Result<i32> {
    check_command_name(&args.command)?;
    let Some(record) = load(&args.command)? else {
        bail!(
            "{} was not installed by qyv install (qyv list --installed shows what was)",
            args.command
        );
    };
    match std::fs::remove_file(&record.launcher) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| record.launcher.display().to_string()),
    }
    std::fs::remove_file(record_path(&args.command)?)?;
    println!(
        "uninstalled {} ({} removed; the app stays in the store until the cache is cleared)",
        args.command,
        record.launcher.display()
    );
    Ok(0)
}

pub fn list(args: ListArgs) -> Result<i32> {
    if !args.installed {
        return list_pulled();
    }
    let dir = records()?;
    let mut found: Vec<Installed> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    found.sort_by(|a, b| a.command.cmp(&b.command));
    if found.is_empty() {
        println!("no commands installed (qyv install REF installs one)");
        return Ok(0);
    }
    let width = found
        .iter()
        .map(|i| i.command.len())
        .max()
        .unwrap_or(0)
        .max(7);
    println!("{:<width$}  {:<19}  REFERENCE", "COMMAND", "DIGEST");
    for i in &found {
        println!(
            "{:<width$}  {:<19}  {}",
            i.command,
            short(&i.digest),
            i.reference
        );
    }
    Ok(0)
}

/// The tags pulled into the store and the digests they pointed at.
fn list_pulled() -> Result<i32> {
    let root = store()?.root().join("refs");
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let (Ok(rel), Ok(digest)) =
                (path.strip_prefix(&root), std::fs::read_to_string(&path))
            {
                let rel = rel.to_string_lossy();
                if let Some((repo, tag)) = rel.rsplit_once('/') {
                    found.push((format!("{repo}:{tag}"), digest.trim().to_string()));
                }
            }
        }
    }
    found.sort();
    if found.is_empty() {
        println!(
            "nothing pulled (qyv pull REF pulls an app; qyv list --installed shows installed commands)"
        );
        return Ok(0);
    }
    println!("{:<19}  REFERENCE", "DIGEST");
    for (reference, digest) in &found {
        println!("{:<19}  {reference}", short(digest));
    }
    Ok(0)
}
