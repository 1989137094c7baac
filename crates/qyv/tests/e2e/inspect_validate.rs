//! `qyv inspect`, `qyv validate` and `qyv schema`.

use crate::common::*;

#[test]
fn inspect_a_component_shows_wit_names() {
    let out = qyv()
        .args(["inspect", "--json"])
        .arg(example("hello/hello.component.wasm"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "component");
    assert_eq!(v["world"], "wasi:cli/command");
    assert!(v["wasi_version"].as_str().unwrap().starts_with("0.2"));
    let exports: Vec<&str> = v["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2")),
        "{exports:?}"
    );
    assert!(v["size"].as_u64().unwrap() > 0);
}

#[test]
fn inspect_a_core_module_in_text() {
    let out = qyv()
        .arg("inspect")
        .arg(example("hello-c/hello.wasm"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success());
    assert!(text.contains("kind:    core module\n"), "{text}");
    assert!(
        text.contains("wasi:    preview 1 (wasi_snapshot_preview1)\n"),
        "{text}"
    );
    assert!(text.contains("world:   command\n"), "{text}");
    assert!(text.contains("wasi_snapshot_preview1::fd_write"), "{text}");
}

#[test]
fn inspect_names_the_permissions_a_module_can_use() {
    let out = qyv()
        .args(["inspect", "--json"])
        .arg(probe_p2())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let needs: Vec<&str> = v["needs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["permission"].as_str().unwrap())
        .collect();
    assert_eq!(needs, ["permissions.fs", "permissions.net"]);
}

#[test]
fn inspect_refuses_a_file_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "notes.wasm", "just some text\n");
    qyv()
        .arg("inspect")
        .arg(&f)
        .assert()
        .code(125)
        .stderr(format!(
            "error: {} is not a WebAssembly file (it starts with the text \"just some text\\n\")\n",
            f.display()
        ));
}

