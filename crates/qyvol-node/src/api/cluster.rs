//! `/v1/cluster`: where this node is in a cluster, and `join`, which
//! `qyv cluster add-node` calls to make a running node join one.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use qyvol_cluster::{Address, Credentials, Membership, Status};
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::error::NodeError;
use crate::node::Node;

/// `POST /v1/cluster/join`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinRequest {
    /// `nats://HOST[:PORT][,…]` (`tls://` for TLS).
    pub address: String,
    /// The text of a NATS credentials file: a `.creds` file, an nkey
    /// seed, or `USER:PASSWORD`.
    pub credentials: Option<String>,
    /// The node's name in the cluster; default: its host name.
    pub node: Option<String>,
    /// `KEY=VALUE` labels placement constraints match.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `GET /v1/cluster`: `none` when the node is in no cluster.
pub async fn status(State(node): State<Arc<Node>>) -> Json<Status> {
    Json(node.cluster.status().unwrap_or_else(|| Status {
        state: "none".into(),
        ..Status::default()
    }))
}

pub async fn join(
    State(node): State<Arc<Node>>,
    Json(request): Json<JoinRequest>,
) -> Result<Json<Status>, ApiError> {
    let bad = |e: &dyn std::fmt::Display| NodeError::BadRequest(e.to_string());
    let address = Address::parse(&request.address).map_err(|e| bad(&e))?;
    let credentials = request
        .credentials
        .as_deref()
        .map(Credentials::parse)
        .transpose()
        .map_err(|e| bad(&format!("credentials: {e}")))?;
    for (k, v) in &request.labels {
        qyvol_cluster::model::Constraint::parse(&format!("{k}={v}"))
            .map_err(|e| bad(&format!("label: {e}")))?;
    }
    let membership = Membership {
        address,
        credentials,
        node: request.node.unwrap_or_default(),
        labels: request.labels,
    };
    Ok(Json(crate::cluster::join(&node, membership).await?))
}
