//! memfs mounts on a node: apps run as tasks of the node (async WASI), a C
//! preview-1 module and a Rust component, each with its /tmp in memory.

use super::*;

#[test]
fn apps_on_a_node_get_their_memfs() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    for (wasm, name) in [
        ("memfs-c.wasm", "memfs-c"),
        ("memfs-rust.wasm", "memfs-rust"),
    ] {
        let dir = s.path(&format!("apps/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(example(&format!("memfs/{wasm}")), dir.join(wasm)).unwrap();
        let manifest = write(
            &dir,
            "app.qyv",
            &format!(
                "name: {name}\nentrypoint: {wasm}\npermissions: {{ fs: write }}\nfs:\n  - {{ type: memfs, target: /tmp, size: 1MiB, mode: write }}\n"
            ),
        );
        let out = node.qyv().arg("deploy").arg(&manifest).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stdout(&out).contains("exited with code 0"),
            "{name}: {}",
            stdout(&out)
        );
        let out = node.qyv().args(["logs", name]).output().unwrap();
        assert!(
            stdout(&out).contains("memfs check: ok"),
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}
