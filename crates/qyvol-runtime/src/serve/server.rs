//! The listener, the request path, the table of apps and the shutdown.
//!
//! The apps served are a table (apps and their router) that a
//! [`ServeHandle`] can change while the server serves: a new app is loaded
//! outside any lock, then the table is swapped whole. A request works on the
//! table it was routed with, so one in flight finishes on the app it
//! started on even when that app is replaced or removed meanwhile.
//!
//! A request is routed to its app, waits for a place in the app's queue,
//! then runs on its own task: a warm instance or a fresh one from the
//! pre-linked component, bounded by `limits.timeout`. The response goes
//! back as soon as the guest sets it; the guest may go on writing the body.
//! When the guest fails before answering, the way it ended picks the status
//! (504 for the time limit, 500 otherwise) and is logged with the request
//! id.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use qyvol_manifest::format_duration;
use tokio::sync::{Notify, oneshot};
use wasmtime::Engine;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::{Error, WasiHttpView};

use crate::metrics::CodeSource;
use crate::outcome::{LimiterView, Outcome, classify, explain};
use crate::serve::app::{LoadedApp, ServeApp, Warm};
use crate::serve::error::ServeError;
use crate::serve::outgoing::SERVICE_DOMAIN;
use crate::serve::responses::{self, Body};
use crate::serve::router::Router;
use crate::spec::RunSpec;

/// How often the epoch clock ticks for apps with a time limit: the
/// resolution of `limits.timeout`, and how often a busy guest yields.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How the server is reached and what it logs.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub addr: SocketAddr,
    /// One log line per request (method, path, status, time), not only per
    /// failure.
    pub log_requests: bool,
}

/// What a server did, once it has stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeSummary {
    pub requests: u64,
    /// Requests still running when a second signal cut the wait short.
    pub unfinished: usize,
}

/// Loaded apps on a bound listener, ready to serve.
pub struct Server {
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    runtime: tokio::runtime::Runtime,
    warnings: Vec<String>,
}

/// Everything a request needs, shared by the connections and the guests'
/// outgoing calls.
pub(crate) struct Shared {
    table: RwLock<Arc<Table>>,
    /// Apps whose engines the epoch clock advances: every app loaded with a
    /// time limit, for as long as it is served or a request still uses it.
    timed: Mutex<Vec<Weak<LoadedApp>>>,
    next_id: AtomicU64,
    log_requests: bool,
    work: Arc<Work>,
    me: Weak<Shared>,
}

/// The apps served at one moment, and which route leads to which.
#[derive(Default)]
struct Table {
    apps: Vec<Arc<LoadedApp>>,
    router: Router,
}

impl Table {
    fn new(apps: Vec<Arc<LoadedApp>>) -> Table {
        let router = Router::new(
            apps.iter()
                .enumerate()
                .map(|(i, a)| (a.http.route.clone(), i)),
        );
        Table { apps, router }
    }

    fn routes(&self) -> Vec<(String, String)> {
        self.apps
            .iter()
            .map(|a| (a.http.route.clone(), a.name.to_string()))
            .collect()
    }
}

/// An app [`ServeHandle::put`] serves now.
#[derive(Clone, Debug)]
pub struct Served {
    /// Things to tell the user that did not stop it.
    pub warnings: Vec<String>,
    /// Where its machine code came from.
    pub code: CodeSource,
}

/// Changes the apps of a server while it serves; cheap to clone.
#[derive(Clone)]
pub struct ServeHandle {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// Loads every app (compiling or mapping cached code), checks that
    /// names and routes are unique, and binds the listener.
    pub fn bind(apps: Vec<ServeApp>, options: ServerOptions) -> Result<Server, ServeError> {
        if apps.is_empty() {
            return Err(ServeError::NoApps);
        }
        check_unique(&apps)?;
        let mut loaded = Vec::with_capacity(apps.len());
        let mut warnings = Vec::new();
        for app in apps {
            let (app, w) = LoadedApp::load(app)?;
            warnings.extend(w);
            loaded.push(Arc::new(app));
        }
        let mut server = Server::listen(options)?;
        server.shared.add_timed(&loaded);
        *server
            .shared
            .table
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(Table::new(loaded));
        server.warnings = warnings;
        Ok(server)
    }

