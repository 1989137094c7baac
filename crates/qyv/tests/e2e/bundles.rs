//! `.qyvbin` bundles through the binary: keygen, pack, inspect, verify and
//! run; files from mounts; signatures and the trust policy; precompiled
//! code; damaged and hostile files.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::Value;

impl Scratch {
    fn config(&self, text: &str) {
        write(&self.path("config/qyvol"), "config.yaml", text);
    }

    /// The probe app in `app/` with `data/hello.txt` mounted at `/data`.
    fn data_app(&self, wasm: &Path) -> PathBuf {
        write(
            &self.path("app/data"),
            "hello.txt",
            "first line\nsecond line\n",
        );
        write(&self.path("app/data/sub"), "deep.txt", "deep\n");
        fs::create_dir_all(self.path("app/data/empty")).unwrap();
        self.app_in(
            "app",
            wasm,
            "permissions: { fs: read }\nfs:\n  - { source: ./data, target: /data }\n",
        )
    }

    /// `common::app` in a new folder `rel`.
    fn app_in(&self, rel: &str, wasm: &Path, rest: &str) -> PathBuf {
        fs::create_dir_all(self.path(rel)).unwrap();
        app(&self.path(rel), wasm, rest)
    }
}

fn json(out: &std::process::Output) -> Value {
    let text = stderr(out);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON metrics in {text}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn keygen_writes_a_pair_once() {
    let s = Scratch::new();
    let out = s.qyv().arg("keygen").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let keys = s.path("config/qyvol/keys");
    assert!(stdout(&out).starts_with("key "), "{}", stdout(&out));
    let secret = fs::read_to_string(keys.join("qyvol.key")).unwrap();
    assert!(secret.starts_with("-----BEGIN PRIVATE KEY-----"));
    let public = fs::read_to_string(keys.join("qyvol.pub")).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    let out = s.qyv().arg("keygen").output().unwrap();
    expect_failure(&out, 125, "already exists");
    assert_eq!(fs::read_to_string(keys.join("qyvol.key")).unwrap(), secret);
}

#[test]
fn the_hello_example_packs_inspects_verifies_and_runs() {
    let s = Scratch::new();
    let bundle = s.pack(&example("hello/hello.qyv"), "hello.qyvbin", &[]);
    let out = s.qyv().arg("run").arg(&bundle).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "¡Hola desde Rust!\n");
    assert!(
        stderr(&out).contains("hello.qyvbin is not signed; running it as a local app"),
        "{}",
        stderr(&out)
    );
    let out = s
        .qyv()
        .args(["inspect", "--json"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["manifest"]["name"], "hello");
    assert_eq!(v["entries"][0]["name"], "hello.qyv");
    assert_eq!(v["entries"][1]["kind"], "wasm");
    assert_eq!(v["signer"], Value::Null);
    s.qyv()
        .arg("verify")
        .arg(&bundle)
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "every SHA-256 matches; not signed",
        ));
    // Made to be shared, not private as a temporary file would be.
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&bundle).unwrap().permissions());
    assert_eq!(mode & 0o044, 0o044, "{mode:o}");
    // The default name is the app's.
    s.qyv()
        .arg("pack")
        .arg(example("hello/hello.qyv"))
        .assert()
        .success();
    assert_eq!(
        fs::read(s.path("hello.qyvbin")).unwrap(),
        fs::read(&bundle).unwrap()
    );
}

