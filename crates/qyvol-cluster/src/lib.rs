//! Qyvol clusters: many nodes run apps as one, on NATS JetStream. The
//! desired state (apps, their revisions, replicas, strategy, constraints)
//! lives in a replicated KV bucket changed only by compare-and-set; bundles
//! live in the JetStream object store under their SHA-256; nodes beat into
//! a KV bucket with a per-key time to live; what happens goes to a stream.
//! One node at a time holds the scheduler's lease and places replicas with
//! the pure functions of [`placement`] (free memory from `limits.memory`,
//! spread or pack, label constraints); every node reconciles what it runs
//! against its placements through the node's own deploy path ([`Host`]),
//! so a bundle from the cluster passes the node's trust policy exactly as
//! an upload does. Clients ([`State`]) deploy, scale, stop, roll back,
//! drain and read the same state. It builds on the manifest crate (bundles,
//! manifests) and knows nothing of the node crate, which implements
//! [`Host`].

pub mod agent;
pub mod connect;
mod deploy;
mod error;
pub mod host;
pub mod model;
mod ops;
pub mod placement;
pub mod rollout;
mod state;
mod view;

pub use agent::{Agent, Membership, Status};
pub use connect::{Address, Connection, Credentials};
pub use deploy::{BundleFacts, DeployOptions, Deployed, is_http, read_bundle, settings};
pub use error::ClusterError;
pub use host::{Facts, Held, Host, RemoteRoute, Target};
pub use ops::NodeChange;
pub use state::{LIVE_TTL, State};
pub use view::{AppView, Changes, LogRequest, NodeView, ReplicaView};
