//! Runs the node's apps and keeps them as the store says they should be.
//!
//! Each app that should run has a task: a `command` runs once, to the end,
//! and its exit is recorded; a `service` is started again by its
//! `restart` policy, after a back-off that grows while it keeps ending
//! soon. Instances run on threads of their own (the engine's WASI host is
//! synchronous), with their output going to the app's log and a
//! `RunControl` that stops them. Every change to an app (deploy, start,
//! stop, restart, rollback, removal) goes through [`Supervisor::apply`]
//! while the app's lock is held, so changes to one app happen one after
//! the other and changes to different apps do not wait for each other.
//!
//! An `http` app has no task: while it should run, its current revision is
//! in the table of the node's HTTP server (the serving code of
//! `qyv serve`), at its route, with a fresh instance per request.

mod backoff;
mod task;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use qyvol_manifest::bundle::{Bundle, Standing, TrustPolicy};
use qyvol_manifest::{AppType, Manifest};
use qyvol_runtime::serve::{ServeApp, ServeHandle, Served};
use qyvol_runtime::{CodeCache, CodeSource, RunControl, Stdio};
use tokio::sync::{Notify, OwnedMutexGuard, watch};
use tokio::task::JoinHandle;

use crate::api::types::State;
use crate::artifacts::Artifacts;
use crate::error::NodeError;
use crate::limits::NodeLimits;
use crate::logs::LogBook;
use crate::store::{Desired, RevisionRow, Store};

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
    /// Ended instances by exit status, since the node started.
    pub exits: BTreeMap<i32, u64>,
    /// Time instances ran, in total, since the node started.
    pub run_seconds: f64,
    /// A service's restart policy.
    pub restart: Option<String>,
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
    /// Held while a deploy checks an HTTP app's route and stores it, so
    /// that two apps never get one route.
    routes: tokio::sync::Mutex<()>,
    apps: Mutex<HashMap<String, Slot>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub started: Instant,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why an HTTP app is not served by a node started without `--http`.
pub(crate) fn no_http_port(app: &str) -> String {
    format!(
        "{app} is a type: http app, and this node serves no HTTP apps: it was started without --http; start it with `qyv daemon --http ADDR` (for example --http 0.0.0.0:8080) to serve them on that port"
    )
}

/// Loads the app's revision (its bundle unpacked as `qyv run` would) and
/// puts it on the server, its output going to the app's log. Blocking.
fn put_app(shared: &Shared, http: &ServeHandle, app: &Prepared) -> Result<Served, String> {
    let bundle = Bundle::open(&app.bundle).map_err(|e| e.to_string())?;
    let note = untrusted_code_note(&bundle, app.trusted);
    let mut serve = ServeApp::from_bundle(&app.manifest, Arc::new(bundle), app.trusted);
    shared.limits.apply_to_serve(&app.manifest, &mut serve);
    serve.spec.cache = Some(shared.cache.clone());
    serve.spec.stdio = Stdio::Capture(shared.logs.app(&app.name).sink(app.revision));
    let mut served = http.put(serve).map_err(|e| e.to_string())?;
    served.warnings.extend(note);
    Ok(served)
}

