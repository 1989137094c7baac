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
//! of the same server in-process.
//!
//! The parts: [`server`] is the listener and the shutdown, [`conn`] the
//! connections' timeouts, caps and drain (the node's API uses it too); [`table`] the
//! apps served now, which a [`ServeHandle`] changes while the server
//! serves; [`request`] the way from a request to its app's queue and back;
//! [`guest`] one request on one instance; [`work`] counts what still runs;
//! [`epoch`] is the clock of the apps with a time limit; [`app`] loads an
//! app and makes its instances, whose outgoing requests reach the other
//! apps through the narrow [`outgoing::Peers`].

mod admission;
mod app;
mod conn;
mod elsewhere;
mod epoch;
mod error;
mod guest;
mod host;
mod log;
mod outgoing;
mod request;
mod responses;
mod router;
mod server;
mod table;
mod work;

pub use app::ServeApp;
pub use conn::{
    Closing, ConnectionLimits, Connections, DEFAULT_DRAIN, DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, Drained, Finish, Protocol, Slot, Watched, WatchedBody, connection_budget,
    descriptor_limit, drain, drain_time,
};
pub use elsewhere::{
    APP_HEADER, Elsewhere, FORWARDED, HOPS_HEADER, MAX_FORWARDED_BODY, NODE_HEADER, route_matches,
};
pub use error::ServeError;
pub use server::{ServeSummary, Server, ServerOptions};
pub use table::{ServeHandle, Served};
