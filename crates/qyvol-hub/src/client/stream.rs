//! A large blob pushed as `docker push` sends a layer: `POST` opens the
//! upload, one `PATCH` streams the bytes, `PUT ?digest=` closes it. The
//! digest is needed only at the end, so the file is hashed on a thread of
//! its own (crate::hashing::FileHashing) while its bytes, read on another,
//! go out in pieces of a megabyte (the
//! blocking client streams a body in pieces of 8 KiB, which halved the rate
//! on loopback; this one request goes through reqwest's async client on a
//! runtime of its own). As soon as the digest is known the registry is
//! asked whether it has the blob; if it has, the upload is abandoned.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use tokio::sync::{mpsc, oneshot};

use super::{Repository, with_digest};
use crate::error::HubError;
use crate::hashing::{FileHashing, PIECE, fill};

/// Pieces read ahead of the connection.
const AHEAD: usize = 4;

/// How a streamed upload ended.
enum Outcome {
    /// The bytes went out; the answer's status and `Location`.
    Sent(StatusCode, Option<String>, String),
    /// The registry has the blob: nothing more is sent.
    Present(String),
}

impl Repository {
    /// Streams the file of `size` bytes at `path` into a new upload and
    /// closes it with its digest; returns the digest and whether the bytes
    /// were sent (false: the registry had the blob).
    pub fn push_file_streamed(
        &self,
        path: &Path,
        size: u64,
        hashing: FileHashing,
        mut progress: impl FnMut(u64) + Send + 'static,
    ) -> Result<(String, bool), HubError> {
        let location = self.start_upload()?;
        let (pieces_tx, pieces) = mpsc::channel::<Bytes>(AHEAD);
        let (digest_tx, digest_rx) = oneshot::channel();
        let hashed = std::thread::spawn(move || {
            let result = hashing.wait();
            if let Ok((digest, _)) = &result {
                let _ = digest_tx.send(digest.clone());
            }
            result
        });
        let reader = read_pieces(path.to_path_buf(), pieces_tx);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HubError::io("(a runtime for the upload)", e))?;
        let outcome = runtime.block_on(self.stream(&location, pieces, digest_rx, &mut progress));
        drop(runtime);
        let stopped = |what| HubError::io(path, std::io::Error::other(what));
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(stopped("the thread reading it stopped")));
        let hashed = hashed
            .join()
            .unwrap_or_else(|_| Err(stopped("the thread hashing it stopped")));
        match outcome? {
            Outcome::Present(digest) => {
                // An abandoned upload is cancelled; the registry would
                // forget it anyway.
                let _ = self.send(self.http.delete(&location));
                Ok((digest, false))
            }
            Outcome::Sent(status, next, body) => {
                let (digest, hashed_size) = hashed?;
                let read_size = read?;
                if status != StatusCode::ACCEPTED {
                    return Err(HubError::Protocol {
                        registry: self.registry.clone(),
                        message: format!(
                            "push of blob {digest} to {}: {status}{}",
                            self.repository,
                            super::error_text(body.as_bytes())
                        ),
                    });
                }
                if read_size != size || hashed_size != size {
                    return Err(HubError::io(
                        path,
                        std::io::Error::other(format!(
                            "the file changed while it was sent ({size} bytes, then {read_size} sent and {hashed_size} hashed)"
                        )),
                    ));
                }
                let next = match next {
                    Some(l) if l.starts_with("http://") || l.starts_with("https://") => l,
                    Some(l) => format!("{}{l}", self.base),
                    None => location,
                };
                let r = self.send(
                    self.http
                        .put(with_digest(&next, &digest))
                        .header(CONTENT_LENGTH, 0),
                )?;
                self.finished(r, &digest)?;
                Ok((digest, true))
            }
        }
    }

    async fn stream(
        &self,
        location: &str,
        pieces: mpsc::Receiver<Bytes>,
        digest: oneshot::Receiver<String>,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<Outcome, HubError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("qyv/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HubError::Unreachable {
                registry: self.registry.clone(),
                message: e.to_string(),
            })?;
        let (sent_tx, mut sent) = mpsc::unbounded_channel::<u64>();
        let body = futures_util::stream::unfold((pieces, 0u64), move |(mut rx, seen)| {
            let sent_tx = sent_tx.clone();
            async move {
                let piece = rx.recv().await?;
                let seen = seen + piece.len() as u64;
                let _ = sent_tx.send(seen);
                Some((Ok::<_, std::io::Error>(piece), (rx, seen)))
            }
        });
        let mut request = http
            .patch(location)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        if let Some(a) = &self.authorization {
            request = request.header(AUTHORIZATION, a);
        }
        let upload = async {
            let r = request
                .send()
                .await
                .map_err(|e| self.unreachable(location, e))?;
            let status = r.status();
            let next = r
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = if status == StatusCode::ACCEPTED {
                String::new()
            } else {
                r.text().await.unwrap_or_default()
            };
            Ok::<_, HubError>(Outcome::Sent(status, next, body))
        };
        let present = async {
            let Ok(digest) = digest.await else {
                // The reader failed: its error is reported after the upload.
                return std::future::pending().await;
            };
            let mut head = http.head(self.url(&format!("blobs/{digest}")));
            if let Some(a) = &self.authorization {
                head = head.header(AUTHORIZATION, a);
            }
            match head.send().await {
                Ok(r) if r.status().is_success() => digest,
                _ => std::future::pending().await,
            }
        };
        tokio::pin!(upload, present);
        loop {
            tokio::select! {
                outcome = &mut upload => return outcome,
                digest = &mut present => return Ok(Outcome::Present(digest)),
                Some(n) = sent.recv() => progress(n),
            }
        }
    }
}

/// Reads the file in pieces and hands them to the upload; the bytes read.
/// Stops early when the upload no longer wants pieces.
fn read_pieces(
    path: PathBuf,
    pieces: mpsc::Sender<Bytes>,
) -> std::thread::JoinHandle<Result<u64, HubError>> {
    std::thread::spawn(move || {
        let mut file = qyvol_manifest::open_regular(&path).map_err(|e| HubError::io(&path, e))?;
        let mut size = 0u64;
        loop {
            let mut piece = vec![0u8; PIECE];
            let n = fill(&mut file, &mut piece).map_err(|e| HubError::io(&path, e))?;
            if n == 0 {
                break;
            }
            piece.truncate(n);
            size += n as u64;
            if pieces.blocking_send(Bytes::from(piece)).is_err() {
                break;
            }
        }
        Ok(size)
    })
}
