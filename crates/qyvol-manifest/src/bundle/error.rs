//! The error of everything that reads, writes, signs or trusts a bundle:
//! the file it is about and what is wrong, in one line.

use std::path::{Path, PathBuf};

/// What went wrong, for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BundleErrorKind {
    /// Reading or writing a file failed.
    Io,
    /// The file is not a bundle at all.
    NotABundle,
    /// A bundle of a format version this `qyv` does not read.
    Version,
    /// The file is cut short, or longer than its table says.
    Truncated,
    /// A structure breaks the format's rules (bad name, order, count...).
    Malformed,
    /// A count or length over the format's hard limits.
    Limit,
    /// Bytes that do not match their SHA-256, digest or signature: the
    /// bundle changed after it was packed or signed.
    Tampered,
    /// A key file that cannot be used.
    Key,
    /// A new key pair would overwrite a key file.
    KeyExists,
    /// Something a bundle cannot hold.
    Pack,
}

/// An error about a bundle (or a key file), displayed as `{file}: {message}`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", file.display())]
pub struct BundleError {
    pub file: PathBuf,
    pub kind: BundleErrorKind,
    pub message: String,
    #[source]
    source: Option<std::io::Error>,
}

impl BundleError {
    pub fn new(file: &Path, kind: BundleErrorKind, message: impl Into<String>) -> BundleError {
        BundleError {
            file: file.to_path_buf(),
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(file: &Path, doing: &str, err: std::io::Error) -> BundleError {
        let message = match err.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => format!("cannot {doing}: {err}"),
        };
        BundleError {
            file: file.to_path_buf(),
            kind: BundleErrorKind::Io,
            message,
            source: Some(err),
        }
    }

    pub fn kind(&self) -> BundleErrorKind {
        self.kind
    }
}
