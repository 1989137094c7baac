//! The node in a cluster: it joins when started with `--cluster` (or when
//! a client asks it to, `POST /v1/cluster/join`), and again at every start
//! from `cluster.json` in its data folder; the cluster agent (crate
//! qyvol-cluster) then runs replicas through [`NodeHost`], which is this
//! node's own deploy path: a bundle fetched from the cluster is checked
//! and stored exactly as an upload is, under the source `cluster`. A node
//! whose NATS cannot be reached keeps running its apps and says why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use qyvol_cluster::model::{LogLine, ReplicaStatus};
use qyvol_cluster::{Agent, Facts, Held, Host, Membership, Status};

use crate::artifacts::write_file_atomic;
use crate::error::NodeError;
use crate::node::Node;
use crate::store::{Desired, EventKind};
use crate::supervisor::{Trigger, db};

/// The source the store records for apps the cluster placed here.
pub const SOURCE: &str = "cluster";

/// The file that keeps the node's membership across restarts.
const FILE: &str = "cluster.json";

/// How long a join may take (connect, make the buckets, register).
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest an install waits for its replica to run before it ends.
const SETTLE: Duration = Duration::from_secs(5);

/// The node's place in a cluster, if any.
#[derive(Default)]
pub struct Slot {
    agent: Mutex<Option<Agent>>,
    data_dir: PathBuf,
    api: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Slot {
    pub fn new(data_dir: &Path, api: Option<String>) -> Slot {
        Slot {
            agent: Mutex::new(None),
            data_dir: data_dir.to_path_buf(),
            api,
        }
    }

    pub fn status(&self) -> Option<Status> {
        lock(&self.agent).as_ref().map(Agent::status)
    }

    fn file(&self) -> PathBuf {
        self.data_dir.join(FILE)
    }

    /// The membership saved by the last join, if any.
    pub fn saved(&self) -> Result<Option<Membership>, NodeError> {
        let path = self.file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                NodeError::BadRequest(format!(
                    "{} is not a cluster membership this node can read ({e}); remove it, then join again",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NodeError::io("cannot read", path, e)),
        }
    }

    fn save(&self, m: &Membership) -> Result<(), NodeError> {
        let bytes = serde_json::to_vec_pretty(m)
            .map_err(|e| NodeError::Internal(format!("cannot write the membership: {e}")))?;
        // It holds the cluster's credentials: the node's user only.
        write_file_atomic(&self.file(), &bytes, 0o600)
    }
}

/// Starts the agent with `membership` (saving it), in the background:
/// the node serves whatever NATS does.
pub fn start(node: &Arc<Node>, membership: Membership) -> Result<(), NodeError> {
    node.cluster.save(&membership)?;
    let host: Arc<dyn Host> = Arc::new(NodeHost { node: node.clone() });
    let agent = Agent::start(membership, host);
    tokio::spawn(tell(node.clone(), agent.watch()));
    if let Some(old) = lock(&node.cluster.agent).replace(agent) {
        tokio::spawn(old.stop());
    }
    Ok(())
}

/// Starts the agent at the node's start: with the membership given on
/// the command line (a missing node name is the saved one's, else the host
/// name), else with the saved one.
pub fn resume(node: &Arc<Node>, given: Option<Membership>) -> Result<(), NodeError> {
    let saved = node.cluster.saved()?;
    let membership = match given {
        Some(mut m) => {
            if m.node.is_empty() {
                m.node = saved.map_or_else(default_name, |s| s.node);
            }
            Some(m)
        }
        None => saved,
    };
    match membership {
        Some(m) => start(node, m),
        None => Ok(()),
    }
}

/// Joins now (a client waits for the answer), then runs the agent.
pub async fn join(node: &Arc<Node>, mut membership: Membership) -> Result<Status, NodeError> {
    if let Some(status) = node.cluster.status()
        && status.state != "left"
        && status.state != "failed"
    {
        return Err(NodeError::Conflict(format!(
            "this node is in a cluster already (node {} of {}); remove it from that cluster first",
            status.node, status.address
        )));
    }
    if membership.node.is_empty() {
        membership.node = default_name();
    }
    let host = NodeHost { node: node.clone() };
    let joined = tokio::time::timeout(JOIN_TIMEOUT, qyvol_cluster::agent::join(&membership, &host))
        .await
        .map_err(|_| {
            NodeError::BadRequest(format!(
                "joining the cluster at {} took longer than {}s; is its NATS up, with JetStream?",
                membership.address,
                JOIN_TIMEOUT.as_secs()
            ))
        })?;
    joined.map_err(|e| NodeError::BadRequest(e.to_string()))?;
    tracing::info!(
        cluster = %membership.address,
        node = membership.node,
        "joined the cluster at {} as node {}",
        membership.address,
        membership.node
    );
    start(node, membership)?;
    Ok(node.cluster.status().unwrap_or_default())
}

/// This machine's host name as a node name.
pub fn default_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|h| qyvol_manifest::fix_name(h.trim()))
        .unwrap_or_else(|| "node".into())
}

