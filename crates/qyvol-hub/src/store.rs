//! The local content-addressed store of pulled artifacts, beside the code
//! cache: `blobs/sha256/HEX` (bundles, wasm, manifests; a name is the
//! SHA-256 of the content, checked before the name is given), and
//! `refs/REGISTRY/REPOSITORY/TAG` holding the digest the tag last pointed
//! at. Every file is written whole under `tmp/` and renamed into place, so
//! an interrupted pull leaves no half file under a name.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::HubError;
use crate::reference::Reference;

pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest is (or would be).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs").join("sha256").join(hex)
    }

    /// The blob's path when the store has it.
    pub fn blob(&self, digest: &str) -> Option<PathBuf> {
        let p = self.blob_path(digest);
        p.is_file().then_some(p)
    }

    fn tmp_dir(&self) -> Result<PathBuf, HubError> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir).map_err(|e| HubError::io(&dir, e))?;
        sweep(&dir);
        Ok(dir)
    }

    /// Where the blob `digest` goes (its folder made) and the folder its
    /// download is written in first.
    fn places(&self, digest: &str) -> Result<(PathBuf, PathBuf), HubError> {
        let final_path = self.blob_path(digest);
        let parent = final_path.parent().expect("a blob path has a parent");
        std::fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
        Ok((final_path, self.tmp_dir()?))
    }

    /// Writes a blob through `fill` into a temporary file and, when `fill`
    /// succeeds (it checks the digest), renames it to its name. On error
    /// the temporary file is removed.
    pub fn put_with(
        &self,
        digest: &str,
        fill: impl FnOnce(&mut File) -> Result<(), HubError>,
    ) -> Result<PathBuf, HubError> {
        let (final_path, tmp_dir) = self.places(digest)?;
        let mut tmp = tempfile::Builder::new()
            .prefix("pull-")
            .tempfile_in(&tmp_dir)
            .map_err(|e| HubError::io(&tmp_dir, e))?;
        fill(tmp.as_file_mut())?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| HubError::io(tmp.path(), e))?;
        tmp.persist(&final_path)
            .map_err(|e| HubError::io(&final_path, e.error))?;
        Ok(final_path)
    }

    /// Writes a blob of `size` bytes through `fill` as [`Store::put_with`]
    /// does, into a file named after the digest (`tmp/partial-sha256-HEX`)
    /// that an interrupted pull leaves behind: the next pull of the same
    /// blob hands `fill` the bytes it holds (their count and a reader) and
    /// appends the rest. A partial download that turns out damaged (its
    /// digest or size is wrong) is removed, so the next pull starts over;
    /// one cut off by the network is kept. While another pull holds the
    /// partial file (a lock), this one writes a file of its own.
    pub fn put_resumable(
        &self,
        digest: &str,
        size: u64,
        fill: impl FnOnce(&mut File, Option<(u64, &mut dyn std::io::Read)>) -> Result<(), HubError>,
    ) -> Result<PathBuf, HubError> {
        let (final_path, tmp_dir) = self.places(digest)?;
        let partial = tmp_dir.join(format!("partial-{}", digest.replace(':', "-")));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial)
            .map_err(|e| HubError::io(&partial, e))?;
        if !lock(&file) {
            return self.put_with(digest, |f| fill(f, None));
        }
        let mut have = file
            .metadata()
            .map_err(|e| HubError::io(&partial, e))?
            .len();
        if have >= size {
            // Nothing past the end can be right, and a whole one that was
            // not renamed failed its check.
            file.set_len(0).map_err(|e| HubError::io(&partial, e))?;
            have = 0;
        }
        let result = if have > 0 {
            let mut prefix = File::open(&partial).map_err(|e| HubError::io(&partial, e))?;
            fill(&mut file, Some((have, &mut prefix)))
        } else {
            fill(&mut file, None)
        };
        match result {
            Ok(()) => {
                file.sync_all().map_err(|e| HubError::io(&partial, e))?;
                std::fs::rename(&partial, &final_path).map_err(|e| HubError::io(&final_path, e))?;
                Ok(final_path)
            }
            Err(e) => {
                if !matches!(e, HubError::Unreachable { .. }) {
                    let _ = std::fs::remove_file(&partial);
                }
                Err(e)
            }
        }
    }

    /// Stores bytes already checked against `digest`.
    pub fn put_bytes(&self, digest: &str, bytes: &[u8]) -> Result<PathBuf, HubError> {
        self.put_with(digest, |f| {
            f.write_all(bytes)
                .map_err(|e| HubError::io(self.blob_path(digest), e))
        })
    }

    fn ref_path(&self, reference: &Reference) -> Option<PathBuf> {
        let tag = reference.tag.as_deref()?;
        Some(
            self.root
                .join("refs")
                .join(&reference.registry)
                .join(&reference.repository)
                .join(tag),
        )
    }

    /// Remembers that the reference's tag points at `digest`.
    pub fn record(&self, reference: &Reference, digest: &str) -> Result<(), HubError> {
        let Some(path) = self.ref_path(reference) else {
            return Ok(());
        };
        let parent = path.parent().expect("a ref path has a parent");
        std::fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
        let mut tmp =
            tempfile::NamedTempFile::new_in(parent).map_err(|e| HubError::io(parent, e))?;
        tmp.write_all(digest.as_bytes())
            .map_err(|e| HubError::io(&path, e))?;
        tmp.persist(&path)
            .map_err(|e| HubError::io(&path, e.error))?;
        Ok(())
    }

    /// The digest the reference's tag pointed at when last pulled.
    pub fn recorded(&self, reference: &Reference) -> Option<String> {
        let text = std::fs::read_to_string(self.ref_path(reference)?).ok()?;
        crate::reference::parse_digest(text.trim()).ok()
    }
}

