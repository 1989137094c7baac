//! `qyv cluster add-node|rm-node|nodes|cordon|uncordon|drain`.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use qyvol_cluster::{NodeChange, State};
use qyvol_node::api::cluster::JoinRequest;
use qyvol_node::client::{Client, Connection};
use qyvol_node::tls::Fingerprint;

use super::{block_on, open, target};
use crate::cli::{AddNodeArgs, DrainArgs, JsonArgs, NodeNameArgs, RmNodeArgs};
use crate::remote::print_json;

pub fn add(args: AddNodeArgs) -> Result<i32> {
    qyvol_manifest::check_name(&args.name)
        .map_err(|why| anyhow::anyhow!("node name {:?}: {why}", args.name))?;
    let mut labels = std::collections::BTreeMap::new();
    for l in &args.labels {
        let c = qyvol_cluster::model::Constraint::parse(l).map_err(anyhow::Error::msg)?;
        labels.insert(c.key, c.value);
    }
    let (address, _) = target(&args.cluster)?;
    // The node gets the credentials' text: it keeps them to join again.
    let creds_path = match &args.cluster.creds {
        Some(p) => Some(p.clone()),
        None => crate::contexts::Contexts::load()?
            .contexts
            .values()
            .find(|c| c.url == address.to_string())
            .and_then(|c| c.creds.clone()),
    };
    let credentials = creds_path
        .map(|p| {
            std::fs::read_to_string(&p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
        })
        .transpose()?;
    let fingerprint = args
        .fingerprint
        .as_deref()
        .map(Fingerprint::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let client = Client::new(&Connection {
        url: args.url.clone(),
        token: Some(args.token.clone()),
        fingerprint,
    })?;
    let status = client.join_cluster(&JoinRequest {
        address: address.to_string(),
        credentials,
        node: Some(args.name.clone()),
        labels,
    })?;
    println!(
        "node {} ({}) joined the cluster at {}",
        status.node,
        client.url(),
        status.address
    );
    Ok(0)
}

/// A size as a person reads it in a table: `23.5 GiB`, `512 MiB`.
fn human(bytes: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    let mib = bytes as f64 / MIB;
    if bytes == 0 {
        "0".into()
    } else if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

pub fn list(args: JsonArgs) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        let nodes = state.node_views().await?;
        if args.json {
            print_json(&nodes)?;
            return Ok(0);
        }
        let width = nodes
            .iter()
            .map(|n| n.record.name.len())
            .max()
            .unwrap_or(0)
            .max(4);
        println!(
            "{:<width$}  {:<9} {:>5}  {:>9}  {:>9}  {:>9}  {:<14} APPS",
            "NAME", "STATE", "CORES", "MEMORY", "RESERVED", "USED", "LABELS"
        );
        for n in &nodes {
            let labels: Vec<String> = n
                .record
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!(
                "{:<width$}  {:<9} {:>5}  {:>9}  {:>9}  {:>9}  {:<14} {}",
                n.record.name,
                n.state,
                n.record.cores,
                human(n.record.memory),
                human(n.reserved),
                human(n.used),
                if labels.is_empty() {
                    "-".into()
                } else {
                    labels.join(",")
                },
                if n.apps.is_empty() {
                    "-".into()
                } else {
                    n.apps.join(",")
                },
            );
        }
        Ok(0)
    })
}

pub fn change(args: NodeNameArgs, change: NodeChange) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        state.change_node(&args.name, change).await?;
        let what = match change {
            NodeChange::Cordon => "cordoned: no new replicas go there; those there stay",
            NodeChange::Uncordon => "uncordoned: replicas may be placed there again",
            NodeChange::Drain => "draining",
        };
        println!("node {} {what}", args.name);
        Ok(0)
    })
}

/// Waits until no replica is placed on `node`.
async fn wait_empty(state: &State, node: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut said = None;
    loop {
        let apps = state.apps_on(node).await?;
        if apps.is_empty() {
            println!("node {node} holds no replica");
            return Ok(());
        }
        if said.as_ref() != Some(&apps) {
            println!("  still on {node}: {}", apps.join(", "));
            said = Some(apps.clone());
        }
        if Instant::now() >= deadline {
            bail!(
                "node {node} still holds replicas of {} after {}: they have nowhere else to go (see qyv cluster ps)",
                apps.join(", "),
                qyvol_manifest::format_duration(timeout)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn drain(args: DrainArgs) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        state.change_node(&args.name, NodeChange::Drain).await?;
        println!("node {} draining: its replicas move", args.name);
        if !args.no_wait {
            wait_empty(&state, &args.name, args.timeout).await?;
        }
        Ok(0)
    })
}

pub fn rm(args: RmNodeArgs) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        if args.drain {
            state.change_node(&args.name, NodeChange::Drain).await?;
            println!("node {} draining: its replicas move", args.name);
            wait_empty(&state, &args.name, args.timeout).await?;
        } else {
            state.node(&args.name).await?;
        }
        state.remove_node(&args.name).await?;
        println!(
            "node {} removed from the cluster: it stops the cluster's replicas and leaves",
            args.name
        );
        Ok(0)
    })
}
