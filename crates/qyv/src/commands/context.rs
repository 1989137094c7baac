//! `qyv context`: where node commands go. With no subcommand it shows the
//! current context; the shell's `context` shows this and the shell's own
//! state (see `shell/builtins.rs`).

use std::io::Write;

use anyhow::{Result, bail};
use qyvol_node::client::normalize_url;
use qyvol_node::tls::Fingerprint;

use crate::cli::{ContextArgs, ContextCommand};
use crate::contexts::{Contexts, LOCAL, Saved, check_context_name};

pub fn context(args: ContextArgs) -> Result<i32> {
    let mut contexts = Contexts::load()?;
    match args.command {
        None => show(&contexts, &mut std::io::stdout().lock())?,
        Some(ContextCommand::Add {
            name,
            url,
            token,
            fingerprint,
            creds,
        }) => {
            check_context_name(&name)?;
            let saved = if qyvol_cluster::Address::is_cluster(&url) {
                cluster_context(&url, token, fingerprint, creds)?
            } else {
                node_context(&url, token, fingerprint, creds)?
            };
            let url = saved.url.clone();
            let replaced = contexts.contexts.insert(name.clone(), saved);
            let first = contexts.current.is_none();
            if first {
                contexts.current = Some(name.clone());
            }
            contexts.save()?;
            let verb = if replaced.is_some() {
                "updated"
            } else {
                "added"
            };
            println!("context {name} {verb}: {url}");
            if first {
                println!("node commands now go to {name} (qyv context use local: to this machine)");
            }
        }
        Some(ContextCommand::Use { name }) => {
            if name == LOCAL {
                contexts.current = None;
            } else if contexts.contexts.contains_key(&name) {
                contexts.current = Some(name.clone());
            } else {
                bail!(
                    "no context named {name:?}; `qyv context ls` lists them, `qyv context add` saves one"
                );
            }
            contexts.save()?;
            println!("node commands now go to {name}");
        }
        Some(ContextCommand::Ls { json }) => {
            if json {
                let list: Vec<serde_json::Value> = contexts
                    .contexts
                    .iter()
                    .map(|(name, c)| {
                        serde_json::json!({
                            "name": name,
                            "url": c.url,
                            "fingerprint": c.fingerprint,
                            "current": contexts.current.as_deref() == Some(name),
                        })
                    })
                    .collect();
                crate::remote::print_json(&list)?;
                return Ok(0);
            }
            let width = contexts
                .contexts
                .keys()
                .map(String::len)
                .max()
                .unwrap_or(0)
                .max(LOCAL.len());
            let mark = |current: bool| if current { "*" } else { " " };
            println!(
                "{} {LOCAL:<width$}  (this machine)",
                mark(contexts.current.is_none())
            );
            for (name, c) in &contexts.contexts {
                let current = contexts.current.as_deref() == Some(name.as_str());
                let pin = if c.is_cluster() {
                    "cluster"
                } else {
                    c.fingerprint.as_deref().unwrap_or("certificate not pinned")
                };
                println!("{} {name:<width$}  {}  {pin}", mark(current), c.url);
            }
        }
        Some(ContextCommand::Rm { name }) => {
            if contexts.contexts.remove(&name).is_none() {
                bail!("no context named {name:?}; `qyv context ls` lists them");
            }
            if contexts.current.as_deref() == Some(name.as_str()) {
                contexts.current = None;
            }
            contexts.save()?;
            println!("context {name} removed");
        }
    }
    Ok(0)
}

/// A node's context: its URL, token and certificate fingerprint.
fn node_context(
    url: &str,
    token: Option<String>,
    fingerprint: Option<String>,
    creds: Option<std::path::PathBuf>,
) -> Result<Saved> {
    let url = normalize_url(url)?;
    if creds.is_some() {
        bail!(
            "--creds is for a cluster's NATS (nats://HOST:PORT); a node ({url}) takes --token and --fingerprint"
        );
    }
    let fingerprint = fingerprint
        .map(|f| Fingerprint::parse(&f).map(|f| f.to_string()))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
        bail!("a node's context needs --token TOKEN; `qyv daemon token` on the node shows it");
    };
    Ok(Saved {
        url,
        token,
        fingerprint,
        creds: None,
    })
}

/// A cluster's context: its NATS addresses and credentials file.
fn cluster_context(
    url: &str,
    token: Option<String>,
    fingerprint: Option<String>,
    creds: Option<std::path::PathBuf>,
) -> Result<Saved> {
    let address = qyvol_cluster::Address::parse(url)?;
    if token.is_some() || fingerprint.is_some() {
        bail!(
            "--token and --fingerprint are a node's; a cluster ({address}) takes --creds FILE (NATS credentials), or nothing when its NATS asks for none"
        );
    }
    let creds = match creds {
        Some(path) => {
            qyvol_cluster::Credentials::load(&path)?;
            Some(std::path::absolute(&path)?)
        }
        None => None,
    };
    Ok(Saved {
        url: address.to_string(),
        token: String::new(),
        fingerprint: None,
        creds,
    })
}

/// The current context, as `context` shows it first.
pub fn show(contexts: &Contexts, out: &mut dyn Write) -> Result<()> {
    match contexts.current() {
        Some((name, c)) if c.is_cluster() => {
            writeln!(out, "cluster:  {name} ({})", c.url)?;
            if let Some(creds) = &c.creds {
                writeln!(out, "creds:    {}", creds.display())?;
            }
        }
        Some((name, c)) => {
            writeln!(out, "node:     {name} ({})", c.url)?;
            writeln!(
                out,
                "cert:     {}",
                c.fingerprint
                    .as_deref()
                    .unwrap_or("not pinned: must be publicly trusted")
            )?;
        }
        None => writeln!(
            out,
            "node:     local (no node set: commands run on this machine; `qyv context add` saves a node)"
        )?,
    }
    Ok(())
}