    /// Binds the listener with no app yet: a host that serves apps as they
    /// come and go adds them through [`Server::handle`]. Until then every
    /// path is 404.
    pub fn listen(options: ServerOptions) -> Result<Server, ServeError> {
        let listener = bind(options.addr)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("qyv-serve")
            .build()
            .map_err(|e| ServeError::Start(e.to_string()))?;
        let shared = Arc::new_cyclic(|me| Shared {
            table: RwLock::default(),
            timed: Mutex::default(),
            next_id: AtomicU64::new(0),
            log_requests: options.log_requests,
            work: Arc::default(),
            me: me.clone(),
        });
        Ok(Server {
            shared,
            listener,
            runtime,
            warnings: Vec::new(),
        })
    }

    /// A handle that changes the apps served, before or while the server
    /// runs.
    pub fn handle(&self) -> ServeHandle {
        ServeHandle {
            shared: self.shared.clone(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Each route and the app behind it, in the order the apps were given.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.shared.table().routes()
    }

    /// Things to tell the user that did not stop the server.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Serves until SIGINT or SIGTERM, then stops accepting, lets the
    /// requests in flight finish and returns. A second signal stops waiting.
    pub fn run(self) -> Result<ServeSummary, ServeError> {
        let (first, second) = self.runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let interrupt = signal(SignalKind::interrupt());
            let terminate = signal(SignalKind::terminate());
            (interrupt, terminate)
        });
        let (mut interrupt, mut terminate) = match (first, second) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                return Err(ServeError::Start(format!("cannot watch for signals: {e}")));
            }
        };
        let signals = Arc::new(Notify::new());
        let watcher = {
            let signals = signals.clone();
            async move {
                loop {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                    signals.notify_one();
                }
            }
        };
        let stop = {
            let signals = signals.clone();
            async move { signals.notified().await }
        };
        let force = async move { signals.notified().await };
        let handle = self.runtime.spawn(watcher);
        let summary = self.run_until(stop, force);
        handle.abort();
        summary
    }

    /// Serves until `stop` resolves, then drains like [`Server::run`];
    /// `force` ends the drain early.
    pub fn run_until(
        self,
        stop: impl Future<Output = ()> + Send,
        force: impl Future<Output = ()> + Send,
    ) -> Result<ServeSummary, ServeError> {
        let Server {
            shared,
            listener,
            runtime,
            ..
        } = self;
        let ticker = EpochTicker::start(Arc::downgrade(&shared));
        let summary = runtime.block_on(async {
            listener
                .set_nonblocking(true)
                .map_err(|e| ServeError::Start(e.to_string()))?;
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| ServeError::Start(e.to_string()))?;
            let (closing_tx, closing) = tokio::sync::watch::channel(false);
            tokio::pin!(stop);
            loop {
                let (stream, _) = tokio::select! {
                    _ = &mut stop => break,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        // Out of descriptors or a connection reset before
                        // accept: the listener itself is fine.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let closing = closing.clone();
                let busy = shared.work.start();
                tokio::spawn(async move {
                    connection(shared, stream, closing).await;
                    drop(busy);
                });
            }
            drop(listener);
            let _ = closing_tx.send(true);
            tokio::select! {
                _ = shared.work.idle() => {}
                _ = force => {}
            }
            Ok(ServeSummary {
                requests: shared.next_id.load(Ordering::Acquire),
                unfinished: shared.work.running(),
            })
        });
        drop(ticker);
        // Guests still running after a forced stop are abandoned, not
        // awaited.
        runtime.shutdown_background();
        summary
    }
}

fn check_unique(apps: &[ServeApp]) -> Result<(), ServeError> {
    for (i, app) in apps.iter().enumerate() {
        for earlier in &apps[..i] {
            if earlier.name == app.name {
                return Err(ServeError::DuplicateName {
                    name: app.name.clone(),
                    first: label(&earlier.name, &earlier.spec),
                    second: label(&app.name, &app.spec),
                });
            }
            check_route(&earlier.name, &earlier.spec, &earlier.http.route, app)?;
        }
    }
    Ok(())
}

/// How errors name an app: its name and its file.
fn label(name: &str, spec: &RunSpec) -> String {
    format!("{name} ({})", spec.wasm.display())
}

