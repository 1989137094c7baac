//! The listener: binds the address, accepts connections within the
//! listener's limits ([`conn`](super::conn)) and serves their requests
//! ([`request`](super::request)) until told to stop, then stops accepting,
//! lets the requests in flight finish until the drain's deadline, closes
//! what is left and returns.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qyvol_manifest::format_duration;
use tokio::sync::Notify;
use wasmtime_wasi_http::io::TokioIo;

use crate::serve::app::ServeApp;
use crate::serve::conn::{
    ConnectionLimits, Connections, Drained, Protocol, connection_budget, drain, drain_time,
};
use crate::serve::error::ServeError;
use crate::serve::request::Requests;
use crate::serve::table::{Apps, ServeHandle};

/// How the server is reached, what it allows its connections and what it
/// logs.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub addr: SocketAddr,
    /// One log line per request (method, path, status, time), not only per
    /// failure.
    pub log_requests: bool,
    /// Timeouts and caps of the connections.
    pub limits: ConnectionLimits,
    /// How long a stop waits for the requests in flight; `None`: 10 s, or
    /// the longest `limits.timeout` of the apps served.
    pub drain: Option<Duration>,
    /// How the server's own log lines about its connections name its
    /// listener (`http`); empty when it has only one.
    pub label: String,
}

impl ServerOptions {
    /// On `addr`, with the default limits.
    pub fn new(addr: SocketAddr) -> ServerOptions {
        ServerOptions {
            addr,
            log_requests: false,
            limits: ConnectionLimits::default(),
            drain: None,
            label: String::new(),
        }
    }
}

/// What a server did, once it has stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeSummary {
    pub requests: u64,
    /// Requests still running when the server stopped waiting for them.
    pub unfinished: usize,
    /// How the wait for what was in flight ended.
    pub drain: Drained,
    /// How long the server would wait.
    pub drain_limit: Duration,
}

impl ServeSummary {
    /// What to say about a wait cut short; `None` when everything in flight
    /// finished.
    pub fn drain_report(&self) -> Option<String> {
        let (why, cut) = match self.drain {
            Drained::Finished => return None,
            Drained::DeadlinePassed { cut } => (
                format!(
                    "the wait for the requests in flight reached its limit of {}",
                    format_duration(self.drain_limit)
                ),
                cut,
            ),
            Drained::Forced { cut } => (
                "the wait for the requests in flight was cut short".to_string(),
                cut,
            ),
        };
        Some(format!(
            "{why}: closed {cut} connection{} and left {} request{} unfinished",
            if cut == 1 { "" } else { "s" },
            self.unfinished,
            if self.unfinished == 1 { "" } else { "s" },
        ))
    }
}

/// Loaded apps on a bound listener, ready to serve.
pub struct Server {
    requests: Arc<Requests>,
    listener: std::net::TcpListener,
    conns: Arc<Connections>,
    drain: Option<Duration>,
    runtime: tokio::runtime::Runtime,
    warnings: Vec<String>,
}

impl Server {
    /// Loads every app (compiling or mapping cached code), checks that
    /// names and routes are unique, and binds the listener.
    pub fn bind(apps: Vec<ServeApp>, options: ServerOptions) -> Result<Server, ServeError> {
        if apps.is_empty() {
            return Err(ServeError::NoApps);
        }
        let table = Arc::new(Apps::default());
        let warnings = table.load(apps)?;
        let mut server = Server::listen_with(table, options)?;
        server.warnings.extend(warnings);
        Ok(server)
    }

    /// Binds the listener with no app yet: a host that serves apps as they
    /// come and go adds them through [`Server::handle`]. Until then every
    /// path is 404.
    pub fn listen(options: ServerOptions) -> Result<Server, ServeError> {
        Server::listen_with(Arc::default(), options)
    }

    fn listen_with(apps: Arc<Apps>, options: ServerOptions) -> Result<Server, ServeError> {
        let ServerOptions {
            addr,
            log_requests,
            mut limits,
            drain,
            label,
        } = options;
        let warnings: Vec<String> = limits.fit(connection_budget()).into_iter().collect();
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("qyv-serve")
            .build()
            .map_err(|e| ServeError::Start(e.to_string()))?;
        Ok(Server {
            requests: Requests::new(apps, log_requests),
            listener,
            conns: Connections::new(&label, limits, Protocol::Http),
            drain,
            runtime,
            warnings,
        })
    }

    /// A handle that changes the apps served, before or while the server
    /// runs.
    pub fn handle(&self) -> ServeHandle {
        ServeHandle {
            apps: self.requests.apps.clone(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Each route and the app behind it, in the order the apps were given.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.handle().routes()
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
            requests,
            listener,
            conns,
            drain: configured,
            runtime,
            ..
        } = self;
        let summary = runtime.block_on(async {
            listener
                .set_nonblocking(true)
                .map_err(|e| ServeError::Start(e.to_string()))?;
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| ServeError::Start(e.to_string()))?;
            tokio::pin!(stop);
            loop {
                let (stream, slot) = tokio::select! {
                    _ = &mut stop => break,
                    accepted = conns.accept(&listener) => accepted,
                };
                let requests = requests.clone();
                let service = hyper::service::service_fn(move |request| {
                    let requests = requests.clone();
                    async move { Ok::<_, Infallible>(requests.handle(request).await) }
                });
                tokio::spawn(slot.serve(TokioIo::new(stream), service));
            }
            drop(listener);
            let limit = drain_time(configured, requests.apps.longest_timeout());
            let drained = drain(&conns, requests.work.idle(), Instant::now() + limit, force).await;
            Ok(ServeSummary {
                requests: requests.count(),
                unfinished: requests.work.running(),
                drain: drained,
                drain_limit: limit,
            })
        });
        requests.apps.clock.stop();
        // Guests still running after the drain are abandoned, not awaited.
        runtime.shutdown_background();
        summary
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};
    use std::sync::{Condvar, Mutex, MutexGuard};

    use tokio::sync::oneshot;

    use super::*;
    use crate::cache::CodeCache;
    use crate::output::{OutputSink, StdStream, Stdio};

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

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
        let server = Server::listen(ServerOptions::new("127.0.0.1:0".parse().unwrap())).unwrap();
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

    #[test]
    fn the_epoch_clock_starts_with_the_first_app_that_has_a_time_limit() {
        let cache = tempfile::tempdir().unwrap();
        let out = Arc::new(Written::default());
        let server = Server::bind(
            vec![app("a", "/a", cache.path(), &out)],
            ServerOptions::new("127.0.0.1:0".parse().unwrap()),
        )
        .unwrap();
        let handle = server.handle();
        assert!(!handle.apps.clock.running());
        handle.put(app("b", "/b", cache.path(), &out)).unwrap();
        assert!(!handle.apps.clock.running());
        let mut timed = app("c", "/c", cache.path(), &out);
        timed.spec.timeout = Some(Duration::from_secs(5));
        handle.put(timed).unwrap();
        assert!(handle.apps.clock.running());
    }
}
