//! The node's scheduler: stops that end an instance wherever it is (asleep
//! in a host call, blocked on a socket), many idle services on a few
//! threads, and CPU caps.

use super::*;

/// The daemon's thread count, from /proc.
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The messages of the app's events of `kind`.
fn event_messages(node: &Daemon, app: &str, kind: &str) -> Vec<String> {
    let out = node.qyv().args(["events", app, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn stop_redeploy_and_rm_end_a_sleeping_or_blocked_instance_at_once() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);

    // A service asleep in a host call for an hour, redeployed again and
    // again: each revision's instance is ended where it sleeps, and none
    // is left behind on a thread of its own.
    let sleeper = |n: u32| {
        s.app(
            &format!("sleeper{n}"),
            "sleeper",
            &format!("{SERVICE}env:\n  N: \"{n}\"\n"),
        )
    };
    let out = node.qyv().arg("deploy").arg(sleeper(1)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let before = threads(node.child.id());
    for n in 2..=8 {
        let out = node.qyv().arg("deploy").arg(sleeper(n)).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(&format!("sleeper is running (revision {n})")),
            "{text}"
        );
    }
    let out = node.qyv().args(["rollback", "sleeper"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let after = threads(node.child.id());
    assert!(
        after < before + 4,
        "8 deploys and a rollback of a sleeping service took the daemon from {before} to {after} threads"
    );
    let stops = event_messages(&node, "sleeper", "stopped");
    assert_eq!(stops.len(), 8, "{stops:?}");
    assert!(stops.iter().all(|m| m.ends_with("stopped")), "{stops:?}");
    let out = node.qyv().args(["rm", "sleeper"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // A service blocked reading a socket whose peer never writes: `stop`
    // drops the pending read, and with it the connection, which the peer
    // then sees closed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = s.path("apps/reader");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(probe_p2(), dir.join("probe.wasm")).unwrap();
    let reader = write(
        &dir,
        "app.qyv",
        &format!(
            "name: reader\nentrypoint: probe.wasm\ntype: service\nrestart: never\nargs: [connect, \"{addr}\"]\npermissions: {{ net: true }}\n"
        ),
    );
    let out = node.qyv().arg("deploy").arg(&reader).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (mut peer, _) = listener.accept().unwrap();
    let mut ping = [0u8; 5];
    std::io::Read::read_exact(&mut peer, &mut ping).unwrap();
    assert_eq!(&ping, b"ping\n");
    let out = node.qyv().args(["stop", "reader"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("reader is stopped"),
        "{}",
        stdout(&out)
    );
    // Bounds a hang only: the read ends when the guest's socket closes.
    peer.set_read_timeout(Some(STUCK)).unwrap();
    let mut rest = Vec::new();
    let read = std::io::Read::read_to_end(&mut peer, &mut rest);
    assert!(read.is_ok(), "the guest's socket was not closed: {read:?}");
    assert_eq!(
        event_messages(&node, "reader", "stopped"),
        ["stopped"],
        "its instance ended where it was"
    );
}

/// A service that waits an hour at a time, forever, in `poll_oneoff` on
/// the monotonic clock: an idle service with one page of memory.
const IDLE_SERVICE: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever
      ;; One subscription at 0: a clock (tag 0 at 8), the monotonic clock
      ;; (id 1 at 16), an hour from now (ns at 24), relative (flags at 40).
      (i32.store8 (i32.const 8) (i32.const 0))
      (i32.store (i32.const 16) (i32.const 1))
      (i64.store (i32.const 24) (i64.const 3600000000000))
      (i64.store (i32.const 32) (i64.const 0))
      (i32.store16 (i32.const 40) (i32.const 0))
      (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
      (br $forever))))"#;

#[test]
fn two_thousand_idle_services_run_on_a_few_threads() {
    const APPS: usize = 2000;
    let s = Scratch::new();
    let apps_dir = s.path("apps.d");
    std::fs::create_dir_all(&apps_dir).unwrap();
    std::fs::write(
        apps_dir.join("idle.wasm"),
        wat::parse_str(IDLE_SERVICE).unwrap(),
    )
    .unwrap();
    for i in 0..APPS {
        write(
            &apps_dir,
            &format!("idle-{i}.qyv"),
            &format!("name: idle-{i}\nentrypoint: idle.wasm\ntype: service\nrestart: always\n"),
        );
    }
    let node = s.daemon(&["--apps-dir", apps_dir.to_str().unwrap()], None);
    let pid = node.child.id();
    // Bounds a hang only (a loaded machine deploys slowly); decides nothing.
    let deadline = std::time::Instant::now() + Duration::from_secs(1800);
    let running = loop {
        let apps = node.apps();
        let running = apps.iter().filter(|a| a["state"] == "running").count();
        if running == APPS || std::time::Instant::now() > deadline {
            break running;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(running, APPS, "services running");
    // Threads the node's runtime borrowed for store writes go back after
    // a few idle seconds; none is kept per service.
    let threads = eventually(|| threads(pid), |n| *n < 100);
    assert!(
        threads < 100,
        "{APPS} idle services hold {threads} threads of the daemon"
    );
    let apps = node.apps();
    assert_eq!(apps.len(), APPS);
    assert!(
        apps.iter()
            .all(|a| a["state"] == "running" && a["instances"] == 1)
    );
}

#[test]
fn a_capped_service_never_uses_more_cpu_than_its_cap() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let capped = s.app(
        "capped",
        "capped",
        "type: service\nrestart: never\nargs: [loop]\nlimits:\n  cpu: 0.1\nscheduler:\n  weight: 2\n",
    );
    let started = std::time::Instant::now();
    let out = node.qyv().arg("deploy").arg(&capped).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Until it has used 300 ms of CPU: a tenth of a core takes 3 s of
    // wall time for that, an uncapped loop a third of a second.
    let app = eventually(
        || node.app("capped"),
        |a| a["cpu_ms"].as_u64().unwrap_or(0) >= 300,
    );
    let wall_ms = started.elapsed().as_millis() as u64;
    let cpu_ms = app["cpu_ms"].as_u64().unwrap();
    assert!(cpu_ms >= 300, "{app}");
    // The cap, plus its 20 ms burst and a slice it may overrun by.
    assert!(
        cpu_ms <= wall_ms / 10 + 40,
        "capped at 0.1 core, it used {cpu_ms} ms of CPU in {wall_ms} ms"
    );
    assert_eq!(app["state"], "running");
}
