//! `qyv sync DIR [--prune] [--dry-run]`: makes a cluster's apps (or a
//! node's) equal to the manifests and bundles in a folder, as a folder
//! under version control describes them. Each app is packed (packing is
//! deterministic: the same files make the same bundle), compared with what
//! runs by its bundle's SHA-256 and, on a cluster, its replicas,
//! strategy, constraints and rollout; the plan is printed, then applied
//! (a deploy, which is a rollout on a cluster; a removal with `--prune`).
//! Exit status 0 when the target matches the folder afterwards (or, with
//! `--dry-run`, already); 1 when a dry run found changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use qyvol_cluster::model::AppSpec;
use qyvol_cluster::{BundleFacts, DeployOptions, read_bundle};

use crate::cli::{NodeFlags, SyncArgs};
use crate::commands::cluster::{block_on, open};
use crate::commands::deploy::{Sendable, bundle_to_send};
use crate::contexts::Contexts;

/// One app of the folder, packed.
struct Wanted {
    source: PathBuf,
    facts: BundleFacts,
    /// Keeps a packed bundle's temporary folder.
    sendable: Sendable,
}

/// What the plan does with an app.
enum Change {
    Add,
    Update(Vec<String>),
    Remove,
    Keep,
    /// Not in the folder, and no `--prune`.
    Extra,
}

pub fn sync(args: SyncArgs) -> Result<i32> {
    let wanted = read_folder(&args.dir)?;
    let to_node = args.node.node.is_some()
        || (args.cluster.cluster.is_none()
            && Contexts::load()?
                .current()
                .is_some_and(|(_, c)| !c.is_cluster()));
    if to_node {
        sync_node(&args, &args.node, wanted)
    } else {
        sync_cluster(&args, wanted)
    }
}

/// Every `.qyv` and `.qyvbin` in `dir` and in its folders (one level),
/// packed; two of one app name is an error.
fn read_folder(dir: &Path) -> Result<BTreeMap<String, Wanted>> {
    let listed =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in listed {
        let path = entry?.path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path)? {
                files.push(inner?.path());
            }
        } else {
            files.push(path);
        }
    }
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "qyv" || e == "qyvbin"));
    files.sort();
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    for source in files {
        let Some(sendable) = bundle_to_send(&source, None)? else {
            bail!(
                "{} cannot be deployed (see above); nothing was changed",
                source.display()
            );
        };
        let facts = read_bundle(&sendable.path)
            .with_context(|| format!("{}: nothing was changed", source.display()))?;
        let name = facts.manifest.name.clone();
        if let Some(first) = wanted.get(&name) {
            bail!(
                "app {name} is in {} and in {}: keep one; nothing was changed",
                first.source.display(),
                source.display()
            );
        }
        wanted.insert(
            name,
            Wanted {
                source,
                facts,
                sendable,
            },
        );
    }
    Ok(wanted)
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

/// The fields of a cluster app that differ from what the folder says.
fn cluster_diff(now: &AppSpec, w: &Wanted) -> Result<Vec<String>> {
    let asked = qyvol_cluster::settings(&w.facts.manifest, &DeployOptions::default())?;
    let mut diff = Vec::new();
    let current = now.current();
    if current.map(|r| r.digest.as_str()) != Some(w.facts.digest.as_str()) {
        let mut line = format!(
            "bundle sha256 {} → {}",
            current.map_or("-", |r| short(&r.digest)),
            short(&w.facts.digest)
        );
        let (old, new) = (
            current.and_then(|r| r.version.clone()),
            w.facts.manifest.version.clone(),
        );
        if old != new {
            line.push_str(&format!(
                " (version {} → {})",
                old.as_deref().unwrap_or("-"),
                new.as_deref().unwrap_or("-")
            ));
        }
        diff.push(line);
    }
    if let Some(r) = asked.replicas
        && r != now.replicas
    {
        diff.push(format!("replicas {} → {r}", now.replicas));
    }
    if let Some(s) = asked.strategy
        && s != now.strategy
    {
        diff.push(format!("strategy {} → {s}", now.strategy));
    }
    if asked.constraints != now.constraints {
        let list = |c: &[qyvol_cluster::model::Constraint]| {
            let v: Vec<String> = c.iter().map(ToString::to_string).collect();
            format!("[{}]", v.join(", "))
        };
        diff.push(format!(
            "constraints {} → {}",
            list(&now.constraints),
            list(&asked.constraints)
        ));
    }
    if asked.rollout != now.rollout {
        let show = |r: &qyvol_cluster::model::RolloutSettings| {
            format!(
                "{{max_unavailable: {}, max_surge: {}, healthy_for: {} ms}}",
                r.max_unavailable, r.max_surge, r.healthy_for_ms
            )
        };
        diff.push(format!(
            "rollout {} → {}",
            show(&now.rollout),
            show(&asked.rollout)
        ));
    }
    if !now.running {
        diff.push("stopped → running".into());
    }
    Ok(diff)
}

