//! A node's session in the cluster once joined: one loop that beats,
//! holds or seeks the scheduler's lease (placing replicas while it holds
//! it), and makes the node run what is placed on it: a missing bundle is
//! fetched from the object store (digest checked) and given to the node's
//! own deploy path, which checks it against the node's trust policy as it
//! checks an upload; a replica placed elsewhere now is removed. Replicas'
//! output is answered to `cluster logs` and forwarded live.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::lease::Holder;
use super::mirror::Mirror;
use super::scheduler::{Scheduler, View};
use super::{HEARTBEAT_EVERY, Membership, Status, TICK};
use crate::host::{Held, Host};
use crate::model::{AppSpec, Heartbeat, NodeRecord, Placement, ReplicaStatus, now_ms};
use crate::state::{LIVE_TTL, LOG_SUBJECT, NODE_SUBJECT, State, encode};
use crate::view::LogRequest;

/// A bundle that failed to install is tried again after this long.
const RETRY_INSTALL: Duration = Duration::from_secs(10);

/// What placing a replica here came to, when it did not run.
struct Failure {
    digest: String,
    reason: String,
    at: Instant,
}

pub struct Session {
    state: State,
    me: String,
    host: Arc<dyn Host>,
    status: watch::Sender<Status>,
    apps: Mirror<AppSpec>,
    nodes: Mirror<NodeRecord>,
    live: Mirror<Heartbeat>,
    placements: Mirror<Placement>,
    installing: HashMap<String, (String, JoinHandle<Result<(), String>>)>,
    failures: HashMap<String, Failure>,
    forwarders: HashMap<String, JoinHandle<()>>,
    reported: HashMap<String, String>,
    /// Woken when an install ends.
    installed: Arc<tokio::sync::Notify>,
    /// What the last beat said of the replicas.
    last_said: Vec<(String, String, String)>,
}

impl Session {
    pub fn new(
        state: State,
        membership: Membership,
        host: Arc<dyn Host>,
        status: watch::Sender<Status>,
    ) -> Session {
        Session {
            apps: Mirror::start(state.apps.clone()),
            nodes: Mirror::start(state.nodes.clone()),
            live: Mirror::start(state.live.clone()),
            placements: Mirror::start(state.placements.clone()),
            state,
            me: membership.node,
            host,
            status,
            installing: HashMap::new(),
            failures: HashMap::new(),
            forwarders: HashMap::new(),
            reported: HashMap::new(),
            installed: Arc::default(),
            last_said: Vec::new(),
        }
    }

