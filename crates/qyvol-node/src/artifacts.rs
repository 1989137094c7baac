//! Bundles stored by content: `sha256/<digest>.qyvbin`, immutable once in
//! place. An upload is written to `tmp/` while it is hashed, synced, then
//! renamed into place (and the folder synced), so a file under `sha256/` is
//! always whole. The database row that refers to it is written after the
//! rename: a node killed in between leaves an unreferenced bundle, which
//! the next start removes.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::NodeError;

pub struct Artifacts {
    root: PathBuf,
}

/// An upload being received: a temporary file and the hash of what it
/// holds so far. Dropped before [`Artifacts::commit`], the file goes.
pub struct Upload {
    file: Option<File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl Upload {
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), NodeError> {
        let file = self
            .file
            .as_mut()
            .expect("an upload is written before it is finished");
        file.write_all(bytes)
            .map_err(|e| NodeError::io("cannot write the upload to", &self.path, e))?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file to disk and returns its digest.
    pub fn finish(&mut self) -> Result<String, NodeError> {
        if let Some(file) = self.file.take() {
            file.sync_all()
                .map_err(|e| NodeError::io("cannot sync the upload", &self.path, e))?;
        }
        Ok(hex::encode(self.hasher.clone().finalize()))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Artifacts {
    pub fn open(root: &Path) -> Result<Artifacts, NodeError> {
        for dir in [root.join("sha256"), root.join("tmp")] {
            fs::create_dir_all(&dir)
                .map_err(|e| NodeError::io("cannot create the folder", &dir, e))?;
        }
        Ok(Artifacts {
            root: root.to_path_buf(),
        })
    }

    /// Where the bundle with this digest is (or would be).
    pub fn path(&self, digest: &str) -> PathBuf {
        self.root.join("sha256").join(format!("{digest}.qyvbin"))
    }

    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).is_file()
    }

    /// A new temporary file for an upload.
    pub fn upload(&self) -> Result<Upload, NodeError> {
        let dir = self.root.join("tmp");
        let (file, path) = tempfile::Builder::new()
            .prefix("upload-")
            .suffix(".part")
            .tempfile_in(&dir)
            .and_then(|t| t.keep().map_err(|e| e.error))
            .map_err(|e| NodeError::io("cannot create an upload file in", &dir, e))?;
        Ok(Upload {
            file: Some(file),
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Takes a file written in the temporary folder (by [`Artifacts::tmp_path`])
    /// as an upload.
    pub fn adopt(&self, path: PathBuf) -> Result<Upload, NodeError> {
        let mut upload = Upload {
            file: None,
            path,
            hasher: Sha256::new(),
            size: 0,
        };
        let mut file =
            File::open(&upload.path).map_err(|e| NodeError::io("cannot read", &upload.path, e))?;
        upload.size = io::copy(&mut file, &mut upload.hasher)
            .map_err(|e| NodeError::io("cannot read", &upload.path, e))?;
        Ok(upload)
    }

    /// A fresh name in the temporary folder.
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{what}-{}-{n}.part", std::process::id()))
    }

    /// Puts a finished upload in place under its digest. An identical
    /// bundle already there stays as it is.
    pub fn commit(&self, mut upload: Upload, digest: &str) -> Result<PathBuf, NodeError> {
        let target = self.path(digest);
        if target.is_file() {
            return Ok(target);
        }
        fs::rename(&upload.path, &target)
            .map_err(|e| NodeError::io("cannot store the bundle as", &target, e))?;
        // The file is in place: nothing for the drop to remove.
        upload.path = PathBuf::new();
        sync_dir(&self.root.join("sha256"))?;
        Ok(target)
    }

    /// Removes temporary files, and bundles no revision refers to.
    /// Returns how many bundles went.
    pub fn collect_garbage(&self, keep: &HashSet<String>) -> Result<usize, NodeError> {
        let tmp = self.root.join("tmp");
        for entry in read_dir(&tmp)? {
            let _ = fs::remove_file(entry);
        }
        let mut removed = 0;
        for entry in read_dir(&self.root.join("sha256"))? {
            let digest = entry
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".qyvbin"))
                .map(str::to_string);
            if digest.is_none_or(|d| !keep.contains(&d)) {
                fs::remove_file(&entry)
                    .map_err(|e| NodeError::io("cannot remove the unused bundle", &entry, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the bundles with these digests that `keep` does not hold.
    pub fn remove_unused(&self, digests: &[String], keep: &HashSet<String>) {
        for digest in digests {
            if !keep.contains(digest) {
                let _ = fs::remove_file(self.path(digest));
            }
        }
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, NodeError> {
    let entries = fs::read_dir(dir).map_err(|e| NodeError::io("cannot list", dir, e))?;
    Ok(entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), NodeError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| NodeError::io("cannot sync the folder", dir, e))
}

/// Writes a whole file under a temporary name, syncs it and renames it into
/// place: readers see the old file or the new one.
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), NodeError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| NodeError::io("cannot write in", dir, e))?;
    let write = |tmp: &mut tempfile::NamedTempFile| -> io::Result<()> {
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()
    };
    write(&mut tmp).map_err(|e| NodeError::io("cannot write", path, e))?;
    tmp.persist(path)
        .map_err(|e| NodeError::io("cannot write", path, e.error))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_lands_whole_under_its_digest_or_not_at_all() {
        let d = tempfile::tempdir().unwrap();
        let a = Artifacts::open(d.path()).unwrap();
        let mut up = a.upload().unwrap();
        up.write(b"hello ").unwrap();
        up.write(b"world").unwrap();
        let digest = up.finish().unwrap();
        assert_eq!(
            digest,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        let path = a.commit(up, &digest).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello world");
        assert!(a.contains(&digest));
        assert_eq!(read_dir(&d.path().join("tmp")).unwrap().len(), 0);

        // An abandoned upload leaves nothing.
        let mut up = a.upload().unwrap();
        up.write(b"half").unwrap();
        drop(up);
        assert_eq!(read_dir(&d.path().join("tmp")).unwrap().len(), 0);
    }

    #[test]
    fn garbage_is_what_no_revision_names() {
        let d = tempfile::tempdir().unwrap();
        let a = Artifacts::open(d.path()).unwrap();
        let mut digests = Vec::new();
        for text in [&b"one"[..], b"two"] {
            let mut up = a.upload().unwrap();
            up.write(text).unwrap();
            let digest = up.finish().unwrap();
            a.commit(up, &digest).unwrap();
            digests.push(digest);
        }
        // A temporary file from a node that was killed mid-upload.
        fs::write(d.path().join("tmp/upload-x.part"), b"partial").unwrap();
        let keep: HashSet<String> = [digests[0].clone()].into();
        assert_eq!(a.collect_garbage(&keep).unwrap(), 1);
        assert!(a.contains(&digests[0]));
        assert!(!a.contains(&digests[1]));
        assert_eq!(read_dir(&d.path().join("tmp")).unwrap().len(), 0);
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("token");
        write_file_atomic(&p, b"one", 0o600).unwrap();
        write_file_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
