//! http-probe — the wasi:http guest that Qyvol's `qyv serve` tests drive.
//!
//! Built by `examples/build.sh` into `http-probe.wasm` (committed). Every
//! answer is `text/plain` and exact, so tests compare bodies. When the
//! variable ROUTE is set (the app's `http.route`, say `/api`), it is taken
//! off the front of the path first. Paths:
//!
//!   /hello            `hello from probe`
//!   /echo...          the method and the path with query: `GET /echo?x=1`
//!   /env/NAME         the value of NAME, or `NAME is not set` with status 404
//!   /print/TEXT       writes `TEXT` on stdout and `TEXT (stderr)` on stderr,
//!                     answers `printed`
//!   /count            `count N`: N counts the requests this instance has
//!                     served (1 with a fresh instance per request)
//!   /trap             traps (`unreachable`, in `trap_here`) before answering
//!   /loop             spins forever before answering
//!   /sleep/MS         prints `sleeping MS` on stdout, sleeps MS milliseconds
//!                     (a host wait, no CPU), then answers `slept`
//!   /fetch/URL        GETs URL (everything after `/fetch/`, e.g.
//!                     `/fetch/http://127.0.0.1:8000/x`) with wasi:http's
//!                     outgoing-handler; answers `status N` and the body on
//!                     a line of its own, or status 502 and `error: CODE`
//!                     (the WASI error code) when the request failed
//!   /resolve/NAME     looks NAME up (wasi:sockets' ip-name-lookup, through
//!                     Rust's std) and answers its addresses, one per line;
//!                     when the lookup fails it panics (a trap: status 500)
//!   /append/TEXT      appends TEXT to /tmp/probe.txt and answers the file
//!                     (status 500 and the error if that fails): with a
//!                     memfs at /tmp, what one instance wrote
//!   anything else     status 404, `no such probe path: PATH`

use std::cell::Cell;
use std::io::Write as _;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};

wasip2::http::proxy::export!(Probe);

struct Probe;

thread_local! {
    static SERVED: Cell<u64> = const { Cell::new(0) };
}

impl wasip2::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let served = SERVED.with(|s| {
            s.set(s.get() + 1);
            s.get()
        });
        let full = request.path_with_query().unwrap_or_default();
        let path = match std::env::var("ROUTE") {
            Ok(route) => full.strip_prefix(route.as_str()).unwrap_or(&full).to_string(),
            Err(_) => full.clone(),
        };
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Post => "POST".to_string(),
            Method::Put => "PUT".to_string(),
            Method::Delete => "DELETE".to_string(),
            other => format!("{other:?}"),
        };
        let (status, text) = if path == "/hello" {
            (200, "hello from probe\n".to_string())
        } else if path.starts_with("/echo") {
            (200, format!("{method} {path}\n"))
        } else if let Some(name) = path.strip_prefix("/env/") {
            match std::env::var(name) {
                Ok(v) => (200, format!("{v}\n")),
                Err(_) => (404, format!("{name} is not set\n")),
            }
        } else if let Some(text) = path.strip_prefix("/print/") {
            println!("{text}");
            eprintln!("{text} (stderr)");
            (200, "printed\n".to_string())
        } else if let Some(text) = path.strip_prefix("/append/") {
            append(text)
        } else if path == "/count" {
            (200, format!("count {served}\n"))
        } else if path == "/trap" {
            trap_here()
        } else if path == "/loop" {
            spin()
        } else if let Some(ms) = path.strip_prefix("/sleep/") {
            let ms: u64 = ms.parse().unwrap_or(0);
            println!("sleeping {ms}");
            wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
            (200, "slept\n".to_string())
        } else if let Some(url) = path.strip_prefix("/fetch/") {
            fetch(url)
        } else if let Some(name) = path.strip_prefix("/resolve/") {
            (200, resolve(name))
        } else {
            (404, format!("no such probe path: {path}\n"))
        };
        respond(out, status, &text);
    }
}

fn respond(out: ResponseOutparam, status: u16, text: &str) {
    let headers = Fields::from_list(&[(
        "content-type".to_string(),
        b"text/plain; charset=utf-8".to_vec(),
    )])
    .expect("a valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a valid status");
    let body = response.body().expect("the body is taken once");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().expect("the stream is taken once");
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

#[inline(never)]
fn trap_here() -> ! {
    core::arch::wasm32::unreachable()
}

#[inline(never)]
fn spin() -> ! {
    let mut x: u64 = 0;
    loop {
        // A volatile write the optimizer cannot drop: the loop really runs.
        unsafe { std::ptr::write_volatile(&mut x, x.wrapping_add(1)) };
    }
}

/// Every address of `name`, one per line; a failed lookup panics, so that
/// the request fails the way an app that needs the name fails.
fn resolve(name: &str) -> String {
    use std::net::ToSocketAddrs as _;
    match (name, 0).to_socket_addrs() {
        Ok(addrs) => addrs.map(|a| format!("{}\n", a.ip())).collect(),
        Err(e) => panic!("cannot resolve {name}: {e}"),
    }
}

/// GET `url` (`scheme://authority/path`): `(200, "status N\nBODY")`, or
/// `(502, "error: CODE")`.
fn fetch(url: &str) -> (u16, String) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (400, format!("not a URL: {url}\n"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    };
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let future = match outgoing_handler::handle(request, None) {
        Ok(f) => f,
        Err(code) => return failed(code),
    };
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(code))) => return failed(code),
        _ => return (502, "error: no response\n".to_string()),
    };
    let status = response.status();
    let mut text = format!("status {status}\n");
    if let Ok(body) = response.consume() {
        if let Ok(stream) = body.stream() {
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
                    Err(_) => break,
                }
            }
        }
    }
    (200, text)
}

fn failed(code: ErrorCode) -> (u16, String) {
    (502, format!("error: {code:?}\n"))
}

/// Appends `text` to /tmp/probe.txt and reads the whole file back.
fn append(text: &str) -> (u16, String) {
    let written = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open("/tmp/probe.txt")
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written.and_then(|()| std::fs::read_to_string("/tmp/probe.txt")) {
        Ok(all) => (200, format!("{all}\n")),
        Err(e) => (500, format!("error: {e}\n")),
    }
}
