//! Every permission level, allowed and denied, enforced by the WASI context.

use std::fs;

use crate::common::*;

/// A folder with a manifest for `wasm`, a data file and a secret one level
/// above the data folder.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "app/data/hello.txt",
            "first line\nsecond line\n",
        );
        write(dir.path(), "app/secret.txt", "top secret\n");
        write(dir.path(), "outside.txt", "outside\n");
        Sandbox { dir }
    }

    fn app_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("app")
    }

    fn manifest(&self, wasm: &std::path::Path, rest: &str) -> std::path::PathBuf {
        app(&self.app_dir(), wasm, rest)
    }
}

#[test]
fn fs_none_gives_no_files_at_all() {
    for wasm in [probe_p1(), probe_p2()] {
        let s = Sandbox::new();
        let m = s.manifest(&wasm, "permissions: { fs: none }\n");
        let out = qyv()
            .arg("run")
            .arg(&m)
            .args(["cat", "/data/hello.txt"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
    }
}

#[test]
fn fs_read_mounts_the_manifest_folder_read_only() {
    for wasm in [probe_p1(), probe_p2()] {
        let s = Sandbox::new();
        let m = s.manifest(&wasm, "permissions: { fs: read }\n");
        qyv()
            .arg("run")
            .arg(&m)
            .args(["head", "/data/hello.txt"])
            .assert()
            .success()
            .stdout("first line\n");
        let out = qyv()
            .arg("run")
            .arg(&m)
            .args(["write", "/data/hello.txt", "overwritten"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            fs::read_to_string(s.app_dir().join("data/hello.txt")).unwrap(),
            "first line\nsecond line\n"
        );
        let out = qyv()
            .arg("run")
            .arg(&m)
            .args(["write", "/new.txt", "x"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(!s.app_dir().join("new.txt").exists());
    }
}

#[test]
fn a_read_mount_refuses_writes_and_a_write_mount_allows_them() {
    for wasm in [probe_p1(), probe_p2()] {
        let s = Sandbox::new();
        fs::create_dir(s.app_dir().join("out")).unwrap();
        let m = s.manifest(
            &wasm,
            "permissions: { fs: write }\nfs:\n  - { source: data, target: /data, mode: read }\n  - { source: out, target: /out, mode: write }\n",
        );
        let out = qyv()
            .arg("run")
            .arg(&m)
            .args(["write", "/data/hello.txt", "changed"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            fs::read_to_string(s.app_dir().join("data/hello.txt")).unwrap(),
            "first line\nsecond line\n"
        );
        qyv()
            .arg("run")
            .arg(&m)
            .args(["write", "/out/result.txt", "written by the guest"])
            .assert()
            .success()
            .stdout("wrote 20 bytes\n");
        assert_eq!(
            fs::read_to_string(s.app_dir().join("out/result.txt")).unwrap(),
            "written by the guest"
        );
        // Only the mounts are visible: the manifest's own folder is not.
        let out = qyv()
            .arg("run")
            .arg(&m)
            .args(["cat", "/secret.txt"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stdout(&out), "");
    }
}

#[test]
fn a_mount_wider_than_permissions_fs_is_refused_before_running() {
    let s = Sandbox::new();
    let m = s.manifest(
        &probe_p1(),
        "permissions:\n  fs: read\nfs:\n  - source: data\n    target: /data\n    mode: write\n",
    );
    let out = qyv().arg("run").arg(&m).arg("args").output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains("app.qyv:8:11: fs[0].mode"), "{err}");
    assert!(err.contains("permissions.fs"), "{err}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn fs_full_is_the_host_root_with_a_warning() {
    let s = Sandbox::new();
    let outside = s.dir.path().join("outside.txt").canonicalize().unwrap();
    let m = s.manifest(&probe_p1(), "permissions: { fs: full }\n");
    let out = qyv()
        .arg("run")
        .arg(&m)
        .arg("cat")
        .arg(&outside)
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "outside\n", "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permissions.fs is full"),
        "{}",
        stderr(&out)
    );
    assert!(out.status.success());
}

#[test]
fn dot_dot_cannot_leave_a_mount() {
    for wasm in [probe_p1(), probe_p2()] {
        let s = Sandbox::new();
        let m = s.manifest(
            &wasm,
            "permissions: { fs: read }\nfs:\n  - { source: data, target: /data }\n",
        );
        for path in [
            "/data/../secret.txt",
            "/data/../../outside.txt",
            "../secret.txt",
        ] {
            let out = qyv()
                .arg("run")
                .arg(&m)
                .args(["cat", path])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{path}: {}", stdout(&out));
            assert_eq!(stdout(&out), "", "{path}");
        }
    }
}

#[test]
fn symlinks_cannot_leave_a_mount() {
    for wasm in [probe_p1(), probe_p2()] {
        let s = Sandbox::new();
        let data = s.app_dir().join("data");
        std::os::unix::fs::symlink("../secret.txt", data.join("relative-link")).unwrap();
        std::os::unix::fs::symlink(s.dir.path().join("outside.txt"), data.join("absolute-link"))
            .unwrap();
        std::os::unix::fs::symlink("hello.txt", data.join("inside-link")).unwrap();
        let m = s.manifest(
            &wasm,
            "permissions: { fs: read }\nfs:\n  - { source: data, target: /data }\n",
        );
        for link in ["/data/relative-link", "/data/absolute-link"] {
            let out = qyv()
                .arg("run")
                .arg(&m)
                .args(["cat", link])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{link}: {}", stdout(&out));
            assert_eq!(stdout(&out), "", "{link}");
        }
        // A link that stays inside works.
        qyv()
            .arg("run")
            .arg(&m)
            .args(["head", "/data/inside-link"])
            .assert()
            .success()
            .stdout("first line\n");
    }
}

#[test]
fn dir_flag_adds_a_mount_to_a_bare_module() {
    let s = Sandbox::new();
    let data = s.app_dir().join("data");
    qyv()
        .arg("run")
        .arg(format!("--dir={}::/in:ro", data.display()))
        .arg(probe_p1())
        .args(["head", "/in/hello.txt"])
        .assert()
        .success()
        .stdout("first line\n");
    let out = qyv()
        .arg("run")
        .arg(format!("--dir={}::/in:ro", data.display()))
        .arg(probe_p1())
        .args(["write", "/in/hello.txt", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    qyv()
        .arg("run")
        .arg(format!("--dir={}::/in", data.display()))
        .arg(probe_p1())
        .args(["write", "/in/new.txt", "abc"])
        .assert()
        .success();
    assert_eq!(fs::read_to_string(data.join("new.txt")).unwrap(), "abc");
}

#[test]
fn net_false_refuses_sockets_and_names_the_permission() {
    let server = PongServer::start();
    let s = Sandbox::new();
    let m = s.manifest(&probe_p2(), "permissions: { net: false }\n");
    let out = qyv()
        .arg("run")
        .arg(&m)
        .args(["connect", &format!("127.0.0.1:{}", server.port)])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(126), "{err}");
    assert!(
        err.contains(&format!(
            "qyv: probe.component.wasm was denied network access (connect to 127.0.0.1:{}) by permissions.net and exited with code 1;",
            server.port
        )),
        "{err}"
    );
    assert_eq!(server.accepted(), 0);
    assert!(!stdout(&out).contains("connected"));
}

#[test]
fn net_false_refuses_name_lookup() {
    let out = qyv()
        .arg("run")
        .arg(probe_p2())
        .args(["resolve", "localhost"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_net_list_allows_its_port_and_refuses_another() {
    let allowed = PongServer::start();
    let other = PongServer::start();
    let s = Sandbox::new();
    let m = s.manifest(
        &probe_p2(),
        &format!("permissions:\n  net: [\"127.0.0.1:{}\"]\n", allowed.port),
    );
    qyv()
        .arg("run")
        .arg(&m)
        .args(["connect", &format!("127.0.0.1:{}", allowed.port)])
        .assert()
        .success()
        .stdout(format!("connected\ngot pong from {}\n", allowed.port));
    let out = qyv()
        .arg("run")
        .arg(&m)
        .args(["connect", &format!("127.0.0.1:{}", other.port)])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(126), "{err}");
    assert!(
        err.contains(&format!("connect to 127.0.0.1:{}", other.port)),
        "{err}"
    );
    assert_eq!(other.accepted(), 0);
}

#[test]
fn net_true_and_allow_net_flag_open_the_network() {
    let server = PongServer::start();
    let addr = format!("127.0.0.1:{}", server.port);
    qyv()
        .arg("run")
        .arg("--allow-net")
        .arg(probe_p2())
        .args(["connect", &addr])
        .assert()
        .success();
    qyv()
        .arg("run")
        .arg(format!("--allow-net={addr}"))
        .arg(probe_p2())
        .args(["connect", &addr])
        .assert()
        .success();
    let s = Sandbox::new();
    let m = s.manifest(&probe_p2(), "permissions: { net: true }\n");
    qyv()
        .arg("run")
        .arg(&m)
        .args(["connect", &addr])
        .assert()
        .success();
    assert_eq!(server.accepted(), 3);
}

#[test]
fn a_named_host_in_the_list_can_be_looked_up_and_reached() {
    let server = PongServer::start();
    let s = Sandbox::new();
    let m = s.manifest(
        &probe_p2(),
        &format!("permissions:\n  net: [\"localhost:{}\"]\n", server.port),
    );
    qyv()
        .arg("run")
        .arg(&m)
        .args(["connect", &format!("localhost:{}", server.port)])
        .assert()
        .success()
        .stdout(format!("connected\ngot pong from {}\n", server.port));
}