/// `app` may not take the route of another app (`name`, `spec`, `route`).
fn check_route(name: &str, spec: &RunSpec, route: &str, app: &ServeApp) -> Result<(), ServeError> {
    if route == app.http.route {
        return Err(ServeError::DuplicateRoute {
            route: app.http.route.clone(),
            first: label(name, spec),
            second: label(&app.name, &app.spec),
        });
    }
    Ok(())
}

impl ServeHandle {
    /// Serves `app`, in place of the app of the same name if there is one:
    /// loads it (compiling or mapping cached code) with no lock held, then
    /// swaps the table. Requests already routed to the app it replaces
    /// finish there; the next ones go to the new one. Fails, changing
    /// nothing, when the app cannot be loaded or another app has its route.
    pub fn put(&self, app: ServeApp) -> Result<Served, ServeError> {
        // Checked before the work of loading, and again at the swap, which
        // is what counts when two changes race.
        self.check(&app)?;
        let (loaded, warnings) = LoadedApp::load(app)?;
        let loaded = Arc::new(loaded);
        let mut table = self.shared.table.write().unwrap_or_else(|p| p.into_inner());
        for other in table.apps.iter().filter(|a| a.name != loaded.name) {
            check_loaded(other, &loaded)?;
        }
        let mut apps: Vec<Arc<LoadedApp>> = table
            .apps
            .iter()
            .filter(|a| a.name != loaded.name)
            .cloned()
            .collect();
        apps.push(loaded.clone());
        *table = Arc::new(Table::new(apps));
        drop(table);
        let code = loaded.code;
        self.shared.add_timed(&[loaded]);
        Ok(Served { warnings, code })
    }

    /// Whether `app` could be served next to the apps served now (another
    /// app has its route).
    pub fn check(&self, app: &ServeApp) -> Result<(), ServeError> {
        let table = self.shared.table();
        for other in table.apps.iter().filter(|a| *a.name != app.name) {
            check_route(&other.name, other.spec(), &other.http.route, app)?;
        }
        Ok(())
    }

    /// Stops serving the app named `name`; its requests in flight finish.
    /// Whether it was served.
    pub fn remove(&self, name: &str) -> bool {
        let mut table = self.shared.table.write().unwrap_or_else(|p| p.into_inner());
        if !table.apps.iter().any(|a| &*a.name == name) {
            return false;
        }
        let apps = table
            .apps
            .iter()
            .filter(|a| &*a.name != name)
            .cloned()
            .collect();
        *table = Arc::new(Table::new(apps));
        true
    }

    /// Each route and the app behind it.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.shared.table().routes()
    }

    /// Requests routed to each app served now, since it was put in.
    pub fn requests(&self) -> Vec<(String, u64)> {
        self.shared
            .table()
            .apps
            .iter()
            .map(|a| (a.name.to_string(), a.requests.load(Ordering::Relaxed)))
            .collect()
    }
}

fn check_loaded(other: &LoadedApp, new: &LoadedApp) -> Result<(), ServeError> {
    if other.http.route == new.http.route {
        return Err(ServeError::DuplicateRoute {
            route: new.http.route.clone(),
            first: label(&other.name, other.spec()),
            second: label(&new.name, new.spec()),
        });
    }
    Ok(())
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ServeError> {
    std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })
}

