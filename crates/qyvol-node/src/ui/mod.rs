//! The dashboard: static files compiled into the binary and served under
//! `/ui` (by the node on its API port, and by a local viewer). The files
//! hold no data and need no token; every piece of data the page shows it
//! reads from the API with the token the user types, which the page keeps
//! in the tab's session storage and sends only in a header. The answers
//! carry a strict Content-Security-Policy: scripts, styles and
//! connections from this origin only, no inline script, no other origin.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy every file of the dashboard is served with.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The dashboard's files: path, content type, bytes.
pub const FILES: &[(&str, &str, &str)] = &[
    (
        "/ui",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "/ui/app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "/ui/style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
];

/// The routes of the dashboard's files, for any state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for (path, kind, body) in FILES {
        let handler = move || async move { file(kind, body) };
        router = router.route(path, get(handler));
        if *path == "/ui" {
            router = router.route("/ui/", get(handler));
        }
    }
    router
}

fn file(kind: &'static str, body: &'static str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, kind)], body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_and_names_no_other_origin() {
        let (_, _, html) = FILES[0];
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').unwrap() + i];
            assert!(
                tag.contains("src=\"/ui/"),
                "inline or foreign script: {tag}"
            );
        }
        for (_, _, body) in FILES {
            assert!(!body.contains("http://") && !body.contains("https://"));
            assert!(!body.contains("innerHTML") && !body.contains("insertAdjacentHTML"));
            assert!(!body.contains("document.write") && !body.contains("eval("));
        }
    }
}
