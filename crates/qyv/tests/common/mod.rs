//! Shared helpers for the end-to-end tests: where the example and guest
//! programs are, and a `qyv` command with its cache kept inside the
//! test's own folders.

#![allow(dead_code)]

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
    c.env("QYVOL_CACHE_DIR", cache)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("QYVOL_CONFIG")
        .env("XDG_CONFIG_HOME", config);
    c
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
