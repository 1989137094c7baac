//! `permissions.exec`: apps that start other apps, driven through the C
//! example examples/exec-c (its own child) and the probe guest. Children
//! hold at most what their parent holds, share its limits, and pass their
//! exit statuses through. No assertion depends on timing.

use std::path::{Path, PathBuf};

use crate::common::*;

fn exec_wasm() -> PathBuf {
    example("exec-c/exec.wasm")
}

/// A folder holding exec.wasm (and the probe) mounted read-only at /, and
/// a manifest with `rest` after its permissions' `fs` and `exec`.
fn parent(dir: &Path, exec: &str, rest: &str) -> PathBuf {
    std::fs::copy(exec_wasm(), dir.join("exec.wasm")).unwrap();
    std::fs::copy(probe_p1(), dir.join("probe.wasm")).unwrap();
    std::fs::copy(probe_p2(), dir.join("probe2.wasm")).unwrap();
    write(
        dir,
        "parent.qyv",
        &format!(
            "name: parent\nentrypoint: exec.wasm\npermissions:\n  fs: read\n  exec: {exec}\n{rest}"
        ),
    )
}

fn run(manifest: &Path, args: &[&str]) -> std::process::Output {
    qyv()
        .arg("run")
        .arg(manifest)
        .arg("--")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_example_pipes_one_child_into_another() {
    let m = example("exec-c/exec-c.qyv");
    let out = run(
        &m,
        &[
            "pipe",
            "/exec.wasm",
            "big",
            "100000",
            "--",
            "/exec.wasm",
            "count",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "100000 bytes\n");
}

#[test]
fn large_outputs_flow_through_pipes_without_deadlock() {
    // More than a pipe buffers (16 MiB), so the writer waits for the
    // parent, which waits for the reader, and each goes on.
    let m = example("exec-c/exec-c.qyv");
    let out = run(
        &m,
        &[
            "pipe",
            "/exec.wasm",
            "big",
            "40000000",
            "--",
            "/exec.wasm",
            "count",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "40000000 bytes\n");
}

#[test]
fn exit_statuses_pass_through_and_a_killed_child_reports_143() {
    let m = example("exec-c/exec-c.qyv");
    let out = run(&m, &["run", "/exec.wasm", "exit", "7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let out = run(&m, &["kill", "/exec.wasm", "loop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "killed: status 143\n");
    // A parent that ends without waiting leaves nothing running: qyv ends.
    let out = run(&m, &["leave", "/exec.wasm", "loop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "left it running\n");
}

#[test]
fn a_looping_child_is_stopped_by_its_parents_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let m = parent(dir.path(), "true", "limits:\n  timeout: 500ms\n");
    let out = run(&m, &["run", "/exec.wasm", "loop"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(
        err.contains("exec was stopped by the time limit of 500ms (limits.timeout)"),
        "{err}"
    );
    assert!(
        err.contains("qyv: exec.wasm was stopped by the time limit of 500ms"),
        "{err}"
    );
}

#[test]
fn a_fork_bomb_is_stopped_by_limits_processes() {
    let m = example("exec-c/exec-c.qyv");
    let out = run(&m, &["bomb", "/exec.wasm"]);
    expect_failure(
        &out,
        1,
        "exec: cannot start /exec.wasm: limits.processes: 64 children are running already, the most this app may have at once (children's children count too) (error 3)",
    );
    let dir = tempfile::tempdir().unwrap();
    let m = parent(dir.path(), "true", "limits:\n  processes: 3\n");
    let out = run(&m, &["bomb", "/exec.wasm"]);
    expect_failure(&out, 1, "limits.processes: 3 children are running already");
}

#[test]
fn only_what_permissions_exec_lists_may_start() {
    let dir = tempfile::tempdir().unwrap();
    let m = parent(dir.path(), "[/exec.wasm]", "");
    let out = run(&m, &["run", "/probe.wasm", "exit", "0"]);
    expect_failure(
        &out,
        1,
        "exec: cannot start /probe.wasm: permissions.exec does not allow starting /probe.wasm (it allows [\"/exec.wasm\"]) (error 1)",
    );
    let out = run(&m, &["run", "/exec.wasm", "exit", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn a_child_cannot_open_what_its_parent_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("app");
    std::fs::create_dir(&app_dir).unwrap();
    let secret = write(dir.path(), "secret/key.txt", "hidden\n");
    write(&app_dir, "note.txt", "visible\n");
    let m = parent(&app_dir, "true", "");
    let out = run(&m, &["run", "/exec.wasm", "cat", "/note.txt"]);
    assert_eq!(stdout(&out), "visible\n", "{}", stderr(&out));
    // The child sees the parent's mounts only.
    let out = run(&m, &["run", "/exec.wasm", "cat", "/../secret/key.txt"]);
    expect_failure(&out, 1, "cannot open /../secret/key.txt");
    // A child manifest asking for the folder the parent lacks is refused,
    // naming what it asked for.
    write(
        &app_dir,
        "greedy.qyv",
        &format!(
            "name: greedy\nentrypoint: exec.wasm\npermissions:\n  fs: read\nfs:\n  - {{ source: {}, target: /secret }}\n",
            secret.parent().unwrap().display()
        ),
    );
    let out = run(&m, &["run", "/greedy.qyv", "cat", "/secret/key.txt"]);
    expect_failure(
        &out,
        1,
        &format!(
            "the child asks for a read-only mount of {} at /secret, which its parent does not hold (error 1)",
            secret.parent().unwrap().display()
        ),
    );
    // A child manifest asking for no more than its parent starts.
    write(
        &app_dir,
        "modest.qyv",
        "name: modest\nentrypoint: exec.wasm\npermissions:\n  fs: read\n  exec: [/exec.wasm]\n",
    );
    let out = run(&m, &["run", "/modest.qyv", "cat", "/note.txt"]);
    assert_eq!(stdout(&out), "visible\n", "{}", stderr(&out));
}

#[test]
fn a_child_gets_no_network_its_parent_lacks() {
    let server = PongServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = parent(dir.path(), "true", "");
    let target = format!("127.0.0.1:{}", server.port);
    // A .wasm child (a component: preview-1 has no connect) has the
    // parent's network: none.
    let out = run(&m, &["run", "/probe2.wasm", "connect", &target]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("probe2 was denied network access (connect to 127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.contains("exec: /probe2.wasm ended with status 126"),
        "{err}"
    );
    assert_eq!(server.accepted(), 0);
    // A child manifest asking for network is refused.
    write(
        dir.path(),
        "netty.qyv",
        "name: netty\nentrypoint: probe.wasm\npermissions:\n  net: true\n",
    );
    let out = run(&m, &["run", "/netty.qyv", "connect", &target]);
    expect_failure(
        &out,
        1,
        "the child asks for network access (permissions.net: true), which its parent does not hold (error 1)",
    );
    // And one asking for wider exec than its parent's list.
    let listed = parent(dir.path(), "[/exec.wasm, /execy.qyv]", "");
    write(
        dir.path(),
        "execy.qyv",
        "name: execy\nentrypoint: exec.wasm\npermissions:\n  fs: read\n  exec: true\n",
    );
    let out = run(&listed, &["run", "/execy.qyv", "exit", "0"]);
    expect_failure(
        &out,
        1,
        "the child asks for permissions.exec: true, which its parent does not hold (error 1)",
    );
    assert_eq!(server.accepted(), 0);
}

#[test]
fn a_childs_memory_counts_against_its_parents_limit() {
    let dir = tempfile::tempdir().unwrap();
    let m = parent(dir.path(), "true", "limits:\n  memory: 32MiB\n");
    let out = run(&m, &["run", "/probe.wasm", "alloc", "64"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("probe reached the memory limit of 32 MiB (limits.memory)"),
        "{err}"
    );
    assert!(
        err.contains("exec: /probe.wasm ended with status 137"),
        "{err}"
    );
}

#[test]
fn importing_the_process_interface_without_exec_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = app(dir.path(), &exec_wasm(), "");
    let out = qyv()
        .arg("run")
        .arg(&m)
        .arg("--")
        .args(["exit", "0"])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "it starts other apps (it imports qyvol_process), and its manifest does not grant permissions.exec",
    );
}

#[test]
fn inspect_shows_the_process_imports_and_validate_wants_exec() {
    let out = qyv().arg("inspect").arg(exec_wasm()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("permissions.exec (imports qyvol_process::"),
        "{}",
        stdout(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let m = app(dir.path(), &exec_wasm(), "permissions:\n  fs: read\n");
    let out = qyv().arg("validate").arg(&m).output().unwrap();
    expect_failure(
        &out,
        1,
        "app.qyv:4:3: permissions.exec: the module imports qyvol_process::",
    );
    assert!(stderr(&out).contains("(it starts other apps) but permissions.exec is false"));
    let out = qyv()
        .arg("validate")
        .arg(example("exec-c/exec-c.qyv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_rust_shell_runs_examples_and_refuses_what_asks_for_more() {
    let out = qyv()
        .arg("run")
        .arg(example("exec-rust/shell.qyv"))
        .arg("--")
        .args([
            "/examples/hello-c/hello.wasm",
            "/examples/exec-c/exec.wasm big 5000 | /examples/exec-c/exec.wasm count",
            "/examples/c/c.qyv 0 a",
            "/examples/exec-c/exec.wasm exit 3",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(
        stdout(&out),
        "$ /examples/hello-c/hello.wasm\nHello from C!\n\
         $ /examples/exec-c/exec.wasm big 5000 | /examples/exec-c/exec.wasm count\n5000 bytes\n\
         $ /examples/c/c.qyv 0 a\n[status 127]\n\
         $ /examples/exec-c/exec.wasm exit 3\n[status 3]\n"
    );
    // The contract app writes /output: the shell holds the examples
    // read-only, so it cannot pass that on.
    assert!(
        err.contains("c.qyv: the child asks for a read-write mount of ")
            && err.contains("at /output, which its parent does not hold (error 1)"),
        "{err}"
    );
}
