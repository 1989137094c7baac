//! `qyv cluster …`: a thin layer over the qyvol-cluster crate. Each
//! command finds its cluster (`--cluster`, else the current context),
//! connects to its NATS on a small runtime of its own, and prints.

mod apps;
mod deploy;
mod nodes;
mod show;

use std::future::Future;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use qyvol_cluster::{Address, Connection, Credentials, State};

use crate::cli::{ClusterCommand, ClusterFlags};
use crate::contexts::Contexts;

pub use show::{logs, ps};

pub fn cluster(command: ClusterCommand) -> Result<i32> {
    match command {
        ClusterCommand::AddNode(args) => nodes::add(args),
        ClusterCommand::RmNode(args) => nodes::rm(args),
        ClusterCommand::Nodes(args) => nodes::list(args),
        ClusterCommand::Deploy(args) => deploy::deploy(args),
        ClusterCommand::Ps(args) => show::ps(args),
        ClusterCommand::Logs(args) => show::logs(args),
        ClusterCommand::Events(args) => show::events(args),
        ClusterCommand::Scale(args) => apps::scale(args),
        ClusterCommand::Stop(args) => apps::running(args, false),
        ClusterCommand::Start(args) => apps::running(args, true),
        ClusterCommand::Rm(args) => apps::rm(args),
        ClusterCommand::Rollback(args) => apps::rollback(args),
        ClusterCommand::Rollout(command) => apps::rollout(command),
        ClusterCommand::Cordon(args) => nodes::change(args, qyvol_cluster::NodeChange::Cordon),
        ClusterCommand::Uncordon(args) => nodes::change(args, qyvol_cluster::NodeChange::Uncordon),
        ClusterCommand::Drain(args) => nodes::drain(args),
    }
}

/// The cluster the flags name: its address and credentials.
pub fn target(flags: &ClusterFlags) -> Result<(Address, Option<Credentials>)> {
    let contexts = Contexts::load()?;
    let (address, saved_creds): (String, Option<PathBuf>) = match flags.cluster.as_deref() {
        Some(text) if Address::is_cluster(text) => (text.to_string(), None),
        Some(name) => match contexts.contexts.get(name) {
            Some(c) if c.is_cluster() => (c.url.clone(), c.creds.clone()),
            Some(c) => bail!(
                "context {name} is a node ({}), not a cluster; give a cluster's context or nats://HOST[:PORT]",
                c.url
            ),
            None => bail!(
                "{name:?} is neither a NATS address (nats://HOST[:PORT]) nor a saved context; `qyv context ls` lists them"
            ),
        },
        None => match contexts.current() {
            Some((_, c)) if c.is_cluster() => (c.url.clone(), c.creds.clone()),
            Some((name, c)) => bail!(
                "the current context {name} is a node ({}), not a cluster: save the cluster (qyv context add NAME nats://HOST:4222 [--creds FILE]) and use it, or pass --cluster nats://HOST:4222",
                c.url
            ),
            None => bail!(
                "no cluster to talk to: save one and make it current (qyv context add NAME nats://HOST:4222 [--creds FILE]; qyv context use NAME), or pass --cluster nats://HOST:4222"
            ),
        },
    };
    let address = Address::parse(&address)?;
    let creds = match flags.creds.as_ref().or(saved_creds.as_ref()) {
        Some(path) => Some(Credentials::load(path)?),
        None => None,
    };
    Ok((address, creds))
}

/// Runs `work` on a runtime of its own.
pub fn block_on<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

/// Connects to the cluster the flags name and opens its state.
pub async fn open(flags: &ClusterFlags) -> Result<State> {
    let (address, creds) = target(flags)?;
    let conn = Connection::open(&address, creds.as_ref(), "qyv client").await?;
    Ok(State::open(conn).await?)
}

/// The current cluster context's app names, for completion; nothing when
/// there is none or it does not answer in time.
pub fn app_names(timeout: std::time::Duration) -> Vec<String> {
    let flags = ClusterFlags::default();
    block_on(async {
        let names = tokio::time::timeout(timeout, async {
            let state = open(&flags).await?;
            let views = state.app_views(None).await?;
            Ok::<_, anyhow::Error>(views.into_iter().map(|v| v.spec.name).collect())
        })
        .await;
        Ok(names.ok().and_then(|r| r.ok()).unwrap_or_default())
    })
    .unwrap_or_default()
}

/// Whether the flags of a node command lead to a cluster context (which
/// `ps` and `logs` then show).
pub fn current_is_cluster(node: Option<&str>) -> bool {
    let Ok(contexts) = Contexts::load() else {
        return false;
    };
    match node {
        Some(n) if Address::is_cluster(n) => true,
        Some(n) => contexts.contexts.get(n).is_some_and(|c| c.is_cluster()),
        None => contexts.current().is_some_and(|(_, c)| c.is_cluster()),
    }
}
