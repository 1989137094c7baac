//! `qyv daemon`: run a node (see the qyvol-node crate), and `qyv daemon
//! token` to show its API token.

use std::io::Write;

use anyhow::{Context, Result, bail};
use qyvol_manifest::format_duration;
use qyvol_node::{Daemon, DaemonConfig, Listeners, NodeLimits, Token, default_data_dir};

use crate::bundled::Policy;
use crate::cli::{DaemonArgs, DaemonClusterFlags, DaemonCommand};
use crate::logging::LogFormat;

/// The node's listeners as the flags describe them.
fn listeners(args: &DaemonArgs) -> Listeners {
    let http = args.connections.limits();
    Listeners {
        api: qyvol_runtime::serve::ConnectionLimits {
            max_connections: usize::try_from(args.api_max_connections).unwrap_or(usize::MAX),
            max_per_client: usize::try_from(args.api_max_connections_per_client)
                .unwrap_or(usize::MAX),
            header_timeout: http.header_timeout,
            idle_timeout: http.idle_timeout,
        },
        http,
        drain: args.connections.drain_timeout,
    }
}

fn data_dir(given: Option<std::path::PathBuf>) -> Result<std::path::PathBuf> {
    given
        .or_else(default_data_dir)
        .context("no data folder: pass --data-dir DIR (or set HOME)")
}

/// The cluster `--cluster` names, with its credentials and the node's
/// name and labels; `None` without `--cluster`.
fn membership(flags: &DaemonClusterFlags) -> Result<Option<qyvol_cluster::Membership>> {
    let Some(text) = &flags.cluster else {
        return Ok(None);
    };
    let address = qyvol_cluster::Address::parse(text)?;
    let credentials = flags
        .creds
        .as_deref()
        .map(qyvol_cluster::Credentials::load)
        .transpose()?;
    let node = match &flags.node_name {
        Some(n) => {
            qyvol_manifest::check_name(n)
                .map_err(|why| anyhow::anyhow!("--node-name {n:?}: {why}"))?;
            n.clone()
        }
        None => String::new(),
    };
    let mut labels = std::collections::BTreeMap::new();
    for l in &flags.labels {
        let c = qyvol_cluster::model::Constraint::parse(l)
            .map_err(|why| anyhow::anyhow!("--label: {why}"))?;
        labels.insert(c.key, c.value);
    }
    Ok(Some(qyvol_cluster::Membership {
        address,
        credentials,
        node,
        labels,
    }))
}

pub fn daemon(args: DaemonArgs) -> Result<i32> {
    if let Some(DaemonCommand::Token { data_dir: dir }) = args.command {
        let dir = data_dir(dir)?;
        let token = Token::load(&dir).with_context(|| {
            format!(
                "no token in {}: start `qyv daemon --data-dir {}` once to make one",
                dir.display(),
                dir.display()
            )
        })?;
        println!("{}", token.as_str());
        return Ok(0);
    }
    let listeners = listeners(&args);
    let format = args.log_format;
    let data = data_dir(args.data_dir)?;
    let policy = Policy::load(&args.trust)?;
    let tls = args.tls_cert.zip(args.tls_key);
    let limits = NodeLimits {
        default_memory: args.limits.default_memory,
        max_memory: args.limits.max_memory,
        default_timeout: args.limits.default_timeout.0,
        max_instances: args.limits.max_instances,
    };
    limits
        .check()
        .map_err(|e| anyhow::anyhow!("--default-memory, --max-memory: {e}"))?;
    for dir in &args.allow_paths {
        if !dir.is_dir() {
            bail!("--allow-path {}: not a folder", dir.display());
        }
    }
    let cluster = membership(&args.cluster)?;
    let daemon = Daemon::start(DaemonConfig {
        listen: args.listen,
        data_dir: data,
        apps_dir: args.apps_dir,
        tls,
        max_upload: args.max_upload,
        trust: policy.policy,
        http: args.http,
        limits: limits.clone(),
        allowed_paths: args.allow_paths.clone(),
        cluster,
        listeners,
    })?;
    let s = daemon.started();
    let data = s.data_dir.display();
    let url = format!("https://{}", s.addr);
    let mut out = std::io::stdout().lock();
    writeln!(out, "qyv daemon listening on {url}")?;
    writeln!(out, "  fingerprint  {}", s.fingerprint)?;
    writeln!(
        out,
        "  data         {data} ({} app{})",
        s.apps,
        if s.apps == 1 { "" } else { "s" }
    )?;
    writeln!(out, "  trust        {}", policy.origin)?;
    writeln!(out, "  limits       {}", limits.describe())?;
    if !args.allow_paths.is_empty() {
        let shown: Vec<String> = args
            .allow_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        writeln!(out, "  apps-dir may name files in {}", shown.join(", "))?;
    }
    match s.http {
        Some(addr) => writeln!(out, "  http apps    http://{addr}")?,
        None => writeln!(
            out,
            "  http apps    none (start with --http ADDR to serve them)"
        )?,
    }
    if let Some(c) = &args.cluster.cluster {
        writeln!(out, "  cluster      {c} (joining in the background)")?;
    }
    writeln!(out, "  token        qyv daemon token --data-dir {data}")?;
    let reach = if s.addr.ip().is_unspecified() {
        format!("https://HOST:{}", s.addr.port())
    } else {
        url.clone()
    };
    writeln!(
        out,
        "  connect      qyv context add NAME {reach} --token TOKEN --fingerprint {}",
        s.fingerprint
    )?;
    let l = &s.listeners;
    writeln!(
        out,
        "  connections  API {} ({} per client){}; header timeout {}, idle {}",
        l.api.max_connections,
        l.api.max_per_client,
        match s.http {
            Some(_) if l.http.max_per_client > 0 => format!(
                ", http {} ({} per client)",
                l.http.max_connections, l.http.max_per_client
            ),
            Some(_) => format!(", http {}", l.http.max_connections),
            None => String::new(),
        },
        format_duration(l.api.header_timeout),
        format_duration(l.api.idle_timeout),
    )?;
    if s.certificate_created {
        writeln!(
            out,
            "  (a new certificate and token were made for this node)"
        )?;
    }
    out.flush()?;
    drop(out);
    for warning in &s.warnings {
        // A JSON log stays JSON on every line.
        match format {
            LogFormat::Human => eprintln!("warning: {warning}"),
            LogFormat::Json => tracing::warn!("{warning}"),
        }
    }
    daemon.run()?;
    Ok(0)
}
