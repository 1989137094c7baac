//! Every example in examples/ runs through `qyv` and prints exactly what it
//! should.

use crate::common::*;

/// (folder, manifest, exact stdout)
const EXAMPLES: &[(&str, &str, &str)] = &[
    ("hello", "hello.qyv", "¡Hola desde Rust!\n"),
    ("hello-go", "hello-go.qyv", "Hello from Go!\n"),
    ("hello-c", "hello-c.qyv", "Hello from C!\n"),
    (
        "memfs",
        "memfs-seed.qyv",
        "read: hello from the seed\ncreate: Read-only file system\nmkdir: Read-only file system\n",
    ),
];

#[test]
fn each_example_prints_its_greeting() {
    for (dir, manifest, expected) in EXAMPLES {
        let out = qyv()
            .arg("run")
            .arg(example(&format!("{dir}/{manifest}")))
            .output()
            .unwrap();
        assert_eq!(stdout(&out), *expected, "{dir}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{dir}");
        assert_eq!(out.status.code(), Some(0), "{dir}");
    }
}

#[test]
fn a_folder_with_one_manifest_runs_it() {
    qyv()
        .arg("run")
        .arg(example("hello"))
        .assert()
        .success()
        .stdout("¡Hola desde Rust!\n");
}

#[test]
fn every_example_folder_is_covered_by_a_test() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let has_manifest = std::fs::read_dir(entry.path())
            .unwrap()
            .any(|f| f.unwrap().path().extension().is_some_and(|e| e == "qyv"));
        if has_manifest {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    for name in &found {
        assert!(
            EXAMPLES.iter().any(|(d, _, _)| d == name)
                || CONTRACT_APPS.iter().any(|(d, _, _)| d == name)
                || HTTP_EXAMPLES.iter().any(|(d, ..)| d == name)
                // Apps that start other apps: run by tests/e2e/exec.rs.
                || ["exec-c", "exec-rust"].contains(&name.as_str()),
            "examples/{name} has no end-to-end test: add it to EXAMPLES, CONTRACT_APPS or HTTP_EXAMPLES (tests/e2e/common)"
        );
    }
}

#[test]
fn every_example_validates() {
    let manifests = EXAMPLES
        .iter()
        .map(|(dir, manifest, _)| format!("{dir}/{manifest}"))
        .chain(
            CONTRACT_APPS
                .iter()
                .map(|(dir, ..)| format!("{dir}/{dir}.qyv")),
        )
        .chain(
            HTTP_EXAMPLES
                .iter()
                .map(|(dir, manifest, ..)| format!("{dir}/{manifest}")),
        );
    for manifest in manifests {
        let out = qyv()
            .arg("validate")
            .arg(example(&manifest))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "qyv validate {manifest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
