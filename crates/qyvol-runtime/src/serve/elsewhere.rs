//! Requests for routes this server does not serve, when it is one node of
//! many: an [`Elsewhere`] (the cluster's table of which node serves which
//! route) may answer them from another server. A request that comes from
//! another server carries [`FORWARDED`] and is never sent on again, so a
//! request crosses at most one hop whatever the tables say: two servers
//! each thinking the other serves a route cannot bounce it between them.
//! Every response says which server made it ([`NODE_HEADER`]).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{Request, Response};

/// Set on a request one server sends to another.
pub const FORWARDED: &str = "x-qyvol-forwarded";
/// The name of the server that answered.
pub const NODE_HEADER: &str = "x-qyvol-node";
/// On a forwarded request: the app it is for, by name (a call to
/// `http://NAME.service/` from an app on another server), not by route.
pub const APP_HEADER: &str = "x-qyvol-app";
/// On a forwarded call between apps: the calls made so far for the request
/// (the same bound as on one server).
pub const HOPS_HEADER: &str = "x-qyvol-hops";
/// The largest request body a server takes to forward (it is held whole,
/// so that a request whose target is gone can go to another one).
pub const MAX_FORWARDED_BODY: usize = 64 << 20;

/// Where requests for routes served elsewhere go.
pub trait Elsewhere: Send + Sync + 'static {
    /// The length of the longest route served elsewhere that is a prefix
    /// of `path` (the same rule as the routes served here).
    fn route(&self, path: &str) -> Option<usize>;

    /// Answers `request` from a server that serves its route; `id` is its
    /// id on this server.
    fn forward(
        &self,
        request: Request<Bytes>,
        id: u64,
    ) -> Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;

    /// Whether an app named `name` runs on another server.
    fn has_app(&self, name: &str) -> bool;

    /// Sends a call to `http://NAME.service/` to a server that runs app
    /// `name` (with [`APP_HEADER`] and [`HOPS_HEADER`] set).
    fn call_app(
        &self,
        name: &str,
        request: Request<Bytes>,
        id: u64,
    ) -> Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;
}

/// Whether `route` (a path prefix like `/` or `/api`) leads to `path`, as
/// the routes served here are matched: on whole segments.
pub fn route_matches(route: &str, path: &str) -> bool {
    super::router::matches(route, path)
}
