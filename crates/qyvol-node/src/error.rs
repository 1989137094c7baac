//! What can go wrong on a node, each with the HTTP status the API answers
//! it with. The message is written for the person at the other end of the
//! client: what happened and what the node allows, in the node's own terms
//! (no client's commands: the `qyv` binary adds those from the code and
//! the reason).

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum NodeError {
    #[error("the node's database {}: {source}", path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no app named {0:?} on this node")]
    NoSuchApp(String),

    #[error("{0}")]
    NotFound(String),

    #[error("{0}")]
    NoSuchRevision(String),

    /// The upload is not a bundle this node accepts (damaged, unsigned
    /// when signatures are required, an app the node cannot run).
    #[error("{0}")]
    BadBundle(String),

    /// The node requires bundles signed by a key it trusts, and this one
    /// is not (a `bad_bundle` whose reason is `unsigned`).
    #[error("{0}")]
    Unsigned(String),

    /// The app is a type: http app and the node serves none (a
    /// `bad_bundle` whose reason is `no_http`).
    #[error("{0}")]
    NoHttpPort(String),

    #[error("the upload is larger than this node accepts ({limit})")]
    TooLarge { limit: String },

    #[error("{0}")]
    BadRequest(String),

    /// The request is valid but the app's state does not allow it.
    #[error("{0}")]
    Conflict(String),

    #[error("the token is missing or wrong")]
    Unauthorized,

    #[error("TLS: {0}")]
    Tls(String),

    /// A listener of the node cannot have its address (at start).
    #[error("{message}")]
    Bind { listener: Listener, message: String },

    /// Another node runs on the same data folder (at start).
    #[error("another node uses {} (it holds {})", dir.display(), lock.display())]
    DataDirInUse { dir: PathBuf, lock: PathBuf },

    #[error("the node is shutting down")]
    ShuttingDown,

    /// The HTTP layer refused the request before a route's handler saw it
    /// (a method the route does not have, a query or path it cannot read, a
    /// body over its limit), with that status.
    #[error("{message}")]
    Rejected { status: u16, message: String },

    #[error("{0}")]
    Internal(String),
}

/// The node's listeners, as a start error names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The HTTPS API.
    Api,
    /// The port of the type: http apps.
    Http,
}

impl NodeError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NodeError::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            NodeError::NoSuchApp(_) | NodeError::NoSuchRevision(_) | NodeError::NotFound(_) => 404,
            NodeError::BadBundle(_)
            | NodeError::Unsigned(_)
            | NodeError::NoHttpPort(_)
            | NodeError::BadRequest(_) => 400,
            NodeError::TooLarge { .. } => 413,
            NodeError::Conflict(_) => 409,
            NodeError::Unauthorized => 401,
            NodeError::ShuttingDown => 503,
            NodeError::Rejected { status, .. } => *status,
            NodeError::Store { .. }
            | NodeError::Io { .. }
            | NodeError::Tls(_)
            | NodeError::Bind { .. }
            | NodeError::DataDirInUse { .. }
            | NodeError::Internal(_) => 500,
        }
    }

    /// A stable word for the kind of error, for scripts (`error` in the
    /// API's error body).
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::NoSuchApp(_) => "no_such_app",
            NodeError::NoSuchRevision(_) => "no_such_revision",
            NodeError::NotFound(_) => "not_found",
            NodeError::BadBundle(_) | NodeError::Unsigned(_) | NodeError::NoHttpPort(_) => {
                "bad_bundle"
            }
            NodeError::TooLarge { .. } => "too_large",
            NodeError::BadRequest(_) => "bad_request",
            NodeError::Conflict(_) => "conflict",
            NodeError::Unauthorized => "unauthorized",
            NodeError::ShuttingDown => "shutting_down",
            NodeError::Rejected { status, .. } => match status {
                404 => "not_found",
                405 => "method_not_allowed",
                413 => "too_large",
                400..=499 => "bad_request",
                _ => "internal",
            },
            NodeError::Store { .. }
            | NodeError::Io { .. }
            | NodeError::Tls(_)
            | NodeError::Bind { .. }
            | NodeError::DataDirInUse { .. }
            | NodeError::Internal(_) => "internal",
        }
    }

    /// Why, finer than [`code`](Self::code), where the client can do
    /// something about it (`reason` in the API's error body): the messages
    /// go to a remote user and name no command of a client, so a client
    /// adds its own advice from this word.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            NodeError::Unsigned(_) => Some("unsigned"),
            NodeError::NoHttpPort(_) => Some("no_http"),
            _ => None,
        }
    }
}
