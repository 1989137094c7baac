//! One HTTP entry for every node: a node without a replica of an HTTP app
//! forwards its requests to one that has, balanced, saying who answered;
//! a forwarded request is never forwarded again; a node that dies is
//! passed over without a failed request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::*;

fn get_with(addr: SocketAddr, path: &str, extra: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_reply(&raw)
}

fn web(s: &Scratch) -> PathBuf {
    let dir = s.path("apps/web");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(http_probe(), dir.join("probe.wasm")).unwrap();
    write(
        &dir,
        "app.qyv",
        "name: web\nentrypoint: probe.wasm\ntype: http\nhttp:\n  route: /web\nenv:\n  ROUTE: /web\n  GREETING: hello\n",
    )
}

#[test]
fn every_http_node_answers_every_route_balanced_and_never_forwards_twice() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let mut nodes: Vec<Node> = (1..=3)
        .map(|i| {
            Node::start(
                &s,
                &format!("node{i}"),
                Some(&nats.urls()),
                &["--http", "127.0.0.1:0"],
            )
        })
        .collect();
    wait_nodes(&s, 3);
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--replicas", "2"])
        .arg(web(&s))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let holders = running_on(&cluster_app(&s, "web"));
    let entry = nodes
        .iter()
        .position(|n| !holders.contains(&n.name))
        .unwrap();
    let entry_addr = nodes[entry].http.unwrap();

    // A holder serves its own requests, and says so.
    let holder = nodes.iter().find(|n| holders.contains(&n.name)).unwrap();
    let local = get_with(holder.http.unwrap(), "/web/env/GREETING", "");
    assert_eq!(local.body, "hello\n");
    assert_eq!(local.header("x-qyvol-node"), Some(holder.name.as_str()));

    // The node without a replica answers too, from both holders in turn.
    wait_for("the entry node to know the route", || {
        (get_with(entry_addr, "/web/env/GREETING", "").status == 200).then_some(())
    });
    // Both replicas serve through it (the entry learns of each replica as
    // its beats arrive).
    let mut served_by = std::collections::BTreeSet::new();
    wait_for("both replicas to serve through the entry", || {
        let r = get_with(entry_addr, "/web/env/GREETING", "");
        assert_eq!((r.status, r.body.as_str()), (200, "hello\n"));
        served_by.insert(r.header("x-qyvol-node").unwrap().to_string());
        (served_by.len() == 2).then_some(())
    });
    assert_eq!(served_by.into_iter().collect::<Vec<_>>(), holders);

    // A forwarded request is served where it lands or not at all.
    let bounced = get_with(
        entry_addr,
        "/web/env/GREETING",
        "x-qyvol-forwarded: node9\r\n",
    );
    assert_eq!(bounced.status, 502, "{}", bounced.body);
    assert!(
        bounced
            .body
            .contains("a forwarded request is not forwarded again"),
        "{}",
        bounced.body
    );
    assert_eq!(
        bounced.header("x-qyvol-node"),
        Some(nodes[entry].name.as_str())
    );
    // A path no app of the cluster serves is still 404.
    assert_eq!(get_with(entry_addr, "/nothing", "").status, 404);

    // One holder dies: the entry passes it over, and no request fails.
    let victim = nodes.iter().position(|n| n.name == holders[0]).unwrap();
    nodes[victim].kill();
    for _ in 0..20 {
        let r = get_with(entry_addr, "/web/env/GREETING", "");
        assert_eq!((r.status, r.body.as_str()), (200, "hello\n"), "{r:?}");
        assert_eq!(r.header("x-qyvol-node"), Some(holders[1].as_str()));
    }
}

#[test]
fn apps_on_different_nodes_call_each_other_by_service_name() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let nodes: Vec<Node> = ["a", "b"]
        .iter()
        .map(|zone| {
            let label = format!("zone={zone}");
            Node::start(
                &s,
                &format!("node-{zone}"),
                Some(&nats.urls()),
                &["--http", "127.0.0.1:0", "--label", &label],
            )
        })
        .collect();
    wait_nodes(&s, 2);
    for (name, zone, rest) in [
        ("front", "a", "env: {WHO: front}\n"),
        (
            "back",
            "b",
            "env: {WHO: back, ROUTE: /back}\nhttp: {route: /back}\n",
        ),
    ] {
        let dir = s.path(&format!("apps/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(http_probe(), dir.join("probe.wasm")).unwrap();
        let manifest = write(
            &dir,
            "app.qyv",
            &format!(
                "name: {name}\nentrypoint: probe.wasm\ntype: http\nscheduler: {{constraints: [zone={zone}]}}\n{rest}"
            ),
        );
        let out = s
            .qyv()
            .args(["cluster", "deploy"])
            .arg(&manifest)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
    assert_eq!(running_on(&cluster_app(&s, "front")), ["node-a"]);
    assert_eq!(running_on(&cluster_app(&s, "back")), ["node-b"]);
    let a = nodes[0].http.unwrap();
    let r = wait_for("front on node-a to reach back on node-b", || {
        let r = get_with(a, "/fetch/http://back.service/env/WHO", "");
        r.body.starts_with("status 200").then_some(r)
    });
    assert_eq!(r.body, "status 200\nback\n");
    assert_eq!(r.header("x-qyvol-node"), Some("node-a"));
    // An unknown name is the same 502 as on one server.
    let r = get_with(a, "/fetch/http://nobody.service/x", "");
    assert!(
        r.body
            .starts_with("status 502\nno app named \"nobody\" is served here"),
        "{r:?}"
    );
}
