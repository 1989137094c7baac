//! Placement: where each app's replicas go, as pure functions of the
//! desired state, the nodes and the placements before, so that the
//! scheduler, its tests and the benchmark run the same code.
//!
//! Rules, in order:
//! - A replica stays where it is while its node is alive, not draining,
//!   and still meets the app's needs (constraints, HTTP, trust); a node
//!   that is only cordoned keeps its replicas.
//! - A node runs at most one replica of an app (the node's supervisor
//!   runs one instance per app); replicas beyond the eligible nodes are
//!   pending, with the reason.
//! - New replicas go to schedulable nodes (alive, not cordoned, not
//!   draining) that meet every constraint, serve HTTP if the app is an
//!   HTTP app, trust the bundle's signer, and have the app's memory
//!   reservation free: `spread` takes the ones with the most free memory
//!   (then the fewest replicas), `pack` the ones with the least that still
//!   fits.
//! - Replicas kept count before new ones are placed, for every app, so an
//!   app never takes the memory of another app's running replica.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use qyvol_manifest::format_size;

use crate::model::{AppSpec, NodeRecord, Placement, Strategy};

/// A node as placement sees it.
#[derive(Clone, Debug)]
pub struct Capacity<'a> {
    pub record: &'a NodeRecord,
    /// It heartbeats.
    pub alive: bool,
    /// Memory reserved by the replicas placed on it so far.
    pub reserved: u64,
    /// Replicas placed on it so far (all apps).
    pub replicas: u32,
}

impl Capacity<'_> {
    fn free(&self) -> u64 {
        self.record.memory.saturating_sub(self.reserved)
    }

    fn schedulable(&self) -> bool {
        self.alive && !self.record.cordoned && !self.record.draining
    }
}

/// What an app needs of a node.
struct Needs<'a> {
    app: &'a AppSpec,
    /// `limits.memory`; 0: the node's default.
    memory: u64,
    http: bool,
    signer: Option<&'a str>,
}

impl Needs<'_> {
    fn of(app: &AppSpec) -> Needs<'_> {
        let current = app.current();
        Needs {
            app,
            memory: current.map_or(0, |r| r.memory),
            http: current.is_some_and(|r| r.app_type == "http"),
            signer: current.and_then(|r| r.signer.as_deref()),
        }
    }

    /// What a replica reserves on `node`: its `limits.memory`, else what
    /// that node gives an app that sets none.
    fn memory_on(&self, node: &NodeRecord) -> u64 {
        if self.memory > 0 {
            self.memory
        } else {
            node.default_memory
        }
    }

    /// Whether `node` may hold a replica (free memory aside).
    fn suits(&self, node: &NodeRecord) -> bool {
        self.app.constraints.iter().all(|c| c.met_by(&node.labels))
            && (!self.http || node.serves_http)
            && node.admits(self.signer)
            && (node.max_memory == 0 || self.memory <= node.max_memory)
    }
}

/// Places every app: returns the placements, by app, as they should be
/// now. `before` holds the placements written last time; `nodes` every
/// member with whether it is alive.
pub fn schedule(
    apps: &[AppSpec],
    before: &HashMap<String, Placement>,
    nodes: &[(NodeRecord, bool)],
) -> Vec<Placement> {
    let mut caps: Vec<Capacity> = nodes
        .iter()
        .map(|(record, alive)| Capacity {
            record,
            alive: *alive,
            reserved: 0,
            replicas: 0,
        })
        .collect();
    let index: HashMap<&str, usize> = caps
        .iter()
        .enumerate()
        .map(|(i, c)| (c.record.name.as_str(), i))
        .collect();
    // First what stays, for every app; then what is new.
    let mut kept: Vec<Vec<usize>> = Vec::with_capacity(apps.len());
    for app in apps {
        let needs = Needs::of(app);
        let mut stay = keep(&needs, before.get(&app.name), &caps, &index);
        trim(&mut stay, app.replicas as usize, app.strategy, &caps);
        for &i in &stay {
            caps[i].reserved += needs.memory_on(caps[i].record);
            caps[i].replicas += 1;
        }
        kept.push(stay);
    }
    apps.iter()
        .zip(kept)
        .map(|(app, mut on)| {
            let needs = Needs::of(app);
            let want = app.replicas as usize;
            let mut reason = None;
            if on.len() < want {
                let added = choose(&needs, want - on.len(), &on, &caps);
                for &i in &added {
                    caps[i].reserved += needs.memory_on(caps[i].record);
                    caps[i].replicas += 1;
                }
                on.extend(added);
                if on.len() < want {
                    reason = Some(why_pending(&needs, want, &on, &caps));
                }
            }
            let current = app.current();
            Placement {
                app: app.name.clone(),
                revision: app.revision,
                digest: current.map(|r| r.digest.clone()).unwrap_or_default(),
                running: app.running,
                nodes: on.iter().map(|&i| caps[i].record.name.clone()).collect(),
                pending: (want - on.len().min(want)) as u32,
                reason,
            }
        })
        .collect()
}

