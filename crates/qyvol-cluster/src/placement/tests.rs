use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::model::{Constraint, RevisionSpec};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

pub(crate) fn node(name: &str, memory: u64, labels: &[(&str, &str)]) -> NodeRecord {
    NodeRecord {
        name: name.into(),
        api: None,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        cores: 2,
        memory,
        default_memory: 0,
        max_memory: 0,
        serves_http: true,
        require_signature: false,
        trusted_keys: vec![],
        cordoned: false,
        draining: false,
        joined_at: 0,
        version: "0".into(),
    }
}

pub(crate) fn app(name: &str, replicas: u32, strategy: Strategy, memory: u64) -> AppSpec {
    AppSpec {
        name: name.into(),
        revision: 1,
        replicas,
        strategy,
        constraints: vec![],
        running: true,
        revisions: vec![RevisionSpec {
            number: 1,
            digest: format!("{name}-digest"),
            size: 1,
            app_type: "service".into(),
            version: None,
            signer: None,
            memory,
            created_at: 0,
            rollback_of: None,
            source: None,
        }],
    }
}

fn alive(nodes: &[NodeRecord]) -> Vec<(NodeRecord, bool)> {
    nodes.iter().cloned().map(|n| (n, true)).collect()
}

fn by_app(placed: Vec<Placement>) -> HashMap<String, Placement> {
    placed.into_iter().map(|p| (p.app.clone(), p)).collect()
}

fn three() -> Vec<NodeRecord> {
    vec![
        node("n1", 4 * GIB, &[("zone", "a")]),
        node("n2", 4 * GIB, &[("zone", "b")]),
        node("n3", 4 * GIB, &[("zone", "a")]),
    ]
}

#[test]
fn spread_puts_one_replica_on_each_node() {
    let placed = schedule(
        &[app("web", 3, Strategy::Spread, 64 * MIB)],
        &HashMap::new(),
        &alive(&three()),
    );
    let mut nodes = placed[0].nodes.clone();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
    assert_eq!(placed[0].pending, 0);
    assert_eq!(placed[0].reason, None);
}

#[test]
fn more_replicas_than_nodes_are_pending_and_say_why() {
    let placed = schedule(
        &[app("web", 5, Strategy::Spread, 0)],
        &HashMap::new(),
        &alive(&three()),
    );
    assert_eq!(placed[0].nodes.len(), 3);
    assert_eq!(placed[0].pending, 2);
    let why = placed[0].reason.as_deref().unwrap();
    assert!(
        why.contains(
            "3 of 5 replicas placed: only 3 node(s) can run it, and a node runs at most one replica"
        ),
        "{why}"
    );
}

#[test]
fn spread_prefers_free_memory_and_pack_fills_the_busiest_node_that_fits() {
    let nodes = vec![
        node("small", 2 * GIB, &[]),
        node("big", 8 * GIB, &[]),
        node("mid", 4 * GIB, &[]),
    ];
    let placed = schedule(
        &[app("s", 1, Strategy::Spread, GIB)],
        &HashMap::new(),
        &alive(&nodes),
    );
    assert_eq!(placed[0].nodes, ["big"]);
    let placed = schedule(
        &[app("p", 2, Strategy::Pack, GIB)],
        &HashMap::new(),
        &alive(&nodes),
    );
    assert_eq!(placed[0].nodes, ["small", "mid"]);
    // Pack fills a node before it takes the next one, across apps.
    let apps = [
        app("a", 1, Strategy::Pack, GIB),
        app("b", 1, Strategy::Pack, GIB),
        app("c", 1, Strategy::Pack, GIB),
    ];
    let placed = schedule(&apps, &HashMap::new(), &alive(&nodes));
    let on: Vec<&str> = placed.iter().map(|p| p.nodes[0].as_str()).collect();
    assert_eq!(on, ["small", "small", "mid"]);
}

