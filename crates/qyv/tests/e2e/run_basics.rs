//! Arguments, environment, stdio and exit codes, for core modules and
//! components alike.

use crate::common::*;

#[test]
fn a_bare_module_gets_its_file_name_as_argv0_then_the_args() {
    let wasm = probe_p1();
    let out = qyv()
        .arg("run")
        .arg(&wasm)
        .args(["args", "a b", "--flag"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "arg[0]=probe.wasm\narg[1]=args\narg[2]=a b\narg[3]=--flag\n"
    );
    assert!(out.status.success());
}

#[test]
fn manifest_args_come_first_then_the_command_line_ones() {
    for wasm in [probe_p1(), probe_p2()] {
        let dir = tempfile::tempdir().unwrap();
        let m = app(dir.path(), &wasm, "args: [args, from-manifest, 42]\n");
        qyv()
            .arg("run")
            .arg(&m)
            .args(["--", "from-cli"])
            .assert()
            .success()
            .stdout(
                "arg[0]=probe-app\narg[1]=args\narg[2]=from-manifest\narg[3]=42\narg[4]=from-cli\n",
            );
    }
}

#[test]
fn the_guest_sees_only_the_environment_it_is_given() {
    for wasm in [probe_p1(), probe_p2()] {
        let dir = tempfile::tempdir().unwrap();
        let m = app(
            dir.path(),
            &wasm,
            "args: [env]\nenv:\n  GREETING: hola\n  EMPTY: \"\"\n",
        );
        qyv()
            .env("QYV_HOST_SECRET", "leaked")
            .arg("run")
            .args(["--env", "EXTRA=1", "--env", "GREETING=hello"])
            .arg(&m)
            .assert()
            .success()
            .stdout("EMPTY=\nEXTRA=1\nGREETING=hello\n");
    }
}

#[test]
fn env_name_alone_copies_the_host_value() {
    qyv()
        .env("QYV_SHARED", "from host")
        .arg("run")
        .args(["--env", "QYV_SHARED", "--env", "QYV_NOT_SET_ANYWHERE"])
        .arg(probe_p1())
        .args(["env"])
        .assert()
        .success()
        .stdout("QYV_SHARED=from host\n");
}

#[test]
fn a_bare_module_has_no_environment() {
    qyv()
        .env("QYV_HOST_SECRET", "leaked")
        .arg("run")
        .arg(probe_p1())
        .arg("env")
        .assert()
        .success()
        .stdout("");
}

#[test]
fn a_core_module_keeps_its_exit_code() {
    qyv()
        .arg("run")
        .arg(probe_p1())
        .args(["exit", "7"])
        .assert()
        .code(7)
        .stdout("exiting with 7\n")
        .stderr("");
}

#[test]
fn a_component_exit_code_is_reported() {
    // Rust's wasm32-wasip2 std reports a non-zero exit as plain failure
    // (wasi:cli/exit.exit(err)), which carries no code: 1 is all there is.
    qyv()
        .arg("run")
        .arg(probe_p2())
        .args(["exit", "7"])
        .assert()
        .code(1)
        .stdout("exiting with 7\n");
    qyv()
        .arg("run")
        .arg(probe_p2())
        .args(["exit", "0"])
        .assert()
        .code(0);
}

#[test]
fn stdin_and_stderr_are_the_terminal_s() {
    for wasm in [probe_p1(), probe_p2()] {
        qyv()
            .arg("run")
            .arg(&wasm)
            .arg("stdin")
            .write_stdin("line one\nline two\n")
            .assert()
            .success()
            .stdout("line one\nline two\n");
        qyv()
            .arg("run")
            .arg(&wasm)
            .args(["stderr", "to stderr"])
            .assert()
            .success()
            .stdout("")
            .stderr("to stderr\n");
    }
}

#[test]
fn a_trap_prints_the_reason_and_a_named_backtrace() {
    for wasm in [probe_p1(), probe_p2()] {
        let out = qyv().arg("run").arg(&wasm).arg("trap").output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(134), "{err}");
        let first = err.lines().next().unwrap();
        let name = wasm.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            first,
            format!("qyv: {name} trapped: wasm `unreachable` instruction executed")
        );
        assert!(err.contains("wasm backtrace:"), "{err}");
        assert!(err.contains("trap_here"), "{err}");
    }
}

#[test]
fn metrics_go_to_stderr_as_text_or_one_json_object() {
    let out = qyv()
        .arg("run")
        .arg("--metrics=json")
        .arg(probe_p1())
        .args(["exit", "3"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "exiting with 3\n");
    let json: serde_json::Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(json["exit_code"], 3);
    assert!(json["peak_memory_bytes"].as_u64().unwrap() >= 65536);
    for key in ["read_ms", "code_ms", "instantiate_ms", "run_ms", "total_ms"] {
        assert!(json[key].as_f64().is_some(), "{key}");
    }
    let text = qyv()
        .arg("run")
        .arg("--metrics")
        .arg(probe_p2())
        .arg("args")
        .output()
        .unwrap();
    let err = stderr(&text);
    assert!(err.starts_with("qyv metrics:"), "{err}");
    assert!(err.contains("peak memory"), "{err}");
}

#[test]
fn usage_errors_exit_125_and_help_exits_0() {
    qyv()
        .args(["run", "--memory", "lots", "x.wasm"])
        .assert()
        .code(125);
    qyv().args(["run", "--help"]).assert().success();
    qyv()
        .args(["run", "no-such-file.wasm"])
        .assert()
        .code(125)
        .stderr("error: no-such-file.wasm: no such file or folder\n");
}
