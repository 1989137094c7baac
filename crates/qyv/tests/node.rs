//! A real `qyv daemon` on loopback, driven by the real client commands:
//! deploy, ps, logs, stop, start, rm, rollback; the state kept across a
//! restart and across a kill -9 in the middle of a deploy; the token, the
//! certificate pin, and the uploads a node refuses. Moments inside a deploy
//! are reached with the daemon's test hold points (`QYVOL_TEST_HOLD`, see
//! crates/qyvol-node/src/hold.rs), never with sleeps.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use qyvol_node::client::{Client, ClientError, Connection};
use qyvol_node::tls::Fingerprint;
use serde_json::Value;

/// How long a test waits for a line the daemon must print before it calls
/// the daemon stuck. It only bounds a hang; it decides nothing.
const STUCK: Duration = Duration::from_secs(120);

/// What the node tests keep in a scratch folder: the node's data, the
/// apps, the client's config.
impl Scratch {
    fn data(&self) -> PathBuf {
        self.path("data")
    }

    /// The probe as an app named `name` in `apps/FOLDER/` with the manifest
    /// body `rest`; returns the manifest.
    fn app(&self, folder: &str, name: &str, rest: &str) -> PathBuf {
        let dir = self.path(&format!("apps/{folder}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(probe_p1(), dir.join("probe.wasm")).unwrap();
        write(
            &dir,
            "app.qyv",
            &format!("name: {name}\nentrypoint: probe.wasm\n{rest}"),
        )
    }

    /// The HTTP probe as an app named `name` in `apps/FOLDER/`, at `route`,
    /// whose `/env/GREETING` answers `greeting`; returns the manifest.
    fn http_app(&self, folder: &str, name: &str, route: &str, greeting: &str) -> PathBuf {
        let dir = self.path(&format!("apps/{folder}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(http_probe(), dir.join("probe.wasm")).unwrap();
        write(
            &dir,
            "app.qyv",
            &format!(
                "name: {name}\nversion: 1.0.0-{greeting}\nentrypoint: probe.wasm\ntype: http\nhttp:\n  route: {route}\nenv:\n  ROUTE: {route}\n  GREETING: {greeting}\n"
            ),
        )
    }

    /// Starts a daemon on this folder's data.
    fn daemon(&self, extra: &[&str], hold: Option<&str>) -> Daemon {
        Daemon::start(self, extra, hold)
    }

    /// Whether nothing of an upload is left in the node's bundle store.
    fn stored_bundles(&self) -> Vec<String> {
        let mut found = Vec::new();
        for sub in ["bundles/sha256", "bundles/tmp"] {
            if let Ok(entries) = std::fs::read_dir(self.data().join(sub)) {
                for e in entries {
                    found.push(format!(
                        "{sub}/{}",
                        e.unwrap().file_name().to_string_lossy()
                    ));
                }
            }
        }
        found.sort();
        found
    }
}

/// A `qyv daemon` process.
struct Daemon {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: mpsc::Receiver<String>,
    url: String,
    /// Where the node serves HTTP apps (`--http`).
    http: Option<std::net::SocketAddr>,
    fingerprint: String,
    token: String,
    config: PathBuf,
    cache: PathBuf,
    /// What it printed on standard output as it started.
    banner: Vec<String>,
}

impl Daemon {
    fn start(s: &Scratch, extra: &[&str], hold: Option<&str>) -> Daemon {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("qyv"));
        cmd.args(["daemon", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(s.data())
            .args(extra)
            .env("XDG_CONFIG_HOME", s.path("config"))
            .env_remove("QYVOL_CONFIG")
            .env_remove("XDG_CACHE_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match hold {
            Some(h) => cmd.env(qyvol_node::TEST_HOLD_VARIABLE, h),
            None => cmd.env_remove(qyvol_node::TEST_HOLD_VARIABLE),
        };
        let mut child = cmd.spawn().unwrap();
        let mut said = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut fingerprint, mut http) = (None, None, None);
        let mut banner = Vec::new();
        for line in said.by_ref() {
            let line = line.unwrap();
            banner.push(line.clone());
            if let Some(a) = line.trim().strip_prefix("http apps") {
                http = a.trim().strip_prefix("http://").map(|a| a.parse().unwrap());
            }
            if let Some(u) = line.strip_prefix("qyv daemon listening on ") {
                url = Some(u.trim().to_string());
            }
            if let Some(f) = line.trim().strip_prefix("fingerprint") {
                fingerprint = Some(f.trim().to_string());
            }
            if line.trim_start().starts_with("connect") {
                break;
            }
        }
        // The rest of standard output is read, so that the daemon never
        // writes to a closed pipe.
        std::thread::spawn(move || said.for_each(drop));
        let (tx, rx) = mpsc::channel();
        let errors = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in errors.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (Some(url), Some(fingerprint)) = (url, fingerprint) else {
            let _ = child.kill();
            let said: Vec<String> = rx.try_iter().collect();
            panic!("the daemon did not say where it listens: {said:?}");
        };
        let out = s
            .qyv()
            .args(["daemon", "token", "--data-dir"])
            .arg(s.data())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        Daemon {
            stdin: child.stdin.take(),
            child,
            stderr: rx,
            url,
            http,
            fingerprint,
            token: stdout(&out).trim().to_string(),
            config: s.path("config"),
            cache: s.path("cache"),
            banner,
        }
    }

    /// A client command pointed at this node with its token and pin.
    fn command(&self) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("qyv"));
        c.env("QYVOL_CACHE_DIR", &self.cache)
            .env_remove("XDG_CACHE_HOME")
            .env_remove("QYVOL_CONFIG")
            .env("XDG_CONFIG_HOME", &self.config)
            .env("QYVOL_NODE", &self.url)
            .env("QYVOL_TOKEN", &self.token)
            .env("QYVOL_FINGERPRINT", &self.fingerprint);
        c
    }

    fn qyv(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command())
    }

    /// The same command as a process of its own, for deploys that the test
    /// holds inside the daemon.
    fn spawn(&self, args: &[&str]) -> Child {
        self.command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn client(&self, token: Option<&str>, pin: Option<&str>) -> Client {
        Client::new(&Connection {
            url: self.url.clone(),
            token: token.map(str::to_string),
            fingerprint: pin.map(|p| Fingerprint::parse(p).unwrap()),
        })
        .unwrap()
    }

    /// Waits until the daemon prints a line containing `text`; returns it.
    fn expect(&self, text: &str) -> String {
        loop {
            match self.stderr.recv_timeout(STUCK) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(_) => panic!("the daemon never said {text:?}"),
            }
        }
    }

    /// Lets a deploy held at a test point go on.
    fn release(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The app once it runs or has ended (the API's wait).
    fn settled(&self, name: &str, revision: u32) -> Value {
        let status = self
            .client(Some(&self.token), Some(&self.fingerprint))
            .wait(name, revision, STUCK)
            .unwrap();
        serde_json::to_value(status).unwrap()
    }

    /// `ps APP --json`.
    fn app(&self, name: &str) -> Value {
        let out = self.qyv().args(["ps", name, "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn apps(&self) -> Vec<Value> {
        let out = self.qyv().args(["ps", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// GET `path` on the node's HTTP port.
    fn get(&self, path: &str) -> Reply {
        http_get(self.http.expect("the node serves HTTP apps"), path)
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends `signal` (TERM, INT) with kill(1).
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn api_addr(&self) -> std::net::SocketAddr {
        self.url.strip_prefix("https://").unwrap().parse().unwrap()
    }

    /// A TLS connection to the API, handshake done, the certificate pinned.
    fn tls(&self) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
        let pin = Fingerprint::parse(&self.fingerprint).unwrap();
        let config = qyvol_node::tls::client_config(Some(pin), Default::default()).unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, connect(self.api_addr()));
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        tls
    }

    /// One request to the API as raw HTTP/1.1, with the token or without,
    /// and the answer.
    fn raw(&self, method: &str, path: &str, token: bool, body: &[u8]) -> Reply {
        let mut tls = self.tls();
        let auth = if token {
            format!("Authorization: Bearer {}\r\n", self.token)
        } else {
            String::new()
        };
        write!(
            tls,
            "{method} {path} HTTP/1.1\r\nHost: node\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        tls.write_all(body).unwrap();
        tls.flush().unwrap();
        let raw = until_closed(&mut tls);
        parse_reply(&raw)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn revisions(app: &Value) -> Vec<(u64, String)> {
    app["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["number"].as_u64().unwrap(),
                r["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

fn finished(child: Child) -> std::process::Output {
    child.wait_with_output().unwrap()
}

/// A service that runs until it is stopped.
const SERVICE: &str = "type: service\nrestart: always\nargs: [sleep, \"3600000\"]\n";

#[test]
fn deploy_ps_logs_stop_start_rollback_rm() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let greet = |word: &str| {
        s.app(
            word,
            "greeter",
            &format!("args: [env, GREETING]\nenv:\n  GREETING: {word}\n"),
        )
    };

    // A command runs to its end; deploy says how it ended.
    let out = node.qyv().arg("deploy").arg(greet("one")).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("greeter deployed as revision 1"), "{text}");
    assert!(
        text.contains("greeter completed (revision 1): exited with code 0"),
        "{text}"
    );
    let out = node.qyv().args(["logs", "greeter"]).output().unwrap();
    assert_eq!(stdout(&out), "one\n", "{}", stderr(&out));

    let out = node.qyv().arg("deploy").arg(greet("two")).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revision 2"), "{}", stdout(&out));
    let out = node.qyv().args(["logs", "greeter"]).output().unwrap();
    assert_eq!(stdout(&out), "one\ntwo\n");

    // The same bundle again is no new revision.
    let bundle = s.pack(&greet("two"), "two.qyvbin", &[]);
    let out = node.qyv().arg("deploy").arg(&bundle).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("unchanged, already revision 2"),
        "{}",
        stdout(&out)
    );

    let apps = node.apps();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["name"], "greeter");
    assert_eq!(apps[0]["state"], "completed");
    assert_eq!(apps[0]["exit_code"], 0);
    let app = node.app("greeter");
    let revs = revisions(&app);
    assert_eq!(revs.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(revs[0].1, sha256(&bundle));

    // Rollback: a new revision with revision 1's bundle, run again.
    let out = node
        .qyv()
        .args(["rollback", "greeter", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let app = node.app("greeter");
    let revs = revisions(&app);
    assert_eq!(revs.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(revs[0].1, revs[2].1, "revision 3 is revision 1's bundle");
    assert_eq!(app["revisions"][0]["rollback_of"], 1);
    let out = node
        .qyv()
        .args(["rollback", "greeter", "--to", "9"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "9");

    // A service runs until it is stopped, and runs again on start.
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("svc", "sleeper", SERVICE))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sleeper is running (revision 1)"),
        "{}",
        stdout(&out)
    );
    let out = node.qyv().args(["stop", "sleeper"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sleeper is stopped"),
        "{}",
        stdout(&out)
    );
    assert_eq!(node.app("sleeper")["desired"], "stopped");
    let out = node.qyv().args(["start", "sleeper"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let app = node.app("sleeper");
    assert_eq!(app["desired"], "running");
    assert!(
        matches!(app["state"].as_str(), Some("running" | "starting")),
        "{app}"
    );

    // rm: gone, with its logs.
    let out = node.qyv().args(["rm", "greeter"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<Value> = node.apps().iter().map(|a| a["name"].clone()).collect();
    assert_eq!(names, ["sleeper"]);
    let out = node.qyv().args(["logs", "greeter"]).output().unwrap();
    expect_failure(&out, 125, "no app named \"greeter\"");

    // Events name what happened, in order.
    let out = node
        .qyv()
        .args(["events", "greeter", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"deployed"), "{kinds:?}");
    assert!(kinds.contains(&"removed"), "{kinds:?}");
}

#[test]
fn a_failing_command_says_why() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("bad", "bad", "args: [exit, \"7\"]\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("bad failed (revision 1): exited with code 7"),
        "{}",
        stdout(&out)
    );
    let app = node.app("bad");
    assert_eq!(app["state"], "failed");
    assert_eq!(app["exit_code"], 7);
}

#[test]
fn apps_and_services_survive_a_restart() {
    let s = Scratch::new();
    let mut node = s.daemon(&[], None);
    for (folder, name) in [("a", "svc-a"), ("b", "svc-b")] {
        node.qyv()
            .arg("deploy")
            .arg(s.app(folder, name, SERVICE))
            .assert()
            .success();
    }
    node.qyv().args(["stop", "svc-b"]).assert().success();
    let before = node.app("svc-a");
    node.kill();

    let node = s.daemon(&[], None);
    assert_eq!(node.settled("svc-a", 1)["state"], "running");
    let a = node.app("svc-a");
    assert_eq!(a["revision"], 1);
    assert_eq!(a["digest"], before["digest"]);
    assert_eq!(a["desired"], "running");
    let b = node.app("svc-b");
    assert_eq!(b["desired"], "stopped");
    assert_eq!(b["state"], "stopped");
    // The run the kill cut short is recorded as such.
    let out = node
        .qyv()
        .args(["events", "svc-a", "--json"])
        .output()
        .unwrap();
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "interrupted" || e["kind"] == "started"),
        "{events:?}"
    );
}

/// Kills the daemon while a second deploy of `app` is held at `point`, then
/// starts it again: returns the app's revisions after the restart.
fn kill_during_second_deploy(point: &str) -> (Vec<(u64, String)>, String, String, Vec<String>) {
    // The upload's app is known only once it is received and opened.
    let (hold, held) = if point == "deploy:receiving" {
        (point.to_string(), format!("hold at {point} for -"))
    } else {
        (format!("{point}@app"), format!("hold at {point} for app"))
    };
    let s = Scratch::new();
    let first = s.pack(&s.app("v1", "app", SERVICE), "v1.qyvbin", &[]);
    let second = s.pack(
        &s.app("v2", "app", &format!("{SERVICE}version: \"2.0.0\"\n")),
        "v2.qyvbin",
        &[],
    );
    let mut node = s.daemon(&[], Some(&hold));
    let deploy = node.spawn(&["deploy", first.to_str().unwrap()]);
    node.expect(&held);
    node.release();
    let out = finished(deploy);
    assert!(out.status.success(), "{}", stderr(&out));

    let deploy = node.spawn(&["deploy", second.to_str().unwrap()]);
    node.expect(&held);
    node.kill();
    let _ = finished(deploy);

    let node = s.daemon(&[], None);
    let app = node.app("app");
    let current = app["revision"].as_u64().unwrap() as u32;
    assert_eq!(node.settled("app", current)["state"], "running");
    assert_eq!(app["desired"], "running");
    (
        revisions(&app),
        sha256(&first),
        sha256(&second),
        s.stored_bundles(),
    )
}

#[test]
fn kill_9_while_the_upload_arrives_leaves_the_old_revision() {
    let (revs, first, _, stored) = kill_during_second_deploy("deploy:receiving");
    assert_eq!(revs, [(1, first.clone())]);
    assert_eq!(stored, [format!("bundles/sha256/{first}.qyvbin")]);
}

#[test]
fn kill_9_with_the_bundle_stored_but_not_recorded_leaves_the_old_revision() {
    let (revs, first, _, _) = kill_during_second_deploy("deploy:stored");
    assert_eq!(revs, [(1, first)]);
}

#[test]
fn kill_9_once_the_revision_is_recorded_leaves_the_new_one() {
    let (revs, first, second, stored) = kill_during_second_deploy("deploy:recorded");
    assert_eq!(revs, [(2, second.clone()), (1, first.clone())]);
    assert_eq!(
        stored,
        [
            format!(
                "bundles/sha256/{}.qyvbin",
                first.clone().min(second.clone())
            ),
            format!("bundles/sha256/{}.qyvbin", first.max(second)),
        ]
    );
}

#[test]
fn deploys_of_one_app_wait_for_each_other_and_other_apps_do_not() {
    let s = Scratch::new();
    let one = s.pack(
        &s.app("one", "app", "args: [args]\nversion: \"1.0.0\"\n"),
        "one.qyvbin",
        &[],
    );
    let two = s.pack(
        &s.app("two", "app", "args: [args]\nversion: \"2.0.0\"\n"),
        "two.qyvbin",
        &[],
    );
    let other = s.pack(&s.app("other", "other", "args: [args]\n"), "o.qyvbin", &[]);
    let mut node = s.daemon(&[], Some("deploy:locked@app"));

    // The first deploy of `app` holds the app's lock.
    let first = node.spawn(&["deploy", one.to_str().unwrap()]);
    node.expect("hold at deploy:locked for app");
    // Another app deploys meanwhile, all the way.
    node.qyv().arg("deploy").arg(&other).assert().success();
    assert_eq!(node.app("other")["revision"], 1);
    // A second deploy of `app` waits for the lock.
    let second = node.spawn(&["deploy", two.to_str().unwrap()]);
    node.expect("app: waiting for the change in progress to finish");
    let out = node.qyv().args(["ps", "app"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125), "nothing is recorded yet");
    // The first goes on; the second then holds the lock in its turn.
    node.release();
    node.expect("hold at deploy:locked for app");
    assert_eq!(revisions(&node.app("app")), [(1, sha256(&one))]);
    node.release();
    for deploy in [first, second] {
        let out = finished(deploy);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
    assert_eq!(
        revisions(&node.app("app")),
        [(2, sha256(&two)), (1, sha256(&one))]
    );
}

#[test]
fn no_token_or_a_wrong_one_is_401_and_changes_nothing() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let bundle = s.pack(&s.app("a", "app", "args: [args]\n"), "a.qyvbin", &[]);
    for token in [
        None,
        Some("wrong"),
        Some(&node.token[..node.token.len() - 1]),
    ] {
        let client = node.client(token, Some(&node.fingerprint));
        match client.deploy(&bundle, |_, _| {}) {
            Err(ClientError::Api { status, code, .. }) => {
                assert_eq!((status, code.as_str()), (401, "unauthorized"))
            }
            other => panic!("{token:?}: {other:?}"),
        }
        match client.apps() {
            Err(ClientError::Api { status, .. }) => assert_eq!(status, 401),
            other => panic!("{token:?}: {other:?}"),
        }
    }
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    assert!(node.apps().is_empty());
    // Health needs no token; it says nothing about the apps.
    assert!(node.client(None, Some(&node.fingerprint)).health().is_ok());

    let out = node
        .qyv()
        .env("QYVOL_TOKEN", "wrong")
        .arg("deploy")
        .arg(&bundle)
        .output()
        .unwrap();
    expect_failure(&out, 125, "the token is missing or wrong");
    assert!(node.apps().is_empty());
}

#[test]
fn a_pinned_client_refuses_another_certificate() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let other = Scratch::new();
    let other_node = other.daemon(&[], None);
    assert_ne!(node.fingerprint, other_node.fingerprint);

    // The right token, another node's fingerprint.
    let out = node
        .qyv()
        .env("QYVOL_FINGERPRINT", &other_node.fingerprint)
        .arg("ps")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains(&node.fingerprint), "{err}");
    assert!(err.contains(&other_node.fingerprint), "{err}");
    // Unpinned, a self-signed certificate is not trusted either.
    let out = node
        .qyv()
        .env_remove("QYVOL_FINGERPRINT")
        .arg("ps")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    // Pinned right, it works.
    node.qyv().arg("ps").assert().success();
}

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
fn a_node_that_requires_signatures_refuses_unsigned_bundles() {
    let s = Scratch::new();
    let (secret, public) = s.keygen("node");
    let node = s.daemon(&["--key", public.to_str().unwrap()], None);
    let manifest = s.app("a", "app", "args: [args]\n");

    let out = node.qyv().arg("deploy").arg(&manifest).output().unwrap();
    expect_failure(
        &out,
        125,
        "requires bundles signed by a key it trusts, and it is not signed",
    );
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    assert!(node.apps().is_empty());

    let out = node
        .qyv()
        .arg("deploy")
        .arg(&manifest)
        .arg("--sign")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        node.app("app")["revisions"][0]["signer"].is_string(),
        "{}",
        node.app("app")
    );
}

#[test]
fn contexts_name_a_node_with_its_token_and_pin() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let plain = || s.qyv();
    plain()
        .args(["context", "add", "lab", &node.url, "--token", &node.token])
        .args(["--fingerprint", &node.fingerprint])
        .assert()
        .success();
    let out = plain().args(["context", "ls", "--json"]).output().unwrap();
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["name"], "lab");
    assert_eq!(list[0]["current"], true);
    assert!(!stdout(&out).contains(&node.token), "tokens stay out");
    // The first context became current: no --node needed.
    plain()
        .arg("deploy")
        .arg(s.app("a", "ctx-app", "args: [args]\n"))
        .assert()
        .success();
    let out = plain().args(["ps"]).output().unwrap();
    assert!(stdout(&out).contains("ctx-app"), "{}", stdout(&out));
    plain().args(["context", "use", "local"]).assert().success();
    let out = plain().args(["ps"]).output().unwrap();
    expect_failure(&out, 125, "no node to talk to");
    let out = plain().args(["ps", "--node", "lab"]).output().unwrap();
    assert!(stdout(&out).contains("ctx-app"), "{}", stdout(&out));
}

#[test]
fn the_apps_dir_deploys_its_manifests_and_removes_what_goes() {
    let s = Scratch::new();
    let manifest = s.app("boot", "booted", SERVICE);
    let apps_dir = s.path("apps.d");
    std::fs::create_dir_all(&apps_dir).unwrap();
    // A manifest in the folder names its wasm relative to itself.
    std::fs::copy(probe_p1(), apps_dir.join("probe.wasm")).unwrap();
    std::fs::copy(&manifest, apps_dir.join("booted.qyv")).unwrap();
    let node = s.daemon(&["--apps-dir", apps_dir.to_str().unwrap()], None);
    node.expect("deployed as booted revision 1");
    assert_eq!(node.settled("booted", 1)["state"], "running");
    assert!(
        node.app("booted")["source"]
            .as_str()
            .unwrap()
            .starts_with("apps-dir:"),
    );

    // A change deploys again.
    let text = std::fs::read_to_string(apps_dir.join("booted.qyv")).unwrap();
    std::fs::write(
        apps_dir.join("booted.qyv"),
        format!("{text}version: \"2.0.0\"\n"),
    )
    .unwrap();
    node.expect("deployed as booted revision 2");
    assert_eq!(node.app("booted")["version"], "2.0.0");

    // A broken manifest is said, and changes nothing.
    write(&apps_dir, "broken.qyv", "name: broken\nentrypoint: [\n");
    node.expect("broken.qyv");
    assert_eq!(node.apps().len(), 1);

    std::fs::remove_file(apps_dir.join("booted.qyv")).unwrap();
    node.expect("removed booted");
    assert!(node.apps().is_empty());
}

#[test]
fn metrics_count_instances_exits_and_apps() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    node.qyv()
        .arg("deploy")
        .arg(s.app("svc", "svc", SERVICE))
        .assert()
        .success();
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("bad", "bad", "args: [exit, \"3\"]\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = node
        .client(Some(&node.token), Some(&node.fingerprint))
        .metrics()
        .unwrap();
    for line in [
        "qyvol_node_apps 2",
        "qyvol_app_instances{app=\"svc\"} 1",
        "qyvol_app_instances{app=\"bad\"} 0",
        "qyvol_app_exits_total{app=\"bad\",code=\"3\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    assert!(text.contains("qyvol_node_uptime_seconds"), "{text}");
    assert!(
        text.contains("qyvol_app_memory_bytes{app=\"svc\"}"),
        "{text}"
    );
    // Without the token, nothing.
    match node.client(None, Some(&node.fingerprint)).metrics() {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 401),
        other => panic!("{other:?}"),
    }
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

/// Polls `get` until it returns what `done` accepts, for at most [`STUCK`]
/// (a bound on a hang, not a timing the test depends on).
fn eventually<T: std::fmt::Debug>(mut get: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = std::time::Instant::now() + STUCK;
    loop {
        let value = get();
        if done(&value) || std::time::Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

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
fn logs_follow_prints_lines_as_the_app_writes_them() {
    let s = Scratch::new();
    let node = s.daemon(&["--http", "127.0.0.1:0"], None);
    let app = s.http_app("one", "greeter", "/greet", "one");
    node.qyv().arg("deploy").arg(app).assert().success();
    assert_eq!(node.get("/greet/print/before").body, "printed\n");

    let mut follow = node.spawn(&["logs", "-f", "greeter"]);
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(follow.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || rx.recv_timeout(STUCK).expect("qyv logs -f printed nothing");
    assert!(next().ends_with("] before"));
    // Lines written after the command started arrive while it runs.
    for word in ["after", "and-again"] {
        let reply = node.get(&format!("/greet/print/{word}"));
        let id = reply.header("x-request-id").unwrap();
        assert_eq!(next(), format!("[req {id}] {word}"));
    }
    follow.kill().unwrap();
    follow.wait().unwrap();
}

#[test]
fn a_node_serves_the_users_own_certificate() {
    let s = Scratch::new();
    let tls = s.path("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = write(&tls, "cert.pem", &made.cert.pem());
    let key = write(&tls, "key.pem", &made.signing_key.serialize_pem());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let node = s.daemon(&["--tls-cert", cert, "--tls-key", key], None);
    // The node says the fingerprint of the certificate it was given, and a
    // client pinned to it gets through.
    assert_eq!(
        node.fingerprint,
        Fingerprint::of(made.cert.der()).to_string()
    );
    assert!(node.apps().is_empty());
    assert!(
        !s.data().join("tls").exists(),
        "the node made a certificate of its own"
    );

    // A key that is not the certificate's is refused at start, saying so.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let wrong = write(&tls, "other-key.pem", &other.signing_key.serialize_pem());
    drop(node);
    let out = s
        .qyv()
        .args(["daemon", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.data())
        .args(["--tls-cert", cert, "--tls-key"])
        .arg(&wrong)
        .timeout(STUCK)
        .output()
        .unwrap();
    expect_failure(&out, 125, "the certificate and key do not go together");
}

#[test]
fn an_http_app_runs_its_precompiled_code_only_from_a_trusted_signer() {
    let s = Scratch::new();
    let (secret, public) = s.keygen("node");
    let app = s.http_app("one", "greeter", "/greet", "one");
    let signed = s.pack(
        &app,
        "signed.qyvbin",
        &["--precompile", "--sign", secret.to_str().unwrap()],
    );
    let unsigned = s.pack(&app, "unsigned.qyvbin", &["--precompile"]);
    let started = |node: &Daemon| -> String {
        let out = node
            .qyv()
            .args(["events", "greeter", "--json"])
            .output()
            .unwrap();
        let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        events
            .iter()
            .rfind(|e| e["kind"] == "started")
            .map(|e| e["message"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };

    // A node that trusts the signer serves the bundle's code.
    let node = s.daemon(
        &["--http", "127.0.0.1:0", "--key", public.to_str().unwrap()],
        None,
    );
    node.qyv().arg("deploy").arg(&signed).assert().success();
    assert_eq!(node.get("/greet/env/GREETING").body, "one\n");
    let message = started(&node);
    assert!(
        message.ends_with("with the bundle's precompiled code"),
        "{message}"
    );
    drop(node);

    // One that does not compiles the wasm, and says why in the app's log.
    let other = Scratch::new();
    let node = other.daemon(&["--http", "127.0.0.1:0"], None);
    node.qyv().arg("deploy").arg(&unsigned).assert().success();
    assert_eq!(node.get("/greet/env/GREETING").body, "one\n");
    let message = started(&node);
    assert!(message.ends_with("with code compiled now"), "{message}");
    let out = node.qyv().args(["logs", "greeter"]).output().unwrap();
    assert!(
        stderr(&out)
            .contains("precompiled code is not used, because no key this node trusts signed it"),
        "{}",
        stderr(&out)
    );
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

// --- what a node grants apps that are not its operator's own (issue 12) -----

#[test]
fn a_node_applies_its_default_limits_and_refuses_more_than_its_maxima() {
    let s = Scratch::new();
    let node = s.daemon(
        &[
            "--http",
            "127.0.0.1:0",
            "--default-memory",
            "64MiB",
            "--max-memory",
            "128MiB",
            "--default-timeout",
            "2s",
            "--max-instances",
            "4",
        ],
        None,
    );
    let limits = node
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("limits"))
        .unwrap_or_else(|| panic!("{:?}", node.banner));
    assert!(
        limits.contains(
            "memory 64 MiB by default, at most 128 MiB; timeout 2s by default (commands, each HTTP request); at most 4 instances of an app"
        ),
        "{limits}"
    );

    // Asking for more than the node allows: refused, nothing stored.
    let greedy = s.app(
        "greedy",
        "greedy",
        "args: [args]\nlimits: { memory: 1GiB }\n",
    );
    let out = node.qyv().arg("deploy").arg(&greedy).output().unwrap();
    expect_failure(
        &out,
        125,
        "limits.memory is 1 GiB, and this node allows an app at most 128 MiB",
    );
    let wide = s.http_app("wide", "wide", "/wide", "hi");
    let text = std::fs::read_to_string(&wide).unwrap();
    let text = text.replace("  route: /wide\n", "  route: /wide\n  concurrency: 10\n");
    std::fs::write(&wide, text).unwrap();
    let out = node.qyv().arg("deploy").arg(&wide).output().unwrap();
    expect_failure(
        &out,
        125,
        "http.concurrency is 10, and this node runs at most 4 instances of an app at once",
    );
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    assert!(node.apps().is_empty());

    // An app that says nothing gets the defaults: memory, then time.
    let hungry = s.app("hungry", "hungry", "args: [alloc, \"512\"]\n");
    let out = node.qyv().arg("deploy").arg(&hungry).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("reached the memory limit of 64 MiB (limits.memory)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(node.app("hungry")["exit_code"], 137);
    let endless = s.app("endless", "endless", "args: [loop]\n");
    let out = node.qyv().arg("deploy").arg(&endless).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(node.app("endless")["exit_code"], 124);

    // Tables count against it on a node as in qyv run.
    let dir = s.path("apps/table");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(guest("table/table.wasm"), dir.join("table.wasm")).unwrap();
    let table = write(
        &dir,
        "app.qyv",
        "name: table\nentrypoint: table.wasm\nargs: [\"67108864\", \"1048576\"]\n",
    );
    let out = node.qyv().arg("deploy").arg(&table).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(node.app("table")["exit_code"], 137);
}

#[test]
fn a_node_refuses_limits_that_contradict_each_other() {
    let s = Scratch::new();
    let out = s
        .qyv()
        .args(["daemon", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.data())
        .args(["--default-memory", "1GiB", "--max-memory", "512MiB"])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "--default-memory, --max-memory: the default memory (1 GiB) is above the maximum (512 MiB)",
    );
}

#[test]
fn apps_dir_manifests_name_only_files_of_their_own_folder() {
    let s = Scratch::new();
    let apps_dir = s.path("apps.d");
    let elsewhere = s.path("elsewhere");
    std::fs::create_dir_all(&apps_dir).unwrap();
    std::fs::create_dir_all(elsewhere.join("secrets")).unwrap();
    std::fs::copy(probe_p1(), elsewhere.join("probe.wasm")).unwrap();
    write(&elsewhere.join("secrets"), "key.txt", "private\n");
    write(
        &apps_dir,
        "far.qyv",
        &format!(
            "name: far\nentrypoint: {}\nargs: [args]\n",
            elsewhere.join("probe.wasm").display()
        ),
    );
    std::fs::copy(probe_p1(), apps_dir.join("probe.wasm")).unwrap();
    write(
        &apps_dir,
        "peek.qyv",
        "name: peek\nentrypoint: probe.wasm\nargs: [cat, /s/key.txt]\npermissions: { fs: read }\nfs: [{ source: ../elsewhere/secrets, target: /s }]\n",
    );
    // A pipe among the manifests is named, not passed over.
    let status = Command::new("mkfifo")
        .arg(apps_dir.join("pipe.qyv"))
        .status()
        .unwrap();
    assert!(status.success());
    let node = s.daemon(&["--apps-dir", apps_dir.to_str().unwrap()], None);
    let line = node.expect("far.qyv");
    assert!(line.contains("entrypoint: "), "{line}");
    assert!(line.contains("outside the manifest's folder"), "{line}");
    let line = node.expect("peek.qyv");
    assert!(
        line.contains("fs[0].source: \"../elsewhere/secrets\""),
        "{line}"
    );
    let line = node.expect("pipe.qyv");
    assert!(
        line.contains("not a regular file: it is a named pipe (FIFO)"),
        "{line}"
    );
    assert!(node.apps().is_empty());
    drop(node);

    // A folder the node allows may be named.
    let node = s.daemon(
        &[
            "--apps-dir",
            apps_dir.to_str().unwrap(),
            "--allow-path",
            elsewhere.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        node.banner
            .iter()
            .any(|l| l.contains("apps-dir may name files in")),
        "{:?}",
        node.banner
    );
    node.expect("deployed as far revision 1");
    node.expect("deployed as peek revision 1");
    assert_eq!(node.settled("peek", 1)["state"], "completed");
    let out = node.qyv().args(["logs", "peek"]).output().unwrap();
    assert!(stdout(&out).contains("private"), "{}", stdout(&out));
}

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
