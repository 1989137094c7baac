//! `qyv serve`: load every app (manifests of type http, or bare wasi:http
//! components), listen, serve until SIGINT or SIGTERM, and drain.

use anyhow::{Result, bail};
use qyvol_manifest::{Manifest, Purpose};
use qyvol_runtime::kind_findings;
use qyvol_runtime::serve::{Drained, ServeApp, ServeError, Server, ServerOptions};

use crate::admission::{admit, locate};
use crate::cli::ServeArgs;
use crate::target::{self, Target};

pub fn serve(args: ServeArgs) -> Result<i32> {
    let mut apps = Vec::with_capacity(args.apps.len());
    let mut manifests = Vec::new();
    for path in &args.apps {
        // A reference: a wasi:http component pulled from a registry (and
        // named after its repository), or a bundle, not served yet.
        let text = path.to_string_lossy();
        let (target, pulled_name) = if super::hub::is_reference(&text) {
            let (t, name) = super::hub::run_target(&text)?;
            (t, Some(name))
        } else {
            (target::resolve(path)?, None)
        };
        let mut app = match target {
            Target::Manifest(path) => {
                let m = Manifest::load(&path)?;
                let mut findings = m.problems(Purpose::Serve);
                findings.extend(kind_findings(&m));
                if !admit(&m, Purpose::Serve, findings) {
                    return Ok(crate::exit::QYV_ERROR);
                }
                let app = ServeApp::from_manifest(&m);
                manifests.push(m);
                app
            }
            Target::Wasm(path) => {
                let mut app = ServeApp::bare(path);
                if let Some(name) = pulled_name {
                    let name = name.trim_end_matches(".wasm").to_string();
                    app.spec.argv0 = name.clone();
                    app.name = name;
                }
                app
            }
            Target::Bundle(_) if pulled_name.is_some() => bail!(
                "{}: a Qyvol app from a registry; qyv serve does not serve .qyvbin bundles yet (by reference it serves wasi:http components in the CNCF wasm layout): serve the .qyv manifest it was packed from",
                path.display()
            ),
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
        ServeError::NotHttp { .. } => m
            .error_at("entrypoint", crate::hints::serve_text(&e))
            .into(),
        other => other.into(),
    }
}
