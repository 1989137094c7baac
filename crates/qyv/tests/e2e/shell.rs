//! `qyv shell` without a terminal: `-c` and scripts on standard input run
//! qyv commands and built-ins in one process, with the last command's exit
//! status; the saved history and model are read, never written.

use std::path::Path;

use crate::common::*;

/// `qyv shell` with its own (empty) data folder, in `cwd`.
fn shell(data: &Path, cwd: &Path) -> assert_cmd::Command {
    let mut c = qyv();
    c.arg("shell")
        .current_dir(cwd)
        .env("XDG_DATA_HOME", data)
        .env("HOME", data);
    c
}

#[test]
fn runs_commands_and_apps_in_one_go() {
    let data = tempfile::tempdir().unwrap();
    let examples = example("");
    let out = shell(data.path(), &repo())
        .args([
            "-c",
            "pwd; cd examples; pwd\nrun hello/hello.qyv; qyv validate hello",
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>()[..3],
        [
            repo().display().to_string(),
            examples
                .display()
                .to_string()
                .trim_end_matches('/')
                .to_string(),
            "¡Hola desde Rust!".to_string()
        ]
    );
    assert!(stdout(&out).contains("ok"), "{}", stdout(&out));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn exit_status_is_the_last_commands_and_a_failing_app_does_not_end_the_shell() {
    let data = tempfile::tempdir().unwrap();
    let probe = probe_p1();
    let p = probe.display();
    shell(data.path(), data.path())
        .args(["-c", &format!("run {p} exit 7")])
        .assert()
        .code(7)
        .stdout("exiting with 7\n");
    shell(data.path(), data.path())
        .args(["-c", &format!("run {p} exit 7; run {p} args x")])
        .assert()
        .success()
        .stdout("exiting with 7\narg[0]=probe.wasm\narg[1]=args\narg[2]=x\n");
    // `run` passes the words after TARGET to the app, quotes removed.
    shell(data.path(), data.path())
        .args(["-c", &format!("run {p} args 'a b' \"c;d\"")])
        .assert()
        .success()
        .stdout("arg[0]=probe.wasm\narg[1]=args\narg[2]=a b\narg[3]=c;d\n");
    // -e: the first failure ends it, with its status.
    shell(data.path(), data.path())
        .args(["-e", "-c", &format!("run {p} exit 3; pwd")])
        .assert()
        .code(3)
        .stdout("exiting with 3\n");
}

#[test]
fn a_script_on_standard_input() {
    let data = tempfile::tempdir().unwrap();
    let script = format!(
        "# set up\ncd {}\nrun hello/hello.qyv\n\n  exit 4  # done\npwd\n",
        example("").display()
    );
    shell(data.path(), data.path())
        .write_stdin(script)
        .assert()
        .code(4)
        .stdout("¡Hola desde Rust!\n");
    // A bad line is reported with its number and skipped; the rest runs.
    let out = shell(data.path(), data.path())
        .write_stdin("pwd\nrun 'open\npwd\n")
        .output()
        .unwrap();
    assert_eq!(stdout(&out).lines().count(), 2);
    assert!(
        stderr(&out).contains("error: <stdin>:2:5: the quote ' opened here is never closed"),
        "{}",
        stderr(&out)
    );
    assert!(out.status.success());
    // An app reads the script's next lines, as under sh.
    shell(data.path(), data.path())
        .write_stdin(format!("run {} stdin\nfor the app\n", probe_p1().display()))
        .assert()
        .success()
        .stdout("for the app\n");
}

#[test]
fn bad_input_gets_a_precise_error() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let out = shell(d, d).args(["-c", "rum app.qyv"]).output().unwrap();
    expect_failure(&out, 125, "unrecognized subcommand 'rum'");
    expect_failure(&out, 125, "'run'");
    // Nothing of a line that does not split runs.
    let out = shell(d, d)
        .args(["-c", "pwd; run app.qyv > out.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("-c:1:18: `>`: redirections are not supported by the qyv shell"),
        "{}",
        stderr(&out)
    );
    assert!(!d.join("out.txt").exists());
    shell(d, d)
        .args(["-c", "cd nowhere"])
        .assert()
        .code(125)
        .stderr(predicates::str::contains("cd: nowhere: no such folder"));
    shell(d, d)
        .args(["-c", "cd -"])
        .assert()
        .code(125)
        .stderr(predicates::str::contains("no previous folder"));
    shell(d, d)
        .args(["-c", "shell"])
        .assert()
        .code(125)
        .stderr(predicates::str::contains("this is the qyv shell already"));
    shell(d, d)
        .args(["-c", "run missing.qyv"])
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "missing.qyv: no such file or folder",
        ));
}

