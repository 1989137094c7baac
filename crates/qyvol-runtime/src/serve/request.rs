//! The request path: a request is routed to its app, waits for a place in
//! the app's queue, then runs on its own task ([`guest`]). The response goes
//! back as soon as the guest sets it; the guest may go on writing the body.
//! When the guest fails before answering, the way it ended picks the status
//! (504 for the time limit, 500 otherwise) and is logged with the request
//! id. Requests from the listener and from other apps of the server (the
//! virtual network, [`Peers`]) take the same path.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Full};
use qyvol_manifest::format_duration;
use tokio::sync::oneshot;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error, WasiBody};

use crate::outcome::Outcome;
use crate::serve::app::LoadedApp;
use crate::serve::elsewhere::{
    APP_HEADER, Elsewhere, FORWARDED, HOPS_HEADER, MAX_FORWARDED_BODY, NODE_HEADER,
};
use crate::serve::guest::{self, End};
use crate::serve::outgoing::{Peers, SERVICE_DOMAIN};
use crate::serve::responses::{self, Body};
use crate::serve::table::Apps;
use crate::serve::work::Work;

/// Everything a request needs: the apps, the ids, and the count of work in
/// flight.
pub(crate) struct Requests {
    pub(crate) apps: Arc<Apps>,
    next_id: AtomicU64,
    log_requests: bool,
    pub(crate) work: Arc<Work>,
    me: Weak<Requests>,
}

impl Requests {
    pub(crate) fn new(apps: Arc<Apps>, log_requests: bool) -> Arc<Requests> {
        Arc::new_cyclic(|me| Requests {
            apps,
            next_id: AtomicU64::new(0),
            log_requests,
            work: Arc::default(),
            me: me.clone(),
        })
    }

    /// Requests received so far.
    pub(crate) fn count(&self) -> u64 {
        self.next_id.load(Ordering::Acquire)
    }

    /// A request from the listener.
    pub(crate) async fn handle<B>(self: Arc<Self>, request: Request<B>) -> Response<Body>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Error>,
    {
        let id = self.next_id.fetch_add(1, Ordering::AcqRel) + 1;
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let table = self.apps.current();
        let local = table.route(&path).cloned();
        // A request from another server is answered here or not at all.
        let forwarded = request.headers().contains_key(FORWARDED);
        let elsewhere = if forwarded {
            None
        } else {
            self.apps
                .elsewhere
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        // A call between apps from another server names its app.
        if forwarded && let Some(name) = request.headers().get(APP_HEADER) {
            let name = name.to_str().unwrap_or_default().to_string();
            let hops = request
                .headers()
                .get(HOPS_HEADER)
                .and_then(|h| h.to_str().ok()?.parse().ok())
                .unwrap_or(0);
            let Some(app) = table.named(&name).cloned() else {
                return self.named(responses::text(
                    StatusCode::BAD_GATEWAY,
                    id,
                    &format!(
                        "another node sent a call to http://{name}{SERVICE_DOMAIN}/ here, and no app named {name:?} is served here now; a forwarded request is not forwarded again"
                    ),
                ));
            };
            drop(table);
            return self.named(self.serve(&app, request, id, hops).await);
        }
        let remote = elsewhere.as_ref().and_then(|e| e.route(&path));
        if let Some(e) = elsewhere
            && remote > local.as_ref().map(|a| a.http.route.len())
        {
            drop(table);
            return forward(e, request, id, None).await;
        }
        let Some(app) = local else {
            if forwarded {
                return self.named(responses::text(
                    StatusCode::BAD_GATEWAY,
                    id,
                    &format!(
                        "another node sent {path} here, and no app is served at it here now; a forwarded request is not forwarded again"
                    ),
                ));
            }
            let message = if table.apps.is_empty() {
                format!("no app is served at {path}: no app is served here now")
            } else {
                let routes: Vec<String> = table
                    .apps
                    .iter()
                    .map(|a| format!("{} ({})", a.http.route, a.name))
                    .collect();
                format!("no app is served at {path}; routes: {}", routes.join(", "))
            };
            return self.named(responses::text(StatusCode::NOT_FOUND, id, &message));
        };
        drop(table);
        app.requests.fetch_add(1, Ordering::Relaxed);
        if request.uri().authority().is_none()
            && !request.headers().contains_key(http::header::HOST)
        {
            return responses::text(
                StatusCode::BAD_REQUEST,
                id,
                "the request has no Host header",
            );
        }
        let response = self.named(self.serve(&app, request, id, 0).await);
        if self.log_requests {
            app.log(
                id,
                &format!(
                    "{method} {path} {} in {:.2} ms",
                    response.status().as_u16(),
                    started.elapsed().as_secs_f64() * 1e3
                ),
            );
        }
        response
    }

    /// Says which server answered, when it is a node of a cluster.
    fn named(&self, mut response: Response<Body>) -> Response<Body> {
        if let Some(node) = self
            .apps
            .node
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            response.headers_mut().insert(NODE_HEADER, node);
        }
        response
    }

