//! The server's log (stderr) and the apps' output. Every line names the
//! request it is about, as `[req N]`; the same N is sent back to the client
//! in the `x-request-id` header, so a user can find the lines of a failed
//! request. An app whose spec captures its output (a node keeping each
//! app's log) gets its output, and the server's lines about it, in its
//! sink instead of the server's stdout.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::output::{OutputSink, StdStream};

/// Writes one server log line about request `id` of `app`.
pub(crate) fn line(id: u64, app: &str, message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "qyv serve: [req {id}] {app}: {message}");
}

/// Writes a line about request `id` to `sink`, as the app's standard
/// error.
pub(crate) fn to_sink(sink: &dyn OutputSink, id: u64, message: &str) {
    sink.write(
        StdStream::Stderr,
        format!("qyv serve: [req {id}] {message}\n").as_bytes(),
    );
}

/// Where an app instance's stdout or stderr goes: the server's own stream,
/// each line prefixed with the app and the request the instance serves now
/// (an instance reused for several requests changes request), or the app's
/// sink, each line prefixed with the request.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    app: Arc<str>,
    request: Arc<AtomicU64>,
    stderr: bool,
    sink: Option<Arc<dyn OutputSink>>,
}

impl GuestOutput {
    pub(crate) fn new(
        app: Arc<str>,
        request: Arc<AtomicU64>,
        stderr: bool,
        sink: Option<Arc<dyn OutputSink>>,
    ) -> GuestOutput {
        GuestOutput {
            app,
            request,
            stderr,
            sink,
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(PrefixedLines {
            out: self.clone(),
            at_line_start: true,
        })
    }
}

struct PrefixedLines {
    out: GuestOutput,
    at_line_start: bool,
}

impl PrefixedLines {
    fn prefixed(&mut self, buf: &[u8]) -> Vec<u8> {
        let request = self.out.request.load(Ordering::Relaxed);
        // A sink is the app's own log: the app need not be named.
        let prefix = match self.out.sink {
            Some(_) => format!("[req {request}] "),
            None => format!("[req {request}] {}: ", self.out.app),
        };
        let mut text = Vec::with_capacity(buf.len() + prefix.len());
        for piece in buf.split_inclusive(|b| *b == b'\n') {
            if self.at_line_start {
                text.extend_from_slice(prefix.as_bytes());
            }
            text.extend_from_slice(piece);
            self.at_line_start = piece.ends_with(b"\n");
        }
        text
    }
}

impl AsyncWrite for PrefixedLines {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let text = self.prefixed(buf);
        if let Some(sink) = &self.out.sink {
            let stream = if self.out.stderr {
                StdStream::Stderr
            } else {
                StdStream::Stdout
            };
            sink.write(stream, &text);
            return Poll::Ready(Ok(buf.len()));
        }
        // A locked write of a few lines: the same cost as the guest's own
        // std would pay, and it keeps lines of concurrent requests whole.
        let result = if self.out.stderr {
            std::io::stderr().lock().write_all(&text)
        } else {
            std::io::stdout().lock().write_all(&text)
        };
        Poll::Ready(result.map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = if self.out.sink.is_some() {
            Ok(())
        } else if self.out.stderr {
            std::io::stderr().flush()
        } else {
            std::io::stdout().flush()
        };
        Poll::Ready(result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_gets_the_prefix_even_across_writes() {
        let request = Arc::new(AtomicU64::new(7));
        let mut w = PrefixedLines {
            out: GuestOutput::new("app".into(), request.clone(), true, None),
            at_line_start: true,
        };
        assert_eq!(w.prefixed(b"a\nb"), b"[req 7] app: a\n[req 7] app: b");
        assert_eq!(w.prefixed(b"c\n"), b"c\n");
        request.store(8, Ordering::Relaxed);
        assert_eq!(w.prefixed(b"d\n"), b"[req 8] app: d\n");
    }
}
