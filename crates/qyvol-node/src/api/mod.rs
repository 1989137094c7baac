//! The node's HTTPS API, `/v1/…` (described in `docs/api.md` and
//! `docs/openapi.json`): deploy a bundle, list and inspect apps, stop,
//! start, restart, remove and roll them back, read their logs and the
//! node's events, and `/metrics` for Prometheus. Every route but
//! `/v1/health` needs the node's token (`Authorization: Bearer TOKEN`);
//! every error is a JSON [`types::ErrorBody`] with its status.

pub mod cluster;
mod handlers;
pub mod types;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::NodeError;
use crate::node::Node;
use types::ErrorBody;

/// Every route: method and path, as `docs/openapi.json` lists them.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/health"),
    ("GET", "/v1/node"),
    ("GET", "/v1/apps"),
    ("POST", "/v1/apps"),
    ("GET", "/v1/apps/{name}"),
    ("DELETE", "/v1/apps/{name}"),
    ("POST", "/v1/apps/{name}/start"),
    ("POST", "/v1/apps/{name}/stop"),
    ("POST", "/v1/apps/{name}/restart"),
    ("POST", "/v1/apps/{name}/rollback"),
    ("GET", "/v1/apps/{name}/wait"),
    ("GET", "/v1/apps/{name}/logs"),
    ("GET", "/v1/events"),
    ("GET", "/v1/cluster"),
    ("POST", "/v1/cluster/join"),
    ("GET", "/metrics"),
];

/// An error as the API answers it.
pub struct ApiError(pub NodeError);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: self.0.code().into(),
            message: self.0.to_string(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // A refused upload may not have been read to its end: the
        // connection cannot carry another request.
        if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// How much of a refused request's body the node still reads, so that
/// the client, still sending it, receives the answer: a connection closed
/// with unread data is reset, and the answer lost with it. Past this, the
/// connection is closed.
pub(crate) const DRAIN: u64 = 1 << 20;

/// Reads and drops up to [`DRAIN`] bytes of `body`.
pub(crate) async fn drain(body: axum::body::Body) {
    drain_stream(body.into_data_stream()).await
}

/// Reads and drops up to [`DRAIN`] more bytes of a body being read.
pub(crate) async fn drain_stream(mut stream: axum::body::BodyDataStream) {
    use futures_util::StreamExt;
    let mut read = 0u64;
    while read <= DRAIN {
        match stream.next().await {
            Some(Ok(chunk)) => read += chunk.len() as u64,
            _ => return,
        }
    }
}

async fn authorize(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match node.token.check_header(header) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            drain(request.into_body()).await;
            ApiError(e).into_response()
        }
    }
}

/// The API's routes over `node`.
pub fn router(node: Arc<Node>) -> Router {
    use handlers::*;
    let private = Router::new()
        .route("/v1/node", get(node_info))
        .route("/v1/apps", get(list).post(deploy))
        .route("/v1/apps/{name}", get(detail).delete(remove))
        .route("/v1/apps/{name}/start", post(start))
        .route("/v1/apps/{name}/stop", post(stop))
        .route("/v1/apps/{name}/restart", post(restart))
        .route("/v1/apps/{name}/rollback", post(rollback))
        .route("/v1/apps/{name}/wait", get(wait))
        .route("/v1/apps/{name}/logs", get(logs))
        .route("/v1/events", get(events))
        .route("/v1/cluster", get(cluster::status))
        .route("/v1/cluster/join", post(cluster::join))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(node.clone(), authorize));
    Router::new()
        .route("/v1/health", get(health))
        .merge(private)
        .fallback(not_found)
        .with_state(node)
}

async fn not_found(request: Request) -> ApiError {
    ApiError(NodeError::NotFound(format!(
        "no such route: {} {}; the API is described in docs/api.md",
        request.method(),
        request.uri().path()
    )))
}
