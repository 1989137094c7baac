//! Manifest errors as golden files, so that a reviewer reads every message
//! in one folder: each `NAME.qyv` in crates/qyv/tests/golden/manifest-errors/
//! is run as `qyv run NAME.qyv` (in a fresh folder holding it and the probe
//! as `probe.wasm`), must exit with status 125 and print nothing on stdout,
//! and what it prints on stderr must be `NAME.err`, byte for byte. The
//! fresh folder's path is written `{dir}` in the expectations.
//!
//! After changing a message on purpose, rewrite the expectations with
//! `QYVOL_BLESS=1 cargo test -p qyv --test e2e golden::` and review the diff.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The variable that turns a mismatch into a rewrite of the `.err` file.
const BLESS: &str = "QYVOL_BLESS";

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/manifest-errors")
}

/// What `qyv run` says of the case `NAME.qyv`, or why the case is not one
/// (it ran, or printed on stdout).
fn outcome(case: &Path) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let name = case.file_name().unwrap();
    std::fs::copy(case, dir.path().join(name)).unwrap();
    std::fs::copy(probe_p1(), dir.path().join("probe.wasm")).unwrap();
    let out = qyv()
        .current_dir(dir.path())
        .arg("run")
        .arg(name)
        .output()
        .unwrap();
    let err = stderr(&out).replace(&dir.path().display().to_string(), "{dir}");
    if out.status.code() != Some(125) || !out.stdout.is_empty() {
        return Err(format!(
            "exit status {:?} (not 125), stdout {:?}, stderr {err:?}",
            out.status.code(),
            stdout(&out)
        ));
    }
    Ok(err)
}

#[test]
fn every_manifest_error_prints_its_golden_message() {
    let bless = std::env::var_os(BLESS).is_some_and(|v| v == "1");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let cases: Vec<&PathBuf> = entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "qyv"))
        .collect();
    assert!(
        cases.len() >= 25,
        "only {} cases in {}",
        cases.len(),
        folder().display()
    );
    let mut wrong = Vec::new();
    // An expectation whose case is gone would hide a deleted test.
    for p in &entries {
        let ext = p.extension().and_then(|e| e.to_str());
        if ext == Some("err") && !p.with_extension("qyv").exists() {
            wrong.push(format!(
                "{}: no {}",
                p.display(),
                p.with_extension("qyv").display()
            ));
        } else if !matches!(ext, Some("qyv" | "err" | "md")) {
            wrong.push(format!(
                "{}: neither a case (.qyv) nor an expectation (.err)",
                p.display()
            ));
        }
    }
    for case in cases {
        let expected_file = case.with_extension("err");
        let got = match outcome(case) {
            Ok(got) => got,
            Err(why) => {
                wrong.push(format!("{}: not a manifest error: {why}", case.display()));
                continue;
            }
        };
        let expected = std::fs::read_to_string(&expected_file).ok();
        if expected.as_deref() == Some(got.as_str()) {
            continue;
        }
        if bless {
            std::fs::write(&expected_file, &got).unwrap();
            continue;
        }
        wrong.push(match expected {
            Some(expected) => format!(
                "{}:\n  expected: {expected:?}\n  got:      {got:?}",
                case.display()
            ),
            None => format!(
                "{}: no {} yet; got {got:?}",
                case.display(),
                expected_file.display()
            ),
        });
    }
    assert!(
        wrong.is_empty(),
        "{}\n\n(if the new messages are right: {BLESS}=1 cargo test -p qyv --test e2e golden::)",
        wrong.join("\n")
    );
}
