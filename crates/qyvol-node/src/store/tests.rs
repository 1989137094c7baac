use qyvol_manifest::AppType;

use super::*;

fn new(app: &str, digest: &str) -> NewRevision {
    NewRevision {
        app: app.into(),
        digest: digest.repeat(64 / digest.len()),
        size: 10,
        app_type: AppType::Command,
        version: Some("1.0.0".into()),
        signer: None,
        source: "api".into(),
    }
}

/// The kinds of an app's events, oldest first.
fn kinds(s: &Store, app: &str) -> Vec<EventKind> {
    s.events(Some(app), 0, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("node.db")).unwrap();
    (d, s)
}

#[test]
fn deploys_number_revisions_and_survive_reopening() {
    let (d, s) = store();
    assert_eq!(s.deploy(&new("a", "1")).unwrap().0.revision, 1);
    assert_eq!(s.deploy(&new("a", "2")).unwrap().0.revision, 2);
    assert_eq!(s.deploy(&new("b", "1")).unwrap().0.revision, 1);
    let again = s.deploy(&new("a", "2")).unwrap().0;
    assert_eq!(
        again,
        Recorded {
            revision: 2,
            unchanged: true
        }
    );
    drop(s);
    let s = Store::open(&d.path().join("node.db")).unwrap();
    let (app, rev) = s.current("a").unwrap();
    assert_eq!((app.revision, app.desired), (2, Desired::Running));
    assert_eq!(rev.digest, "2".repeat(64));
    let numbers: Vec<u32> = s.revisions("a").unwrap().iter().map(|r| r.number).collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(s.apps().unwrap().len(), 2);
}

#[test]
fn rollback_makes_a_new_revision_with_the_old_bundle() {
    let (_d, s) = store();
    s.deploy(&new("a", "1")).unwrap();
    s.deploy(&new("a", "2")).unwrap();
    assert_eq!(s.rollback("a", None).unwrap(), (3, 1));
    let (app, rev) = s.current("a").unwrap();
    assert_eq!(app.revision, 3);
    assert_eq!(rev.digest, "1".repeat(64));
    assert_eq!(rev.rollback_of, Some(1));
    // Undoing the rollback goes back to the content of revision 2.
    assert_eq!(s.rollback("a", None).unwrap(), (4, 2));
    assert_eq!(s.rollback("a", Some(1)).unwrap(), (5, 1));
    assert!(matches!(
        s.rollback("a", Some(9)),
        Err(NodeError::NoSuchRevision(_))
    ));
    assert!(matches!(
        s.rollback("a", Some(5)),
        Err(NodeError::Conflict(_))
    ));
    assert!(matches!(
        s.rollback("nope", None),
        Err(NodeError::NoSuchApp(_))
    ));
    s.deploy(&new("b", "1")).unwrap();
    assert!(matches!(s.rollback("b", None), Err(NodeError::Conflict(_))));
}

#[test]
fn old_revisions_are_pruned_and_named() {
    let (_d, s) = store();
    let mut pruned = Vec::new();
    for i in 0..(KEEP_REVISIONS + 2) {
        let digest = format!("{i:064}");
        let (_, p) = s.deploy(&new("a", &digest)).unwrap();
        pruned.extend(p);
    }
    assert_eq!(pruned, [format!("{:064}", 0), format!("{:064}", 1)]);
    assert_eq!(s.revisions("a").unwrap().len(), KEEP_REVISIONS as usize);
    assert_eq!(
        s.referenced_digests().unwrap().len(),
        KEEP_REVISIONS as usize
    );
}

#[test]
fn remove_keeps_events_and_returns_digests() {
    let (_d, s) = store();
    s.deploy(&new("a", "1")).unwrap();
    s.deploy(&new("a", "2")).unwrap();
    let mut digests = s.remove("a").unwrap();
    digests.sort();
    assert_eq!(digests, ["1".repeat(64), "2".repeat(64)]);
    assert!(s.app("a").unwrap().is_none());
    assert!(s.referenced_digests().unwrap().is_empty());
    let kinds = kinds(&s, "a");
    assert_eq!(
        kinds,
        [EventKind::Deployed, EventKind::Deployed, EventKind::Removed]
    );
    assert!(matches!(s.remove("a"), Err(NodeError::NoSuchApp(_))));
}

#[test]
fn runs_that_never_ended_are_interrupted_on_reopen() {
    let (_d, s) = store();
    s.deploy(&new("a", "1")).unwrap();
    let done = s.run_started("a", 1, "started").unwrap();
    let end = RunEnd {
        exit_code: Some(0),
        reason: "exited with code 0".into(),
        peak_memory: Some(65536),
        kind: EventKind::Exited,
    };
    s.run_ended(&done, &end).unwrap();
    let ended = s.last_run("a", 1).unwrap().unwrap();
    assert_eq!(
        (
            ended.id,
            ended.exit_code,
            ended.reason.as_deref(),
            ended.peak_memory
        ),
        (done.id, Some(0), Some("exited with code 0"), Some(65536))
    );
    let open = s.run_started("a", 1, "started").unwrap();
    let interrupted = s.end_interrupted_runs().unwrap();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].id, open.id);
    let last = s.last_run("a", 1).unwrap().unwrap();
    assert!(last.ended_at.is_some());
    assert!(last.reason.unwrap().starts_with("interrupted"));
    assert!(s.end_interrupted_runs().unwrap().is_empty());
    let kinds = kinds(&s, "a");
    assert_eq!(
        kinds,
        [
            EventKind::Deployed,
            EventKind::Started,
            EventKind::Exited,
            EventKind::Started,
            EventKind::Interrupted
        ]
    );
}

#[test]
fn stored_words_read_back_and_unknown_ones_fail() {
    for kind in EventKind::ALL {
        assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
    }
    for desired in Desired::ALL {
        assert_eq!(Desired::parse(desired.as_str()), Some(*desired));
    }
    let (_d, s) = store();
    s.deploy(&new("a", "1")).unwrap();
    lock(&s.conn)
        .execute("UPDATE events SET kind = 'exploded' WHERE app = 'a'", [])
        .unwrap();
    let err = s.events(Some("a"), 0, 10).unwrap_err().to_string();
    assert!(
        err.contains("\"exploded\" is not a known EventKind"),
        "{err}"
    );
}

#[test]
fn events_page_by_id_and_filter_by_app() {
    let (_d, s) = store();
    s.deploy(&new("a", "1")).unwrap();
    s.deploy(&new("b", "1")).unwrap();
    s.set_desired(
        "a",
        Desired::Stopped,
        EventKind::Stop,
        "stopped by a client",
    )
    .unwrap();
    let all = s.events(None, 0, 100).unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let after = s.events(None, all[0].id, 100).unwrap();
    assert_eq!(after.len(), 2);
    let last = s.events(None, 0, 1).unwrap();
    assert_eq!(last[0].id, all[2].id);
    assert_eq!(kinds(&s, "a"), [EventKind::Deployed, EventKind::Stop]);
    assert_eq!(s.app("a").unwrap().unwrap().desired, Desired::Stopped);
}
