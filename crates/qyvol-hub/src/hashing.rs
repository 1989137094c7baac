//! SHA-256 beside the transfer instead of in its way: bytes that arrive
//! are hashed on a thread of their own while the next ones are read and
//! written, and a file to push is hashed on its own thread while the
//! registry is reached. Hashing an 82 MB bundle takes ~45 ms here; on the
//! critical path it was a third of a pull's time on loopback.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest as _, Sha256};

use crate::error::HubError;

/// The bytes handed over at a time.
pub const PIECE: usize = 1 << 20;
/// Pieces in flight: one being filled, the rest being hashed or waiting.
const PIECES: usize = 4;

/// The SHA-256 digest (`sha256:HEX`) and size of a file, read once.
pub fn file_digest(path: &Path) -> Result<(String, u64), HubError> {
    let mut f = qyvol_manifest::open_regular(path).map_err(|e| HubError::io(path, e))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut f, &mut hasher).map_err(|e| HubError::io(path, e))?;
    Ok((format!("sha256:{}", hex::encode(hasher.finalize())), size))
}

/// A file's digest being computed on another thread.
pub struct FileHashing {
    path: PathBuf,
    thread: JoinHandle<Result<(String, u64), HubError>>,
}

impl FileHashing {
    pub fn start(path: &Path) -> FileHashing {
        let owned = path.to_path_buf();
        FileHashing {
            path: path.to_path_buf(),
            thread: std::thread::spawn(move || file_digest(&owned)),
        }
    }

    /// Whether [`FileHashing::wait`] would return at once.
    pub fn is_done(&self) -> bool {
        self.thread.is_finished()
    }

    /// The digest and the size hashed.
    pub fn wait(self) -> Result<(String, u64), HubError> {
        self.thread.join().unwrap_or_else(|_| {
            Err(HubError::io(
                &self.path,
                std::io::Error::other("the thread hashing it stopped"),
            ))
        })
    }
}

/// A SHA-256 computed on another thread from pieces handed to it in
/// order; the pieces come back to be filled again.
pub struct PieceHasher {
    to: Option<SyncSender<(Vec<u8>, usize)>>,
    back: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<[u8; 32]>>,
    fresh: usize,
}

impl Default for PieceHasher {
    fn default() -> Self {
        PieceHasher::new()
    }
}

impl PieceHasher {
    pub fn new() -> PieceHasher {
        let (to, pieces) = sync_channel::<(Vec<u8>, usize)>(PIECES);
        let (done, back) = sync_channel(PIECES);
        let thread = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            for (piece, len) in pieces {
                hasher.update(&piece[..len]);
                // The reader may have stopped (an error): the piece is
                // then dropped here.
                let _ = done.send(piece);
            }
            hasher.finalize().into()
        });
        PieceHasher {
            to: Some(to),
            back,
            thread: Some(thread),
            fresh: PIECES,
        }
    }

    /// A piece of [`PIECE`] bytes to fill: a new one while fewer than
    /// [`PIECES`] exist, else the next one the hasher is done with.
    pub fn piece(&mut self) -> Vec<u8> {
        if self.fresh > 0 {
            self.fresh -= 1;
            return vec![0; PIECE];
        }
        self.back.recv().unwrap_or_else(|_| vec![0; PIECE])
    }

    /// Hands over the first `len` bytes of `piece`, the next in order.
    pub fn hash(&mut self, piece: Vec<u8>, len: usize) {
        if let Some(to) = &self.to {
            let _ = to.send((piece, len));
        }
    }

    /// The digest of every byte handed over, `sha256:HEX`.
    pub fn finish(mut self) -> String {
        self.to = None;
        let digest = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        format!("sha256:{}", hex::encode(digest))
    }
}

impl Drop for PieceHasher {
    fn drop(&mut self) {
        // Closing the channel ends the thread; an unfinished hash is not
        // waited for.
        self.to = None;
    }
}

/// Reads from `reader` until `buf` is full or the input ends; the bytes
/// read. Pieces handed over whole keep the hasher's hand-offs few.
pub fn fill(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_hash_as_one_run_of_bytes() {
        let data: Vec<u8> = (0..(3 * PIECE + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut hasher = PieceHasher::new();
        let mut reader = &data[..];
        loop {
            let mut piece = hasher.piece();
            let n = fill(&mut reader, &mut piece).unwrap();
            if n == 0 {
                break;
            }
            hasher.hash(piece, n);
        }
        assert_eq!(hasher.finish(), crate::client::sha256_digest(&data));
    }

    #[test]
    fn a_file_is_hashed_on_its_own_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"hello").unwrap();
        let (digest, size) = FileHashing::start(&path).wait().unwrap();
        assert_eq!(size, 5);
        assert_eq!(digest, crate::client::sha256_digest(b"hello"));
        let missing = FileHashing::start(&dir.path().join("missing")).wait();
        assert!(missing.is_err());
    }

    #[test]
    fn a_dropped_hasher_does_not_hang() {
        let mut hasher = PieceHasher::new();
        let piece = hasher.piece();
        hasher.hash(piece, 10);
        drop(hasher);
    }
}
