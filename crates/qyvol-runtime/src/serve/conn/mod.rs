//! The connections of one listener, as every HTTP listener of Qyvol keeps
//! them (`qyv serve`, a node's HTTP port and its API): how long a client
//! may take to send a request's head and how long it may stay idle
//! ([`watch`]), how many connections may be open at once, in all and from
//! one client address, and how they are closed when the server stops
//! ([`drain()`]).
//!
//! At a cap, the connection that has waited longest without a request in
//! flight (idle, or still to send its head) is closed to make room; when
//! every connection is busy, the new one is refused (a plain HTTP listener
//! answers it `503`). Running out of file descriptors sheds the same way.
//! What is shed or refused is logged, at most once a second.

mod descriptors;
mod drain;
#[cfg(test)]
mod tests;
mod watch;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch as signal;

pub use descriptors::{connection_budget, descriptor_limit};
pub use drain::{DEFAULT_DRAIN, Drained, drain, drain_time};
pub use watch::{Finish, Watched, WatchedBody};

use crate::serve::work::{Busy, Work};
use watch::{Clock, State, Timeouts, Tracked};

/// How long a client may take to send a request's head.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may stay idle between requests.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Refused connections answered at once, at most (each holds a descriptor
/// for up to a second).
const MAX_LINGERING: usize = 64;

/// How often at most the connections shed and refused are logged.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// What one listener allows its connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the connect (or, on a kept-alive connection, the first byte of
    /// the next request) to the end of the request's head, TLS handshake
    /// included.
    pub header_timeout: Duration,
    /// Between requests on a kept-alive connection; also how long a request
    /// body may stop arriving and a response wait for the client to read.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one client address; 0: no cap (what
    /// a server behind a proxy needs: every client has the proxy's address).
    pub max_per_client: usize,
}

impl Default for ConnectionLimits {
    /// Those of a server of apps: 4096 connections, no cap per client.
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: 4096,
            max_per_client: 0,
        }
    }
}

impl ConnectionLimits {
    /// Lowers the cap to `budget` connections, if it is above; says so.
    pub fn fit(&mut self, budget: usize) -> Option<String> {
        if self.max_connections <= budget {
            return None;
        }
        let asked = self.max_connections;
        self.max_connections = budget.max(1);
        Some(format!(
            "the limit on open files ({}) leaves room for {} connections: the cap of {asked} is lowered to {}; raise the limit (ulimit -n, or LimitNOFILE= in a systemd unit) to allow more",
            descriptor_limit().map_or("unknown".to_string(), |l| l.to_string()),
            budget,
            self.max_connections
        ))
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            header: self.header_timeout.as_millis() as u64,
            idle: self.idle_timeout.as_millis() as u64,
        }
    }
}

/// What a listener speaks, which decides how it refuses a connection over
/// its caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Plain HTTP: a refused connection is answered `503`.
    Http,
    /// TLS: a refused connection is closed before the handshake.
    Tls,
}

/// The open connections of one listener.
pub struct Connections {
    /// How log lines name the listener.
    label: String,
    limits: ConnectionLimits,
    protocol: Protocol,
    clock: Clock,
    registry: Mutex<Registry>,
    /// Connections alive (shed ones until their task ends).
    live: Arc<Work>,
    /// Refused connections still being answered.
    lingering: Arc<Work>,
    closing: signal::Sender<bool>,
    report: Mutex<Report>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Entry>,
    per_client: HashMap<IpAddr, usize>,
}

struct Entry {
    client: IpAddr,
    state: Arc<State>,
}

/// Why a connection was refused or shed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Cause {
    /// The listener's cap.
    Cap,
    /// The cap per client address.
    ClientCap,
    /// No file descriptor left.
    Descriptors,
}

/// What was shed and refused since the last log line.
#[derive(Default)]
struct Report {
    last: Option<Instant>,
    shed: HashMap<Cause, usize>,
    refused: HashMap<Cause, usize>,
    /// A line is due once the second since the last one is over.
    pending: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new connection was refused: every connection within the cap it met
/// had a request in flight.
#[derive(Debug)]
struct Refused(Cause);

impl Connections {
    /// `label` names the listener in log lines (`API`, `http`); empty for
    /// a server with one listener.
    pub fn new(label: &str, limits: ConnectionLimits, protocol: Protocol) -> Arc<Connections> {
        Arc::new(Connections {
            label: label.to_string(),
            limits,
            protocol,
            clock: Clock::new(),
            registry: Mutex::default(),
            live: Arc::default(),
            lingering: Arc::default(),
            closing: signal::channel(false).0,
            report: Mutex::default(),
        })
    }

    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.live.running()
    }