#[test]
fn help_and_usage() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let out = shell(d, d).args(["-c", "help"]).output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("  run ") && text.contains("  suggest "),
        "{text}"
    );
    assert!(text.contains("Ctrl-R searches the history"), "{text}");
    shell(d, d)
        .args(["-c", "run --help"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "Usage: qyv run [OPTIONS] <TARGET [ARGS]>...",
        ));
    shell(d, d)
        .args(["-c", "help cache"])
        .assert()
        .success()
        .stdout(predicates::str::contains("Usage: qyv cache <COMMAND>"));
}

#[test]
fn builtins_cd_ls_context() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let hello = example("hello");
    let out = shell(d, d)
        .args([
            "-c",
            &format!("cd {}; ls; cd ~; pwd; cd -; context", hello.display()),
        ])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("hello.qyv             app manifest\n"),
        "{text}"
    );
    assert!(text.contains("hello.component.wasm  wasm\n"), "{text}");
    assert!(
        text.contains(&format!("\n{}\n{}\n", d.display(), hello.display())),
        "{text}"
    );
    assert!(text.contains("node:     local (no node set"), "{text}");
    assert!(
        text.contains(&format!("folder:   {}", hello.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("history:  {}", d.join("qyvol/history").display())),
        "{text}"
    );
    // Nothing to keep history in.
    let out = qyv()
        .args(["shell", "-c", "context"])
        .env_remove("HOME")
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("history:  not kept"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn history_and_suggestions_are_read_not_written() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let history = d.join("qyvol/history");
    let lines = "validate app.qyv\nrun app.qyv\ncache ls\nvalidate app.qyv\nrun app.qyv\nrn typo\n";
    write(d, "qyvol/history", lines);
    shell(d, d)
        .args(["-c", "history 2"])
        .assert()
        .success()
        .stdout("    5  run app.qyv\n    6  rn typo\n");
    // The first model is trained on the history; after `validate`, `run`.
    let out = shell(d, d).args(["-c", "pwd; suggest"]).output().unwrap();
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(text.lines().nth(1), Some("SCORE  COMMAND"), "{text}");
    assert_eq!(rows.len(), 3, "{text}");
    assert!(!text.contains("rn typo"), "{text}");
    let out = shell(d, d)
        .args(["-c", "validate app.qyv; suggest -n 1"])
        .output()
        .unwrap();
    let text = stdout(&out);
    let row = text.lines().last().unwrap();
    assert!(row.ends_with("  run app.qyv"), "{text}");
    let score: f64 = row.split_whitespace().next().unwrap().parse().unwrap();
    assert!(score > 0.5 && score <= 1.0, "{row}");
    shell(d, d)
        .args(["-c", "suggest zzz"])
        .assert()
        .stdout("no suggestion starts with `zzz`\n");
    assert_eq!(std::fs::read_to_string(&history).unwrap(), lines);
    assert!(!d.join("qyvol/suggest.json").exists());
    // A damaged model is a warning, not a failure.
    write(d, "qyvol/suggest.json", "{not json");
    shell(d, d)
        .args(["-c", "suggest -n 1"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "suggest.json: not a suggestion model",
        ));
}
