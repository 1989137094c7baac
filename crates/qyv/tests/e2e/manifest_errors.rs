//! Bad manifests: each gets its exact error (file, line, column, field, what
//! is allowed), exit status 125, and the program never starts.

use crate::common::*;

/// Runs `qyv run app.qyv` in `dir` and returns (status, stderr, stdout).
fn run_in(dir: &std::path::Path) -> (Option<i32>, String, String) {
    let out = qyv()
        .current_dir(dir)
        .args(["run", "app.qyv"])
        .output()
        .unwrap();
    (out.status.code(), stderr(&out), stdout(&out))
}

/// `expected` may name the app's folder as `{dir}`.
fn expect_error(manifest: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(probe_p1(), dir.path().join("probe.wasm")).unwrap();
    write(dir.path(), "app.qyv", manifest);
    let (code, err, out) = run_in(dir.path());
    let expected = expected.replace("{dir}", &dir.path().display().to_string());
    assert_eq!(err, format!("error: {expected}\n"), "manifest:\n{manifest}");
    assert_eq!(code, Some(125));
    assert_eq!(out, "");
}

#[test]
fn malformed_yaml() {
    expect_error(
        "name: app\nentrypoint: probe.wasm\nargs: [a, b\nenv: {}\n",
        "app.qyv:4:4: invalid YAML: illegal placement of ':' indicator",
    );
}

#[test]
fn unknown_field_with_a_suggestion() {
    expect_error(
        "name: app\nentrypont: probe.wasm\n",
        "app.qyv:2:1: unknown field \"entrypont\" (did you mean \"entrypoint\"?); allowed here: name, version, manifest_version, entrypoint, runtime, type, language, args, env, permissions, fs, limits, restart, http, replicas, scheduler, rollout, build, component",
    );
}

#[test]
fn wrong_type() {
    expect_error(
        "name: app\nentrypoint: probe.wasm\nargs: {a: 1}\n",
        "app.qyv:3:7: args: expected a list of strings, got a mapping",
    );
}

#[test]
fn bad_value_with_a_suggestion() {
    expect_error(
        "name: app\nentrypoint: probe.wasm\npermissions:\n  fs: reed\n",
        "app.qyv:4:7: permissions.fs: expected one of none, read, write, full; got \"reed\" (did you mean \"read\"?)",
    );
}

#[test]
fn bad_limit_values() {
    expect_error(
        "name: app\nentrypoint: probe.wasm\nlimits:\n  timeout: 30\n",
        "app.qyv:4:12: limits.timeout: \"30\" has no unit; add a unit, e.g. 30s (use ms, s, m or h, e.g. 500ms, 30s, 1.5s, 5m, 1h)",
    );
}

#[test]
fn missing_entrypoint_field() {
    expect_error(
        "name: app\n",
        "app.qyv: entrypoint: missing; add the path of the .wasm file, e.g. \"entrypoint: app.wasm\"",
    );
}

#[test]
fn entrypoint_file_that_does_not_exist() {
    expect_error(
        "name: app\nentrypoint: nope.wasm\n",
        "app.qyv:2:13: entrypoint: \"nope.wasm\" not found (looked for {dir}/nope.wasm); build the app first, or fix the path (it is relative to the manifest)",
    );
}

#[test]
fn entrypoint_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.wasm", "console.log('hi')\n");
    write(dir.path(), "app.qyv", "name: app\nentrypoint: app.wasm\n");
    let (code, err, _) = run_in(dir.path());
    assert_eq!(code, Some(125));
    assert!(
        err.starts_with("error: app.qyv:2:13: entrypoint: \"app.wasm\" is not a WebAssembly file (it starts with \"console.log('hi'\", which looks like text)"),
        "{err}"
    );
}

#[test]
fn entrypoint_that_is_invalid_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.extend_from_slice(&[0x01, 0x05, 0xff, 0xff, 0xff]);
    std::fs::write(dir.path().join("app.wasm"), bytes).unwrap();
    write(dir.path(), "app.qyv", "name: app\nentrypoint: app.wasm\n");
    let (code, err, _) = run_in(dir.path());
    assert_eq!(code, Some(125));
    assert!(
        err.starts_with("error: app.qyv:2:13: entrypoint: "),
        "{err}"
    );
    assert!(err.contains("is not valid WebAssembly"), "{err}");
}

#[test]
fn features_not_built_yet_are_refused_not_ignored() {
    for (body, field) in [
        ("permissions:\n  ai: true\n", "app.qyv:4:7: permissions.ai"),
        ("type: gui\n", "app.qyv:3:7: type"),
        (
            "permissions: { fs: read }\nfs:\n  - { type: netfs, source: \"https://example.org/d/\", target: /m }\n",
            "app.qyv:5:13: fs[0].type",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(probe_p1(), dir.path().join("probe.wasm")).unwrap();
        write(
            dir.path(),
            "app.qyv",
            &format!("name: app\nentrypoint: probe.wasm\n{body}"),
        );
        let (code, err, out) = run_in(dir.path());
        assert_eq!(code, Some(125), "{err}");
        assert!(err.starts_with(&format!("error: {field}")), "{err}");
        assert!(err.contains("not supported yet"), "{err}");
        assert_eq!(out, "");
    }
}

#[test]
fn cluster_fields_run_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let m = app(
        dir.path(),
        &probe_p1(),
        "replicas: 3\nscheduler: { strategy: spread }\nargs: [exit, \"0\"]\n",
    );
    // Placed at the first of them, as every finding is.
    qyv().arg("run").arg(&m).assert().success().stderr(format!(
        "note: {}:3:11: replicas, scheduler take effect in cluster deploys; `qyv run` runs one instance\n",
        m.display()
    ));
}

/// One answer to "can this start?": a feature not built yet is refused by
/// every command that would start, pack or check the app, with the same
/// message at the same line, and never only noted.
#[test]
fn every_command_refuses_a_feature_not_built_yet_alike() {
    let dir = tempfile::tempdir().unwrap();
    let m = app(
        dir.path(),
        &probe_p1(),
        "permissions:\n  ai: true\nargs: [exit, \"0\"]\n",
    );
    let expected = format!(
        "error: {}:4:7: permissions.ai: AI inference (ai: true) is not supported yet; set it to false\n",
        m.display()
    );
    for (args, code) in [
        (&["run"][..], 125),
        (&["validate"], 1),
        (&["validate", "--for", "pack"], 1),
        (&["validate", "--for", "deploy"], 1),
        (&["pack", "-o", "out.qyvbin"], 125),
    ] {
        let out = qyv()
            .current_dir(dir.path())
            .args(args)
            .arg(&m)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        // Validate adds its notes on the wasm after the error.
        let err = stderr(&out);
        assert!(err.starts_with(&expected), "{args:?}: {err}");
        assert!(
            err.lines().skip(1).all(|l| l.starts_with("note: ")),
            "{args:?}: {err}"
        );
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    assert!(!dir.path().join("out.qyvbin").exists());
    // Served, it is refused the same way (after saying it is not HTTP).
    let out = qyv().arg("serve").arg(&m).output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[test]
fn validate_reports_the_same_errors_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.qyv", "name: App\nentrypoint: x.wasm\n");
    let out = qyv()
        .current_dir(dir.path())
        .args(["validate", "app.qyv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: app.qyv:1:7: name: "),
        "{}",
        stderr(&out)
    );
}
