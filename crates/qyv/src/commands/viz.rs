//! `qyv viz`: the node's dashboard on this machine. It serves the
//! dashboard's files (compiled into the binary, as the node serves them
//! under `/ui`) on a local address and passes the page's API requests on
//! to the node of the current context (or `--node`) with that context's
//! token and pinned certificate. The page logs in with a token made for
//! this session only, so the node's own token never reaches the browser.
//! `--print` shows the same data as a text frame in the terminal instead,
//! for SSH sessions.

use std::io::{IsTerminal, Read};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use qyvol_manifest::format_size;
use qyvol_node::Token;
use qyvol_node::api::types::{AppStatus, ErrorBody, Event, State as AppState};
use qyvol_node::client::Client;

use crate::cli::VizArgs;
use crate::remote::{ago, connect};

/// Largest request body the viewer passes on (the page sends none larger:
/// it starts, stops and restarts apps).
const BODY_LIMIT: usize = 64 << 10;

pub fn viz(args: VizArgs) -> Result<i32> {
    if super::cluster::current_is_cluster(args.node.node.as_deref()) {
        anyhow::bail!(
            "qyv viz shows one node, and this is a cluster: a view of a whole cluster is not implemented yet; name one of its nodes with --node https://HOST[:PORT] (qyv cluster nodes lists them), or watch the cluster with qyv cluster ps"
        );
    }
    let client = connect(&args.node, None)?;
    if args.print {
        return print(&client, &args);
    }
    // The node is asked once first: an unreachable node, a wrong token or
    // pin is said now, not as a page that cannot log in.
    client.node()?;
    let session = Token::generate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(client, session, &args))
}

struct Viewer {
    client: Client,
    session: Token,
}

async fn serve(client: Client, session: Token, args: &VizArgs) -> Result<i32> {
    let node = client.base().to_string();
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}/ui");
    println!("qyv viz: the dashboard of {node} on {url}");
    println!("token (for this session only): {}", session.as_str());
    if !addr.ip().is_loopback() {
        eprintln!(
            "note: {addr} is reachable from other machines, in plain HTTP: the session token crosses the network in clear"
        );
    }
    if !args.no_open {
        open_browser(&url);
    }
    let viewer = Arc::new(Viewer { client, session });
    let app: Router = qyvol_node::ui::router()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/v1/{*rest}", any(forward))
        .with_state(viewer);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(0)
}

/// Opens the page in the desktop's browser, if there is one.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let opened = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if opened.is_err() {
        eprintln!("note: no browser could be opened ({opener}): open {url} yourself");
    }
}

fn refusal(status: StatusCode, error: &str, message: String) -> Response {
    let body = ErrorBody {
        error: error.into(),
        message,
        reason: None,
    };
    (status, axum::Json(body)).into_response()
}

/// Passes a request of the page on to the node, with the node's token in
/// place of the session's, and the answer back as it comes.
async fn forward(State(viewer): State<Arc<Viewer>>, request: Request) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if viewer.session.check_header(presented).is_err() {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no token, or not the one this viewer printed".into(),
        );
    }
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let Ok(body) = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await else {
        return refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "this viewer passes on bodies of at most {}",
                format_size(BODY_LIMIT as u64)
            ),
        );
    };
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    let sender = viewer.clone();
    // The node's client is blocking: the answer is read on a thread of
    // its own and handed over piece by piece (a stream may last hours).
    tokio::task::spawn_blocking(move || {
        let mut answer = match sender.client.forward(method, &path, body.to_vec()) {
            Ok(a) => a,
            Err(e) => {
                let _ = head_tx.send(Err(e.to_string()));
                return;
            }
        };
        let kind = answer
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        if head_tx.send(Ok((answer.status().as_u16(), kind))).is_err() {
            return;
        }
        let mut buf = vec![0u8; 16 << 10];
        loop {
            match answer.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    match head_rx.await {
        Ok(Ok((status, kind))) => {
            let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            (
                status,
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
                Body::from_stream(body),
            )
                .into_response()
        }
        Ok(Err(message)) => refusal(StatusCode::BAD_GATEWAY, "unreachable", message),
        Err(_) => refusal(
            StatusCode::BAD_GATEWAY,
            "unreachable",
            "the request to the node failed".into(),
        ),
    }
}

/// `--print`: a text frame of the node's apps and latest events, again
/// every `--interval` (once with `--once`).
fn print(client: &Client, args: &VizArgs) -> Result<i32> {
    let tty = std::io::stdout().is_terminal() && !args.once;
    loop {
        let apps = client.apps()?;
        let events = client.events(None, 0, 8)?;
        let text = frame(client.base(), &apps, &events);
        if tty {
            // Home and clear, then the frame: it replaces the last one.
            print!("\x1b[H\x1b[2J{text}");
        } else {
            println!("{text}");
        }
        if args.once {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(args.interval.max(100)));
    }
}

/// The text of one frame.
fn frame(node: &str, apps: &[AppStatus], events: &[Event]) -> String {
    use std::fmt::Write;
    let count = |s: AppState| apps.iter().filter(|a| a.state == s).count();
    let memory: u64 = apps.iter().map(|a| a.memory_bytes).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{node} · {} apps: {} running, {} restarting, {} failed, {} stopped · memory {}",
        apps.len(),
        count(AppState::Running),
        count(AppState::Backoff),
        count(AppState::Failed),
        count(AppState::Stopped),
        format_size(memory)
    );
    let width = apps.iter().map(|a| a.name.len()).max().unwrap_or(0).max(4);
    let _ = writeln!(
        out,
        "\n{:<width$}  {:<10} {:>4}  {:>9}  {:>8}  {:>8}  {:<10} LAST EXIT",
        "NAME", "STATE", "INST", "MEMORY", "CPU", "RESTARTS", "SINCE"
    );
    for a in apps {
        let since = match a.state {
            AppState::Running | AppState::Starting => ago(a.started_at.as_deref()),
            _ => ago(a.ended_at.as_deref().or(Some(&a.deployed_at))),
        };
        let exit = match (a.exit_code, &a.reason) {
            (Some(c), Some(r)) => format!("{c} ({r})"),
            (Some(c), None) => c.to_string(),
            (None, Some(r)) => r.clone(),
            (None, None) => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<10} {:>4}  {:>9}  {:>7.2}s  {:>8}  {:<10} {exit}",
            a.name,
            a.state.as_str(),
            a.instances,
            format_size(a.memory_bytes),
            a.cpu_ms as f64 / 1000.0,
            a.restarts,
            since,
        );
    }
    if !events.is_empty() {
        let _ = writeln!(out, "\nEVENTS");
        for e in events {
            let _ = writeln!(
                out,
                "{:<10} {:<12} {:<11} {}",
                ago(Some(&e.time)),
                e.app,
                e.kind,
                e.message
            );
        }
    }
    out
}
