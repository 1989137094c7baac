//! The hub against a real registry (Debian's docker-registry on loopback,
//! see common/registry.rs): push, pull and run apps and bare wasm by
//! reference; login and logout with basic auth; and the faults: wrong
//! credentials, a missing tag, a registry that is down, a damaged or
//! truncated blob, an artifact of another type, bad references, a bundle
//! the trust policy refuses.

use crate::common::registry::{Registry, free_port};
use crate::common::*;

/// A scratch folder whose Docker config is its own.
pub(crate) fn scratch() -> Scratch {
    let s = Scratch::new();
    std::fs::create_dir_all(s.path("docker")).unwrap();
    s
}

pub(crate) fn qyv(s: &Scratch) -> assert_cmd::Command {
    let mut c = s.qyv();
    c.env("DOCKER_CONFIG", s.path("docker"))
        .env_remove("QYVOL_INSECURE_REGISTRIES");
    c
}

/// The probe app (a .qyv beside a copy of the preview-1 probe).
fn probe_app(s: &Scratch) -> std::path::PathBuf {
    let dir = s.path("app");
    std::fs::create_dir_all(&dir).unwrap();
    app(&dir, &probe_p1(), "language: rust\n")
}

/// The `  digest   sha256:…` line of push or pull.
fn digest_of(out: &std::process::Output) -> String {
    stdout(out)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("digest")
                .map(|d| d.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no digest in {}", stdout(out)))
}

pub(crate) fn blobs_in_store(s: &Scratch) -> Vec<String> {
    match std::fs::read_dir(s.path("cache/hub/blobs/sha256")) {
        Ok(d) => d
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn tmp_files(s: &Scratch) -> usize {
    std::fs::read_dir(s.path("cache/hub/tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn push_pull_run_an_app_by_reference() {
    let mut registry = Registry::start();
    let s = scratch();
    let app = probe_app(&s);
    let reference = registry.reference("acme/probe:1.0");
    let out = qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&reference)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let digest = digest_of(&out);
    assert!(
        stdout(&out).contains("application/vnd.qyvol.bundle.v1"),
        "{}",
        stdout(&out)
    );

    // The manifest, as another client sees it: Qyvol's media types and
    // annotations.
    let (status, _, body) = registry.request(
        "GET",
        "/v2/acme/probe/manifests/1.0",
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        b"",
    );
    assert_eq!(status, 200);
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(m["artifactType"], "application/vnd.qyvol.app.v1");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.qyvol.app.config.v1+json"
    );
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.qyvol.bundle.v1"
    );
    assert_eq!(m["annotations"]["dev.qyvol.app.name"], "probe-app");
    assert_eq!(m["annotations"]["dev.qyvol.app.language"], "rust");
    assert_eq!(
        m["annotations"]["org.opencontainers.image.title"],
        "probe-app"
    );

    let out = qyv(&s).args(["pull", &reference]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(digest_of(&out), digest);
    assert!(
        stdout(&out).contains("Qyvol app probe-app (not signed)"),
        "{}",
        stdout(&out)
    );

    let out = qyv(&s)
        .args(["run", &reference, "args", "x"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("arg[2]=x"), "{}", stdout(&out));

    // Pinned by digest and already pulled: the registry is not asked (it is
    // down now) and the app runs.
    registry.stop();
    let pinned = format!("oci://{}/acme/probe@{digest}", registry.addr());
    let out = qyv(&s).args(["run", &pinned, "args"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("arg[1]=args"), "{}", stdout(&out));
}

#[test]
fn a_bare_wasm_in_the_cncf_layout_round_trips() {
    let registry = Registry::start();
    let s = scratch();
    let wasm = probe_p2();
    let reference = registry.reference("acme/probe-wasm:v1");
    let out = qyv(&s)
        .arg("push")
        .arg(&wasm)
        .arg(&reference)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // What another OCI client pulls: the CNCF wasm layout, and the layer's
    // bytes identical to the file.
    let (status, _, body) = registry.request(
        "GET",
        "/v2/acme/probe-wasm/manifests/v1",
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        b"",
    );
    assert_eq!(status, 200);
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let (status, _, bytes) = registry.request(
        "GET",
        &format!("/v2/acme/probe-wasm/blobs/{layer}"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(bytes, std::fs::read(&wasm).unwrap());
    let config = m["config"]["digest"].as_str().unwrap();
    let (_, _, config) = registry.request(
        "GET",
        &format!("/v2/acme/probe-wasm/blobs/{config}"),
        &[],
        b"",
    );
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");

    // Run as a bare wasm: no permissions but the flags'.
    let out = qyv(&s)
        .args(["run", &reference, "env", "GREETING"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "GREETING is not set\n");
    let out = qyv(&s)
        .args(["run", "--env", "GREETING=hi", &reference, "env", "GREETING"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n");

    // A wasm layout pushed by another client (here: by hand, as wkg writes
    // it) runs too.
    let module = std::fs::read(probe_p1()).unwrap();
    let layer = registry.upload("other/tool", &module);
    let config = br#"{"architecture":"wasm","os":"wasip1"}"#;
    let config_digest = registry.upload("other/tool", config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": layer, "size": module.len()}],
    });
    registry.put_manifest(
        "other/tool",
        "latest",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let out = qyv(&s)
        .args(["run", &registry.reference("other/tool"), "args"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "arg[0]=tool.wasm\narg[1]=args\n");
}

#[test]
fn login_logout_and_wrong_credentials() {
    let registry = Registry::with_basic_auth("alice", "correct horse");
    let s = scratch();
    let app = probe_app(&s);
    let reference = registry.reference("alice/probe:1");

    // No login: told to log in.
    let out = qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&reference)
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "requires a login for alice/probe (401 Unauthorized",
    );
    assert!(stderr(&out).contains(&format!("qyv login {}", registry.addr())));

    // A wrong password is refused, and nothing is kept.
    let out = qyv(&s)
        .args([
            "login",
            &registry.addr(),
            "--username",
            "alice",
            "--password-stdin",
        ])
        .write_stdin("wrong\n")
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "refused the credentials of user \"alice\" (401 Unauthorized)",
    );
    assert!(!s.path("docker/config.json").exists());

    let out = qyv(&s)
        .args(["login", &registry.addr(), "-u", "alice", "--password-stdin"])
        .write_stdin("correct horse\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Login succeeded"), "{}", stdout(&out));
    let config = std::fs::read_to_string(s.path("docker/config.json")).unwrap();
    assert!(
        config.contains(&registry.addr()) && config.contains("\"auth\""),
        "{config}"
    );

    let out = qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&reference)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = qyv(&s).args(["run", &reference, "args"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // Credentials that were right once, wrong now (a changed password).
    let changed = format!(
        r#"{{"auths":{{"{}":{{"auth":"YWxpY2U6b2xk"}}}}}}"#,
        registry.addr()
    );
    std::fs::write(s.path("docker/config.json"), changed).unwrap();
    let out = qyv(&s).args(["pull", &reference]).output().unwrap();
    expect_failure(&out, 125, "refused the credentials of user \"alice\"");

    let out = qyv(&s).args(["logout", &registry.addr()]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Removed"), "{}", stdout(&out));
    let out = qyv(&s).args(["pull", &reference]).output().unwrap();
    expect_failure(&out, 125, "requires a login");
    let out = qyv(&s).args(["logout", &registry.addr()]).output().unwrap();
    assert!(
        stdout(&out).contains("nothing to remove"),
        "{}",
        stdout(&out)
    );

    // Without a terminal or --password-stdin there is nothing to ask on.
    let out = qyv(&s)
        .args(["login", &registry.addr(), "-u", "alice"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "--password-stdin");
}

#[test]
fn a_registry_behind_a_token_service() {
    // As Docker Hub and GHCR: the registry answers 401 with a Bearer
    // challenge, qyv asks the token service (with the login's credentials)
    // for a token of the scope it needs, and the registry checks its
    // signature and claims.
    let tokens = crate::common::token::TokenService::start("alice", "pw");
    let registry = Registry::with_token_auth(&tokens);
    let s = scratch();
    let app = probe_app(&s);
    let reference = registry.reference("alice/probe:1");

    let out = qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&reference)
        .output()
        .unwrap();
    expect_failure(&out, 125, "requires a login for alice/probe");
    let out = qyv(&s)
        .args(["login", &registry.addr(), "-u", "alice", "--password-stdin"])
        .write_stdin("wrong\n")
        .output()
        .unwrap();
    expect_failure(&out, 125, "refused the credentials of user \"alice\"");
    qyv(&s)
        .args(["login", &registry.addr(), "-u", "alice", "--password-stdin"])
        .write_stdin("pw\n")
        .assert()
        .success();
    let before = tokens.issued.load(std::sync::atomic::Ordering::SeqCst);
    let out = qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&reference)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = qyv(&s).args(["pull", &reference]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = qyv(&s)
        .args(["run", &reference, "args", "tok"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("arg[2]=tok"), "{}", stdout(&out));
    assert!(
        tokens.issued.load(std::sync::atomic::Ordering::SeqCst) > before,
        "the pushes and pulls went through the token service"
    );
}

#[test]
fn a_missing_tag_names_registry_repository_and_the_tags_there() {
    let registry = Registry::start();
    let s = scratch();
    let app = probe_app(&s);
    qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(registry.reference("acme/probe:1.0"))
        .assert()
        .success();
    let out = qyv(&s)
        .args(["pull", &registry.reference("acme/probe:2.0")])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        &format!(
            "tag 2.0 (its tags: 1.0) not found in {}/acme/probe",
            registry.addr()
        ),
    );
    let out = qyv(&s)
        .args(["run", &registry.reference("acme/nothing-here:1")])
        .output()
        .unwrap();
    expect_failure(&out, 125, "not found in");
    assert!(
        stderr(&out).contains("acme/nothing-here"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_registry_that_is_down() {
    let s = scratch();
    let reference = format!("127.0.0.1:{}/acme/probe:1", free_port());
    let out = qyv(&s).args(["pull", &reference]).output().unwrap();
    expect_failure(&out, 125, "cannot connect to http://127.0.0.1:");
    assert!(
        stderr(&out).contains("is the registry running"),
        "{}",
        stderr(&out)
    );
    let out = qyv(&s)
        .arg("push")
        .arg(probe_app(&s))
        .arg(&reference)
        .output()
        .unwrap();
    expect_failure(&out, 125, "is the registry running");
}

#[test]
fn a_damaged_or_cut_blob_is_refused_and_nothing_is_stored() {
    let registry = Registry::start();
    let s = scratch();
    let out = qyv(&s)
        .arg("push")
        .arg(probe_app(&s))
        .arg(registry.reference("acme/probe:1"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let layer = stdout(&out)
        .lines()
        .find_map(|l| l.trim().strip_prefix("layer"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    let file = registry.blob_file(&layer);
    let good = std::fs::read(&file).unwrap();

    // Same length, one byte changed: the digest does not match.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(&file, &bad).unwrap();
    let out = qyv(&s)
        .args(["pull", &registry.reference("acme/probe:1")])
        .output()
        .unwrap();
    expect_failure(&out, 125, "does not match its digest");
    assert!(
        stderr(&out).contains(&format!("expected {layer}")),
        "{}",
        stderr(&out)
    );
    let hex = layer.strip_prefix("sha256:").unwrap();
    assert!(!blobs_in_store(&s).iter().any(|b| b == hex));
    assert_eq!(tmp_files(&s), 0, "a temporary file was left");

    // Cut short, as a pull interrupted midway sees it: refused, nothing
    // left; the next pull of the whole blob works.
    std::fs::write(&file, &good[..good.len() / 2]).unwrap();
    let out = qyv(&s)
        .args(["pull", &registry.reference("acme/probe:1")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(!blobs_in_store(&s).iter().any(|b| b == hex));
    assert_eq!(tmp_files(&s), 0, "a temporary file was left");
    std::fs::write(&file, &good).unwrap();
    let out = qyv(&s)
        .args(["pull", &registry.reference("acme/probe:1")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(blobs_in_store(&s).iter().any(|b| b == hex));
}

#[test]
fn artifacts_of_other_types_say_what_they_are() {
    let registry = Registry::start();
    let s = scratch();
    let layer = registry.upload("acme/image", b"not really a tarball");
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = registry.upload("acme/image", config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 20}],
    });
    registry.put_manifest(
        "acme/image",
        "latest",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let out = qyv(&s)
        .args(["run", &registry.reference("acme/image")])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "acme/image:latest is a container image (config application/vnd.oci.image.config.v1+json), not a Qyvol app or a wasm component",
    );
    assert!(blobs_in_store(&s).is_empty());
}

#[test]
fn bad_references_and_arguments() {
    let s = scratch();
    let app = probe_app(&s);
    for (args, says) in [
        (
            vec!["pull", "127.0.0.1:5000/Acme/probe"],
            "has capital letters; repository names are lowercase",
        ),
        (vec!["pull", "oci://"], "empty"),
        (
            vec!["pull", "127.0.0.1:5000/acme/probe:-x"],
            "the tag \"-x\" is not valid",
        ),
        (
            vec!["pull", "127.0.0.1:5000/acme/probe@sha256:123"],
            "64 lowercase hex digits",
        ),
        (vec!["run", "oci://127.0.0.1:5000/"], "no repository"),
        (vec!["login", "https://ghcr.io/acme"], "is not a registry"),
    ] {
        let out = qyv(&s).args(&args).output().unwrap();
        expect_failure(&out, 125, says);
    }
    let digest_only = format!("127.0.0.1:5000/acme/probe@sha256:{}", "a".repeat(64));
    let out = qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&digest_only)
        .output()
        .unwrap();
    expect_failure(&out, 125, "a push needs a tag");
    let out = qyv(&s)
        .arg("push")
        .arg(probe_p1())
        .arg("127.0.0.1:5000/acme/x:1")
        .args(["--format", "qyv"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "is a bare wasm file: push it with --format wasm");
    let out = qyv(&s)
        .arg("push")
        .arg(&app)
        .arg("127.0.0.1:5000/acme/x:1")
        .args(["--format", "wasm"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "--format wasm pushes a bare .wasm file");
}

#[test]
fn the_trust_policy_judges_pulled_bundles() {
    let registry = Registry::start();
    let s = scratch();
    let app = probe_app(&s);
    let (secret, public) = s.keygen("alice");
    let (_, stranger) = s.keygen("bob");
    let unsigned = registry.reference("acme/probe:unsigned");
    let signed = registry.reference("acme/probe:signed");
    qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&unsigned)
        .assert()
        .success();
    qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&signed)
        .arg("--sign")
        .arg(&secret)
        .assert()
        .success();

    let out = qyv(&s)
        .args(["pull", &unsigned, "--key"])
        .arg(&public)
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "is not signed, and --key/--trust requires a signature",
    );
    assert!(stderr(&out).contains(&unsigned), "{}", stderr(&out));
    let out = qyv(&s)
        .args(["run", "--key"])
        .arg(&public)
        .args([&unsigned, "args"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "is not signed");
    assert!(stdout(&out).is_empty(), "the app ran: {}", stdout(&out));

    let out = qyv(&s)
        .args(["pull", &signed, "--key"])
        .arg(&stranger)
        .output()
        .unwrap();
    expect_failure(&out, 125, "which --key/--trust does not trust");
    let out = qyv(&s)
        .args(["pull", &signed, "--key"])
        .arg(&public)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("trusted"), "{}", stdout(&out));
    let out = qyv(&s)
        .args(["run", "--key"])
        .arg(&public)
        .args([&signed, "args"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn chunked_uploads_arrive_whole() {
    let registry = Registry::start();
    let s = scratch();
    let wasm = probe_p2();
    let size = std::fs::metadata(&wasm).unwrap().len();
    assert!(
        size > 3 * 4096,
        "the probe is large enough for several chunks"
    );
    let reference = registry.reference("acme/chunked:1");
    let out = qyv(&s)
        .arg("push")
        .arg(&wasm)
        .arg(&reference)
        .args(["--chunk-size", "4KiB"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = qyv(&s).args(["pull", &reference]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = stdout(&out)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("stored")
                .map(|p| p.trim().to_string())
        })
        .unwrap();
    assert_eq!(
        std::fs::read(stored).unwrap(),
        std::fs::read(&wasm).unwrap()
    );
}

/// A bundle of over 20 MiB (the probe and 20 MiB of noise in a mounted
/// folder) whose app prints `streamed`.
pub(crate) fn big_bundle(s: &Scratch) -> std::path::PathBuf {
    let dir = s.path("big");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..(20 << 20))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.join("data/noise"), &noise).unwrap();
    std::fs::write(dir.join("data/hello"), "streamed\n").unwrap();
    let manifest = app(
        &dir,
        &probe_p1(),
        "args: [cat, /data/hello]\npermissions: { fs: read }\nfs:\n  - { source: ./data, target: /data }\n",
    );
    let bundle = s.pack(&manifest, "big.qyvbin", &[]);
    assert!(std::fs::metadata(&bundle).unwrap().len() > 16 << 20);
    bundle
}

#[test]
fn a_large_bundle_streams_up_and_a_second_push_sends_nothing() {
    // Over 16 MiB a layer streams while another thread hashes it, and the
    // registry is asked for the blob once the digest is known.
    let registry = Registry::start();
    let s = scratch();
    let bundle = big_bundle(&s);
    let reference = registry.reference("acme/big:1");
    let first = qyv(&s)
        .arg("push")
        .arg(&bundle)
        .arg(&reference)
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        !stdout(&first).contains("already in the registry"),
        "{}",
        stdout(&first)
    );
    let again = qyv(&s)
        .arg("push")
        .arg(&bundle)
        .arg(registry.reference("acme/big:2"))
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("already in the registry"),
        "{}",
        stdout(&again)
    );
    assert_eq!(digest_of(&first), digest_of(&again));

    let out = qyv(&s).args(["pull", &reference]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = stdout(&out)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("stored")
                .map(|p| p.trim().to_string())
        })
        .unwrap();
    assert!(std::fs::read(stored).unwrap() == std::fs::read(&bundle).unwrap());
    let run = qyv(&s).args(["run", &reference]).output().unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(stdout(&run), "streamed\n");
}

#[test]
fn search_reads_the_catalog_and_keeps_an_index() {
    let registry = Registry::start();
    let s = scratch();
    let app = probe_app(&s);
    qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(registry.reference("acme/probe:1"))
        .assert()
        .success();
    qyv(&s)
        .arg("push")
        .arg(probe_p2())
        .arg(registry.reference("tools/probe-wasm:2"))
        .assert()
        .success();

    let out = qyv(&s).args(["search"]).output().unwrap();
    expect_failure(
        &out,
        125,
        "no registry searched yet: name one with --registry",
    );

    let out = qyv(&s)
        .args(["search", "rust", "--registry", &registry.addr()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("REFERENCE"), "{text}");
    assert!(
        text.contains(&format!("{}/acme/probe:1", registry.addr())),
        "{text}"
    );
    assert!(text.contains("Qyvol app probe-app (rust)"), "{text}");
    assert!(!text.contains("probe-wasm"), "{text}");

    // A third app is not in the kept index until it is refreshed.
    qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(registry.reference("later/app:1"))
        .assert()
        .success();
    let out = qyv(&s).args(["search", "later"]).output().unwrap();
    assert!(
        stdout(&out).contains("nothing matches \"later\""),
        "{}",
        stdout(&out)
    );
    let out = qyv(&s)
        .args([
            "search",
            "--refresh",
            "--json",
            "--registry",
            &registry.addr(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let refs: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs.len(), 3, "{refs:?}");
    let wasm = found
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "wasm")
        .unwrap();
    assert_eq!(
        wasm["reference"],
        format!("{}/tools/probe-wasm:2", registry.addr())
    );
}

#[test]
fn install_update_and_uninstall_a_command() {
    let registry = Registry::start();
    let s = scratch();
    let dir = s.path("app");
    std::fs::create_dir_all(&dir).unwrap();
    app(
        &dir,
        &probe_p1(),
        "args: [args, v1]\npermissions: { net: true }\n",
    );
    let reference = registry.reference("acme/probe:1");
    qyv(&s)
        .arg("push")
        .arg(dir.join("app.qyv"))
        .arg(&reference)
        .assert()
        .success();
    let bin = s.path("bin");
    let install = |r: &str, extra: &[&str]| {
        let mut c = qyv(&s);
        c.env("QYVOL_BIN", &bin)
            .args(["install", r, "--name", "probe"])
            .args(extra);
        c.output().unwrap()
    };

    // The permissions are shown; without a terminal, only --yes installs.
    let out = install(&reference, &[]);
    expect_failure(&out, 125, "pass --yes to install");
    assert!(
        stdout(&out).contains("network: any host"),
        "{}",
        stdout(&out)
    );
    assert!(!bin.join("probe").exists());

    let out = install(&reference, &["--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("installed probe"), "{}", stdout(&out));
    let run = std::process::Command::new(bin.join("probe"))
        .arg("more")
        .env("QYVOL_CACHE_DIR", s.path("cache"))
        .env("XDG_CONFIG_HOME", s.path("config"))
        .env("DOCKER_CONFIG", s.path("docker"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stdout(&run).contains("arg[2]=v1\narg[3]=more\n"),
        "{}",
        stdout(&run)
    );

    // A newer tag under the same name updates the command in place.
    app(
        &dir,
        &probe_p1(),
        "args: [args, v2]\npermissions: { net: true }\n",
    );
    let newer = registry.reference("acme/probe:2");
    qyv(&s)
        .arg("push")
        .arg(dir.join("app.qyv"))
        .arg(&newer)
        .assert()
        .success();
    let out = install(&newer, &["--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("updated probe"), "{}", stdout(&out));
    let run = std::process::Command::new(bin.join("probe"))
        .env("QYVOL_CACHE_DIR", s.path("cache"))
        .env("XDG_CONFIG_HOME", s.path("config"))
        .env("DOCKER_CONFIG", s.path("docker"))
        .output()
        .unwrap();
    assert!(stdout(&run).contains("arg[2]=v2"), "{}", stdout(&run));

    let out = qyv(&s).args(["list", "--installed"]).output().unwrap();
    assert!(stdout(&out).contains(&newer), "{}", stdout(&out));

    // A file qyv did not write is left alone.
    std::fs::write(bin.join("mine"), "#!/bin/sh\n").unwrap();
    let mut c = qyv(&s);
    let out = c
        .env("QYVOL_BIN", &bin)
        .args(["install", &newer, "--name", "mine", "--yes"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "was not installed by qyv install");
    assert_eq!(
        std::fs::read_to_string(bin.join("mine")).unwrap(),
        "#!/bin/sh\n"
    );

    let out = qyv(&s).args(["uninstall", "probe"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!bin.join("probe").exists());
    let out = qyv(&s).args(["uninstall", "probe"]).output().unwrap();
    expect_failure(&out, 125, "probe was not installed by qyv install");
}

#[test]
fn serve_a_wasi_http_component_by_reference() {
    let registry = Registry::start();
    let s = scratch();
    let reference = registry.reference("acme/http-probe:1");
    qyv(&s)
        .arg("push")
        .arg(http_probe())
        .arg(&reference)
        .assert()
        .success();
    let server = Served::start(&[std::ffi::OsStr::new(&reference)]);
    let reply = server.get("/hello");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "hello from probe\n")
    );
    assert!(
        server
            .stderr()
            .text()
            .contains("serving http-probe at http://"),
        "{}",
        server.stderr().text()
    );

    // A Qyvol app by reference is pulled and served from its bundle.
    let dir = s.path("app");
    std::fs::create_dir_all(&dir).unwrap();
    let app = app(&dir, &http_probe(), "type: http\n");
    let bundled = registry.reference("acme/http-app:1");
    qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&bundled)
        .assert()
        .success();
    let server = Served::start(&[std::ffi::OsStr::new(&bundled)]);
    let reply = server.get("/hello");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "hello from probe\n")
    );
}

#[test]
fn sizes_over_the_caps_are_refused_before_reading() {
    let registry = Registry::start();
    let s = scratch();
    let module = std::fs::read(probe_p1()).unwrap();
    let layer = registry.upload("acme/huge", &module);
    let config = br#"{"architecture":"wasm","os":"wasip1"}"#;
    let config_digest = registry.upload("acme/huge", config);
    // A manifest that says its layer is 5 GiB (the registry checks only
    // that the blob exists).
    let manifest = |layer_size: u64, config_size: u64| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/wasm", "digest": layer, "size": layer_size}],
        }))
        .unwrap()
    };
    let oci = "application/vnd.oci.image.manifest.v1+json";
    registry.put_manifest(
        "acme/huge",
        "layer",
        oci,
        &manifest(5 << 30, config.len() as u64),
    );
    let out = qyv(&s)
        .args(["pull", &registry.reference("acme/huge:layer")])
        .output()
        .unwrap();
    expect_failure(
        &out,
        125,
        "is 5368709120 bytes, more than the 4294967296 bytes qyv accepts; refused before reading it",
    );
    registry.put_manifest(
        "acme/huge",
        "config",
        oci,
        &manifest(module.len() as u64, 2 << 20),
    );
    let out = qyv(&s)
        .args(["pull", &registry.reference("acme/huge:config")])
        .output()
        .unwrap();
    expect_failure(&out, 125, "more than the 1048576 bytes qyv accepts");
    // A layer whose length is not what its manifest says.
    registry.put_manifest(
        "acme/huge",
        "short",
        oci,
        &manifest(module.len() as u64 + 7, config.len() as u64),
    );
    let out = qyv(&s)
        .args(["pull", &registry.reference("acme/huge:short")])
        .output()
        .unwrap();
    expect_failure(&out, 125, "but its manifest says");
    assert!(blobs_in_store(&s).is_empty(), "{:?}", blobs_in_store(&s));
    assert_eq!(tmp_files(&s), 0);
}

/// A `qyv daemon` on loopback whose Docker config is `docker`: its URL,
/// fingerprint and token; killed when the child is.
fn daemon(s: &Scratch, data: &str, docker: &std::path::Path) -> (std::process::Child, [String; 3]) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qyv"))
        .args(["daemon", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(s.path(data))
        .env("XDG_CONFIG_HOME", s.path("config"))
        .env("QYVOL_CACHE_DIR", s.path("node-cache"))
        .env("DOCKER_CONFIG", docker)
        .env_remove("QYVOL_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut fingerprint) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("qyv daemon listening on ") {
            url = u.trim().to_string();
        }
        if let Some(f) = line.trim().strip_prefix("fingerprint") {
            fingerprint = f.trim().to_string();
        }
        if line.trim_start().starts_with("connect") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let out = qyv(s)
        .args(["daemon", "token", "--data-dir"])
        .arg(s.path(data))
        .output()
        .unwrap();
    let token = stdout(&out).trim().to_string();
    (child, [url, fingerprint, token])
}

#[test]
fn deploy_by_reference_the_node_pulls_with_its_own_credentials() {
    let registry = Registry::with_basic_auth("alice", "pw");
    let s = scratch();
    let dir = s.path("app");
    std::fs::create_dir_all(&dir).unwrap();
    let app = app(&dir, &probe_p1(), "args: [args, from-registry]\n");
    qyv(&s)
        .args(["login", &registry.addr(), "-u", "alice", "--password-stdin"])
        .write_stdin("pw")
        .assert()
        .success();
    let reference = registry.reference("acme/probe:1");
    qyv(&s)
        .arg("push")
        .arg(&app)
        .arg(&reference)
        .assert()
        .success();

    let deploy = |node: &[String; 3]| {
        qyv(&s)
            .args([
                "deploy",
                &reference,
                "--node",
                &node[0],
                "--fingerprint",
                &node[1],
            ])
            .env("QYVOL_TOKEN", &node[2])
            .output()
            .unwrap()
    };
    // A node without credentials for the registry: the node pulls, so the
    // node is refused, whatever the client may do.
    let empty = s.path("node-docker-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (mut child, node) = daemon(&s, "node-a", &empty);
    let out = deploy(&node);
    let _ = child.kill();
    let _ = child.wait();
    expect_failure(&out, 125, "the node could not pull");
    assert!(
        stderr(&out).contains("requires a login"),
        "{}",
        stderr(&out)
    );

    // A node with its own login pulls by digest and runs the app.
    let (mut child, node) = daemon(&s, "node-b", &s.path("docker"));
    let out = deploy(&node);
    let logs = qyv(&s)
        .args([
            "logs",
            "probe-app",
            "--node",
            &node[0],
            "--fingerprint",
            &node[1],
        ])
        .env("QYVOL_TOKEN", &node[2])
        .output()
        .unwrap();
    let bare = qyv(&s)
        .arg("push")
        .arg(probe_p2())
        .arg(registry.reference("acme/bare:1"))
        .output()
        .unwrap();
    assert!(bare.status.success(), "{}", stderr(&bare));
    let wasm = qyv(&s)
        .args([
            "deploy",
            &registry.reference("acme/bare:1"),
            "--node",
            &node[0],
            "--fingerprint",
            &node[1],
        ])
        .env("QYVOL_TOKEN", &node[2])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("@sha256:"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("probe-app deployed as revision 1"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&logs).contains("arg[2]=from-registry"),
        "{}",
        stdout(&logs)
    );
    expect_failure(
        &wasm,
        125,
        "is a bare wasm (CNCF wasm layout); a node runs Qyvol apps",
    );
}

#[test]
fn a_missing_file_is_not_taken_for_a_reference() {
    let s = scratch();
    let out = qyv(&s).args(["run", "conf.d/app.qyv"]).output().unwrap();
    expect_failure(&out, 125, "conf.d/app.qyv: no such file or folder");
    let out = qyv(&s).args(["run", "./missing/app"]).output().unwrap();
    expect_failure(&out, 125, "no such file or folder");
}
