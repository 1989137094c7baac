//! Reading a file that a user, a manifest or a node's apps folder names.
//!
//! Such a path may be anything: a symlink to `/dev/zero` (read forever), a
//! named pipe (an open that waits for a writer forever), a socket, a
//! device. Every file qyv reads by such a path goes through here: the kind
//! is checked before a byte is read, the open never waits (a pipe is opened
//! non-blocking, then refused), and a small file is read only up to its
//! cap. Errors are `io::Error`s whose text completes "cannot read PATH: …".

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::units::format_size;

/// The most a manifest (`.qyv`) may hold.
pub const MAX_MANIFEST_LEN: u64 = 1 << 20;
/// The most a settings file (the user's config, the node's contexts, a TLS
/// certificate or key) may hold.
pub const MAX_SETTINGS_LEN: u64 = 1 << 20;
/// The most a secret (a token) may hold.
pub const MAX_SECRET_LEN: u64 = 4 << 10;

/// `Ok` for a regular file; otherwise an error naming what it is.
pub fn check_regular(meta: &Metadata) -> io::Result<()> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "not a regular file: it is a folder",
        ));
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file: it is {what}"),
    ))
}

/// Opens `path` for reading if it is (or links to) a regular file, without
/// ever waiting: for files read in a stream (wasm, bundles).
pub fn open_regular(path: &Path) -> io::Result<File> {
    // Refused before it is opened, when it can be: opening a device can
    // have effects of its own.
    check_regular(&fs::metadata(path)?)?;
    // Non-blocking, so that a file swapped for a pipe after the check
    // cannot make the open wait; it changes nothing for a regular file.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    check_regular(&file.metadata()?)?;
    Ok(file)
}

/// The whole content of `path`, a regular file of at most `max` bytes.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(too_large(max));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // A file that grows while it is read (or one in /proc, whose size says
    // 0) still stops one byte past the cap.
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_text(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

fn too_large(max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "larger than {}, the most qyv reads of such a file",
            format_size(max)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_and_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        fs::write(&file, "hello").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("link")).unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"hello");
        assert_eq!(read_regular(&dir.path().join("link"), 5).unwrap(), b"hello");
    }

    #[test]
    fn refuses_what_is_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        fs::write(&file, "hello").unwrap();
        let err = read_regular(&file, 4).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            err.to_string(),
            "larger than 4 B, the most qyv reads of such a file"
        );
    }

    #[test]
    fn refuses_devices_folders_and_pipes_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = read_regular(&zero, 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a regular file: it is a character device"
        );
        let err = read_regular(dir.path(), 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file: it is a folder");
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        // No writer ever opens it: a blocking open would never return.
        let err = read_regular(&fifo, 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a regular file: it is a named pipe (FIFO)"
        );
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_missing_file_keeps_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_regular(&dir.path().join("nope"), 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
