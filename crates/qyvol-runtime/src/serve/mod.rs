//! Serving HTTP apps (`wasi:http/proxy` components) on one listener.
//!
//! Every request gets a fresh instance of its app (unless the app opts into
//! `http.reuse`), made from a pre-linked component (`ProxyPre`) in a pooled,
//! copy-on-write slot, so isolation costs microseconds. Each app has a
//! bounded number of instances at once with a queue in front
//! ([`admission`]); `limits.timeout` bounds a request's run (504), a trap
//! ends only its own request (500), and every log line carries the
//! request's id. Outgoing requests go through [`outgoing`]: the app's
//! `permissions.net` decides, and `http://NAME.service/` reaches another app
//! of the same server in-process. [`Server`] ties it together and shuts
//! down gracefully.

mod admission;
mod app;
mod error;
mod host;
mod log;
mod outgoing;
mod responses;
mod router;
mod server;

pub use app::ServeApp;
pub use error::ServeError;
pub use server::{ServeHandle, ServeSummary, Served, Server, ServerOptions};
