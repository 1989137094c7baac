//! Runs the node's apps and keeps them as the store says they should be.
//!
//! Each app that should run has a task: a `command` runs once, to the end,
//! and its exit is recorded; a `service` is started again by its
//! `restart` policy, after a back-off that grows while it keeps ending
//! soon. Instances run as tasks on the node's async runtime (the runtime's
//! [`Executor`]), a few threads for every app, each under its CPU share
//! (`scheduler.weight`, `limits.cpu`), with their output going to the
//! app's log; a stop drops the task, so it ends at once whatever the
//! program is doing. Every change to an app (deploy, start,
//! stop, restart, rollback, removal) goes through [`Supervisor::apply`]
//! while the app's lock is held, so changes to one app happen one after
//! the other and changes to different apps do not wait for each other.
//!
//! An `http` app has no task: while it should run, its current revision is
//! in the table of the node's HTTP server (the serving code of
//! `qyv serve`), at its route, with a fresh instance per request.

mod backoff;
mod http;
mod task;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use qyvol_manifest::bundle::{Bundle, Standing, TrustPolicy};
use qyvol_manifest::sync::lock;
use qyvol_manifest::{AppType, Manifest, Restart};
use qyvol_runtime::sched::CpuShare;
use qyvol_runtime::serve::ServeHandle;
use qyvol_runtime::{CodeCache, Executor, RunControl};
use tokio::sync::{Notify, OwnedMutexGuard, watch};
use tokio::task::JoinHandle;

use crate::api::types::State;
use crate::artifacts::Artifacts;
use crate::error::NodeError;
use crate::limits::NodeLimits;
use crate::logs::LogBook;
use crate::store::{AppRow, Desired, EventKind, RevisionRow, Store};

/// What the node knows of an app beyond the store: its instance now.
#[derive(Clone, Debug, Default)]
pub struct Live {
    pub revision: u32,
    pub state: State,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub next_start_at: Option<i64>,
    /// Starts by the node itself (restarts) since the node started.
    pub restarts: u32,
    /// The running instance's control, for its memory.
    pub control: Option<RunControl>,
    /// The running instance's CPU share, for the CPU time it used.
    pub share: Option<CpuShare>,
    /// CPU time of the instances that ended, since the node started.
    pub cpu_ended: std::time::Duration,
    /// Ended instances by exit status, since the node started.
    pub exits: BTreeMap<i32, u64>,
    /// Time instances ran, in total, since the node started.
    pub run_seconds: f64,
    /// A service's restart policy.
    pub restart: Option<Restart>,
    /// An HTTP app's route.
    pub route: Option<String>,
}

impl Live {
    pub fn instances(&self) -> u32 {
        // A served HTTP app counts as one, whatever its requests run.
        let served = self.route.is_some() && self.state == State::Running;
        u32::from(
            served
                || (self.control.is_some()
                    && matches!(self.state, State::Starting | State::Running)),
        )
    }

    /// CPU time the app's instances used since the node started.
    pub fn cpu_time(&self) -> std::time::Duration {
        self.cpu_ended
            + self
                .share
                .as_ref()
                .map_or_else(Default::default, CpuShare::cpu_time)
    }

    pub fn memory(&self) -> u64 {
        self.control.as_ref().map_or(0, RunControl::memory)
    }
}

/// What made the node look at an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A new current revision (deploy, rollback).
    Changed,
    /// `start`: run it unless it runs already.
    Start,
    /// `restart`: a new instance, whatever runs now.
    Restart,
    /// `stop`.
    Stop,
    /// The node started: pick up where it was.
    Boot,
    /// `rm`: it is gone from the store.
    Removed,
}

/// What the node needs to start instances of an app's revision.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub name: String,
    pub revision: u32,
    pub bundle: PathBuf,
    pub manifest: Manifest,
    /// A trusted key signed it: its precompiled code may be used.
    pub trusted: bool,
}

struct Slot {
    live: watch::Sender<Live>,
    task: Option<Task>,
}

struct Task {
    stop: Arc<Notify>,
    join: JoinHandle<()>,
}

pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub artifacts: Arc<Artifacts>,
    pub logs: Arc<LogBook>,
    pub cache: CodeCache,
    pub trust: TrustPolicy,
    /// Defaults and maxima for the apps' limits.
    pub limits: NodeLimits,
    /// The node's HTTP server, when it was started with `--http`.
    pub http: Option<ServeHandle>,
    /// Runs the instances of commands and services, under CPU shares.
    pub executor: Executor,
    /// Held while a deploy checks an HTTP app's route and stores it, so
    /// that two apps never get one route.
    routes: tokio::sync::Mutex<()>,
    apps: Mutex<HashMap<String, Slot>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub started: Instant,
}

