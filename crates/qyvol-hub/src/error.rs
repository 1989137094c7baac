//! What can go wrong between Qyvol and a registry, each case with the
//! registry and repository it concerns and what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{reference:?} is not a valid reference: {message}")]
    BadReference { reference: String, message: String },

    /// The tag, digest or blob is not in the repository (or the repository
    /// does not exist: registries do not tell the two apart).
    #[error(
        "{what} not found in {registry}/{repository} (the registry answered 404); check the repository name and the tag"
    )]
    NotFound {
        registry: String,
        repository: String,
        /// "tag 1.0", "manifest sha256:…", "blob sha256:…".
        what: String,
    },

    /// 401: no credentials, or the registry refused them.
    #[error("{registry}: {message}")]
    Unauthorized { registry: String, message: String },

    /// 403: the credentials are good but do not allow this.
    #[error(
        "{registry} denied {action} {repository} (403 Forbidden): the account it knows you as may not do that there"
    )]
    Denied {
        registry: String,
        repository: String,
        action: String,
    },

    /// No answer: the registry is down, or the address is wrong.
    #[error("{registry}: {message}")]
    Unreachable { registry: String, message: String },

    /// Content whose SHA-256 is not the digest it was asked for by.
    #[error(
        "{what} from {registry}/{repository} does not match its digest: expected {expected}, got {actual}; nothing was stored (the registry's copy is damaged or was changed in transit)"
    )]
    DigestMismatch {
        registry: String,
        repository: String,
        what: String,
        expected: String,
        actual: String,
    },

    /// A manifest or blob larger than Qyvol reads, refused before reading.
    #[error(
        "{what} from {registry} is {size} bytes, more than the {cap} bytes qyv accepts; refused before reading it"
    )]
    TooLarge {
        registry: String,
        what: String,
        size: u64,
        cap: u64,
    },

    /// The reference names something that is not a Qyvol app or a wasm
    /// component.
    #[error(
        "{reference} is {what}, not a Qyvol app or a wasm component; qyv runs artifacts of type {expected}"
    )]
    WrongType {
        reference: String,
        what: String,
        expected: String,
    },

    /// The registry said something that is not the distribution API.
    #[error("{registry}: {message}")]
    Protocol { registry: String, message: String },

    /// The Docker config or a credential helper.
    #[error("{0}")]
    Credentials(String),

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> HubError {
        HubError::Io {
            path: path.into(),
            source,
        }
    }
}
