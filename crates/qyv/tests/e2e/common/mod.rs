//! Shared helpers for the end-to-end tests: where the example and guest
//! programs are, and a `qyv` command with its cache kept inside the
//! test's own folders.

#![allow(dead_code)]

pub mod nats;
pub mod registry;
pub mod token;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The contract apps of examples/CONTRACT.md, one per language: (folder,
/// name in the greeting, whether its exit code arrives exactly)
/// A component without `wasi:cli/exit.exit-with-code` reports any non-zero
/// code as 1; see examples/CONTRACT.md.
pub const CONTRACT_APPS: &[(&str, &str, bool)] = &[
    ("rust", "Rust", false),
    ("go", "Go", true),
    ("c", "C", true),
    ("cpp", "C++", true),
    ("zig", "Zig", true),
    ("assemblyscript", "AssemblyScript", true),
    ("python", "Python", true),
    ("javascript", "JavaScript", true),
    ("nim", "Nim", true),
    ("kotlin", "Kotlin", true),
];

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn example(rel: &str) -> PathBuf {
    let p = repo().join("examples").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run examples/build.sh",
        p.display()
    );
    p
}

/// The probe guest (see tests/guests/probe/main.rs) as a preview-1 module.
pub fn probe_p1() -> PathBuf {
    guest("probe/probe.wasm")
}

/// The same probe as a WASI 0.2 component.
pub fn probe_p2() -> PathBuf {
    guest("probe/probe.component.wasm")
}

pub fn guest(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guests")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: run examples/build.sh",
        p.display()
    );
    p
}

/// A cache shared by the tests of one test binary: compiled once, then hit.
pub fn shared_cache() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qyv-test-cache");
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// `qyv` with the shared cache and none of the developer's own settings.
pub fn qyv() -> assert_cmd::Command {
    qyv_with_cache(shared_cache())
}

pub fn qyv_with_cache(cache: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("qyv").unwrap();
    // An empty config folder: the developer's trust policy stays out.
    let config = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qyv-test-no-config");
    // Nor do the developer's node settings reach the client commands.
    c.env("QYVOL_CACHE_DIR", cache)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("QYVOL_CONFIG")
        .env_remove("QYVOL_NODE")
        .env_remove("QYVOL_TOKEN")
        .env_remove("QYVOL_FINGERPRINT")
        .env("XDG_CONFIG_HOME", config);
    c
}

/// A scratch folder with its own cache and config folder (`cache/`,
/// `config/`); test files add what they keep in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `qyv` with this scratch folder's cache and config, run in it.
    pub fn qyv(&self) -> assert_cmd::Command {
        let mut c = qyv_with_cache(&self.path("cache"));
        c.env("XDG_CONFIG_HOME", self.path("config"))
            .current_dir(self.dir.path());
        c
    }

    /// `qyv keygen --out keys/NAME`: the key pair's paths (secret, public).
    pub fn keygen(&self, name: &str) -> (PathBuf, PathBuf) {
        let dir = self.path(&format!("keys/{name}"));
        self.qyv()
            .args(["keygen", "--out"])
            .arg(&dir)
            .assert()
            .success();
        (dir.join("qyvol.key"), dir.join("qyvol.pub"))
    }

    /// `qyv pack MANIFEST -o OUT EXTRA…`: the bundle's path.
    pub fn pack(&self, manifest: &Path, out: &str, extra: &[&str]) -> PathBuf {
        let out = self.path(out);
        self.qyv()
            .arg("pack")
            .arg(manifest)
            .arg("-o")
            .arg(&out)
            .args(extra)
            .assert()
            .success();
        out
    }
}

/// Writes `text` as `name` in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// A folder holding a copy of a guest program and a manifest for it whose
/// body (everything but name and entrypoint) is `rest`.
pub fn app(dir: &Path, wasm: &Path, rest: &str) -> PathBuf {
    let name = wasm.file_name().unwrap().to_str().unwrap();
    std::fs::copy(wasm, dir.join(name)).unwrap();
    write(
        dir,
        "app.qyv",
        &format!("name: probe-app\nentrypoint: {name}\n{rest}"),
    )
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that a run of `qyv` ended with `code` and said `text` on stderr.
pub fn expect_failure(out: &std::process::Output, code: i32, text: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(text), "expected {text:?} in:\n{err}");
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A loopback server that answers each line with `pong from PORT` and counts
/// the connections it accepted.
pub struct PongServer {
    pub port: u16,
    accepted: &'static AtomicUsize,
}

impl PongServer {
    pub fn start() -> PongServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || answer(stream, port));
            }
        });
        PongServer { port, accepted }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn answer(stream: TcpStream, port: u16) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        let _ = writeln!(writer, "pong from {port}");
        line.clear();
    }
}

/// The HTTP examples: (folder, manifest, a path under its route, what the
/// body starts with). Adding a language is one line here.
pub const HTTP_EXAMPLES: &[(&str, &str, &str, &str)] = &[
    ("http-rust", "http-rust.qyv", "/hi", "Hello from Rust!"),
    (
        "http-python",
        "http-python.qyv",
        "/py/hi",
        "Hello from Python!",
    ),
    ("http-js", "http-js.qyv", "/js/hi", "Hello from JavaScript!"),
];

/// The wasi:http guest of the serve tests (see tests/guests/http-probe).
pub fn http_probe() -> PathBuf {
    guest("http-probe/http-probe.wasm")
}

/// A running `qyv serve`, its output collected line by line; killed when
/// dropped.
pub struct Served {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
    stdout: Lines,
    stderr: Lines,
}

