//! What `cluster nodes`, `cluster ps` and `cluster logs` show, read from
//! the state: nodes with their state, capacity and use; apps with each
//! replica's node and state; replicas' output gathered from their nodes.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::error::ClusterError;
use crate::model::{AppSpec, Heartbeat, LogLine, NodeRecord, Placement, ReplicaStatus};
use crate::state::{LOG_SUBJECT, NODE_SUBJECT, State};

/// A node as `cluster nodes` lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeView {
    #[serde(flatten)]
    pub record: NodeRecord,
    /// ready, cordoned, draining or lost.
    pub state: String,
    /// Memory reserved by the replicas placed on it.
    pub reserved: u64,
    /// Linear memory its replicas use now.
    pub used: u64,
    /// Apps with a replica placed on it.
    pub apps: Vec<String>,
    /// When it last said it lives.
    pub seen_at: Option<i64>,
}

/// One replica as `cluster ps` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicaView {
    pub node: String,
    /// The revision it runs: the current one, or while a rollout runs the
    /// one before.
    #[serde(default)]
    pub revision: u32,
    /// The node's report, when it runs (or ran) the current bundle.
    pub state: String,
    pub reason: Option<String>,
    pub started_at: Option<i64>,
    /// Its node is not heartbeating.
    pub node_lost: bool,
}

/// An app as `cluster ps` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppView {
    #[serde(flatten)]
    pub spec: AppSpec,
    pub placement: Option<Placement>,
    pub replicas_view: Vec<ReplicaView>,
}

impl AppView {
    /// Replicas running the current revision (a command: completed too).
    pub fn running(&self) -> usize {
        self.replicas_view
            .iter()
            .filter(|r| {
                r.revision == self.spec.revision
                    && !r.node_lost
                    && (r.state == "running" || r.state == "completed")
            })
            .count()
    }

    /// Whether the scheduler has placed the current revision.
    pub fn placed_current(&self) -> bool {
        self.placement
            .as_ref()
            .is_some_and(|p| p.revision == self.spec.revision)
    }
}

/// What the nodes said last, by node.
pub type Live = HashMap<String, Heartbeat>;

/// A node's last beat, unless it is older than a live node's would be
/// (its key outlives it by the bucket's TTL).
fn beat<'a>(live: &'a Live, node: &str) -> Option<&'a Heartbeat> {
    let limit = crate::agent::LOST_AFTER.as_millis() as i64;
    live.get(node)
        .filter(|b| crate::model::now_ms() - b.at <= limit)
}

/// Changes of what the nodes say and of where replicas are placed, for a
/// client that waits on them: it looks again at each instead of on a
/// clock.
pub struct Changes {
    live: Option<async_nats::jetstream::kv::Watch>,
    placed: Option<async_nats::jetstream::kv::Watch>,
    /// When `next` last returned.
    last: Option<tokio::time::Instant>,
}

/// The least time between two looks: every node beats twice a second, so
/// in a large cluster changes come far more often than a look is worth.
const LOOK_GAP: Duration = Duration::from_millis(50);

impl Changes {
    /// Resolves at the next change, or after `at_most` (a watch that
    /// failed, or a change this does not see, is looked at then).
    pub async fn next(&mut self, at_most: Duration) {
        async fn one(w: &mut Option<async_nats::jetstream::kv::Watch>) {
            match w {
                Some(w) => {
                    if w.next().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.live) => {}
            _ = one(&mut self.placed) => {}
            _ = tokio::time::sleep(at_most) => {}
        }
        if let Some(last) = self.last {
            tokio::time::sleep_until(last + LOOK_GAP).await;
        }
        self.last = Some(tokio::time::Instant::now());
    }
}

impl State {
    /// Starts watching for [`Changes`] (from now on).
    pub async fn changes(&self) -> Changes {
        Changes {
            live: self.live.watch_all().await.ok(),
            placed: self.placements.watch_all().await.ok(),
            last: None,
        }
    }

    pub async fn heartbeats(&self) -> Result<Live, ClusterError> {
        Ok(self
            .list::<Heartbeat>(&self.live)
            .await?
            .into_iter()
            .collect())
    }

