//! `qyv daemon`: run a node (see the qyvol-node crate), and `qyv daemon
//! token` to show its API token.

use std::io::Write;

use anyhow::{Context, Result};
use qyvol_manifest::format_duration;
use qyvol_node::{Daemon, DaemonConfig, Listeners, Token, default_data_dir};

use crate::bundled::Policy;
use crate::cli::{DaemonArgs, DaemonCommand};

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
    let data = data_dir(args.data_dir)?;
    let policy = Policy::load(&args.trust)?;
    let tls = args.tls_cert.zip(args.tls_key);
    let daemon = Daemon::start(DaemonConfig {
        listen: args.listen,
        data_dir: data,
        apps_dir: args.apps_dir,
        tls,
        max_upload: args.max_upload,
        trust: policy.policy,
        http: args.http,
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
    match s.http {
        Some(addr) => writeln!(out, "  http apps    http://{addr}")?,
        None => writeln!(
            out,
            "  http apps    none (start with --http ADDR to serve them)"
        )?,
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
        eprintln!("warning: {warning}");
    }
    daemon.run()?;
    Ok(0)
}
