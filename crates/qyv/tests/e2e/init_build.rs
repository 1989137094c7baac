//! `qyv init` → `qyv build` → `qyv run`, for every language, with the real
//! toolchains scripts/install-toolchains.sh installs; and what `qyv build`
//! and `qyv component new` say when something is wrong.

use std::process::Command;

use crate::common::*;

/// A `qyv` command that builds too: the outer cargo's variables must not
/// steer a cargo the Rust template starts.
fn qyv_build() -> assert_cmd::Command {
    let mut c = qyv();
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO") || k.starts_with("RUSTC") {
            c.env_remove(k);
        }
    }
    c
}

fn round_trip(lang: &str, display: &str) {
    let d = tempfile::tempdir().unwrap();
    let name = format!("hello-{lang}");
    let app = d.path().join(&name);
    qyv()
        .current_dir(d.path())
        .args(["init", "--lang", lang, &name])
        .assert()
        .success()
        .stderr(predicates::str::contains(format!(
            "next: cd {name} && qyv build && qyv run ."
        )));
    let out = qyv_build().current_dir(&app).arg("build").output().unwrap();
    assert!(
        out.status.success(),
        "{lang}: qyv build failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(app.join(format!("{name}.wasm")).is_file(), "{lang}");
    let out = qyv()
        .arg("run")
        .arg(&app)
        .args(["one", "two"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!("Hello from {display}! This is {name}.\nargs: one two\n"),
        "{lang}: {}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{lang}");
    // Built once, the sources unchanged: nothing to do.
    qyv_build()
        .arg("build")
        .arg(&app)
        .assert()
        .success()
        .stderr(predicates::str::contains("is up to date"));
}

macro_rules! round_trips {
    ($($test:ident: $lang:literal => $display:literal),+ $(,)?) => {
        $(
            #[test]
            fn $test() {
                round_trip($lang, $display);
            }
        )+

        #[test]
        fn every_language_qyv_knows_has_a_round_trip() {
            let out = qyv().args(["init", "--lang", "nope", "x"]).output().unwrap();
            let known = stderr(&out);
            let listed = known.rsplit("one of ").next().unwrap().trim();
            let tested = [$($lang),+];
            for lang in listed.split(", ") {
                assert!(tested.contains(&lang), "{lang} has no init/build/run test");
            }
        }
    };
}

round_trips! {
    rust: "rust" => "Rust",
    go: "go" => "Go",
    c: "c" => "C",
    cpp: "cpp" => "C++",
    zig: "zig" => "Zig",
    python: "python" => "Python",
    javascript: "javascript" => "JavaScript",
    assemblyscript: "assemblyscript" => "AssemblyScript",
    nim: "nim" => "Nim",
    kotlin: "kotlin" => "Kotlin",
}

#[test]
fn init_refuses_bad_names_languages_and_folders() {
    let d = tempfile::tempdir().unwrap();
    qyv()
        .current_dir(d.path())
        .args(["init", "--lang", "rust", "My App"])
        .assert()
        .code(125)
        .stderr(predicates::str::contains("app name \"My App\""))
        .stderr(predicates::str::contains("(did you mean \"my-app\"?)"));
    qyv()
        .current_dir(d.path())
        .args(["init", "--lang", "pyhton", "app"])
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "--lang pyhton: not a language qyv knows (did you mean \"python\"?)",
        ));
    write(d.path(), "taken/file.txt", "x");
    qyv()
        .current_dir(d.path())
        .args(["init", "--lang", "c", "taken"])
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "taken: already exists and is not empty",
        ));
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
}

#[test]
fn a_missing_toolchain_names_the_install_command() {
    let d = tempfile::tempdir().unwrap();
    qyv()
        .current_dir(d.path())
        .args(["init", "--lang", "c", "app"])
        .assert()
        .success();
    // A PATH with sh but without clang-19.
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    qyv()
        .env("PATH", &bin)
        .arg("build")
        .arg(d.path().join("app"))
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "app.qyv:7:3: build: clang-19 is not installed (needed by build.command); install it with: apt-get install clang-19",
        ));
}