impl Shared {
    /// The CPU share of one instance of the app.
    pub(crate) fn share(&self, manifest: &Manifest) -> CpuShare {
        let weight = manifest
            .scheduler
            .as_ref()
            .and_then(|s| s.weight)
            .unwrap_or(qyvol_runtime::sched::DEFAULT_WEIGHT);
        let cap = manifest
            .limits
            .cpu_millicores
            .map(|m| f64::from(m) / 1000.0);
        self.executor.scheduler().share(weight, cap)
    }
}

/// Proof that the caller holds an app's lock.
pub struct AppLock {
    app: String,
    _guard: OwnedMutexGuard<()>,
}

impl AppLock {
    pub fn app(&self) -> &str {
        &self.app
    }
}

#[derive(Clone)]
pub struct Supervisor {
    shared: Arc<Shared>,
}

/// What to tell when a bundle's precompiled code is not used because no
/// key the node trusts signed it, as a local run tells it.
pub(crate) fn untrusted_code_note(bundle: &Bundle, trusted: bool) -> Option<String> {
    (!trusted && !bundle.natives().is_empty()).then(|| {
        "note: the bundle's precompiled code is not used, because no key this node trusts signed it (machine code runs outside the sandbox); its wasm is compiled instead; to use it, make the signer's key one the node trusts".to_string()
    })
}

/// Runs store work off the async threads (it syncs to disk).
pub(crate) async fn db<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| NodeError::Internal(format!("a database task failed: {e}")))?
}