#[test]
fn validate_notes_sockets_imported_without_net() {
    let dir = tempfile::tempdir().unwrap();
    let m = app(dir.path(), &probe_p2(), "permissions:\n  net: false\n");
    let out = qyv().arg("validate").arg(&m).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("note: "), "{err}");
    assert!(
        err.contains("app.qyv:4:8: permissions.net: the module imports wasi:sockets/"),
        "{err}"
    );
    assert!(
        err.contains("but permissions.net is false: every connection"),
        "{err}"
    );
    let ok = app(dir.path(), &probe_p2(), "permissions:\n  net: true\n");
    let out = qyv().arg("validate").arg(&ok).output().unwrap();
    assert!(out.status.success());
    assert!(
        !stderr(&out).contains("permissions.net"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn validate_finds_invalid_wasm_and_points_at_the_entrypoint_line() {
    let dir = tempfile::tempdir().unwrap();
    // A valid header followed by a function body that does not type-check.
    let bad = wat::parse_str("(module (func i32.add drop))").unwrap();
    std::fs::write(dir.path().join("bad.wasm"), bad).unwrap();
    let m = write(dir.path(), "app.qyv", "name: bad\nentrypoint: bad.wasm\n");
    let out = qyv().arg("validate").arg(&m).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("app.qyv:2:13: entrypoint:"), "{err}");
    assert!(err.contains("is not valid WebAssembly"), "{err}");
}

#[test]
fn validate_a_bare_wasm() {
    qyv()
        .arg("validate")
        .arg(example("hello-c/hello.wasm"))
        .assert()
        .success()
        .stdout(predicates::str::starts_with("ok: "));
}

/// `qyv validate` answers for one command (`--for`; by default the one
/// that starts the app's type), exactly as that command would.
#[test]
fn validate_checks_for_the_command_that_would_start_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let json = |args: &[&str], m: &std::path::Path| {
        let out = qyv()
            .arg("validate")
            .args(args)
            .arg("--json")
            .arg(m)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), v)
    };

    // An HTTP app is checked for serve; run refuses it, and says so.
    let web = app(dir.path(), &http_probe(), "type: http\n");
    let (code, v) = json(&[], &web);
    assert_eq!(
        (code, &v["purpose"], &v["valid"]),
        (Some(0), &"serve".into(), &true.into()),
        "{v}"
    );
    let out = qyv()
        .args(["validate", "--for", "run"])
        .arg(&web)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // Validate says everything it found; the error comes first.
    assert!(
        stderr(&out).starts_with(&format!(
            "error: {}:3:7: type: this is an HTTP app: serve it with `qyv serve {}`\n",
            web.display(),
            web.display()
        )),
        "{}",
        stderr(&out)
    );

    // A command is not served, and its wasm is no HTTP handler either.
    let command = app(dir.path(), &probe_p2(), "permissions: {net: true}\n");
    let (code, v) = json(&["--for", "serve"], &command);
    assert_eq!(code, Some(1), "{v}");
    let errors: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(
        errors[0],
        format!(
            "{}: type: qyv serve serves type: http apps, and this one is type: command; run it with `qyv run {}`, or set type: http if it is a wasi:http handler",
            command.display(),
            command.display()
        )
    );
    assert!(
        errors[1].contains("entrypoint: probe.component.wasm is not an HTTP handler: it does not export wasi:http/incoming-handler (it exports wasi:cli/run@"),
        "{errors:?}"
    );
    let (code, v) = json(&[], &command);
    assert_eq!((code, &v["purpose"]), (Some(0), &"run".into()), "{v}");

    // Writable mounts run, but a bundle cannot carry them: pack and
    // validate --for pack say the same.
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    let writes = app(
        dir.path(),
        &probe_p1(),
        "permissions: {fs: write}\nfs: [{source: ./out, target: /out, mode: write}]\n",
    );
    qyv().arg("validate").arg(&writes).assert().success();
    let expected = format!(
        "error: {}:4:42: fs[0].mode: a bundle's files are read-only; use mode: read; give the app a writable folder when it runs (qyv run --dir HOST::GUEST)\n",
        writes.display()
    );
    for args in [
        &["validate", "--for", "pack"][..],
        &["pack", "-o", "/dev/null"],
    ] {
        let out = qyv().args(args).arg(&writes).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(stderr(&out), expected, "{args:?}");
    }

    // The whole host file system: a warning where it runs, an error where
    // it is deployed.
    let full = app(dir.path(), &probe_p1(), "permissions: {fs: full}\n");
    let (code, v) = json(&[], &full);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1, "{v}");
    assert!(
        v["warnings"][0].as_str().unwrap().contains(
            "permissions.fs is full: the app can read and write the whole host file system"
        ),
        "{v}"
    );
    let (code, v) = json(&["--for", "deploy"], &full);
    assert_eq!((code, &v["valid"]), (Some(1), &false.into()), "{v}");
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .contains("which a bundle cannot carry"),
        "{v}"
    );
}

#[test]
fn validate_a_bare_wasm_for_a_purpose() {
    let hello = example("hello-c/hello.wasm");
    let out = qyv()
        .args(["validate", "--for", "serve"])
        .arg(&hello)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("hello.wasm is not an HTTP handler: it is a WASI preview 1 core module"),
        "{}",
        stderr(&out)
    );
    qyv()
        .args(["validate", "--for", "serve"])
        .arg(http_probe())
        .assert()
        .success();
    let out = qyv()
        .args(["validate", "--for", "pack"])
        .arg(&hello)
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "a bare .wasm is not packed or deployed: write a .qyv manifest for it",
    );
}

#[test]
fn schema_is_json_with_the_manifest_fields() {
    let out = qyv().arg("schema").output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let props = v["properties"].as_object().unwrap();
    for field in [
        "name",
        "entrypoint",
        "permissions",
        "fs",
        "limits",
        "env",
        "args",
    ] {
        assert!(props.contains_key(field), "{field}");
    }
    assert_eq!(v["additionalProperties"], false);
}