/// Lines a process wrote, shared with the thread that reads them.
#[derive(Clone, Default)]
pub struct Lines(std::sync::Arc<(std::sync::Mutex<Vec<String>>, std::sync::Condvar)>);

impl Lines {
    fn collect(self, stream: impl std::io::Read + Send + 'static) -> Lines {
        let lines = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let (list, ready) = &*lines.0;
                list.lock().unwrap().push(line);
                ready.notify_all();
            }
        });
        self
    }

    /// The first line that `pred` accepts, waiting up to three minutes for it
    /// (a generous bound on a loaded machine: passing never depends on it).
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool) -> String {
        let (list, ready) = &*self.0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        let mut guard = list.lock().unwrap();
        loop {
            if let Some(line) = guard.iter().find(|l| pred(l)) {
                return line.clone();
            }
            let now = std::time::Instant::now();
            assert!(now < deadline, "no such line in:\n{}", guard.join("\n"));
            guard = ready.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    pub fn text(&self) -> String {
        self.0.0.lock().unwrap().join("\n")
    }

    /// Waits (as [`Lines::wait_for`]) until `n` lines match `pred`.
    pub fn wait_count(&self, n: usize, pred: impl Fn(&str) -> bool) {
        let (list, ready) = &*self.0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        let mut guard = list.lock().unwrap();
        while guard.iter().filter(|l| pred(l)).count() < n {
            let now = std::time::Instant::now();
            assert!(
                now < deadline,
                "not {n} such lines in:\n{}",
                guard.join("\n")
            );
            guard = ready.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }
}

impl Served {
    /// `qyv serve ARGS --addr 127.0.0.1:0`, once it says where it listens.
    pub fn start(args: &[&std::ffi::OsStr]) -> Served {
        Served::launch(
            std::process::Command::new(assert_cmd::cargo::cargo_bin("qyv")),
            args,
        )
    }

    /// The same, started by `sh` after `ulimit LIMIT` (e.g. `-S -n 256`):
    /// `sh` execs `qyv`, which keeps its process id.
    pub fn start_under(limit: &str, args: &[&std::ffi::OsStr]) -> Served {
        let mut sh = std::process::Command::new("sh");
        sh.arg("-c")
            .arg(format!("ulimit {limit} && exec \"$0\" \"$@\""))
            .arg(assert_cmd::cargo::cargo_bin("qyv"));
        Served::launch(sh, args)
    }

    fn launch(mut cmd: std::process::Command, args: &[&std::ffi::OsStr]) -> Served {
        cmd.env("QYVOL_CACHE_DIR", shared_cache())
            .env_remove("XDG_CACHE_HOME")
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdout = Lines::default().collect(child.stdout.take().unwrap());
        let stderr = Lines::default().collect(child.stderr.take().unwrap());
        let line = stderr.wait_for(|l| l.starts_with("listening on ") || l.starts_with("error"));
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("qyv serve did not start: {}", stderr.text()))
            .parse()
            .unwrap();
        Served {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        http_get(self.addr, path)
    }

    pub fn stdout(&self) -> &Lines {
        &self.stdout
    }

    pub fn stderr(&self) -> &Lines {
        &self.stderr
    }

    /// Sends `signal` (TERM, INT) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response as a test reads it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 GET on its own connection (`Connection: close`), read to
/// the end; chunked bodies are decoded.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> Reply {
    use std::io::Read;
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_reply(&raw)
}

pub fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut decoded = Vec::new();
        let mut rest = &body[..];
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            decoded.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = decoded;
    }
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// How long a test waits for a server to close a connection it must close:
/// a bound on a hang, never what decides a result.
pub const CLOSE_BOUND: std::time::Duration = std::time::Duration::from_secs(90);

/// A connection to `addr` whose reads wake up now and then, so that
/// [`until_closed`] can keep to its bound.
pub fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    stream
}

/// A connection to `addr` that sends `bytes` and then nothing.
pub fn stalled(addr: std::net::SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = connect(addr);
    stream.write_all(bytes).unwrap();
    stream
}

/// Reads until the other side closes, which it must do within
/// [`CLOSE_BOUND`]: what it sent before.
pub fn until_closed(stream: &mut impl std::io::Read) -> Vec<u8> {
    let deadline = std::time::Instant::now() + CLOSE_BOUND;
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the connection stayed open; it sent {:?}",
            String::from_utf8_lossy(&got)
        );
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            // A reset, or a TLS connection closed without its close_notify.
            Err(_) => return got,
        }
    }
}

/// One GET on a kept-alive connection (from [`connect`]), and its answer.
pub fn ask(stream: &mut TcpStream, path: &str) -> Reply {
    use std::io::Read;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let deadline = std::time::Instant::now() + CLOSE_BOUND;
    let mut raw = Vec::new();
    let mut buf = [0; 4096];
    while !complete(&raw) {
        assert!(std::time::Instant::now() < deadline, "no answer to {path}");
        match stream.read(&mut buf) {
            Ok(0) => panic!("closed after {:?}", String::from_utf8_lossy(&raw)),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("{e}"),
        }
    }
    parse_reply(&raw)
}

/// Whether `raw` holds a whole answer (by its length or its last chunk).
fn complete(raw: &[u8]) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    body.len() >= length
}

/// Waits for `child` to exit, for at most [`CLOSE_BOUND`].
pub fn exited(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + CLOSE_BOUND;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "it did not exit");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A loopback HTTP server that answers every request `200 upstream says hi`
/// and counts the connections it accepted.
pub struct Upstream {
    pub port: u16,
    accepted: &'static AtomicUsize,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        if line == "\r\n" {
                            break;
                        }
                        line.clear();
                    }
                    let body = "upstream says hi";
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Upstream { port, accepted }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
