//! `GET /v1/stream`: what a watcher of the node is pushed (apps, events,
//! log lines), and that it needs the token like every data route.

use std::sync::mpsc;

use super::*;

/// The stream's events, read on a thread of their own, and kept: the
/// order of events the node sends in one round (an app's state, an event)
/// is not what a test waits on.
struct Watch {
    rx: mpsc::Receiver<(String, Value)>,
    seen: std::cell::RefCell<Vec<(String, Value)>>,
}

impl Watch {
    fn open(node: &Daemon, logs: Option<(&str, usize)>) -> Watch {
        let client = node.client(Some(&node.token), Some(&node.fingerprint));
        let logs = logs.map(|(name, tail)| (name.to_string(), tail));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let logs = logs.as_ref().map(|(n, t)| (n.as_str(), *t));
            let _ = client.stream(logs, |kind, data| {
                let data: Value = serde_json::from_str(data).unwrap();
                tx.send((kind.to_string(), data)).is_ok()
            });
        });
        Watch {
            rx,
            seen: Default::default(),
        }
    }

    /// The first event of this kind for which `pred` holds, among those
    /// sent so far or, waiting, the next ones.
    fn until(&self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.nth(kind, 1, pred)
    }

    /// The `n`th such event.
    fn nth(&self, kind: &str, n: usize, pred: impl Fn(&Value) -> bool) -> Value {
        let mut looked = 0;
        loop {
            {
                let seen = self.seen.borrow();
                let mut found = seen.iter().filter(|(k, d)| k == kind && pred(d));
                if let Some((_, d)) = found.nth(n - 1) {
                    return d.clone();
                }
                looked = looked.max(seen.len());
            }
            match self.rx.recv_timeout(STUCK) {
                Ok(event) => self.seen.borrow_mut().push(event),
                Err(_) => {
                    panic!("the stream never sent {n} matching {kind:?} (of {looked} events)")
                }
            }
        }
    }
}

#[test]
fn the_stream_pushes_apps_events_and_log_lines() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let talker = s.app(
        "talker",
        "talker",
        "args: [stderr, \"<script>alert(1)</script> said\"]\n",
    );
    let out = node.qyv().arg("deploy").arg(&talker).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let watch = Watch::open(&node, Some(("talker", 50)));
    let hello = watch.until("node", |_| true);
    assert_eq!(hello["logs"], "talker");
    assert_eq!(hello["fingerprint"], node.fingerprint.as_str());
    let line = watch.until("log", |_| true);
    assert_eq!(line["app"], "talker");
    assert_eq!(line["stream"], "stderr");
    assert_eq!(line["text"], "<script>alert(1)</script> said");
    let app = watch.until("app", |a| a["name"] == "talker");
    assert_eq!(app["state"], "completed");
    let synced = watch.until("synced", |_| true);
    assert_eq!(synced["apps"], 1);

    // A deploy is pushed: the app, then its state as it runs.
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("svc", "sleeper", SERVICE))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let running = watch.until("app", |a| a["name"] == "sleeper" && a["state"] == "running");
    assert_eq!(running["instances"], 1);
    watch.until("event", |e| {
        e["app"] == "sleeper" && e["kind"] == "deployed"
    });

    // A stop changes its state.
    let out = node.qyv().args(["stop", "sleeper"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stopped = watch.until("app", |a| a["name"] == "sleeper" && a["state"] == "stopped");
    assert_eq!(stopped["instances"], 0);
    watch.until("event", |e| e["app"] == "sleeper" && e["kind"] == "stop");

    // The followed log goes on with the next run.
    let out = node.qyv().args(["start", "talker"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let again = watch.nth("log", 2, |_| true);
    assert_eq!(again["text"], "<script>alert(1)</script> said");

    // A removal is pushed.
    let out = node.qyv().args(["rm", "sleeper"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    watch.until("removed", |r| r["name"] == "sleeper");
}

#[test]
fn the_stream_needs_the_token_and_an_app_that_exists() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let reply = node.raw("GET", "/v1/stream", false, b"");
    assert_eq!(reply.status, 401);
    assert!(!reply.body.contains("event:"));
    let reply = node.raw("GET", "/v1/stream?logs=nothing", true, b"");
    assert_eq!(reply.status, 404, "{reply:?}");
    let reply = node.raw("GET", "/v1/stream?logs=Not_A_Name", true, b"");
    assert_eq!(reply.status, 400, "{reply:?}");
    let reply = node.raw("GET", "/v1/stream?tail=-1", true, b"");
    assert_eq!(reply.status, 400, "{reply:?}");
}

#[test]
fn the_dashboard_is_served_with_a_strict_policy_and_no_data() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    for path in ["/ui", "/ui/", "/ui/app.js", "/ui/style.css"] {
        // No token: the files hold no data, only the page that asks for it.
        let reply = node.raw("GET", path, false, b"");
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        let csp = reply.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }
    let page = node.raw("GET", "/ui", false, b"");
    let html = &page.body;
    assert!(html.contains("<script src=\"/ui/app.js\" defer></script>"));
    assert!(!html.contains(&node.token));
}

#[test]
fn the_stream_counts_an_http_apps_requests() {
    let s = Scratch::new();
    let node = s.daemon(&["--http", "127.0.0.1:0"], None);
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.http_app("web", "web", "/web", "hi"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let watch = Watch::open(&node, None);
    let app = watch.until("app", |a| a["name"] == "web");
    assert_eq!(app["http_requests"], 0);
    for _ in 0..3 {
        assert_eq!(node.get("/web/env/GREETING").body, "hi\n");
    }
    // Looked at again within the stream's refresh, without an event.
    watch.until("app", |a| a["name"] == "web" && a["http_requests"] == 3);
    // A command has no requests to count.
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("cmd", "cmd", "args: [args]\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let cmd = watch.until("app", |a| a["name"] == "cmd");
    assert!(cmd.get("http_requests").is_none(), "{cmd}");
}
