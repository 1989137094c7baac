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
        }) => {
            check_context_name(&name)?;
            let url = normalize_url(&url)?;
            let fingerprint = fingerprint
                .map(|f| Fingerprint::parse(&f).map(|f| f.to_string()))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            if token.trim().is_empty() {
                bail!("--token is empty; `qyv daemon token` on the node shows it");
            }
            let replaced = contexts.contexts.insert(
                name.clone(),
                Saved {
                    url: url.clone(),
                    token,
                    fingerprint,
                },
            );
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
                let pin = c.fingerprint.as_deref().unwrap_or("certificate not pinned");
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

/// The current context, as `context` shows it first.
pub fn show(contexts: &Contexts, out: &mut dyn Write) -> Result<()> {
    match contexts.current() {
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
