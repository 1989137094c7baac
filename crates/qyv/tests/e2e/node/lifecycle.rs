//! An app's life on a node through the client commands: deploy, ps, logs
//! (and following them), stop, start, rollback, rm; a failing command's
//! reason; apps and services kept across a restart of the node; deploys of
//! one app in turn, of others side by side; the metrics.

use super::*;

#[test]
fn deploy_ps_logs_stop_start_rollback_rm() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let greet = |word: &str| {
        s.app(
            word,
            "greeter",
            &format!("args: [env, GREETING]\nenv:\n  GREETING: {word}\n"),
        )
    };

    // A command runs to its end; deploy says how it ended.
    let out = node.qyv().arg("deploy").arg(greet("one")).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("greeter deployed as revision 1"), "{text}");
    assert!(
        text.contains("greeter completed (revision 1): exited with code 0"),
        "{text}"
    );
    let out = node.qyv().args(["logs", "greeter"]).output().unwrap();
    assert_eq!(stdout(&out), "one\n", "{}", stderr(&out));

    let out = node.qyv().arg("deploy").arg(greet("two")).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revision 2"), "{}", stdout(&out));
    let out = node.qyv().args(["logs", "greeter"]).output().unwrap();
    assert_eq!(stdout(&out), "one\ntwo\n");

    // The same bundle again is no new revision.
    let bundle = s.pack(&greet("two"), "two.qyvbin", &[]);
    let out = node.qyv().arg("deploy").arg(&bundle).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("unchanged, already revision 2"),
        "{}",
        stdout(&out)
    );

    let apps = node.apps();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["name"], "greeter");
    assert_eq!(apps[0]["state"], "completed");
    assert_eq!(apps[0]["exit_code"], 0);
    let app = node.app("greeter");
    let revs = revisions(&app);
    assert_eq!(revs.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(revs[0].1, sha256(&bundle));

    // Rollback: a new revision with revision 1's bundle, run again.
    let out = node
        .qyv()
        .args(["rollback", "greeter", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let app = node.app("greeter");
    let revs = revisions(&app);
    assert_eq!(revs.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(revs[0].1, revs[2].1, "revision 3 is revision 1's bundle");
    assert_eq!(app["revisions"][0]["rollback_of"], 1);
    let out = node
        .qyv()
        .args(["rollback", "greeter", "--to", "9"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "9");

    // A service runs until it is stopped, and runs again on start.
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("svc", "sleeper", SERVICE))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sleeper is running (revision 1)"),
        "{}",
        stdout(&out)
    );
    let out = node.qyv().args(["stop", "sleeper"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sleeper is stopped"),
        "{}",
        stdout(&out)
    );
    assert_eq!(node.app("sleeper")["desired"], "stopped");
    let out = node.qyv().args(["start", "sleeper"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(node.app("sleeper")["desired"], "running");
    // Its instance starts on its own task: wait for it rather than catch
    // it pending.
    let app = node.settled("sleeper", 1);
    assert_eq!(app["state"], "running", "{app}");

    // rm: gone, with its logs.
    let out = node.qyv().args(["rm", "greeter"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<Value> = node.apps().iter().map(|a| a["name"].clone()).collect();
    assert_eq!(names, ["sleeper"]);
    let out = node.qyv().args(["logs", "greeter"]).output().unwrap();
    expect_failure(&out, 125, "no app named \"greeter\"");

    // Events name what happened, in order.
    let out = node
        .qyv()
        .args(["events", "greeter", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"deployed"), "{kinds:?}");
    assert!(kinds.contains(&"removed"), "{kinds:?}");
}

#[test]
fn a_failing_command_says_why() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("bad", "bad", "args: [exit, \"7\"]\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("bad failed (revision 1): exited with code 7"),
        "{}",
        stdout(&out)
    );
    let app = node.app("bad");
    assert_eq!(app["state"], "failed");
    assert_eq!(app["exit_code"], 7);
}

#[test]
fn apps_and_services_survive_a_restart() {
    let s = Scratch::new();
    let mut node = s.daemon(&[], None);
    for (folder, name) in [("a", "svc-a"), ("b", "svc-b")] {
        node.qyv()
            .arg("deploy")
            .arg(s.app(folder, name, SERVICE))
            .assert()
            .success();
    }
    node.qyv().args(["stop", "svc-b"]).assert().success();
    let before = node.app("svc-a");
    node.kill();

    let node = s.daemon(&[], None);
    assert_eq!(node.settled("svc-a", 1)["state"], "running");
    let a = node.app("svc-a");
    assert_eq!(a["revision"], 1);
    assert_eq!(a["digest"], before["digest"]);
    assert_eq!(a["desired"], "running");
    let b = node.app("svc-b");
    assert_eq!(b["desired"], "stopped");
    assert_eq!(b["state"], "stopped");
    // The run the kill cut short is recorded as such.
    let out = node
        .qyv()
        .args(["events", "svc-a", "--json"])
        .output()
        .unwrap();
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "interrupted" || e["kind"] == "started"),
        "{events:?}"
    );
}

#[test]
fn deploys_of_one_app_wait_for_each_other_and_other_apps_do_not() {
    let s = Scratch::new();
    let one = s.pack(
        &s.app("one", "app", "args: [args]\nversion: \"1.0.0\"\n"),
        "one.qyvbin",
        &[],
    );
    let two = s.pack(
        &s.app("two", "app", "args: [args]\nversion: \"2.0.0\"\n"),
        "two.qyvbin",
        &[],
    );
    let other = s.pack(&s.app("other", "other", "args: [args]\n"), "o.qyvbin", &[]);
    let mut node = s.daemon(&[], Some("deploy:locked@app"));

    // The first deploy of `app` holds the app's lock.
    let first = node.spawn(&["deploy", one.to_str().unwrap()]);
    node.expect("hold at deploy:locked for app");
    // Another app deploys meanwhile, all the way.
    node.qyv().arg("deploy").arg(&other).assert().success();
    assert_eq!(node.app("other")["revision"], 1);
    // A second deploy of `app` waits for the lock.
    let second = node.spawn(&["deploy", two.to_str().unwrap()]);
    node.expect("app: waiting for the change in progress to finish");
    let out = node.qyv().args(["ps", "app"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125), "nothing is recorded yet");
    // The first goes on; the second then holds the lock in its turn.
    node.release();
    node.expect("hold at deploy:locked for app");
    assert_eq!(revisions(&node.app("app")), [(1, sha256(&one))]);
    node.release();
    for deploy in [first, second] {
        let out = finished(deploy);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
    assert_eq!(
        revisions(&node.app("app")),
        [(2, sha256(&two)), (1, sha256(&one))]
    );
}

#[test]
fn logs_follow_prints_lines_as_the_app_writes_them() {
    let s = Scratch::new();
    let node = s.daemon(&["--http", "127.0.0.1:0"], None);
    let app = s.http_app("one", "greeter", "/greet", "one");
    node.qyv().arg("deploy").arg(app).assert().success();
    assert_eq!(node.get("/greet/print/before").body, "printed\n");

    let mut follow = node.spawn(&["logs", "-f", "greeter"]);
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(follow.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || rx.recv_timeout(STUCK).expect("qyv logs -f printed nothing");
    assert!(next().ends_with("] before"));
    // Lines written after the command started arrive while it runs.
    for word in ["after", "and-again"] {
        let reply = node.get(&format!("/greet/print/{word}"));
        let id = reply.header("x-request-id").unwrap();
        assert_eq!(next(), format!("[req {id}] {word}"));
    }
    follow.kill().unwrap();
    follow.wait().unwrap();
}

#[test]
fn metrics_count_instances_exits_and_apps() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    node.qyv()
        .arg("deploy")
        .arg(s.app("svc", "svc", SERVICE))
        .assert()
        .success();
    let out = node
        .qyv()
        .arg("deploy")
        .arg(s.app("bad", "bad", "args: [exit, \"3\"]\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = node
        .client(Some(&node.token), Some(&node.fingerprint))
        .metrics()
        .unwrap();
    for line in [
        "qyvol_node_apps 2",
        "qyvol_app_instances{app=\"svc\"} 1",
        "qyvol_app_instances{app=\"bad\"} 0",
        "qyvol_app_exits_total{app=\"bad\",code=\"3\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    assert!(text.contains("qyvol_node_uptime_seconds"), "{text}");
    assert!(
        text.contains("qyvol_app_memory_bytes{app=\"svc\"}"),
        "{text}"
    );
    // Without the token, nothing.
    match node.client(None, Some(&node.fingerprint)).metrics() {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 401),
        other => panic!("{other:?}"),
    }
}
