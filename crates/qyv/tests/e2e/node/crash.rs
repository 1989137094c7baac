//! A `kill -9` of the node at each moment of a deploy (reached with the
//! test hold points): after the restart the app has the old revision or
//! the new one, whole, and nothing half-stored.

use super::*;

/// Kills the daemon while a second deploy of `app` is held at `point`, then
/// starts it again: returns the app's revisions after the restart.
fn kill_during_second_deploy(point: &str) -> (Vec<(u64, String)>, String, String, Vec<String>) {
    // The upload's app is known only once it is received and opened.
    let (hold, held) = if point == "deploy:receiving" {
        (point.to_string(), format!("hold at {point} for -"))
    } else {
        (format!("{point}@app"), format!("hold at {point} for app"))
    };
    let s = Scratch::new();
    let first = s.pack(&s.app("v1", "app", SERVICE), "v1.qyvbin", &[]);
    let second = s.pack(
        &s.app("v2", "app", &format!("{SERVICE}version: \"2.0.0\"\n")),
        "v2.qyvbin",
        &[],
    );
    let mut node = s.daemon(&[], Some(&hold));
    let deploy = node.spawn(&["deploy", first.to_str().unwrap()]);
    node.expect(&held);
    node.release();
    let out = finished(deploy);
    assert!(out.status.success(), "{}", stderr(&out));

    let deploy = node.spawn(&["deploy", second.to_str().unwrap()]);
    node.expect(&held);
    node.kill();
    let _ = finished(deploy);

    let node = s.daemon(&[], None);
    let app = node.app("app");
    let current = app["revision"].as_u64().unwrap() as u32;
    assert_eq!(node.settled("app", current)["state"], "running");
    assert_eq!(app["desired"], "running");
    (
        revisions(&app),
        sha256(&first),
        sha256(&second),
        s.stored_bundles(),
    )
}

#[test]
fn kill_9_while_the_upload_arrives_leaves_the_old_revision() {
    let (revs, first, _, stored) = kill_during_second_deploy("deploy:receiving");
    assert_eq!(revs, [(1, first.clone())]);
    assert_eq!(stored, [format!("bundles/sha256/{first}.qyvbin")]);
}

#[test]
fn kill_9_with_the_bundle_stored_but_not_recorded_leaves_the_old_revision() {
    let (revs, first, _, _) = kill_during_second_deploy("deploy:stored");
    assert_eq!(revs, [(1, first)]);
}

#[test]
fn kill_9_once_the_revision_is_recorded_leaves_the_new_one() {
    let (revs, first, second, stored) = kill_during_second_deploy("deploy:recorded");
    assert_eq!(revs, [(2, second.clone()), (1, first.clone())]);
    assert_eq!(
        stored,
        [
            format!(
                "bundles/sha256/{}.qyvbin",
                first.clone().min(second.clone())
            ),
            format!("bundles/sha256/{}.qyvbin", first.max(second)),
        ]
    );
}