    /// The next connection the listener admits, with its slot. Errors of
    /// `accept` are waited out (running out of descriptors sheds the
    /// longest waiting connection); connections over a cap are refused.
    pub async fn accept(self: &Arc<Self>, listener: &TcpListener) -> (Watched<TcpStream>, Slot) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                        self.out_of_descriptors();
                    }
                    // A connection reset before it was accepted, or no
                    // descriptor for it yet: the listener itself is fine.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            match self.admit(peer) {
                Ok(slot) => return (Watched::new(stream, slot.state.clone()), slot),
                Err(Refused(cause)) => {
                    self.note(cause, false);
                    if self.protocol == Protocol::Http {
                        self.refuse(stream);
                    }
                }
            }
        }
    }

    fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Slot, Refused> {
        let client = peer.ip();
        let mut registry = lock(&self.registry);
        let max = self.limits.max_per_client;
        if max > 0 && registry.per_client.get(&client).copied().unwrap_or(0) >= max {
            let shed = registry
                .longest_waiting(|e| e.client == client)
                .ok_or(Refused(Cause::ClientCap))?;
            registry.shed(shed);
            self.note(Cause::ClientCap, true);
        }
        if registry.open.len() >= self.limits.max_connections {
            let shed = registry
                .longest_waiting(|_| true)
                .ok_or(Refused(Cause::Cap))?;
            registry.shed(shed);
            self.note(Cause::Cap, true);
        }
        let id = registry.next;
        registry.next += 1;
        let state = Arc::new(State::new(self.clock));
        registry.open.insert(
            id,
            Entry {
                client,
                state: state.clone(),
            },
        );
        *registry.per_client.entry(client).or_default() += 1;
        Ok(Slot {
            conns: self.clone(),
            id,
            state,
            _live: self.live.start(),
        })
    }

    fn out_of_descriptors(self: &Arc<Self>) {
        let mut registry = lock(&self.registry);
        if let Some(id) = registry.longest_waiting(|_| true) {
            registry.shed(id);
            self.note(Cause::Descriptors, true);
        } else {
            self.note(Cause::Descriptors, false);
        }
    }

    /// Counts a connection shed or refused, and logs the counts at most
    /// once a second: what comes within a second of a line is told a
    /// second after it.
    fn note(self: &Arc<Self>, cause: Cause, shed: bool) {
        let mut report = lock(&self.report);
        *if shed {
            report.shed.entry(cause).or_default()
        } else {
            report.refused.entry(cause).or_default()
        } += 1;
        let wait = report
            .last
            .map(|t| REPORT_EVERY.saturating_sub(t.elapsed()))
            .unwrap_or_default();
        if wait.is_zero() {
            self.log(&mut report);
        } else if !report.pending {
            report.pending = true;
            let this = self.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    tokio::time::sleep(wait).await;
                    let mut report = lock(&this.report);
                    this.log(&mut report);
                });
            }
        }
    }

    fn log(&self, report: &mut Report) {
        report.pending = false;
        if report.shed.is_empty() && report.refused.is_empty() {
            return;
        }
        report.last = Some(Instant::now());
        let line = self.describe(report);
        report.shed.clear();
        report.refused.clear();
        if self.label.is_empty() {
            tracing::warn!("{line}");
        } else {
            tracing::warn!(listener = self.label, "{}: {line}", self.label);
        }
    }

    fn describe(&self, report: &Report) -> String {
        let cap = |cause: Cause| match cause {
            Cause::Cap => format!("the cap of {} connections", self.limits.max_connections),
            Cause::ClientCap => format!(
                "the cap of {} connections per client address",
                self.limits.max_per_client
            ),
            Cause::Descriptors => format!(
                "the limit on open files ({})",
                descriptor_limit().map_or("unknown".to_string(), |l| l.to_string())
            ),
        };
        let mut parts = Vec::new();
        for (cause, n) in &report.shed {
            parts.push(format!(
                "closed {n} connection{} waiting without a request, to stay within {}",
                if *n == 1 { "" } else { "s" },
                cap(*cause)
            ));
        }
        for (cause, n) in &report.refused {
            parts.push(format!(
                "refused {n} new connection{}: {} reached with every connection busy",
                if *n == 1 { "" } else { "s" },
                cap(*cause)
            ));
        }
        format!("{} ({} open)", parts.join("; "), self.open())
    }

    /// Starts closing: each connection finishes its request in flight and
    /// closes; idle ones close now. Timeouts still apply meanwhile.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Tells when the listener starts closing.
    pub fn closing(&self) -> Closing {
        Closing(self.closing.subscribe())
    }

    /// Returns once every connection has closed.
    pub async fn closed(&self) {
        self.live.idle().await
    }

    /// Closes every connection left now; returns how many there were.
    pub fn cut(&self) -> usize {
        let registry = lock(&self.registry);
        for entry in registry.open.values() {
            entry.state.kill.notify_one();
        }
        self.open()
    }
}