/// The nodes of the placement before that may keep their replica.
fn keep(
    needs: &Needs,
    before: Option<&Placement>,
    caps: &[Capacity],
    index: &HashMap<&str, usize>,
) -> Vec<usize> {
    let Some(before) = before else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    before
        .nodes
        .iter()
        .filter_map(|n| index.get(n.as_str()).copied())
        .filter(|&i| {
            let c = &caps[i];
            c.alive && !c.record.draining && needs.suits(c.record) && seen.insert(i)
        })
        .collect()
}

/// Scales down: drops the replicas the strategy would have placed last.
fn trim(on: &mut Vec<usize>, want: usize, strategy: Strategy, caps: &[Capacity]) {
    if on.len() <= want {
        return;
    }
    on.sort_by(|&a, &b| better(strategy, &caps[a], &caps[b]));
    on.truncate(want);
}

/// Orders nodes best first for a new replica.
fn better(strategy: Strategy, a: &Capacity, b: &Capacity) -> Ordering {
    let by_memory = match strategy {
        Strategy::Spread => b.free().cmp(&a.free()),
        Strategy::Pack => a.free().cmp(&b.free()),
    };
    let by_count = match strategy {
        Strategy::Spread => a.replicas.cmp(&b.replicas),
        Strategy::Pack => b.replicas.cmp(&a.replicas),
    };
    by_memory
        .then(by_count)
        .then_with(|| a.record.name.cmp(&b.record.name))
}

/// Up to `count` more nodes for the app, best first.
fn choose(needs: &Needs, count: usize, taken: &[usize], caps: &[Capacity]) -> Vec<usize> {
    let mut candidates: Vec<usize> = (0..caps.len())
        .filter(|&i| {
            let c = &caps[i];
            c.schedulable()
                && c.free() >= needs.memory_on(c.record)
                && needs.suits(c.record)
                && !taken.contains(&i)
        })
        .collect();
    let order = |a: &usize, b: &usize| better(needs.app.strategy, &caps[*a], &caps[*b]);
    // Only the best `count` are sorted: the scheduler places thousands of
    // replicas over thousands of nodes in one pass.
    if candidates.len() > count && count > 0 {
        candidates.select_nth_unstable_by(count - 1, order);
        candidates.truncate(count);
    }
    candidates.sort_by(order);
    candidates.truncate(count);
    candidates
}

