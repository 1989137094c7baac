//! Rolling updates, as pure functions the scheduler applies at each pass:
//! a new revision of a service or HTTP app replaces the replicas of the one
//! before a few at a time. A new replica counts as healthy once it has run
//! for `healthy_for`; no more than `max_unavailable` replicas are down
//! (old ones stopped or new ones not yet healthy) at once, and up to
//! `max_surge` new replicas start on nodes that hold none of the app before
//! old ones stop. A new replica that fails (exits, traps, cannot be
//! installed) or is not healthy within its deadline stops the rollout: the
//! scheduler then makes the revision before current again, everywhere at
//! once (a revision whose bundle is the one the rollout started from is
//! placed without a rollout).

use crate::model::{AppSpec, Placement, Rollout};

/// A new replica as its node reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Running for `healthy_for` at least.
    Healthy,
    /// Not (yet) reported running long enough.
    Starting,
    /// Running, but its health `GET` does not answer below 500 (what it
    /// answered).
    NotAnswering(String),
    /// Failed, with the node's reason.
    Failed(String),
}

/// What a pass does with an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write this placement; say these events (kind, message).
    Place(Box<Placement>, Vec<(&'static str, String)>),
    /// The new revision failed: go back to the rollout's `from`.
    RollBack {
        failed: u32,
        from: u32,
        reason: String,
    },
}

/// Whether placing `app` now is a rollout: it runs, and its nodes hold
/// another bundle than the current revision's (other than the one a
/// rollout started from, which comes back at once).
pub fn rolling(app: &AppSpec, before: Option<&Placement>) -> bool {
    let (Some(before), Some(current)) = (before, app.current()) else {
        return false;
    };
    if current.app_type == "command" || !app.running || !before.running {
        return false;
    }
    if before.holders().next().is_none() || before.digest.is_empty() {
        return false;
    }
    match &before.rollout {
        Some(r) => r.from_digest != current.digest,
        None => before.digest != current.digest,
    }
}

/// The placement of `app` given the scheduler's plan (`planned.nodes`: the
/// nodes that may hold a replica now, its holders first, with room for the
/// surge), the placement before and the health of each new replica.
pub fn step(
    app: &AppSpec,
    before: Option<&Placement>,
    mut planned: Placement,
    health: &dyn Fn(&str) -> Health,
    now: i64,
) -> Step {
    let want = app.replicas as usize;
    let before = match before {
        Some(b) if rolling(app, Some(b)) => b,
        _ => {
            planned.nodes.truncate(want);
            return Step::Place(Box::new(planned), Vec::new());
        }
    };
    let settings = app.rollout;
    let mut events = Vec::new();
    let mut rollout = match &before.rollout {
        Some(r) => r.clone(),
        None => {
            events.push((
                "rollout-started",
                format!(
                    "rolling out revision {} over revision {} (max_unavailable {}, max_surge {}, healthy after {} ms running)",
                    app.revision,
                    before.revision,
                    settings.max_unavailable,
                    settings.max_surge,
                    settings.healthy_for_ms
                ),
            ));
            Rollout {
                from: before.revision,
                from_digest: before.digest.clone(),
                old_nodes: before.nodes.clone(),
                since: Default::default(),
                started_at: now,
                waiting: None,
            }
        }
    };
    let mut new: Vec<String> = if before.rollout.is_some() {
        before.nodes.clone()
    } else {
        Vec::new()
    };
    // A newer revision deployed during a rollout: the nodes given the one
    // between start again on this one.
    if before.rollout.is_some() && before.digest != planned.digest {
        for n in &new {
            rollout.since.insert(n.clone(), now);
        }
    }
    // Nodes lost, draining or no longer suited are out of the plan.
    let usable = |n: &String| planned.nodes.contains(n);
    let lost: Vec<String> = new
        .iter()
        .chain(&rollout.old_nodes)
        .filter(|n| !usable(n))
        .cloned()
        .collect();
    if !lost.is_empty() {
        events.push((
            "rollout-step",
            format!(
                "node(s) {} left the rollout (lost, draining or no longer suited); it goes on with the others",
                lost.join(", ")
            ),
        ));
    }
    new.retain(usable);
    rollout.old_nodes.retain(usable);
    rollout.since.retain(|n, _| new.contains(n));
    let deadline = settings.deadline_ms() as i64;
    let mut healthy = 0;
    for node in &new {
        match health(node) {
            Health::Healthy => healthy += 1,
            Health::Failed(why) => {
                return Step::RollBack {
                    failed: app.revision,
                    from: rollout.from,
                    reason: format!("its replica on {node} failed: {why}"),
                };
            }
            Health::Starting | Health::NotAnswering(_) => {
                let since = *rollout.since.entry(node.clone()).or_insert(now);
                if now - since > deadline {
                    let last = match health(node) {
                        Health::NotAnswering(why) => format!(": {why}"),
                        _ => String::new(),
                    };
                    return Step::RollBack {
                        failed: app.revision,
                        from: rollout.from,
                        reason: format!(
                            "its replica on {node} was not healthy (running for {} ms, answering its health GET) within {} ms{last}",
                            settings.healthy_for_ms, deadline
                        ),
                    };
                }
            }
        }
    }
    let all_healthy = healthy == new.len();
    if rollout.old_nodes.is_empty() && all_healthy && new.len() >= want.min(planned.nodes.len()) {
        events.push((
            "rollout-done",
            format!(
                "revision {} runs on every replica ({}), healthy",
                app.revision,
                new.join(", ")
            ),
        ));
        new.truncate(want);
        planned.nodes = new;
        planned.rollout = None;
        return Step::Place(Box::new(planned), events);
    }
    rollout.waiting = None;
    if app.rollout_paused {
        rollout.waiting = Some("paused".into());
    } else {
        let floor = want.saturating_sub(settings.max_unavailable as usize);
        let mut available = healthy + rollout.old_nodes.len();
        let mut moved = Vec::new();
        // Surge first: new replicas on nodes free of the app.
        let free: Vec<String> = planned
            .nodes
            .iter()
            .filter(|n| !new.contains(n) && !rollout.old_nodes.contains(n))
            .cloned()
            .collect();
        for n in free {
            if new.len() + rollout.old_nodes.len() >= want + settings.max_surge as usize
                || new.len() >= want
            {
                break;
            }
            rollout.since.insert(n.clone(), now);
            moved.push(format!("new replica on {n}"));
            new.push(n);
        }
        // Old replicas beyond the count stop once new ones took over.
        while new.len() + rollout.old_nodes.len() > want
            && available > floor
            && let Some(n) = rollout.old_nodes.pop()
        {
            available -= 1;
            moved.push(format!("old replica on {n} stopped"));
        }
        // Then old replicas are replaced in place.
        while new.len() < want && available > floor && !rollout.old_nodes.is_empty() {
            let n = rollout.old_nodes.remove(0);
            available -= 1;
            rollout.since.insert(n.clone(), now);
            moved.push(format!("{n} replaced"));
            new.push(n);
        }
        if !moved.is_empty() {
            events.push((
                "rollout-step",
                format!("revision {}: {}", app.revision, moved.join(", ")),
            ));
        } else if all_healthy {
            rollout.waiting = Some(format!(
                "no step is allowed: max_unavailable {} leaves no replica to stop, and no node free of the app takes a surge replica (max_surge {})",
                settings.max_unavailable, settings.max_surge
            ));
        }
    }
    planned.nodes = new;
    planned.rollout = Some(rollout);
    Step::Place(Box::new(planned), events)
}

#[cfg(test)]
mod tests;