impl Supervisor {
    pub fn new(
        store: Arc<Store>,
        artifacts: Arc<Artifacts>,
        logs: Arc<LogBook>,
        cache: CodeCache,
        trust: TrustPolicy,
        http: Option<ServeHandle>,
        limits: NodeLimits,
    ) -> Supervisor {
        Supervisor {
            shared: Arc::new(Shared {
                store,
                artifacts,
                logs,
                cache,
                trust,
                limits,
                http,
                executor: Executor::new(),
                routes: tokio::sync::Mutex::new(()),
                apps: Mutex::new(HashMap::new()),
                locks: Mutex::new(HashMap::new()),
                started: Instant::now(),
            }),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    pub fn artifacts(&self) -> &Arc<Artifacts> {
        &self.shared.artifacts
    }

    pub fn logs(&self) -> &Arc<LogBook> {
        &self.shared.logs
    }

    pub fn trust(&self) -> &TrustPolicy {
        &self.shared.trust
    }

    pub fn limits(&self) -> &NodeLimits {
        &self.shared.limits
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.shared.started.elapsed()
    }

    /// Takes the app's lock, waiting for the change to the app in
    /// progress, if any (and saying so on the node's standard error).
    pub async fn lock(&self, app: &str) -> AppLock {
        let mutex = lock(&self.shared.locks)
            .entry(app.to_string())
            .or_default()
            .clone();
        let guard = match mutex.clone().try_lock_owned() {
            Ok(g) => g,
            Err(_) => {
                tracing::info!(app, "{app}: waiting for the change in progress to finish");
                mutex.lock_owned().await
            }
        };
        AppLock {
            app: app.to_string(),
            _guard: guard,
        }
    }

    /// The app's instance now; `None` for an app the node does not know.
    pub fn live(&self, app: &str) -> Option<Live> {
        lock(&self.shared.apps)
            .get(app)
            .map(|s| s.live.borrow().clone())
    }

    /// Every app's instance now.
    pub fn all_live(&self) -> Vec<(String, Live)> {
        let apps = lock(&self.shared.apps);
        let mut all: Vec<(String, Live)> = apps
            .iter()
            .map(|(name, s)| (name.clone(), s.live.borrow().clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Waits, up to `limit`, until the app's instance at `revision` or later
    /// runs or has ended (a command: has ended); `None` when the time is up
    /// or the node never started the app.
    pub async fn settled(
        &self,
        app: &str,
        revision: u32,
        command: bool,
        limit: std::time::Duration,
    ) -> Option<Live> {
        let mut rx = self.watch(app)?;
        let settled = |l: &Live| {
            l.revision >= revision && l.state.settled() && !(command && l.state == State::Running)
        };
        match tokio::time::timeout(limit, rx.wait_for(settled)).await {
            Ok(Ok(live)) => Some(live.clone()),
            _ => None,
        }
    }

    /// Changes to the app's instance, from now on.
    pub fn watch(&self, app: &str) -> Option<watch::Receiver<Live>> {
        lock(&self.shared.apps).get(app).map(|s| s.live.subscribe())
    }

    fn slot_live(&self, app: &str) -> watch::Sender<Live> {
        lock(&self.shared.apps)
            .entry(app.to_string())
            .or_insert_with(|| {
                let live = watch::channel(Live::default()).0;
                // Watchers of the whole node (the stream) learn of every
                // change to this instance; the forwarder ends with the slot.
                let mut rx = live.subscribe();
                let changes = self.shared.store.changes().clone();
                tokio::spawn(async move {
                    while rx.changed().await.is_ok() {
                        changes.bump();
                    }
                    changes.bump();
                });
                Slot { live, task: None }
            })
            .live
            .clone()
    }

    /// Stops the app's task (and its instance), if it has one.
    async fn stop_task(&self, app: &str) {
        let task = lock(&self.shared.apps)
            .get_mut(app)
            .and_then(|s| s.task.take());
        if let Some(task) = task {
            task.stop.notify_one();
            let _ = task.join.await;
        }
    }

    fn task_running(&self, app: &str, revision: u32) -> bool {
        let apps = lock(&self.shared.apps);
        apps.get(app).is_some_and(|s| {
            s.task.as_ref().is_some_and(|t| !t.join.is_finished())
                && s.live.borrow().revision == revision
        })
    }

    /// Brings the app to what the store says, after `trigger`.
    pub async fn apply(&self, held: &AppLock, trigger: Trigger) -> Result<(), NodeError> {
        let app = held.app().to_string();
        if trigger == Trigger::Removed {
            self.stop_task(&app).await;
            self.unserve(&app);
            lock(&self.shared.apps).remove(&app);
            self.shared.logs.remove(&app);
            return Ok(());
        }
        let (row, rev) = {
            let name = app.clone();
            db(&self.shared.store, move |s| s.current(&name)).await?
        };
        let live = self.slot_live(&app);
        match trigger {
            Trigger::Stop => {
                self.stop_task(&app).await;
                self.unserve(&app);
                live.send_modify(|l| {
                    l.revision = rev.number;
                    l.state = State::Stopped;
                    l.next_start_at = None;
                });
                return Ok(());
            }
            Trigger::Start
                if self.task_running(&app, rev.number) || self.served(&app, rev.number) =>
            {
                return Ok(());
            }
            Trigger::Boot if self.settled_at_boot(&app, &row, &rev).await? => return Ok(()),
            _ => {}
        }
        self.stop_task(&app).await;
        let prepared = match self.prepare(&app, &rev).await {
            Ok(p) => p,
            Err(e) => {
                self.failed_to_prepare(&app, &rev, &live, e.to_string())
                    .await?;
                return Err(e);
            }
        };
        if prepared.manifest.app_type == AppType::Http {
            return self.serve(prepared, &live).await;
        }
        // Its revision before may have been an HTTP app.
        self.unserve(&app);
        self.start_task(prepared, live);
        Ok(())
    }

    /// At the node's start: whether the app stays as the store left it
    /// (stopped, or a command that ran to its end), its state now set.
    async fn settled_at_boot(
        &self,
        app: &str,
        row: &AppRow,
        rev: &RevisionRow,
    ) -> Result<bool, NodeError> {
        if row.desired == Desired::Stopped {
            self.settle_from_store(app, rev, State::Stopped).await?;
            return Ok(true);
        }
        // A command that ran to its end (or was interrupted by the node's
        // own end) is not run again by a restart of the node.
        if rev.app_type != AppType::Command {
            return Ok(false);
        }
        let name = app.to_string();
        let number = rev.number;
        let last = db(&self.shared.store, move |s| s.last_run(&name, number)).await?;
        let Some(run) = last else {
            return Ok(false);
        };
        let state = if run.exit_code == Some(0) {
            State::Completed
        } else {
            State::Failed
        };
        self.settle_from_store(app, rev, state).await?;
        Ok(true)
    }

    /// The revision's bundle could not be opened: the app has failed, and
    /// its events say why.
    async fn failed_to_prepare(
        &self,
        app: &str,
        rev: &RevisionRow,
        live: &watch::Sender<Live>,
        reason: String,
    ) -> Result<(), NodeError> {
        live.send_modify(|l| {
            l.revision = rev.number;
            l.state = State::Failed;
            l.reason = Some(reason.clone());
            l.exit_code = None;
        });
        let name = app.to_string();
        let number = rev.number;
        db(&self.shared.store, move |s| {
            s.add_event(&name, Some(number), EventKind::Failed, &reason)
        })
        .await
    }

    /// Starts the task that runs a command or a service.
    fn start_task(&self, prepared: Prepared, live: watch::Sender<Live>) {
        let app = prepared.name.clone();
        let restart = (prepared.manifest.app_type == AppType::Service)
            .then(|| prepared.manifest.restart_policy());
        live.send_modify(|l| {
            l.restart = restart;
            l.route = None;
            l.revision = prepared.revision;
            l.state = State::Pending;
            l.reason = None;
            l.exit_code = None;
            l.next_start_at = None;
            l.ended_at = None;
        });
        let stop = Arc::new(Notify::new());
        let join = tokio::spawn(task::supervise(
            self.shared.clone(),
            prepared,
            live,
            stop.clone(),
        ));
        if let Some(slot) = lock(&self.shared.apps).get_mut(&app) {
            slot.task = Some(Task { stop, join });
        }
    }

    /// The state of an app that is not started, from its last run.
    async fn settle_from_store(
        &self,
        app: &str,
        rev: &RevisionRow,
        state: State,
    ) -> Result<(), NodeError> {
        let name = app.to_string();
        let number = rev.number;
        let last = db(&self.shared.store, move |s| s.last_run(&name, number)).await?;
        self.slot_live(app).send_modify(|l| {
            l.revision = number;
            l.state = state;
            if let Some(run) = &last {
                l.started_at = Some(run.started_at);
                l.ended_at = run.ended_at;
                l.exit_code = run.exit_code;
                l.reason = run.reason.clone();
            }
        });
        Ok(())
    }

    /// Opens the revision's bundle and reads its manifest: what every
    /// instance needs.
    async fn prepare(&self, app: &str, rev: &RevisionRow) -> Result<Prepared, NodeError> {
        let path = self.shared.artifacts.path(&rev.digest);
        let shared = self.shared.clone();
        let name = app.to_string();
        let number = rev.number;
        tokio::task::spawn_blocking(move || {
            let bundle = Bundle::open(&path).map_err(|e| {
                NodeError::Internal(format!(
                    "the stored bundle of {name} revision {number}: {e}"
                ))
            })?;
            let manifest = bundle.manifest().map_err(|e| {
                NodeError::Internal(format!(
                    "the stored bundle of {name} revision {number}: {e}"
                ))
            })?;
            // A node restarted with lower maxima does not run what it
            // would now refuse to take.
            let refused: Vec<String> = shared
                .limits
                .refusals(&manifest)
                .iter()
                .map(ToString::to_string)
                .collect();
            if !refused.is_empty() {
                return Err(NodeError::BadBundle(format!(
                    "revision {number} of {name} asks for more than this node allows: {}",
                    refused.join("; ")
                )));
            }
            let trusted = matches!(shared.trust.standing(bundle.signer()), Standing::Trusted(_));
            Ok(Prepared {
                name,
                revision: number,
                bundle: path,
                manifest,
                trusted,
            })
        })
        .await
        .map_err(|e| NodeError::Internal(format!("a task failed: {e}")))?
    }

    /// Ends interrupted runs, removes unused bundles, and starts every app
    /// that should run.
    pub async fn boot(&self) -> Result<(), NodeError> {
        let store = self.shared.store.clone();
        let interrupted = db(&store, |s| s.end_interrupted_runs()).await?;
        for run in &interrupted {
            tracing::warn!(
                app = run.app,
                revision = run.revision,
                "{} revision {}: its last instance was interrupted when the node stopped",
                run.app,
                run.revision
            );
        }
        let keep = db(&store, |s| s.referenced_digests()).await?;
        let artifacts = self.shared.artifacts.clone();
        let removed = tokio::task::spawn_blocking(move || artifacts.collect_garbage(&keep))
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))??;
        if removed > 0 {
            tracing::info!(removed, "removed {removed} bundle(s) no revision uses");
        }
        let apps = db(&store, |s| s.apps()).await?;
        for app in apps {
            let held = self.lock(&app.name).await;
            if let Err(e) = self.apply(&held, Trigger::Boot).await {
                tracing::warn!(app = app.name, error = %e, "{}: {e}", app.name);
            }
        }
        Ok(())
    }

    /// Stops every app's instance (the node is going away; what the store
    /// says they should be does not change).
    pub async fn shutdown(&self) {
        let names: Vec<String> = lock(&self.shared.apps).keys().cloned().collect();
        let mut stops = Vec::new();
        for name in names {
            let this = self.clone();
            stops.push(tokio::spawn(async move { this.stop_task(&name).await }));
        }
        for s in stops {
            let _ = s.await;
        }
    }
}
