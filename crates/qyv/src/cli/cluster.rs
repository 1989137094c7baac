//! `qyv cluster …`: the command line of clusters. Values with rules of
//! their own (replicas, strategies) are read here, so that a bad one is
//! refused with its reason before anything is asked of the cluster.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use qyvol_manifest::parse_timeout;

/// Which cluster a command talks to. Without --cluster, the current
/// context (a cluster's: `qyv context add NAME nats://…`).
#[derive(Clone, Debug, Args, Default)]
pub struct ClusterFlags {
    /// The cluster: a context's name, or its NATS nats://HOST[:PORT][,…]
    #[arg(
        long = "cluster",
        value_name = "NATS_URL|CONTEXT",
        env = "QYVOL_CLUSTER"
    )]
    pub cluster: Option<String>,

    /// NATS credentials (a .creds file, an nkey seed, or USER:PASSWORD);
    /// default: the context's
    #[arg(long = "creds", value_name = "FILE", env = "QYVOL_CLUSTER_CREDS")]
    pub creds: Option<PathBuf>,
}

/// A replica count: 1 or more.
pub fn parse_replicas(text: &str) -> Result<u32, String> {
    let n: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of replicas (1 or more)"))?;
    if n < 1 {
        return Err(format!(
            "replicas must be 1 or more, not {n}; to stop an app without removing it: qyv cluster stop APP"
        ));
    }
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= qyvol_manifest::fields::MAX_REPLICAS)
        .ok_or_else(|| {
            format!(
                "at most {} replicas; got {n}",
                qyvol_manifest::fields::MAX_REPLICAS
            )
        })
}

/// `spread` or `pack`.
pub fn parse_strategy(text: &str) -> Result<qyvol_cluster::model::Strategy, String> {
    use qyvol_cluster::model::Strategy;
    Strategy::parse(text).ok_or_else(|| {
        let hint = qyvol_manifest::did_you_mean(text, Strategy::NAMES)
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default();
        format!("unknown strategy {text:?}: expected spread or pack{hint}")
    })
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Make a running node join the current cluster (through the node's
    /// API)
    AddNode(AddNodeArgs),
    /// Take a node out of the cluster; its replicas move
    RmNode(RmNodeArgs),
    /// List the nodes: state, capacity, use, apps
    Nodes(JsonArgs),
    /// Deploy an app to the cluster: upload its bundle once, place its
    /// replicas, wait until they run
    Deploy(ClusterDeployArgs),
    /// List the cluster's apps, or show one with its replicas and revisions
    Ps(ClusterPsArgs),
    /// Show an app's output from every replica, prefixed by node
    Logs(ClusterLogsArgs),
    /// Change how many replicas of an app run
    Scale(ScaleArgs),
    /// Stop every replica of an app (it keeps its place)
    Stop(ClusterAppArgs),
    /// Start an app's replicas again
    Start(ClusterAppArgs),
    /// Remove an app from the cluster
    Rm(ClusterAppArgs),
    /// Make an earlier revision of an app current again
    Rollback(ClusterRollbackArgs),
    /// Place no new replicas on a node (those there stay)
    Cordon(NodeNameArgs),
    /// Place replicas on a node again
    Uncordon(NodeNameArgs),
    /// Move every replica off a node and place no new ones there
    Drain(DrainArgs),
    /// Show what happened: deploys, placements, nodes lost and back
    Events(ClusterEventsArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "The node connects to the cluster's NATS with the current cluster context's \
address and credentials (sent to it over its API), registers, and joins again whenever it starts."
)]
pub struct AddNodeArgs {
    /// The node's name in the cluster: lowercase letters, digits and '-'
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The node's API, https://HOST[:PORT]
    #[arg(value_name = "URL")]
    pub url: String,
    /// The node's API token (`qyv daemon token` on the node)
    #[arg(long, value_name = "TOKEN")]
    pub token: String,
    /// The node's certificate fingerprint, as `qyv daemon` prints it
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,
    /// A label for placement constraints (repeatable), e.g. zone=a
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct RmNodeArgs {
    #[arg(value_name = "NODE")]
    pub name: String,
    /// Move its replicas away first, and wait for it to be empty
    #[arg(long)]
    pub drain: bool,
    /// How long to wait for the drain
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Replicas and strategy default to the manifest's `replicas:` and \
`scheduler: { strategy, constraints }`, then (a new revision of a deployed app) to what the app \
had, then to 1 replica, spread. Exit status: 0 every replica runs (a command: completed); \
1 some do not (the reason is printed; the app stays deployed and the cluster keeps trying); 125 \
the deploy was refused or the cluster could not be reached."
)]
pub struct ClusterDeployArgs {
    /// A .qyv manifest, a folder holding one, a .qyvbin bundle, or a
    /// registry reference (REGISTRY/NAMESPACE/APP:TAG or @sha256:…) the
    /// nodes pull
    #[arg(value_name = "TARGET")]
    pub target: PathBuf,
    /// How many replicas, 1 or more
    #[arg(long, value_name = "N", value_parser = parse_replicas, allow_negative_numbers = true)]
    pub replicas: Option<u32>,
    /// spread: replicas on the nodes with the most free memory; pack: on
    /// the fullest node that still fits
    #[arg(long, value_name = "STRATEGY", value_parser = parse_strategy)]
    pub strategy: Option<qyvol_cluster::model::Strategy>,
    /// Sign the bundle packed from a manifest with this private key
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// Return once the revision is recorded, without waiting for replicas
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the replicas to run
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct ClusterPsArgs {
    /// Show this app, with its replicas and revisions
    #[arg(value_name = "APP")]
    pub app: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct ClusterLogsArgs {
    #[arg(value_name = "APP")]
    pub app: String,
    /// Keep printing new lines as the replicas write them
    #[arg(short, long)]
    pub follow: bool,
    /// How many of the last lines to show, from all replicas together
    #[arg(short = 'n', long, value_name = "N", default_value_t = 100)]
    pub tail: usize,
    /// Print each line as a JSON object (node, time, stream, revision, text)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    #[arg(value_name = "APP")]
    pub app: String,
    /// How many replicas, 1 or more
    #[arg(value_name = "N", value_parser = parse_replicas, allow_negative_numbers = true)]
    pub replicas: u32,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct ClusterAppArgs {
    #[arg(value_name = "APP")]
    pub app: String,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct ClusterRollbackArgs {
    #[arg(value_name = "APP")]
    pub app: String,
    /// The revision to go back to [default: the one before the current]
    #[arg(long, value_name = "REVISION")]
    pub to: Option<u32>,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct NodeNameArgs {
    #[arg(value_name = "NODE")]
    pub name: String,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    #[arg(value_name = "NODE")]
    pub name: String,
    /// Return once the node is marked draining, without waiting for it to
    /// be empty
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the node to be empty
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[derive(Debug, Args)]
pub struct ClusterEventsArgs {
    /// Only this app's events
    #[arg(value_name = "APP")]
    pub app: Option<String>,
    /// How many of the last events to show
    #[arg(short = 'n', long, value_name = "N", default_value_t = 50)]
    pub tail: usize,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_one_or_more() {
        assert_eq!(parse_replicas("3"), Ok(3));
        for bad in ["0", "-1", "x", "99999999999"] {
            assert!(parse_replicas(bad).is_err(), "{bad}");
        }
        assert!(parse_replicas("-2").unwrap_err().contains("not -2"));
        assert!(
            parse_strategy("sprad")
                .unwrap_err()
                .contains("did you mean \"spread\"")
        );
    }
}
