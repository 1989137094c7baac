//! Clusters for real: nats-server processes with JetStream (see
//! common/nats.rs) and `qyv daemon --cluster` processes on loopback,
//! driven by the real `qyv cluster …` commands. Waits poll with a
//! deadline (generous: the machine may be loaded); no timing decides a
//! result.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod entry;
mod rollout;
mod sync;

use crate::common::nats::{Nats, NatsOptions};
use crate::common::*;
use serde_json::Value;

/// How long a state the cluster must reach may take before the test calls
/// it stuck. Only bounds a hang.
const STUCK: Duration = Duration::from_secs(90);

/// A service that runs until it is stopped.
const SERVICE: &str = "type: service\nrestart: always\nargs: [sleep, \"3600000\"]\n";

/// A `qyv daemon --cluster …` process.
struct Node {
    name: String,
    child: Option<Child>,
    data: PathBuf,
    url: String,
    fingerprint: String,
    token: String,
    /// Where it serves HTTP apps, when started with `--http`.
    http: Option<std::net::SocketAddr>,
    stderr: Arc<Mutex<Vec<String>>>,
    args: Vec<String>,
    env: Vec<(String, PathBuf)>,
}

impl Node {
    /// A node named `name` with its data in `dir/name`, joining `nats`
    /// (if given) with `extra` flags.
    fn start(s: &Scratch, name: &str, nats: Option<&str>, extra: &[&str]) -> Node {
        Node::start_with_env(s, name, nats, extra, &[])
    }

