//! The hub against a second, independent OCI client: the ORAS project's
//! Python client (`oras` from PyPI, installed by
//! scripts/install-toolchains.sh), on a real registry with htpasswd basic
//! auth. What it pushes in the CNCF wasm layout, qyv runs; what qyv pushes
//! with `--format wasm`, it pulls byte for byte.

use std::process::Command;

use crate::common::registry::Registry;
use crate::common::*;

/// Runs `script` with python3 (which has `oras`), arguments after it.
fn oras(script: &str, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 with oras: run scripts/install-toolchains.sh")
}

/// Logs in (basic auth over plain HTTP on loopback), then pushes or pulls.
const ORAS: &str = r#"
import sys, os, oras.client
action, host, user, password, target, path = sys.argv[1:7]
client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
client.login(username=user, password=password, hostname=host)
if action == "push":
    os.chdir(os.path.dirname(path))
    config = os.path.join(os.path.dirname(path), "config.json")
    with open(config, "w") as f:
        f.write('{"architecture":"wasm","os":"wasip2","layerDigests":[]}')
    r = client.push(
        target=target,
        files=[os.path.basename(path) + ":application/wasm"],
        manifest_config="config.json:application/vnd.wasm.config.v0+json",
        disable_path_validation=True,
    )
    assert r.status_code == 201, r.status_code
else:
    print("\n".join(client.pull(target=target, outdir=path)))
"#;

#[test]
fn oras_pushes_what_qyv_runs_and_pulls_what_qyv_pushes() {
    let registry = Registry::with_basic_auth("alice", "pw");
    let s = Scratch::new();
    let docker = s.path("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let qyv = || crate::hub::qyv(&s);
    qyv()
        .args(["login", &registry.addr(), "-u", "alice", "--password-stdin"])
        .write_stdin("pw")
        .assert()
        .success();
    let host = registry.addr();

    // oras pushes a component in the CNCF wasm layout; qyv runs it.
    let dir = s.path("oras-push");
    std::fs::create_dir_all(&dir).unwrap();
    let comp = dir.join("probe.component.wasm");
    std::fs::copy(probe_p2(), &comp).unwrap();
    let from_oras = registry.reference("acme/from-oras:1");
    let out = oras(
        ORAS,
        &[
            "push",
            &host,
            "alice",
            "pw",
            &from_oras,
            comp.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "oras push: {}", stderr(&out));
    let out = qyv()
        .args(["run", &from_oras, "args", "from-oras"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("arg[2]=from-oras"),
        "{}",
        stdout(&out)
    );

    // qyv pushes a module with --format wasm; oras pulls the same bytes.
    let from_qyv = registry.reference("acme/from-qyv:1");
    qyv()
        .arg("push")
        .arg(probe_p1())
        .arg(&from_qyv)
        .args(["--format", "wasm"])
        .assert()
        .success();
    let outdir = s.path("oras-pull");
    let out = oras(
        ORAS,
        &[
            "pull",
            &host,
            "alice",
            "pw",
            &from_qyv,
            outdir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "oras pull: {}", stderr(&out));
    let pulled = outdir.join("probe.wasm");
    assert!(stdout(&out).contains("probe.wasm"), "{}", stdout(&out));
    assert!(
        std::fs::read(&pulled).unwrap() == std::fs::read(probe_p1()).unwrap(),
        "oras pulled other bytes than qyv pushed"
    );

    // A wrong password is oras's refusal too: the registry's auth is real.
    let out = oras(
        ORAS,
        &[
            "pull",
            &host,
            "alice",
            "wrong",
            &from_qyv,
            outdir.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "oras pulled with a wrong password");
}
