//! A pull killed midway (kill -9, through a slow link) leaves nothing under
//! a name in the store, and the next pull asks only for the bytes it lacks
//! (`Range`); a partial download that was damaged meanwhile is dropped and
//! the pull starts over. The slow link is a throttling TCP proxy in front
//! of a real registry.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::registry::Registry;
use crate::common::*;
use crate::hub::{big_bundle, blobs_in_store, qyv, scratch};

/// A proxy to `upstream` that counts the bytes it sends back, and sends
/// them slowly (64 KiB every 20 ms) while `slow` is set.
struct Throttle {
    port: u16,
    slow: Arc<AtomicBool>,
    passed: Arc<AtomicU64>,
}

impl Throttle {
    fn start(upstream: u16) -> Throttle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let slow = Arc::new(AtomicBool::new(true));
        let passed = Arc::new(AtomicU64::new(0));
        let (s, p) = (slow.clone(), passed.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (mut up_in, mut up_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up_in, &mut up_out);
                    let _ = up_out.shutdown(std::net::Shutdown::Write);
                });
                let (mut down_in, mut down_out) = (server, client);
                let (slow, passed) = (s.clone(), p.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        let n = match down_in.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if down_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        passed.fetch_add(n as u64, Ordering::SeqCst);
                        if slow.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                    let _ = down_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Throttle { port, slow, passed }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_pull_killed_midway_resumes_where_it_stopped() {
    let registry = Registry::start();
    let s = scratch();
    let bundle = big_bundle(&s);
    let bytes = std::fs::read(&bundle).unwrap();
    let layer = sha256_hex(&bytes);
    qyv(&s)
        .arg("push")
        .arg(&bundle)
        .arg(registry.reference("acme/big:1"))
        .assert()
        .success();
    let proxy = Throttle::start(registry.addr().rsplit(':').next().unwrap().parse().unwrap());
    let reference = format!("127.0.0.1:{}/acme/big:1", proxy.port);
    let partial = s.path(&format!("cache/hub/tmp/partial-sha256-{layer}"));

    // Through the slow link, killed once 4 MiB have arrived.
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("qyv"))
        .args(["pull", &reference])
        .env("QYVOL_CACHE_DIR", s.path("cache"))
        .env("XDG_CONFIG_HOME", s.path("config"))
        .env("DOCKER_CONFIG", s.path("docker"))
        .env_remove("XDG_CACHE_HOME")
        .env_remove("QYVOL_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < 4 << 20 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it was killed"
        );
        assert!(Instant::now() < deadline, "the pull never reached 4 MiB");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept < bytes.len() as u64, "killed before the end");
    assert!(
        !blobs_in_store(&s).contains(&layer),
        "nothing under the blob's name"
    );

    // The next pull asks for the rest only.
    proxy.slow.store(false, Ordering::SeqCst);
    proxy.passed.store(0, Ordering::SeqCst);
    let out = qyv(&s).args(["pull", &reference]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let sent = proxy.passed.load(Ordering::SeqCst);
    assert!(
        sent < bytes.len() as u64 - kept + (1 << 20),
        "{sent} bytes came for {} missing",
        bytes.len() as u64 - kept
    );
    let stored = s.path(&format!("cache/hub/blobs/sha256/{layer}"));
    assert!(
        std::fs::read(&stored).unwrap() == bytes,
        "the resumed blob is whole"
    );
    assert!(!partial.exists(), "the partial download got its name");
    let run = qyv(&s).args(["run", &reference]).output().unwrap();
    assert_eq!(stdout(&run), "streamed\n", "{}", stderr(&run));
}

#[test]
fn a_damaged_partial_download_is_dropped_and_the_pull_starts_over() {
    let registry = Registry::start();
    let s = scratch();
    let bundle = big_bundle(&s);
    let bytes = std::fs::read(&bundle).unwrap();
    let layer = sha256_hex(&bytes);
    let reference = registry.reference("acme/big:1");
    qyv(&s)
        .arg("push")
        .arg(&bundle)
        .arg(&reference)
        .assert()
        .success();
    // What a pull killed midway would have left, but with bytes that are
    // not the blob's.
    let tmp = s.path("cache/hub/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let partial = tmp.join(format!("partial-sha256-{layer}"));
    std::fs::write(&partial, vec![0x55u8; 3 << 20]).unwrap();
    let out = qyv(&s).args(["pull", &reference]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = s.path(&format!("cache/hub/blobs/sha256/{layer}"));
    assert!(
        std::fs::read(&stored).unwrap() == bytes,
        "the blob is whole"
    );
    assert!(!partial.exists());
}
