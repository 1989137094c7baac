//! What can go wrong with a cluster, each message written for the person
//! who asked: what happened and what to do (without naming `qyv`'s own
//! commands: the binary adds those).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClusterError {
    /// A cluster address that is not `nats://` or `tls://`.
    #[error("{0}")]
    BadAddress(String),

    /// The credentials file cannot be read or is not one we know.
    #[error("{0}")]
    BadCredentials(String),

    /// NATS did not answer, or refused us.
    #[error("cannot reach the cluster's NATS at {url}: {message}")]
    Unreachable { url: String, message: String },

    #[error(
        "the NATS server at {url} has no JetStream: start nats-server with -js (or a jetstream {{}} block in its configuration); the cluster keeps its state in JetStream"
    )]
    NoJetStream { url: String },

    /// A JetStream request failed (timed out, no quorum, …).
    #[error("{what}: {message}")]
    JetStream { what: String, message: String },

    #[error("no app named {0:?} in the cluster")]
    NoSuchApp(String),

    #[error("no node named {0:?} in the cluster")]
    NoSuchNode(String),

    #[error("{0}")]
    NoSuchRevision(String),

    /// The request is not one the cluster can carry out.
    #[error("{0}")]
    Invalid(String),

    /// The bundle cannot run in this cluster (damaged, refused by every
    /// node's trust policy).
    #[error("{0}")]
    Refused(String),

    /// A change lost its compare-and-set race too many times in a row.
    #[error("{0}")]
    Contended(String),

    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ClusterError {
    pub(crate) fn js(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        ClusterError::JetStream {
            what: what.into(),
            message: e.to_string(),
        }
    }

    pub(crate) fn io(
        what: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ClusterError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
