//! `qyv daemon`: opens the data folder (database, bundles, logs, compiled
//! code, certificate, token), picks up the apps where the last run of the
//! node left them, and serves the API over HTTPS until SIGINT or SIGTERM.
//! With `--http ADDR` it also serves its `type: http` apps, by route, in
//! plain HTTP on that address (the server of `qyv serve`, on a runtime of
//! its own so that busy apps never slow the API).
//!
//! The data folder:
//!
//! | path | what |
//! |---|---|
//! | `node.db` | SQLite (WAL): apps, revisions, runs, events |
//! | `bundles/sha256/` | uploaded bundles by SHA-256; `bundles/tmp/` uploads in progress |
//! | `logs/` | each app's output, JSON lines |
//! | `cache/` | compiled code |
//! | `tls/` | the self-signed certificate and its key, when the node made them |
//! | `token` | the API token |
//! | `lock` | held while a node uses the folder |

use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use qyvol_manifest::bundle::TrustPolicy;
use qyvol_manifest::format_duration;
use qyvol_runtime::CodeCache;
use qyvol_runtime::serve::{
    ConnectionLimits, Connections, Drained, Protocol, ServeError, ServeHandle, Server,
    ServerOptions, connection_budget, drain, drain_time,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::artifacts::Artifacts;
use crate::auth::Token;
use crate::error::{Listener, NodeError};
use crate::hold::Hold;
use crate::limits::NodeLimits;
use crate::logs::LogBook;
use crate::node::Node;
use crate::store::Store;
use crate::supervisor::Supervisor;
use crate::tls::{Fingerprint, Identity};

/// Binds the HTTP apps' port, with no app on it yet.
fn listen_http(addr: SocketAddr, listeners: &Listeners) -> Result<Server, NodeError> {
    Server::listen(ServerOptions {
        addr,
        log_requests: false,
        limits: listeners.http.clone(),
        drain: listeners.drain,
        label: "http".into(),
    })
    .map_err(|e| match e {
        ServeError::Bind { addr, source } => NodeError::Bind {
            listener: Listener::Http,
            message: format!("cannot serve HTTP apps on {addr}: {source}"),
        },
        other => NodeError::Internal(format!("cannot start the HTTP server: {other}")),
    })
}

/// Runs the HTTP server on a thread of its own until `stopping` turns true;
/// it then drains as the API does, by the same rule.
fn serve_http(
    server: Server,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<std::thread::JoinHandle<()>, NodeError> {
    std::thread::Builder::new()
        .name("qyv-daemon-http".into())
        .spawn(move || {
            let stop = async move {
                let _ = stopping.wait_for(|s| *s).await;
            };
            match server.run_until(stop, std::future::pending()) {
                Ok(summary) => {
                    if let Some(line) = summary.drain_report() {
                        tracing::warn!(listener = "http", "http: {line}");
                    }
                }
                Err(e) => tracing::error!(error = %e, "the HTTP server stopped: {e}"),
            }
        })
        .map_err(|e| NodeError::Internal(format!("cannot start the HTTP server's thread: {e}")))
}

/// What the node's listeners allow their connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listeners {
    /// The API's (TLS) listener.
    pub api: ConnectionLimits,
    /// The HTTP apps' port (`--http`).
    pub http: ConnectionLimits,
    /// How long a stopping node waits for the requests in flight on both;
    /// `None`: 10 s, or the longest `limits.timeout` of its HTTP apps.
    pub drain: Option<Duration>,
}

impl Default for Listeners {
    /// The API is for a node's operators and their tools: 512 connections,
    /// 128 from one address (more than 50 deploys at once). The HTTP port
    /// is a server of apps, often behind a proxy: no cap per address.
    fn default() -> Self {
        Listeners {
            api: ConnectionLimits {
                max_connections: 512,
                max_per_client: 128,
                ..ConnectionLimits::default()
            },
            http: ConnectionLimits::default(),
            drain: None,
        }
    }
}

impl Listeners {
    /// Lowers the caps so that the listeners' connections fit in the
    /// descriptors the process may use (`budget`), the API's in a quarter
    /// of them when the node serves HTTP apps too; says what it lowered.
    fn fit(&mut self, budget: usize, http: bool) -> Vec<String> {
        let api_share = if http { (budget / 4).max(1) } else { budget };
        let mut lowered = Vec::new();
        if let Some(w) = self.api.fit(api_share) {
            lowered.push(format!("API: {w}"));
        }
        if http
            && let Some(w) = self
                .http
                .fit(budget.saturating_sub(self.api.max_connections))
        {
            lowered.push(format!("http: {w}"));
        }
        lowered
    }
}

/// Largest upload when `--max-upload` is not given.
pub const DEFAULT_MAX_UPLOAD: u64 = 256 << 20;

/// How `qyv daemon` was asked to run.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub apps_dir: Option<PathBuf>,
    /// The user's certificate and key; `None`: the node's own.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_upload: u64,
    pub trust: TrustPolicy,
    /// Where HTTP apps are served; `None`: the node serves none.
    pub http: Option<SocketAddr>,
    /// Defaults and maxima for the apps' limits.
    pub limits: NodeLimits,
    /// Folders outside an apps-dir manifest's own that its entrypoint and
    /// mounts may name (see [`crate::bootdir`]).
    pub allowed_paths: Vec<PathBuf>,
    /// The cluster to join (`--cluster`); `None`: the one joined before,
    /// if any.
    pub cluster: Option<qyvol_cluster::Membership>,
    /// Timeouts, connection caps and the drain.
    pub listeners: Listeners,
}

