//! A pipe between a parent and a child: bytes in memory, a blocking side for
//! the parent's host calls (its thread may wait) and an async side for the
//! child's WASI streams (wasmtime-wasi polls them). A pipe holds at most
//! [`CAPACITY`] bytes: a writer waits for room, a reader for bytes; when
//! one end is closed the other sees the end of the stream (or a broken
//! pipe), so a child killed or ended never leaves its parent waiting.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasmtime_wasi::async_trait;
use wasmtime_wasi::cli::{IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

/// Bytes a pipe buffers. Large enough that a child writing megabytes while
/// its parent is busy writing its input goes on; a parent that never reads
/// makes the child wait, as a Unix pipe does.
pub(crate) const CAPACITY: usize = 16 << 20;

#[derive(Default)]
pub(crate) struct Pipe {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    buf: VecDeque<u8>,
    /// No more bytes will be written.
    writer_done: bool,
    /// No more bytes will be read: writes fail.
    reader_done: bool,
    /// Async sides waiting for a change.
    wakers: Vec<Waker>,
}

impl Pipe {
    pub(crate) fn new() -> Arc<Pipe> {
        Arc::new(Pipe::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self, mut state: MutexGuard<'_, State>) {
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        self.changed.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// Writes what fits now; `Err` if the reader is gone.
    pub(crate) fn push(&self, data: &[u8]) -> io::Result<usize> {
        let mut state = self.lock();
        if state.reader_done {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = data.len().min(CAPACITY.saturating_sub(state.buf.len()));
        state.buf.extend(&data[..n]);
        if n > 0 {
            self.changed(state);
        }
        Ok(n)
    }

    /// Takes up to `max` bytes: `None` while nothing is there and more may
    /// come; an empty vector at the end.
    fn pull(&self, max: usize) -> Option<Vec<u8>> {
        let mut state = self.lock();
        if state.buf.is_empty() {
            return state.writer_done.then(Vec::new);
        }
        let n = max.min(state.buf.len());
        let out: Vec<u8> = state.buf.drain(..n).collect();
        self.changed(state);
        Some(out)
    }

    /// The parent writes, waiting for room: all of `data` unless the reader
    /// went away first (then what was written, or a broken pipe).
    pub(crate) fn write_blocking(&self, data: &[u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < data.len() {
            match self.push(&data[written..]) {
                Ok(0) => {
                    let state = self.lock();
                    if state.buf.len() >= CAPACITY && !state.reader_done {
                        drop(self.changed.wait(state));
                    }
                }
                Ok(n) => written += n,
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(written)
    }

    /// The parent reads, waiting for bytes; empty at the end.
    pub(crate) fn read_blocking(&self, max: usize) -> Vec<u8> {
        loop {
            if let Some(bytes) = self.pull(max) {
                return bytes;
            }
            let state = self.lock();
            if state.buf.is_empty() && !state.writer_done {
                drop(self.changed.wait(state));
            }
        }
    }

    pub(crate) fn close_writer(&self) {
        let mut state = self.lock();
        state.writer_done = true;
        self.changed(state);
    }

    pub(crate) fn close_reader(&self) {
        let mut state = self.lock();
        state.reader_done = true;
        state.buf.clear();
        self.changed(state);
    }

    /// Ready to read: bytes or the end.
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if !state.buf.is_empty() || state.writer_done {
            return Poll::Ready(());
        }
        state.wakers.push(cx.waker().clone());
        Poll::Pending
    }

    /// Ready to write: room or a gone reader.
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.buf.len() < CAPACITY || state.reader_done {
            return Poll::Ready(());
        }
        state.wakers.push(cx.waker().clone());
        Poll::Pending
    }

    fn room(&self) -> io::Result<usize> {
        let state = self.lock();
        if state.reader_done {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        Ok(CAPACITY.saturating_sub(state.buf.len()))
    }
}

/// The child's end that reads: its standard input.
#[derive(Clone)]
pub(crate) struct PipeReader(pub(crate) Arc<Pipe>);

/// The child's end that writes: its standard output or error.
#[derive(Clone)]
pub(crate) struct PipeWriter(pub(crate) Arc<Pipe>);

impl IsTerminal for PipeReader {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl IsTerminal for PipeWriter {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for PipeReader {
    fn async_stream(&self) -> Box<dyn AsyncRead + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(self.clone())
    }
}

impl StdoutStream for PipeWriter {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait]
impl Pollable for PipeReader {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| self.0.poll_readable(cx)).await;
    }
}

impl InputStream for PipeReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        match self.0.pull(size) {
            None => Ok(Bytes::new()),
            Some(bytes) if bytes.is_empty() && size > 0 => Err(StreamError::Closed),
            Some(bytes) => Ok(Bytes::from(bytes)),
        }
    }
}

#[async_trait]
impl Pollable for PipeWriter {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| self.0.poll_writable(cx)).await;
    }
}

impl OutputStream for PipeWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        // check_write promised this much room, and only this side writes.
        match self.0.push(&bytes) {
            Ok(_) => Ok(()),
            Err(_) => Err(StreamError::Closed),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.0.room().map_err(|_| StreamError::Closed)
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if let Some(bytes) = self.0.pull(buf.remaining()) {
                buf.put_slice(&bytes);
                return Poll::Ready(Ok(()));
            }
            if self.0.poll_readable(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.0.push(buf) {
                Ok(0) if !buf.is_empty() => {
                    if self.0.poll_writable(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pass_and_the_end_is_seen() {
        let pipe = Pipe::new();
        assert_eq!(pipe.write_blocking(b"hello").unwrap(), 5);
        assert_eq!(pipe.read_blocking(3), b"hel");
        pipe.close_writer();
        assert_eq!(pipe.read_blocking(10), b"lo");
        assert!(pipe.read_blocking(10).is_empty());
    }

    #[test]
    fn a_full_pipe_waits_for_its_reader() {
        let pipe = Pipe::new();
        let big = vec![7u8; CAPACITY + 1000];
        let writer = {
            let pipe = pipe.clone();
            std::thread::spawn(move || pipe.write_blocking(&big).unwrap())
        };
        let mut total = 0;
        while total < CAPACITY + 1000 {
            total += pipe.read_blocking(1 << 20).len();
        }
        assert_eq!(writer.join().unwrap(), CAPACITY + 1000);
    }

    #[test]
    fn writing_to_a_gone_reader_is_a_broken_pipe() {
        let pipe = Pipe::new();
        pipe.close_reader();
        let e = pipe.write_blocking(b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        let mut w = PipeWriter(pipe);
        assert!(matches!(w.check_write(), Err(StreamError::Closed)));
    }
}
