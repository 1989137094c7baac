//! HTTP apps on a node (`--http`): served by route through stop, start,
//! redeploy, rollback and a restart; refused by a node without HTTP; a
//! route another app took; an app that is no handler.

use super::*;

#[test]
fn http_apps_are_served_by_route_through_stop_start_redeploy_rollback_and_restart() {
    let s = Scratch::new();
    let http = ["--http", "127.0.0.1:0"];
    let mut node = s.daemon(&http, None);

    // The example, at its route /, answers through the node's HTTP port.
    let out = node
        .qyv()
        .arg("deploy")
        .arg(example("http-rust/http-rust.qyv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let reply = node.get("/hi");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "Hello from Rust! You asked for /hi\n");
    let app = node.app("http-rust");
    assert_eq!(app["state"], "running", "{app}");
    assert_eq!(app["route"], "/", "{app}");
    assert_eq!(app["instances"], 1, "{app}");
    let out = node.qyv().args(["ps", "http-rust"]).output().unwrap();
    assert!(
        stdout(&out).contains("  route      /\n"),
        "{}",
        stdout(&out)
    );

    // A second app at /greet; the longer route wins its paths.
    let one = s.http_app("one", "greeter", "/greet", "one");
    node.qyv().arg("deploy").arg(&one).assert().success();
    assert_eq!(node.get("/greet/env/GREETING").body, "one\n");
    assert_eq!(
        node.get("/else").body,
        "Hello from Rust! You asked for /else\n"
    );
    // rm takes an app off its route.
    node.qyv().args(["rm", "http-rust"]).assert().success();
    assert_eq!(node.get("/else").status, 404);

    // What an instance prints is in the app's log, with its request id.
    let reply = node.get("/greet/print/written-by-a-request");
    assert_eq!(reply.body, "printed\n");
    let id = reply.header("x-request-id").unwrap().to_string();
    let (out, err) = eventually(
        || {
            let out = node.qyv().args(["logs", "greeter"]).output().unwrap();
            (stdout(&out), stderr(&out))
        },
        |(_, err)| err.contains("written-by-a-request (stderr)"),
    );
    assert_eq!(out, format!("[req {id}] written-by-a-request\n"));
    assert_eq!(err, format!("[req {id}] written-by-a-request (stderr)\n"));

    // stop takes the route out; start puts it back.
    node.qyv().args(["stop", "greeter"]).assert().success();
    assert_eq!(node.app("greeter")["state"], "stopped");
    assert_eq!(node.get("/greet/env/GREETING").status, 404);
    node.qyv().args(["start", "greeter"]).assert().success();
    assert_eq!(node.app("greeter")["state"], "running");
    assert_eq!(node.get("/greet/env/GREETING").body, "one\n");

    // A redeploy swaps in the new revision; a rollback the old one.
    let two = s.http_app("two", "greeter", "/greet", "two");
    node.qyv().arg("deploy").arg(&two).assert().success();
    assert_eq!(node.get("/greet/env/GREETING").body, "two\n");
    assert_eq!(node.app("greeter")["version"], "1.0.0-two");
    node.qyv().args(["rollback", "greeter"]).assert().success();
    assert_eq!(node.get("/greet/env/GREETING").body, "one\n");
    let revision = node.app("greeter")["revision"].as_u64().unwrap();
    assert_eq!(revision, 3);

    // Another app may not take a route an app holds; nothing of it is
    // stored.
    let before = s.stored_bundles();
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.http_app("thief", "thief", "/greet", "x"))
        .output()
        .unwrap();
    expect_failure(&out, 125, "http.route /greet belongs to app greeter");
    assert_eq!(s.stored_bundles(), before);
    assert!(node.apps().iter().all(|a| a["name"] != "thief"));

    let metrics = node
        .client(Some(&node.token), Some(&node.fingerprint))
        .metrics()
        .unwrap();
    assert!(
        metrics.contains("qyvol_app_http_requests_total{app=\"greeter\"} 1\n"),
        "{metrics}"
    );

    // A restarted node serves its apps again, at the revision they had.
    node.kill();
    let node = s.daemon(&http, None);
    assert_eq!(node.settled("greeter", 3)["state"], "running");
    assert_eq!(node.get("/greet/env/GREETING").body, "one\n");
    assert_eq!(node.app("greeter")["route"], "/greet");
}

#[test]
fn a_node_without_http_refuses_http_apps_and_stores_nothing() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let out = node
        .qyv()
        .arg("deploy")
        .arg(example("http-rust/http-rust.qyv"))
        .output()
        .unwrap();
    expect_failure(&out, 125, "qyv daemon --http ADDR");
    assert!(
        stderr(&out).contains("http-rust is a type: http app"),
        "{}",
        stderr(&out)
    );
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    assert!(node.apps().is_empty());
}

#[test]
fn a_rollback_to_a_route_another_app_took_is_refused() {
    let s = Scratch::new();
    let node = s.daemon(&["--http", "127.0.0.1:0"], None);
    for manifest in [
        s.http_app("one", "greeter", "/greet", "one"),
        s.http_app("two", "greeter", "/g2", "two"),
        s.http_app("other", "other", "/greet", "three"),
    ] {
        node.qyv().arg("deploy").arg(manifest).assert().success();
    }
    assert_eq!(node.get("/greet/env/GREETING").body, "three\n");
    let out = node.qyv().args(["rollback", "greeter"]).output().unwrap();
    expect_failure(
        &out,
        125,
        "cannot roll greeter back to revision 1: http.route /greet belongs to app other",
    );
    assert_eq!(node.get("/g2/env/GREETING").body, "two\n");
    assert_eq!(node.get("/greet/env/GREETING").body, "three\n");
    let revs: Vec<u64> = revisions(&node.app("greeter"))
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(revs, [2, 1]);
}

#[test]
fn an_http_app_that_is_no_handler_fails_with_the_reason_and_serves_nothing() {
    let s = Scratch::new();
    let node = s.daemon(&["--http", "127.0.0.1:0"], None);
    let dir = s.path("apps/cmd");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(probe_p2(), dir.join("probe.wasm")).unwrap();
    let manifest = write(
        &dir,
        "app.qyv",
        "name: cmd\nentrypoint: probe.wasm\ntype: http\nhttp:\n  route: /cmd\n",
    );
    let out = node.qyv().arg("deploy").arg(manifest).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("it is a command"), "{}", stdout(&out));
    let app = node.app("cmd");
    assert_eq!(app["state"], "failed", "{app}");
    assert_eq!(app["instances"], 0, "{app}");
    assert_eq!(node.get("/cmd").status, 404);
}
