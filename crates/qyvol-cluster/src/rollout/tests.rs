use std::collections::HashMap;

use super::*;
use crate::model::{RolloutSettings, Strategy};
use crate::placement::schedule;
use crate::placement::tests::{app, node};

const MIB: u64 = 1 << 20;

/// `web` at revision 2 (digest "v2") over revision 1 ("web-digest").
fn web(replicas: u32, unavailable: u32, surge: u32) -> AppSpec {
    let mut a = app("web", replicas, Strategy::Spread, 64 * MIB);
    let mut r = a.revisions[0].clone();
    r.digest = "v2".into();
    a.push(r);
    a.rollout = RolloutSettings {
        max_unavailable: unavailable,
        max_surge: surge,
        healthy_for_ms: 1000,
    };
    a
}

fn placed_v1(nodes: &[&str]) -> Placement {
    Placement {
        app: "web".into(),
        revision: 1,
        digest: "web-digest".into(),
        running: true,
        nodes: nodes.iter().map(|n| n.to_string()).collect(),
        pending: 0,
        reason: None,
        rollout: None,
    }
}

/// One scheduler pass over `names` (all alive) for `a`.
fn pass(
    a: &AppSpec,
    before: &Placement,
    names: &[&str],
    health: &dyn Fn(&str) -> Health,
    now: i64,
) -> Step {
    let nodes: Vec<_> = names
        .iter()
        .map(|n| (node(n, 1 << 30, &[]), true))
        .collect();
    let old: HashMap<String, Placement> = [("web".to_string(), before.clone())].into();
    let planned = schedule(std::slice::from_ref(a), &old, &nodes).remove(0);
    step(a, Some(before), planned, health, now)
}

