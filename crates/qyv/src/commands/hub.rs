//! The hub commands: `qyv login` / `logout` (credentials in the Docker
//! config), `qyv push` (an app as a Qyvol artifact, or a wasm in the CNCF
//! wasm layout), `qyv pull` (into the local store, judged by the trust
//! policy), and the pull that `qyv run REF` does before it runs.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use qyvol_hub::{
    AppFacts, Credentials, DockerConfig, Pulled, PulledKind, Reference, Store, options_for,
};
use qyvol_manifest::bundle::Bundle;
use qyvol_manifest::format_size;
use qyvol_runtime::CodeCache;

use crate::bundled::{Policy, manifest_of, signer_text};
use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, PushFormat, SearchArgs, TrustFlags};
use crate::commands::deploy::{bundle_to_send, progress_bar};
use crate::target::{self, Target};

/// The registry named on the command line, as references name it
/// (`https://` and a trailing slash dropped, Docker Hub's aliases merged).
fn registry_name(text: &str) -> Result<String> {
    let t = text
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let t = t.strip_suffix("/v1").unwrap_or(t);
    if t.is_empty() || t.contains('/') {
        bail!("{text:?} is not a registry; write HOST[:PORT] (ghcr.io, docker.io, 127.0.0.1:5000)");
    }
    let probe = if t.contains('.') || t.contains(':') || t == "localhost" {
        format!("{t}/qyvol/check")
    } else {
        bail!(
            "{text:?} is not a registry host; write HOST[:PORT] with a dot or a port (ghcr.io, localhost:5000)"
        );
    };
    Ok(Reference::parse(&probe)
        .map_err(|e| anyhow::anyhow!("{text:?} is not a registry: {e}"))?
        .registry)
}

pub fn login(args: LoginArgs) -> Result<i32> {
    let registry = registry_name(&args.registry)?;
    let terminal = std::io::stdin().is_terminal();
    let username = match args.username {
        Some(u) => u,
        None if terminal && !args.password_stdin => ask("Username: ", true)?,
        None => bail!("no user name: pass --username NAME"),
    };
    if username.is_empty() || username.contains(':') {
        bail!(
            "the user name {username:?} is empty or holds ':', which basic authentication cannot carry"
        );
    }
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from standard input")?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else if terminal {
        ask("Password: ", false)?
    } else {
        bail!(
            "standard input is not a terminal to ask the password on: pass it on standard input with --password-stdin"
        );
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let creds = Credentials { username, password };
    let mut options = options_for(&registry)?;
    options.credentials = Some(creds.clone());
    qyvol_hub::check_login(&registry, &options)?;
    let mut config = DockerConfig::load_default()?;
    let stored = config.store(&registry, &creds)?;
    println!(
        "Login succeeded: {registry} as {} (kept in {stored})",
        creds.username
    );
    Ok(0)
}

