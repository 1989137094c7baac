//! One HTTP entry for every node of a cluster: a request for a route this
//! node does not serve goes to another node that runs a replica of the app
//! (node-to-node HTTP, connections kept open), the one with the fewest
//! requests outstanding from here. A node that refuses the connection is
//! left out for a second and the request goes to the next one (nothing of
//! it reached the first); the cluster agent's table drops failed replicas
//! and silent nodes as their beats say so. The request carries
//! `x-qyvol-forwarded`, so the node it reaches serves it or answers 502:
//! it never sends it on.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use bytes::Bytes;
use qyvol_cluster::{RemoteRoute, Target};
use qyvol_runtime::serve::{APP_HEADER, Elsewhere, FORWARDED, route_matches};

/// How long a node that refused a connection is passed over.
const DOWN_FOR: Duration = Duration::from_secs(1);
/// The longest a forwarded request may take, whole.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(300);

/// Headers of one connection, not of the request.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    header::TRAILER,
    header::HOST,
];

/// The cluster's routes, shared by the node's HTTP server and its agent.
#[derive(Clone)]
pub struct Forwarder {
    inner: Arc<Inner>,
}

struct Inner {
    me: String,
    routes: RwLock<Vec<RemoteRoute>>,
    /// Requests sent and not answered yet, by `app@node`.
    outstanding: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    /// Nodes that refused a connection, and when.
    down: Mutex<HashMap<String, Instant>>,
    /// Turns among targets equally loaded, so that one at a time still
    /// spreads.
    turn: AtomicUsize,
    client: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Forwarder {
    pub fn new(me: &str) -> Forwarder {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(FORWARD_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Forwarder {
            inner: Arc::new(Inner {
                me: me.to_string(),
                routes: RwLock::default(),
                outstanding: Mutex::default(),
                down: Mutex::default(),
                turn: AtomicUsize::new(0),
                client,
            }),
        }
    }

    pub fn set(&self, routes: Vec<RemoteRoute>) {
        *self.inner.routes.write().unwrap_or_else(|p| p.into_inner()) = routes;
    }

    /// The app whose route is the longest prefix of `path`.
    fn find(&self, path: &str) -> Option<RemoteRoute> {
        self.inner
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| route_matches(&r.route, path))
            .max_by_key(|r| r.route.len())
            .cloned()
    }
}

impl Inner {
    fn counter(&self, app: &str, node: &str) -> Arc<AtomicUsize> {
        lock(&self.outstanding)
            .entry(format!("{app}@{node}"))
            .or_default()
            .clone()
    }

    /// The target with the fewest requests outstanding, among those not
    /// passed over (all of them, if every one is).
    fn pick<'a>(&self, app: &str, targets: &'a [Target], tried: &[String]) -> Option<&'a Target> {
        let down = lock(&self.down);
        let fresh = |t: &&Target| {
            !tried.contains(&t.node) && down.get(&t.node).is_none_or(|at| at.elapsed() >= DOWN_FOR)
        };
        let load = |t: &&Target| self.counter(app, &t.node).load(Ordering::Relaxed);
        let candidates: Vec<&Target> = targets.iter().filter(fresh).collect();
        let mut pool: Vec<&Target> = if candidates.is_empty() {
            targets
                .iter()
                .filter(|t| !tried.contains(&t.node))
                .collect()
        } else {
            candidates
        };
        if pool.is_empty() {
            return None;
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) % pool.len();
        pool.rotate_left(turn);
        pool.into_iter().min_by_key(load)
    }

    /// `by_name`: a call between apps, for the app by name, not by route.
    async fn forward(
        self: Arc<Self>,
        route: RemoteRoute,
        request: Request<Bytes>,
        id: u64,
        by_name: bool,
    ) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let mut tried = Vec::new();
        let mut last_error = None;
        while let Some(target) = self.pick(&route.app, &route.targets, &tried) {
            tried.push(target.node.clone());
            let mut headers = parts.headers.clone();
            for h in HOP_BY_HOP {
                headers.remove(h);
            }
            if let Ok(me) = HeaderValue::from_str(&self.me) {
                headers.insert(FORWARDED, me);
            }
            if by_name && let Ok(app) = HeaderValue::from_str(&route.app) {
                headers.insert(APP_HEADER, app);
            }
            let counter = self.counter(&route.app, &target.node);
            counter.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .client
                .request(
                    parts.method.clone(),
                    format!("http://{}{path}", target.addr),
                )
                .headers(headers)
                .body(body.clone())
                .send()
                .await;
            let answer = match sent {
                Ok(r) => {
                    let status = r.status();
                    let mut headers = r.headers().clone();
                    match r.bytes().await {
                        Ok(b) => Ok((status, std::mem::take(&mut headers), b)),
                        Err(e) => Err((false, e)),
                    }
                }
                Err(e) => Err((e.is_connect(), e)),
            };
            counter.fetch_sub(1, Ordering::Relaxed);
            match answer {
                Ok((status, mut headers, body)) => {
                    for h in HOP_BY_HOP {
                        headers.remove(h);
                    }
                    headers.remove(header::CONTENT_LENGTH);
                    let mut response = Response::new(body);
                    *response.status_mut() = status;
                    *response.headers_mut() = headers;
                    return response;
                }
                // Nothing reached that node: another one may answer.
                Err((true, e)) => {
                    lock(&self.down).insert(target.node.clone(), Instant::now());
                    last_error = Some(format!("node {} ({}): {e}", target.node, target.addr));
                }
                Err((false, e)) => {
                    return text(
                        StatusCode::BAD_GATEWAY,
                        id,
                        &format!(
                            "node {} took the request for {} and did not answer it whole: {e}",
                            target.node, route.app
                        ),
                    );
                }
            }
        }
        let message = match last_error {
            Some(e) => format!(
                "no node that runs {} could be reached (last: {e})",
                route.app
            ),
            None => format!(
                "{} is an app of the cluster at {}, and no node runs a replica of it now",
                route.app, route.route
            ),
        };
        text(StatusCode::BAD_GATEWAY, id, &message)
    }
}

fn text(status: StatusCode, id: u64, message: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(format!("{message} (request id {id})\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl Elsewhere for Forwarder {
    fn route(&self, path: &str) -> Option<usize> {
        self.find(path).map(|r| r.route.len())
    }

    fn forward(
        &self,
        request: Request<Bytes>,
        id: u64,
    ) -> Pin<Box<dyn Future<Output = Response<Bytes>> + Send>> {
        let path = request.uri().path().to_string();
        let inner = self.inner.clone();
        let found = self.find(&path);
        Box::pin(async move {
            match found {
                Some(route) => inner.forward(route, request, id, false).await,
                None => text(
                    StatusCode::NOT_FOUND,
                    id,
                    &format!("no app of the cluster is served at {path}"),
                ),
            }
        })
    }

    fn has_app(&self, name: &str) -> bool {
        self.inner
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|r| r.app == name)
    }

    fn call_app(
        &self,
        name: &str,
        request: Request<Bytes>,
        id: u64,
    ) -> Pin<Box<dyn Future<Output = Response<Bytes>> + Send>> {
        let inner = self.inner.clone();
        let found = self
            .inner
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|r| r.app == name)
            .cloned();
        let name = name.to_string();
        Box::pin(async move {
            match found {
                Some(route) => inner.forward(route, request, id, true).await,
                None => text(
                    StatusCode::BAD_GATEWAY,
                    id,
                    &format!("no app named {name:?} runs in the cluster"),
                ),
            }
        })
    }
}
