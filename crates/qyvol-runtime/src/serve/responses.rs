//! Responses the server writes itself (no app answered), each with a plain
//! text body that says what happened and what to do, and the request id.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

pub(crate) type Body = HyperOutgoingBody;

pub(crate) const REQUEST_ID: &str = "x-request-id";

pub(crate) fn text(status: StatusCode, id: u64, message: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(format!("{message} (request id {id})\n")))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    tag(&mut response, id);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Adds the request id, so the client can quote it when reading the log.
pub(crate) fn tag<B>(response: &mut Response<B>, id: u64) {
    response
        .headers_mut()
        .insert(REQUEST_ID, HeaderValue::from(id));
}