/// Temporary files not written to for [`STALE`] are what a pull killed
/// midway (SIGKILL, power loss) left; a pull still running writes to its
/// file all along, so its file is never that old.
const STALE: std::time::Duration = std::time::Duration::from_secs(3600);

fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE);
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes to a file whose pages are handed to the disk as it grows (on
/// Linux, `sync_file_range` every [`WRITEBACK_EVERY`] bytes, which starts
/// the write-out and returns), so that the `fsync` a blob gets before it is
/// named waits for the last few megabytes rather than all of them: 35 ms of
/// an 82 MB pull on loopback.
pub struct Writeback<'a> {
    file: &'a mut File,
    started: u64,
    written: u64,
}

/// How many written bytes start a write-out.
pub const WRITEBACK_EVERY: u64 = 8 << 20;

impl<'a> Writeback<'a> {
    pub fn new(file: &'a mut File) -> Writeback<'a> {
        Writeback {
            file,
            started: 0,
            written: 0,
        }
    }
}

impl Write for Writeback<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_EVERY {
            start_writeback(self.file, self.started, self.written - self.started);
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Takes the file's exclusive lock if no one holds it (released when the
/// file is closed, or its process ends).
#[cfg(unix)]
fn lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the call.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn lock(_: &File) -> bool {
    false
}

/// Starts writing a range of the file to the disk, without waiting. A
/// failure only means the final `fsync` does all the work.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the call; the call reads no memory.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &File, _: u64, _: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fill_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let digest = "sha256:00";
        let e = s.put_with(digest, |f| {
            f.write_all(b"half").unwrap();
            Err(HubError::Credentials("stopped".into()))
        });
        assert!(e.is_err());
        assert!(s.blob(digest).is_none());
        assert_eq!(std::fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
        let p = s.put_bytes(digest, b"whole").unwrap();
        assert_eq!(std::fs::read(p).unwrap(), b"whole");
    }

    #[test]
    fn what_a_killed_pull_left_is_swept() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        std::fs::create_dir_all(d.path().join("tmp")).unwrap();
        let old = d.path().join("tmp/pull-old");
        let recent = d.path().join("tmp/pull-recent");
        std::fs::write(&old, b"half").unwrap();
        std::fs::write(&recent, b"half").unwrap();
        let two_hours = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_hours)
            .unwrap();
        s.put_bytes("sha256:01", b"x").unwrap();
        assert!(!old.exists());
        assert!(recent.exists(), "a pull still writing keeps its file");
    }

    #[test]
    fn refs_remember_digests() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let r = Reference::parse("127.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!(s.recorded(&r), None);
        let digest = format!("sha256:{}", "a".repeat(64));
        s.record(&r, &digest).unwrap();
        assert_eq!(s.recorded(&r), Some(digest));
    }
}
