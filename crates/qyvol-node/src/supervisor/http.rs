//! HTTP apps on the node: while one should run, its current revision is in
//! the table of the node's HTTP server (the serving code of `qyv serve`), at
//! its route.

use std::collections::HashMap;
use std::sync::Arc;

use qyvol_manifest::AppType;
use qyvol_manifest::bundle::Bundle;
use qyvol_runtime::serve::{ServeApp, ServeHandle, Served};
use qyvol_runtime::{CodeSource, Stdio};
use tokio::sync::watch;

use super::{Live, Prepared, Shared, Supervisor, db, untrusted_code_note};
use crate::api::types::State;
use crate::error::NodeError;
use crate::store::EventKind;

/// Why an HTTP app is not served by a node started without an HTTP port.
pub(crate) fn no_http_port(app: &str) -> String {
    format!(
        "{app} is a type: http app, and this node serves no HTTP apps: it was started without an HTTP port"
    )
}

/// Loads the app's revision (its bundle unpacked as `qyv run` would) and
/// puts it on the server, its output going to the app's log. Blocking.
fn put_app(shared: &Shared, http: &ServeHandle, app: &Prepared) -> Result<Served, String> {
    let bundle = Bundle::open(&app.bundle).map_err(|e| e.to_string())?;
    let note = untrusted_code_note(&bundle, app.trusted);
    let mut serve = ServeApp::from_bundle(&app.manifest, Arc::new(bundle), app.trusted);
    shared.limits.apply_to_serve(&app.manifest, &mut serve);
    serve.spec.cache = Some(shared.cache.clone());
    serve.spec.stdio = Stdio::Capture(shared.logs.app(&app.name).sink(app.revision));
    let mut served = http.put(serve).map_err(|e| e.to_string())?;
    served.warnings.extend(note);
    Ok(served)
}

impl Supervisor {
    /// The node's HTTP server, when it has one.
    pub fn http_handle(&self) -> Option<&ServeHandle> {
        self.shared.http.as_ref()
    }

    /// Whether the node serves HTTP apps (it was started with `--http`).
    pub fn serves_http(&self) -> bool {
        self.shared.http.is_some()
    }

    /// Requests routed to each HTTP app served now, since its revision was
    /// put in.
    pub fn http_requests(&self) -> HashMap<String, u64> {
        self.shared
            .http
            .as_ref()
            .map(|h| h.requests().into_iter().collect())
            .unwrap_or_default()
    }