/// What a started node tells its user.
#[derive(Clone, Debug)]
pub struct Started {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    pub data_dir: PathBuf,
    /// The certificate was made now (first start).
    pub certificate_created: bool,
    pub token_created: bool,
    pub apps: usize,
    /// Where HTTP apps are served.
    pub http: Option<SocketAddr>,
    /// What the listeners allow, caps lowered to fit the descriptor limit.
    pub listeners: Listeners,
    /// Things to tell the user that did not stop the node.
    pub warnings: Vec<String>,
}

/// A node ready to serve.
pub struct Daemon {
    runtime: tokio::runtime::Runtime,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    node: Arc<Node>,
    started: Started,
    apps_dir: Option<PathBuf>,
    allowed_paths: Vec<PathBuf>,
    http: Option<Server>,
    cluster: Option<qyvol_cluster::Membership>,
    api: Arc<Connections>,
    _lock: File,
}

/// The data folder's default: `/var/lib/qyvol` for root, else
/// `$XDG_DATA_HOME/qyvol/node` (or `~/.local/share/qyvol/node`).
pub fn default_data_dir() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    // The owner of /proc/self is the process's user.
    if fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        return Some(PathBuf::from("/var/lib/qyvol"));
    }
    qyvol_manifest::env::data_home().map(|d| d.join("qyvol").join("node"))
}

fn create_private_dir(dir: &Path) -> Result<(), NodeError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| NodeError::io("cannot create the data folder", dir, e))
}

