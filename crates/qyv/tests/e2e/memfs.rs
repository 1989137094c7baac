//! `type: memfs` mounts: real programs (C through preview 1, Rust as a
//! WASI 0.2 component, both in examples/memfs/) doing what programs do with
//! scratch space, the size cap, seeds, read-only mounts, and what is
//! refused. The manifest errors are golden files
//! (tests/golden/manifest-errors/memfs-*).

use crate::common::*;

/// A folder with a copy of `wasm` and a manifest whose body is `rest`; the
/// run must leave nothing else in it.
fn memfs_app(wasm: &str, rest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    app(dir.path(), &example(&format!("memfs/{wasm}")), rest);
    dir
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const SCRATCH: &str =
    "permissions: { fs: write }\nfs:\n  - { type: memfs, target: /tmp, size: 1MiB, mode: write }\n";

#[test]
fn a_preview1_program_gets_scratch_space_in_memory() {
    let dir = memfs_app("memfs-c.wasm", SCRATCH);
    let out = qyv()
        .arg("run")
        .arg(dir.path().join("app.qyv"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("names: Mid a alpha log zeta"), "{text}");
    assert!(text.contains("memfs check: ok"), "{text}");
    // Nothing reached the host's disk.
    assert_eq!(names_in(dir.path()), ["app.qyv", "memfs-c.wasm"]);
}

#[test]
fn a_component_gets_scratch_space_in_memory() {
    let dir = memfs_app("memfs-rust.wasm", SCRATCH);
    let out = qyv()
        .arg("run")
        .arg(dir.path().join("app.qyv"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("names: Mid alpha log zeta"), "{text}");
    assert!(text.contains("memfs check: ok"), "{text}");
    assert_eq!(names_in(dir.path()), ["app.qyv", "memfs-rust.wasm"]);
}

#[test]
fn the_size_is_a_hard_cap() {
    // 1 MiB less the root's and the file's 128 bytes and its name: 255
    // whole 4 KiB blocks fit.
    let dir = memfs_app("memfs-c.wasm", SCRATCH);
    let out = qyv()
        .arg("run")
        .arg(dir.path().join("app.qyv"))
        .args(["--", "fill"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("wrote 1044480 bytes, then: No space left on device"),
        "{text}"
    );
    assert!(text.contains("after unlink: room again"), "{text}");

    let dir = memfs_app("memfs-rust.wasm", SCRATCH);
    let out = qyv()
        .arg("run")
        .arg(dir.path().join("app.qyv"))
        .args(["--", "fill"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("wrote 1044480 bytes, then:"), "{text}");
}

#[test]
fn a_seed_is_copied_in_and_the_host_folder_never_changes() {
    let dir = memfs_app(
        "memfs-c.wasm",
        "args: [seed]\npermissions: { fs: write }\nfs:\n  - { type: memfs, target: /tmp, source: ./seed, size: 64KiB, mode: write }\n",
    );
    write(dir.path(), "seed/hello.txt", "hello from the seed\n");
    write(dir.path(), "seed/docs/b.txt", "b\n");
    write(dir.path(), "seed/docs/a.txt", "a\n");
    for _ in 0..2 {
        // Each run starts from the seed again.
        let out = qyv()
            .arg("run")
            .arg(dir.path().join("app.qyv"))
            .output()
            .unwrap();
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
        assert_eq!(
            text,
            "hello.txt: hello from the seed\ndocs/a.txt\ndocs/b.txt\nnow: changed\n"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("seed/hello.txt")).unwrap(),
        "hello from the seed\n"
    );
}

#[test]
fn a_read_only_memfs_refuses_every_change() {
    let out = qyv()
        .arg("run")
        .arg(example("memfs/memfs-seed.qyv"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert_eq!(
        text,
        "read: hello from the seed\ncreate: Read-only file system\nmkdir: Read-only file system\n"
    );
}

#[test]
fn a_seed_larger_than_the_size_is_a_start_error() {
    let dir = memfs_app(
        "memfs-c.wasm",
        "permissions: { fs: read }\nfs:\n  - { type: memfs, target: /tmp, source: ./seed, size: 64KiB }\n",
    );
    write(dir.path(), "seed/big", &"x".repeat(70_000));
    let out = qyv()
        .arg("run")
        .arg(dir.path().join("app.qyv"))
        .output()
        .unwrap();
    expect_failure(&out, 125, "does not fit in size 65536 bytes");
}

#[test]
fn memfs_beside_a_host_folder_is_not_supported_yet() {
    let dir = memfs_app(
        "memfs-c.wasm",
        "permissions: { fs: read }\nfs:\n  - { source: ., target: /app }\n  - { type: memfs, target: /tmp, size: 1MiB }\n",
    );
    let out = qyv()
        .arg("run")
        .arg(dir.path().join("app.qyv"))
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "fs: a memfs mount beside host folder mounts in one app is not supported yet; give the memfs the files the app reads as its source:",
    );
}

#[test]
fn qyv_serve_gives_each_instance_its_own_memfs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(http_probe(), dir.path().join("http-probe.wasm")).unwrap();
    let mounts = "permissions: { fs: write }\nfs:\n  - { type: memfs, target: /tmp, size: 1MiB, mode: write }\n";
    let fresh = write(
        dir.path(),
        "fresh.qyv",
        &format!(
            "name: fresh\nentrypoint: http-probe.wasm\ntype: http\nhttp: {{ route: /fresh }}\nenv: {{ ROUTE: /fresh }}\n{mounts}"
        ),
    );
    let reused = write(
        dir.path(),
        "reused.qyv",
        &format!(
            "name: reused\nentrypoint: http-probe.wasm\ntype: http\nhttp: {{ route: /reused, reuse: 2, concurrency: 1 }}\nenv: {{ ROUTE: /reused }}\n{mounts}"
        ),
    );
    let server = Served::start(&[fresh.as_os_str(), reused.as_os_str()]);
    // A fresh instance per request: each sees only what it wrote.
    for text in ["a", "b"] {
        let reply = server.get(&format!("/fresh/append/{text}"));
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, &*format!("{text}\n"))
        );
    }
    // One instance for two requests: the second sees the first's file.
    let bodies: Vec<String> = ["x", "y", "z"]
        .iter()
        .map(|t| server.get(&format!("/reused/append/{t}")).body)
        .collect();
    assert_eq!(bodies, ["x\n", "xy\n", "z\n"]);
    assert_eq!(
        names_in(dir.path()),
        ["fresh.qyv", "http-probe.wasm", "reused.qyv"]
    );
}

#[test]
fn a_bundle_seeds_its_memfs_from_its_own_files() {
    let scratch = Scratch::new();
    let dir = scratch.path("app");
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = app(
        &dir,
        &example("memfs/memfs-rust.wasm"),
        "args: [seed]\npermissions: { fs: write }\nfs:\n  - { type: memfs, target: /tmp, source: ./seed, size: 1MiB, mode: write }\n",
    );
    write(&dir, "seed/hello.txt", "from the bundle\n");
    let bundle = scratch.pack(&manifest, "app.qyvbin", &[]);
    // The host's folder is gone: the seed can only come from the bundle.
    std::fs::remove_dir_all(&dir).unwrap();
    let out = scratch.qyv().arg("run").arg(&bundle).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert_eq!(text, "hello.txt: from the bundle\nmemfs check: ok\n");
}