/// Why not every replica found a node, naming the first need nobody
/// meets.
fn why_pending(needs: &Needs, want: usize, on: &[usize], caps: &[Capacity]) -> String {
    let placed = on.len();
    let short = format!("{placed} of {want} replicas placed");
    let alive: Vec<&Capacity> = caps.iter().filter(|c| c.alive).collect();
    if alive.is_empty() {
        return format!("{short}: no node of the cluster is alive");
    }
    let open: Vec<&Capacity> = alive.iter().copied().filter(|c| c.schedulable()).collect();
    if open.is_empty() {
        return format!("{short}: every live node is cordoned or draining");
    }
    for c in &needs.app.constraints {
        if !open.iter().any(|n| c.met_by(&n.record.labels)) {
            return format!(
                "{short}: no schedulable node has the label {c} (a constraint of the app): give a node that label, or change scheduler.constraints"
            );
        }
    }
    let fit: Vec<&Capacity> = open
        .iter()
        .copied()
        .filter(|n| {
            needs
                .app
                .constraints
                .iter()
                .all(|c| c.met_by(&n.record.labels))
        })
        .collect();
    if fit.is_empty() {
        return format!("{short}: no schedulable node meets every constraint together");
    }
    if needs.http && !fit.iter().any(|n| n.record.serves_http) {
        return format!(
            "{short}: it is an HTTP app and no schedulable node serves HTTP apps (none was started with an HTTP port)"
        );
    }
    if !fit.iter().any(|n| n.record.admits(needs.signer)) {
        let who = needs.signer.map_or("it is not signed".to_string(), |k| {
            format!("it is signed by key {k}")
        });
        return format!(
            "{short}: every schedulable node requires bundles signed by a key it trusts, and {who}"
        );
    }
    let allowed = |n: &&Capacity| n.record.max_memory == 0 || needs.memory <= n.record.max_memory;
    if !fit.iter().any(allowed) {
        let most = fit.iter().map(|n| n.record.max_memory).max().unwrap_or(0);
        return format!(
            "{short}: it asks for {} of memory (limits.memory) and no schedulable node runs more than {} (its maximum for limits.memory)",
            format_size(needs.memory),
            format_size(most)
        );
    }
    let suited: Vec<&Capacity> = fit.into_iter().filter(|n| needs.suits(n.record)).collect();
    let holds = |n: &Capacity| on.iter().any(|&i| caps[i].record.name == n.record.name);
    let usable = suited
        .iter()
        .filter(|n| holds(n) || n.free() >= needs.memory_on(n.record))
        .count();
    if usable == suited.len() && suited.len() < want {
        return format!(
            "{short}: only {} node(s) can run it, and a node runs at most one replica of an app",
            suited.len()
        );
    }
    let most = suited
        .iter()
        .filter(|n| !holds(n))
        .map(|n| n.free())
        .max()
        .unwrap_or(0);
    let asked = if needs.memory > 0 {
        format!(
            "{} of memory free (limits.memory)",
            format_size(needs.memory)
        )
    } else {
        "the memory its nodes give an app without limits.memory free".to_string()
    };
    format!(
        "{short}: no other node has {asked}; the most free on a node that could run it is {}",
        format_size(most)
    )
}

/// A made-up cluster for tests and the benchmark: `nodes` nodes of
/// 16 GiB in three zones, and apps of 5 replicas each (`replicas` in all)
/// reserving 64 to 512 MiB, half spread and half packed, one in five bound
/// to a zone.
pub fn simulated(nodes: usize, replicas: usize) -> (Vec<AppSpec>, Vec<(NodeRecord, bool)>) {
    use crate::model::{Constraint, RevisionSpec};
    const ZONES: [&str; 3] = ["a", "b", "c"];
    let members = (0..nodes)
        .map(|i| {
            let record = NodeRecord {
                name: format!("node-{i:04}"),
                api: None,
                labels: [("zone".to_string(), ZONES[i % 3].to_string())].into(),
                cores: 8,
                memory: 16 << 30,
                default_memory: 256 << 20,
                max_memory: 4 << 30,
                serves_http: true,
                require_signature: false,
                trusted_keys: Vec::new(),
                cordoned: false,
                draining: false,
                joined_at: 0,
                version: String::new(),
            };
            (record, true)
        })
        .collect();
    let apps = (0..replicas / 5)
        .map(|i| AppSpec {
            name: format!("app-{i:05}"),
            revision: 1,
            replicas: 5,
            strategy: if i % 2 == 0 {
                Strategy::Spread
            } else {
                Strategy::Pack
            },
            constraints: (i % 5 == 0)
                .then(|| Constraint {
                    key: "zone".into(),
                    value: ZONES[i % 3].into(),
                })
                .into_iter()
                .collect(),
            running: true,
            revisions: vec![RevisionSpec {
                number: 1,
                digest: format!("{i:064x}"),
                size: 1 << 20,
                app_type: "service".into(),
                version: None,
                signer: None,
                memory: (64 << 20) * (1 + (i as u64 % 8)),
                created_at: 0,
                rollback_of: None,
                source: None,
            }],
        })
        .collect();
    (apps, members)
}

#[cfg(test)]
pub(crate) mod tests;