#[test]
fn memory_reservations_refuse_what_does_not_fit() {
    let placed = schedule(
        &[app("huge", 1, Strategy::Spread, 100 * GIB)],
        &HashMap::new(),
        &alive(&three()),
    );
    assert_eq!(placed[0].nodes.len(), 0);
    let why = placed[0].reason.as_deref().unwrap();
    assert!(
        why.contains("no other node has 100 GiB of memory free") && why.contains("4 GiB"),
        "{why}"
    );
}

#[test]
fn an_app_without_limits_memory_reserves_each_node_s_default() {
    // Two nodes of 1 GiB that give 512 MiB by default hold two such
    // replicas each: of five apps, four are placed and one is pending.
    let mut nodes = vec![node("a", GIB, &[]), node("b", GIB, &[])];
    for n in &mut nodes {
        n.default_memory = 512 * MIB;
    }
    let apps: Vec<AppSpec> = (0..5)
        .map(|i| app(&format!("app{i}"), 1, Strategy::Spread, 0))
        .collect();
    let placed = schedule(&apps, &HashMap::new(), &alive(&nodes));
    let on: usize = placed.iter().map(|p| p.nodes.len()).sum();
    assert_eq!(on, 4);
    let why = placed
        .iter()
        .find_map(|p| p.reason.as_deref())
        .expect("one is pending");
    assert!(
        why.contains("the memory its nodes give an app without limits.memory"),
        "{why}"
    );
}

#[test]
fn a_node_s_max_memory_keeps_bigger_apps_away() {
    let mut nodes = three();
    nodes[0].max_memory = GIB;
    nodes[1].max_memory = GIB;
    let placed = schedule(
        &[app("big", 1, Strategy::Spread, 2 * GIB)],
        &HashMap::new(),
        &alive(&nodes),
    );
    assert_eq!(placed[0].nodes, vec!["n3".to_string()]);
    nodes[2].max_memory = GIB;
    let placed = schedule(
        &[app("big", 1, Strategy::Spread, 2 * GIB)],
        &HashMap::new(),
        &alive(&nodes),
    );
    let why = placed[0].reason.as_deref().unwrap();
    assert!(
        why.contains("asks for 2 GiB") && why.contains("no schedulable node runs more than 1 GiB"),
        "{why}"
    );
}

