//! The server's log (`tracing` events) and the apps' output. Every line names the
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

/// Logs one server line about request `id` of `app`, as an event with
/// the request and the app as fields (the binary writes it out).
pub(crate) fn line(id: u64, app: &str, message: &str) {
    tracing::info!(request = id, app, "[req {id}] {app}: {message}");
}

/// Writes a line about request `id` to `sink`, as the app's standard
/// error, opened as the host's other lines in an app's log are.
pub(crate) fn to_sink(sink: &dyn OutputSink, id: u64, message: &str) {
    sink.write(
        StdStream::Stderr,
        format!("qyv: [req {id}] {message}\n").as_bytes(),
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
            pending: Vec::new(),
        })
    }
}

/// Longest unfinished line kept waiting for its end; a longer one is
/// written in pieces.
const MAX_PENDING: usize = 64 << 10;

/// One instance's stream, written out in whole lines, each with its prefix.
/// The unfinished last line waits for its end, or for the stream's end, so
/// that the lines of concurrent requests never mix, on the server's streams
/// or in a sink.
struct PrefixedLines {
    out: GuestOutput,
    /// What came after the last line end.
    pending: Vec<u8>,
}

impl PrefixedLines {
    /// Takes `buf`; returns the lines it completed, prefixed.
    fn lines(&mut self, buf: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(buf);
        let end = match self.pending.iter().rposition(|b| *b == b'\n') {
            Some(last) => last + 1,
            None if self.pending.len() >= MAX_PENDING => {
                self.pending.push(b'\n');
                self.pending.len()
            }
            None => return Vec::new(),
        };
        let done: Vec<u8> = self.pending.drain(..end).collect();
        self.prefixed(&done)
    }

    /// The unfinished last line, ended and prefixed, if there is one.
    fn rest(&mut self) -> Vec<u8> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let mut done = std::mem::take(&mut self.pending);
        done.push(b'\n');
        self.prefixed(&done)
    }

    /// `lines`, whole lines each ending with a line end, with the prefix.
    fn prefixed(&self, lines: &[u8]) -> Vec<u8> {
        let request = self.out.request.load(Ordering::Relaxed);
        // A sink is the app's own log: the app need not be named.
        let prefix = match self.out.sink {
            Some(_) => format!("[req {request}] "),
            None => format!("[req {request}] {}: ", self.out.app),
        };
        let mut text = Vec::with_capacity(lines.len() + prefix.len());
        for line in lines.split_inclusive(|b| *b == b'\n') {
            text.extend_from_slice(prefix.as_bytes());
            text.extend_from_slice(line);
        }
        text
    }

    fn emit(&self, text: &[u8]) -> std::io::Result<()> {
        if let Some(sink) = &self.out.sink {
            let stream = if self.out.stderr {
                StdStream::Stderr
            } else {
                StdStream::Stdout
            };
            sink.write(stream, text);
            return Ok(());
        }
        // A locked write of whole lines: the same cost as the guest's own
        // std would pay, and lines of concurrent requests stay whole.
        if self.out.stderr {
            std::io::stderr().lock().write_all(text)
        } else {
            std::io::stdout().lock().write_all(text)
        }
    }
}

impl AsyncWrite for PrefixedLines {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let text = self.lines(buf);
        let result = if text.is_empty() {
            Ok(())
        } else {
            self.emit(&text)
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

impl Drop for PrefixedLines {
    /// The instance (or the guest's handle on the stream) is gone: its
    /// unfinished line is written as a line of its own.
    fn drop(&mut self) {
        let text = self.rest();
        if !text.is_empty() {
            let _ = self.emit(&text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_get_the_prefix_and_an_unfinished_one_waits() {
        let request = Arc::new(AtomicU64::new(7));
        let mut w = PrefixedLines {
            out: GuestOutput::new("app".into(), request.clone(), true, None),
            pending: Vec::new(),
        };
        assert_eq!(w.lines(b"a\nb"), b"[req 7] app: a\n");
        assert_eq!(w.lines(b"c\n"), b"[req 7] app: bc\n");
        request.store(8, Ordering::Relaxed);
        assert_eq!(w.lines(b"d\ne\nf"), b"[req 8] app: d\n[req 8] app: e\n");
        assert_eq!(w.rest(), b"[req 8] app: f\n");
        assert!(w.rest().is_empty());
        let long = vec![b'x'; MAX_PENDING];
        assert_eq!(w.lines(&long).len(), MAX_PENDING + "[req 8] app: \n".len());
    }

    /// What a sink got, in order.
    #[derive(Default)]
    struct Kept(std::sync::Mutex<Vec<u8>>);

    impl OutputSink for Kept {
        fn write(&self, _: StdStream, bytes: &[u8]) {
            self.0.lock().unwrap().extend_from_slice(bytes);
        }
    }

    #[test]
    fn lines_of_concurrent_requests_do_not_mix_and_the_last_one_is_written() {
        let kept = Arc::new(Kept::default());
        let sink: Arc<dyn OutputSink> = kept.clone();
        let stream = |id: u64| PrefixedLines {
            out: GuestOutput::new(
                "app".into(),
                Arc::new(AtomicU64::new(id)),
                false,
                Some(sink.clone()),
            ),
            pending: Vec::new(),
        };
        let (mut one, mut two) = (stream(1), stream(2));
        let write = |w: &mut PrefixedLines, bytes: &[u8]| {
            let text = w.lines(bytes);
            w.emit(&text).unwrap();
        };
        write(&mut one, b"hel");
        write(&mut two, b"other\nand");
        write(&mut one, b"lo\n");
        drop(two);
        drop(one);
        assert_eq!(
            String::from_utf8(kept.0.lock().unwrap().clone()).unwrap(),
            "[req 2] other\n[req 1] hello\n[req 2] and\n"
        );
    }
}