#[test]
fn a_bundled_app_reads_the_files_of_its_mounts_read_only() {
    for wasm in [probe_p1(), probe_p2()] {
        let s = Scratch::new();
        let manifest = s.data_app(&wasm);
        let bundle = s.pack(&manifest, "data.qyvbin", &[]);
        // The files come from the bundle, not from the folder it was made of.
        fs::remove_dir_all(s.path("app")).unwrap();
        s.qyv()
            .arg("run")
            .arg(&bundle)
            .args(["cat", "/data/sub/deep.txt"])
            .assert()
            .success()
            .stdout("deep\n");
        s.qyv()
            .arg("run")
            .arg(&bundle)
            .args(["ls", "/data"])
            .assert()
            .success()
            .stdout("empty\nhello.txt\nsub\n");
        let out = s
            .qyv()
            .arg("run")
            .arg(&bundle)
            .args(["write", "/data/hello.txt", "changed"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        s.qyv()
            .arg("run")
            .arg(&bundle)
            .args(["head", "/data/hello.txt"])
            .assert()
            .success()
            .stdout("first line\n");
        // One extracted copy, shared by every run.
        let files: Vec<_> = fs::read_dir(s.path("cache/v1/files")).unwrap().collect();
        assert_eq!(files.len(), 1);
    }
}

#[test]
fn a_writable_folder_comes_from_the_command_line() {
    let s = Scratch::new();
    let manifest = s.data_app(&probe_p1());
    let bundle = s.pack(&manifest, "data.qyvbin", &[]);
    fs::create_dir_all(s.path("out")).unwrap();
    s.qyv()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/out", s.path("out").display()))
        .arg(&bundle)
        .args(["write", "/out/x.txt", "hi"])
        .assert()
        .success();
    assert_eq!(fs::read_to_string(s.path("out/x.txt")).unwrap(), "hi");
}

#[test]
fn pack_refuses_what_a_bundle_cannot_carry() {
    let s = Scratch::new();
    let m = s.app_in("full", &probe_p1(), "permissions: { fs: full }\n");
    let out = s.qyv().arg("pack").arg(&m).output().unwrap();
    expect_failure(
        &out,
        125,
        "permissions.fs: full gives the app the host's whole file system",
    );
    let m = s.app_in(
        "rw",
        &probe_p1(),
        "permissions: { fs: write }\nfs:\n  - { source: ., target: /w, mode: write }\n",
    );
    let out = s.qyv().arg("pack").arg(&m).output().unwrap();
    expect_failure(&out, 125, "fs[0].mode: a bundle's files are read-only");
    let m = s.data_app(&probe_p1());
    std::os::unix::fs::symlink("/etc/passwd", s.path("app/data/link")).unwrap();
    let out = s.qyv().arg("pack").arg(&m).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out)
            .contains("link: a symbolic link; a bundle holds folders and regular files only"),
        "{}",
        stderr(&out)
    );
    // An invalid wasm is refused at its manifest line.
    let m = s.app_in("bad", &probe_p1(), "");
    fs::write(s.path("bad/probe.wasm"), b"\0asm\x01\0\0\0\x01\xff").unwrap();
    let out = s.qyv().arg("pack").arg(&m).output().unwrap();
    expect_failure(&out, 125, "app.qyv:2:13: entrypoint: ");
    // Nothing half-written.
    assert!(!s.path("probe-app.qyvbin").exists());
}

#[test]
fn packing_is_deterministic_even_with_precompiled_code() {
    let s = Scratch::new();
    let (key, _) = s.keygen("me");
    let m = s.data_app(&probe_p1());
    let key = key.to_str().unwrap();
    let a = s.pack(&m, "a.qyvbin", &["--precompile", "--sign", key]);
    let b = s.pack(&m, "b.qyvbin", &["--precompile", "--sign", key]);
    assert_eq!(fs::read(a).unwrap(), fs::read(b).unwrap());
}