/// Serves one connection's requests until the client leaves or the server
/// closes; then finishes the request in flight and closes.
async fn connection(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(shared.handle(request).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = closing.wait_for(|c| *c) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// How a guest's run ended, for the request that waits on it.
enum End {
    /// `handle` returned.
    Returned,
    /// It failed; the failure is logged already.
    Failed(Outcome),
}

impl Shared {
    /// The apps served now.
    fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn add_timed(&self, apps: &[Arc<LoadedApp>]) {
        let mut timed = lock(&self.timed);
        timed.extend(
            apps.iter()
                .filter(|a| a.options.epoch_interruption)
                .map(Arc::downgrade),
        );
    }

    /// The engines to advance now; forgets apps nothing uses any more.
    fn timed_engines(&self) -> Vec<Engine> {
        let mut timed = lock(&self.timed);
        let mut engines = Vec::with_capacity(timed.len());
        timed.retain(|app| match app.upgrade() {
            Some(app) => {
                engines.push(app.engine.clone());
                true
            }
            None => false,
        });
        engines
    }

    /// A request from the listener.
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let id = self.next_id.fetch_add(1, Ordering::AcqRel) + 1;
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let table = self.table();
        let Some(index) = table.router.find(&path) else {
            let message = if table.apps.is_empty() {
                format!("no app is served at {path}: no app is served here now")
            } else {
                let routes: Vec<String> = table
                    .apps
                    .iter()
                    .map(|a| format!("{} ({})", a.http.route, a.name))
                    .collect();
                format!("no app is served at {path}; routes: {}", routes.join(", "))
            };
            return responses::text(StatusCode::NOT_FOUND, id, &message);
        };
        let app = table.apps[index].clone();
        drop(table);
        app.requests.fetch_add(1, Ordering::Relaxed);
        if request.uri().authority().is_none()
            && !request.headers().contains_key(http::header::HOST)
        {
            return responses::text(
                StatusCode::BAD_REQUEST,
                id,
                "the request has no Host header",
            );
        }
        let response = self.serve(&app, request, id, 0).await;
        if self.log_requests {
            app.log(
                id,
                &format!(
                    "{method} {path} {} in {:.2} ms",
                    response.status().as_u16(),
                    started.elapsed().as_secs_f64() * 1e3
                ),
            );
        }
        response
    }

    /// A request from an app to `http://NAME.service/`.
    pub(crate) async fn call(
        &self,
        name: &str,
        request: Request<wasmtime_wasi_http::WasiBody>,
        id: u64,
        hops: u32,
    ) -> Response<Body> {
        let table = self.table();
        match table.apps.iter().find(|a| &*a.name == name).cloned() {
            Some(app) => {
                drop(table);
                self.serve(&app, request, id, hops).await
            }
            None => {
                let names: Vec<&str> = table.apps.iter().map(|a| &*a.name).collect();
                responses::text(
                    StatusCode::BAD_GATEWAY,
                    id,
                    &format!(
                        "no app named {name:?} is served here, so http://{name}{SERVICE_DOMAIN}/ leads nowhere; apps on this server: {}",
                        names.join(", ")
                    ),
                )
            }
        }
    }

    /// Runs `request` on an instance of `app` and returns its response, or
    /// the server's own when the app could not answer.
    async fn serve<B>(
        &self,
        app: &Arc<LoadedApp>,
        request: Request<B>,
        id: u64,
        hops: u32,
    ) -> Response<Body>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Error>,
    {
        let what = format!("{} {}", request.method(), request.uri().path());
        let permit = match app.admission.enter().await {
            Ok(p) => p,
            Err(full) => {
                let message = format!(
                    "{} is busy: {} requests running and {} waiting (http.concurrency, http.queue); try again later",
                    app.name, full.running, full.waiting
                );
                app.log(id, &format!("{what}: 503: {message}"));
                return responses::text(StatusCode::SERVICE_UNAVAILABLE, id, &message);
            }
        };
        let (sender, receiver) = oneshot::channel();
        let busy = self.work.start();
        let guest = {
            let app = app.clone();
            let me = self.me.clone();
            let what = what.clone();
            tokio::spawn(async move {
                let end = run_guest(&app, me, request, sender, id, hops, &what).await;
                drop(permit);
                drop(busy);
                end
            })
        };
        match receiver.await {
            Ok(Ok(mut response)) => {
                responses::tag(&mut response, id);
                response
            }
            Ok(Err(code)) => {
                let message = format!("{} answered with an error: {}", app.name, describe(&code));
                app.log(id, &format!("{what}: 500: {message}"));
                responses::text(StatusCode::INTERNAL_SERVER_ERROR, id, &message)
            }
            Err(_) => match guest.await {
                Ok(End::Failed(Outcome::TimedOut { limit, .. })) => responses::text(
                    StatusCode::GATEWAY_TIMEOUT,
                    id,
                    &format!(
                        "{} did not answer within {} (limits.timeout)",
                        app.name,
                        format_duration(limit)
                    ),
                ),
                Ok(End::Failed(_)) => responses::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    id,
                    &format!(
                        "{} failed while handling the request; the server log has the details",
                        app.name
                    ),
                ),
                Ok(End::Returned) => {
                    let message = format!("{} returned without sending a response", app.name);
                    app.log(id, &format!("{what}: 500: {message}"));
                    responses::text(StatusCode::INTERNAL_SERVER_ERROR, id, &message)
                }
                Err(e) => {
                    let message = format!("{} stopped unexpectedly: {e}", app.name);
                    app.log(id, &format!("{what}: 500: {message}"));
                    responses::text(StatusCode::INTERNAL_SERVER_ERROR, id, &message)
                }
            },
        }
    }
}