#[test]
fn build_errors_point_at_the_manifest() {
    let d = tempfile::tempdir().unwrap();
    let m = write(d.path(), "app.qyv", "name: app\nentrypoint: app.wasm\n");
    qyv()
        .arg("build")
        .arg(&m)
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "nothing says how to build this app: add build.command",
        ));
    write(
        d.path(),
        "app.qyv",
        "name: app\nentrypoint: app.wasm\nbuild:\n  command: exit 3\n",
    );
    qyv()
        .arg("build")
        .arg(&m)
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "app.qyv:4:3: build: build.command failed with status 3",
        ));
    write(
        d.path(),
        "app.qyv",
        "name: app\nentrypoint: app.wasm\nbuild:\n  command: echo not wasm > app.wasm\n",
    );
    qyv()
        .arg("build")
        .arg(&m)
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "app.qyv:2:13: entrypoint: the build wrote",
        ))
        .stderr(predicates::str::contains("which is not WebAssembly"));
    write(
        d.path(),
        "app.qyv",
        "name: app\nentrypoint: app.wasm\nbuild:\n  command: true\n",
    );
    std::fs::remove_file(d.path().join("app.wasm")).unwrap();
    qyv()
        .arg("build")
        .arg(&m)
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "the build command must write the entrypoint",
        ));
}

/// `component: true` with a C build: `qyv build` adapts the module, and
/// `qyv run` refuses a module left in its place.
#[test]
fn component_true_adapts_what_the_build_made() {
    let d = tempfile::tempdir().unwrap();
    qyv()
        .current_dir(d.path())
        .args(["init", "--lang", "c", "app"])
        .assert()
        .success();
    let app = d.path().join("app");
    let manifest = app.join("app.qyv");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}component: true\n")).unwrap();
    qyv_build()
        .arg("build")
        .arg(&app)
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "a WASI 0.2 component (command adapter",
        ));
    let bytes = std::fs::read(app.join("app.wasm")).unwrap();
    assert_eq!(&bytes[4..8], [0x0d, 0x00, 0x01, 0x00], "a component");
    qyv()
        .arg("run")
        .arg(&app)
        .arg("x")
        .assert()
        .success()
        .stdout("Hello from C! This is app.\nargs: x\n");

    // A core module where a component is promised.
    let status = Command::new("clang-19")
        .args(["--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-s", "-o"])
        .arg(app.join("app.wasm"))
        .arg(app.join("main.c"))
        .status()
        .unwrap();
    assert!(status.success());
    qyv()
        .arg("run")
        .arg(&app)
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "component: component: true, but app.wasm is a core module; run `qyv build`",
        ));
    qyv().arg("validate").arg(&app).assert().code(1);
}

#[test]
fn component_new_refuses_what_it_cannot_adapt() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out.wasm");
    let text = write(d.path(), "notes.txt", "hello");
    qyv()
        .args(["component", "new"])
        .arg(&text)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "not a WebAssembly file (it starts with the text \"hello\")",
        ));
    qyv()
        .args(["component", "new"])
        .arg(probe_p2())
        .arg("-o")
        .arg(&out)
        .assert()
        .code(125)
        .stderr(predicates::str::contains("it is already a component"));
    // The command adapter calls `_start`; a library has none.
    let lib = d.path().join("lib.wasm");
    std::fs::write(
        &lib,
        wat::parse_str(
            r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) (memory (export "memory") 1))"#,
        )
        .unwrap(),
    )
    .unwrap();
    qyv()
        .args(["component", "new"])
        .arg(&lib)
        .args(["--adapter", "command", "-o"])
        .arg(&out)
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "the command adapter cannot be applied",
        ));
    qyv()
        .args(["component", "new"])
        .arg(&lib)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicates::str::contains("(reactor adapter"));
    std::fs::remove_file(&out).unwrap();
    assert!(!out.exists(), "nothing is written on failure");
    qyv()
        .args(["component", "new"])
        .arg(probe_p1())
        .args(["--adapter", "sideways", "-o"])
        .arg(&out)
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "possible values: command, reactor, proxy",
        ));
}

#[test]
fn a_module_made_a_component_runs_like_the_module() {
    let d = tempfile::tempdir().unwrap();
    let comp = d.path().join("probe.component.wasm");
    qyv()
        .args(["component", "new"])
        .arg(probe_p1())
        .arg("-o")
        .arg(&comp)
        .assert()
        .success();
    let inspect = qyv()
        .args(["inspect", "--json"])
        .arg(&comp)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(json["kind"], "component");
    assert_eq!(json["world"], "wasi:cli/command");
    qyv()
        .arg("run")
        .arg(&comp)
        .args(["args", "a b", "c"])
        .assert()
        .success()
        .stdout("arg[0]=probe.component.wasm\narg[1]=args\narg[2]=a b\narg[3]=c\n");
}
