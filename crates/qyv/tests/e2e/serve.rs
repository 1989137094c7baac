//! `qyv serve` end to end: real components on a real loopback socket.
//! Nothing here depends on timing: limits are generous and the guests that
//! must hit them exceed them without end (`/loop`) or by far.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::common::*;

/// A folder with the probe guest and one manifest per `(file, name, rest)`,
/// where `rest` is everything but name, entrypoint and type.
fn probe_apps(dir: &Path, apps: &[(&str, &str, &str)]) -> Vec<PathBuf> {
    std::fs::copy(http_probe(), dir.join("http-probe.wasm")).unwrap();
    apps.iter()
        .map(|(file, name, rest)| {
            write(
                dir,
                file,
                &format!("name: {name}\nentrypoint: http-probe.wasm\ntype: http\n{rest}"),
            )
        })
        .collect()
}

fn serve(paths: &[PathBuf]) -> Served {
    let args: Vec<&OsStr> = paths.iter().map(|p| p.as_os_str()).collect();
    Served::start(&args)
}

#[test]
fn each_http_example_says_hello_in_its_language() {
    for (dir, manifest, path, greeting) in HTTP_EXAMPLES {
        let server = serve(&[example(&format!("{dir}/{manifest}"))]);
        let reply = server.get(path);
        assert_eq!(reply.status, 200, "{dir}: {reply:?}");
        assert!(reply.body.starts_with(greeting), "{dir}: {reply:?}");
        assert!(
            reply.body.contains(&format!("You asked for {path}")),
            "{dir}: {reply:?}"
        );
        assert!(reply.header("x-request-id").is_some(), "{dir}");
    }
}

#[test]
fn a_bare_component_is_served_at_the_root() {
    let server = serve(&[http_probe()]);
    let reply = server.get("/hello");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "hello from probe\n")
    );
    assert!(
        server
            .stderr()
            .text()
            .contains("serving http-probe at http://")
    );
}

#[test]
fn the_longest_route_wins_and_unrouted_paths_get_404() {
    let d = tempfile::tempdir().unwrap();
    let apps = probe_apps(
        d.path(),
        &[
            ("root.qyv", "root", "env: {WHO: root}\n"),
            (
                "api.qyv",
                "api",
                "env: {WHO: api, ROUTE: /api}\nhttp: {route: /api}\n",
            ),
            (
                "v2.qyv",
                "v2",
                "env: {WHO: v2, ROUTE: /api/v2}\nhttp: {route: /api/v2/}\n",
            ),
        ],
    );
    let server = serve(&apps);
    for (path, body) in [
        ("/env/WHO", "root\n"),
        ("/api/env/WHO", "api\n"),
        ("/api/v2/env/WHO", "v2\n"),
        ("/api/v1/env/WHO", "no such probe path: /v1/env/WHO\n"),
    ] {
        let reply = server.get(path);
        assert_eq!(reply.body, body, "{path}");
    }
    // /apix is not under /api: the root app gets it whole.
    assert_eq!(server.get("/apix").body, "no such probe path: /apix\n");

    let only_api = serve(&apps[1..2]);
    let reply = only_api.get("/other");
    assert_eq!(reply.status, 404);
    assert!(
        reply
            .body
            .starts_with("no app is served at /other; routes: /api (api)"),
        "{reply:?}"
    );
}

#[test]
fn every_request_gets_a_fresh_instance_even_when_many_run_at_once() {
    let server = serve(&[http_probe()]);
    let addr = server.addr;
    let threads: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| http_get(addr, "/count"))
                    .map(|r| (r.status, r.body))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    let mut total = 0;
    for t in threads {
        for (status, body) in t.join().unwrap() {
            assert_eq!((status, body.as_str()), (200, "count 1\n"));
            total += 1;
        }
    }
    assert_eq!(total, 400);
    // Request ids are unique.
    for _ in 0..5 {
        ids.insert(
            server
                .get("/hello")
                .header("x-request-id")
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ids.len(), 5);
}