type Sender = oneshot::Sender<Result<Response<Body>, ErrorCode>>;

/// Why a guest's run stopped short.
enum Stop {
    Wasm(wasmtime::Error),
    TimedOut(Duration),
}

/// Runs one request on a warm or fresh instance; logs a failure.
async fn run_guest<B>(
    app: &Arc<LoadedApp>,
    server: Weak<Shared>,
    request: Request<B>,
    sender: Sender,
    id: u64,
    hops: u32,
    what: &str,
) -> End
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Error>,
{
    let (mut store, proxy, served) = match app.take_warm() {
        Some(Warm {
            store,
            proxy,
            served,
        }) => (store, Some(proxy), served),
        None => match app.new_store(server) {
            Ok(store) => (store, None, 0),
            Err(e) => {
                let outcome = Outcome::Trapped {
                    reason: e.to_string(),
                    backtrace: Vec::new(),
                };
                app.log(id, &format!("{what}: {e}"));
                return End::Failed(outcome);
            }
        },
    };
    let spec = app.spec();
    {
        let host = store.data_mut();
        host.request.store(id, Ordering::Relaxed);
        host.outgoing.request = id;
        host.outgoing.hops = hops;
    }
    if app.options.epoch_interruption {
        store.set_epoch_deadline(1);
    }
    if let Some(fuel) = spec.fuel
        && let Err(e) = store.set_fuel(fuel)
    {
        app.log(id, &format!("{what}: {e}"));
    }
    let resources = {
        let mut http = store.data_mut().http();
        http.new_incoming_request(Scheme::Http, request)
            .and_then(|req| Ok((req, http.new_response_outparam(sender)?)))
    };
    let run = async {
        let (req, out) = resources.map_err(Stop::Wasm)?;
        let proxy = match proxy {
            Some(p) => p,
            None => app
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(Stop::Wasm)?,
        };
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
            .map_err(Stop::Wasm)?;
        Ok(proxy)
    };
    let result = match spec.timeout {
        Some(limit) => tokio::time::timeout(limit, run)
            .await
            .unwrap_or(Err(Stop::TimedOut(limit))),
        None => run.await,
    };
    match result {
        Ok(proxy) => {
            app.keep_warm(Warm {
                store,
                proxy,
                served: served + 1,
            });
            End::Returned
        }
        Err(stop) => {
            let outcome = match stop {
                Stop::TimedOut(limit) => Outcome::TimedOut {
                    limit,
                    blocked: false,
                },
                Stop::Wasm(e) => {
                    let outcome = classify(e, spec);
                    let host = store.data();
                    let limiter = LimiterView {
                        peak: host.limiter.peak(),
                        hit: host.limiter.hit(),
                    };
                    explain(outcome, &limiter, spec, &host.gate)
                }
            };
            let status = match outcome {
                Outcome::TimedOut { .. } => 504,
                _ => 500,
            };
            let report = outcome
                .report(&app.name)
                .unwrap_or_else(|| format!("{} ended ({})", app.name, outcome.exit_code()));
            app.log(id, &format!("{what}: {status}: {report}"));
            End::Failed(outcome)
        }
    }
}

/// A guest's error code in words.
fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::InternalError(Some(m)) => format!("internal error: {m}"),
        other => format!("{other:?}"),
    }
}

/// Counts what is still running (connections, guests), so shutdown can
/// wait for it.
#[derive(Default)]
struct Work {
    running: AtomicUsize,
    done: Notify,
}

/// One running thing; counted out when dropped.
struct Busy(Arc<Work>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.notify_waiters();
        }
    }
}

