//! The scheduler's pass, run by the node that holds the lease: who is
//! alive, then [`crate::placement::schedule`] over every app, then the
//! placements that changed written by compare-and-set, with events.

use std::collections::{HashMap, HashSet};

use crate::agent::LOST_AFTER;
use crate::agent::mirror::{Mirror, Seen};
use crate::model::{AppSpec, Heartbeat, NodeRecord, Placement, RolloutOutcome, now_ms};
use crate::placement::schedule;
use crate::rollout::{Health, Step, step};
use crate::state::{State, encode};

/// The buckets the scheduler reads, kept in memory.
pub struct View<'a> {
    pub apps: &'a Mirror<AppSpec>,
    pub nodes: &'a Mirror<NodeRecord>,
    pub live: &'a Mirror<Heartbeat>,
    pub placements: &'a Mirror<Placement>,
}

#[derive(Default)]
pub struct Scheduler {
    /// Members alive at the last pass.
    alive: Option<HashSet<String>>,
    /// Members said to be lost, and not back since.
    lost: HashSet<String>,
}

impl Scheduler {
    /// One pass; does nothing unless every copy is current and this
    /// node's own beats arrive (else it is NATS that is in trouble, not
    /// the other nodes).
    pub async fn pass(&mut self, state: &State, me: &str, view: &View<'_>) {
        let (Some(apps), Some(nodes), Some(live), Some(before)) = (
            view.apps.snapshot(),
            view.nodes.snapshot(),
            view.live.snapshot(),
            view.placements.snapshot(),
        ) else {
            return;
        };
        let beating = |s: &Seen<Heartbeat>| s.at.elapsed() < LOST_AFTER;
        if !live.get(me).is_some_and(beating) {
            return;
        }
        let alive: HashSet<String> = nodes
            .keys()
            .filter(|n| live.get(*n).is_some_and(beating))
            .cloned()
            .collect();
        let holding: HashSet<String> = before
            .values()
            .flat_map(|p| p.value.nodes.iter().cloned())
            .collect();
        self.tell_liveness(state, &alive, holding).await;
        let mut members: Vec<(NodeRecord, bool)> = nodes
            .into_values()
            .map(|s| {
                let alive = alive.contains(&s.value.name);
                (s.value, alive)
            })
            .collect();
        members.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let mut specs: Vec<AppSpec> = apps.values().map(|s| s.value.clone()).collect();
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        let old: HashMap<String, Placement> = before
            .iter()
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect();
        let by_name: HashMap<&str, &AppSpec> = specs.iter().map(|a| (a.name.as_str(), a)).collect();
        let now = now_ms();
        for planned in schedule(&specs, &old, &members) {
            let Some(app) = by_name.get(planned.app.as_str()) else {
                continue;
            };
            let health = |node: &str| replica_health(app, &planned.digest, live.get(node), now);
            let (placed, events) =
                match step(app, old.get(&planned.app), planned.clone(), &health, now) {
                    Step::Place(p, events) => (*p, events),
                    Step::RollBack {
                        failed,
                        from,
                        reason,
                    } => {
                        roll_back(state, &app.name, failed, from, &reason).await;
                        continue;
                    }
                };
            let prior = before.get(&placed.app);
            if prior.is_some_and(|p| p.value == placed) {
                continue;
            }
            let bytes = encode(&placed);
            let written = match prior {
                Some(p) => state
                    .placements
                    .update(&placed.app, bytes, p.revision)
                    .await
                    .is_ok(),
                None => state.placements.create(&placed.app, bytes).await.is_ok(),
            };
            if written {
                tell_placement(state, prior.map(|p| &p.value), &placed).await;
                for (kind, message) in events {
                    state.event(kind, Some(&placed.app), None, message).await;
                }
            }
        }
        for (app, p) in &before {
            if !apps.contains_key(app) {
                let _ = state
                    .placements
                    .delete_expect_revision(app, Some(p.revision))
                    .await;
            }
        }
    }

    /// Events for nodes lost and back. A scheduler that just took the
    /// lease counts the nodes holding replicas as alive before.
    async fn tell_liveness(
        &mut self,
        state: &State,
        alive: &HashSet<String>,
        holding: HashSet<String>,
    ) {
        let before = self.alive.take().unwrap_or(holding);
        for lost in before.difference(alive) {
            if self.lost.insert(lost.clone()) {
                state
                    .event(
                        "node-lost",
                        None,
                        Some(lost),
                        format!(
                            "node {lost} has not beaten for {}s: its replicas move",
                            LOST_AFTER.as_secs()
                        ),
                    )
                    .await;
            }
        }
        for back in alive {
            if self.lost.remove(back) {
                state
                    .event(
                        "node-back",
                        None,
                        Some(back),
                        format!("node {back} beats again"),
                    )
                    .await;
            }
        }
        self.alive = Some(alive.clone());
    }
}

