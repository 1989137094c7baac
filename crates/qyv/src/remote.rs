//! How a node command finds its node: `--node` (a context's name or a URL),
//! else the current context; the token and fingerprint from the flags (or
//! their environment variables), else from the context. Also the text of
//! what node commands print about apps.

use anyhow::{Result, bail};
use qyvol_node::api::types::{AppStatus, State};
use qyvol_node::client::{Client, Connection, normalize_url};
use qyvol_node::tls::Fingerprint;
use qyvol_node::{age, now_ms, parse_rfc3339};

use crate::cli::NodeFlags;
use crate::contexts::Contexts;

/// A client for the node the flags (or `url`, a command's own NODE
/// argument) name.
pub fn connect(flags: &NodeFlags, url: Option<&str>) -> Result<Client> {
    Ok(Client::new(&connection(flags, url)?)?)
}

/// Where the node the flags name is, and the credentials for it.
pub fn connection(flags: &NodeFlags, url: Option<&str>) -> Result<Connection> {
    if url.is_some() && flags.node.is_some() {
        bail!("the node is named twice (NODE and --node); give one");
    }
    let contexts = Contexts::load()?;
    let named = url.or(flags.node.as_deref());
    let (saved, address) = match named {
        Some(n) if !n.contains("://") && contexts.contexts.contains_key(n) => {
            let c = &contexts.contexts[n];
            (Some(c), c.url.clone())
        }
        Some(address) if qyvol_cluster::Address::is_cluster(address) => bail!(
            "{address} is a cluster, not a node: use qyv cluster …, or give a node's https://HOST[:PORT]"
        ),
        Some(address) => {
            let normal = normalize_url(address)?;
            // A context for the same address lends its token and fingerprint.
            let same = contexts
                .contexts
                .values()
                .find(|c| normalize_url(&c.url).is_ok_and(|u| u == normal));
            (same, normal)
        }
        None => match contexts.current() {
            Some((_, c)) => (Some(c), c.url.clone()),
            None => bail!(
                "no node to talk to: name one (https://HOST[:PORT] or --node), or save one and make it current: qyv context add NAME URL --token TOKEN --fingerprint SHA256; qyv context use NAME"
            ),
        },
    };
    if let Some(c) = saved.filter(|c| c.is_cluster()) {
        bail!(
            "{} is a cluster, not a node: use qyv cluster ps|logs|deploy|stop|start|rm|rollback (qyv ps and qyv logs also work against it), or name a node with --node",
            c.url
        );
    }
    let token = flags
        .token
        .clone()
        .or_else(|| saved.map(|c| c.token.clone()));
    let fingerprint = match flags
        .fingerprint
        .as_deref()
        .or(saved.and_then(|c| c.fingerprint.as_deref()))
    {
        Some(f) => Some(Fingerprint::parse(f).map_err(anyhow::Error::msg)?),
        None => None,
    };
    Ok(Connection {
        url: address,
        token,
        fingerprint,
    })
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// How long ago an RFC 3339 time was, as `ps` shows it.
pub fn ago(time: Option<&str>) -> String {
    time.and_then(parse_rfc3339)
        .map(|t| format!("{} ago", age(t, now_ms())))
        .unwrap_or_else(|| "-".into())
}

/// One line about where an app is: `running`, `failed: exited with code 1`.
pub fn state_line(app: &AppStatus) -> String {
    match app.state {
        State::Running => format!("{} is running (revision {})", app.name, app.revision),
        State::Completed => format!(
            "{} completed (revision {}): {}",
            app.name,
            app.revision,
            app.reason.as_deref().unwrap_or("exited with code 0")
        ),
        State::Backoff => format!(
            "{} ended ({}) and starts again {}",
            app.name,
            app.reason.as_deref().unwrap_or("?"),
            app.next_start_at
                .as_deref()
                .and_then(parse_rfc3339)
                .map(|t| format!("in {:.1}s", (t - now_ms()).max(0) as f64 / 1000.0))
                .unwrap_or_default()
        ),
        State::Failed => format!(
            "{} failed (revision {}): {}",
            app.name,
            app.revision,
            app.reason.as_deref().unwrap_or("no reason given")
        ),
        State::Stopped => format!("{} is stopped (revision {})", app.name, app.revision),
        State::Pending | State::Starting => {
            format!(
                "{} is {} (revision {})",
                app.name,
                app.state.as_str(),
                app.revision
            )
        }
    }
}
