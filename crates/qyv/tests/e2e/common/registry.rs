//! A real OCI registry for the hub tests: Debian's `docker-registry` (the
//! CNCF distribution registry 2.8, installed by
//! scripts/install-toolchains.sh) on 127.0.0.1 with a free port, its own
//! config and storage folder, optionally htpasswd (bcrypt) basic auth;
//! stopped when dropped. Also a plain HTTP/1.1 client of its API, the
//! second, independent client the tests check qyv's artifacts with.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// `user:password` when the registry wants basic auth.
    pub auth: Option<(String, String)>,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn registry_binary() -> PathBuf {
    let path = std::env::var_os("DOCKER_REGISTRY")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-toolchains.sh (Debian's docker-registry)",
        path.display()
    );
    path
}

impl Registry {
    /// A registry anyone may push to and pull from.
    pub fn start() -> Registry {
        Registry::launch(None)
    }

    /// A registry that wants `user` / `password` (htpasswd, bcrypt).
    pub fn with_basic_auth(user: &str, password: &str) -> Registry {
        Registry::launch(Some((user.to_string(), password.to_string())))
    }

    /// A registry that wants bearer tokens from `tokens`, as Docker Hub
    /// and GHCR do (see common/token.rs).
    pub fn with_token_auth(tokens: &super::token::TokenService) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let section = tokens.registry_config(&dir.path().join("token-root.pem"));
        Registry::launch_in(dir, None, Some(section))
    }

    fn launch(auth: Option<(String, String)>) -> Registry {
        Registry::launch_in(tempfile::tempdir().unwrap(), auth, None)
    }

    fn launch_in(
        dir: tempfile::TempDir,
        auth: Option<(String, String)>,
        auth_section: Option<String>,
    ) -> Registry {
        let port = free_port();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            data.display()
        );
        if let Some((user, password)) = &auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) is missing: run scripts/install-toolchains.sh");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: qyvol-test\n    path: {}\n",
                file.display()
            ));
        }
        if let Some(section) = auth_section {
            config.push_str(&section);
        }
        let conf = dir.path().join("config.yml");
        std::fs::write(&conf, config).unwrap();
        let mut registry = Registry {
            child: None,
            port,
            dir,
            auth,
        };
        registry.spawn();
        registry
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("registry.log")).unwrap();
        let child = Command::new(registry_binary())
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        // A bound on the wait for the port, not a condition of any test.
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "docker-registry exited ({status}): {}",
                    std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:PORT`, the registry part of references.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT/PATH`.
    pub fn reference(&self, path: &str) -> String {
        format!("{}/{path}", self.addr())
    }

    /// Where the registry keeps a blob's bytes (its filesystem driver's
    /// layout).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// One request to the registry's API: status, headers, body bytes.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr(),
            body.len()
        );
        if let Some((u, p)) = &self.auth {
            use base64::Engine as _;
            head.push_str(&format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ));
        }
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let text = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = text.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, raw[split + 4..].to_vec())
    }

    /// Uploads a blob (POST, then PUT with its digest); returns the digest.
    pub fn upload(&self, repository: &str, bytes: &[u8]) -> String {
        use sha2::Digest;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
        let (status, headers, _) = self.request(
            "POST",
            &format!("/v2/{repository}/blobs/uploads/"),
            &[],
            b"",
        );
        assert_eq!(status, 202);
        let location = headers
            .iter()
            .find(|(n, _)| n == "location")
            .map(|(_, v)| v.clone())
            .unwrap();
        let path = location
            .strip_prefix(&format!("http://{}", self.addr()))
            .unwrap_or(&location)
            .to_string();
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, _, body) = self.request(
            "PUT",
            &format!("{path}{sep}digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            bytes,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        digest
    }

    /// Puts a manifest under a tag.
    pub fn put_manifest(&self, repository: &str, tag: &str, media_type: &str, bytes: &[u8]) {
        let (status, _, body) = self.request(
            "PUT",
            &format!("/v2/{repository}/manifests/{tag}"),
            &[("Content-Type", media_type)],
            bytes,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    }

    /// Stops the registry (it is down for what follows).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
