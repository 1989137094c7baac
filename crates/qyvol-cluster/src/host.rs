//! What a node gives the cluster agent: its facts, the apps it holds, and
//! the one way to run a bundle (the node's own deploy path, with its trust
//! policy), stop, start and remove one, and read an app's output. The node
//! crate implements it; this crate never reaches into the node.

use std::path::PathBuf;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use crate::model::{LogLine, ReplicaStatus};

/// What a node registers with.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The node's API, `https://HOST:PORT`.
    pub api: Option<String>,
    pub cores: u32,
    pub memory: u64,
    /// What an app without `limits.memory` gets, per instance.
    pub default_memory: u64,
    /// The most `limits.memory` the node runs.
    pub max_memory: u64,
    pub serves_http: bool,
    pub require_signature: bool,
    /// Ids of the keys the node trusts.
    pub trusted_keys: Vec<String>,
    pub version: String,
}

/// An app the node holds.
#[derive(Clone, Debug)]
pub struct Held {
    pub name: String,
    /// The cluster put it there (else a client deployed it to the node, or
    /// its boot folder holds it).
    pub from_cluster: bool,
    pub status: ReplicaStatus,
}

pub trait Host: Send + Sync + 'static {
    fn facts(&self) -> Facts;

    /// Every app the node holds.
    fn held(&self) -> BoxFuture<'_, Vec<Held>>;

    /// A fresh path on the node's disk for a bundle being fetched.
    fn scratch(&self) -> PathBuf;

    /// Pulls the bundle with SHA-256 `digest` (hex) from the registry
    /// `reference` (pinned by digest) names into `to`, with the node's own
    /// registry credentials.
    fn pull(&self, reference: &str, digest: &str, to: PathBuf)
    -> BoxFuture<'_, Result<(), String>>;

    /// Deploys the bundle at `bundle` (which it takes) as a cluster app,
    /// through the node's own checks, and runs it or leaves it stopped.
    fn install(&self, bundle: PathBuf, running: bool) -> BoxFuture<'_, Result<(), String>>;

    /// Starts or stops an app the node holds.
    fn set_running(&self, app: &str, running: bool) -> BoxFuture<'_, Result<(), String>>;

    /// Stops and forgets an app.
    fn remove(&self, app: &str) -> BoxFuture<'_, Result<(), String>>;

    /// The app's last `n` lines (`node` left empty: the agent fills it).
    fn tail(&self, app: &str, n: usize) -> BoxFuture<'_, Vec<LogLine>>;

    /// The app's lines from now on, if the node holds it.
    fn follow(&self, app: &str) -> Option<BoxStream<'static, LogLine>>;
}