#[test]
fn reuse_lets_one_instance_serve_several_requests() {
    let d = tempfile::tempdir().unwrap();
    let apps = probe_apps(
        d.path(),
        &[("app.qyv", "reused", "http: {reuse: 3, concurrency: 1}\n")],
    );
    let server = serve(&apps);
    let counts: Vec<String> = (0..7).map(|_| server.get("/count").body).collect();
    assert_eq!(
        counts,
        [
            "count 1\n",
            "count 2\n",
            "count 3\n",
            "count 1\n",
            "count 2\n",
            "count 3\n",
            "count 1\n"
        ]
    );
}

#[test]
fn a_request_past_its_time_limit_gets_504_and_the_server_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let apps = probe_apps(
        d.path(),
        &[("app.qyv", "spinner", "limits: {timeout: 1s}\n")],
    );
    let server = serve(&apps);
    let reply = server.get("/loop");
    assert_eq!(reply.status, 504, "{reply:?}");
    let id = reply.header("x-request-id").unwrap().to_string();
    assert_eq!(
        reply.body,
        format!("spinner did not answer within 1s (limits.timeout) (request id {id})\n")
    );
    server.stderr().wait_for(|l| {
        l == format!(
            "qyv serve: [req {id}] spinner: GET /loop: 504: spinner was stopped by the time limit of 1s (limits.timeout)"
        )
    });
    assert_eq!(server.get("/hello").body, "hello from probe\n");
}

#[test]
fn a_trap_fails_only_its_request_with_500_and_a_logged_backtrace() {
    let server = serve(&[http_probe()]);
    let reply = server.get("/trap");
    assert_eq!(reply.status, 500, "{reply:?}");
    let id = reply.header("x-request-id").unwrap().to_string();
    assert!(
        reply
            .body
            .contains("http-probe failed while handling the request"),
        "{reply:?}"
    );
    let line = server.stderr().wait_for(|l| {
        l.starts_with(&format!(
            "qyv serve: [req {id}] http-probe: GET /trap: 500: http-probe trapped"
        ))
    });
    assert!(line.contains("unreachable"), "{line}");
    server.stderr().wait_for(|l| l.contains("trap_here"));
    assert_eq!(server.get("/hello").status, 200);
}

#[test]
fn guest_output_lines_carry_the_request_id() {
    let server = serve(&[http_probe()]);
    let reply = server.get("/print/hi%20there");
    assert_eq!(reply.body, "printed\n");
    let id = reply.header("x-request-id").unwrap();
    server
        .stdout()
        .wait_for(|l| l == format!("[req {id}] http-probe: hi%20there"));
    server
        .stderr()
        .wait_for(|l| l == format!("[req {id}] http-probe: hi%20there (stderr)"));
}

#[test]
fn a_full_queue_answers_503_while_waiting_requests_are_kept() {
    let d = tempfile::tempdir().unwrap();
    let apps = probe_apps(
        d.path(),
        &[("app.qyv", "narrow", "http: {concurrency: 1, queue: 1}\n")],
    );
    let server = serve(&apps);
    let addr = server.addr;
    // One request runs, one waits, the other three find the queue full.
    // The sleep outlasts the test: it is never waited for.
    let (tx, rx) = mpsc::channel();
    for _ in 0..5 {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send(http_get(addr, "/sleep/600000"));
        });
    }
    let refused: Vec<Reply> = (0..3)
        .map(|_| {
            rx.recv_timeout(std::time::Duration::from_secs(120))
                .unwrap()
        })
        .collect();
    for reply in &refused {
        assert_eq!(reply.status, 503, "{reply:?}");
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert!(
            reply.body.starts_with(
                "narrow is busy: 1 requests running and 1 waiting (http.concurrency, http.queue)"
            ),
            "{reply:?}"
        );
    }
    server
        .stdout()
        .wait_for(|l| l.ends_with("narrow: sleeping 600000"));
    assert!(rx.try_recv().is_err(), "a waiting request was answered");
}

