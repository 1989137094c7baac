//! One function per route.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use qyvol_manifest::{AppType, check_name, parse_duration};
use serde::Deserialize;
use tokio::sync::broadcast;

use super::ApiError;
use super::types::*;
use crate::error::NodeError;
use crate::node::Node;
use crate::store::{AppRow, EventKind, EventRow, RevisionRow};
use crate::supervisor::{Live, Trigger, db};
use crate::time::rfc3339;

type Result<T> = std::result::Result<T, ApiError>;

/// Longest `wait` a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(600);
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

pub(super) fn status(row: &AppRow, rev: &RevisionRow, live: Option<Live>) -> AppStatus {
    let live = live.unwrap_or_default();
    AppStatus {
        name: row.name.clone(),
        app_type: rev.app_type.to_string(),
        version: rev.version.clone(),
        revision: row.revision,
        digest: rev.digest.clone(),
        desired: row.desired,
        state: live.state,
        instances: live.instances(),
        restarts: live.restarts,
        exit_code: live.exit_code,
        reason: live.reason.clone(),
        started_at: live.started_at.map(rfc3339),
        ended_at: live.ended_at.map(rfc3339),
        next_start_at: live.next_start_at.map(rfc3339),
        memory_bytes: live.memory(),
        cpu_ms: live.cpu_time().as_millis() as u64,
        deployed_at: rfc3339(rev.created_at),
        source: row.source.clone(),
        restart: live.restart.map(|r| r.to_string()),
        route: live.route.clone(),
    }
}

/// An app name from a path, checked as a manifest's `name` is.
pub(super) fn app_name(name: &str) -> std::result::Result<String, NodeError> {
    check_name(name)
        .map(|_| name.to_string())
        .map_err(|why| NodeError::BadRequest(format!("{name:?} is not an app name: {why}")))
}

async fn app_status(node: &Node, name: &str) -> Result<AppStatus> {
    let owned = name.to_string();
    let (row, rev) = db(node.supervisor.store(), move |s| s.current(&owned)).await?;
    Ok(status(&row, &rev, node.supervisor.live(name)))
}

pub async fn health(State(node): State<Arc<Node>>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: node.supervisor.uptime().as_secs(),
    })
}

pub async fn node_info(State(node): State<Arc<Node>>) -> Result<Json<NodeInfo>> {
    let apps = db(node.supervisor.store(), |s| s.apps()).await?.len();
    Ok(Json(NodeInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        max_upload: node.max_upload,
        require_signature: node.supervisor.trust().require_signature,
        fingerprint: node.fingerprint.to_string(),
        apps,
        uptime_seconds: node.supervisor.uptime().as_secs(),
    }))
}

pub async fn list(State(node): State<Arc<Node>>) -> Result<Json<Vec<AppStatus>>> {
    let rows = db(node.supervisor.store(), |s| s.all_current()).await?;
    Ok(Json(
        rows.iter()
            .map(|(row, rev)| status(row, rev, node.supervisor.live(&row.name)))
            .collect(),
    ))
}

pub async fn deploy(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Deployed>)> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let deployed = crate::deploy::deploy(&node, body, length).await?;
    let code = if deployed.unchanged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((code, Json(deployed)))
}

/// `POST /v1/pull`: the node pulls the bundle itself, by digest.
pub async fn deploy_pulled(
    State(node): State<Arc<Node>>,
    Json(request): Json<PullRequest>,
) -> Result<(StatusCode, Json<Deployed>)> {
    let deployed = crate::deploy::deploy_reference(&node, &request.reference).await?;
    let code = if deployed.unchanged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((code, Json(deployed)))
}

pub async fn detail(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
) -> Result<Json<AppDetail>> {
    let name = app_name(&name)?;
    let status = app_status(&node, &name).await?;
    let owned = name.clone();
    let revisions = db(node.supervisor.store(), move |s| s.revisions(&owned)).await?;
    // What the current bundle's manifest grants; a bundle that cannot be
    // read leaves them out (its status says why it does not run).
    let bundle = node.supervisor.artifacts().path(&status.digest);
    let grants = tokio::task::spawn_blocking(move || {
        let manifest = qyvol_manifest::bundle::Bundle::open(&bundle)
            .ok()?
            .manifest()
            .ok()?;
        Some((
            serde_json::to_value(&manifest.permissions).ok()?,
            serde_json::to_value(&manifest.limits).ok()?,
        ))
    })
    .await
    .ok()
    .flatten();
    let (permissions, limits) = grants.unzip();
    Ok(Json(AppDetail {
        permissions,
        limits,
        revisions: revisions
            .into_iter()
            .map(|r| Revision {
                current: r.number == status.revision,
                number: r.number,
                digest: r.digest,
                size: r.size,
                version: r.version,
                signer: r.signer,
                rollback_of: r.rollback_of,
                created_at: rfc3339(r.created_at),
            })
            .collect(),
        status,
    }))
}

