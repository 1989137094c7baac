//! Changes to the desired state other than a deploy: scale, stop, start,
//! remove and roll back apps; cordon, uncordon, drain and remove nodes.
//! Each is one compare-and-set on one record, then an event; the
//! scheduler and the nodes do the rest.

use crate::error::ClusterError;
use crate::model::{AppSpec, NodeRecord, Placement, RevisionSpec, RolloutOutcome, now_ms};
use crate::state::State;

/// What a change to a node's schedulability is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeChange {
    Cordon,
    Uncordon,
    Drain,
}

impl State {
    /// The app's record; a precise error when there is none.
    pub async fn app(&self, name: &str) -> Result<AppSpec, ClusterError> {
        self.get::<AppSpec>(&self.apps, name)
            .await?
            .map(|(a, _)| a)
            .ok_or_else(|| ClusterError::NoSuchApp(name.into()))
    }

    pub async fn node(&self, name: &str) -> Result<NodeRecord, ClusterError> {
        self.get::<NodeRecord>(&self.nodes, name)
            .await?
            .map(|(n, _)| n)
            .ok_or_else(|| ClusterError::NoSuchNode(name.into()))
    }

    pub async fn placement(&self, app: &str) -> Result<Option<Placement>, ClusterError> {
        Ok(self
            .get::<Placement>(&self.placements, app)
            .await?
            .map(|(p, _)| p))
    }

    /// Every app's record, by name.
    pub async fn app_specs(&self) -> Result<Vec<(String, AppSpec)>, ClusterError> {
        self.list::<AppSpec>(&self.apps).await
    }

    /// Changes an app that must exist.
    async fn change_app(
        &self,
        name: &str,
        mut change: impl FnMut(&mut AppSpec) -> Result<(), ClusterError>,
    ) -> Result<AppSpec, ClusterError> {
        self.update::<AppSpec, _>(&self.apps, name, |now| {
            let mut app = now.ok_or_else(|| ClusterError::NoSuchApp(name.into()))?;
            change(&mut app)?;
            Ok(Some(app))
        })
        .await
        .map(|a| a.expect("an app change always writes"))
    }

    pub async fn scale(&self, name: &str, replicas: u32) -> Result<AppSpec, ClusterError> {
        if replicas == 0 {
            return Err(ClusterError::Invalid(format!(
                "replicas must be 1 or more; to stop {name} without removing it, stop it"
            )));
        }
        let app = self
            .change_app(name, |a| {
                a.replicas = replicas;
                Ok(())
            })
            .await?;
        self.event("scaled", Some(name), None, format!("{replicas} replica(s)"))
            .await;
        Ok(app)
    }

    /// `stop` (running = false) and `start`.
    pub async fn set_running(&self, name: &str, running: bool) -> Result<AppSpec, ClusterError> {
        let app = self
            .change_app(name, |a| {
                a.running = running;
                Ok(())
            })
            .await?;
        let (kind, message) = if running {
            ("started", "a client asked to start it")
        } else {
            ("stopped", "a client asked to stop it")
        };
        self.event(kind, Some(name), None, message.into()).await;
        Ok(app)
    }

    /// Removes an app: its record, its placement, and its bundles that no
    /// other app names. Its replicas stop as their nodes see it gone.
    pub async fn remove_app(&self, name: &str) -> Result<(), ClusterError> {
        let app = self.app(name).await?;
        self.apps
            .delete(name)
            .await
            .map_err(|e| ClusterError::js(format!("cannot remove {name}"), e))?;
        let _ = self.placements.delete(name).await;
        let digests: Vec<String> = app.digests().map(str::to_string).collect();
        self.collect_bundles(&digests).await;
        self.event("removed", Some(name), None, "a client removed it".into())
            .await;
        Ok(())
    }

    /// Makes an earlier revision current again, as a new revision that
    /// says which one it rolled back to. `to`: default, the one before.
    pub async fn rollback(&self, name: &str, to: Option<u32>) -> Result<AppSpec, ClusterError> {
        let app = self
            .change_app(name, |a| {
                let target = rollback_target(a, to)?;
                let mut rev = target.clone();
                rev.rollback_of = Some(target.number);
                rev.created_at = now_ms();
                a.push(rev);
                a.running = true;
                Ok(())
            })
            .await?;
        let message = match app.current().and_then(|r| r.rollback_of) {
            Some(n) => format!("rolled back to revision {n}: now revision {}", app.revision),
            None => format!("now revision {}", app.revision),
        };
        self.event("rolled-back", Some(name), None, message).await;
        Ok(app)
    }