/// Asks on the terminal; the answer is not echoed unless `echo`.
fn ask(prompt: &str, echo: bool) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let stdin = std::io::stdin();
    let fd = 0;
    // SAFETY: termios calls on standard input with a zeroed struct that
    // tcgetattr fills; the old settings are put back before returning.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if echo || libc::tcgetattr(fd, &mut t) != 0 {
            None
        } else {
            let old = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            Some(old)
        }
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(old) = saved {
        // SAFETY: as above, restoring what tcgetattr returned.
        unsafe {
            libc::tcsetattr(fd, libc::TCSANOW, &old);
        }
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn logout(args: LogoutArgs) -> Result<i32> {
    let registry = registry_name(&args.registry)?;
    let mut config = DockerConfig::load_default()?;
    if config.erase(&registry)? {
        println!("Removed the credentials of {registry}");
    } else {
        println!(
            "No credentials for {registry} in {}: nothing to remove",
            config.path().display()
        );
    }
    Ok(0)
}

pub fn push(args: PushArgs) -> Result<i32> {
    let reference = Reference::parse(&args.reference)?;
    let resolved = target::resolve(&args.source)?;
    let format = args.format.unwrap_or(match resolved {
        Target::Wasm(_) => PushFormat::Wasm,
        _ => PushFormat::Qyv,
    });
    let mut options = options_for(&reference.registry)?;
    options.chunk_size = args.chunk_size;
    let pushed = match format {
        PushFormat::Wasm => {
            let Target::Wasm(wasm) = resolved else {
                bail!(
                    "{}: --format wasm pushes a bare .wasm file; this is a Qyvol app (push it without --format, or with --format qyv)",
                    args.source.display()
                );
            };
            if args.sign.is_some() {
                bail!(
                    "--sign signs a Qyvol bundle; the CNCF wasm layout has no signature (push a .qyv manifest to sign the app)"
                );
            }
            let size = std::fs::metadata(&wasm)?.len();
            let bar = progress_bar(size, false, "pushing");
            let ticker = bar.clone();
            let pushed =
                qyvol_hub::push_wasm(&reference, &options, &wasm, move |n| ticker.set_position(n));
            bar.finish_and_clear();
            pushed?
        }
        PushFormat::Qyv => {
            if let Target::Wasm(wasm) = &resolved {
                bail!(
                    "{} is a bare wasm file: push it with --format wasm (CNCF wasm layout), or write a .qyv manifest for it (qyv init) to push an app",
                    wasm.display()
                );
            }
            let Some(sendable) = bundle_to_send(&args.source, args.sign.as_deref())? else {
                return Ok(crate::exit::QYV_ERROR);
            };
            let bundle = Bundle::open(&sendable.path)?;
            let manifest = manifest_of(&bundle)?;
            let facts = AppFacts {
                manifest: &manifest,
                signer: bundle.signer().map(|k| k.id()),
            };
            let bar = progress_bar(bundle.size(), false, "pushing");
            let ticker = bar.clone();
            let pushed =
                qyvol_hub::push_bundle(&reference, &options, &sendable.path, &facts, move |n| {
                    ticker.set_position(n)
                });
            bar.finish_and_clear();
            pushed?
        }
    };
    println!("pushed {reference}");
    println!("  digest   {}", pushed.digest);
    println!(
        "  layer    {} {} ({}{})",
        pushed.layer.media_type,
        pushed.layer.digest,
        format_size(pushed.layer.size),
        if pushed.uploaded {
            ""
        } else {
            ", already in the registry"
        }
    );
    println!(
        "  pull it  {}/{}@{}",
        reference.registry, reference.repository, pushed.digest
    );
    Ok(0)
}

/// The store pulled artifacts go into: `hub/` in the code cache's folder.
pub(super) fn store() -> Result<Store> {
    let root = CodeCache::default_root().context(
        "neither QYVOL_CACHE_DIR, XDG_CACHE_HOME nor HOME is set: no place for pulled apps",
    )?;
    Ok(Store::new(root.join("hub")))
}

/// Pulls a reference into the store, with a progress bar when bytes come.
pub(super) fn fetch(reference: &Reference) -> Result<Pulled> {
    let options = options_for(&reference.registry)?;
    let bar = progress_bar(0, false, "pulling");
    let ticker = bar.clone();
    let pulled = qyvol_hub::pull(reference, &options, &store()?, move |n, total| {
        ticker.set_length(total);
        ticker.set_position(n);
    });
    bar.finish_and_clear();
    Ok(pulled?)
}

pub fn pull(args: PullArgs) -> Result<i32> {
    let reference = Reference::parse(&args.reference)?;
    let pulled = fetch(&reference)?;
    let what = match pulled.kind {
        PulledKind::Bundle => {
            let bundle = Bundle::open(&pulled.path)?;
            let Some(signer) = judge(&bundle, &reference, &args.trust)? else {
                return Ok(crate::exit::QYV_ERROR);
            };
            let m = manifest_of(&bundle)?;
            format!("Qyvol app {} ({signer})", m.name)
        }
        PulledKind::Wasm => {
            "wasm (CNCF wasm layout; runs with no permissions but those flags grant)".to_string()
        }
    };
    println!(
        "pulled {reference}{}",
        if pulled.downloaded {
            ""
        } else {
            " (already in the store)"
        }
    );
    println!("  digest   {}", pulled.digest);
    println!("  content  {what}, {}", format_size(pulled.size));
    println!("  stored   {}", pulled.path.display());
    Ok(0)
}

/// A bundle judged by the trust policy: its standing in words, or `None`
/// after the refusal is printed.
pub(super) fn judge(
    bundle: &Bundle,
    reference: &Reference,
    trust: &TrustFlags,
) -> Result<Option<String>> {
    let policy = Policy::load(trust)?;
    let standing = policy.policy.standing(bundle.signer());
    if !policy.policy.admits(&standing) {
        eprintln!(
            "error: {}",
            policy.refusal(Path::new(&reference.to_string()), &standing)
        );
        return Ok(None);
    }
    Ok(Some(signer_text(&standing)))
}

pub fn search(args: SearchArgs) -> Result<i32> {
    let store = store()?;
    let registries = if args.registries.is_empty() {
        let known = qyvol_hub::search::indexed_registries(&store);
        if known.is_empty() {
            bail!("no registry searched yet: name one with --registry HOST[:PORT]");
        }
        known
    } else {
        args.registries
            .iter()
            .map(|r| registry_name(r))
            .collect::<Result<Vec<_>>>()?
    };
    let term = args.term.clone().unwrap_or_default();
    let mut found = Vec::new();
    for registry in &registries {
        let options = options_for(registry)?;
        let index = qyvol_hub::search::index(&store, registry, &options, args.refresh)?;
        for (repository, why) in &index.skipped {
            eprintln!("warning: {registry}/{repository} was not indexed: {why}");
        }
        found.extend(
            index
                .entries
                .into_iter()
                .filter(|e| qyvol_hub::search::matches(e, &term)),
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(0);
    }
    if found.is_empty() {
        println!(
            "nothing matches {term:?} in {} (qyv search --refresh reads the registry again)",
            registries.join(", ")
        );
        return Ok(0);
    }
    let rows: Vec<[String; 5]> = found
        .iter()
        .map(|e| {
            [
                e.reference.clone(),
                e.kind.clone(),
                e.language.clone().unwrap_or_else(|| "-".into()),
                e.permissions
                    .as_deref()
                    .map(permissions_summary)
                    .unwrap_or_else(|| "none (bare wasm)".into()),
                e.description.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "REFERENCE",
        "KIND",
        "LANGUAGE",
        "PERMISSIONS",
        "DESCRIPTION",
    ];
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 4 {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string()
    };
    println!("{}", line(header));
    for r in &rows {
        println!("{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
    Ok(0)
}

/// `{"fs":"read","net":false,…}` as `fs read, net` (only what is granted).
fn permissions_summary(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_string();
    };
    let granted: Vec<String> = map
        .iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Bool(true) => Some(k.clone()),
            serde_json::Value::String(s) if s != "none" => Some(format!("{k} {s}")),
            serde_json::Value::Array(a) if !a.is_empty() => {
                Some(format!("{k} ({} rules)", a.len()))
            }
            _ => None,
        })
        .collect();
    if granted.is_empty() {
        "none".into()
    } else {
        granted.join(", ")
    }
}

/// What `qyv run REF` runs: the pulled bundle or wasm, and the name the
/// program is known by.
pub fn run_target(text: &str) -> Result<(Target, String)> {
    let reference = Reference::parse(text)?;
    let pulled = fetch(&reference)?;
    if pulled.downloaded {
        eprintln!("note: pulled {reference} ({})", pulled.digest);
    }
    let name = reference
        .repository
        .rsplit('/')
        .next()
        .unwrap_or(&reference.repository)
        .to_string();
    Ok(match pulled.kind {
        PulledKind::Bundle => (Target::Bundle(pulled.path), name),
        PulledKind::Wasm => (Target::Wasm(pulled.path), format!("{name}.wasm")),
    })
}

/// The reference pinned to the digest its tag points at now (asked of the
/// registry with this machine's credentials); as it is with a digest.
pub fn pin(text: &str) -> Result<String> {
    let reference = Reference::parse(text)?;
    if reference.digest.is_some() {
        return Ok(reference.to_string());
    }
    let options = options_for(&reference.registry)?;
    let repo = qyvol_hub::Repository::connect(
        &reference.registry,
        &reference.repository,
        qyvol_hub::Access::Pull,
        &options,
    )?;
    let digest = match repo.resolve(reference.target())? {
        Some(d) => d,
        // Not every registry sends Docker-Content-Digest: the manifest's own.
        None => repo.manifest(reference.target())?.2,
    };
    Ok(reference.with_digest(&digest).to_string())
}

/// Whether a run TARGET is a reference: no such file, and it reads as one.
/// A name ending in a file extension qyv reads is a path (a missing
/// `conf.d/app.qyv` is "no such file", not a registry `conf.d`), unless
/// `oci://` says otherwise.
pub fn is_reference(text: &str) -> bool {
    let file_like = [".qyv", ".qyvbin", ".wasm", ".yaml", ".yml"]
        .iter()
        .any(|e| text.ends_with(e));
    !PathBuf::from(text).exists()
        && Reference::looks_like(text)
        && (text.starts_with("oci://") || !file_like)
}
