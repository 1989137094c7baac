//! `GET /v1/stream`: the node's changes pushed to a client as Server-Sent
//! Events (`text/event-stream`), for the dashboard and anyone watching.
//! First `node` (which node this is), with `logs=APP` the last lines of
//! that app's log as `log`s, every app as an `app`, the recent `event`s,
//! and `synced` (all of that was told); then, as they happen, each app
//! whose status changed (`app`), each app removed (`removed`), each new
//! event (`event`) and each new log line (`log`). It waits on the node's
//! change counter rather than polling, and looks again every [`REFRESH`]
//! for what changes without an event (memory, CPU time, an HTTP app's
//! requests). Each `data:` is
//! one JSON object on one line.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::handlers::{app_name, event, status};
use super::types::{LogLine, StreamApp, StreamLog, StreamNode};
use super::{ApiError, types::ErrorBody};
use crate::error::NodeError;
use crate::node::Node;
use crate::supervisor::db;
use crate::time::{now_ms, rfc3339};

/// How often the stream looks at every app even when nothing was told
/// (memory and CPU time change without an event).
const REFRESH: Duration = Duration::from_secs(2);

/// How long the stream waits after a change for the ones that come with
/// it (a deploy is a store write, then a few instance changes), so that
/// they go out together.
const SETTLE: Duration = Duration::from_millis(30);

/// A comment goes out after this long without anything else, so that
/// proxies and the node's own idle limit keep the connection.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Events sent when a client connects (the newest ones).
const RECENT_EVENTS: u32 = 100;

/// Largest `tail` a client may ask for.
const MAX_TAIL: usize = 10_000;

#[derive(Deserialize)]
pub struct StreamQuery {
    /// The app whose log lines to send.
    logs: Option<String>,
    /// How many of its last lines to send first (default 200).
    tail: Option<usize>,
}

type Follow = Option<broadcast::Receiver<LogLine>>;

pub async fn stream(
    State(node): State<Arc<Node>>,
    Query(q): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    let logs = match &q.logs {
        None => None,
        Some(name) => {
            let name = app_name(name)?;
            let owned = name.clone();
            if db(node.supervisor.store(), move |s| s.app(&owned))
                .await?
                .is_none()
            {
                return Err(NodeError::NoSuchApp(name).into());
            }
            let log = node.supervisor.logs().app(&name);
            let tail = q.tail.unwrap_or(200).min(MAX_TAIL);
            let (lines, follow) = tokio::task::spawn_blocking(move || log.tail(tail, true))
                .await
                .map_err(|e| NodeError::Internal(format!("reading the log failed: {e}")))?;
            Some((name, lines, follow))
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(produce(node.clone(), logs, Sink::new(tx)));
    let body = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
    })
    // A stopping node ends the answer, which would go on forever.
    .take_until(node.closing.clone().wait());
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Where frames go; `false` from [`Sink::send`] means the client is gone.
struct Sink {
    tx: mpsc::Sender<Bytes>,
    last: Instant,
}

impl Sink {
    fn new(tx: mpsc::Sender<Bytes>) -> Sink {
        Sink {
            tx,
            last: Instant::now(),
        }
    }

    async fn send(&mut self, kind: &str, data: &impl Serialize) -> bool {
        self.last = Instant::now();
        self.tx.send(frame(kind, data)).await.is_ok()
    }

    async fn keep_alive(&mut self) -> bool {
        if self.last.elapsed() < KEEP_ALIVE {
            return true;
        }
        self.last = Instant::now();
        self.tx
            .send(Bytes::from_static(b": ping\n\n"))
            .await
            .is_ok()
    }
}

/// One Server-Sent Event: its name and its data, one line of JSON.
pub(crate) fn frame(kind: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    Bytes::from(format!("event: {kind}\ndata: {json}\n\n"))
}

/// What the client has been told, to send only what changed.
struct Told {
    apps: HashMap<String, StreamApp>,
    last_event: i64,
}

async fn produce(node: Arc<Node>, logs: Option<(String, Vec<LogLine>, Follow)>, mut sink: Sink) {
    let mut changes = node.supervisor.store().changes().subscribe();
    let hello = StreamNode {
        version: env!("CARGO_PKG_VERSION").into(),
        fingerprint: node.fingerprint.to_string(),
        uptime_seconds: node.supervisor.uptime().as_secs(),
        logs: logs.as_ref().map(|(name, _, _)| name.clone()),
    };
    if !sink.send("node", &hello).await {
        return;
    }
    let mut told = Told {
        apps: HashMap::new(),
        last_event: 0,
    };
    let (app, mut follow) = match logs {
        Some((name, lines, follow)) => {
            for line in lines {
                if !sink.send("log", &log(&name, line)).await {
                    return;
                }
            }
            (name, follow)
        }
        None => (String::new(), None),
    };
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut synced = false;
    loop {
        match tell(&node, &mut told, &mut sink).await {
            Ok(true) if !synced => {
                // Every app is told: a client drops those it knew that
                // are not among them (removed while it was away).
                synced = true;
                let apps = serde_json::json!({ "apps": told.apps.len() });
                if !sink.send("synced", &apps).await {
                    return;
                }
            }
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let body = ErrorBody {
                    error: e.code().into(),
                    message: e.to_string(),
                    reason: None,
                };
                let _ = sink.send("error", &body).await;
                return;
            }
        }
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    tokio::time::sleep(SETTLE).await;
                    changes.mark_unchanged();
                    break;
                }
                _ = tick.tick() => {
                    if !sink.keep_alive().await {
                        return;
                    }
                    break;
                }
                line = next_line(&mut follow) => {
                    let line = match line {
                        Ok(line) => line,
                        Err(broadcast::error::RecvError::Lagged(n)) => LogLine {
                            time: rfc3339(now_ms()),
                            stream: "qyv".into(),
                            revision: 0,
                            text: format!("{n} lines were skipped: this client read them too slowly"),
                        },
                        // The app was removed: its log ends.
                        Err(broadcast::error::RecvError::Closed) => {
                            follow = None;
                            continue;
                        }
                    };
                    if !sink.send("log", &log(&app, line)).await {
                        return;
                    }
                }
            }
        }
    }
}