impl Registry {
    /// The connection that has waited longest without a request in flight,
    /// among those `which` accepts.
    fn longest_waiting(&self, which: impl Fn(&Entry) -> bool) -> Option<u64> {
        self.open
            .iter()
            .filter(|(_, e)| which(e))
            .filter_map(|(id, e)| e.state.waiting_since().map(|since| (since, *id)))
            .min()
            .map(|(_, id)| id)
    }

    /// Closes connection `id` and counts it out at once, so that the one
    /// that takes its place fits.
    fn shed(&mut self, id: u64) {
        if let Some(entry) = self.remove(id) {
            entry.state.kill.notify_one();
        }
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.open.remove(&id)?;
        if let Some(n) = self.per_client.get_mut(&entry.client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&entry.client);
            }
        }
        Some(entry)
    }
}

impl Connections {
    /// Answers a refused plain HTTP connection `503`, then reads what the
    /// client sent (for a moment, on a task of its own) before closing: a
    /// socket closed with unread data is reset, and the answer lost with
    /// it. Refusals linger only so many at once; past that the connection
    /// is just closed.
    fn refuse(self: &Arc<Self>, stream: TcpStream) {
        const LINGER: Duration = Duration::from_secs(1);
        let body = "the server has too many connections open; try again later\n";
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.try_write(response.as_bytes()).is_err() {
            return;
        }
        if self.lingering.running() >= MAX_LINGERING {
            return;
        }
        let lingering = self.lingering.start();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = stream;
            let _ = stream.shutdown().await;
            let mut sink = [0; 4096];
            let _ = tokio::time::timeout(LINGER, async {
                while let Ok(n) = stream.read(&mut sink).await
                    && n > 0
                {}
            })
            .await;
            drop(lingering);
        });
    }
}

/// Tells when a listener starts closing: answers that would go on forever
/// (a log followed) end then, rather than at the drain's deadline.
#[derive(Clone)]
pub struct Closing(signal::Receiver<bool>);

impl Closing {
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|c| *c).await;
    }
}

/// One admitted connection: its place under the caps, and its watchdog.
/// Dropping it counts the connection out.
pub struct Slot {
    conns: Arc<Connections>,
    id: u64,
    state: Arc<State>,
    _live: Busy,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.conns.registry).remove(self.id);
    }
}

impl Slot {
    /// Runs `work` (a TLS handshake) under the connection's watch: `None`
    /// when a timeout passed or the connection was shed or cut first.
    pub async fn guard<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            out = work => Some(out),
            _ = self.ended() => None,
        }
    }

    /// Serves the connection's HTTP/1.1 requests with `service` until the
    /// client leaves, a timeout passes, or the listener closes it; when the
    /// listener starts closing, the request in flight finishes first.
    pub async fn serve<I, S, B>(self, io: I, service: S)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
        S: hyper::service::Service<Request<WatchedBody<Incoming>>, Response = Response<B>>
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: http_body::Body + Unpin + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let service = Tracked {
            inner: service,
            state: self.state.clone(),
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(io, service);
        tokio::pin!(conn);
        let mut closing = self.conns.closing.subscribe();
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = self.ended() => return,
            _ = closing.wait_for(|c| *c) => {}
        }
        conn.as_mut().graceful_shutdown();
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = self.ended() => {}
        }
    }

    /// Returns when the connection is to be closed: a timeout passed, or
    /// it was shed or cut.
    async fn ended(&self) {
        let timeouts = self.conns.limits.timeouts();
        // A deadline set from now on is at least this far away, so looking
        // again this often never misses one (a head's deadline may give way
        // to a nearer idle one, a request in flight have none at all).
        let recheck = timeouts.header.min(timeouts.idle).max(1);
        loop {
            let now = self.conns.clock.now();
            let wake = match self.state.deadline(timeouts) {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => deadline.min(now + recheck),
                None => now + recheck,
            };
            tokio::select! {
                _ = tokio::time::sleep_until(self.conns.clock.instant(wake)) => {}
                _ = self.state.kill.notified() => return,
            }
        }
    }
}
