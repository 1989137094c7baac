//! The node's HTTPS API, `/v1/…` (described in `docs/api.md` and
//! `docs/openapi.json`): deploy a bundle, list and inspect apps, stop,
//! start, restart, remove and roll them back, read their logs and the
//! node's events, and `/metrics` for Prometheus. Every route but
//! `/v1/health` needs the node's token (`Authorization: Bearer TOKEN`);
//! every error is a JSON [`types::ErrorBody`] with its status, the
//! framework's own refusals included ([`json_errors`]).

pub mod cluster;
mod handlers;
mod stream;
pub mod types;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
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
    ("POST", "/v1/pull"),
    ("GET", "/v1/apps/{name}"),
    ("DELETE", "/v1/apps/{name}"),
    ("POST", "/v1/apps/{name}/start"),
    ("POST", "/v1/apps/{name}/stop"),
    ("POST", "/v1/apps/{name}/restart"),
    ("POST", "/v1/apps/{name}/rollback"),
    ("GET", "/v1/apps/{name}/wait"),
    ("GET", "/v1/apps/{name}/logs"),
    ("GET", "/v1/events"),
    ("GET", "/v1/stream"),
    ("GET", "/v1/cluster"),
    ("POST", "/v1/cluster/join"),
    ("GET", "/metrics"),
];

/// Largest body a route reads whole (a rollback's); a deploy streams its
/// upload, up to `--max-upload`.
const BODY_LIMIT: usize = 64 << 10;

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
            reason: self.0.reason().map(str::to_string),
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
        .route("/v1/pull", post(deploy_pulled))
        .route("/v1/apps/{name}", get(detail).delete(remove))
        .route("/v1/apps/{name}/start", post(start))
        .route("/v1/apps/{name}/stop", post(stop))
        .route("/v1/apps/{name}/restart", post(restart))
        .route("/v1/apps/{name}/rollback", post(rollback))
        .route("/v1/apps/{name}/wait", get(wait))
        .route("/v1/apps/{name}/logs", get(logs))
        .route("/v1/events", get(events))
        .route("/v1/stream", get(stream::stream))
        .route("/v1/cluster", get(cluster::status))
        .route("/v1/cluster/join", post(cluster::join))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(node.clone(), authorize));
    Router::new()
        .route("/v1/health", get(health))
        .merge(private)
        .merge(crate::ui::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(json_errors))
        .with_state(node)
}

/// Puts the framework's own error answers in the API's shape: a method
/// the route does not have (`405`, with its `Allow`), a query string or
/// path it cannot read (`400`), a body over a route's limit (`413`), all
/// of which it answers in plain text or with no body at all.
async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // The framework's answers are a line of text.
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let allow = parts.headers.get(header::ALLOW).cloned();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "{method} is not a method of {path}, which takes {}; the API is described in docs/api.md",
            methods_of(&path).join(", ")
        ),
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the body of {method} {path} is larger than the {} it accepts",
            qyvol_manifest::format_size(BODY_LIMIT as u64)
        ),
        _ => rejection(&path, &text, status),
    };
    let mut answer = ApiError(NodeError::Rejected {
        status: status.as_u16(),
        message,
    })
    .into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// The methods [`ROUTES`] has for `path`.
fn methods_of(path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .filter(|(_, route)| {
            let pattern: Vec<&str> = route.split('/').collect();
            pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || p.starts_with('{'))
        })
        .map(|(method, _)| *method)
        .collect()
}

/// The framework's text for a request it could not read, said as the
/// API's other errors are.
fn rejection(path: &str, text: &str, status: StatusCode) -> String {
    if let Some(why) = text.strip_prefix("Failed to deserialize query string: ") {
        format!("the query string of {path} is not valid: {why}; see docs/api.md")
    } else if let Some(why) = text.strip_prefix("Invalid URL: ") {
        format!("the path {path} is not valid: {why}")
    } else if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_string()
    } else {
        text.to_string()
    }
}

async fn not_found(request: Request) -> ApiError {
    ApiError(NodeError::NotFound(format!(
        "no such route: {} {}; the API is described in docs/api.md",
        request.method(),
        request.uri().path()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_methods_of_a_path_come_from_the_routes() {
        assert_eq!(methods_of("/v1/apps"), ["GET", "POST"]);
        assert_eq!(methods_of("/v1/apps/web/start"), ["POST"]);
        assert_eq!(methods_of("/v1/apps/web"), ["GET", "DELETE"]);
        assert!(methods_of("/v1/nothing").is_empty());
    }
}