#[test]
fn the_trust_policy_decides_which_bundles_run() {
    let s = Scratch::new();
    let (ours, ours_pub) = s.keygen("ours");
    let (theirs, _) = s.keygen("theirs");
    let m = s.app_in("app", &probe_p1(), "");
    let unsigned = s.pack(&m, "unsigned.qyvbin", &[]);
    let signed = s.pack(&m, "signed.qyvbin", &["--sign", ours.to_str().unwrap()]);
    let foreign = s.pack(&m, "foreign.qyvbin", &["--sign", theirs.to_str().unwrap()]);

    // No policy: all run, with a note for those nobody trusted.
    for b in [&unsigned, &signed, &foreign] {
        s.qyv()
            .arg("run")
            .arg(b)
            .args(["exit", "0"])
            .assert()
            .success();
    }
    let out = s
        .qyv()
        .arg("run")
        .arg(&foreign)
        .args(["exit", "0"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("which you do not trust; running it as an unsigned bundle"),
        "{}",
        stderr(&out)
    );

    // A policy that requires our signature.
    s.config("trust:\n  require_signature: true\n  keys: [../../keys/ours/qyvol.pub]\n");
    let out = s
        .qyv()
        .arg("run")
        .arg(&signed)
        .args(["exit", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let out = s
        .qyv()
        .arg("run")
        .arg(&unsigned)
        .args(["exit", "0"])
        .output()
        .unwrap();
    assert!(stdout(&out).is_empty());
    expect_failure(
        &out,
        125,
        "unsigned.qyvbin is not signed, and the trust policy in",
    );
    let out = s
        .qyv()
        .arg("run")
        .arg(&foreign)
        .args(["exit", "0"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "which the trust policy in");
    s.qyv().arg("verify").arg(&signed).assert().success();
    s.qyv().arg("verify").arg(&foreign).assert().code(1);

    // Flags replace the config: only the keys they name count.
    fs::remove_dir_all(s.path("config")).unwrap();
    s.qyv()
        .arg("run")
        .arg("--key")
        .arg(&ours_pub)
        .arg(&signed)
        .args(["exit", "0"])
        .assert()
        .success();
    s.qyv()
        .arg("run")
        .arg("--trust")
        .arg(s.path("keys/ours"))
        .arg(&foreign)
        .assert()
        .code(125);
    s.qyv()
        .args(["verify", "--key"])
        .arg(&ours_pub)
        .arg(&unsigned)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "is not signed, and --key/--trust requires",
        ));
    // --key makes no sense for what is not a bundle.
    s.qyv()
        .arg("run")
        .arg("--key")
        .arg(&ours_pub)
        .arg(&m)
        .assert()
        .code(125)
        .stderr(predicates::str::contains(
            "--key, --trust and --allow-precompiled apply to .qyvbin bundles",
        ));
    s.qyv()
        .args(["run", "--allow-precompiled"])
        .arg(&m)
        .assert()
        .code(125);
}

#[test]
fn a_bad_config_is_an_error_at_its_line() {
    let s = Scratch::new();
    let m = s.app_in("app", &probe_p1(), "");
    let bundle = s.pack(&m, "app.qyvbin", &[]);
    s.config("trust:\n  require_signatures: true\n");
    let out = s.qyv().arg("run").arg(&bundle).output().unwrap();
    expect_failure(
        &out,
        125,
        "config.yaml:2:3: trust: unknown field \"require_signatures\" (did you mean \"require_signature\"?)",
    );
    s.config("trust:\n  keys: [missing.pub]\n");
    let out = s.qyv().arg("run").arg(&bundle).output().unwrap();
    expect_failure(&out, 125, "config.yaml:2:10: trust.keys[0]: ");
}

#[test]
fn precompiled_code_is_used_when_trusted_and_made_for_this_engine() {
    let s = Scratch::new();
    let (key, public) = s.keygen("me");
    let m = s.app_in("app", &probe_p2(), "");
    let bundle = s.pack(
        &m,
        "app.qyvbin",
        &["--precompile", "--sign", key.to_str().unwrap()],
    );
    let run = |extra: &[&str]| {
        let out = s
            .qyv()
            .arg("run")
            .arg("--metrics=json")
            .args(extra)
            .arg(&bundle)
            .args(["exit", "0"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), "exiting with 0\n");
        (
            json(&out)["code_source"].as_str().unwrap().to_string(),
            stderr(&out),
        )
    };
    let trusted = ["--key", public.to_str().unwrap()];
    // Not trusted: the wasm is compiled, and the user is told why.
    let (source, err) = run(&[]);
    assert_eq!(source, "compiled");
    assert!(err.contains("its precompiled code is not used"), "{err}");
    // Trusted: copied from the bundle once, then mapped from the cache.
    assert_eq!(run(&trusted).0, "precompiled");
    assert_eq!(run(&trusted).0, "cache_hit");
    // With a time limit (epoch checks, as on a node): the bundle carries
    // that engine's code too.
    let mut timed = trusted.to_vec();
    timed.extend(["--timeout", "10s"]);
    assert_eq!(run(&timed).0, "precompiled");
    // Another engine (fuel adds its own checks): compiled, with a note.
    let mut fueled = trusted.to_vec();
    fueled.extend(["--fuel", "1000000000"]);
    let (source, err) = run(&fueled);
    assert_eq!(source, "compiled");
    assert!(err.contains("not for this engine and machine"), "{err}");
    // Untrusted but allowed explicitly.
    assert_eq!(run(&["--allow-precompiled"]).0, "cache_hit");
    // --no-cache compiles.
    assert_eq!(
        run(&["--no-cache", "--key", public.to_str().unwrap()]).0,
        "compiled_uncached"
    );
}

/// A tiny signed bundle (a module that does nothing) and the key to trust.
fn tiny_signed(s: &Scratch) -> (PathBuf, PathBuf) {
    let (key, public) = s.keygen("me");
    let dir = s.path("tiny");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("t.wasm"),
        wat::parse_str(r#"(module (func (export "_start")))"#).unwrap(),
    )
    .unwrap();
    let m = write(&dir, "t.qyv", "name: t\nentrypoint: t.wasm\n");
    (
        s.pack(&m, "t.qyvbin", &["--sign", key.to_str().unwrap()]),
        public,
    )
}

#[test]
fn qyv_run_refuses_a_signed_bundle_with_any_byte_changed() {
    let s = Scratch::new();
    let (bundle, public) = tiny_signed(&s);
    let good = fs::read(&bundle).unwrap();
    let run = |path: &Path| {
        s.qyv()
            .arg("run")
            .arg("--key")
            .arg(&public)
            .arg(path)
            .output()
            .unwrap()
    };
    let out = run(&bundle);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        let path = s.path(&format!("bad-{i}.qyvbin"));
        fs::write(&path, &bad).unwrap();
        let out = run(&path);
        assert_eq!(out.status.code(), Some(125), "byte {i}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("error: "),
            "byte {i}: {}",
            stderr(&out)
        );
        fs::remove_file(&path).unwrap();
    }
    // And cut at every length: the tail of the trailer included.
    for len in 0..good.len() {
        let path = s.path(&format!("cut-{len}.qyvbin"));
        fs::write(&path, &good[..len]).unwrap();
        let out = run(&path);
        assert_eq!(
            out.status.code(),
            Some(125),
            "cut at {len}: {}",
            stderr(&out)
        );
        fs::remove_file(&path).unwrap();
    }
}

/// `bundle` with `name` in its table replaced by `hostile` (as long), and
/// the trailer's digest made right again: only the name rules can refuse it.
fn rename_entry(bundle: &[u8], name: &str, hostile: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    assert_eq!(name.len(), hostile.len());
    let toc_end = 16 + u32::from_le_bytes(bundle[12..16].try_into().unwrap()) as usize;
    let mut out = bundle.to_vec();
    let at = 16
        + out[16..toc_end]
            .windows(name.len())
            .position(|w| w == name.as_bytes())
            .unwrap();
    out[at..at + name.len()].copy_from_slice(hostile.as_bytes());
    let digest = Sha256::digest(&out[..toc_end]);
    let trailer = out.len() - 32;
    out[trailer..].copy_from_slice(&digest);
    out
}

#[test]
fn entry_names_that_would_leave_the_bundle_are_refused() {
    let s = Scratch::new();
    let m = s.data_app(&probe_p1());
    let good = fs::read(s.pack(&m, "data.qyvbin", &[])).unwrap();
    // The harness is sound: a harmless rename makes a bundle that opens.
    let harmless = rename_entry(&good, "fs/0/hello.txt", "fs/0/hello.txu");
    fs::write(s.path("harmless.qyvbin"), &harmless).unwrap();
    s.qyv()
        .arg("inspect")
        .arg("harmless.qyvbin")
        .assert()
        .success();
    for (i, (name, hostile, says)) in [
        (
            "fs/0/hello.txt",
            "../../etc/pass",
            "entry 4 (\"../../etc/pass\"): the name has a \"..\" component",
        ),
        (
            "fs/0/hello.txt",
            "fs/0/../../../",
            "the name has a \"..\" component",
        ),
        (
            "fs/0/hello.txt",
            "/tmp/hello.txt",
            "the name is an absolute path; entry names are relative",
        ),
        (
            "fs/0/sub/deep.txt",
            "fs/0/sub\\..\\..\\xy",
            "the name contains a backslash",
        ),
        (
            "probe.wasm",
            "../p.wasm!",
            "the name has a \"..\" component",
        ),
        (
            "probe.wasm",
            "sub/p.wasm",
            "the wasm entry's name \"sub/p.wasm\" is a path; it must be a file name",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let file = format!("hostile-{i}.qyvbin");
        fs::write(s.path(&file), rename_entry(&good, name, hostile)).unwrap();
        for cmd in ["run", "inspect", "verify"] {
            let out = s
                .qyv()
                .arg(cmd)
                .arg(&file)
                .args(if cmd == "run" {
                    &["ls", "/data"][..]
                } else {
                    &[]
                })
                .output()
                .unwrap();
            let code = if cmd == "verify" { 1 } else { 125 };
            assert_eq!(out.status.code(), Some(code), "{cmd} {hostile}");
            assert!(
                stdout(&out).is_empty() || cmd == "verify",
                "{cmd} {hostile}"
            );
            assert!(
                stderr(&out).contains(says),
                "{cmd} {hostile}: {}",
                stderr(&out)
            );
        }
    }
    // Nothing was unpacked anywhere.
    assert!(!s.path("cache/v1/files").exists());
    assert!(!s.path("etc").exists() && !s.path("cache/etc").exists());
}

#[test]
fn a_damaged_file_entry_is_named_and_nothing_runs() {
    let s = Scratch::new();
    let m = s.data_app(&probe_p1());
    let bundle = s.pack(&m, "data.qyvbin", &[]);
    let mut bytes = fs::read(&bundle).unwrap();
    let at = bytes.windows(10).position(|w| w == b"first line").unwrap();
    bytes[at] = b'F';
    fs::write(&bundle, &bytes).unwrap();
    let out = s
        .qyv()
        .arg("run")
        .arg(&bundle)
        .args(["cat", "/data/hello.txt"])
        .output()
        .unwrap();
    assert!(stdout(&out).is_empty());
    expect_failure(
        &out,
        125,
        "the file entry \"fs/0/hello.txt\" does not match its SHA-256: the bundle was changed or damaged after it was packed",
    );
    // Nothing of it was kept.
    assert!(
        !s.path("cache/v1/files").exists()
            || fs::read_dir(s.path("cache/v1/files"))
                .unwrap()
                .next()
                .is_none()
    );
    s.qyv().arg("verify").arg(&bundle).assert().code(1);
}

#[test]
fn a_bundle_changed_after_a_verified_run_is_checked_again() {
    let s = Scratch::new();
    let m = s.data_app(&probe_p1());
    let bundle = s.pack(&m, "data.qyvbin", &[]);
    s.qyv()
        .arg("run")
        .arg(&bundle)
        .args(["head", "/data/hello.txt"])
        .assert()
        .success();
    // Same size, one byte of the wasm changed in place.
    let mut bytes = fs::read(&bundle).unwrap();
    let wasm = fs::read(probe_p1()).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &wasm[1000..1064])
        .unwrap();
    bytes[at] ^= 1;
    fs::write(&bundle, &bytes).unwrap();
    let out = s
        .qyv()
        .arg("run")
        .arg(&bundle)
        .args(["head", "/data/hello.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wasm entry \"probe.wasm\" does not match its SHA-256"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn files_that_are_not_good_bundles_get_clear_errors() {
    let s = Scratch::new();
    write(s.dir.path(), "notes.qyvbin", "hello, world\n");
    fs::copy(probe_p1(), s.path("prog.qyvbin")).unwrap();
    let (bundle, _) = tiny_signed(&s);
    let good = fs::read(&bundle).unwrap();
    fs::write(s.path("cut.qyvbin"), &good[..good.len() / 2]).unwrap();
    let mut newer = good.clone();
    newer[8] = 9;
    fs::write(s.path("newer.qyvbin"), &newer).unwrap();
    for (file, says) in [
        (
            "notes.qyvbin",
            "not a Qyvol bundle (it starts with \"hello, world\\n\"",
        ),
        ("prog.qyvbin", "this is a .wasm file, not a bundle"),
        ("cut.qyvbin", "cut short"),
        (
            "newer.qyvbin",
            "bundle format version 9; this qyv reads version 2: upgrade qyv",
        ),
        ("missing.qyvbin", "missing.qyvbin: no such file"),
    ] {
        for cmd in ["run", "inspect"] {
            let out = s.qyv().arg(cmd).arg(file).output().unwrap();
            assert_eq!(out.status.code(), Some(125), "{cmd} {file}");
            assert!(
                stderr(&out).contains(says),
                "{cmd} {file}: {}",
                stderr(&out)
            );
        }
        let out = s.qyv().arg("verify").arg(file).output().unwrap();
        let expected = if file == "missing.qyvbin" { 125 } else { 1 };
        assert_eq!(out.status.code(), Some(expected), "verify {file}");
        assert!(
            stderr(&out).contains(says),
            "verify {file}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn signing_keys_must_be_the_right_half() {
    let s = Scratch::new();
    let (key, public) = s.keygen("me");
    let m = s.app_in("app", &probe_p1(), "");
    let out = s
        .qyv()
        .arg("pack")
        .arg(&m)
        .arg("--sign")
        .arg(&public)
        .output()
        .unwrap();
    expect_failure(&out, 125, "this is a public key");
    let bundle = s.pack(&m, "app.qyvbin", &[]);
    let out = s
        .qyv()
        .arg("verify")
        .arg("--key")
        .arg(&key)
        .arg(&bundle)
        .output()
        .unwrap();
    expect_failure(&out, 125, "this is a private key");
}

#[test]
fn an_unusable_cache_means_warnings_not_failure() {
    let s = Scratch::new();
    let (key, public) = s.keygen("me");
    let m = s.data_app(&probe_p1());
    let bundle = s.pack(
        &m,
        "data.qyvbin",
        &["--precompile", "--sign", key.to_str().unwrap()],
    );
    // A cache folder that cannot exist: its parent is a file.
    write(s.dir.path(), "blocker", "x");
    let out = qyv_with_cache(&s.path("blocker/cache"))
        .env("XDG_CONFIG_HOME", s.path("config"))
        .arg("run")
        .arg("--metrics=json")
        .arg("--key")
        .arg(&public)
        .arg(&bundle)
        .args(["head", "/data/hello.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "first line\n");
    let err = stderr(&out);
    assert!(
        err.contains("warning: cannot copy the precompiled code"),
        "{err}"
    );
    assert!(err.contains("using a temporary folder"), "{err}");
    assert_eq!(json(&out)["code_source"], "compiled");
}

#[test]
fn commands_that_take_no_bundles_say_so() {
    let s = Scratch::new();
    let (bundle, _) = tiny_signed(&s);
    let out = s.qyv().arg("build").arg(&bundle).output().unwrap();
    expect_failure(
        &out,
        125,
        "t.qyvbin: a .qyvbin bundle is already built; name the .qyv manifest it was packed from",
    );
    let out = s.qyv().arg("serve").arg(&bundle).output().unwrap();
    expect_failure(
        &out,
        125,
        "t.qyvbin`, or set type: http if it is a wasi:http handler",
    );
}

#[test]
fn an_http_app_in_a_bundle_is_served_as_the_trust_policy_allows() {
    let s = Scratch::new();
    let (key, public) = s.keygen("me");
    let (_, stranger) = s.keygen("stranger");
    let m = s.app_in("web", &http_probe(), "type: http\n");
    let bundle = s.pack(
        &m,
        "web.qyvbin",
        &["--sign", key.to_str().unwrap(), "--precompile"],
    );
    let server = Served::start(&[bundle.as_os_str(), "--key".as_ref(), public.as_os_str()]);
    let reply = server.get("/hello");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "hello from probe\n")
    );
    assert!(
        server
            .stderr()
            .text()
            .contains("serving probe-app at http://"),
        "{}",
        server.stderr().text()
    );
    drop(server);

    // Signed by a key the policy does not hold: refused before it serves.
    let out = s
        .qyv()
        .arg("serve")
        .arg(&bundle)
        .arg("--key")
        .arg(&stranger)
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "web.qyvbin is signed by key");
    // Trust flags with nothing to judge are a mistake, said as one.
    let out = s
        .qyv()
        .arg("serve")
        .arg(&m)
        .arg("--key")
        .arg(&public)
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    expect_failure(&out, 125, "apply to .qyvbin bundles; no app served is one");
}

#[test]
fn an_http_app_in_a_bundle_is_not_run_as_a_command() {
    let s = Scratch::new();
    let m = s.app_in("web", &http_probe(), "type: http\n");
    let bundle = s.pack(&m, "web.qyvbin", &[]);
    let out = s.qyv().arg("run").arg(&bundle).output().unwrap();
    expect_failure(
        &out,
        125,
        "type: this is an HTTP app: serve it with `qyv serve /",
    );
    assert!(
        stderr(&out).trim_end().ends_with("web.qyvbin`"),
        "{}",
        stderr(&out)
    );
}
