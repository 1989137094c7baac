//! The node's log: human lines by default, one JSON object a line with
//! `--log-format json`, filtered by `RUST_LOG`; a format or a filter it
//! cannot read is refused before anything starts.

use super::*;

#[test]
fn log_format_json_writes_one_object_a_line_with_the_events_fields() {
    let s = Scratch::new();
    let node = s.daemon(&["--log-format", "json"], None);
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("a", "greeter", "args: [args]\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Every line up to the deploy's and the run's end is a JSON object.
    let mut seen = Vec::new();
    let ended = loop {
        let line = node.expect("");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}; before: {seen:?}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v[key].is_string(), "no {key} in {line}");
        }
        seen.push(v.clone());
        if v["message"]
            .as_str()
            .unwrap()
            .contains("greeter revision 1: ")
        {
            break v;
        }
    };
    let deployed = seen
        .iter()
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("greeter revision 1 deployed (sha256 "))
        })
        .unwrap_or_else(|| panic!("no deploy event in {seen:?}"));
    assert_eq!(deployed["level"], "INFO");
    assert_eq!(deployed["app"], "greeter");
    assert_eq!(deployed["revision"], 1);
    assert_eq!(deployed["unchanged"], false);
    assert_eq!(deployed["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(deployed["target"], "qyvol_node::deploy");
    assert_eq!(ended["app"], "greeter");
    assert_eq!(ended["revision"], 1);
}

#[test]
fn rust_log_filters_the_daemons_log() {
    let s = Scratch::new();
    // RUST_LOG=warn keeps the deploy's info line out; a warning (an
    // apps-dir that is not there) still comes.
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("qyv"));
    let missing = s.path("no-such-apps");
    let mut child = cmd
        .args(["daemon", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.data())
        .arg("--apps-dir")
        .arg(&missing)
        .env("XDG_CONFIG_HOME", s.path("config"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        first,
        format!(
            "qyv daemon: apps-dir {}: not a folder (yet); it is looked at every second",
            std::path::absolute(&missing).unwrap().display()
        )
    );
}

#[test]
fn a_bad_log_format_or_rust_log_is_refused() {
    let s = Scratch::new();
    let out = s
        .qyv()
        .args(["daemon", "--log-format", "xml", "--data-dir"])
        .arg(s.data())
        .output()
        .unwrap();
    expect_failure(&out, 125, "invalid value 'xml' for '--log-format <FORMAT>'");
    assert!(
        stderr(&out).contains("[possible values: human, json]"),
        "{}",
        stderr(&out)
    );
    assert!(!s.data().exists(), "a refused daemon made its data folder");

    let out = s
        .qyv()
        .args(["daemon", "--data-dir"])
        .arg(s.data())
        .env("RUST_LOG", "qyvol_node=loud")
        .output()
        .unwrap();
    expect_failure(&out, 125, "RUST_LOG=\"qyvol_node=loud\": ");
    assert!(
        stderr(&out).contains("write a level (error, warn, info, debug, trace)"),
        "{}",
        stderr(&out)
    );
    assert!(!s.data().exists(), "a refused daemon made its data folder");
}
