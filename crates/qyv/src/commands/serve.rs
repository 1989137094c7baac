//! `qyv serve`: load every app (manifests of type http, or bare wasi:http
//! components), listen, serve until SIGINT or SIGTERM, and drain.

use anyhow::{Result, bail};
use qyvol_manifest::{AppType, Manifest};
use qyvol_runtime::ExitCodes;
use qyvol_runtime::serve::{Drained, ServeApp, ServeError, Server, ServerOptions};

use crate::cli::ServeArgs;
use crate::commands::run::{locate, startable};
use crate::target::{self, Target};

pub fn serve(args: ServeArgs) -> Result<i32> {
    let mut apps = Vec::with_capacity(args.apps.len());
    let mut manifests = Vec::new();
    for path in &args.apps {
        let mut app = match target::resolve(path)? {
            Target::Manifest(path) => {
                let m = Manifest::load(&path)?;
                if m.app_type != AppType::Http {
                    bail!(m.error_at(
                        "type",
                        format!(
                            "qyv serve serves type: http apps, and this one is type: {}; run it with `qyv run {}`, or set type: http if it is a wasi:http handler",
                            m.app_type,
                            path.display()
                        )
                    ));
                }
                if !startable(&m, "`qyv serve` serves one copy", Vec::new()) {
                    return Ok(ExitCodes::QYV_ERROR);
                }
                let app = ServeApp::from_manifest(&m);
                manifests.push(m);
                app
            }
            Target::Wasm(path) => ServeApp::bare(path),
            Target::Bundle(path) => bail!(
                "{}: qyv serve does not serve .qyvbin bundles yet; serve the .qyv manifest it was packed from",
                path.display()
            ),
        };
        if args.no_cache {
            app.spec.cache = None;
        }
        apps.push(app);
    }
    let options = ServerOptions {
        log_requests: args.log_requests,
        limits: args.connections.limits(),
        drain: args.connections.drain_timeout,
        ..ServerOptions::new(args.addr)
    };
    let server = Server::bind(apps, options).map_err(|e| place(&manifests, e))?;
    for warning in server.warnings() {
        eprintln!("warning: {warning}");
    }
    let addr = server.local_addr();
    for (route, name) in server.routes() {
        eprintln!("serving {name} at http://{addr}{route}");
    }
    eprintln!("listening on http://{addr}");
    let summary = server.run()?;
    if let Some(report) = summary.drain_report() {
        eprintln!("qyv serve: {report}");
    }
    eprintln!("qyv serve: stopped after {} requests", summary.requests);
    // Only a second signal, which cut the wait short, leaves a failure;
    // the drain's own limit is the end a stop asked for.
    Ok(match summary.drain {
        Drained::Forced { cut } if cut > 0 || summary.unfinished > 0 => 1,
        _ => 0,
    })
}

/// An error about one app points at the line of its manifest.
fn place(manifests: &[Manifest], e: ServeError) -> anyhow::Error {
    let Some(m) = e
        .app()
        .and_then(|name| manifests.iter().find(|m| m.name == name))
    else {
        return e.into();
    };
    match e {
        ServeError::App { source, .. } => locate(Some(m), source),
        ServeError::NotHttp { .. } => m.error_at("entrypoint", e.to_string()).into(),
        other => other.into(),
    }
}
