//! `qyv inspect`, `qyv validate` and `qyv schema`.

mod common;

use common::*;

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