/// Says on the node's standard error where its agent is, as it changes.
async fn tell(node: Arc<Node>, mut status: tokio::sync::watch::Receiver<Status>) {
    let mut said = String::new();
    loop {
        let s = status.borrow_and_update().clone();
        let line = match s.state.as_str() {
            "joined" if s.scheduler => format!(
                "cluster: node {} of {}, holding the scheduler's lease",
                s.node, s.address
            ),
            "joined" => format!("cluster: node {} of {}", s.node, s.address),
            "connecting" => format!("cluster: connecting to {} as node {}", s.address, s.node),
            other => format!(
                "cluster: {other}: {}",
                s.message.as_deref().unwrap_or("no reason given")
            ),
        };
        if line != said {
            tracing::info!(state = s.state, "{line}");
            said = line;
        }
        if s.state == "left" {
            let _ = std::fs::remove_file(node.cluster.file());
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// The cluster agent's way into this node.
pub struct NodeHost {
    node: Arc<Node>,
}

/// Memory the node offers replicas: the machine's.
fn machine_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn log_line(l: crate::logs::LogLine) -> LogLine {
    LogLine {
        node: String::new(),
        time: l.time,
        stream: l.stream,
        revision: l.revision,
        text: l.text,
    }
}

impl Host for NodeHost {
    fn facts(&self) -> Facts {
        let trust = self.node.supervisor.trust();
        Facts {
            api: self.node.cluster.api.clone(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            memory: machine_memory(),
            default_memory: self.node.supervisor.limits().default_memory,
            max_memory: self.node.supervisor.limits().max_memory,
            serves_http: self.node.supervisor.serves_http(),
            require_signature: trust.require_signature,
            trusted_keys: trust.keys.iter().map(|k| k.key.id()).collect(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn held(&self) -> BoxFuture<'_, Vec<Held>> {
        Box::pin(async move {
            let supervisor = &self.node.supervisor;
            let rows = db(supervisor.store(), |s| s.all_current())
                .await
                .unwrap_or_default();
            rows.into_iter()
                .map(|(row, rev)| {
                    let live = supervisor.live(&row.name).unwrap_or_default();
                    Held {
                        from_cluster: row.source == SOURCE,
                        status: ReplicaStatus {
                            app: row.name.clone(),
                            digest: rev.digest,
                            state: live.state.as_str().into(),
                            reason: live.reason.clone(),
                            started_at: live.started_at,
                            memory: live.memory(),
                        },
                        name: row.name,
                    }
                })
                .collect()
        })
    }

    fn scratch(&self) -> PathBuf {
        self.node.supervisor.artifacts().tmp_path("cluster")
    }

    fn pull(
        &self,
        reference: &str,
        digest: &str,
        to: PathBuf,
    ) -> BoxFuture<'_, Result<(), String>> {
        let (reference, digest) = (reference.to_string(), digest.to_string());
        let limit = self.node.max_upload;
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let parsed = qyvol_hub::Reference::parse(&reference).map_err(|e| e.to_string())?;
                let file = std::fs::File::create(&to)
                    .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
                let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
                let result = crate::deploy::pull_bundle(&parsed, Some(&digest), limit, &mut out)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        use std::io::Write;
                        out.flush()
                            .and_then(|()| out.get_ref().sync_all())
                            .map_err(|e| format!("cannot write {}: {e}", to.display()))
                    });
                if result.is_err() {
                    let _ = std::fs::remove_file(&to);
                }
                result
            })
            .await
            .map_err(|e| e.to_string())?
        })
    }

    fn install(&self, bundle: PathBuf, running: bool) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let artifacts = self.node.supervisor.artifacts().clone();
            let upload = tokio::task::spawn_blocking(move || artifacts.adopt(bundle))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            let deployed = crate::deploy::install(&self.node, upload, SOURCE.into())
                .await
                .map_err(|e| e.to_string())?;
            if !running {
                self.set_running(&deployed.app, false).await?;
            } else {
                // The agent reports the replica at its next look, which it
                // takes when this ends: end once the replica runs (or
                // failed), not while it starts, so that a deploy waiting
                // for it hears at once.
                let _ = self
                    .node
                    .supervisor
                    .settled(&deployed.app, deployed.revision, false, SETTLE)
                    .await;
            }
            Ok(())
        })
    }

    fn set_running(&self, app: &str, running: bool) -> BoxFuture<'_, Result<(), String>> {
        let app = app.to_string();
        Box::pin(async move {
            let supervisor = &self.node.supervisor;
            let held = supervisor.lock(&app).await;
            let (desired, kind, trigger) = if running {
                (Desired::Running, EventKind::Start, Trigger::Start)
            } else {
                (Desired::Stopped, EventKind::Stop, Trigger::Stop)
            };
            let name = app.clone();
            db(supervisor.store(), move |s| {
                s.set_desired(&name, desired, kind, "the cluster asked")
            })
            .await
            .map_err(|e| e.to_string())?;
            supervisor
                .apply(&held, trigger)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn remove(&self, app: &str) -> BoxFuture<'_, Result<(), String>> {
        let app = app.to_string();
        Box::pin(async move {
            crate::bootdir::remove(&self.node, &app)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(app, "cluster: {app} is placed elsewhere now: removed here");
            Ok(())
        })
    }

    fn tail(&self, app: &str, n: usize) -> BoxFuture<'_, Vec<LogLine>> {
        let app = app.to_string();
        Box::pin(async move {
            let log = self.node.supervisor.logs().app(&app);
            tokio::task::spawn_blocking(move || log.tail(n, false).0)
                .await
                .unwrap_or_default()
                .into_iter()
                .map(log_line)
                .collect()
        })
    }

    fn follow(&self, app: &str) -> Option<BoxStream<'static, LogLine>> {
        use tokio::sync::broadcast::error::RecvError;
        let (_, receiver) = self.node.supervisor.logs().app(app).tail(0, true);
        let stream = futures_util::stream::unfold(receiver?, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(line) => return Some((log_line(line), rx)),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        Some(Box::pin(stream))
    }
}