#[test]
fn apps_call_each_other_on_the_virtual_network() {
    let d = tempfile::tempdir().unwrap();
    let apps = probe_apps(
        d.path(),
        &[
            ("front.qyv", "front", "env: {WHO: front}\n"),
            (
                "back.qyv",
                "back",
                "env: {WHO: back, ROUTE: /back}\nhttp: {route: /back}\n",
            ),
        ],
    );
    let server = serve(&apps);
    let reply = server.get("/fetch/http://back.service/env/WHO");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "status 200\nback\n")
    );
    let reply = server.get("/fetch/service://back/env/WHO");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "status 200\nback\n")
    );
    // The callee's failure is the caller's response, not its failure.
    let reply = server.get("/fetch/http://back.service/trap");
    assert!(reply.body.starts_with("status 500\n"), "{reply:?}");
    let reply = server.get("/fetch/http://nobody.service/x");
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.starts_with(
            "status 502\nno app named \"nobody\" is served here, so http://nobody.service/ leads nowhere; apps on this server: front, back"
        ),
        "{reply:?}"
    );
}

#[test]
fn outgoing_requests_follow_permissions_net() {
    let upstream = Upstream::start();
    let port = upstream.port;
    let d = tempfile::tempdir().unwrap();
    let apps = probe_apps(
        d.path(),
        &[
            (
                "closed.qyv",
                "closed",
                "env: {ROUTE: /closed}\nhttp: {route: /closed}\n",
            ),
            (
                "open.qyv",
                "open",
                &format!(
                    "env: {{ROUTE: /open}}\nhttp: {{route: /open}}\npermissions:\n  net: [\"127.0.0.1:{port}\"]\n"
                ),
            ),
        ],
    );
    let server = serve(&apps);
    let url = format!("http://127.0.0.1:{port}/x");

    let denied = server.get(&format!("/closed/fetch/{url}"));
    assert_eq!(
        (denied.status, denied.body.as_str()),
        (502, "error: ErrorCode::HttpRequestDenied\n")
    );
    let id = denied.header("x-request-id").unwrap();
    server.stderr().wait_for(|l| {
        l == format!(
            "qyv serve: [req {id}] closed: outgoing request GET {url} was denied by permissions.net; add \"127.0.0.1:{port}\" to permissions.net to allow it"
        )
    });
    assert_eq!(
        upstream.accepted(),
        0,
        "a denied request reached the network"
    );

    let other_port = server.get(&format!("/open/fetch/http://127.0.0.1:{}/x", port + 1));
    assert_eq!(other_port.body, "error: ErrorCode::HttpRequestDenied\n");
    assert_eq!(upstream.accepted(), 0);

    let allowed = server.get(&format!("/open/fetch/{url}"));
    assert_eq!(
        (allowed.status, allowed.body.as_str()),
        (200, "status 200\nupstream says hi")
    );
    assert_eq!(upstream.accepted(), 1);
}

#[test]
fn sigterm_finishes_requests_in_flight_then_exits_0() {
    for signal in ["TERM", "INT"] {
        let mut server = serve(&[http_probe()]);
        let addr = server.addr;
        let inflight = std::thread::spawn(move || http_get(addr, "/sleep/1500"));
        server
            .stdout()
            .wait_for(|l| l.ends_with("http-probe: sleeping 1500"));
        server.signal(signal);
        let reply = inflight.join().unwrap();
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "slept\n"),
            "{signal}"
        );
        let status = server.child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "{signal}: {}",
            server.stderr().text()
        );
        server
            .stderr()
            .wait_for(|l| l.starts_with("qyv serve: stopped after 1 requests"));
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{signal}: still accepting"
        );
    }
}

/// `qyv serve ARGS` that must fail before listening: its stderr.
fn refused(args: &[&OsStr]) -> String {
    let out = qyv()
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    stderr(&out)
}