fn placement(s: Step) -> Placement {
    match s {
        Step::Place(p, _) => *p,
        other => panic!("expected a placement, got {other:?}"),
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

#[test]
fn in_place_one_at_a_time_without_free_nodes() {
    let a = web(2, 1, 1);
    let healthy = |_: &str| Health::Healthy;
    let starting = |_: &str| Health::Starting;
    let p1 = placement(pass(&a, &placed_v1(&["a", "b"]), &["a", "b"], &starting, 0));
    let r = p1.rollout.as_ref().unwrap();
    assert_eq!(p1.nodes.len(), 1, "one replaced at a time");
    assert_eq!(r.old_nodes.len(), 1);
    assert_eq!(p1.digest_for(&p1.nodes[0]), Some("v2"));
    assert_eq!(p1.digest_for(&r.old_nodes[0]), Some("web-digest"));
    // Not healthy yet: nothing more moves.
    let p2 = placement(pass(&a, &p1, &["a", "b"], &starting, 500));
    assert_eq!(p2.nodes, p1.nodes);
    // Healthy: the other one goes.
    let p3 = placement(pass(&a, &p2, &["a", "b"], &healthy, 1500));
    assert_eq!(sorted(&p3.nodes), ["a", "b"]);
    assert!(p3.rollout.as_ref().unwrap().old_nodes.is_empty());
    let p4 = placement(pass(&a, &p3, &["a", "b"], &healthy, 3000));
    assert_eq!(p4.rollout, None, "done");
    assert_eq!(sorted(&p4.nodes), ["a", "b"]);
}

#[test]
fn surge_first_when_nothing_may_be_down() {
    let a = web(2, 0, 1);
    let healthy = |_: &str| Health::Healthy;
    let starting = |_: &str| Health::Starting;
    let p1 = placement(pass(
        &a,
        &placed_v1(&["a", "b"]),
        &["a", "b", "c"],
        &starting,
        0,
    ));
    assert_eq!(p1.nodes, ["c"], "the surge replica on the free node");
    assert_eq!(sorted(&p1.rollout.as_ref().unwrap().old_nodes), ["a", "b"]);
    let p2 = placement(pass(&a, &p1, &["a", "b", "c"], &starting, 100));
    assert_eq!(p2.rollout.as_ref().unwrap().old_nodes.len(), 2, "waits");
    let p3 = placement(pass(&a, &p2, &["a", "b", "c"], &healthy, 2000));
    // c healthy: one old stops; never fewer than 2 available.
    assert_eq!(p3.rollout.as_ref().unwrap().old_nodes.len(), 1);
    let mut p = p3;
    for t in 1..=8 {
        let now = 2000 + t * 1000;
        // Placed less than 1.5 s ago: still starting.
        let since = p
            .rollout
            .as_ref()
            .map(|r| r.since.clone())
            .unwrap_or_default();
        let h = |n: &str| match since.get(n) {
            Some(s) if now - s < 1500 => Health::Starting,
            _ => Health::Healthy,
        };
        let next = placement(pass(&a, &p, &["a", "b", "c"], &h, now));
        let old = next.rollout.as_ref().map_or(0, |r| r.old_nodes.len());
        let placed = next
            .rollout
            .as_ref()
            .map(|r| r.since.clone())
            .unwrap_or_default();
        let healthy_new = next
            .nodes
            .iter()
            .filter(|n| placed.get(*n).is_none_or(|s| now - s >= 1500))
            .count();
        assert!(healthy_new + old >= 2, "{next:?}");
        p = next;
    }
    assert_eq!(p.rollout, None);
    assert_eq!(p.nodes.len(), 2);
}

#[test]
fn a_failed_replica_rolls_back_and_the_old_revision_returns_at_once() {
    let a = web(2, 1, 1);
    let failed = |_: &str| Health::Failed("exited with status 1".into());
    let starting = |_: &str| Health::Starting;
    let p1 = placement(pass(&a, &placed_v1(&["a", "b"]), &["a", "b"], &starting, 0));
    match pass(&a, &p1, &["a", "b"], &failed, 100) {
        Step::RollBack {
            failed,
            from,
            reason,
        } => {
            assert_eq!((failed, from), (2, 1));
            assert!(reason.contains("failed: exited with status 1"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The rollback revision has the old bundle: no rollout, every holder.
    let mut back = a.clone();
    let mut r = back.revisions[0].clone();
    r.rollback_of = Some(1);
    back.push(r);
    assert!(!rolling(&back, Some(&p1)));
    let p = placement(pass(&back, &p1, &["a", "b"], &starting, 200));
    assert_eq!(p.rollout, None);
    assert_eq!(p.digest, "web-digest");
    assert_eq!(sorted(&p.nodes), ["a", "b"]);
}

#[test]
fn never_healthy_within_the_deadline_rolls_back() {
    let a = web(1, 1, 0);
    let starting = |_: &str| Health::Starting;
    let p1 = placement(pass(&a, &placed_v1(&["a"]), &["a"], &starting, 0));
    let late = a.rollout.deadline_ms() as i64 + 1;
    assert!(matches!(
        pass(&a, &p1, &["a"], &starting, late),
        Step::RollBack { .. }
    ));
}

#[test]
fn paused_takes_no_step_and_a_lost_node_leaves_the_rollout() {
    let mut a = web(3, 1, 0);
    let healthy = |_: &str| Health::Healthy;
    let p1 = placement(pass(
        &a,
        &placed_v1(&["a", "b", "c"]),
        &["a", "b", "c"],
        &healthy,
        0,
    ));
    assert_eq!(p1.nodes.len(), 1);
    a.rollout_paused = true;
    let p2 = placement(pass(&a, &p1, &["a", "b", "c"], &healthy, 2000));
    assert_eq!(p2.nodes, p1.nodes);
    assert_eq!(
        p2.rollout.as_ref().unwrap().waiting.as_deref(),
        Some("paused")
    );
    a.rollout_paused = false;
    // One old node is lost: the rest goes on.
    let lost = p2.rollout.as_ref().unwrap().old_nodes[0].clone();
    let alive: Vec<&str> = ["a", "b", "c"].into_iter().filter(|n| *n != lost).collect();
    match pass(&a, &p2, &alive, &healthy, 3000) {
        Step::Place(p, events) => {
            assert!(!p.holders().any(|n| n == &lost));
            assert!(
                events.iter().any(|(_, m)| m.contains("left the rollout")),
                "{events:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_rollout_for_a_first_placement_or_a_stopped_app() {
    let a = web(2, 1, 1);
    assert!(!rolling(&a, None));
    let mut stopped = placed_v1(&["a"]);
    stopped.running = false;
    assert!(!rolling(&a, Some(&stopped)));
    assert!(rolling(&a, Some(&placed_v1(&["a"]))));
}