    /// Pauses (no further step) or resumes the app's rollouts.
    pub async fn pause_rollout(&self, name: &str, paused: bool) -> Result<AppSpec, ClusterError> {
        let app = self
            .change_app(name, |a| {
                a.rollout_paused = paused;
                Ok(())
            })
            .await?;
        let (kind, message) = if paused {
            ("rollout-paused", "a client paused its rollouts")
        } else {
            ("rollout-resumed", "a client resumed its rollouts")
        };
        self.event(kind, Some(name), None, message.into()).await;
        Ok(app)
    }

    /// Undoes the rollout in progress (back to the revision it started
    /// from, everywhere at once), else the last revision (back to the one
    /// before it).
    pub async fn undo_rollout(&self, name: &str) -> Result<AppSpec, ClusterError> {
        let from = self
            .placement(name)
            .await?
            .and_then(|p| p.rollout)
            .map(|r| r.from);
        let failed = self.app(name).await?.revision;
        let app = self.rollback(name, from).await?;
        let back_to = app.current().and_then(|r| r.rollback_of).unwrap_or(0);
        self.change_app(name, |a| {
            if a.revision == app.revision {
                a.last_rollout = Some(RolloutOutcome {
                    revision: failed,
                    back_to,
                    state: "undone".into(),
                    reason: "a client undid it".into(),
                    at: now_ms(),
                });
            }
            Ok(())
        })
        .await
    }

    /// Cordon (no new replicas), uncordon, or drain (cordon, and move its
    /// replicas away).
    pub async fn change_node(
        &self,
        name: &str,
        change: NodeChange,
    ) -> Result<NodeRecord, ClusterError> {
        let node = self
            .update::<NodeRecord, _>(&self.nodes, name, |now| {
                let mut n = now.ok_or_else(|| ClusterError::NoSuchNode(name.into()))?;
                match change {
                    NodeChange::Cordon => n.cordoned = true,
                    NodeChange::Uncordon => {
                        n.cordoned = false;
                        n.draining = false;
                    }
                    NodeChange::Drain => {
                        n.cordoned = true;
                        n.draining = true;
                    }
                }
                Ok(Some(n))
            })
            .await?
            .expect("a node change always writes");
        let kind = match change {
            NodeChange::Cordon => "cordoned",
            NodeChange::Uncordon => "uncordoned",
            NodeChange::Drain => "draining",
        };
        self.event(kind, None, Some(name), format!("node {name} {kind}"))
            .await;
        Ok(node)
    }

    /// Takes a node out of the cluster: its replicas move, and the node,
    /// seeing itself gone, stops them and leaves.
    pub async fn remove_node(&self, name: &str) -> Result<(), ClusterError> {
        self.node(name).await?;
        self.nodes
            .delete(name)
            .await
            .map_err(|e| ClusterError::js(format!("cannot remove node {name}"), e))?;
        self.event(
            "node-left",
            None,
            Some(name),
            format!("node {name} removed from the cluster"),
        )
        .await;
        Ok(())
    }

    /// Apps with a replica placed on `node`.
    pub async fn apps_on(&self, node: &str) -> Result<Vec<String>, ClusterError> {
        Ok(self
            .list::<Placement>(&self.placements)
            .await?
            .into_iter()
            .filter(|(_, p)| p.holders().any(|n| n == node))
            .map(|(app, _)| app)
            .collect())
    }
}

fn rollback_target(app: &AppSpec, to: Option<u32>) -> Result<&RevisionSpec, ClusterError> {
    let numbers = || {
        app.revisions
            .iter()
            .map(|r| r.number.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match to {
        Some(n) if n == app.revision => Err(ClusterError::Invalid(format!(
            "revision {n} of {} is the current one already",
            app.name
        ))),
        Some(n) => app.revisions.iter().find(|r| r.number == n).ok_or_else(|| {
            ClusterError::NoSuchRevision(format!(
                "{} has no revision {n}; it keeps revisions {}",
                app.name,
                numbers()
            ))
        }),
        None => app
            .revisions
            .iter()
            .rev()
            .find(|r| r.number < app.revision)
            .ok_or_else(|| {
                ClusterError::NoSuchRevision(format!(
                    "{} has no revision before {} to roll back to",
                    app.name, app.revision
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Strategy;

    #[test]
    fn rollback_goes_to_the_revision_before_or_the_one_named() {
        let mut app = crate::placement::tests::app("web", 1, Strategy::Spread, 0);
        let mut r = app.revisions[0].clone();
        r.digest = "second".into();
        app.push(r);
        assert_eq!(rollback_target(&app, None).unwrap().number, 1);
        assert_eq!(rollback_target(&app, Some(1)).unwrap().digest, "web-digest");
        assert!(
            rollback_target(&app, Some(2))
                .unwrap_err()
                .to_string()
                .contains("current one already")
        );
        let e = rollback_target(&app, Some(9)).unwrap_err().to_string();
        assert!(
            e.contains("has no revision 9; it keeps revisions 1, 2"),
            "{e}"
        );
    }
}
