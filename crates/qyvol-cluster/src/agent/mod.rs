//! The cluster agent: what a node runs to be part of a cluster. It
//! connects (and keeps trying while NATS is away: the node's own apps run
//! on meanwhile), registers the node, beats every half second with the
//! state of its replicas, takes the scheduler's lease when nobody holds it
//! (and then places replicas), and reconciles: runs what is placed on it,
//! stops what is not. Its state is a [`Status`] the node shows.

mod lease;
mod mirror;
mod reconcile;
mod scheduler;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::connect::{Address, Connection, Credentials};
use crate::error::ClusterError;
use crate::host::Host;
use crate::model::{NodeRecord, now_ms};
use crate::state::State;

/// A node that has not beaten for this long is lost: its replicas are
/// placed elsewhere.
pub const LOST_AFTER: Duration = Duration::from_secs(2);
/// How often a node beats.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// How often the scheduler looks (and the leader renews its lease).
const TICK: Duration = Duration::from_millis(250);
/// How long a node waits before it tries to reach NATS again.
const RETRY: Duration = Duration::from_secs(3);

/// How a node is part of a cluster (`--cluster`, `--cluster-creds`, the
/// node's name and labels); kept by the node so that it joins again when
/// it starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub address: Address,
    pub credentials: Option<Credentials>,
    pub node: String,
    pub labels: BTreeMap<String, String>,
}

/// Where the agent is, for the node to show.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// connecting, joined, unreachable, left.
    pub state: String,
    pub address: String,
    pub node: String,
    /// Why it is not joined, or what happened last.
    pub message: Option<String>,
    /// This node holds the scheduler's lease.
    pub scheduler: bool,
}

/// The running agent.
pub struct Agent {
    status: watch::Receiver<Status>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// Starts the agent on the current runtime.
    pub fn start(membership: Membership, host: Arc<dyn Host>) -> Agent {
        let (tx, status) = watch::channel(Status {
            state: "connecting".into(),
            address: membership.address.to_string(),
            node: membership.node.clone(),
            message: None,
            scheduler: false,
        });
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(run(membership, host, tx, stopping));
        Agent { status, stop, task }
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Changes of the status, from now on.
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Stops the agent; the node's apps stay as they are.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

/// Connects and registers, once; the caller says why it failed.
pub async fn join(
    membership: &Membership,
    host: &dyn Host,
) -> Result<(State, NodeRecord), ClusterError> {
    qyvol_manifest::check_name(&membership.node).map_err(|why| {
        ClusterError::Invalid(format!("{:?} is not a node name: {why}", membership.node))
    })?;
    let conn = Connection::open(
        &membership.address,
        membership.credentials.as_ref(),
        &format!("qyvol node {}", membership.node),
    )
    .await?;
    let state = State::open(conn).await?;
    let record = register(&state, membership, host).await?;
    Ok((state, record))
}

/// Writes the node's record, keeping what cordon and drain set.
async fn register(
    state: &State,
    membership: &Membership,
    host: &dyn Host,
) -> Result<NodeRecord, ClusterError> {
    let facts = host.facts();
    let mut fresh = false;
    let record = state
        .update::<NodeRecord, _>(&state.nodes, &membership.node, |now| {
            fresh = now.is_none();
            let (cordoned, draining, joined_at) = now
                .map(|n| (n.cordoned, n.draining, n.joined_at))
                .unwrap_or((false, false, now_ms()));
            Ok(Some(NodeRecord {
                name: membership.node.clone(),
                api: facts.api.clone(),
                labels: membership.labels.clone(),
                cores: facts.cores,
                memory: facts.memory,
                default_memory: facts.default_memory,
                max_memory: facts.max_memory,
                serves_http: facts.serves_http,
                http: facts.http.clone(),
                require_signature: facts.require_signature,
                trusted_keys: facts.trusted_keys.clone(),
                cordoned,
                draining,
                joined_at,
                version: facts.version.clone(),
            }))
        })
        .await?
        .expect("registering always writes");
    if fresh {
        state
            .event(
                "node-joined",
                None,
                Some(&membership.node),
                format!("node {} joined", membership.node),
            )
            .await;
    }
    Ok(record)
}

async fn run(
    membership: Membership,
    host: Arc<dyn Host>,
    status: watch::Sender<Status>,
    mut stopping: watch::Receiver<bool>,
) {
    let set = |state: &str, message: Option<String>| {
        status.send_modify(|s| {
            s.state = state.into();
            s.message = message;
        })
    };
    let state = loop {
        match join(&membership, host.as_ref()).await {
            Ok((state, _)) => break state,
            Err(e @ (ClusterError::Invalid(_) | ClusterError::BadCredentials(_))) => {
                set("failed", Some(e.to_string()));
                return;
            }
            Err(e) => set(
                "unreachable",
                Some(format!(
                    "{e}; the node's own apps keep running; trying again every {}s",
                    RETRY.as_secs()
                )),
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    };
    set("joined", None);
    let session = reconcile::Session::new(state, membership, host, status.clone());
    tokio::select! {
        left = session.run() => {
            if let Err(why) = left {
                set("left", Some(why));
            }
        }
        _ = stopping.wait_for(|s| *s) => {}
    }
}
