//! Rolling updates in a real cluster: an HTTP app updated under a client
//! that never stops sending, and a revision that fails on start rolled
//! back while the old one serves. Clients count every answer; nothing here
//! waits on a clock to decide a result.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// An HTTP app of the probe guest, answering `/env/GREETING` with
/// `greeting`, rolled out with `rollout`.
fn http_app(s: &Scratch, folder: &str, greeting: &str, wasm: &Path, rest: &str) -> PathBuf {
    let dir = s.path(&format!("apps/{folder}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(wasm, dir.join("probe.wasm")).unwrap();
    write(
        &dir,
        "app.qyv",
        &format!(
            "name: web\nversion: 1.0.0-{greeting}\nentrypoint: probe.wasm\ntype: http\nenv:\n  GREETING: {greeting}\n{rest}"
        ),
    )
}

/// One GET, any failure (refused, reset, no answer) an error.
fn try_get(addr: SocketAddr, path: &str) -> Result<Reply, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(format!("no answer: {:?}", String::from_utf8_lossy(&raw)));
    }
    Ok(parse_reply(&raw))
}

/// A client sending requests to `addrs` in turn until stopped; what each
/// answer was.
struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Result<String, String>>>,
}

impl Load {
    fn start(addrs: Vec<SocketAddr>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut i = 0;
            while !flag.load(Ordering::Relaxed) {
                let addr = addrs[i % addrs.len()];
                i += 1;
                seen.push(match try_get(addr, "/env/GREETING") {
                    Ok(r) if r.status == 200 => Ok(r.body.trim().to_string()),
                    Ok(r) => Err(format!("{addr}: status {}: {}", r.status, r.body)),
                    Err(e) => Err(format!("{addr}: {e}")),
                });
            }
            seen
        });
        Load { stop, thread }
    }

    fn finish(self) -> Vec<Result<String, String>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn failures(seen: &[Result<String, String>]) -> Vec<&String> {
    seen.iter().filter_map(|r| r.as_ref().err()).collect()
}

fn http_nodes(s: &Scratch, nats: &Nats, n: usize) -> Vec<Node> {
    let nodes: Vec<Node> = (1..=n)
        .map(|i| {
            Node::start(
                s,
                &format!("node{i}"),
                Some(&nats.urls()),
                &["--http", "127.0.0.1:0"],
            )
        })
        .collect();
    wait_nodes(s, n);
    nodes
}

#[test]
fn an_http_app_rolls_out_under_load_without_a_failed_request_and_undo_brings_it_back() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let nodes = http_nodes(&s, &nats, 2);
    let rollout = "rollout: {max_unavailable: 1, max_surge: 1, healthy_for: 1s}\n";
    let v1 = http_app(&s, "v1", "one", &http_probe(), rollout);
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--replicas", "2"])
        .arg(&v1)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.http.unwrap()).collect();
    for a in &addrs {
        assert_eq!(try_get(*a, "/env/GREETING").unwrap().body, "one\n");
    }

    let load = Load::start(addrs.clone());
    let v2 = http_app(&s, "v2", "two", &http_probe(), rollout);
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--replicas", "2"])
        .arg(&v2)
        .output()
        .unwrap();
    let said = stdout(&out);
    assert!(out.status.success(), "{said}{}", stderr(&out));
    assert!(said.contains("rolling out over revision 1"), "{said}");
    assert!(said.contains("web: 2/2 replicas running"), "{said}");
    // Every node answers with the new revision now; the client saw it.
    wait_for("both nodes to answer with revision 2", || {
        addrs
            .iter()
            .all(|a| try_get(*a, "/env/GREETING").is_ok_and(|r| r.body == "two\n"))
            .then_some(())
    });
    let seen = load.finish();
    assert!(failures(&seen).is_empty(), "failed: {:?}", failures(&seen));
    assert!(seen.iter().any(|r| r.as_deref() == Ok("one")), "{seen:?}");
    assert!(seen.iter().any(|r| r.as_deref() == Ok("two")), "{seen:?}");
    eprintln!("{} requests during the rollout, none failed", seen.len());

    let events = stdout(&s.qyv().args(["cluster", "events"]).output().unwrap());
    for kind in ["rollout-started", "rollout-step", "rollout-done"] {
        assert!(events.contains(kind), "no {kind} in:\n{events}");
    }
    let status = stdout(
        &s.qyv()
            .args(["cluster", "rollout", "status", "web"])
            .output()
            .unwrap(),
    );
    assert!(
        status.contains("no rollout running; revision 2"),
        "{status}"
    );

    // Undo: revision 1's bundle again, on every replica at once.
    let out = s
        .qyv()
        .args(["cluster", "rollout", "undo", "web"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("back to revision 1 on every replica: now revision 3"),
        "{}",
        stdout(&out)
    );
    wait_for("both nodes to answer with revision 1 again", || {
        addrs
            .iter()
            .all(|a| try_get(*a, "/env/GREETING").is_ok_and(|r| r.body == "one\n"))
            .then_some(())
    });
    let text = stdout(&s.qyv().args(["cluster", "ps", "web"]).output().unwrap());
    assert!(
        text.contains("revision 2 undone, back to revision 1"),
        "{text}"
    );
}

