//! An app trying to get more than it was given, tried as an attacker would:
//! writing its own manifest or code (or qyv's cache) for its next run,
//! growing a table past the memory limit, looking names up without
//! `permissions.net`, naming a pipe or a device as a manifest, running
//! threads. Each case is refused with a message that says what to change.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

/// A bound on a run that must not hang; passing never depends on it.
const HANG: Duration = Duration::from_secs(120);

/// A folder `app/` holding the probe and a manifest for it.
struct App {
    dir: tempfile::TempDir,
}

impl App {
    fn new(wasm: &Path, rest: &str) -> App {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("app/data")).unwrap();
        app(&dir.path().join("app"), wasm, rest);
        App { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn manifest(&self) -> PathBuf {
        self.path("app/app.qyv")
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        qyv()
            .arg("run")
            .arg(self.manifest())
            .args(args)
            .timeout(HANG)
            .output()
            .unwrap()
    }
}

const EVIL: &str =
    "name: probe-app\nentrypoint: probe.wasm\npermissions: { fs: full, net: true }\n";

// --- 1. an app never writes its own manifest, code or qyv's cache ------------

#[test]
fn fs_write_without_a_list_is_refused_and_the_manifest_stays() {
    for wasm in [probe_p1(), probe_p2()] {
        let a = App::new(&wasm, "permissions: { fs: write }\n");
        let before = fs::read_to_string(a.manifest()).unwrap();
        let out = a.run(&["write", "/app.qyv", EVIL]);
        expect_failure(
            &out,
            125,
            "app.qyv:3:20: permissions.fs: write with no fs: list mounts the manifest's folder read-write at /, and it holds the app's manifest",
        );
        let err = stderr(&out);
        assert!(err.contains("rewrite its own permissions"), "{err}");
        assert!(
            err.contains("fs: [{ source: ./data, target: /data, mode: write }]"),
            "{err}"
        );
        assert_eq!(stdout(&out), "");
        assert_eq!(fs::read_to_string(a.manifest()).unwrap(), before);
    }
}

#[test]
fn a_listed_mount_that_holds_the_app_is_refused_at_its_field() {
    let a = App::new(
        &probe_p1(),
        "permissions: { fs: write }\nfs:\n  - { source: data, target: /data }\n  - { source: ., target: /app, mode: write }\n",
    );
    let out = a.run(&["write", "/app/probe.wasm", "x"]);
    expect_failure(&out, 125, "app.qyv:6:5: fs[1]: ");
    let err = stderr(&out);
    assert!(
        err.contains("is mounted read-write at /app and holds the app's manifest"),
        "{err}"
    );
    assert_eq!(
        fs::read(a.path("app/probe.wasm")).unwrap(),
        fs::read(probe_p1()).unwrap()
    );
}

#[test]
fn links_into_a_writable_mount_are_found() {
    let mount =
        "permissions: { fs: write }\nfs:\n  - { source: data, target: /data, mode: write }\n";
    // The manifest is a symlink to a file in the mount.
    let a = App::new(&probe_p1(), mount);
    fs::rename(a.manifest(), a.path("app/data/real.qyv")).unwrap();
    std::os::unix::fs::symlink("data/real.qyv", a.manifest()).unwrap();
    let out = a.run(&["write", "/data/real.qyv", EVIL]);
    expect_failure(&out, 125, "and holds the app's manifest");
    // The code has a hard link in the mount.
    let a = App::new(&probe_p1(), mount);
    fs::hard_link(a.path("app/probe.wasm"), a.path("app/data/copy.wasm")).unwrap();
    let out = a.run(&["write", "/data/copy.wasm", "x"]);
    expect_failure(&out, 125, "/data/copy.wasm, a hard link to the app's code");
    assert_eq!(
        fs::read(a.path("app/probe.wasm")).unwrap(),
        fs::read(probe_p1()).unwrap()
    );
    // A data folder of its own is fine: the examples' contract.
    let a = App::new(&probe_p1(), mount);
    let out = a.run(&["write", "/data/out.txt", "written"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(a.path("app/data/out.txt")).unwrap(),
        "written"
    );
}

#[test]
fn a_dir_flag_may_not_expose_the_code_or_the_cache() {
    let d = tempfile::tempdir().unwrap();
    let wasm = d.path().join("probe.wasm");
    fs::copy(probe_p1(), &wasm).unwrap();
    let out = qyv()
        .arg("run")
        .arg(format!("--dir={}::/w", d.path().display()))
        .arg(&wasm)
        .args(["write", "/w/probe.wasm", "x"])
        .output()
        .unwrap();
    expect_failure(&out, 125, &format!("--dir {}::/w: ", d.path().display()));
    assert!(
        stderr(&out).contains("holds the app's code"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("(add :ro)"), "{}", stderr(&out));
    // Read-only, it runs.
    qyv()
        .arg("run")
        .arg(format!("--dir={}::/w:ro", d.path().display()))
        .arg(&wasm)
        .args(["head", "/w/probe.wasm"])
        .assert()
        .success();
    // The compiled-code cache is machine code qyv runs: never writable.
    let s = Scratch::new();
    fs::create_dir_all(s.path("cache/v1")).unwrap();
    let out = s
        .qyv()
        .arg("run")
        .arg(format!("--dir={}::/c", s.path("cache/v1").display()))
        .arg(probe_p1())
        .arg("args")
        .output()
        .unwrap();
    expect_failure(&out, 125, "is qyv's compiled-code cache");
    assert!(
        stderr(&out).contains("plant machine code"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bundle_in_a_writable_folder_is_refused() {
    let s = Scratch::new();
    fs::create_dir_all(s.path("app")).unwrap();
    fs::create_dir_all(s.path("out")).unwrap();
    let manifest = app(&s.path("app"), &probe_p1(), "args: [args]\n");
    let bundle = s.pack(&manifest, "out/app.qyvbin", &[]);
    let out = s
        .qyv()
        .arg("run")
        .arg(format!("--dir={}::/out", s.path("out").display()))
        .arg(&bundle)
        .output()
        .unwrap();
    expect_failure(&out, 125, "holds the app's code");
}

#[test]
fn validate_and_serve_refuse_the_same_mounts() {
    let a = App::new(&probe_p1(), "permissions: { fs: write }\n");
    let out = qyv().arg("validate").arg(a.manifest()).output().unwrap();
    expect_failure(&out, 1, "permissions.fs: write with no fs: list");
    let d = tempfile::tempdir().unwrap();
    fs::copy(http_probe(), d.path().join("http-probe.wasm")).unwrap();
    let m = write(
        d.path(),
        "web.qyv",
        "name: web\nentrypoint: http-probe.wasm\ntype: http\npermissions: { fs: write }\n",
    );
    let out = qyv()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(&m)
        .timeout(HANG)
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "web.qyv:4:20: permissions.fs: write with no fs: list",
    );
}

#[test]
fn fs_full_is_still_the_whole_host_with_its_warning() {
    let a = App::new(&probe_p1(), "permissions: { fs: full }\n");
    let out = a.run(&["args"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permissions.fs is full"),
        "{}",
        stderr(&out)
    );
}

// --- 2. tables count against the memory limit ---------------------------------

fn table() -> PathBuf {
    guest("table/table.wasm")
}

#[test]
fn a_table_cannot_grow_past_the_memory_limit() {
    // 64 M elements: half a gigabyte of host memory, were it let through.
    let out = qyv()
        .args(["run", "--memory", "64MiB"])
        .arg(table())
        .args(["67108864", "1048576"])
        .output()
        .unwrap();
    expect_failure(
        &out,
        137,
        "table.wasm reached the memory limit of 64 MiB (limits.memory) and exited with code 1",
    );
    let said = stdout(&out);
    let stopped: u64 = said
        .trim()
        .strip_prefix("table.grow failed at ")
        .and_then(|s| s.strip_suffix(" elements"))
        .unwrap_or_else(|| panic!("{said}"))
        .parse()
        .unwrap();
    // Each element counts 8 bytes: never more than the limit's worth.
    assert!(stopped * 8 <= 64 << 20, "{stopped}");
    // Within the limit it grows.
    qyv()
        .args(["run", "--memory", "64MiB"])
        .arg(table())
        .args(["1048576", "65536"])
        .assert()
        .success()
        .stdout("table has 1048576 elements\n");
}

#[test]
fn a_manifest_memory_limit_counts_tables_too() {
    let d = tempfile::tempdir().unwrap();
    let m = app(d.path(), &table(), "limits: { memory: 16MiB }\n");
    let out = qyv()
        .arg("run")
        .arg(&m)
        .args(["16777216", "1048576"])
        .output()
        .unwrap();
    expect_failure(
        &out,
        137,
        "reached the memory limit of 16 MiB (limits.memory)",
    );
}

// --- 3. denied name lookups are said, like denied connects ---------------------

#[test]
fn a_lookup_under_net_false_is_reported_with_the_rule_to_add() {
    let server = PongServer::start();
    let a = App::new(&probe_p2(), "permissions: { net: false }\n");
    let out = a.run(&["connect", &format!("localhost:{}", server.port)]);
    expect_failure(
        &out,
        126,
        "qyv: probe.component.wasm was denied network access (look up localhost) by permissions.net and exited with code 1; to allow it, add \"localhost:PORT\" to permissions.net (or pass --allow-net=localhost:PORT); PORT is the port it connects to (* for any)",
    );
    assert_eq!(server.accepted(), 0);
    // A bare component: the same.
    let out = qyv()
        .arg("run")
        .arg(probe_p2())
        .args(["resolve", "localhost"])
        .output()
        .unwrap();
    expect_failure(&out, 126, "(look up localhost)");
}

#[test]
fn a_list_lets_only_its_names_be_looked_up() {
    let server = PongServer::start();
    let a = App::new(
        &probe_p2(),
        &format!("permissions:\n  net: [\"127.0.0.1:{}\"]\n", server.port),
    );
    let out = a.run(&["connect", &format!("localhost:{}", server.port)]);
    expect_failure(&out, 126, "(look up localhost)");
    assert_eq!(server.accepted(), 0);
    let named = App::new(
        &probe_p2(),
        &format!("permissions:\n  net: [\"localhost:{}\"]\n", server.port),
    );
    // Its own name resolves; another does not even reach a resolver.
    let out = named.run(&["resolve", "localhost"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = named.run(&["resolve", "exfiltrated.example"]);
    expect_failure(&out, 126, "(look up exfiltrated.example)");
    assert!(
        stderr(&out).contains("add \"exfiltrated.example:PORT\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_reports_a_denied_lookup_with_the_request() {
    let d = tempfile::tempdir().unwrap();
    fs::copy(http_probe(), d.path().join("http-probe.wasm")).unwrap();
    let m = write(
        d.path(),
        "web.qyv",
        "name: web\nentrypoint: http-probe.wasm\ntype: http\n",
    );
    let server = Served::start(&[m.as_os_str()]);
    let reply = server.get("/resolve/localhost");
    assert_eq!(reply.status, 500, "{reply:?}");
    let line = server
        .stderr()
        .wait_for(|l| l.contains("was denied network access"));
    assert!(line.contains("(look up localhost)"), "{line}");
    assert!(line.contains("\"localhost:PORT\""), "{line}");
}

// --- 4. a path that is not a regular file -------------------------------------

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_manifest_that_is_a_device_or_a_pipe_is_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    let zero = d.path().join("zero.qyv");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = d.path().join("fifo.qyv");
    mkfifo(&fifo);
    for (path, what) in [
        (&zero, "a character device"),
        (&fifo, "a named pipe (FIFO)"),
    ] {
        for command in ["run", "validate", "pack", "inspect"] {
            let out = qyv().arg(command).arg(path).timeout(HANG).output().unwrap();
            let err = stderr(&out);
            assert!(!out.status.success(), "{command} {}: {err}", path.display());
            assert!(
                err.contains(&format!("not a regular file: it is {what}")),
                "{command}: {err}"
            );
        }
    }
}

#[test]
fn a_huge_manifest_is_refused_by_its_size() {
    let d = tempfile::tempdir().unwrap();
    let big = d.path().join("big.qyv");
    fs::write(&big, format!("name: big\n# {}\n", "x".repeat(2 << 20))).unwrap();
    let out = qyv().arg("run").arg(&big).output().unwrap();
    expect_failure(&out, 125, "larger than 1 MiB");
}

#[test]
fn config_keys_and_wasm_that_are_pipes_are_refused() {
    let s = Scratch::new();
    let fifo = s.path("pipe");
    mkfifo(&fifo);
    // The user's config, named by QYVOL_CONFIG.
    let bundle = s.pack(
        &app(&s.path(""), &probe_p1(), "args: [args]\n"),
        "a.qyvbin",
        &[],
    );
    let out = s
        .qyv()
        .env("QYVOL_CONFIG", &fifo)
        .arg("run")
        .arg(&bundle)
        .timeout(HANG)
        .output()
        .unwrap();
    expect_failure(&out, 125, "not a regular file: it is a named pipe (FIFO)");
    // A trusted key.
    let out = s
        .qyv()
        .args(["verify"])
        .arg(&bundle)
        .arg("--key")
        .arg(&fifo)
        .timeout(HANG)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("named pipe"), "{}", stderr(&out));
    // A wasm file, with and without the cache.
    let wasm = s.path("pipe.wasm");
    mkfifo(&wasm);
    for extra in [&[][..], &["--no-cache"][..]] {
        let out = s
            .qyv()
            .arg("run")
            .args(extra)
            .arg(&wasm)
            .timeout(HANG)
            .output()
            .unwrap();
        expect_failure(&out, 125, "not a regular file: it is a named pipe (FIFO)");
    }
    // A node's token.
    fs::create_dir_all(s.path("node")).unwrap();
    mkfifo(&s.path("node/token"));
    let out = s
        .qyv()
        .args(["daemon", "token", "--data-dir"])
        .arg(s.path("node"))
        .timeout(HANG)
        .output()
        .unwrap();
    expect_failure(&out, 125, "named pipe");
    // A node's own certificate.
    let out = s
        .qyv()
        .args(["daemon", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.path("node"))
        .arg("--tls-cert")
        .arg(&fifo)
        .arg("--tls-key")
        .arg(&fifo)
        .timeout(HANG)
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        &format!(
            "TLS: {}: cannot read: not a regular file: it is a named pipe (FIFO)",
            fifo.display()
        ),
    );
}

// --- 6. threads -------------------------------------------------------------------

#[test]
fn a_threaded_module_is_refused_as_threads_not_as_invalid() {
    let threads = guest("threads/threads.wasm");
    for command in ["run", "validate"] {
        let out = qyv().arg(command).arg(&threads).output().unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("threads are not supported"),
            "{command}: {err}"
        );
        assert!(err.contains("wasm32-wasip1-threads"), "{command}: {err}");
        assert!(!err.contains("not valid WebAssembly"), "{command}: {err}");
    }
    let d = tempfile::tempdir().unwrap();
    let m = app(d.path(), &threads, "");
    let out = qyv().arg("run").arg(&m).output().unwrap();
    expect_failure(&out, 125, "app.qyv:2:13: entrypoint: ");
    assert!(
        stderr(&out).contains("threads are not supported"),
        "{}",
        stderr(&out)
    );
}