    pub async fn node_views(&self) -> Result<Vec<NodeView>, ClusterError> {
        let nodes = self.list::<NodeRecord>(&self.nodes).await?;
        let live = self.heartbeats().await?;
        let apps: HashMap<String, AppSpec> = self
            .list::<AppSpec>(&self.apps)
            .await?
            .into_iter()
            .collect();
        let placements = self.list::<Placement>(&self.placements).await?;
        Ok(nodes
            .into_iter()
            .map(|(name, record)| {
                let beat = beat(&live, &name);
                let on: Vec<&Placement> = placements
                    .iter()
                    .map(|(_, p)| p)
                    .filter(|p| p.holders().any(|n| n == &name))
                    .collect();
                let reserved = on
                    .iter()
                    .filter_map(|p| apps.get(&p.app).and_then(AppSpec::current))
                    .map(|r| r.memory)
                    .sum();
                let state = match (beat, record.draining, record.cordoned) {
                    (None, _, _) => "lost",
                    (Some(_), true, _) => "draining",
                    (Some(_), false, true) => "cordoned",
                    _ => "ready",
                };
                NodeView {
                    state: state.into(),
                    reserved,
                    used: beat.map_or(0, |b| b.replicas.iter().map(|r| r.memory).sum()),
                    apps: on.iter().map(|p| p.app.clone()).collect(),
                    seen_at: beat.map(|b| b.at),
                    record,
                }
            })
            .collect())
    }

    pub async fn app_views(&self, only: Option<&str>) -> Result<Vec<AppView>, ClusterError> {
        let apps = match only {
            Some(name) => vec![(name.to_string(), self.app(name).await?)],
            None => self.list::<AppSpec>(&self.apps).await?,
        };
        let live = self.heartbeats().await?;
        let mut views = Vec::with_capacity(apps.len());
        for (name, spec) in apps {
            let placement = self.placement(&name).await?;
            let replicas_view = replicas(&spec, placement.as_ref(), &live);
            views.push(AppView {
                spec,
                placement,
                replicas_view,
            });
        }
        Ok(views)
    }

    /// The last `tail` lines of the app's replicas, asked of every node
    /// that runs one, merged by time and prefixed by node.
    pub async fn logs(&self, app: &str, tail: usize) -> Result<Vec<LogLine>, ClusterError> {
        self.app(app).await?;
        let placement = self.placement(app).await?;
        let nodes: Vec<String> = placement
            .map(|p| p.holders().cloned().collect())
            .unwrap_or_default();
        let request = serde_json::to_vec(&LogRequest {
            app: app.into(),
            tail,
        })
        .expect("serializes");
        let mut lines = Vec::new();
        for node in nodes {
            let subject = format!("{NODE_SUBJECT}.{node}.logs");
            let asked = self.conn.client.request(subject, request.clone().into());
            match tokio::time::timeout(Duration::from_secs(5), asked).await {
                Ok(Ok(reply)) => {
                    if let Ok(mut got) = serde_json::from_slice::<Vec<LogLine>>(&reply.payload) {
                        lines.append(&mut got);
                    }
                }
                _ => lines.push(LogLine {
                    node: node.clone(),
                    time: String::new(),
                    stream: "qyv".into(),
                    revision: 0,
                    text: format!("node {node} did not answer: its lines are missing"),
                }),
            }
        }
        lines.sort_by(|a, b| a.time.cmp(&b.time));
        let skip = lines.len().saturating_sub(tail);
        Ok(lines.split_off(skip))
    }

    /// The app's new lines as its replicas write them, from every node.
    pub async fn follow_logs(
        &self,
        app: &str,
    ) -> Result<futures_util::stream::BoxStream<'static, LogLine>, ClusterError> {
        let sub = self
            .conn
            .client
            .subscribe(format!("{LOG_SUBJECT}.{app}.*"))
            .await
            .map_err(|e| ClusterError::js("cannot follow the app's output", e))?;
        Ok(Box::pin(sub.filter_map(|m| async move {
            serde_json::from_slice::<LogLine>(&m.payload).ok()
        })))
    }
}

/// What a client asks a node for: an app's last lines.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogRequest {
    pub app: String,
    pub tail: usize,
}

/// Each placed replica with what its node says of it.
fn replicas(spec: &AppSpec, placement: Option<&Placement>, live: &Live) -> Vec<ReplicaView> {
    let Some(p) = placement else {
        return Vec::new();
    };
    let current = spec.current().map(|r| r.digest.as_str()).unwrap_or("");
    let old = p.rollout.iter().flat_map(|r| {
        r.old_nodes
            .iter()
            .map(move |n| (n, r.from, r.from_digest.as_str()))
    });
    p.nodes
        .iter()
        .map(|n| (n, spec.revision, current))
        .chain(old)
        .map(|(node, revision, digest)| {
            let beat = beat(live, node);
            let status: Option<&ReplicaStatus> = beat.and_then(|b| {
                b.replicas
                    .iter()
                    .find(|r| r.app == spec.name && r.digest == digest)
            });
            ReplicaView {
                node: node.clone(),
                revision,
                state: status.map_or_else(|| "pending".into(), |s| s.state.clone()),
                reason: status.and_then(|s| s.reason.clone()),
                started_at: status.and_then(|s| s.started_at),
                node_lost: beat.is_none(),
            }
        })
        .collect()
}
