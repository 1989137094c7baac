//! `qyv serve`: load every app (manifests of type http, their bundles, or
//! bare wasi:http components; by path or registry reference), listen, serve
//! until SIGINT or SIGTERM, and drain.

use std::sync::Arc;

use anyhow::{Result, bail};
use qyvol_manifest::{Manifest, Purpose};
use qyvol_runtime::kind_findings;
use qyvol_runtime::serve::{Drained, ServeApp, ServeError, Server, ServerOptions};

use crate::admission::{admit, locate};
use crate::bundled::{judge_bundle, manifest_of};
use crate::cli::ServeArgs;
use crate::target::{self, Target};

pub fn serve(args: ServeArgs) -> Result<i32> {
    let mut apps = Vec::with_capacity(args.apps.len());
    let mut manifests = Vec::new();
    let mut bundles = 0;
    for path in &args.apps {
        // A reference: a wasi:http component pulled from a registry (and
        // named after its repository), or a Qyvol app's bundle.
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
            Target::Bundle(bundle) => {
                bundles += 1;
                // A pulled bundle is named as the user named it.
                let shown = if pulled_name.is_some() { path } else { &bundle };
                let Some(judged) = judge_bundle(
                    &bundle,
                    shown,
                    &args.trust,
                    args.allow_precompiled,
                    args.no_cache,
                )?
                else {
                    return Ok(crate::exit::QYV_ERROR);
                };
                let m = manifest_of(&judged.bundle)?;
                let mut findings = m.problems(Purpose::ServeBundled);
                findings.extend(kind_findings(&m));
                if !admit(&m, Purpose::ServeBundled, findings) {
                    return Ok(crate::exit::QYV_ERROR);
                }
                let app = ServeApp::from_bundle(&m, Arc::new(judged.bundle), judged.allow_native);
                manifests.push(m);
                app
            }
        };
        if args.no_cache {
            app.spec.cache = None;
        }
        apps.push(app);
    }
    if (args.trust.given() || args.allow_precompiled) && bundles == 0 {
        bail!(
            "--key, --trust and --allow-precompiled apply to .qyvbin bundles; no app served is one"
        );
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