/// Prints the plan; returns how many changes it has.
fn print_plan(target: &str, dir: &Path, plan: &BTreeMap<String, Change>, prune: bool) -> usize {
    println!("plan for {target} from {}:", dir.display());
    let width = plan.keys().map(String::len).max().unwrap_or(0);
    let (mut add, mut update, mut remove, mut keep) = (0, 0, 0, 0);
    for (name, change) in plan {
        let line = match change {
            Change::Add => {
                add += 1;
                format!("  + {name:<width$}  added")
            }
            Change::Update(fields) => {
                update += 1;
                format!("  ~ {name:<width$}  changed: {}", fields.join("; "))
            }
            Change::Remove => {
                remove += 1;
                format!("  - {name:<width$}  removed (not in the folder)")
            }
            Change::Keep => {
                keep += 1;
                format!("  = {name:<width$}  unchanged")
            }
            Change::Extra => {
                format!("  ! {name:<width$}  not in the folder: kept (--prune removes it)")
            }
        };
        println!("{line}");
    }
    println!(
        "{add} to add, {update} to change, {remove} to remove, {keep} unchanged{}",
        if prune { "" } else { " (without --prune)" }
    );
    add + update + remove
}

fn sync_cluster(args: &SyncArgs, wanted: BTreeMap<String, Wanted>) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        let running: BTreeMap<String, AppSpec> = state.app_specs().await?.into_iter().collect();
        let mut plan = BTreeMap::new();
        for (name, w) in &wanted {
            let change = match running.get(name) {
                None => Change::Add,
                Some(now) => match cluster_diff(now, w)? {
                    d if d.is_empty() => Change::Keep,
                    d => Change::Update(d),
                },
            };
            plan.insert(name.clone(), change);
        }
        for name in running.keys().filter(|n| !wanted.contains_key(*n)) {
            let change = if args.prune {
                Change::Remove
            } else {
                Change::Extra
            };
            plan.insert(name.clone(), change);
        }
        let target = format!("the cluster at {}", state.conn.address);
        let changes = print_plan(&target, &args.dir, &plan, args.prune);
        if changes == 0 {
            println!("nothing to do: the cluster matches the folder");
            return Ok(0);
        }
        if args.dry_run {
            println!("dry run: nothing was changed");
            return Ok(1);
        }
        for (name, change) in &plan {
            match change {
                Change::Add | Change::Update(_) => {
                    let d = state
                        .deploy(&wanted[name].facts, &DeployOptions::default())
                        .await
                        .with_context(|| format!("deploying {name}"))?;
                    println!(
                        "{name}: revision {} recorded, {} replica(s)",
                        d.revision, d.replicas
                    );
                }
                Change::Remove => {
                    state.remove_app(name).await?;
                    println!("{name}: removed");
                }
                Change::Keep | Change::Extra => {}
            }
        }
        println!(
            "the cluster's desired state matches the folder; its nodes roll the changes out (qyv cluster ps)"
        );
        Ok(0)
    })
}

fn sync_node(args: &SyncArgs, flags: &NodeFlags, wanted: BTreeMap<String, Wanted>) -> Result<i32> {
    let client = crate::remote::connect(flags, None)?;
    let running: BTreeMap<String, qyvol_node::api::types::AppStatus> = client
        .apps()?
        .into_iter()
        .map(|a| (a.name.clone(), a))
        .collect();
    let mut plan = BTreeMap::new();
    for (name, w) in &wanted {
        let change = match running.get(name) {
            None => Change::Add,
            Some(now) => {
                let mut diff = Vec::new();
                if now.digest != w.facts.digest {
                    diff.push(format!(
                        "bundle sha256 {} → {}",
                        short(&now.digest),
                        short(&w.facts.digest)
                    ));
                }
                if now.desired != qyvol_node::api::types::Desired::Running {
                    diff.push("stopped → running".into());
                }
                if diff.is_empty() {
                    Change::Keep
                } else {
                    Change::Update(diff)
                }
            }
        };
        plan.insert(name.clone(), change);
    }
    for name in running.keys().filter(|n| !wanted.contains_key(*n)) {
        let change = if args.prune {
            Change::Remove
        } else {
            Change::Extra
        };
        plan.insert(name.clone(), change);
    }
    let target = format!("the node at {}", client.url());
    let changes = print_plan(&target, &args.dir, &plan, args.prune);
    if changes == 0 {
        println!("nothing to do: the node matches the folder");
        return Ok(0);
    }
    if args.dry_run {
        println!("dry run: nothing was changed");
        return Ok(1);
    }
    for (name, change) in &plan {
        match change {
            Change::Add => {
                let d = client.deploy(&wanted[name].sendable.path, |_, _| {})?;
                println!("{name}: deployed as revision {}", d.revision);
            }
            Change::Update(fields) => {
                if fields.iter().any(|f| f.starts_with("bundle")) {
                    let d = client.deploy(&wanted[name].sendable.path, |_, _| {})?;
                    println!("{name}: deployed as revision {}", d.revision);
                } else {
                    client.action(name, qyvol_node::api::types::Action::Start)?;
                    println!("{name}: started");
                }
            }
            Change::Remove => {
                client.remove(name)?;
                println!("{name}: removed");
            }
            Change::Keep | Change::Extra => {}
        }
    }
    println!("the node matches the folder");
    Ok(0)
}