/// What to tell when a bundle's precompiled code is not used because no
/// key the node trusts signed it, as `qyv run` tells it.
pub(crate) fn untrusted_code_note(bundle: &Bundle, trusted: bool) -> Option<String> {
    (!trusted && !bundle.natives().is_empty()).then(|| {
        "note: the bundle's precompiled code is not used, because no key this node trusts signed it (machine code runs outside the sandbox); its wasm is compiled instead. Start the node with --key or --trust naming the signer's key".to_string()
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

    /// Whether the node serves HTTP apps (it was started with `--http`).
    pub fn serves_http(&self) -> bool {
        self.shared.http.is_some()
    }

    /// Requests routed to each HTTP app served now, since its revision was
    /// put in.
    pub fn http_requests(&self) -> HashMap<String, u64> {
        self.shared
            .http
            .as_ref()
            .map(|h| h.requests().into_iter().collect())
            .unwrap_or_default()
    }

    /// Taken by a deploy of an HTTP app from before it looks for the app
    /// holding its route until the app is started.
    pub async fn lock_routes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.shared.routes.lock().await
    }

    /// Why an HTTP app at `route` cannot be served here, if it cannot: the
    /// node serves no HTTP apps, or another app holds the route (stopped
    /// apps hold theirs too, so that starting one never finds it taken).
    /// Call it with [`Supervisor::lock_routes`] held.
    pub async fn refuse_route(&self, app: &str, route: &str) -> Result<Option<String>, NodeError> {
        if !self.serves_http() {
            return Ok(Some(no_http_port(app)));
        }
        let rows = db(&self.shared.store, |s| s.all_current()).await?;
        for (row, rev) in rows {
            if row.name == app || rev.app_type != AppType::Http.as_str() {
                continue;
            }
            // A bundle that cannot be read now holds no route it could
            // serve; its own start says what is wrong with it.
            if self.stored_route(&rev.digest).await.as_deref() == Some(route) {
                let other = row.name;
                return Ok(Some(format!(
                    "http.route {route} belongs to app {other} on this node; give {app} another http.route, or remove {other} first (`qyv rm {other}`)"
                )));
            }
        }
        Ok(None)
    }

    /// The `http.route` of the HTTP app in a stored bundle.
    pub async fn stored_route(&self, digest: &str) -> Option<String> {
        let path = self.shared.artifacts.path(digest);
        tokio::task::spawn_blocking(move || {
            let manifest = Bundle::open(&path).ok()?.manifest().ok()?;
            (manifest.app_type == AppType::Http).then(|| manifest.http_settings().route)
        })
        .await
        .ok()
        .flatten()
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
                eprintln!("qyv daemon: {app}: waiting for the change in progress to finish");
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

    /// Changes to the app's instance, from now on.
    pub fn watch(&self, app: &str) -> Option<watch::Receiver<Live>> {
        lock(&self.shared.apps).get(app).map(|s| s.live.subscribe())
    }

    fn slot_live(&self, app: &str) -> watch::Sender<Live> {
        lock(&self.shared.apps)
            .entry(app.to_string())
            .or_insert_with(|| Slot {
                live: watch::channel(Live::default()).0,
                task: None,
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
            Trigger::Boot => {
                if row.desired == Desired::Stopped {
                    self.settle_from_store(&app, &rev, State::Stopped).await?;
                    return Ok(());
                }
                // A command that ran to its end (or was interrupted by the
                // node's own end) is not run again by a restart of the node.
                if rev.app_type == AppType::Command.as_str() {
                    let name = app.clone();
                    let number = rev.number;
                    let last = db(&self.shared.store, move |s| s.last_run(&name, number)).await?;
                    if let Some(run) = last {
                        let state = if run.exit_code == Some(0) {
                            State::Completed
                        } else {
                            State::Failed
                        };
                        self.settle_from_store(&app, &rev, state).await?;
                        return Ok(());
                    }
                }
            }
            _ => {}
        }
        self.stop_task(&app).await;
        let prepared = match self.prepare(&app, &rev).await {
            Ok(p) => p,
            Err(e) => {
                let reason = e.to_string();
                live.send_modify(|l| {
                    l.revision = rev.number;
                    l.state = State::Failed;
                    l.reason = Some(reason.clone());
                    l.exit_code = None;
                });
                let name = app.clone();
                let number = rev.number;
                db(&self.shared.store, move |s| {
                    s.add_event(&name, Some(number), "failed", &reason)
                })
                .await?;
                return Err(e);
            }
        };
        if prepared.manifest.app_type == AppType::Http {
            return self.serve(prepared, &live).await;
        }
        // Its revision before may have been an HTTP app.
        self.unserve(&app);
        let restart = (prepared.manifest.app_type == AppType::Service)
            .then(|| prepared.manifest.restart_policy().as_str().to_string());
        live.send_modify(|l| {
            l.restart = restart;
            l.route = None;
            l.revision = rev.number;
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
        Ok(())
    }

    /// Whether the app's `revision` is served now.
    fn served(&self, app: &str, revision: u32) -> bool {
        let is_served = self
            .shared
            .http
            .as_ref()
            .is_some_and(|h| h.routes().iter().any(|(_, name)| name == app));
        is_served
            && self.live(app).is_some_and(|l| {
                l.revision == revision && l.state == State::Running && l.route.is_some()
            })
    }

    /// Takes the app off the HTTP server, if it is on it; its requests in
    /// flight finish.
    fn unserve(&self, app: &str) {
        if let Some(http) = &self.shared.http {
            http.remove(app);
        }
    }

    /// Puts an HTTP app's revision on the node's HTTP server, in place of
    /// its revision before, if any.
    async fn serve(&self, app: Prepared, live: &watch::Sender<Live>) -> Result<(), NodeError> {
        let route = app.manifest.http_settings().route;
        live.send_modify(|l| {
            l.restart = None;
            l.revision = app.revision;
            l.state = State::Starting;
            l.reason = None;
            l.exit_code = None;
            l.next_start_at = None;
            l.ended_at = None;
            l.control = None;
            l.route = Some(route.clone());
        });
        let (name, revision) = (app.name.clone(), app.revision);
        let put = match &self.shared.http {
            None => Err(no_http_port(&name)),
            Some(http) => {
                let http = http.clone();
                let shared = self.shared.clone();
                tokio::task::spawn_blocking(move || put_app(&shared, &http, &app))
                    .await
                    .map_err(|e| format!("a task failed: {e}"))
                    .and_then(|r| r)
            }
        };
        match put {
            Ok(served) => {
                let log = self.shared.logs.app(&name).sink(revision);
                for w in &served.warnings {
                    eprintln!("qyv daemon: {name}: {w}");
                    qyvol_runtime::OutputSink::write(
                        &*log,
                        qyvol_runtime::StdStream::Stderr,
                        format!("qyv: {w}\n").as_bytes(),
                    );
                }
                live.send_modify(|l| {
                    l.state = State::Running;
                    l.started_at = Some(crate::time::now_ms());
                });
                let code = match served.code {
                    CodeSource::Precompiled => "the bundle's precompiled code",
                    CodeSource::CacheHit => "code from the node's cache",
                    _ => "code compiled now",
                };
                let message = format!(
                    "revision {revision} served at {route} on the node's HTTP port, with {code}"
                );
                eprintln!("qyv daemon: {name}: {message}");
                db(&self.shared.store, move |s| {
                    s.add_event(&name, Some(revision), "started", &message)
                })
                .await
            }
            Err(reason) => {
                // Not the revision before either: the app is where its
                // state says, failed.
                self.unserve(&name);
                live.send_modify(|l| {
                    l.state = State::Failed;
                    l.reason = Some(reason.clone());
                    l.ended_at = Some(crate::time::now_ms());
                });
                eprintln!("qyv daemon: {name} revision {revision}: {reason}");
                let event = reason.clone();
                db(&self.shared.store, move |s| {
                    s.add_event(&name, Some(revision), "failed", &event)
                })
                .await?;
                Err(NodeError::Internal(reason))
            }
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
            let refused = shared.limits.refusals(&manifest);
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
            eprintln!(
                "qyv daemon: {} revision {}: its last instance was interrupted when the node stopped",
                run.app, run.revision
            );
        }
        let keep = db(&store, |s| s.referenced_digests()).await?;
        let artifacts = self.shared.artifacts.clone();
        let removed = tokio::task::spawn_blocking(move || artifacts.collect_garbage(&keep))
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))??;
        if removed > 0 {
            eprintln!("qyv daemon: removed {removed} bundle(s) no revision uses");
        }
        let apps = db(&store, |s| s.apps()).await?;
        for app in apps {
            let held = self.lock(&app.name).await;
            if let Err(e) = self.apply(&held, Trigger::Boot).await {
                eprintln!("qyv daemon: {}: {e}", app.name);
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