impl Work {
    fn start(self: &Arc<Self>) -> Busy {
        self.running.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    async fn idle(&self) {
        loop {
            let notified = self.done.notified();
            if self.running() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Advances the epoch of the engines whose apps have a time limit.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(shared: Weak<Shared>) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("qyv-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        let Some(shared) = shared.upgrade() else {
                            return;
                        };
                        for engine in shared.timed_engines() {
                            engine.increment_epoch();
                        }
                    }
                })
                .ok()
        };
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};
    use std::sync::Condvar;

    use super::*;
    use crate::cache::CodeCache;
    use crate::output::{OutputSink, StdStream, Stdio};

    /// What the apps wrote, for waiting until a request is in flight.
    #[derive(Default)]
    struct Written(Mutex<String>, Condvar);

    impl OutputSink for Written {
        fn write(&self, _: StdStream, bytes: &[u8]) {
            lock(&self.0).push_str(&String::from_utf8_lossy(bytes));
            self.1.notify_all();
        }
    }

    impl Written {
        fn wait_for(&self, text: &str) {
            let mut written = lock(&self.0);
            while !written.contains(text) {
                written = self.1.wait(written).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    fn probe() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../qyv/tests/guests/http-probe/http-probe.wasm")
    }

    fn app(name: &str, route: &str, cache: &Path, out: &Arc<Written>) -> ServeApp {
        let mut app = ServeApp::bare(probe());
        app.name = name.into();
        app.http.route = route.into();
        app.spec.env = vec![("ROUTE".into(), route.into())];
        app.spec.cache = Some(CodeCache::new(cache));
        app.spec.stdio = Stdio::Capture(out.clone());
        app
    }

    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
        let (head, mut rest) = raw.split_once("\r\n\r\n").unwrap();
        if !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            return (status, rest.trim_end().to_string());
        }
        let mut body = String::new();
        loop {
            let (size, after) = rest.split_once("\r\n").unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            if size == 0 {
                return (status, body.trim_end().to_string());
            }
            body.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
    }

    #[test]
    fn apps_change_while_it_serves_and_requests_in_flight_finish() {
        let cache = tempfile::tempdir().unwrap();
        let out = Arc::new(Written::default());
        let server = Server::listen(ServerOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            log_requests: false,
        })
        .unwrap();
        let addr = server.local_addr();
        let handle = server.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = std::thread::spawn(move || {
            server.run_until(
                async move {
                    let _ = stopped.await;
                },
                std::future::pending(),
            )
        });

        let (status, body) = get(addr, "/a/hello");
        assert_eq!(status, 404);
        assert!(body.contains("no app is served here now"), "{body}");

        handle.put(app("a", "/a", cache.path(), &out)).unwrap();
        assert_eq!(get(addr, "/a/hello"), (200, "hello from probe".into()));

        // A request routed to `a` before `a` goes finishes on it.
        let slow = std::thread::spawn(move || get(addr, "/a/sleep/100"));
        out.wait_for("sleeping 100");
        handle.put(app("b", "/b", cache.path(), &out)).unwrap();
        assert!(handle.remove("a"));
        assert!(!handle.remove("a"));
        assert_eq!(get(addr, "/a/hello").0, 404);
        assert_eq!(get(addr, "/b/hello"), (200, "hello from probe".into()));
        assert_eq!(slow.join().unwrap(), (200, "slept".into()));

        // Another app may not take a route; the app of the same name is
        // replaced, route and all.
        let err = handle.put(app("c", "/b", cache.path(), &out)).unwrap_err();
        assert!(
            matches!(&err, ServeError::DuplicateRoute { route, .. } if route == "/b"),
            "{err}"
        );
        handle.put(app("b", "/b2", cache.path(), &out)).unwrap();
        assert_eq!(get(addr, "/b/hello").0, 404);
        assert_eq!(get(addr, "/b2/hello"), (200, "hello from probe".into()));
        assert_eq!(handle.routes(), [("/b2".to_string(), "b".to_string())]);
        assert_eq!(handle.requests(), [("b".to_string(), 1)]);

        stop.send(()).unwrap();
        let summary = serving.join().unwrap().unwrap();
        assert_eq!(summary.unfinished, 0);
    }
}
