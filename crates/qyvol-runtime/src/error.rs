//! Errors that stop a program from starting. How a started program ended is
//! not an error: that is an [`crate::Outcome`].

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is not a WebAssembly file ({what})", path.display())]
    NotWasm { path: PathBuf, what: String },

    #[error("{} is not valid WebAssembly: {message}", path.display())]
    InvalidWasm { path: PathBuf, message: String },

    #[error("{} cannot run: {message}", path.display())]
    NotRunnable {
        path: PathBuf,
        message: String,
        /// It is an HTTP handler (it exports wasi:http/incoming-handler).
        handler: bool,
    },

    #[error("cannot link {}: {message}", path.display())]
    Link {
        path: PathBuf,
        message: String,
        /// It imports wasi:http interfaces, given to HTTP apps only.
        http: bool,
    },

    #[error("cannot mount {} at {guest}: {source}", host.display())]
    Preopen {
        host: PathBuf,
        guest: String,
        #[source]
        source: std::io::Error,
    },

    /// A read-write mount reaches what decides the app's next run (see
    /// [`crate::check_mounts`]).
    #[error("{0}")]
    WritesItself(Box<crate::guard::Exposure>),

    #[error("permissions.net: cannot resolve \"{rule}\": {message}")]
    NetRule { rule: String, message: String },

    #[error("cannot start the engine: {0}")]
    Engine(String),

    #[error(transparent)]
    MemFs(#[from] crate::memfs::MemFsError),

    /// A memfs mount and host folder mounts in one run: the memfs's
    /// filesystem interfaces take the place of the host folders' (see
    /// crate::memfs), so both cannot be served yet.
    #[error("a memfs mount beside host folder mounts in one app is not supported yet")]
    MemFsBesideFolders,

    /// A bundle that cannot be used as it is (damaged, badly made).
    #[error(transparent)]
    Bundle(#[from] qyvol_manifest::bundle::BundleError),
}

/// Renders a wasmtime error with its chain of causes on one line.
pub(crate) fn chain(e: &wasmtime::Error) -> String {
    format!("{e:#}")
}