async fn next_line(follow: &mut Follow) -> Result<LogLine, broadcast::error::RecvError> {
    match follow {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn log(app: &str, line: LogLine) -> StreamLog {
    StreamLog {
        app: app.to_string(),
        line,
    }
}

/// Sends the apps that changed, the ones removed and the new events;
/// `Ok(false)` when the client is gone.
async fn tell(node: &Node, told: &mut Told, sink: &mut Sink) -> Result<bool, NodeError> {
    let after = told.last_event;
    let limit = if after == 0 { RECENT_EVENTS } else { 1000 };
    let (rows, events) = db(node.supervisor.store(), move |s| {
        Ok((s.all_current()?, s.events(None, after, limit)?))
    })
    .await?;
    let requests = node.supervisor.http_requests();
    let mut seen = std::collections::HashSet::new();
    for (row, rev) in &rows {
        let status = status(row, rev, node.supervisor.live(&row.name));
        let now = StreamApp {
            http_requests: status
                .route
                .as_ref()
                .map(|_| requests.get(&row.name).copied().unwrap_or(0)),
            status,
        };
        seen.insert(row.name.clone());
        if told.apps.get(&row.name) != Some(&now) {
            if !sink.send("app", &now).await {
                return Ok(false);
            }
            told.apps.insert(row.name.clone(), now);
        }
    }
    let gone: Vec<String> = told
        .apps
        .keys()
        .filter(|name| !seen.contains(*name))
        .cloned()
        .collect();
    for name in gone {
        told.apps.remove(&name);
        if !sink
            .send("removed", &serde_json::json!({ "name": name }))
            .await
        {
            return Ok(false);
        }
    }
    for e in events {
        told.last_event = told.last_event.max(e.id);
        if !sink.send("event", &event(e)).await {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_one_event_with_one_line_of_data() {
        let line = LogLine {
            time: "t".into(),
            stream: "stdout".into(),
            revision: 1,
            text: "two\nlines <script>".into(),
        };
        let bytes = frame("log", &log("web", line));
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(
            text,
            "event: log\ndata: {\"app\":\"web\",\"time\":\"t\",\"stream\":\"stdout\",\"revision\":1,\"text\":\"two\\nlines <script>\"}\n\n"
        );
    }
}
