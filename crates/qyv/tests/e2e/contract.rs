//! The contract app (examples/CONTRACT.md) in every language, run through
//! `qyv`: exact stdout, the file it writes, and its exit status.

use std::path::Path;

use crate::common::*;

/// Values that change from run to run, so no program can pass by printing
/// what the test expects.
fn varying() -> (u8, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (2 + (nanos % 120) as u8, format!("greeting-{nanos:x}"))
}

/// A copy of examples/LANG with fresh input and output folders; the wasm
/// is linked, not copied (the Python one is 18 MB).
fn stage(dir: &Path, lang: &str, first_line: &str) -> std::path::PathBuf {
    let src = example(lang);
    let wasm = format!("{lang}.wasm");
    std::os::unix::fs::symlink(example(&format!("{lang}/{wasm}")), dir.join(&wasm)).unwrap();
    std::fs::copy(src.join(format!("{lang}.qyv")), dir.join("app.qyv")).unwrap();
    write(
        dir,
        "input/message.txt",
        &format!("{first_line}\nnot this one\n"),
    );
    std::fs::create_dir_all(dir.join("output")).unwrap();
    dir.join("app.qyv")
}

fn contract(lang: &str, display: &str, exact_exit: bool) {
    let (code, greeting) = varying();
    let first_line = format!("line for {lang} {code}");
    let d = tempfile::tempdir().unwrap();
    let manifest = stage(d.path(), lang, &first_line);

    let out = qyv()
        .arg("run")
        .arg(format!("--env=GREETING={greeting}"))
        .arg(&manifest)
        .args([&code.to_string(), "alpha", "two words"])
        .output()
        .unwrap();
    let expected = format!(
        "Hello from {display}!\nargs: [{code}] [alpha] [two words]\nGREETING={greeting}\ninput: {first_line}\nwrote /output/result.txt\n"
    );
    assert_eq!(stdout(&out), expected, "{lang}: stderr: {}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(d.path().join("output/result.txt")).unwrap(),
        format!("{display} read: {first_line}\n"),
        "{lang}"
    );
    if exact_exit {
        assert_eq!(
            out.status.code(),
            Some(code.into()),
            "{lang}: {}",
            stderr(&out)
        );
        assert_eq!(stderr(&out), "", "{lang}");
    } else {
        assert_eq!(out.status.code(), Some(1), "{lang}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("can only report success or failure, so 1 stands for"),
            "{lang}: {}",
            stderr(&out)
        );
    }

    // Success is success everywhere, and the input mount stays read-only.
    let out = qyv().arg("run").arg(&manifest).arg("0").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{lang}: {}", stderr(&out));
    assert!(stdout(&out).contains("\nGREETING=hello\n"), "{lang}");
}

macro_rules! contract_tests {
    ($($test:ident: $lang:literal),+ $(,)?) => {
        $(
            #[test]
            fn $test() {
                let (lang, display, exact) = CONTRACT_APPS
                    .iter()
                    .find(|(l, _, _)| *l == $lang)
                    .copied()
                    .unwrap();
                contract(lang, display, exact);
            }
        )+

        #[test]
        fn every_language_has_its_contract_test() {
            let tested = [$($lang),+];
            for (lang, _, _) in CONTRACT_APPS {
                assert!(tested.contains(lang), "{lang} has no contract test");
            }
        }
    };
}

contract_tests! {
    rust: "rust",
    go: "go",
    c: "c",
    cpp: "cpp",
    zig: "zig",
    assemblyscript: "assemblyscript",
    python: "python",
    javascript: "javascript",
    nim: "nim",
    kotlin: "kotlin",
}

#[test]
fn an_adapted_module_says_what_its_exit_code_became() {
    // The C contract app through `qyv component new`: same behaviour, but
    // the adapter can only say failure.
    let d = tempfile::tempdir().unwrap();
    let manifest = stage(d.path(), "c", "adapted");
    let component = d.path().join("c.component.wasm");
    qyv()
        .args(["component", "new"])
        .arg(example("c/c.wasm"))
        .arg("-o")
        .arg(&component)
        .assert()
        .success()
        .stderr(predicates::str::contains("command adapter"))
        .stderr(predicates::str::contains("arrives as 1"));
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("entrypoint: c.wasm", "entrypoint: c.component.wasm");
    std::fs::write(&manifest, text).unwrap();
    let out = qyv()
        .arg("run")
        .arg(&manifest)
        .args(["9", "x"])
        .output()
        .unwrap();
    assert!(stdout(&out).starts_with("Hello from C!\nargs: [9] [x]\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(
        "qyv: note: c.component.wasm is a component without wasi:cli/exit.exit-with-code"
    ));
    // A bare .wasm run keeps wasmtime's exact stderr: no note.
    qyv()
        .arg("run")
        .arg(&component)
        .arg("9")
        .assert()
        .code(1)
        .stderr("error: /input/message.txt: Capabilities insufficient\n");
}
