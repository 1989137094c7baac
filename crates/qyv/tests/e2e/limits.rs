//! Time, memory and fuel limits end a run with a message naming the limit
//! and their own exit status. No assertion here depends on timing.

use crate::common::*;

#[test]
fn an_endless_loop_is_stopped_by_the_timeout() {
    for wasm in [probe_p1(), probe_p2()] {
        let out = qyv()
            .arg("run")
            .args(["--timeout", "300ms"])
            .arg(&wasm)
            .arg("loop")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(124), "{err}");
        assert_eq!(stdout(&out), "looping\n");
        let name = wasm.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            err,
            format!("qyv: {name} was stopped by the time limit of 300ms (limits.timeout)\n")
        );
    }
}

#[test]
fn the_manifest_timeout_applies_and_a_blocked_guest_is_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let m = app(dir.path(), &probe_p1(), "limits:\n  timeout: 300ms\n");
    let out = qyv()
        .arg("run")
        .arg(&m)
        .args(["sleep", "60000"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(err.contains("blocked in a host call"), "{err}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_memory_bomb_is_stopped_by_the_cap() {
    for wasm in [probe_p1(), probe_p2()] {
        let out = qyv()
            .arg("run")
            .args(["--memory", "32MiB", "--metrics=json"])
            .arg(&wasm)
            .args(["alloc", "1024"])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(137), "{err}");
        assert!(
            err.contains("reached the memory limit of 32 MiB (limits.memory)"),
            "{err}"
        );
        let out_text = stdout(&out);
        assert!(out_text.contains("allocated 1 MiB"), "{out_text}");
        assert!(!out_text.contains("allocated 32 MiB"), "{out_text}");
        assert!(!out_text.contains("done"));
        let metrics: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
        assert!(metrics["peak_memory_bytes"].as_u64().unwrap() <= 32 << 20);
    }
}

#[test]
fn the_manifest_memory_limit_allows_what_fits() {
    let dir = tempfile::tempdir().unwrap();
    let m = app(dir.path(), &probe_p1(), "limits:\n  memory: 64MiB\n");
    let out = qyv()
        .arg("run")
        .arg(&m)
        .args(["alloc", "8"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("allocated 8 MiB\ndone\n"));
}

#[test]
fn fuel_runs_out_on_an_endless_loop() {
    let out = qyv()
        .arg("run")
        .args(["--fuel", "1000000"])
        .arg(probe_p1())
        .arg("loop")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(152), "{err}");
    assert!(
        err.contains("ran out of fuel after 1000000 units (limits.fuel)"),
        "{err}"
    );
}

#[test]
fn enough_fuel_lets_a_program_finish_and_reports_what_it_used() {
    let out = qyv()
        .arg("run")
        .args(["--fuel", "100000000", "--metrics=json"])
        .arg(probe_p1())
        .arg("args")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let metrics: serde_json::Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    let used = metrics["fuel_consumed"].as_u64().unwrap();
    assert!(used > 0 && used < 100_000_000, "{used}");
}