    /// Runs until the node is removed from the cluster (the reason).
    pub async fn run(mut self) -> Result<(), String> {
        let answering = tokio::spawn(answer_logs(
            self.state.clone(),
            self.me.clone(),
            self.host.clone(),
        ));
        let mut lease = Holder::default();
        let mut scheduler = Scheduler::default();
        let mut last_beat: Option<Instant> = None;
        let mut member_seen = false;
        // A change to what should run, or an install that ended, is acted
        // on at once; the rest every tick.
        let placed = self.placements.changed.clone();
        let desired = self.apps.changed.clone();
        let installed = self.installed.clone();
        let result = loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = placed.notified() => {}
                _ = desired.notified() => {}
                _ = installed.notified() => {}
            }
            let held = self.host.held().await;
            if last_beat.is_none_or(|t| t.elapsed() >= HEARTBEAT_EVERY) || self.news(&held) {
                last_beat = Some(Instant::now());
                self.beat(&held).await;
            }
            let leading = lease.tick(&self.state, &self.me).await;
            self.status.send_if_modified(|s| {
                let changed = s.scheduler != leading;
                s.scheduler = leading;
                changed
            });
            if lease.fresh() {
                let view = View {
                    apps: &self.apps,
                    nodes: &self.nodes,
                    live: &self.live,
                    placements: &self.placements,
                };
                scheduler.pass(&self.state, &self.me, &view).await;
            }
            if self.nodes.is_current() {
                match self.nodes.get(&self.me) {
                    Some(_) => member_seen = true,
                    None if member_seen && self.confirm_removed().await => {
                        break Err(format!("node {} was removed from the cluster", self.me));
                    }
                    None => {}
                }
            }
            self.reconcile(&held).await;
        };
        answering.abort();
        lease.release(&self.state).await;
        for (_, f) in self.forwarders.drain() {
            f.abort();
        }
        for h in self
            .host
            .held()
            .await
            .into_iter()
            .filter(|h| h.from_cluster)
        {
            let _ = self.host.remove(&h.name).await;
        }
        let _ = self.state.live.delete(&self.me).await;
        result
    }

    async fn confirm_removed(&self) -> bool {
        matches!(
            self.state
                .get::<NodeRecord>(&self.state.nodes, &self.me)
                .await,
            Ok(None)
        )
    }

    /// Whether a replica's state changed since the last beat (then the
    /// beat goes at once: a deploy waits for it).
    fn news(&self, held: &[Held]) -> bool {
        said(held) != self.last_said
    }

    /// Says this node lives, with its replicas' state.
    async fn beat(&mut self, held: &[Held]) {
        let mut replicas: Vec<ReplicaStatus> = held
            .iter()
            .filter(|h| h.from_cluster)
            .map(|h| h.status.clone())
            .collect();
        for (app, f) in &self.failures {
            if !replicas
                .iter()
                .any(|r| &r.app == app && r.digest == f.digest)
            {
                replicas.retain(|r| &r.app != app);
                replicas.push(ReplicaStatus {
                    app: app.clone(),
                    digest: f.digest.clone(),
                    state: "failed".into(),
                    reason: Some(f.reason.clone()),
                    started_at: None,
                    memory: 0,
                });
            }
        }
        self.last_said = said(held);
        self.tell_changes(&replicas).await;
        let beat = Heartbeat {
            node: self.me.clone(),
            at: now_ms(),
            replicas,
        };
        let _ = self
            .state
            .put_ttl(&self.state.live, &self.me, &beat, LIVE_TTL, None)
            .await;
    }

    /// Events for replicas that started or failed since the last beat.
    async fn tell_changes(&mut self, replicas: &[ReplicaStatus]) {
        for r in replicas {
            let key = format!("{}@{}", r.state, r.digest);
            if self.reported.get(&r.app) == Some(&key) {
                continue;
            }
            self.reported.insert(r.app.clone(), key);
            let (kind, message) = match r.state.as_str() {
                "running" => ("replica-started", format!("running on {}", self.me)),
                "failed" => (
                    "replica-failed",
                    format!(
                        "failed on {}: {}",
                        self.me,
                        r.reason.as_deref().unwrap_or("no reason given")
                    ),
                ),
                _ => continue,
            };
            self.state
                .event(kind, Some(&r.app), Some(&self.me), message)
                .await;
        }
        self.reported
            .retain(|app, _| replicas.iter().any(|r| &r.app == app));
    }

    /// What is placed here: app, digest, whether it should run.
    fn wanted(&self) -> Option<Vec<(String, String, bool)>> {
        let placements = self.placements.snapshot()?;
        let apps = self.apps.snapshot()?;
        Some(
            placements
                .into_values()
                .map(|s| s.value)
                .filter(|p| p.nodes.contains(&self.me) && apps.contains_key(&p.app))
                .map(|p| (p.app, p.digest, p.running))
                .collect(),
        )
    }

    async fn reconcile(&mut self, held: &[Held]) {
        let Some(wanted) = self.wanted() else {
            return;
        };
        self.collect_installs().await;
        for (app, digest, running) in &wanted {
            if self.installing.contains_key(app) {
                continue;
            }
            match held.iter().find(|h| &h.name == app) {
                Some(h) if !h.from_cluster => {
                    self.failures.insert(app.clone(), Failure {
                        digest: digest.clone(),
                        reason: format!(
                            "this node holds an app named {app} that was deployed to it directly, not by the cluster; remove it from the node to let the cluster run its replica here"
                        ),
                        at: Instant::now(),
                    });
                }
                Some(h) if &h.status.digest == digest => {
                    self.failures.remove(app);
                    let stopped = h.status.state == "stopped";
                    if *running == stopped {
                        let _ = self.host.set_running(app, *running).await;
                    }
                }
                _ => self.install(app, digest, *running),
            }
        }
        for h in held.iter().filter(|h| h.from_cluster) {
            if !wanted.iter().any(|(a, _, _)| a == &h.name)
                && !self.installing.contains_key(&h.name)
            {
                let _ = self.host.remove(&h.name).await;
                self.failures.remove(&h.name);
            }
        }
        self.failures
            .retain(|app, _| wanted.iter().any(|(a, _, _)| a == app));
        self.forward(held, &wanted);
    }

    /// Starts fetching and installing a replica's bundle, unless it failed
    /// a moment ago.
    fn install(&mut self, app: &str, digest: &str, running: bool) {
        if let Some(f) = self.failures.get(app)
            && f.digest == digest
            && f.at.elapsed() < RETRY_INSTALL
        {
            return;
        }
        let state = self.state.clone();
        let host = self.host.clone();
        let owned = digest.to_string();
        let name = app.to_string();
        let done = self.installed.clone();
        let task = tokio::spawn(async move {
            let path = host.scratch();
            let fetched = match state.source_of(&name, &owned).await {
                Some(reference) => host.pull(&reference, &owned, path.clone()).await,
                None => state
                    .download(&owned, &path)
                    .await
                    .map_err(|e| e.to_string()),
            };
            let result = match fetched {
                Ok(()) => host.install(path, running).await,
                Err(e) => Err(e),
            };
            done.notify_one();
            result
        });
        self.installing
            .insert(app.to_string(), (digest.to_string(), task));
    }

    async fn collect_installs(&mut self) {
        let done: Vec<String> = self
            .installing
            .iter()
            .filter(|(_, (_, t))| t.is_finished())
            .map(|(a, _)| a.clone())
            .collect();
        for app in done {
            let Some((digest, task)) = self.installing.remove(&app) else {
                continue;
            };
            let result = task
                .await
                .unwrap_or_else(|e| Err(format!("the install stopped: {e}")));
            if let Err(reason) = result {
                self.failures.insert(
                    app,
                    Failure {
                        digest,
                        reason,
                        at: Instant::now(),
                    },
                );
            }
        }
    }

    /// Keeps one forwarder of live output per replica held here.
    fn forward(&mut self, held: &[Held], wanted: &[(String, String, bool)]) {
        self.forwarders.retain(|app, task| {
            let keep = wanted.iter().any(|(a, _, _)| a == app) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for h in held.iter().filter(|h| h.from_cluster) {
            if self.forwarders.contains_key(&h.name) {
                continue;
            }
            let Some(mut lines) = self.host.follow(&h.name) else {
                continue;
            };
            let client = self.state.conn.client.clone();
            let subject = format!("{LOG_SUBJECT}.{}.{}", h.name, self.me);
            let me = self.me.clone();
            let task = tokio::spawn(async move {
                while let Some(mut line) = lines.next().await {
                    line.node = me.clone();
                    let _ = client.publish(subject.clone(), encode(&line)).await;
                }
            });
            self.forwarders.insert(h.name.clone(), task);
        }
    }
}

/// The cluster's replicas here as a beat reports them: app, digest, state.
fn said(held: &[Held]) -> Vec<(String, String, String)> {
    held.iter()
        .filter(|h| h.from_cluster)
        .map(|h| {
            (
                h.name.clone(),
                h.status.digest.clone(),
                h.status.state.clone(),
            )
        })
        .collect()
}

/// Answers `qyvol.node.NODE.logs` requests with an app's last lines.
async fn answer_logs(state: State, me: String, host: Arc<dyn Host>) {
    let subject = format!("{NODE_SUBJECT}.{me}.logs");
    let Ok(mut requests) = state.conn.client.subscribe(subject).await else {
        return;
    };
    while let Some(message) = requests.next().await {
        let Some(reply) = message.reply.clone() else {
            continue;
        };
        let lines = match serde_json::from_slice::<LogRequest>(&message.payload) {
            Ok(r) => {
                let mut lines = host.tail(&r.app, r.tail).await;
                for l in &mut lines {
                    l.node = me.clone();
                }
                lines
            }
            Err(_) => Vec::new(),
        };
        let _ = state.conn.client.publish(reply, encode(&lines)).await;
    }
}
