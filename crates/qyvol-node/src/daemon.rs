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
use qyvol_runtime::CodeCache;
use qyvol_runtime::serve::{ServeError, Server, ServerOptions};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::artifacts::Artifacts;
use crate::auth::Token;
use crate::error::NodeError;
use crate::hold::Hold;
use crate::limits::NodeLimits;
use crate::logs::LogBook;
use crate::node::Node;
use crate::store::Store;
use crate::supervisor::Supervisor;
use crate::tls::{Fingerprint, Identity};

/// How long requests in flight on the HTTP port get to finish when the node
/// stops.
const HTTP_DRAIN: Duration = Duration::from_secs(2);

/// Binds the HTTP apps' port, with no app on it yet.
fn listen_http(addr: SocketAddr) -> Result<Server, NodeError> {
    Server::listen(ServerOptions {
        addr,
        log_requests: false,
    })
    .map_err(|e| match e {
        ServeError::Bind { addr, source } => NodeError::BadRequest(format!(
            "cannot serve HTTP apps on {addr}: {source}; choose another address with --http (port 0 picks a free one)"
        )),
        other => NodeError::Internal(format!("cannot start the HTTP server: {other}")),
    })
}

/// Runs the HTTP server on a thread of its own until `stopping` turns true.
fn serve_http(
    server: Server,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<std::thread::JoinHandle<()>, NodeError> {
    let mut stop = stopping.clone();
    let mut force = stopping;
    std::thread::Builder::new()
        .name("qyv-daemon-http".into())
        .spawn(move || {
            let stop = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let force = async move {
                let _ = force.wait_for(|s| *s).await;
                tokio::time::sleep(HTTP_DRAIN).await;
            };
            if let Err(e) = server.run_until(stop, force) {
                eprintln!("qyv daemon: the HTTP server stopped: {e}");
            }
        })
        .map_err(|e| NodeError::Internal(format!("cannot start the HTTP server's thread: {e}")))
}

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
            return Err(NodeError::Conflict(format!(
                "another qyv daemon uses {} (it holds {}); stop it, or give this one another --data-dir",
                data.display(),
                lock_path.display()
            )));
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
        let http = config.http.map(listen_http).transpose()?;
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
            .map_err(|e| {
                NodeError::BadRequest(format!(
                    "cannot listen on {}: {e}; choose another address with --listen",
                    config.listen
                ))
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
        };
        let node = Arc::new(Node {
            supervisor,
            token,
            max_upload: config.max_upload,
            fingerprint: identity.fingerprint,
            hold: Hold::from_env(),
            cluster: crate::cluster::Slot::new(data, Some(format!("https://{addr}"))),
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
            _lock: lock,
        })
    }

    pub fn started(&self) -> &Started {
        &self.started
    }

    /// Starts the apps, then serves until SIGINT or SIGTERM; then stops
    /// the apps' instances and returns.
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
            ..
        } = self;
        // The HTTP server drains its requests when told to stop, and gives
        // up on them a moment later.
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
                let (tcp, _) = tokio::select! {
                    _ = interrupt.recv() => break,
                    _ = terminate.recv() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(_) => {
                            // Out of descriptors, or a connection reset before
                            // it was accepted: the listener itself is fine.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
            eprintln!("qyv daemon: stopping the apps' instances");
            if let Some(w) = watcher {
                w.abort();
            }
            let _ = stop_http.send(true);
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
