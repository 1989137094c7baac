//! `qyv cluster deploy TARGET`: pack (a manifest), check, upload once,
//! record, then follow the replicas until they all run, saying each
//! replica's state as it changes and why any cannot run. A registry
//! reference is pinned to its digest and checked here (pulled into the
//! local store once); the nodes pull it from the registry themselves.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use qyvol_cluster::{AppView, BundleFacts, DeployOptions, Deployed, read_bundle};
use serde::Serialize;

use super::{block_on, open};
use crate::cli::ClusterDeployArgs;
use crate::commands::deploy::bundle_to_send;
use crate::remote::print_json;

#[derive(Serialize)]
struct Report {
    deployed: Deployed,
    running: usize,
    app: Option<AppView>,
}

pub fn deploy(args: ClusterDeployArgs) -> Result<i32> {
    let target = args.target.to_string_lossy();
    // A bundle packed from a manifest lives in a temporary folder as long
    // as `_packed` does: until the upload is over.
    let (facts, _packed) = if crate::commands::hub::is_reference(&target) {
        (by_reference(&target, &args)?, None)
    } else {
        let Some(sendable) = bundle_to_send(&args.target, args.sign.as_deref())? else {
            return Ok(crate::exit::QYV_ERROR);
        };
        (read_bundle(&sendable.path)?, Some(sendable))
    };
    let options = DeployOptions {
        replicas: args.replicas,
        strategy: args.strategy,
    };
    // Bad settings (replicas 0 in the manifest, a bad constraint) are
    // said before the cluster is asked anything.
    qyvol_cluster::settings(&facts.manifest, &options)?;
    block_on(async {
        let state = open(&args.cluster).await?;
        let deployed = state.deploy(&facts, &options).await?;
        if !args.json {
            let what = if deployed.unchanged {
                "unchanged, already"
            } else {
                "deployed as"
            };
            println!(
                "{} {what} revision {} (sha256 {}, {}), {} replica(s), {}",
                deployed.app,
                deployed.revision,
                &deployed.digest[..12],
                if deployed.source.is_some() {
                    "the nodes pull it from the registry"
                } else if deployed.already_stored {
                    "bundle already in the cluster"
                } else {
                    "bundle uploaded"
                },
                deployed.replicas,
                deployed.strategy
            );
        }
        if args.no_wait {
            if args.json {
                print_json(&Report {
                    deployed,
                    running: 0,
                    app: None,
                })?;
            }
            return Ok(0);
        }
        let (view, ok) = follow(&state, &deployed, args.timeout, !args.json).await?;
        if args.json {
            print_json(&Report {
                running: view.as_ref().map_or(0, AppView::running),
                deployed,
                app: view,
            })?;
        }
        Ok(if ok { 0 } else { 1 })
    })
}

/// The facts of the Qyvol app a registry reference names, pinned to the
/// digest its tag points at now: the bundle is pulled into the local store
/// (once per digest) to be checked as a node checks it, and is not
/// uploaded: the nodes pull it by digest with their own credentials.
fn by_reference(target: &str, args: &ClusterDeployArgs) -> Result<BundleFacts> {
    if args.sign.is_some() {
        bail!(
            "--sign signs a bundle packed from a manifest; {target} names an app in a registry, signed (or not) when it was pushed"
        );
    }
    let pinned = crate::commands::hub::pin(target)?;
    let reference = qyvol_hub::Reference::parse(&pinned)?;
    let pulled = crate::commands::hub::fetch(&reference)?;
    if pulled.kind == qyvol_hub::PulledKind::Wasm {
        bail!(
            "{target} is a bare wasm (CNCF wasm layout) with no manifest; a cluster runs Qyvol apps: push the app's .qyv (qyv push app.qyv REF) and deploy that"
        );
    }
    let mut facts = read_bundle(&pulled.path)?;
    facts.source = Some(pinned.clone());
    if !args.json {
        println!("{target} is {pinned}; the nodes pull it");
    }
    Ok(facts)
}

