//! A Qyvol node: the `qyv daemon` that runs apps for others, and the
//! client that talks to it. The node keeps every deployed app (its
//! revisions, each a `.qyvbin` bundle stored by digest, and whether it
//! should run) in SQLite, so that no deploy is half-done and nothing is
//! lost when it restarts; a supervisor runs the apps (commands to their
//! end, services again by their restart policy, HTTP apps served by route
//! on the node's `--http` port with the serving code of `qyv serve`) with
//! their output in the node's logs; an HTTPS API with a token lets clients deploy, list, stop,
//! start, roll back, read logs and events, and scrape metrics; a boot
//! folder of manifests starts apps with the node; a node may be part of a
//! cluster (crate qyvol-cluster, `cluster.rs`). The client pins the
//! node's certificate by its fingerprint. It builds on the manifest crate
//! (bundles, trust) and the runtime (runs, serving).

pub mod api;
mod artifacts;
mod auth;
mod bootdir;
mod changes;
pub mod client;
mod cluster;
mod daemon;
mod deploy;
mod error;
mod forward;
mod hold;
mod limits;
mod logs;
mod metrics;
mod node;
mod store;
mod supervisor;
mod time;
pub mod tls;
pub mod ui;

pub use auth::{TOKEN_FILE, Token};
pub use cluster::default_name as default_node_name;
pub use daemon::{DEFAULT_MAX_UPLOAD, Daemon, DaemonConfig, Listeners, Started, default_data_dir};
pub use error::{Listener, NodeError};
#[cfg(feature = "test-hold")]
pub use hold::VARIABLE as TEST_HOLD_VARIABLE;
pub use limits::NodeLimits;
pub use logs::LogLine;
pub use store::KEEP_REVISIONS;
pub use time::{age, now_ms, parse_rfc3339, rfc3339};
