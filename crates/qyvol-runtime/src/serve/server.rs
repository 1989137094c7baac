//! The listener, the request path and the shutdown.
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
use std::sync::{Arc, Weak};
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

use crate::outcome::Outcome;
use crate::run::{LimiterView, classify, explain};
use crate::serve::app::{LoadedApp, ServeApp, Warm};
use crate::serve::error::ServeError;
use crate::serve::log;
use crate::serve::outgoing::SERVICE_DOMAIN;
use crate::serve::responses::{self, Body};
use crate::serve::router::Router;

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
    apps: Vec<Arc<LoadedApp>>,
    router: Router,
    next_id: AtomicU64,
    log_requests: bool,
    work: Arc<Work>,
    me: Weak<Shared>,
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
        let router = Router::new(
            loaded
                .iter()
                .enumerate()
                .map(|(i, a)| (a.http.route.clone(), i)),
        );
        let listener = bind(options.addr)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("qyv-serve")
            .build()
            .map_err(|e| ServeError::Start(e.to_string()))?;
        let shared = Arc::new_cyclic(|me| Shared {
            apps: loaded,
            router,
            next_id: AtomicU64::new(0),
            log_requests: options.log_requests,
            work: Arc::default(),
            me: me.clone(),
        });
        Ok(Server {
            shared,
            listener,
            runtime,
            warnings,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Each route and the app behind it, in the order the apps were given.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.shared
            .apps
            .iter()
            .map(|a| (a.http.route.clone(), a.name.to_string()))
            .collect()
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
        let ticker = EpochTicker::start(
            shared
                .apps
                .iter()
                .filter(|a| a.options.epoch_interruption)
                .map(|a| a.engine.clone())
                .collect(),
        );
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
            let label = |a: &ServeApp| format!("{} ({})", a.name, a.spec.wasm.display());
            if earlier.name == app.name {
                return Err(ServeError::DuplicateName {
                    name: app.name.clone(),
                    first: label(earlier),
                    second: label(app),
                });
            }
            if earlier.http.route == app.http.route {
                return Err(ServeError::DuplicateRoute {
                    route: app.http.route.clone(),
                    first: label(earlier),
                    second: label(app),
                });
            }
        }
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
    /// A request from the listener.
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let id = self.next_id.fetch_add(1, Ordering::AcqRel) + 1;
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let Some(index) = self.router.find(&path) else {
            let routes: Vec<String> = self
                .apps
                .iter()
                .map(|a| format!("{} ({})", a.http.route, a.name))
                .collect();
            return responses::text(
                StatusCode::NOT_FOUND,
                id,
                &format!("no app is served at {path}; routes: {}", routes.join(", ")),
            );
        };
        let app = self.apps[index].clone();
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
            log::line(
                id,
                &app.name,
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
        match self.apps.iter().find(|a| &*a.name == name) {
            Some(app) => self.serve(&app.clone(), request, id, hops).await,
            None => {
                let names: Vec<&str> = self.apps.iter().map(|a| &*a.name).collect();
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
                log::line(id, &app.name, &format!("{what}: 503: {message}"));
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
                log::line(id, &app.name, &format!("{what}: 500: {message}"));
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
                    log::line(id, &app.name, &format!("{what}: 500: {message}"));
                    responses::text(StatusCode::INTERNAL_SERVER_ERROR, id, &message)
                }
                Err(e) => {
                    let message = format!("{} stopped unexpectedly: {e}", app.name);
                    log::line(id, &app.name, &format!("{what}: 500: {message}"));
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
                log::line(id, &app.name, &format!("{what}: {e}"));
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
        log::line(id, &app.name, &format!("{what}: {e}"));
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
            log::line(id, &app.name, &format!("{what}: {status}: {report}"));
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
    fn start(engines: Vec<Engine>) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = (!engines.is_empty()).then(|| {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("qyv-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        for engine in &engines {
                            engine.increment_epoch();
                        }
                    }
                })
                .ok()
        });
        EpochTicker {
            stop,
            thread: thread.flatten(),
        }
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
