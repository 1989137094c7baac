//! `qyv sync DIR`: a folder of three apps synced to a cluster, one edited,
//! one removed, synced again with `--prune`; the plan's text and the final
//! state checked; the same folder against a single node.

use super::*;

/// `DIR/NAME/app.qyv`, a service of the probe, with `rest` added.
fn app_in(dir: &Path, name: &str, rest: &str) {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(probe_p1(), sub.join("probe.wasm")).unwrap();
    write(
        &sub,
        "app.qyv",
        &format!("name: {name}\nentrypoint: probe.wasm\n{SERVICE}{rest}"),
    );
}

fn sync(s: &Scratch, args: &[impl AsRef<std::ffi::OsStr>]) -> (i32, String, String) {
    let out = s.qyv().arg("sync").args(args).output().unwrap();
    (out.status.code().unwrap(), stdout(&out), stderr(&out))
}

fn names(s: &Scratch) -> Vec<(String, u64)> {
    let out = s.qyv().args(["cluster", "ps", "--json"]).output().unwrap();
    let apps: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut v: Vec<(String, u64)> = apps
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["revision"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_folder_is_synced_edited_pruned_and_a_second_run_has_nothing_to_do() {
    let nats = Nats::start(1);
    let s = scratch_for(&nats.urls(), None);
    let _node = Node::start(&s, "node1", Some(&nats.urls()), &[]);
    wait_nodes(&s, 1);
    let dir = s.path("site");
    for name in ["api", "web", "worker"] {
        app_in(&dir, name, "version: 1.0.0\n");
    }
    let d = dir.to_str().unwrap();

    let (code, out, err) = sync(&s, &[d]);
    assert_eq!(code, 0, "{out}{err}");
    for name in ["api", "web", "worker"] {
        assert!(out.contains(&format!("  + {name}")), "{out}");
    }
    assert!(
        out.contains("3 to add, 0 to change, 0 to remove, 0 unchanged"),
        "{out}"
    );
    assert_eq!(
        names(&s),
        [("api".into(), 1), ("web".into(), 1), ("worker".into(), 1)]
    );

    // Idempotent.
    let (code, out, _) = sync(&s, &[d]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0 to add, 0 to change, 0 to remove, 3 unchanged"),
        "{out}"
    );
    assert!(
        out.contains("nothing to do: the cluster matches the folder"),
        "{out}"
    );

    // One edited, one gone: a dry run says so and changes nothing.
    app_in(
        &dir,
        "web",
        "version: 1.1.0\nreplicas: 1\nscheduler: {strategy: pack}\n",
    );
    std::fs::remove_dir_all(dir.join("worker")).unwrap();
    let (code, out, _) = sync(&s, &[d, "--dry-run"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("  ~ web"), "{out}");
    assert!(out.contains("(version 1.0.0 → 1.1.0)"), "{out}");
    assert!(out.contains("strategy spread → pack"), "{out}");
    assert!(
        out.contains("  ! worker  not in the folder: kept (--prune removes it)"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing was changed"), "{out}");
    assert_eq!(names(&s).len(), 3);

    let (code, out, err) = sync(&s, &[d, "--prune"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("  = api     unchanged"), "{out}");
    assert!(
        out.contains("  - worker  removed (not in the folder)"),
        "{out}"
    );
    assert!(
        out.contains("0 to add, 1 to change, 1 to remove, 1 unchanged"),
        "{out}"
    );
    assert_eq!(names(&s), [("api".into(), 1), ("web".into(), 2)]);

    let (code, out, _) = sync(&s, &[d, "--prune"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to do"), "{out}");

    // Two manifests of one app: refused, nothing changed.
    std::fs::copy(probe_p1(), dir.join("probe.wasm")).unwrap();
    write(
        &dir,
        "api.qyv",
        &format!("name: api\nentrypoint: probe.wasm\n{SERVICE}version: 9.0.0\n"),
    );
    let (code, out, err) = sync(&s, &[d]);
    assert_eq!(code, 125, "{out}{err}");
    assert!(err.contains("app api is in"), "{err}");
    assert!(err.contains("keep one; nothing was changed"), "{err}");
}

#[test]
fn a_folder_is_synced_to_a_single_node_too() {
    let s = Scratch::new();
    let node = Node::start(&s, "solo", None, &[]);
    let dir = s.path("site");
    for name in ["one", "two"] {
        app_in(&dir, name, "");
    }
    let d = dir.to_str().unwrap();
    let flags = [
        "--node",
        node.url.as_str(),
        "--token",
        node.token.as_str(),
        "--fingerprint",
        node.fingerprint.as_str(),
    ];
    let with = |extra: &[&'static str]| -> Vec<String> {
        let mut v = vec![d.to_string()];
        v.extend(extra.iter().map(|e| e.to_string()));
        v.extend(flags.iter().map(|f| f.to_string()));
        v
    };
    let (code, out, err) = sync(&s, &with(&[]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("plan for the node at"), "{out}");
    assert!(out.contains("2 to add"), "{out}");
    assert_eq!(node.local_apps(&s).len(), 2);
    std::fs::remove_dir_all(dir.join("two")).unwrap();
    let (code, out, _) = sync(&s, &with(&["--prune"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("  - two  removed"), "{out}");
    let (code, out, _) = sync(&s, &with(&["--prune"]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("nothing to do: the node matches the folder"),
        "{out}"
    );
    assert_eq!(node.local_apps(&s).len(), 1);
}