    /// Runs `request` on an instance of `app` and returns its response, or
    /// the server's own when the app could not answer.
    async fn serve<B>(
        &self,
        app: &Arc<LoadedApp>,
        request: Request<B>,
        id: u64,
        hops: u32,
    ) -> Response<Body>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Error>,
    {
        let what = format!("{} {}", request.method(), request.uri().path());
        let permit = match app.admission.enter().await {
            Ok(p) => p,
            Err(full) => {
                let message = format!(
                    "{} is busy: {} requests running and {} waiting (http.concurrency, http.queue); try again later",
                    app.name, full.running, full.waiting
                );
                app.log(id, &format!("{what}: 503: {message}"));
                return responses::text(StatusCode::SERVICE_UNAVAILABLE, id, &message);
            }
        };
        let (sender, receiver) = oneshot::channel();
        let busy = self.work.start();
        let running = {
            let app = app.clone();
            let peers: Weak<dyn Peers> = self.me.clone();
            let what = what.clone();
            tokio::spawn(async move {
                let call = guest::Call {
                    id,
                    hops,
                    what: &what,
                };
                let end = guest::run(&app, peers, request, sender, call).await;
                drop(permit);
                drop(busy);
                end
            })
        };
        match receiver.await {
            Ok(Ok(mut response)) => {
                responses::tag(&mut response, id);
                response
            }
            Ok(Err(code)) => {
                let message = format!("{} answered with an error: {}", app.name, describe(&code));
                app.log(id, &format!("{what}: 500: {message}"));
                responses::text(StatusCode::INTERNAL_SERVER_ERROR, id, &message)
            }
            Err(_) => match running.await {
                Ok(End::Failed(Outcome::TimedOut { limit, .. })) => responses::text(
                    StatusCode::GATEWAY_TIMEOUT,
                    id,
                    &format!(
                        "{} did not answer within {} (limits.timeout)",
                        app.name,
                        format_duration(limit)
                    ),
                ),
                Ok(End::Failed(_)) => responses::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    id,
                    &format!(
                        "{} failed while handling the request; the server log has the details",
                        app.name
                    ),
                ),
                Ok(End::Returned) => {
                    let message = format!("{} returned without sending a response", app.name);
                    app.log(id, &format!("{what}: 500: {message}"));
                    responses::text(StatusCode::INTERNAL_SERVER_ERROR, id, &message)
                }
                Err(e) => {
                    let message = format!("{} stopped unexpectedly: {e}", app.name);
                    app.log(id, &format!("{what}: 500: {message}"));
                    responses::text(StatusCode::INTERNAL_SERVER_ERROR, id, &message)
                }
            },
        }
    }
}

impl Peers for Requests {
    /// A request from an app to `http://NAME.service/`.
    fn call(
        &self,
        name: &str,
        request: Request<WasiBody>,
        id: u64,
        hops: u32,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        let table = self.apps.current();
        let elsewhere = self
            .apps
            .elsewhere
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if table.named(name).is_none()
            && let Some(e) = elsewhere.filter(|e| e.has_app(name))
        {
            let name = name.to_string();
            return Box::pin(async move { forward(e, request, id, Some((&name, hops))).await });
        }
        let Some(app) = table.named(name).cloned() else {
            let names: Vec<&str> = table.apps.iter().map(|a| &*a.name).collect();
            let response = responses::text(
                StatusCode::BAD_GATEWAY,
                id,
                &format!(
                    "no app named {name:?} is served here, so http://{name}{SERVICE_DOMAIN}/ leads nowhere; apps on this server: {}",
                    names.join(", ")
                ),
            );
            return Box::pin(std::future::ready(response));
        };
        Box::pin(async move { self.serve(&app, request, id, hops).await })
    }
}

/// Sends `request` to the server [`Elsewhere`] picks, its body read
/// whole first (up to [`MAX_FORWARDED_BODY`]);
/// `call`: the app named and the hops so far, for a call between apps.
async fn forward<B>(
    elsewhere: Arc<dyn Elsewhere>,
    request: Request<B>,
    id: u64,
    call: Option<(&str, u32)>,
) -> Response<Body>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Error>,
{
    let (parts, body) = request.into_parts();
    let body = body.map_err(|e| {
        let e: Error = e.into();
        std::io::Error::other(e.to_string())
    });
    let body = match http_body_util::Limited::new(body, MAX_FORWARDED_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return responses::text(
                StatusCode::PAYLOAD_TOO_LARGE,
                id,
                &format!(
                    "the request body could not be read whole, or is over {} MiB, the most a node forwards to another",
                    MAX_FORWARDED_BODY >> 20
                ),
            );
        }
    };
    let mut request = Request::from_parts(parts, body);
    let response = match call {
        Some((name, hops)) => {
            request
                .headers_mut()
                .insert(HOPS_HEADER, http::HeaderValue::from(hops));
            elsewhere.call_app(name, request, id).await
        }
        None => elsewhere.forward(request, id).await,
    };
    let (parts, body) = response.into_parts();
    let body = Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::from_parts(parts, body)
}

/// A guest's error code in words.
fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::InternalError(Some(m)) => format!("internal error: {m}"),
        other => format!("{other:?}"),
    }
}