async fn tell_placement(state: &State, before: Option<&Placement>, now: &Placement) {
    // A rollout moves nodes between revisions: only nodes that get or lose
    // a replica of either are told here (the rollout tells its own steps).
    let old: Vec<&String> = before.map(|p| p.holders().collect()).unwrap_or_default();
    let new: Vec<&String> = now.holders().collect();
    let added: Vec<&str> = new
        .iter()
        .filter(|n| !old.contains(n))
        .map(|n| n.as_str())
        .collect();
    let gone: Vec<&str> = old
        .iter()
        .filter(|n| !new.contains(n))
        .map(|n| n.as_str())
        .collect();
    let message = match (added.is_empty(), gone.is_empty()) {
        (false, true) => Some((
            "placed",
            format!("replica(s) placed on {}", added.join(", ")),
        )),
        (false, false) => Some((
            "moved",
            format!(
                "replica(s) moved from {} to {}",
                gone.join(", "),
                added.join(", ")
            ),
        )),
        (true, false) => Some((
            "placed",
            format!("replica(s) taken off {}", gone.join(", ")),
        )),
        (true, true) => None,
    };
    if let Some((kind, text)) = message {
        state.event(kind, Some(&now.app), None, text).await;
    }
    let old_reason = before.and_then(|p| p.reason.as_ref());
    if let Some(reason) = &now.reason
        && old_reason != Some(reason)
    {
        state
            .event("pending", Some(&now.app), None, reason.clone())
            .await;
    }
}

/// How the replica of `app` with bundle `digest` is, by its node's last
/// beat.
fn replica_health(app: &AppSpec, digest: &str, beat: Option<&Seen<Heartbeat>>, now: i64) -> Health {
    let Some(r) = beat.and_then(|b| {
        b.value
            .replicas
            .iter()
            .find(|r| r.app == app.name && r.digest == digest)
    }) else {
        return Health::Starting;
    };
    let why = || {
        r.reason
            .clone()
            .unwrap_or_else(|| format!("it is {}", r.state))
    };
    match r.state.as_str() {
        "running" => {
            let ran = r.started_at.map_or(0, |t| now - t);
            // An HTTP replica must also answer a GET on its route.
            let http = app.current().is_some_and(|c| c.app_type == "http");
            if http && r.answering == Some(false) {
                Health::NotAnswering(why())
            } else if ran >= app.rollout.healthy_for_ms as i64
                && (!http || r.answering == Some(true))
            {
                Health::Healthy
            } else {
                Health::Starting
            }
        }
        "failed" | "backoff" => Health::Failed(why()),
        "completed" => Health::Failed("it exited, and a service or HTTP app should run".into()),
        _ => Health::Starting,
    }
}

/// Makes the revision a failed rollout started from current again, as a
/// new revision, if the failed one is still current.
async fn roll_back(state: &State, app: &str, failed: u32, from: u32, reason: &str) {
    let mut done = false;
    let mut dropped = Vec::new();
    let changed = state
        .update::<AppSpec, _>(&state.apps, app, |now| {
            done = false;
            let Some(mut a) = now else {
                return Ok(None);
            };
            if a.revision != failed {
                return Ok(None);
            }
            let Some(target) = a.revisions.iter().find(|r| r.number == from).cloned() else {
                return Ok(None);
            };
            let mut rev = target;
            rev.rollback_of = Some(from);
            rev.created_at = now_ms();
            dropped = a.push(rev);
            a.rollout_paused = false;
            a.last_rollout = Some(RolloutOutcome {
                revision: failed,
                back_to: from,
                state: "rolled-back".into(),
                reason: reason.to_string(),
                at: now_ms(),
            });
            done = true;
            Ok(Some(a))
        })
        .await;
    if changed.is_ok() && done {
        state.collect_bundles(&dropped).await;
        state
            .event(
                "rolled-back",
                Some(app),
                None,
                format!("rollout of revision {failed} stopped and rolled back to revision {from}: {reason}"),
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::model::{ReplicaStatus, Strategy};

    fn beat(state: &str, started_at: i64, answering: Option<bool>) -> Seen<Heartbeat> {
        Seen {
            value: Heartbeat {
                node: "a".into(),
                at: 0,
                replicas: vec![ReplicaStatus {
                    app: "web".into(),
                    digest: "web-digest".into(),
                    state: state.into(),
                    reason: Some("why".into()).filter(|_| state == "failed"),
                    started_at: Some(started_at),
                    memory: 0,
                    answering,
                }],
            },
            revision: 1,
            at: Instant::now(),
        }
    }

    #[test]
    fn health_is_running_long_enough_and_for_http_answering() {
        let mut app = crate::placement::tests::app("web", 1, Strategy::Spread, 0);
        let h = |app: &AppSpec, b: Seen<Heartbeat>, now| {
            replica_health(app, "web-digest", Some(&b), now)
        };
        assert_eq!(h(&app, beat("running", 0, None), 4_999), Health::Starting);
        assert_eq!(h(&app, beat("running", 0, None), 5_000), Health::Healthy);
        assert_eq!(
            h(&app, beat("failed", 0, None), 1),
            Health::Failed("why".into())
        );
        assert_eq!(replica_health(&app, "other", None, 9_999), Health::Starting);
        app.revisions[0].app_type = "http".into();
        assert_eq!(h(&app, beat("running", 0, None), 9_000), Health::Starting);
        assert_eq!(
            h(&app, beat("running", 0, Some(false)), 9_000),
            Health::NotAnswering("it is running".into())
        );
        assert_eq!(
            h(&app, beat("running", 0, Some(true)), 9_000),
            Health::Healthy
        );
    }
}