pub async fn remove(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Result<StatusCode> {
    let name = app_name(&name)?;
    let held = node.supervisor.lock(&name).await;
    let owned = name.clone();
    let digests = db(node.supervisor.store(), move |s| s.remove(&owned)).await?;
    node.supervisor.apply(&held, Trigger::Removed).await?;
    let keep = db(node.supervisor.store(), |s| s.referenced_digests()).await?;
    node.supervisor.artifacts().remove_unused(&digests, &keep);
    tracing::info!(app = name, "{name} removed");
    Ok(StatusCode::NO_CONTENT)
}

/// start, stop, restart: what the app should be, then make it so.
async fn act(node: &Node, name: &str, action: Action) -> Result<Json<AppStatus>> {
    let name = app_name(name)?;
    let held = node.supervisor.lock(&name).await;
    let (desired, kind, trigger, message) = match action {
        Action::Start => (
            Desired::Running,
            EventKind::Start,
            Trigger::Start,
            "a client asked to start it",
        ),
        Action::Stop => (
            Desired::Stopped,
            EventKind::Stop,
            Trigger::Stop,
            "a client asked to stop it",
        ),
        Action::Restart => (
            Desired::Running,
            EventKind::Restart,
            Trigger::Restart,
            "a client asked to restart it",
        ),
    };
    let owned = name.clone();
    db(node.supervisor.store(), move |s| {
        s.set_desired(&owned, desired, kind, message)
    })
    .await?;
    node.supervisor.apply(&held, trigger).await?;
    drop(held);
    app_status(node, &name).await.map(Json)
}

pub async fn start(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
) -> Result<Json<AppStatus>> {
    act(&node, &name, Action::Start).await
}

pub async fn stop(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
) -> Result<Json<AppStatus>> {
    act(&node, &name, Action::Stop).await
}

pub async fn restart(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
) -> Result<Json<AppStatus>> {
    act(&node, &name, Action::Restart).await
}

pub async fn rollback(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<AppStatus>> {
    let name = app_name(&name)?;
    let request: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            NodeError::BadRequest(format!(
                "the body is not a rollback request ({{\"revision\": N}} or nothing): {e}"
            ))
        })?
    };
    let held = node.supervisor.lock(&name).await;
    let owned = name.clone();
    let target = db(node.supervisor.store(), move |s| {
        s.rollback_target(&owned, request.revision)
    })
    .await?;
    // An HTTP revision comes back only where it can be served.
    let _routes = match node.supervisor.stored_route(&target.digest).await {
        Some(route) => {
            let guard = node.supervisor.lock_routes().await;
            if let Some(why) = node.supervisor.refuse_route(&name, &route).await? {
                // A rollback is refused as a conflict with the node's state.
                return Err(NodeError::Conflict(format!(
                    "cannot roll {name} back to revision {}: {why}",
                    target.number
                ))
                .into());
            }
            Some(guard)
        }
        None => None,
    };
    let owned = name.clone();
    let (number, to) = db(node.supervisor.store(), move |s| {
        s.rollback(&owned, Some(target.number))
    })
    .await?;
    tracing::info!(
        app = name,
        to,
        revision = number,
        "{name} rolled back to revision {to} (now revision {number})"
    );
    // The revision is recorded: a failure to start shows in the status.
    let _ = node.supervisor.apply(&held, Trigger::Changed).await;
    drop(held);
    app_status(&node, &name).await.map(Json)
}

#[derive(Deserialize)]
pub struct WaitQuery {
    revision: Option<u32>,
    timeout: Option<String>,
}

