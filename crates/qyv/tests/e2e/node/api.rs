//! The node's API as a client sees it: uploads it refuses (too big,
//! damaged, not runnable here) with nothing stored; the OpenAPI file and the
//! routes served; every error in the documented JSON shape; stalled clients
//! closed and a stop that keeps to the drain deadline.

use super::*;

#[test]
fn an_upload_over_the_limit_is_413_and_nothing_is_stored() {
    let s = Scratch::new();
    let node = s.daemon(&["--max-upload", "4KiB"], None);
    let bundle = s.pack(&s.app("a", "app", "args: [args]\n"), "a.qyvbin", &[]);
    match node
        .client(Some(&node.token), Some(&node.fingerprint))
        .deploy(&bundle, |_, _| {})
    {
        Err(ClientError::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (413, "too_large"))
        }
        other => panic!("{other:?}"),
    }
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    // The client asks the node's limit first and says it.
    let out = node.qyv().arg("deploy").arg(&bundle).output().unwrap();
    expect_failure(&out, 125, "--max-upload");
    assert!(node.apps().is_empty());
}

#[test]
fn a_damaged_bundle_is_400_and_nothing_is_stored() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let bundle = s.pack(&s.app("a", "app", "args: [args]\n"), "a.qyvbin", &[]);
    let mut bytes = std::fs::read(&bundle).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let damaged = s.path("damaged.qyvbin");
    std::fs::write(&damaged, &bytes).unwrap();
    let not_a_bundle = write(&s.path("x"), "junk.qyvbin", "not a bundle at all");
    for file in [&damaged, &not_a_bundle] {
        match node
            .client(Some(&node.token), Some(&node.fingerprint))
            .deploy(file, |_, _| {})
        {
            Err(ClientError::Api {
                status,
                code,
                message,
                ..
            }) => {
                assert_eq!((status, code.as_str()), (400, "bad_bundle"), "{message}");
                assert!(!message.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    assert!(node.apps().is_empty());
}

/// A bundle `qyv pack` would refuse (packed by other means) is refused by
/// the node with the same finding, in the node's voice: no `qyv` command
/// is named to a remote user.
#[test]
fn a_bundle_the_node_cannot_run_is_400_with_the_finding() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let manifest = s.app("a", "app", "args: [args]\npermissions:\n  ai: true\n");
    let out = s.qyv().arg("pack").arg(&manifest).output().unwrap();
    expect_failure(
        &out,
        125,
        "permissions.ai: AI inference (ai: true) is not supported yet",
    );
    let m = qyvol_manifest::Manifest::load(&manifest).unwrap();
    let bundle = s.path("a.qyvbin");
    qyvol_manifest::bundle::Packer::for_app(&m, &bundle)
        .unwrap()
        .write_file(&bundle, None)
        .unwrap();
    match node
        .client(Some(&node.token), Some(&node.fingerprint))
        .deploy(&bundle, |_, _| {})
    {
        Err(ClientError::Api {
            status,
            code,
            message,
            ..
        }) => {
            assert_eq!((status, code.as_str()), (400, "bad_bundle"), "{message}");
            assert!(
                message.starts_with("this node cannot run the app: the upload!"),
                "{message}"
            );
            assert!(
                message.ends_with(
                    ":5:7: permissions.ai: AI inference (ai: true) is not supported yet; set it to false"
                ),
                "{message}"
            );
            assert!(!message.contains("`qyv"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    assert!(node.apps().is_empty());
}

#[test]
fn the_openapi_file_lists_the_routes_the_node_serves() {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("docs/openapi.json")).unwrap())
            .unwrap();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    documented.sort();
    let mut served: Vec<(String, String)> = qyvol_node::api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    served.sort();
    assert_eq!(documented, served);
}

/// The error statuses of docs/api.md and the `error` words each may carry.
fn documented_errors() -> Vec<(u16, Vec<String>)> {
    let doc = std::fs::read_to_string(repo().join("docs/api.md")).unwrap();
    let section = doc.split("\n## Errors").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let status = cells.first()?.parse().ok()?;
            let codes = cells
                .get(1)?
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            Some((status, codes))
        })
        .collect()
}

#[test]
fn every_error_of_the_api_has_the_documented_json_shape() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let documented = documented_errors();
    let at = |path: &str| path.replace("{name}", "app");
    let mut asked: Vec<(u16, String, String, bool, Vec<u8>)> = Vec::new();
    for (method, path) in qyvol_node::api::ROUTES {
        // A method the route does not have.
        asked.push((405, "PUT".into(), at(path), true, Vec::new()));
        if *path != "/v1/health" {
            asked.push((401, method.to_string(), at(path), false, Vec::new()));
        }
    }
    let big = vec![b'x'; 100 << 10];
    for (status, method, path, body) in [
        (405, "OPTIONS", "/v1/apps", &b""[..]),
        (405, "TRACE", "/v1/apps", b""),
        (400, "GET", "/v1/apps/app/wait?revision=abc", b""),
        (400, "GET", "/v1/apps/app/logs?tail=-5", b""),
        (400, "GET", "/v1/events?after=abc", b""),
        (400, "GET", "/v1/apps/%FF", b""),
        (400, "GET", "/v1/apps/Not_A_Name", b""),
        (400, "POST", "/v1/apps", b"not a bundle"),
        (
            400,
            "POST",
            "/v1/apps/app/rollback",
            b"{\"revision\": \"x\"}",
        ),
        (413, "POST", "/v1/apps/app/rollback", &big),
        (404, "GET", "/v1/nothing", b""),
        (404, "GET", "/v1/apps/app", b""),
    ] {
        asked.push((status, method.into(), path.into(), true, body.to_vec()));
    }
    for (status, method, path, token, body) in asked {
        let reply = node.raw(&method, &path, token, &body);
        let what = format!("{method} {path}: {reply:?}");
        assert_eq!(reply.status, status, "{what}");
        assert_eq!(
            reply.header("content-type"),
            Some("application/json"),
            "{what}"
        );
        let body: Value = serde_json::from_str(&reply.body).expect(&what);
        let fields = body.as_object().expect(&what);
        assert_eq!(fields.len(), 2, "{what}");
        let code = fields["error"].as_str().expect(&what);
        assert!(
            !fields["message"].as_str().expect(&what).is_empty(),
            "{what}"
        );
        assert!(
            documented
                .iter()
                .any(|(s, codes)| *s == status && codes.iter().any(|c| c == code)),
            "{what}: {status} {code} is not in docs/api.md"
        );
        if status == 405 {
            assert!(reply.header("allow").is_some(), "{what}");
            assert!(reply.body.contains("which takes"), "{what}");
        }
    }
}

#[test]
fn the_api_and_the_http_port_close_stalled_clients_and_a_stop_keeps_to_the_drain_deadline() {
    let s = Scratch::new();
    let flags = [
        "--http",
        "127.0.0.1:0",
        "--header-timeout",
        "1s",
        "--drain-timeout",
        "2s",
    ];
    let mut node = s.daemon(&flags, None);
    // On the API: a client that never starts its handshake, and one that
    // finishes it and sends half a request head.
    let mut raw = connect(node.api_addr());
    assert!(until_closed(&mut raw).is_empty());
    let mut tls = node.tls();
    tls.write_all(b"GET /v1/health HTTP/1.1\r\nHost: node\r\n")
        .unwrap();
    tls.flush().unwrap();
    assert!(until_closed(&mut tls).is_empty());
    // On the HTTP port.
    let http = node.http.unwrap();
    let mut half = stalled(http, b"GET / HTTP/1.1\r\nHost: x\r\n");
    assert!(until_closed(&mut half).is_empty());

    // A request in flight on the HTTP port when the node stops is cut at
    // the drain's deadline, and the node exits 0.
    let web = s.http_app("web", "web", "/web", "hi");
    node.qyv().arg("deploy").arg(&web).assert().success();
    let mut busy = stalled(http, b"GET /web/sleep/600000 HTTP/1.1\r\nHost: x\r\n\r\n");
    eventually(
        || {
            let out = node.qyv().args(["logs", "web"]).output().unwrap();
            stdout(&out)
        },
        |out| out.contains("sleeping 600000"),
    );
    node.signal("TERM");
    assert_eq!(exited(&mut node.child).code(), Some(0));
    node.expect(
        "qyv daemon: http: the wait for the requests in flight reached its limit of 2s: closed 1 connection and left 1 request unfinished",
    );
    assert!(until_closed(&mut busy).is_empty());
}
