//! `wasi:io` streams over a memfs file: what `read-via-stream`,
//! `write-via-stream` and `append-via-stream` hand out (preview-1's
//! `fd_read`/`fd_write` arrive here through the adapter). Memory is always
//! ready, so every wait ends at once.

use bytes::Bytes;
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

use super::bindings::wasi::filesystem::types::ErrorCode;
use super::tree::Held;

/// Most bytes one stream write may carry (what `check-write` allows).
const WRITE_BUDGET: usize = 1 << 20;

/// A stream error that still knows its `wasi:filesystem` code, for
/// `filesystem-error-code` (and so for preview-1's errno).
#[derive(Debug, thiserror::Error)]
#[error("memfs: {0:?}")]
pub(crate) struct Failure(pub(crate) ErrorCode);

fn failed(code: ErrorCode) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::new(Failure(code)))
}

pub(crate) struct Reader {
    pub(crate) file: Held,
    pub(crate) position: u64,
}

#[async_trait::async_trait]
impl Pollable for Reader {
    async fn ready(&mut self) {}
}

impl InputStream for Reader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let (bytes, _) = self
            .file
            .fs
            .lock()
            .read(self.file.id, self.position, size as u64)
            .map_err(failed)?;
        if bytes.is_empty() && size > 0 {
            return Err(StreamError::Closed);
        }
        self.position += bytes.len() as u64;
        Ok(Bytes::from(bytes))
    }
}

pub(crate) struct Writer {
    pub(crate) file: Held,
    /// None: every write goes at the end (append).
    pub(crate) position: Option<u64>,
}

#[async_trait::async_trait]
impl Pollable for Writer {
    async fn ready(&mut self) {}
}

impl OutputStream for Writer {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.file.fs.check_writable().map_err(failed)?;
        let mut tree = self.file.fs.lock();
        let at = match self.position {
            Some(p) => p,
            None => tree.size(self.file.id).map_err(failed)?,
        };
        let n = tree.write(self.file.id, at, &bytes).map_err(failed)?;
        if let Some(p) = &mut self.position {
            *p += n;
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}