#[test]
fn what_cannot_be_served_is_refused_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let apps = probe_apps(
        d.path(),
        &[
            ("a.qyv", "same", ""),
            ("b.qyv", "same", "http: {route: /b}\n"),
            ("c.qyv", "other", ""),
        ],
    );
    let err = refused(&[apps[0].as_os_str(), apps[1].as_os_str()]);
    assert!(err.contains("are both named \"same\""), "{err}");
    let err = refused(&[apps[0].as_os_str(), apps[2].as_os_str()]);
    assert!(err.contains("both have http.route \"/\""), "{err}");

    // A command manifest, a command component, a preview-1 module.
    let hello = example("hello/hello.qyv");
    let err = refused(&[hello.as_os_str()]);
    assert!(
        err.contains("hello.qyv: type: qyv serve serves type: http apps, and this one is type: command; run it with `qyv run"),
        "{err}"
    );
    let component = example("hello/hello.component.wasm");
    let err = refused(&[component.as_os_str()]);
    assert!(
        err.contains("it is a command (it exports wasi:cli/run"),
        "{err}"
    );
    // The runtime says what the program is; qyv names the command for it.
    assert!(err.trim_end().ends_with("; `qyv run` runs it"), "{err}");
    let err = refused(&[probe_p1().as_os_str()]);
    assert!(err.contains("it is a WASI preview 1 core module"), "{err}");
    let manifest = write(
        d.path(),
        "m.qyv",
        "name: mod\nentrypoint: probe.wasm\ntype: http\n",
    );
    std::fs::copy(probe_p1(), d.path().join("probe.wasm")).unwrap();
    let err = refused(&[manifest.as_os_str()]);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("m.qyv:2:13: entrypoint: "), "{err}");

    let missing = d.path().join("missing.qyv");
    assert!(refused(&[missing.as_os_str()]).contains("no such file or folder"));

    // The port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = qyv()
        .arg("serve")
        .arg(http_probe())
        .args(["--addr", &taken.local_addr().unwrap().to_string()])
        .output()
        .unwrap();
    expect_failure(&out, 125, "another program uses this port");
}

