//! The node's `--apps-dir`: manifests in it are deployed, removed ones go,
//! and a manifest there names only files of its own folder.

use super::*;

#[test]
fn the_apps_dir_deploys_its_manifests_and_removes_what_goes() {
    let s = Scratch::new();
    let manifest = s.app("boot", "booted", SERVICE);
    let apps_dir = s.path("apps.d");
    std::fs::create_dir_all(&apps_dir).unwrap();
    // A manifest in the folder names its wasm relative to itself.
    std::fs::copy(probe_p1(), apps_dir.join("probe.wasm")).unwrap();
    std::fs::copy(&manifest, apps_dir.join("booted.qyv")).unwrap();
    let node = s.daemon(&["--apps-dir", apps_dir.to_str().unwrap()], None);
    node.expect("deployed as booted revision 1");
    assert_eq!(node.settled("booted", 1)["state"], "running");
    assert!(
        node.app("booted")["source"]
            .as_str()
            .unwrap()
            .starts_with("apps-dir:"),
    );

    // A change deploys again.
    let text = std::fs::read_to_string(apps_dir.join("booted.qyv")).unwrap();
    std::fs::write(
        apps_dir.join("booted.qyv"),
        format!("{text}version: \"2.0.0\"\n"),
    )
    .unwrap();
    node.expect("deployed as booted revision 2");
    assert_eq!(node.app("booted")["version"], "2.0.0");

    // A broken manifest is said, and changes nothing.
    write(&apps_dir, "broken.qyv", "name: broken\nentrypoint: [\n");
    node.expect("broken.qyv");
    assert_eq!(node.apps().len(), 1);

    std::fs::remove_file(apps_dir.join("booted.qyv")).unwrap();
    node.expect("removed booted");
    assert!(node.apps().is_empty());
}

#[test]
fn apps_dir_manifests_name_only_files_of_their_own_folder() {
    let s = Scratch::new();
    let apps_dir = s.path("apps.d");
    let elsewhere = s.path("elsewhere");
    std::fs::create_dir_all(&apps_dir).unwrap();
    std::fs::create_dir_all(elsewhere.join("secrets")).unwrap();
    std::fs::copy(probe_p1(), elsewhere.join("probe.wasm")).unwrap();
    write(&elsewhere.join("secrets"), "key.txt", "private\n");
    write(
        &apps_dir,
        "far.qyv",
        &format!(
            "name: far\nentrypoint: {}\nargs: [args]\n",
            elsewhere.join("probe.wasm").display()
        ),
    );
    std::fs::copy(probe_p1(), apps_dir.join("probe.wasm")).unwrap();
    write(
        &apps_dir,
        "peek.qyv",
        "name: peek\nentrypoint: probe.wasm\nargs: [cat, /s/key.txt]\npermissions: { fs: read }\nfs: [{ source: ../elsewhere/secrets, target: /s }]\n",
    );
    // A pipe among the manifests is named, not passed over.
    let status = Command::new("mkfifo")
        .arg(apps_dir.join("pipe.qyv"))
        .status()
        .unwrap();
    assert!(status.success());
    let node = s.daemon(&["--apps-dir", apps_dir.to_str().unwrap()], None);
    let line = node.expect("far.qyv");
    assert!(line.contains("entrypoint: "), "{line}");
    assert!(line.contains("outside the manifest's folder"), "{line}");
    let line = node.expect("peek.qyv");
    assert!(
        line.contains("fs[0].source: \"../elsewhere/secrets\""),
        "{line}"
    );
    let line = node.expect("pipe.qyv");
    assert!(
        line.contains("not a regular file: it is a named pipe (FIFO)"),
        "{line}"
    );
    assert!(node.apps().is_empty());
    drop(node);

    // A folder the node allows may be named.
    let node = s.daemon(
        &[
            "--apps-dir",
            apps_dir.to_str().unwrap(),
            "--allow-path",
            elsewhere.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        node.banner
            .iter()
            .any(|l| l.contains("apps-dir may name files in")),
        "{:?}",
        node.banner
    );
    node.expect("deployed as far revision 1");
    node.expect("deployed as peek revision 1");
    assert_eq!(node.settled("peek", 1)["state"], "completed");
    let out = node.qyv().args(["logs", "peek"]).output().unwrap();
    assert!(stdout(&out).contains("private"), "{}", stdout(&out));
}