impl Daemon {
    /// Opens the data folder and binds the listener; apps start with
    /// [`Daemon::run`].
    pub fn start(config: DaemonConfig) -> Result<Daemon, NodeError> {
        let data = &config.data_dir;
        create_private_dir(data)?;
        let lock_path = data.join("lock");
        let lock =
            File::create(&lock_path).map_err(|e| NodeError::io("cannot create", &lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(NodeError::DataDirInUse {
                dir: data.clone(),
                lock: lock_path,
            });
        }
        let identity = match &config.tls {
            Some((cert, key)) => Identity::load(cert, key)?,
            None => Identity::load_or_create(data)?,
        };
        let (token, token_created) = Token::load_or_create(data)?;
        let store = Arc::new(Store::open(&data.join("node.db"))?);
        let artifacts = Arc::new(Artifacts::open(&data.join("bundles"))?);
        let logs = Arc::new(LogBook::open(&data.join("logs"))?);
        let cache = CodeCache::new(data.join("cache"));
        let apps = store.apps()?.len();
        let mut listeners = config.listeners.clone();
        let warnings = listeners.fit(connection_budget(), config.http.is_some());
        let http = config
            .http
            .map(|addr| listen_http(addr, &listeners))
            .transpose()?;
        let http_addr = http.as_ref().map(Server::local_addr);
        config.limits.check().map_err(NodeError::BadRequest)?;
        let supervisor = Supervisor::new(
            store,
            artifacts,
            logs,
            cache,
            config.trust.clone(),
            http.as_ref().map(Server::handle),
            config.limits.clone(),
        );

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("qyv-daemon")
            .build()
            .map_err(|e| NodeError::Internal(format!("cannot start the async runtime: {e}")))?;
        let listener = runtime
            .block_on(TcpListener::bind(config.listen))
            .map_err(|e| NodeError::Bind {
                listener: Listener::Api,
                message: format!("cannot listen on {}: {e}", config.listen),
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        let acceptor = TlsAcceptor::from(Arc::new(identity.server_config()?));
        let started = Started {
            addr,
            fingerprint: identity.fingerprint,
            data_dir: data.clone(),
            certificate_created: identity.created,
            token_created,
            apps,
            http: http_addr,
            listeners: listeners.clone(),
            warnings,
        };
        let api = Connections::new("API", listeners.api, Protocol::Tls);
        let node = Arc::new(Node {
            supervisor,
            token,
            max_upload: config.max_upload,
            fingerprint: identity.fingerprint,
            hold: Hold::from_env(),
            cluster: crate::cluster::Slot::new(data, Some(format!("https://{addr}")), http_addr),
            closing: api.closing(),
        });
        Ok(Daemon {
            runtime,
            listener,
            acceptor,
            node,
            started,
            apps_dir: config.apps_dir,
            allowed_paths: config.allowed_paths,
            http,
            cluster: config.cluster,
            api,
            _lock: lock,
        })
    }

    pub fn started(&self) -> &Started {
        &self.started
    }

    /// Starts the apps, then serves until SIGINT or SIGTERM; then stops
    /// accepting, lets the requests in flight finish (until the drain's
    /// deadline), stops the apps' instances and returns.
    pub fn run(self) -> Result<(), NodeError> {
        let Daemon {
            runtime,
            listener,
            acceptor,
            node,
            apps_dir,
            allowed_paths,
            http,
            cluster,
            api,
            started,
            ..
        } = self;
        let apps = http.as_ref().map(Server::handle);
        // The HTTP server drains by itself when told to stop.
        let (stop_http, stopping) = tokio::sync::watch::channel(false);
        let http = match http {
            Some(server) => Some(serve_http(server, stopping)?),
            None => None,
        };
        let result = runtime.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let mut interrupt = signal(SignalKind::interrupt())
                .map_err(|e| NodeError::Internal(format!("cannot watch for signals: {e}")))?;
            let mut terminate = signal(SignalKind::terminate())
                .map_err(|e| NodeError::Internal(format!("cannot watch for signals: {e}")))?;
            node.supervisor.boot().await?;
            crate::cluster::resume(&node, cluster)?;
            let watcher = apps_dir
                .map(|dir| tokio::spawn(crate::bootdir::watch(node.clone(), dir, allowed_paths)));
            let router = crate::api::router(node.clone());
            loop {
                let (tcp, slot) = tokio::select! {
                    _ = interrupt.recv() => break,
                    _ = terminate.recv() => break,
                    accepted = api.accept(&listener) => accepted,
                };
                let acceptor = acceptor.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    // The header timeout covers the handshake.
                    let Some(Ok(tls)) = slot.guard(acceptor.accept(tcp)).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    slot.serve(hyper_util::rt::TokioIo::new(tls), service).await;
                });
            }
            drop(listener);
            if let Some(w) = watcher {
                w.abort();
            }
            let limit = drain_time(
                started.listeners.drain,
                apps.as_ref().and_then(ServeHandle::longest_timeout),
            );
            tracing::info!(
                "stopping: finishing the requests in flight (at most {})",
                format_duration(limit)
            );
            let _ = stop_http.send(true);
            let deadline = std::time::Instant::now() + limit;
            if let Drained::DeadlinePassed { cut } | Drained::Forced { cut } =
                drain(&api, async {}, deadline, std::future::pending()).await
            {
                tracing::warn!(
                    listener = "API",
                    cut,
                    "API: the drain's deadline passed: closed {cut} connections still open"
                );
            }
            tracing::info!("stopping the apps' instances");
            node.supervisor.shutdown().await;
            Ok(())
        });
        if let Some(thread) = http {
            let _ = thread.join();
        }
        // Instances blocked in host calls are not waited for.
        runtime.shutdown_timeout(Duration::from_secs(1));
        result
    }
}
