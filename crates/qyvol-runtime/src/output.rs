//! Where a program's standard output and error go: the host's own (as
//! `qyv run` does), or a sink the host reads them from (a node keeping its
//! apps' logs). Standard input is the host's in the first case and empty in
//! the second.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtxBuilder, async_trait};

/// One of the two output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StdStream {
    Stdout,
    Stderr,
}

/// Receives what a program writes, as it writes it (not split into lines).
/// Called on the program's thread: it should not block for long.
pub trait OutputSink: Send + Sync {
    fn write(&self, stream: StdStream, bytes: &[u8]);
}

/// Where the standard streams of a run go.
#[derive(Clone, Default)]
pub enum Stdio {
    /// The host's standard input, output and error.
    #[default]
    Inherit,
    /// Output and error to the sink; no input.
    Capture(Arc<dyn OutputSink>),
}

impl fmt::Debug for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stdio::Inherit => "Inherit",
            Stdio::Capture(_) => "Capture",
        })
    }
}

impl Stdio {
    pub(crate) fn apply(&self, b: &mut WasiCtxBuilder) {
        match self {
            Stdio::Inherit => {
                b.inherit_stdio();
            }
            Stdio::Capture(sink) => {
                b.stdout(Captured {
                    sink: sink.clone(),
                    stream: StdStream::Stdout,
                });
                b.stderr(Captured {
                    sink: sink.clone(),
                    stream: StdStream::Stderr,
                });
            }
        }
    }
}

/// One stream into the sink; never a terminal, never full.
#[derive(Clone)]
struct Captured {
    sink: Arc<dyn OutputSink>,
    stream: StdStream,
}

impl IsTerminal for Captured {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Captured {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for Captured {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.sink.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // What wasmtime-wasi's own stdio allows per write.
        Ok(64 * 1024)
    }
}

#[async_trait]
impl Pollable for Captured {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Captured {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.sink.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