#[test]
fn a_revision_that_fails_on_start_is_rolled_back_while_the_old_one_serves() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let nodes = http_nodes(&s, &nats, 3);
    // Nothing may be down: the new revision goes first to the node that
    // holds no replica.
    let rollout = "rollout: {max_unavailable: 0, max_surge: 1, healthy_for: 1s}\n";
    let v1 = http_app(&s, "v1", "one", &http_probe(), rollout);
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--replicas", "2"])
        .arg(&v1)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let holders = running_on(&cluster_app(&s, "web"));
    assert_eq!(holders.len(), 2, "{holders:?}");
    let addrs: Vec<SocketAddr> = nodes
        .iter()
        .filter(|n| holders.contains(&n.name))
        .map(|n| n.http.unwrap())
        .collect();

    let load = Load::start(addrs.clone());
    // A command component as an HTTP app: no node can start it.
    let bad = http_app(&s, "bad", "bad", &probe_p2(), rollout);
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--replicas", "2"])
        .arg(&bad)
        .output()
        .unwrap();
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{said}{}", stderr(&out));
    assert!(
        said.contains("revision 2 rolled back to revision 1 (now revision 3)"),
        "{said}"
    );
    assert!(said.contains("it is a command"), "{said}");
    let view = wait_for("the rollback to settle", || {
        let v = cluster_app(&s, "web");
        (v["placement"]["rollout"].is_null() && running_on(&v).len() == 2).then_some(v)
    });
    let seen = load.finish();
    assert!(failures(&seen).is_empty(), "failed: {:?}", failures(&seen));
    assert!(seen.iter().all(|r| r.as_deref() == Ok("one")), "{seen:?}");
    assert_eq!(view["revision"], 3);
    assert_eq!(view["last_rollout"]["state"], "rolled-back");

    let text = stdout(&s.qyv().args(["cluster", "ps", "web"]).output().unwrap());
    assert!(
        text.contains("revision 2 rolled back to revision 1") && text.contains("failed:"),
        "{text}"
    );
    let events = stdout(&s.qyv().args(["cluster", "events"]).output().unwrap());
    assert!(
        events.contains("rollout of revision 2 stopped and rolled back to revision 1"),
        "{events}"
    );
}

#[test]
fn a_revision_whose_health_get_fails_is_rolled_back_at_its_deadline() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let _nodes = http_nodes(&s, &nats, 1);
    let rollout = "rollout: {max_unavailable: 1, max_surge: 0, healthy_for: 1s}\n";
    let v1 = http_app(&s, "v1", "one", &http_probe(), rollout);
    let out = s
        .qyv()
        .args(["cluster", "deploy"])
        .arg(&v1)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // It runs, and every GET of its health path traps (500).
    let sick = http_app(
        &s,
        "sick",
        "sick",
        &http_probe(),
        &format!("{rollout}http: {{health: /trap}}\n"),
    );
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--timeout", "120s"])
        .arg(&sick)
        .output()
        .unwrap();
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{said}{}", stderr(&out));
    assert!(
        said.contains("revision 2 rolled back to revision 1 (now revision 3)"),
        "{said}"
    );
    assert!(said.contains("GET /trap answered 500"), "{said}");
}

#[test]
fn a_paused_rollout_takes_no_step_until_resumed() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let nodes = http_nodes(&s, &nats, 2);
    let rollout = "rollout: {max_unavailable: 1, max_surge: 0, healthy_for: 1s}\n";
    let v1 = http_app(&s, "v1", "one", &http_probe(), rollout);
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--replicas", "2"])
        .arg(&v1)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let rollout_cmd = |what: &str| {
        let out = s
            .qyv()
            .args(["cluster", "rollout", what, "web"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert!(rollout_cmd("pause").contains("rollouts paused"));
    let v2 = http_app(&s, "v2", "two", &http_probe(), rollout);
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--no-wait"])
        .arg(&v2)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let status = wait_for("the rollout to start, paused", || {
        let text = rollout_cmd("status");
        text.contains("replacing revision 1").then_some(text)
    });
    assert!(
        status.contains("0 new replica(s) (0 running), 2 old left, paused"),
        "{status}"
    );
    for n in &nodes {
        let r = http_get(n.http.unwrap(), "/env/GREETING");
        assert_eq!(r.body, "one\n", "paused: the old revision everywhere");
    }
    assert!(rollout_cmd("resume").contains("rollouts resumed"));
    wait_for("the rollout to finish", || {
        let v = cluster_app(&s, "web");
        (v["placement"]["rollout"].is_null() && running_on(&v).len() == 2).then_some(())
    });
    for n in &nodes {
        assert_eq!(http_get(n.http.unwrap(), "/env/GREETING").body, "two\n");
    }
}
