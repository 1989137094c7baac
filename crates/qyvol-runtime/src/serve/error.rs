//! Errors that stop a server from starting. Once it serves, failures are
//! per request: a status code and a log line, never an error here.

use std::net::SocketAddr;
use std::path::PathBuf;

use thiserror::Error;

use crate::error::RuntimeError;

#[derive(Debug, Error)]
pub enum ServeError {
    /// An app could not be loaded or linked; `source` names its wasm file.
    #[error("app {app}: {source}")]
    App {
        app: String,
        #[source]
        source: RuntimeError,
    },

    #[error("{} cannot be served: {message}", path.display())]
    NotHttp {
        app: String,
        path: PathBuf,
        message: String,
        /// It is a command (it exports wasi:cli/run).
        command: bool,
    },

    #[error(
        "apps {first} and {second} are both named {name:?}; each app served together needs its own name (it is its address on the virtual network, http://{name}.service/)"
    )]
    DuplicateName {
        name: String,
        first: String,
        second: String,
    },

    #[error("apps {first} and {second} both have http.route {route:?}; give each its own route")]
    DuplicateRoute {
        route: String,
        first: String,
        second: String,
    },

    #[error("nothing to serve: name at least one app")]
    NoApps,

    #[error("cannot listen on {addr}: {source}{}", bind_hint(source))]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot start the server: {0}")]
    Start(String),
}

fn bind_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "; another program uses this port",
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: use a port of 1024 or above"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; this machine has no such address: use 127.0.0.1 or 0.0.0.0"
        }
        _ => "",
    }
}

impl ServeError {
    /// The app (by name) an error is about, so the caller can point at its
    /// manifest.
    pub fn app(&self) -> Option<&str> {
        match self {
            ServeError::App { app, .. } | ServeError::NotHttp { app, .. } => Some(app),
            _ => None,
        }
    }
}