/// Watches the app until every replica of the deployed revision runs,
/// every placed one failed, or the time is up.
async fn follow(
    state: &qyvol_cluster::State,
    deployed: &Deployed,
    timeout: Duration,
    say: bool,
) -> Result<(Option<AppView>, bool)> {
    let deadline = Instant::now() + timeout;
    let mut said: HashMap<String, String> = HashMap::new();
    let mut said_pending: Option<String> = None;
    let mut last = None;
    let mut changes = state.changes().await;
    loop {
        // A read may reach a JetStream replica that has not applied the
        // deploy's write yet: the app this deploy recorded is then looked
        // for again, not reported missing.
        let view = match state.app_views(Some(&deployed.app)).await {
            Ok(views) => views.into_iter().next(),
            Err(qyvol_cluster::ClusterError::NoSuchApp(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(v) = &view
            && let Some(o) = &v.spec.last_rollout
            && o.revision == deployed.revision
            && v.spec.revision != deployed.revision
        {
            if say {
                println!(
                    "{}: revision {} {} to revision {} (now revision {}): {}",
                    v.spec.name,
                    o.revision,
                    if o.state == "undone" {
                        "undone, back"
                    } else {
                        "rolled back"
                    },
                    o.back_to,
                    v.spec.revision,
                    o.reason
                );
            }
            return Ok((view, false));
        }
        if let Some(v) = &view
            && v.spec.revision == deployed.revision
            && v.placed_current()
        {
            let rolling = v.placement.as_ref().and_then(|p| p.rollout.as_ref());
            if let Some(r) = rolling {
                let line = format!(
                    "  rolling out over revision {}: {} old replica(s) left{}",
                    r.from,
                    r.old_nodes.len(),
                    r.waiting
                        .as_ref()
                        .map(|w| format!(", waiting: {w}"))
                        .unwrap_or_default()
                );
                if say && said.get("\u{0}rollout") != Some(&line) {
                    println!("{line}");
                }
                said.insert("\u{0}rollout".into(), line);
            }
            for r in v
                .replicas_view
                .iter()
                .filter(|r| r.revision == deployed.revision)
            {
                let line = match &r.reason {
                    Some(why) if r.state == "failed" => format!("failed: {why}"),
                    _ if r.node_lost => "its node is lost".to_string(),
                    _ => r.state.clone(),
                };
                if say && said.get(&r.node) != Some(&line) {
                    println!("  replica on {}: {line}", r.node);
                }
                said.insert(r.node.clone(), line);
            }
            let pending = v.placement.as_ref().and_then(|p| p.reason.clone());
            if say && pending.is_some() && pending != said_pending {
                println!("  pending: {}", pending.as_deref().unwrap_or_default());
            }
            said_pending = pending;
            let wanted = v.spec.replicas as usize;
            if v.running() >= wanted && rolling.is_none() {
                if say {
                    println!("{}: {}/{wanted} replicas running", v.spec.name, v.running());
                }
                return Ok((view, true));
            }
            let placed: Vec<_> = v
                .replicas_view
                .iter()
                .filter(|r| r.revision == deployed.revision)
                .collect();
            // A failing rollout is rolled back by the cluster: that is
            // what to wait for and say.
            let all_failed = rolling.is_none()
                && !placed.is_empty()
                && v.placement.as_ref().is_some_and(|p| p.pending == 0)
                && placed.iter().all(|r| r.state == "failed");
            if all_failed {
                if say {
                    println!("{}: every replica failed", v.spec.name);
                }
                return Ok((view, false));
            }
        }
        last = view.or(last);
        if Instant::now() >= deadline {
            if say {
                let running = last.as_ref().map_or(0, AppView::running);
                let why = said_pending.map(|p| format!(": {p}")).unwrap_or_else(|| {
                    if last.as_ref().is_some_and(AppView::placed_current) {
                        String::new()
                    } else {
                        ": no node has placed it yet; is a qyv daemon --cluster running?".into()
                    }
                });
                println!(
                    "{}: {running}/{} replicas running after {}{why}; it stays deployed and the cluster keeps trying (qyv cluster ps {})",
                    deployed.app,
                    deployed.replicas,
                    qyvol_manifest::format_duration(timeout),
                    deployed.app
                );
            }
            return Ok((last, false));
        }
        changes.next(Duration::from_millis(250)).await;
    }
}