#[test]
fn constraints_choose_nodes_and_name_what_nobody_meets() {
    let mut a = app("web", 2, Strategy::Spread, 0);
    a.constraints = vec![Constraint::parse("zone=a").unwrap()];
    let placed = schedule(&[a.clone()], &HashMap::new(), &alive(&three()));
    let mut nodes = placed[0].nodes.clone();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n3"]);
    a.constraints = vec![Constraint::parse("zone=c").unwrap()];
    let placed = schedule(&[a], &HashMap::new(), &alive(&three()));
    assert_eq!(placed[0].pending, 2);
    assert!(
        placed[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("no schedulable node has the label zone=c"),
        "{:?}",
        placed[0].reason
    );
}

#[test]
fn a_lost_node_s_replica_moves_and_the_others_stay() {
    let nodes = vec![
        node("n1", 4 * GIB, &[]),
        node("n2", 4 * GIB, &[]),
        node("n3", 4 * GIB, &[]),
        node("n4", 4 * GIB, &[]),
    ];
    let apps = [app("web", 3, Strategy::Spread, 0)];
    let mut before = HashMap::new();
    before.insert(
        "web".to_string(),
        Placement {
            app: "web".into(),
            revision: 1,
            digest: "web-digest".into(),
            running: true,
            nodes: vec!["n1".into(), "n2".into(), "n3".into()],
            pending: 0,
            reason: None,
        },
    );
    let mut state: Vec<(NodeRecord, bool)> = alive(&nodes);
    state[1].1 = false; // n2 stops heartbeating
    let placed = schedule(&apps, &before, &state);
    assert_eq!(placed[0].nodes, ["n1", "n3", "n4"]);
    // n2 comes back: nothing moves again.
    let before = by_app(placed);
    let placed = schedule(&apps, &before, &alive(&nodes));
    assert_eq!(placed[0].nodes, ["n1", "n3", "n4"]);
}

#[test]
fn cordon_keeps_replicas_drain_moves_them() {
    let mut nodes = three();
    nodes.push(node("n4", 4 * GIB, &[]));
    let apps = [app("web", 3, Strategy::Spread, 0)];
    let mut before = HashMap::new();
    before.insert(
        "web".to_string(),
        Placement {
            app: "web".into(),
            revision: 1,
            digest: String::new(),
            running: true,
            nodes: vec!["n1".into(), "n2".into(), "n3".into()],
            pending: 0,
            reason: None,
        },
    );
    nodes[0].cordoned = true;
    let placed = schedule(&apps, &before, &alive(&nodes));
    assert_eq!(placed[0].nodes, ["n1", "n2", "n3"]);
    nodes[0].draining = true;
    let placed = schedule(&apps, &before, &alive(&nodes));
    assert_eq!(placed[0].nodes, ["n2", "n3", "n4"]);
}

#[test]
fn scaling_down_keeps_the_best_placed_replicas() {
    let nodes = vec![node("a", 8 * GIB, &[]), node("b", 2 * GIB, &[])];
    let apps = [app("web", 1, Strategy::Spread, 0)];
    let mut before = HashMap::new();
    before.insert(
        "web".to_string(),
        Placement {
            app: "web".into(),
            revision: 1,
            digest: String::new(),
            running: true,
            nodes: vec!["b".into(), "a".into()],
            pending: 0,
            reason: None,
        },
    );
    let placed = schedule(&apps, &before, &alive(&nodes));
    assert_eq!(placed[0].nodes, ["a"]);
}

#[test]
fn http_apps_and_signatures_go_only_where_they_can_run() {
    let mut nodes = three();
    nodes[0].serves_http = false;
    nodes[1].require_signature = true;
    let mut a = app("web", 3, Strategy::Spread, 0);
    a.revisions[0].app_type = "http".into();
    let placed = schedule(&[a], &HashMap::new(), &alive(&nodes));
    assert_eq!(placed[0].nodes, ["n3"]);
    assert_eq!(placed[0].pending, 2);

    for n in &mut nodes {
        n.require_signature = true;
    }
    let placed = schedule(
        &[app("svc", 1, Strategy::Spread, 0)],
        &HashMap::new(),
        &alive(&nodes),
    );
    let why = placed[0].reason.as_deref().unwrap();
    assert!(why.contains("it is not signed"), "{why}");
}

#[test]
fn nobody_alive_is_said_so() {
    let state: Vec<(NodeRecord, bool)> = three().into_iter().map(|n| (n, false)).collect();
    let placed = schedule(
        &[app("web", 1, Strategy::Spread, 0)],
        &HashMap::new(),
        &state,
    );
    assert!(
        placed[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("no node of the cluster is alive")
    );
}

/// The benchmark's shape (10,000 replicas over 1,000 nodes): every
/// replica placed, never two of an app on one node, no node over its
/// memory. Its time is measured by `benches/placement.rs`, not here.
#[test]
fn ten_thousand_replicas_over_a_thousand_nodes_obey_every_rule() {
    let (apps, nodes) = crate::placement::simulated(1000, 10_000);
    let placed = schedule(&apps, &HashMap::new(), &nodes);
    let mut reserved: HashMap<&str, u64> = HashMap::new();
    let mut total = 0;
    for (p, a) in placed.iter().zip(&apps) {
        assert_eq!(p.pending, 0, "{:?}", p.reason);
        let mut uniq = p.nodes.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), p.nodes.len());
        for n in &p.nodes {
            *reserved.entry(n).or_default() += a.revisions[0].memory;
        }
        total += p.nodes.len();
    }
    assert_eq!(total, 10_000);
    for (n, _) in &nodes {
        assert!(reserved.get(n.name.as_str()).copied().unwrap_or(0) <= n.memory);
    }
}
