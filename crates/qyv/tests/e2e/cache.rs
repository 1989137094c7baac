//! The compiled-code cache through the binary: a hit after the first run, a
//! damaged entry rebuilt, concurrent runs, and `qyv cache`.

use std::path::{Path, PathBuf};

use crate::common::*;

fn code_source(cache: &Path, wasm: &Path) -> String {
    let out = qyv_with_cache(cache)
        .arg("run")
        .arg("--metrics=json")
        .arg(wasm)
        .arg("args")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let metrics: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    metrics["code_source"].as_str().unwrap().to_string()
}

fn artifacts(cache: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![cache.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "cwasm") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn the_second_run_is_a_cache_hit() {
    for wasm in [probe_p1(), probe_p2()] {
        let cache = tempfile::tempdir().unwrap();
        assert_eq!(code_source(cache.path(), &wasm), "compiled");
        assert_eq!(code_source(cache.path(), &wasm), "cache_hit");
        assert_eq!(artifacts(cache.path()).len(), 1);
    }
}

#[test]
fn no_cache_neither_reads_nor_writes_it() {
    let cache = tempfile::tempdir().unwrap();
    let out = qyv_with_cache(cache.path())
        .args(["run", "--no-cache", "--metrics=json"])
        .arg(probe_p1())
        .arg("args")
        .output()
        .unwrap();
    assert!(stderr(&out).contains("\"compiled_uncached\""));
    assert!(artifacts(cache.path()).is_empty());
}

#[test]
fn a_corrupted_entry_is_detected_and_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = probe_p2();
    code_source(cache.path(), &wasm);
    let artifact = artifacts(cache.path()).pop().unwrap();
    let mut bytes = std::fs::read(&artifact).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(&artifact, &bytes).unwrap();

    let out = qyv_with_cache(cache.path())
        .args(["run", "--metrics=json"])
        .arg(&wasm)
        .args(["args", "still-right"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).ends_with("arg[1]=args\narg[2]=still-right\n"));
    let err = stderr(&out);
    assert!(err.contains("is damaged"), "{err}");
    assert!(err.contains("\"rebuilt\""), "{err}");
    assert_eq!(code_source(cache.path(), &wasm), "cache_hit");
}

#[test]
fn a_truncated_entry_is_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = probe_p1();
    code_source(cache.path(), &wasm);
    let artifact = artifacts(cache.path()).pop().unwrap();
    let bytes = std::fs::read(&artifact).unwrap();
    std::fs::write(&artifact, &bytes[..100]).unwrap();
    assert_eq!(code_source(cache.path(), &wasm), "rebuilt");
    assert_eq!(code_source(cache.path(), &wasm), "cache_hit");
}

#[test]
fn a_changed_wasm_file_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("prog.wasm");
    std::fs::copy(probe_p1(), &wasm).unwrap();
    code_source(cache.path(), &wasm);
    std::fs::copy(probe_p2(), &wasm).unwrap();
    assert_eq!(code_source(cache.path(), &wasm), "compiled");
    assert_eq!(artifacts(cache.path()).len(), 2);
}

#[test]
fn concurrent_first_runs_all_succeed() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = probe_p2();
    let children: Vec<_> = (0..4)
        .map(|i| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("qyv"))
                .env("QYVOL_CACHE_DIR", cache.path())
                .arg("run")
                .arg(&wasm)
                .args(["args", &i.to_string()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).ends_with(&format!("arg[2]={i}\n")));
        assert_eq!(stderr(&out), "");
    }
    assert_eq!(artifacts(cache.path()).len(), 1);
    assert_eq!(code_source(cache.path(), &wasm), "cache_hit");
}

#[test]
fn cache_dir_ls_and_clean() {
    let cache = tempfile::tempdir().unwrap();
    qyv_with_cache(cache.path())
        .args(["cache", "dir"])
        .assert()
        .success()
        .stdout(format!("{}\n", cache.path().display()));
    code_source(cache.path(), &probe_p1());
    let out = qyv_with_cache(cache.path())
        .args(["cache", "ls", "--json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["kind"], "module");
    assert_eq!(
        list[0]["source"].as_str().unwrap(),
        probe_p1().to_str().unwrap()
    );
    let text = qyv_with_cache(cache.path())
        .args(["cache", "ls"])
        .output()
        .unwrap();
    assert!(stdout(&text).contains("probe.wasm"));
    qyv_with_cache(cache.path())
        .args(["cache", "clean"])
        .assert()
        .success();
    assert!(artifacts(cache.path()).is_empty());
}
