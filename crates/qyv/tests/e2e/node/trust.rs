//! Who may talk to a node and what it runs: the token, the certificate pin
//! (and the user's own certificate), contexts that name both, signatures a
//! node requires, and precompiled code run only from a trusted signer.

use super::*;

#[test]
fn no_token_or_a_wrong_one_is_401_and_changes_nothing() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let bundle = s.pack(&s.app("a", "app", "args: [args]\n"), "a.qyvbin", &[]);
    for token in [
        None,
        Some("wrong"),
        Some(&node.token[..node.token.len() - 1]),
    ] {
        let client = node.client(token, Some(&node.fingerprint));
        match client.deploy(&bundle, |_, _| {}) {
            Err(ClientError::Api { status, code, .. }) => {
                assert_eq!((status, code.as_str()), (401, "unauthorized"))
            }
            other => panic!("{token:?}: {other:?}"),
        }
        match client.apps() {
            Err(ClientError::Api { status, .. }) => assert_eq!(status, 401),
            other => panic!("{token:?}: {other:?}"),
        }
    }
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    assert!(node.apps().is_empty());
    // Health needs no token; it says nothing about the apps.
    assert!(node.client(None, Some(&node.fingerprint)).health().is_ok());

    let out = node
        .qyv()
        .env("QYVOL_TOKEN", "wrong")
        .arg("deploy")
        .arg(&bundle)
        .output()
        .unwrap();
    expect_failure(&out, 125, "the token is missing or wrong");
    assert!(node.apps().is_empty());
}

#[test]
fn a_pinned_client_refuses_another_certificate() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let other = Scratch::new();
    let other_node = other.daemon(&[], None);
    assert_ne!(node.fingerprint, other_node.fingerprint);

    // The right token, another node's fingerprint.
    let out = node
        .qyv()
        .env("QYVOL_FINGERPRINT", &other_node.fingerprint)
        .arg("ps")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains(&node.fingerprint), "{err}");
    assert!(err.contains(&other_node.fingerprint), "{err}");
    // Unpinned, a self-signed certificate is not trusted either.
    let out = node
        .qyv()
        .env_remove("QYVOL_FINGERPRINT")
        .arg("ps")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    // Pinned right, it works.
    node.qyv().arg("ps").assert().success();
}