/// Answers once the app (at `revision` or later) runs or has ended, or
/// when the time is up: the status says which.
pub async fn wait(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<AppStatus>> {
    let name = app_name(&name)?;
    let limit = match &q.timeout {
        None => DEFAULT_WAIT,
        Some(t) => parse_duration(t)
            .map_err(|e| NodeError::BadRequest(format!("timeout: {e}")))?
            .min(MAX_WAIT),
    };
    let owned = name.clone();
    let (row, rev) = db(node.supervisor.store(), move |s| s.current(&owned)).await?;
    let revision = q.revision.unwrap_or(row.revision);
    if node.supervisor.watch(&name).is_none() {
        return Ok(Json(status(&row, &rev, node.supervisor.live(&name))));
    }
    // A command is waited for until it has ended; anything else until it
    // runs (or has ended).
    let command = rev.app_type == AppType::Command;
    let seen = node
        .supervisor
        .settled(&name, revision, command, limit)
        .await;
    let Some(seen) = seen else {
        return app_status(&node, &name).await.map(Json);
    };
    // The status of the revision that settled, even when a later deploy
    // has replaced it since: that is what the waiting client asked about.
    let owned = name.clone();
    let (mut row, rev) = db(node.supervisor.store(), move |s| s.current(&owned)).await?;
    if seen.revision == row.revision {
        return Ok(Json(status(&row, &rev, Some(seen))));
    }
    let owned = name.clone();
    let revisions = db(node.supervisor.store(), move |s| s.revisions(&owned)).await?;
    let rev = revisions
        .into_iter()
        .find(|r| r.number == seen.revision)
        .unwrap_or(rev);
    row.revision = rev.number;
    Ok(Json(status(&row, &rev, Some(seen))))
}

#[derive(Deserialize)]
pub struct LogsQuery {
    tail: Option<usize>,
    follow: Option<bool>,
}

/// NDJSON: the last lines, then (with `follow`) new ones as they come.
pub async fn logs(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Response> {
    let name = app_name(&name)?;
    let owned = name.clone();
    if db(node.supervisor.store(), move |s| s.app(&owned))
        .await?
        .is_none()
    {
        return Err(NodeError::NoSuchApp(name).into());
    }
    let log = node.supervisor.logs().app(&name);
    let tail = q.tail.unwrap_or(100).min(100_000);
    let follow = q.follow.unwrap_or(false);
    // Reading a long tail is blocking work: off the runtime's threads.
    let (lines, follow) = tokio::task::spawn_blocking(move || log.tail(tail, follow))
        .await
        .map_err(|e| NodeError::Internal(format!("reading the log failed: {e}")))?;
    let mut text = String::new();
    for line in &lines {
        text.push_str(&serde_json::to_string(line).unwrap_or_default());
        text.push('\n');
    }
    let head = stream::iter([Ok::<Bytes, Infallible>(Bytes::from(text))]);
    let body = match follow {
        None => Body::from_stream(head),
        Some(rx) => {
            use futures_util::StreamExt;
            let rest = stream::unfold(rx, |mut rx| async move {
                let line = match rx.recv().await {
                    Ok(line) => line,
                    Err(broadcast::error::RecvError::Lagged(n)) => LogLine {
                        time: rfc3339(crate::time::now_ms()),
                        stream: "qyv".into(),
                        revision: 0,
                        text: format!("{n} lines were skipped: this client read them too slowly"),
                    },
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
                bytes.push(b'\n');
                Some((Ok::<Bytes, Infallible>(Bytes::from(bytes)), rx))
            });
            // A stopping node ends the answer, which would go on forever.
            let rest = rest.take_until(node.closing.clone().wait());
            Body::from_stream(head.chain(rest))
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

#[derive(Deserialize)]
pub struct EventsQuery {
    app: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

pub async fn events(
    State(node): State<Arc<Node>>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Vec<Event>>> {
    if let Some(app) = &q.app {
        app_name(app)?;
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let rows = db(node.supervisor.store(), move |s| {
        s.events(q.app.as_deref(), q.after.unwrap_or(0), limit)
    })
    .await?;
    Ok(Json(rows.into_iter().map(event).collect()))
}

/// A stored event as the API sends it.
pub(super) fn event(e: EventRow) -> Event {
    Event {
        id: e.id,
        time: rfc3339(e.time),
        app: e.app,
        revision: e.revision,
        kind: e.kind.to_string(),
        message: e.message,
    }
}

pub async fn metrics(State(node): State<Arc<Node>>) -> Result<Response> {
    let rows = db(node.supervisor.store(), |s| s.all_current()).await?;
    let apps: Vec<_> = rows
        .into_iter()
        .map(|(row, rev)| {
            let live = node.supervisor.live(&row.name).unwrap_or_default();
            (row, rev.app_type, live)
        })
        .collect();
    let text = crate::metrics::render(
        &apps,
        &node.supervisor.http_requests(),
        node.supervisor.uptime().as_secs_f64(),
    );
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}
