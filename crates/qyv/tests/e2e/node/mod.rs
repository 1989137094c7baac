//! A real `qyv daemon` on loopback, driven by the real client commands.
//! This module holds what every node test uses (a scratch folder's apps,
//! the `Daemon` process and its API); the tests are in one file per area:
//! `lifecycle` (deploy, ps, logs, stop, start, rollback, rm, restarts),
//! `crash` (kill -9 inside a deploy), `trust` (token, pin, certificates,
//! signatures), `api` (refused uploads, the API's errors and limits),
//! `http` (HTTP apps on a node), `apps_dir` and `limits` (what a node
//! grants), `logging` (the node's log), `scheduler` (stops, idle
//! services, CPU caps), `stream` (the pushed changes, the dashboard's
//! files), `viz` (the dashboard in a real browser). Moments inside a deploy are
//! reached with the daemon's test hold points (`QYVOL_TEST_HOLD`, see
//! crates/qyvol-node/src/hold.rs), never with sleeps.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::*;
use qyvol_node::client::{Client, ClientError, Connection};
use qyvol_node::tls::Fingerprint;
use serde_json::Value;

mod api;
mod apps_dir;
mod crash;
mod http;
mod lifecycle;
mod limits;
mod logging;
mod memfs;
mod scheduler;
mod stream;
mod trust;
mod viz;

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
        cmd.arg("daemon");
        // A test that restarts a node on its address gives `--listen`.
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.arg("--data-dir")
            .arg(s.data())
            .args(extra)
            .env("XDG_CONFIG_HOME", s.path("config"))
            .env_remove("QYVOL_CONFIG")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("RUST_LOG")
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