    /// Taken by a deploy of an HTTP app from before it looks for the app
    /// holding its route until the app is started.
    pub async fn lock_routes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.shared.routes.lock().await
    }

    /// Why an HTTP app at `route` cannot be served here, if it cannot: the
    /// node serves no HTTP apps, or another app holds the route (stopped
    /// apps hold theirs too, so that starting one never finds it taken).
    /// Call it with [`Supervisor::lock_routes`] held.
    pub async fn refuse_route(
        &self,
        app: &str,
        route: &str,
    ) -> Result<Option<NodeError>, NodeError> {
        if !self.serves_http() {
            return Ok(Some(NodeError::NoHttpPort(no_http_port(app))));
        }
        let rows = db(&self.shared.store, |s| s.all_current()).await?;
        for (row, rev) in rows {
            if row.name == app || rev.app_type != AppType::Http {
                continue;
            }
            // A bundle that cannot be read now holds no route it could
            // serve; its own start says what is wrong with it.
            if self.stored_route(&rev.digest).await.as_deref() == Some(route) {
                let other = row.name;
                return Ok(Some(NodeError::BadBundle(format!(
                    "http.route {route} belongs to app {other} on this node; give {app} another http.route, or remove {other} from this node first"
                ))));
            }
        }
        Ok(None)
    }

    /// The `http.route` of the HTTP app in a stored bundle.
    pub async fn stored_route(&self, digest: &str) -> Option<String> {
        let path = self.shared.artifacts.path(digest);
        tokio::task::spawn_blocking(move || {
            let manifest = Bundle::open(&path).ok()?.manifest().ok()?;
            (manifest.app_type == AppType::Http).then(|| manifest.http_settings().route)
        })
        .await
        .ok()
        .flatten()
    }

    /// The path that tells the HTTP app in a stored bundle healthy:
    /// `http.health`, else its route.
    pub async fn stored_health(&self, digest: &str) -> Option<String> {
        let path = self.shared.artifacts.path(digest);
        tokio::task::spawn_blocking(move || {
            let manifest = Bundle::open(&path).ok()?.manifest().ok()?;
            let http = manifest.http_settings();
            (manifest.app_type == AppType::Http).then(|| http.health.unwrap_or(http.route))
        })
        .await
        .ok()
        .flatten()
    }

    /// Whether the app's `revision` is served now.
    pub(super) fn served(&self, app: &str, revision: u32) -> bool {
        let is_served = self
            .shared
            .http
            .as_ref()
            .is_some_and(|h| h.routes().iter().any(|(_, name)| name == app));
        is_served
            && self.live(app).is_some_and(|l| {
                l.revision == revision && l.state == State::Running && l.route.is_some()
            })
    }

    /// Takes the app off the HTTP server, if it is on it; its requests in
    /// flight finish.
    pub(super) fn unserve(&self, app: &str) {
        if let Some(http) = &self.shared.http {
            http.remove(app);
        }
    }

    /// Puts an HTTP app's revision on the node's HTTP server, in place of
    /// its revision before, if any.
    pub(super) async fn serve(
        &self,
        app: Prepared,
        live: &watch::Sender<Live>,
    ) -> Result<(), NodeError> {
        let route = app.manifest.http_settings().route;
        live.send_modify(|l| {
            l.restart = None;
            l.revision = app.revision;
            l.state = State::Starting;
            l.reason = None;
            l.exit_code = None;
            l.next_start_at = None;
            l.ended_at = None;
            l.control = None;
            l.route = Some(route.clone());
        });
        let (name, revision) = (app.name.clone(), app.revision);
        let put = match &self.shared.http {
            None => Err(no_http_port(&name)),
            Some(http) => {
                let http = http.clone();
                let shared = self.shared.clone();
                tokio::task::spawn_blocking(move || put_app(&shared, &http, &app))
                    .await
                    .map_err(|e| format!("a task failed: {e}"))
                    .and_then(|r| r)
            }
        };
        match put {
            Ok(served) => {
                let log = self.shared.logs.app(&name).sink(revision);
                for w in &served.warnings {
                    tracing::warn!(app = name, "{name}: {w}");
                    qyvol_runtime::OutputSink::write(
                        &*log,
                        qyvol_runtime::StdStream::Stderr,
                        format!("qyv: {w}\n").as_bytes(),
                    );
                }
                live.send_modify(|l| {
                    l.state = State::Running;
                    l.started_at = Some(crate::time::now_ms());
                });
                let code = match served.code {
                    CodeSource::Precompiled => "the bundle's precompiled code",
                    CodeSource::CacheHit => "code from the node's cache",
                    _ => "code compiled now",
                };
                let message = format!(
                    "revision {revision} served at {route} on the node's HTTP port, with {code}"
                );
                tracing::info!(app = name, revision, route, "{name}: {message}");
                db(&self.shared.store, move |s| {
                    s.add_event(&name, Some(revision), EventKind::Started, &message)
                })
                .await
            }
            Err(reason) => {
                // Not the revision before either: the app is where its
                // state says, failed.
                self.unserve(&name);
                live.send_modify(|l| {
                    l.state = State::Failed;
                    l.reason = Some(reason.clone());
                    l.ended_at = Some(crate::time::now_ms());
                });
                tracing::warn!(app = name, revision, "{name} revision {revision}: {reason}");
                let event = reason.clone();
                db(&self.shared.store, move |s| {
                    s.add_event(&name, Some(revision), EventKind::Failed, &event)
                })
                .await?;
                Err(NodeError::Internal(reason))
            }
        }
    }
}
