//! The dashboard in a real headless Chromium: crates/qyv/tests/browser/viz.py
//! (Playwright for Python driving Debian's chromium, both installed by
//! scripts/install-toolchains.sh) against this node with real apps. With
//! `QYVOL_BLESS=1` it saves the screenshots the README shows
//! (docs/img/viz-*.png); otherwise into a scratch folder, so that a test
//! run leaves the tree as it was.

use super::*;

#[test]
fn the_dashboard_in_a_real_browser() {
    let chromium =
        std::env::var("VIZ_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: scripts/install-toolchains.sh installs Debian's chromium"
    );
    let s = Scratch::new();
    // A fixed address, so that the page finds the node again after its
    // restart.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut node = s.daemon(&["--listen", &listen], None);
    let marker = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2>";
    let deploy = |manifest: PathBuf| {
        let out = node.qyv().arg("deploy").arg(&manifest).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    deploy(s.app(
        "talker",
        "talker",
        &format!("args: [stderr, \"{marker}\"]\n"),
    ));
    deploy(s.app("sleeper", "sleeper", SERVICE));
    deploy(s.app(
        "worker",
        "worker",
        "type: service\nargs: [sleep, \"3600000\"]\nlimits:\n  memory: 64MiB\n",
    ));
    // A deploy of a command that fails says so with status 1.
    let failing = s.app("failing", "failing", "args: [exit, \"2\"]\n");
    let out = node.qyv().arg("deploy").arg(&failing).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let later = s.app("later", "late-arrival", SERVICE);
    let apps = serde_json::json!({
        "shown": ["talker", "sleeper", "worker", "failing"],
        "later": later,
        "later_name": "late-arrival",
        "service": "sleeper",
        "failed": "failing",
        "talker": "talker",
    });
    let scratch = tempfile::tempdir().unwrap();
    let shots = if std::env::var_os("QYVOL_BLESS").is_some() {
        repo().join("docs/img")
    } else {
        scratch.path().to_path_buf()
    };
    std::fs::create_dir_all(&shots).unwrap();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut out = Command::new(python)
        .arg(repo().join("crates/qyv/tests/browser/viz.py"))
        .env("QYVOL_CACHE_DIR", &node.cache)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("QYVOL_CONFIG")
        .env("XDG_CONFIG_HOME", &node.config)
        .env("QYVOL_NODE", &node.url)
        .env("QYVOL_TOKEN", &node.token)
        .env("QYVOL_FINGERPRINT", &node.fingerprint)
        .env("QYV", assert_cmd::cargo::cargo_bin("qyv"))
        .env("VIZ_APPS", apps.to_string())
        .env("VIZ_SHOTS", &shots)
        .env("VIZ_CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let errors = out.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(errors), &mut text);
        text
    });
    let mut said = String::new();
    for line in BufReader::new(out.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        said.push_str(&line);
        said.push('\n');
        // The script asks for the node to be stopped and started again on
        // its address (its data kept), then goes on.
        if line == "RESTART" {
            node.kill();
            node = s.daemon(&["--listen", &listen], None);
            let stdin = out.stdin.as_mut().unwrap();
            stdin.write_all(b"go\n").unwrap();
            stdin.flush().unwrap();
        }
    }
    let status = out.wait().unwrap();
    let errors = errors.join().unwrap();
    println!("{said}");
    assert!(
        status.success(),
        "the browser checks failed:\n{said}\n{errors}"
    );
    assert!(said.contains("browser checks passed"), "{said}");
}

/// One plain HTTP request to a local viewer, with a bearer token or none.
fn viewer_get(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> Reply {
    let mut stream = connect(addr);
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: viewer\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    parse_reply(&until_closed(&mut stream))
}

#[test]
fn qyv_viz_serves_the_dashboard_and_passes_on_the_api_with_a_session_token() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("svc", "sleeper", SERVICE))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // A wrong token is said at once, before anything is served.
    let out = node
        .qyv()
        .args(["viz", "--no-open", "--token", "wrong"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));

    let mut viewer = node.spawn(&["viz", "--no-open", "--addr", "127.0.0.1:0"]);
    let mut said = BufReader::new(viewer.stdout.take().unwrap()).lines();
    let first = said.next().unwrap().unwrap();
    let url = first.split(" on ").nth(1).unwrap().trim().to_string();
    assert!(first.contains(&node.url), "{first}");
    let session = said.next().unwrap().unwrap();
    let session = session.rsplit(' ').next().unwrap().to_string();
    let addr: std::net::SocketAddr = url
        .strip_prefix("http://")
        .unwrap()
        .strip_suffix("/ui")
        .unwrap()
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback());

    let page = viewer_get(addr, "/ui", None);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    // No token, or the node's own: nothing.
    for token in [None, Some(node.token.as_str())] {
        let reply = viewer_get(addr, "/v1/apps", token);
        assert_eq!(reply.status, 401, "{reply:?}");
        assert!(!reply.body.contains("sleeper"));
    }
    // The session's token: the node's answer, passed on.
    let reply = viewer_get(addr, "/v1/apps", Some(&session));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.contains("\"sleeper\""), "{}", reply.body);
    let reply = viewer_get(addr, "/v1/apps/nothing", Some(&session));
    assert_eq!(reply.status, 404, "{reply:?}");
    assert!(reply.body.contains("no_such_app"), "{}", reply.body);
    // The stream is passed on as it comes: its first events arrive while
    // it stays open.
    let mut stream = connect(addr);
    write!(
        stream,
        "GET /v1/stream HTTP/1.1\r\nHost: viewer\r\nAuthorization: Bearer {session}\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("event: synced") {
        let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
        assert!(n > 0, "the stream ended: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("text/event-stream"), "{text}");
    assert!(text.contains("\"name\":\"sleeper\""), "{text}");
    let _ = viewer.kill();
    let _ = viewer.wait();
}

#[test]
fn qyv_viz_print_shows_a_frame_of_the_apps_and_events() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("svc", "sleeper", SERVICE))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = node
        .qyv()
        .args(["viz", "--print", "--once"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("1 apps: 1 running"), "{text}");
    let row = text.lines().find(|l| l.starts_with("sleeper")).unwrap();
    assert!(row.contains("running"), "{row}");
    assert!(text.contains("EVENTS"), "{text}");
    assert!(text.contains("deployed"), "{text}");

    // A cluster is not one node: said so, nothing served.
    let out = node
        .qyv()
        .args([
            "viz",
            "--print",
            "--once",
            "--node",
            "nats://127.0.0.1:4222",
        ])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "a view of a whole cluster is not implemented yet",
    );

    // --once and --interval need --print.
    let out = node.qyv().args(["viz", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}
