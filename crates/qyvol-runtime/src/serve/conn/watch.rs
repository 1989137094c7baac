//! One connection's clock. A connection is in one of three phases: waiting
//! for a request's head (from its first byte, or from the connect), idle
//! between requests, or busy with a request. The head has the header
//! timeout, the idle time the idle timeout; a busy connection has no limit
//! of its own (the app's `limits.timeout` bounds its work), except that a
//! request body that stops arriving, or a response the client stops
//! reading, may stall for no longer than the idle timeout.
//!
//! The phases are read from what passes through: the socket ([`Watched`]:
//! the first byte after an idle time starts a head, a write that cannot go
//! out starts a stall), the request handed to the service (busy), its body
//! ([`WatchedBody`]: waiting for bytes that do not come) and the end of the
//! response ([`Finish`]: idle again). Each is an atomic store on the
//! connection's own task; the watchdog ([`Slot::ended`](super::Slot))
//! compares them with the clock when its timer fires.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Buf;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Milliseconds since a listener started, the unit of every time below.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock(Instant);

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock(Instant::now())
    }

    pub(crate) fn now(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }

    pub(crate) fn instant(&self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.0 + Duration::from_millis(ms))
    }
}

/// The phases, in the top two bits of [`State::phase`].
const HEAD: u64 = 0;
const IDLE: u64 = 1;
const BUSY: u64 = 2;
const SINCE: u64 = (1 << 62) - 1;

fn pack(phase: u64, since: u64) -> u64 {
    (phase << 62) | (since & SINCE)
}

/// What a connection is doing, and since when.
pub(crate) struct State {
    clock: Clock,
    /// Phase and since when (ms), packed in one word so they change
    /// together.
    phase: AtomicU64,
    /// Since when (ms, plus 1) a request body has been awaited in vain; 0:
    /// it is not.
    body_wait: AtomicU64,
    /// Since when (ms, plus 1) a write has been waiting for the client to
    /// read; 0: none is.
    write_wait: AtomicU64,
    /// Closes the connection now: shed, or cut at the end of a drain.
    pub(crate) kill: Notify,
}

/// The times a listener allows, in ms.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) header: u64,
    pub(crate) idle: u64,
}

impl State {
    /// A connection just accepted: it has a head to send.
    pub(crate) fn new(clock: Clock) -> State {
        State {
            clock,
            phase: AtomicU64::new(pack(HEAD, clock.now())),
            body_wait: AtomicU64::new(0),
            write_wait: AtomicU64::new(0),
            kill: Notify::new(),
        }
    }

    /// Since when the connection has had no request in flight, if it has
    /// none: the longest waiting is the first to shed.
    pub(crate) fn waiting_since(&self) -> Option<u64> {
        let v = self.phase.load(Ordering::Acquire);
        (v >> 62 != BUSY).then_some(v & SINCE)
    }

    /// When the connection is to be closed unless something happens first
    /// (ms); `None`: not while it stays as it is.
    pub(crate) fn deadline(&self, t: Timeouts) -> Option<u64> {
        let v = self.phase.load(Ordering::Acquire);
        let since = v & SINCE;
        let phase = match v >> 62 {
            HEAD => Some(since + t.header),
            IDLE => Some(since + t.idle),
            _ => None,
        };
        let stalls = [&self.body_wait, &self.write_wait]
            .into_iter()
            .map(|w| w.load(Ordering::Acquire))
            .filter(|w| *w != 0)
            .map(|w| w - 1 + t.idle);
        phase.into_iter().chain(stalls).min()
    }

    #[cfg(test)]
    pub(crate) fn busy(&self) {
        self.enter(BUSY);
    }

    fn enter(&self, phase: u64) {
        self.phase
            .store(pack(phase, self.clock.now()), Ordering::Release);
    }

    /// Bytes arrived: after an idle time, they start the next head.
    fn read(&self) {
        if self.phase.load(Ordering::Relaxed) >> 62 == IDLE {
            self.enter(HEAD);
        }
    }

    fn stall(flag: &AtomicU64, clock: Clock, stalled: bool) {
        if stalled {
            if flag.load(Ordering::Relaxed) == 0 {
                flag.store(clock.now() + 1, Ordering::Release);
            }
        } else if flag.load(Ordering::Relaxed) != 0 {
            flag.store(0, Ordering::Release);
        }
    }
}

/// A connection's socket (under its TLS, if any), watched for the bytes
/// that go through it.
pub struct Watched<S> {
    inner: S,
    state: Arc<State>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, state: Arc<State>) -> Watched<S> {
        Watched { inner, state }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Notes whether a write went out or must wait for the client.
    fn wrote<T>(&self, result: Poll<T>) -> Poll<T> {
        State::stall(
            &self.state.write_wait,
            self.state.clock,
            result.is_pending(),
        );
        result
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.wrote(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request's body, watched for bytes that stop arriving.
pub struct WatchedBody<B> {
    inner: B,
    state: Arc<State>,
}

impl<B: Body + Unpin> Body for WatchedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let result = Pin::new(&mut self.inner).poll_frame(cx);
        State::stall(&self.state.body_wait, self.state.clock, result.is_pending());
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for WatchedBody<B> {
    fn drop(&mut self) {
        State::stall(&self.state.body_wait, self.state.clock, false);
    }
}

/// A response's body: once it is written (or dropped), the connection is
/// idle again.
pub struct Finish<B> {
    inner: B,
    state: Arc<State>,
}

impl<B: Body + Unpin> Body for Finish<B>
where
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Finish<B> {
    fn drop(&mut self) {
        self.state.enter(IDLE);
    }
}

/// A service whose requests mark the connection busy, and whose responses
/// mark it idle again once written.
pub(crate) struct Tracked<S> {
    pub(crate) inner: S,
    pub(crate) state: Arc<State>,
}

type Respond<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B> hyper::service::Service<Request<hyper::body::Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<WatchedBody<hyper::body::Incoming>>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Finish<B>>;
    type Error = S::Error;
    type Future = Respond<Self::Response, S::Error>;

    fn call(&self, request: Request<hyper::body::Incoming>) -> Self::Future {
        self.state.enter(BUSY);
        let state = self.state.clone();
        let request = request.map(|inner| WatchedBody {
            inner,
            state: state.clone(),
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|inner| Finish { inner, state }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header: 10_000,
        idle: 60_000,
    };

    #[test]
    fn each_phase_has_its_deadline() {
        let state = State::new(Clock::new());
        let head = state.deadline(T).unwrap();
        assert!(head <= state.clock.now() + T.header);
        assert!(state.waiting_since().is_some());
        state.enter(BUSY);
        assert_eq!(state.deadline(T), None);
        assert_eq!(state.waiting_since(), None);
        // A body that stops arriving, or a client that stops reading,
        // gives a busy connection a deadline.
        State::stall(&state.body_wait, state.clock, true);
        let stalled = state.deadline(T).unwrap();
        assert!(stalled >= T.idle);
        State::stall(&state.body_wait, state.clock, false);
        assert_eq!(state.deadline(T), None);
        state.enter(IDLE);
        let idle = state.deadline(T).unwrap();
        assert!(idle >= T.idle && idle <= state.clock.now() + T.idle);
        // The first byte after an idle time starts a head.
        state.read();
        let head = state.deadline(T).unwrap();
        assert!(head < idle);
        // Bytes of a request being read do not change a busy connection.
        state.enter(BUSY);
        state.read();
        assert_eq!(state.deadline(T), None);
    }
}
