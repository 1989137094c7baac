//! What a node grants apps that are not its operator's own: its default
//! limits, its maxima, and limits that contradict each other.

use super::*;

#[test]
fn a_node_applies_its_default_limits_and_refuses_more_than_its_maxima() {
    let s = Scratch::new();
    let node = s.daemon(
        &[
            "--http",
            "127.0.0.1:0",
            "--default-memory",
            "64MiB",
            "--max-memory",
            "128MiB",
            "--default-timeout",
            "2s",
            "--max-instances",
            "4",
        ],
        None,
    );
    let limits = node
        .banner
        .iter()
        .find(|l| l.trim_start().starts_with("limits"))
        .unwrap_or_else(|| panic!("{:?}", node.banner));
    assert!(
        limits.contains(
            "memory 64 MiB by default, at most 128 MiB; timeout 2s by default (commands, each HTTP request); at most 4 instances of an app"
        ),
        "{limits}"
    );

    // Asking for more than the node allows: refused, nothing stored.
    let greedy = s.app(
        "greedy",
        "greedy",
        "args: [args]\nlimits: { memory: 1GiB }\n",
    );
    let out = node.qyv().arg("deploy").arg(&greedy).output().unwrap();
    expect_failure(
        &out,
        125,
        "limits.memory is 1 GiB, and this node allows an app at most 128 MiB",
    );
    let wide = s.http_app("wide", "wide", "/wide", "hi");
    let text = std::fs::read_to_string(&wide).unwrap();
    let text = text.replace("  route: /wide\n", "  route: /wide\n  concurrency: 10\n");
    std::fs::write(&wide, text).unwrap();
    let out = node.qyv().arg("deploy").arg(&wide).output().unwrap();
    expect_failure(
        &out,
        125,
        "http.concurrency is 10, and this node runs at most 4 instances of an app at once",
    );
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    assert!(node.apps().is_empty());

    // An app that says nothing gets the defaults: memory, then time.
    let hungry = s.app("hungry", "hungry", "args: [alloc, \"512\"]\n");
    let out = node.qyv().arg("deploy").arg(&hungry).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("reached the memory limit of 64 MiB (limits.memory)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(node.app("hungry")["exit_code"], 137);
    let endless = s.app("endless", "endless", "args: [loop]\n");
    let out = node.qyv().arg("deploy").arg(&endless).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(node.app("endless")["exit_code"], 124);

    // Tables count against it on a node as in qyv run.
    let dir = s.path("apps/table");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(guest("table/table.wasm"), dir.join("table.wasm")).unwrap();
    let table = write(
        &dir,
        "app.qyv",
        "name: table\nentrypoint: table.wasm\nargs: [\"67108864\", \"1048576\"]\n",
    );
    let out = node.qyv().arg("deploy").arg(&table).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(node.app("table")["exit_code"], 137);
}

#[test]
fn a_node_refuses_limits_that_contradict_each_other() {
    let s = Scratch::new();
    let out = s
        .qyv()
        .args(["daemon", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.data())
        .args(["--default-memory", "1GiB", "--max-memory", "512MiB"])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "--default-memory, --max-memory: the default memory (1 GiB) is above the maximum (512 MiB)",
    );
}