    /// As [`Node::start`], with these environment variables.
    fn start_with_env(
        s: &Scratch,
        name: &str,
        nats: Option<&str>,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> Node {
        let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        if let Some(urls) = nats {
            args.extend([
                "--cluster".into(),
                urls.into(),
                "--node-name".into(),
                name.into(),
            ]);
        }
        let mut node = Node {
            name: name.into(),
            child: None,
            data: s.path(&format!("nodes/{name}")),
            url: String::new(),
            fingerprint: String::new(),
            token: String::new(),
            http: None,
            stderr: Arc::default(),
            args,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_path_buf()))
                .collect(),
        };
        node.spawn(s);
        node
    }

    fn spawn(&mut self, s: &Scratch) {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("qyv"));
        cmd.args(["daemon", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&self.data)
            .args(&self.args)
            .env("XDG_CONFIG_HOME", s.path("config"))
            .env("QYVOL_CACHE_DIR", shared_cache())
            .env_remove("QYVOL_CONFIG")
            .env_remove("XDG_CACHE_HOME")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let lines = self.stderr.clone();
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in out.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("qyv daemon listening on ") {
                self.url = u.trim().into();
            }
            if let Some(f) = line.trim().strip_prefix("fingerprint") {
                self.fingerprint = f.trim().into();
            }
            if let Some(a) = line.trim().strip_prefix("http apps") {
                self.http = a
                    .trim()
                    .strip_prefix("http://")
                    .and_then(|a| a.parse().ok());
            }
            if line.trim_start().starts_with("connect") {
                break;
            }
        }
        std::thread::spawn(move || out.for_each(drop));
        assert!(
            !self.url.is_empty(),
            "{} did not start: {:?}",
            self.name,
            self.said()
        );
        self.token = std::fs::read_to_string(self.data.join("token"))
            .unwrap()
            .trim()
            .into();
        self.child = Some(child);
    }

    fn said(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits for a line of the node's standard error containing `text`.
    fn expect(&self, text: &str) {
        let deadline = Instant::now() + STUCK;
        while !self.said().contains(text) {
            assert!(
                Instant::now() < deadline,
                "{} never said {text:?}:\n{}",
                self.name,
                self.said()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `qyv ps --json` on this node alone.
    fn local_apps(&self, s: &Scratch) -> Vec<Value> {
        let out = s
            .qyv()
            .args(["ps", "--json", "--node", &self.url, "--token", &self.token])
            .args(["--fingerprint", &self.fingerprint])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A scratch folder whose current context is the cluster at `urls`.
fn scratch_for(urls: &str, creds: Option<&Path>) -> Scratch {
    let s = Scratch::new();
    let mut cmd = s.qyv();
    cmd.args(["context", "add", "lab", urls]);
    if let Some(c) = creds {
        cmd.arg("--creds").arg(c);
    }
    cmd.assert().success();
    s
}

/// The probe as a service app named `name`, with `rest` added to the
/// manifest; returns the manifest.
fn service(s: &Scratch, name: &str, rest: &str) -> PathBuf {
    let dir = s.path(&format!("apps/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(probe_p1(), dir.join("probe.wasm")).unwrap();
    write(
        &dir,
        "app.qyv",
        &format!("name: {name}\nentrypoint: probe.wasm\n{SERVICE}{rest}"),
    )
}

/// `qyv cluster ps APP --json`.
fn cluster_app(s: &Scratch, app: &str) -> Value {
    let out = s
        .qyv()
        .args(["cluster", "ps", app, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The nodes whose replica of the app runs the current revision.
fn running_on(app: &Value) -> Vec<String> {
    let mut nodes: Vec<String> = app["replicas_view"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "running" && r["node_lost"] == false)
        .map(|r| r["node"].as_str().unwrap().to_string())
        .collect();
    nodes.sort();
    nodes
}

/// Polls `f` until it returns `Some`, for at most [`STUCK`].
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + STUCK;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "stuck waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the cluster lists `n` ready nodes.
fn wait_nodes(s: &Scratch, n: usize) {
    wait_for(&format!("{n} ready nodes"), || {
        let out = s.qyv().args(["cluster", "nodes", "--json"]).output().ok()?;
        let nodes: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
        (nodes.iter().filter(|n| n["state"] == "ready").count() == n).then_some(())
    });
}

#[test]
fn replicas_spread_fail_over_and_settle_when_a_node_comes_back() {
    let nats = Nats::start(3);
    let s = scratch_for(&nats.urls(), None);
    let mut nodes: Vec<Node> = (1..=4)
        .map(|i| Node::start(&s, &format!("node{i}"), Some(&nats.urls()), &[]))
        .collect();
    wait_nodes(&s, 4);
    let app = service(&s, "web", "");
    let out = s
        .qyv()
        .args(["cluster", "deploy"])
        .arg(&app)
        .args(["--replicas", "3", "--strategy", "spread"])
        .output()
        .unwrap();
    let said = stdout(&out);
    assert!(out.status.success(), "{said}{}", stderr(&out));
    assert!(said.contains("web deployed as revision 1"), "{said}");
    assert!(said.contains("web: 3/3 replicas running"), "{said}");
    let before = running_on(&cluster_app(&s, "web"));
    assert_eq!(before.len(), 3, "one replica per node: {before:?}");

    // kill -9 of a node that runs a replica: the replica runs elsewhere.
    let victim = nodes.iter().position(|n| before.contains(&n.name)).unwrap();
    let killed = Instant::now();
    nodes[victim].kill();
    let after = wait_for("the replica to move", || {
        let now = running_on(&cluster_app(&s, "web"));
        (now.len() == 3 && !now.contains(&nodes[victim].name)).then_some(now)
    });
    eprintln!("failover took {:?} (bound only logged)", killed.elapsed());
    let spare = nodes.iter().find(|n| !before.contains(&n.name)).unwrap();
    assert!(after.contains(&spare.name), "{after:?}");
    let text = stdout(&s.qyv().args(["cluster", "ps", "web"]).output().unwrap());
    assert!(text.contains("3/3 replicas running"), "{text}");
    let nodes_text = stdout(&s.qyv().args(["cluster", "nodes"]).output().unwrap());
    assert!(
        nodes_text
            .lines()
            .any(|l| l.starts_with(&nodes[victim].name) && l.contains("lost")),
        "{nodes_text}"
    );

    // The node comes back: its old replica, placed elsewhere now, goes.
    nodes[victim].spawn(&s);
    wait_nodes(&s, 4);
    wait_for("the returned node to drop its old replica", || {
        nodes[victim].local_apps(&s).is_empty().then_some(())
    });
    let settled = running_on(&cluster_app(&s, "web"));
    assert_eq!(settled, after, "nothing moves again");
    let held: usize = nodes.iter().map(|n| n.local_apps(&s).len()).sum();
    assert_eq!(held, 3, "no duplicates once settled");

    // Events tell the story (the scheduler tells of the node's return on
    // its next pass).
    let events = wait_for("the node-back event", || {
        let text = stdout(&s.qyv().args(["cluster", "events"]).output().unwrap());
        text.contains("node-back").then_some(text)
    });
    for kind in ["deployed", "placed", "node-lost", "moved"] {
        assert!(events.contains(kind), "no {kind} in:\n{events}");
    }
}

#[test]
fn killing_the_nats_leader_during_a_deploy_never_leaves_half_a_deploy() {
    let mut nats = Nats::start(3);
    let s = scratch_for(&nats.urls(), None);
    let _nodes: Vec<Node> = (1..=2)
        .map(|i| Node::start(&s, &format!("node{i}"), Some(&nats.urls()), &[]))
        .collect();
    wait_nodes(&s, 2);
    // 2 MB of data: the upload takes a moment, and the leader dies in it
    // or near it (where exactly decides nothing: every outcome is checked).
    let app = service(
        &s,
        "api",
        "permissions: { fs: read }\nfs:\n  - { source: ./data, target: /data }\n",
    );
    let data = app.parent().unwrap().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("blob"), vec![7u8; 2 << 20]).unwrap();
    let leader = nats.meta_leader().expect("a meta leader");
    let deploy = s
        .qyv()
        .args(["cluster", "deploy"])
        .arg(&app)
        .args(["--replicas", "2", "--timeout", "60s"])
        .timeout(STUCK)
        .spawn_output();
    std::thread::sleep(Duration::from_millis(300));
    nats.kill(leader);
    let out = deploy.join().unwrap();
    let (said, err) = (stdout(&out), stderr(&out));
    if out.status.success() {
        assert!(said.contains("api: 2/2 replicas running"), "{said}");
    } else {
        // A clear error, and the app either recorded whole or not at all.
        assert!(
            err.starts_with("error: ") || said.contains("replicas running"),
            "{said}{err}"
        );
    }
    nats.restart(leader);
    let view = wait_for("the cluster to answer again", || {
        let out = s
            .qyv()
            .args(["cluster", "ps", "api", "--json"])
            .output()
            .ok()?;
        if out.status.success() {
            return serde_json::from_slice::<Value>(&out.stdout).ok().map(Some);
        }
        stderr(&out).contains("no app named").then_some(None)
    });
    if let Some(_recorded) = view {
        // Recorded means its bundle is there: both replicas come to run.
        wait_for("a recorded deploy to run", || {
            (running_on(&cluster_app(&s, "api")).len() == 2).then_some(())
        });
    } else {
        assert!(
            !out.status.success(),
            "a successful deploy must be recorded"
        );
    }
}

#[test]
fn concurrent_deploys_of_one_app_are_both_recorded_and_the_last_runs() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let _node = Node::start(&s, "solo", Some(&nats.urls()), &[]);
    wait_nodes(&s, 1);
    let a = service(&s, "twice", "version: 1.0.0\n");
    let b_dir = s.path("apps/twice-b");
    std::fs::create_dir_all(&b_dir).unwrap();
    std::fs::copy(probe_p1(), b_dir.join("probe.wasm")).unwrap();
    let b = write(
        &b_dir,
        "app.qyv",
        &format!("name: twice\nentrypoint: probe.wasm\n{SERVICE}version: 2.0.0\n"),
    );
    let first = s
        .qyv()
        .args(["cluster", "deploy", "--no-wait"])
        .arg(&a)
        .spawn_output();
    let second = s
        .qyv()
        .args(["cluster", "deploy", "--no-wait"])
        .arg(&b)
        .spawn_output();
    for out in [first.join().unwrap(), second.join().unwrap()] {
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let view = cluster_app(&s, "twice");
    let revisions = view["revisions"].as_array().unwrap();
    let numbers: Vec<u64> = revisions
        .iter()
        .map(|r| r["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2], "both recorded, in order");
    assert_eq!(view["revision"], 2);
    let last = revisions[1]["digest"].as_str().unwrap().to_string();
    wait_for("the last revision to run", || {
        let v = cluster_app(&s, "twice");
        let rev = v["replicas_view"][0].clone();
        (rev["state"] == "running" && v["placement"]["digest"] == last.as_str()).then_some(())
    });
}

#[test]
fn drain_moves_a_node_s_replicas_and_leaves_it_empty() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let nodes: Vec<Node> = (1..=3)
        .map(|i| Node::start(&s, &format!("node{i}"), Some(&nats.urls()), &[]))
        .collect();
    wait_nodes(&s, 3);
    let app = service(&s, "busy", "replicas: 2\n");
    s.qyv()
        .args(["cluster", "deploy"])
        .arg(&app)
        .assert()
        .success();
    let on = running_on(&cluster_app(&s, "busy"));
    let target = on[0].clone();
    let out = s
        .qyv()
        .args(["cluster", "drain", &target])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("node {target} holds no replica")));
    wait_for("the replicas to run elsewhere", || {
        let now = running_on(&cluster_app(&s, "busy"));
        (now.len() == 2 && !now.contains(&target)).then_some(())
    });
    let drained = nodes.iter().find(|n| n.name == target).unwrap();
    wait_for("the drained node to be empty", || {
        drained.local_apps(&s).is_empty().then_some(())
    });
    let listed = stdout(&s.qyv().args(["cluster", "nodes"]).output().unwrap());
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&target) && l.contains("draining")),
        "{listed}"
    );
    s.qyv()
        .args(["cluster", "uncordon", &target])
        .assert()
        .success();
}

#[test]
fn a_node_joins_by_add_node_and_bad_tokens_or_credentials_cannot_join() {
    let nats = Nats::start_with(
        1,
        NatsOptions {
            user: Some(("qyv".into(), "right".into())),
            ..Default::default()
        },
    );
    let good = write(nats.dir(), "good.creds", "qyv:right\n");
    let bad = write(nats.dir(), "bad.creds", "qyv:wrong\n");
    let s = scratch_for(&nats.urls(), Some(&bad));
    let node = Node::start(&s, "plain", None, &[]);
    let add = |token: &str| {
        s.qyv()
            .args(["cluster", "add-node", "joiner", &node.url, "--token", token])
            .args(["--fingerprint", &node.fingerprint])
            .output()
            .unwrap()
    };
    expect_failure(&add("not-the-token"), 125, "the token is missing or wrong");
    let refused = add(&node.token);
    expect_failure(&refused, 125, "credentials were refused");
    let out = s.qyv().args(["cluster", "nodes"]).output().unwrap();
    expect_failure(&out, 125, "credentials were refused");
    // With the right credentials it joins, and stays joined across a
    // restart of the node.
    s.qyv()
        .args(["context", "add", "lab", &nats.urls(), "--creds"])
        .arg(&good)
        .assert()
        .success();
    let out = add(&node.token);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("node joiner"), "{}", stdout(&out));
    wait_nodes(&s, 1);
    assert!(node.data.join("cluster.json").is_file());
}

#[test]
fn a_cluster_over_tls_with_a_private_ca_named_by_ssl_cert_file() {
    let nats = Nats::start_with(
        1,
        NatsOptions {
            tls: true,
            ..Default::default()
        },
    );
    assert!(nats.urls().starts_with("tls://"), "{}", nats.urls());
    let s = scratch_for(&nats.urls(), None);
    // Without the CA the server's certificate is not trusted, and the
    // error says how to trust it.
    let out = s
        .qyv()
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .args(["cluster", "nodes"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "SSL_CERT_FILE");
    let ca = nats.ca();
    let _node = Node::start_with_env(
        &s,
        "secure",
        Some(&nats.urls()),
        &[],
        &[("SSL_CERT_FILE", &ca)],
    );
    let qyv = || {
        let mut cmd = s.qyv();
        cmd.env("SSL_CERT_FILE", &ca);
        cmd
    };
    wait_for("the node over TLS", || {
        let out = qyv().args(["cluster", "nodes", "--json"]).output().ok()?;
        let nodes: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
        (nodes.iter().filter(|n| n["state"] == "ready").count() == 1).then_some(())
    });
    let app = service(&s, "over-tls", "");
    let out = qyv()
        .args(["cluster", "deploy"])
        .arg(&app)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("1/1 replicas running"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_deploy_to_one_node_never_replaces_a_replica_the_cluster_placed_there() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let node = Node::start(&s, "solo", Some(&nats.urls()), &[]);
    wait_nodes(&s, 1);
    let app = service(&s, "placed", "");
    let out = s
        .qyv()
        .args(["cluster", "deploy"])
        .arg(&app)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let before = node.local_apps(&s);
    let out = s
        .qyv()
        .arg("deploy")
        .arg(&app)
        .args(["--node", &node.url, "--token", &node.token])
        .args(["--fingerprint", &node.fingerprint])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "runs on this node as a replica the cluster placed",
    );
    let after = node.local_apps(&s);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["revision"], after[0]["revision"], "{after:?}");
    assert_eq!(running_on(&cluster_app(&s, "placed")), vec!["solo"]);
}

#[test]
fn an_unsigned_bundle_is_refused_with_nothing_stored_when_nodes_require_signatures() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let (secret, public) = s.keygen("signer");
    let pubkey = public.to_str().unwrap().to_string();
    let _node = Node::start(&s, "strict", Some(&nats.urls()), &["--key", &pubkey]);
    wait_nodes(&s, 1);
    let app = service(&s, "signed", "");
    let out = s
        .qyv()
        .args(["cluster", "deploy"])
        .arg(&app)
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "requires bundles signed by a key it trusts, and it is not signed",
    );
    assert!(stderr(&out).contains("nothing was stored"));
    let out = s.qyv().args(["cluster", "ps", "signed"]).output().unwrap();
    expect_failure(&out, 125, "no app named \"signed\"");
    // Signed by the key the node trusts, it runs.
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--sign"])
        .arg(&secret)
        .arg(&app)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn bad_input_gets_precise_errors() {
    let s = Scratch::new();
    // Nothing listens on port 1.
    let out = s
        .qyv()
        .args(["cluster", "ps", "--cluster", "nats://127.0.0.1:1"])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "cannot reach the cluster's NATS at nats://127.0.0.1:1",
    );
    for (args, text) in [
        (vec!["--replicas", "0"], "replicas must be 1 or more, not 0"),
        (
            vec!["--replicas", "-2"],
            "replicas must be 1 or more, not -2",
        ),
        (
            vec!["--strategy", "sprad"],
            "unknown strategy \"sprad\": expected spread or pack (did you mean \"spread\"?)",
        ),
    ] {
        let out = s
            .qyv()
            .args(["cluster", "deploy", "app.qyv"])
            .args(&args)
            .output()
            .unwrap();
        expect_failure(&out, 125, text);
    }
    let out = s
        .qyv()
        .args(["cluster", "ps", "--cluster", "https://node:7443"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "neither a NATS address");
    let out = s
        .qyv()
        .args(["context", "add", "c", "nats://h:99999"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "\"99999\" is not a port");

    // A NATS without JetStream.
    let plain = Nats::start_with(
        1,
        NatsOptions {
            no_jetstream: true,
            ..Default::default()
        },
    );
    let out = s
        .qyv()
        .args(["cluster", "nodes", "--cluster", &plain.urls()])
        .output()
        .unwrap();
    expect_failure(&out, 125, "has no JetStream");

    // A daemon whose NATS cannot be reached serves its own apps and says why.
    let node = Node::start(&s, "alone", Some("nats://127.0.0.1:1"), &[]);
    node.expect("cannot reach the cluster's NATS at nats://127.0.0.1:1");
    node.expect("the node's own apps keep running");
    let app = service(&s, "local", "");
    s.qyv()
        .args(["deploy"])
        .arg(&app)
        .arg(&node.url)
        .args(["--token", &node.token, "--fingerprint", &node.fingerprint])
        .assert()
        .success();
}

#[test]
fn constraints_nobody_meets_leave_the_app_pending_and_say_which() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let _node = Node::start(&s, "zoned", Some(&nats.urls()), &["--label", "zone=a"]);
    wait_nodes(&s, 1);
    let app = service(&s, "picky", "scheduler:\n  constraints: [zone=b]\n");
    let out = s
        .qyv()
        .args(["cluster", "deploy", "--timeout", "3s"])
        .arg(&app)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("no schedulable node has the label zone=b"),
        "{said}"
    );
    let ps = stdout(&s.qyv().args(["cluster", "ps"]).output().unwrap());
    assert!(ps.contains("pending: 0 of 1 replicas placed"), "{ps}");
    // Scaling and strategy checks reach the cluster's own rules too.
    let out = s
        .qyv()
        .args(["cluster", "scale", "picky", "0"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "replicas must be 1 or more");
    let out = s
        .qyv()
        .args(["cluster", "scale", "nothere", "2"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "no app named \"nothere\" in the cluster");
}

#[test]
fn apps_scale_stop_start_roll_back_log_and_go_and_a_removed_node_leaves() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let nodes: Vec<Node> = (1..=2)
        .map(|i| Node::start(&s, &format!("node{i}"), Some(&nats.urls()), &[]))
        .collect();
    wait_nodes(&s, 2);
    let replicas_in = |app: &str, state: &str| {
        let v = cluster_app(&s, app);
        v["replicas_view"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["state"] == state)
            .count()
    };

    // A command's output, from each replica, prefixed by its node.
    let dir = s.path("apps/greeter");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(probe_p1(), dir.join("probe.wasm")).unwrap();
    let greeter = write(
        &dir,
        "app.qyv",
        "name: greeter\nentrypoint: probe.wasm\nargs: [env, GREETING]\nenv: { GREETING: hola }\nreplicas: 2\n",
    );
    let out = s
        .qyv()
        .args(["cluster", "deploy"])
        .arg(&greeter)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let logs = wait_for("both replicas' lines", || {
        let text = stdout(
            &s.qyv()
                .args(["cluster", "logs", "greeter"])
                .output()
                .unwrap(),
        );
        (text.contains("[node1] hola") && text.contains("[node2] hola")).then_some(text)
    });
    assert_eq!(logs.lines().count(), 2, "{logs}");
    // `qyv logs` follows the cluster context too.
    let text = stdout(&s.qyv().args(["logs", "greeter"]).output().unwrap());
    assert!(text.contains("hola"), "{text}");
    // -f: the lines of a new revision arrive as they are written.
    let mut follow = Command::new(assert_cmd::cargo::cargo_bin("qyv"))
        .args(["cluster", "logs", "-f", "greeter"])
        .env("XDG_CONFIG_HOME", s.path("config"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = lines.clone();
    let out = BufReader::new(follow.stdout.take().unwrap());
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            seen.lock().unwrap().push(l);
        }
    });
    wait_for("the last lines", || {
        (lines.lock().unwrap().len() == 2).then_some(())
    });
    std::fs::write(
        &greeter,
        "name: greeter\nentrypoint: probe.wasm\nargs: [env, GREETING]\nenv: { GREETING: adios }\nreplicas: 2\n",
    )
    .unwrap();
    s.qyv()
        .args(["cluster", "deploy"])
        .arg(&greeter)
        .assert()
        .success();
    wait_for("the new lines, live", || {
        let l = lines.lock().unwrap();
        (l.iter().filter(|l| l.ends_with("] adios")).count() == 2).then_some(())
    });
    let _ = follow.kill();
    let _ = follow.wait();

    let svc = service(&s, "svc", "version: 1.0.0\n");
    s.qyv()
        .args(["cluster", "deploy"])
        .arg(&svc)
        .assert()
        .success();
    s.qyv()
        .args(["cluster", "scale", "svc", "2"])
        .assert()
        .success();
    wait_for("two replicas", || {
        (replicas_in("svc", "running") == 2).then_some(())
    });
    s.qyv().args(["cluster", "stop", "svc"]).assert().success();
    wait_for("stopped replicas", || {
        (replicas_in("svc", "stopped") == 2).then_some(())
    });
    s.qyv().args(["cluster", "start", "svc"]).assert().success();
    wait_for("running replicas", || {
        (replicas_in("svc", "running") == 2).then_some(())
    });

    let v2 = service(&s, "svc", "version: 2.0.0\n");
    s.qyv()
        .args(["cluster", "deploy"])
        .arg(&v2)
        .assert()
        .success();
    let out = s
        .qyv()
        .args(["cluster", "rollback", "svc"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("rolled back to revision 1: now revision 3"));
    let first = cluster_app(&s, "svc")["revisions"][0]["digest"].clone();
    wait_for("the rolled-back revision to run", || {
        let v = cluster_app(&s, "svc");
        (v["placement"]["digest"] == first && running_on(&v).len() == 2).then_some(())
    });
    let out = s
        .qyv()
        .args(["cluster", "rollback", "svc", "--to", "9"])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "svc has no revision 9; it keeps revisions 1, 2, 3",
    );

    s.qyv().args(["cluster", "rm", "svc"]).assert().success();
    wait_for("the replicas to go", || {
        nodes
            .iter()
            .all(|n| !n.local_apps(&s).iter().any(|a| a["name"] == "svc"))
            .then_some(())
    });
    let out = s.qyv().args(["cluster", "ps", "svc"]).output().unwrap();
    expect_failure(&out, 125, "no app named \"svc\" in the cluster");

    // A node removed from the cluster stops the cluster's replicas and
    // forgets the cluster.
    s.qyv()
        .args(["cluster", "rm-node", "node2"])
        .assert()
        .success();
    nodes[1].expect("node node2 was removed from the cluster");
    wait_for("node2 to drop its replicas", || {
        nodes[1].local_apps(&s).is_empty().then_some(())
    });
    assert!(!nodes[1].data.join("cluster.json").exists());
    let listed = stdout(&s.qyv().args(["cluster", "nodes"]).output().unwrap());
    assert!(!listed.contains("node2"), "{listed}");
    let out = s
        .qyv()
        .args(["cluster", "cordon", "node2"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "no node named \"node2\" in the cluster");
}

/// Runs a command in the background, for tests that act while it runs.
trait SpawnOutput {
    fn spawn_output(&mut self) -> std::thread::JoinHandle<std::process::Output>;
}

impl SpawnOutput for assert_cmd::Command {
    fn spawn_output(&mut self) -> std::thread::JoinHandle<std::process::Output> {
        let mut cmd = std::mem::replace(self, assert_cmd::Command::new("true"));
        std::thread::spawn(move || cmd.output().unwrap())
    }
}

#[test]
fn deploy_by_reference_each_node_pulls_with_its_own_credentials() {
    let registry = crate::common::registry::Registry::with_basic_auth("alice", "pw");
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let docker = s.path("docker");
    let empty = s.path("docker-empty");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    let client = || crate::hub::qyv(&s);
    client()
        .args(["login", &registry.addr(), "-u", "alice", "--password-stdin"])
        .write_stdin("pw")
        .assert()
        .success();
    let app = service(&s, "pulled", "");
    let reference = registry.reference("acme/pulled:1");
    client()
        .arg("push")
        .arg(&app)
        .arg(&reference)
        .assert()
        .success();

    // One node holds a login for the registry, the other none: the nodes
    // pull, each with its own credentials, so only the first can run it.
    let with = Node::start_with_env(
        &s,
        "with-login",
        Some(&nats.urls()),
        &[],
        &[("DOCKER_CONFIG", &docker)],
    );
    let without = Node::start_with_env(
        &s,
        "no-login",
        Some(&nats.urls()),
        &[],
        &[("DOCKER_CONFIG", &empty)],
    );
    wait_nodes(&s, 2);
    let out = client()
        .args(["cluster", "deploy", &reference, "--replicas", "2"])
        .args(["--timeout", "20s"])
        .output()
        .unwrap();
    let said = stdout(&out);
    assert!(said.contains("@sha256:"), "{said}{}", stderr(&out));
    assert!(said.contains("; the nodes pull it"), "{said}");
    assert!(
        said.contains("pulled deployed as revision 1")
            && said.contains("the nodes pull it from the registry"),
        "{said}"
    );
    let view = wait_for("one replica running and one failed", || {
        let v = cluster_app(&s, "pulled");
        let replicas = v["replicas_view"].as_array()?.clone();
        let running = replicas
            .iter()
            .any(|r| r["node"] == "with-login" && r["state"] == "running");
        let failed = replicas
            .iter()
            .any(|r| r["node"] == "no-login" && r["state"] == "failed");
        (running && failed).then_some(v)
    });
    let failed = view["replicas_view"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["node"] == "no-login")
        .unwrap();
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("could not pull"), "{reason}");
    assert!(reason.contains("requires a login"), "{reason}");
    assert!(
        view["revisions"][0]["source"]
            .as_str()
            .is_some_and(|r| r.contains("acme/pulled:1@sha256:")),
        "{view}"
    );
    let text = stdout(&s.qyv().args(["cluster", "ps", "pulled"]).output().unwrap());
    assert!(text.contains("(pulled from 127.0.0.1:"), "{text}");
    assert_eq!(with.local_apps(&s).len(), 1);
    assert!(without.local_apps(&s).is_empty());

    // A bare wasm has no manifest for the cluster to place.
    client()
        .arg("push")
        .arg(probe_p2())
        .arg(registry.reference("acme/bare:1"))
        .assert()
        .success();
    let out = client()
        .args(["cluster", "deploy", &registry.reference("acme/bare:1")])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "is a bare wasm (CNCF wasm layout) with no manifest",
    );
}