#[test]
fn a_node_that_requires_signatures_refuses_unsigned_bundles() {
    let s = Scratch::new();
    let (secret, public) = s.keygen("node");
    let node = s.daemon(&["--key", public.to_str().unwrap()], None);
    let manifest = s.app("a", "app", "args: [args]\n");

    let out = node.qyv().arg("deploy").arg(&manifest).output().unwrap();
    expect_failure(
        &out,
        125,
        "requires bundles signed by a key it trusts, and it is not signed",
    );
    // The node tells the remote user what it allows; the client adds its
    // own commands, from the answer's reason.
    assert!(
        stderr(&out).contains("sign it with `qyv pack --sign KEY` (or `qyv deploy --sign KEY`)"),
        "{}",
        stderr(&out)
    );
    let bundle = s.pack(&manifest, "unsigned.qyvbin", &[]);
    match node
        .client(Some(&node.token), Some(&node.fingerprint))
        .deploy(&bundle, |_, _| {})
    {
        Err(ClientError::Api {
            code,
            message,
            reason,
            ..
        }) => {
            assert_eq!(
                (code.as_str(), reason.as_deref()),
                ("bad_bundle", Some("unsigned"))
            );
            assert!(!message.contains("qyv"), "{message}");
            assert!(
                message.ends_with("sign it with a key whose public half this node trusts"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(s.stored_bundles().is_empty(), "{:?}", s.stored_bundles());
    assert!(node.apps().is_empty());

    let out = node
        .qyv()
        .arg("deploy")
        .arg(&manifest)
        .arg("--sign")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        node.app("app")["revisions"][0]["signer"].is_string(),
        "{}",
        node.app("app")
    );
}

#[test]
fn contexts_name_a_node_with_its_token_and_pin() {
    let s = Scratch::new();
    let node = s.daemon(&[], None);
    let plain = || s.qyv();
    plain()
        .args(["context", "add", "lab", &node.url, "--token", &node.token])
        .args(["--fingerprint", &node.fingerprint])
        .assert()
        .success();
    let out = plain().args(["context", "ls", "--json"]).output().unwrap();
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["name"], "lab");
    assert_eq!(list[0]["current"], true);
    assert!(!stdout(&out).contains(&node.token), "tokens stay out");
    // The first context became current: no --node needed.
    plain()
        .arg("deploy")
        .arg(s.app("a", "ctx-app", "args: [args]\n"))
        .assert()
        .success();
    let out = plain().args(["ps"]).output().unwrap();
    assert!(stdout(&out).contains("ctx-app"), "{}", stdout(&out));
    plain().args(["context", "use", "local"]).assert().success();
    let out = plain().args(["ps"]).output().unwrap();
    expect_failure(&out, 125, "no node to talk to");
    let out = plain().args(["ps", "--node", "lab"]).output().unwrap();
    assert!(stdout(&out).contains("ctx-app"), "{}", stdout(&out));
}

#[test]
fn a_node_serves_the_users_own_certificate() {
    let s = Scratch::new();
    let tls = s.path("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = write(&tls, "cert.pem", &made.cert.pem());
    let key = write(&tls, "key.pem", &made.signing_key.serialize_pem());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let node = s.daemon(&["--tls-cert", cert, "--tls-key", key], None);
    // The node says the fingerprint of the certificate it was given, and a
    // client pinned to it gets through.
    assert_eq!(
        node.fingerprint,
        Fingerprint::of(made.cert.der()).to_string()
    );
    assert!(node.apps().is_empty());
    assert!(
        !s.data().join("tls").exists(),
        "the node made a certificate of its own"
    );

    // A key that is not the certificate's is refused at start, saying so.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let wrong = write(&tls, "other-key.pem", &other.signing_key.serialize_pem());
    drop(node);
    let out = s
        .qyv()
        .args(["daemon", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.data())
        .args(["--tls-cert", cert, "--tls-key"])
        .arg(&wrong)
        .timeout(STUCK)
        .output()
        .unwrap();
    expect_failure(&out, 125, "the certificate and key do not go together");
}

#[test]
fn an_http_app_runs_its_precompiled_code_only_from_a_trusted_signer() {
    let s = Scratch::new();
    let (secret, public) = s.keygen("node");
    let app = s.http_app("one", "greeter", "/greet", "one");
    let signed = s.pack(
        &app,
        "signed.qyvbin",
        &["--precompile", "--sign", secret.to_str().unwrap()],
    );
    let unsigned = s.pack(&app, "unsigned.qyvbin", &["--precompile"]);
    let started = |node: &Daemon| -> String {
        let out = node
            .qyv()
            .args(["events", "greeter", "--json"])
            .output()
            .unwrap();
        let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        events
            .iter()
            .rfind(|e| e["kind"] == "started")
            .map(|e| e["message"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };

    // A node that trusts the signer serves the bundle's code.
    let node = s.daemon(
        &["--http", "127.0.0.1:0", "--key", public.to_str().unwrap()],
        None,
    );
    node.qyv().arg("deploy").arg(&signed).assert().success();
    assert_eq!(node.get("/greet/env/GREETING").body, "one\n");
    let message = started(&node);
    assert!(
        message.ends_with("with the bundle's precompiled code"),
        "{message}"
    );
    drop(node);

    // One that does not compiles the wasm, and says why in the app's log.
    let other = Scratch::new();
    let node = other.daemon(&["--http", "127.0.0.1:0"], None);
    node.qyv().arg("deploy").arg(&unsigned).assert().success();
    assert_eq!(node.get("/greet/env/GREETING").body, "one\n");
    let message = started(&node);
    assert!(message.ends_with("with code compiled now"), "{message}");
    let out = node.qyv().args(["logs", "greeter"]).output().unwrap();
    assert!(
        stderr(&out)
            .contains("precompiled code is not used, because no key this node trusts signed it"),
        "{}",
        stderr(&out)
    );
}