#[test]
fn qyv_run_of_an_http_app_points_to_serve() {
    let d = tempfile::tempdir().unwrap();
    let apps = probe_apps(d.path(), &[("app.qyv", "web", "")]);
    let out = qyv().arg("run").arg(&apps[0]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}:3:7: type: this is an HTTP app: serve it with `qyv serve {}`\n",
            apps[0].display(),
            apps[0].display()
        )
    );
    // Valid all the same: importing the outgoing handler needs no network
    // permission (it also reaches apps of the same server).
    qyv().arg("validate").arg(&apps[0]).assert().success();
    let out = qyv()
        .arg("validate")
        .arg(example("http-rust/http-rust.qyv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("wasi:http/proxy"), "{}", stdout(&out));
}

/// The flags, then the probe served bare at `/`.
fn probe_with(flags: &[&str]) -> Vec<PathBuf> {
    let mut args: Vec<PathBuf> = flags.iter().map(PathBuf::from).collect();
    args.push(http_probe());
    args
}

#[test]
fn stalled_heads_are_closed_after_the_header_timeout_and_idle_connections_after_the_idle_timeout() {
    let server = serve(&probe_with(&[
        "--header-timeout",
        "1s",
        "--idle-timeout",
        "8s",
    ]));
    // Half a request head, or nothing at all, is not kept waiting for.
    let mut silent = connect(server.addr);
    let mut half = stalled(server.addr, b"GET /hello HTTP/1.1\r\nHost: x\r\n");
    assert!(until_closed(&mut silent).is_empty());
    assert!(until_closed(&mut half).is_empty());
    // A kept-alive connection may wait longer than the header timeout for
    // its next request; it is closed once idle for the idle timeout.
    let mut kept = connect(server.addr);
    assert_eq!(ask(&mut kept, "/hello").body, "hello from probe\n");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(ask(&mut kept, "/hello").body, "hello from probe\n");
    let idle = std::time::Instant::now();
    assert!(until_closed(&mut kept).is_empty());
    assert!(idle.elapsed() >= std::time::Duration::from_secs(6));
    // A request that runs longer than both is answered.
    let slow = serve(&probe_with(&[
        "--header-timeout",
        "1s",
        "--idle-timeout",
        "1s",
    ]));
    let mut busy = connect(slow.addr);
    assert_eq!(ask(&mut busy, "/sleep/3000").body, "slept\n");
}

#[test]
fn over_the_connection_cap_the_longest_idle_goes_and_when_all_are_busy_new_ones_get_503() {
    let server = serve(&probe_with(&["--max-connections", "3"]));
    let addr = server.addr;
    let mut idle: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    for c in &mut idle {
        assert_eq!(ask(c, "/hello").status, 200);
    }
    // A fourth client is served: the connection idle the longest makes
    // room, and the server says so.
    assert_eq!(http_get(addr, "/hello").status, 200);
    assert!(until_closed(&mut idle[0]).is_empty());
    server.stderr().wait_for(|l| {
        l.contains("closed 1 connection waiting without a request, to stay within the cap of 3 connections")
    });
    // Three requests in flight take the places of the idle connections;
    // with all three busy, a new connection is refused with 503.
    let _busy: Vec<_> = (0..3)
        .map(|_| stalled(addr, b"GET /sleep/600000 HTTP/1.1\r\nHost: x\r\n\r\n"))
        .collect();
    server
        .stdout()
        .wait_count(3, |l| l.ends_with("http-probe: sleeping 600000"));
    let refused = http_get(addr, "/hello");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(refused.body.contains("too many connections"), "{refused:?}");
    server.stderr().wait_for(|l| {
        l.contains(
            "refused 1 new connection: the cap of 3 connections reached with every connection busy",
        )
    });
}

/// The soft and hard limits on open files of process `pid`.
fn open_files(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut words = line.split_whitespace().skip(3);
    (
        words.next().unwrap().to_string(),
        words.next().unwrap().to_string(),
    )
}

#[test]
fn the_limit_on_open_files_is_raised_and_a_low_one_lowers_the_cap_without_locking_clients_out() {
    let server = Served::start_under("-S -n 256", &[http_probe().as_os_str()]);
    let (soft, hard) = open_files(server.child.id());
    assert_eq!(soft, hard);
    assert_ne!(soft, "256");

    // Under a hard limit of 64 the cap is lowered to fit, and many silent
    // connections do not lock a real client out.
    let server = Served::start_under("-n 64", &[http_probe().as_os_str()]);
    server.stderr().wait_for(|l| {
        l.starts_with("warning: the limit on open files (64) leaves room for 48 connections")
    });
    let _silent: Vec<_> = (0..80).map(|_| connect(server.addr)).collect();
    assert_eq!(server.get("/hello").status, 200);
    server
        .stderr()
        .wait_for(|l| l.contains("waiting without a request"));
}

#[test]
fn a_stop_closes_what_is_left_at_the_drain_deadline_and_exits_0() {
    // The stalled head must still be open at the stop, however slow the
    // machine: its header timeout is far away.
    let mut server = serve(&probe_with(&[
        "--drain-timeout",
        "2s",
        "--header-timeout",
        "10m",
    ]));
    let _stalled = stalled(server.addr, b"GET /hello HTTP/1.1\r\nHost: x\r\n");
    let mut busy = stalled(
        server.addr,
        b"GET /sleep/600000 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    server
        .stdout()
        .wait_for(|l| l.ends_with("http-probe: sleeping 600000"));
    server.signal("TERM");
    let status = exited(&mut server.child);
    assert_eq!(status.code(), Some(0), "{}", server.stderr().text());
    server.stderr().wait_for(|l| {
        l == "qyv serve: the wait for the requests in flight reached its limit of 2s: closed 2 connections and left 1 request unfinished"
    });
    assert!(until_closed(&mut busy).is_empty());

    // Without a request in flight a stalled head holds a stop no longer
    // than the header timeout: the drain's own limit is far away, so only
    // the header timeout can have ended it.
    let mut server = serve(&probe_with(&[
        "--header-timeout",
        "1s",
        "--drain-timeout",
        "10m",
    ]));
    let _stalled = stalled(server.addr, b"GET /hello HTTP/1.1\r\nHost: x\r\n");
    server.signal("TERM");
    assert_eq!(exited(&mut server.child).code(), Some(0));
    let said = server.stderr().text();
    assert!(!said.contains("reached its limit"), "{said}");
}
