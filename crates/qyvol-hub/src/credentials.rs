//! Registry credentials where Docker keeps them, read and written as Docker
//! and the other OCI clients do: `$DOCKER_CONFIG/config.json` (else
//! `~/.docker/config.json`), its `auths` (base64 `user:password`), and the
//! credential helpers it names (`credHelpers` per registry, `credsStore`
//! for all), which are programs `docker-credential-NAME get|store|erase`
//! speaking JSON on stdin and stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::error::HubError;
use crate::reference::DOCKER_HUB;

/// The key Docker writes Docker Hub's credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, not even in a debug print.
        write!(f, "Credentials({})", self.username)
    }
}

impl Credentials {
    /// The `Authorization` value for basic auth.
    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// Where the credentials of a registry were stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// In the config file itself.
    File(PathBuf),
    /// By the helper `docker-credential-NAME`.
    Helper(String),
}

impl std::fmt::Display for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stored::File(p) => write!(f, "{}", p.display()),
            Stored::Helper(h) => write!(f, "the credential helper docker-credential-{h}"),
        }
    }
}

/// The Docker config file.
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        match qyvol_manifest::env::var("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => qyvol_manifest::env::var("HOME")
                .map(|h| PathBuf::from(h).join(".docker").join("config.json")),
        }
    }

    /// Loads the default config; a missing file is an empty config.
    pub fn load_default() -> Result<DockerConfig, HubError> {
        let path = DockerConfig::default_path().ok_or_else(|| {
            HubError::Credentials(
                "neither DOCKER_CONFIG nor HOME is set: no place for registry credentials".into(),
            )
        })?;
        DockerConfig::load(&path)
    }

    pub fn load(path: &Path) -> Result<DockerConfig, HubError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(HubError::io(path, e)),
        };
        let doc = if text.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(HubError::Credentials(format!(
                        "{}: not a JSON object; a Docker config is {{\"auths\": {{…}}}}",
                        path.display()
                    )));
                }
                Err(e) => {
                    return Err(HubError::Credentials(format!(
                        "{}: line {}, column {}: {e}; fix or remove the file",
                        path.display(),
                        e.line(),
                        e.column()
                    )));
                }
            }
        };
        Ok(DockerConfig {
            path: path.to_path_buf(),
            doc,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The helper that holds this registry's credentials, if any.
    fn helper(&self, registry: &str) -> Option<String> {
        let per = self
            .doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| same_registry(k, registry))
                    .and_then(|(_, v)| v.as_str())
            });
        per.or_else(|| self.doc.get("credsStore").and_then(Value::as_str))
            .filter(|h| !h.is_empty())
            .map(str::to_string)
    }

    /// The credentials for a registry: its helper's, else the file's.
    /// `None` means anonymous access.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>, HubError> {
        if let Some(helper) = self.helper(registry) {
            let found = helper_get(&helper, &server_key(registry))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        let Some(auths) = self.doc.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let Some((key, entry)) = auths.iter().find(|(k, _)| same_registry(k, registry)) else {
            return Ok(None);
        };
        let bad = |why: &str| {
            HubError::Credentials(format!(
                "{}: auths.{key:?}: {why}; log in to {registry} again",
                self.path.display()
            ))
        };
        if let Some(auth) = entry.get("auth").and_then(Value::as_str)
            && !auth.is_empty()
        {
            let bytes = STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("`auth` is not base64"))?;
            let text = String::from_utf8(bytes).map_err(|_| bad("`auth` is not UTF-8"))?;
            let (username, password) = text
                .split_once(':')
                .ok_or_else(|| bad("`auth` is not base64 of USER:PASSWORD"))?;
            return Ok(Some(Credentials {
                username: username.to_string(),
                password: password.to_string(),
            }));
        }
        let username = entry.get("username").and_then(Value::as_str);
        let password = entry.get("password").and_then(Value::as_str);
        if let (Some(u), Some(p)) = (username, password) {
            return Ok(Some(Credentials {
                username: u.into(),
                password: p.into(),
            }));
        }
        if entry.get("identitytoken").is_some() {
            return Err(bad(
                "holds an identity token (OAuth2 refresh token), which qyv does not use yet; log in with a user name and password or access token",
            ));
        }
        Ok(None)
    }

    /// Stores credentials: in the registry's helper when the config names
    /// one, else in the file (mode 0600, written whole then renamed).
    pub fn store(&mut self, registry: &str, creds: &Credentials) -> Result<Stored, HubError> {
        if let Some(helper) = self.helper(registry) {
            let input = serde_json::json!({
                "ServerURL": server_key(registry),
                "Username": creds.username,
                "Secret": creds.password,
            });
            run_helper(&helper, "store", input.to_string().as_bytes())?;
            return Ok(Stored::Helper(helper));
        }
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let auths = auths.as_object_mut().expect("made an object above");
        auths.retain(|k, _| !same_registry(k, registry));
        auths.insert(
            server_key(registry),
            serde_json::json!({
                "auth": STANDARD.encode(format!("{}:{}", creds.username, creds.password))
            }),
        );
        self.save()?;
        Ok(Stored::File(self.path.clone()))
    }

    /// Forgets a registry's credentials; whether there were any.
    pub fn erase(&mut self, registry: &str) -> Result<bool, HubError> {
        let mut erased = false;
        if let Some(helper) = self.helper(registry) {
            erased = helper_get(&helper, &server_key(registry))?.is_some();
            if erased {
                run_helper(&helper, "erase", server_key(registry).as_bytes())?;
            }
        }
        if let Some(auths) = self.doc.get_mut("auths").and_then(Value::as_object_mut) {
            let before = auths.len();
            auths.retain(|k, _| !same_registry(k, registry));
            if auths.len() != before {
                erased = true;
                self.save()?;
            }
        }
        Ok(erased)
    }

    fn save(&self) -> Result<(), HubError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| HubError::io(dir, e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| HubError::io(dir, e))?;
        let text = serde_json::to_string_pretty(&Value::Object(self.doc.clone()))
            .expect("a JSON map serializes");
        // NamedTempFile is created with mode 0600: the credentials stay the
        // user's.
        tmp.write_all(text.as_bytes())
            .and_then(|_| tmp.write_all(b"\n"))
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| HubError::io(&self.path, e))?;
        tmp.persist(&self.path)
            .map_err(|e| HubError::io(&self.path, e.error))?;
        Ok(())
    }
}

/// The key a registry's credentials are stored under.
fn server_key(registry: &str) -> String {
    if registry == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Whether a key of `auths` / `credHelpers` names the registry: Docker and
/// other clients write `host`, `https://host` or `https://host/v1/`.
fn same_registry(key: &str, registry: &str) -> bool {
    let host = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = host.split('/').next().unwrap_or(host);
    let registry_hosts: &[&str] = if registry == DOCKER_HUB {
        &["docker.io", "index.docker.io", "registry-1.docker.io"]
    } else {
        &[registry]
    };
    registry_hosts.contains(&host)
}

/// `docker-credential-NAME get`: `None` when it holds nothing for `server`.
fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>, HubError> {
    let program = format!("docker-credential-{helper}");
    let out = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(server.as_bytes())?;
            }
            child.wait_with_output()
        })
        .map_err(|e| {
            HubError::Credentials(format!(
                "cannot run the credential helper {program} named by the Docker config: {e}; install it, or remove credsStore/credHelpers from the config"
            ))
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The helpers' own words for "nothing stored" (pass, secretservice,
        // osxkeychain all say this).
        if stdout.contains("credentials not found") || stdout.trim().is_empty() {
            return Ok(None);
        }
        return Err(HubError::Credentials(format!(
            "{program} get failed: {}",
            stdout.trim()
        )));
    }
    let v: Value = serde_json::from_str(&stdout).map_err(|e| {
        HubError::Credentials(format!(
            "{program} get printed something that is not its JSON: {e}"
        ))
    })?;
    let username = v.get("Username").and_then(Value::as_str).unwrap_or("");
    let secret = v.get("Secret").and_then(Value::as_str).unwrap_or("");
    if secret.is_empty() {
        return Ok(None);
    }
    if username == "<token>" {
        return Err(HubError::Credentials(format!(
            "{program} holds an identity token for {server}, which qyv does not use yet; log in with a user name and password or access token"
        )));
    }
    Ok(Some(Credentials {
        username: username.into(),
        password: secret.into(),
    }))
}

fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<(), HubError> {
    let program = format!("docker-credential-{helper}");
    let out = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(input)?;
            }
            child.wait_with_output()
        })
        .map_err(|e| {
            HubError::Credentials(format!(
                "cannot run the credential helper {program} named by the Docker config: {e}"
            ))
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HubError::Credentials(format!(
            "{program} {action} failed: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn auths_as_docker_writes_them() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("config.json");
        // "alice:s3cret:with:colons" in base64; Docker Hub under its v1 URL.
        std::fs::write(
            &path,
            r#"{"auths":{"https://ghcr.io":{"auth":"YWxpY2U6czNjcmV0OndpdGg6Y29sb25z"},
                "https://index.docker.io/v1/":{"auth":"Ym9iOnB3"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let c = DockerConfig::load(&path).unwrap();
        assert_eq!(
            c.credentials("ghcr.io").unwrap(),
            Some(creds("alice", "s3cret:with:colons"))
        );
        assert_eq!(
            c.credentials("docker.io").unwrap(),
            Some(creds("bob", "pw"))
        );
        assert_eq!(c.credentials("quay.io").unwrap(), None);
    }

    #[test]
    fn store_keeps_other_settings_and_erase_forgets() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("sub/config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"psFormat":"table"}"#).unwrap();
        let mut c = DockerConfig::load(&path).unwrap();
        let stored = c.store("127.0.0.1:5000", &creds("u", "p")).unwrap();
        assert_eq!(stored, Stored::File(path.clone()));
        let again = DockerConfig::load(&path).unwrap();
        assert_eq!(
            again.credentials("127.0.0.1:5000").unwrap(),
            Some(creds("u", "p"))
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("psFormat"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut c = DockerConfig::load(&path).unwrap();
        assert!(c.erase("127.0.0.1:5000").unwrap());
        assert!(!c.erase("127.0.0.1:5000").unwrap());
        assert_eq!(
            DockerConfig::load(&path)
                .unwrap()
                .credentials("127.0.0.1:5000")
                .unwrap(),
            None
        );
    }

    #[test]
    fn broken_configs_are_named() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("config.json");
        std::fs::write(&path, "{\"auths\": {").unwrap();
        let e = DockerConfig::load(&path).err().unwrap().to_string();
        assert!(e.contains("config.json: line 1"), "{e}");
        std::fs::write(&path, r#"{"auths":{"ghcr.io":{"auth":"!!"}}}"#).unwrap();
        let e = DockerConfig::load(&path)
            .unwrap()
            .credentials("ghcr.io")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not base64") && e.contains("log in to ghcr.io again"),
            "{e}"
        );
        assert_eq!(
            DockerConfig::load(&d.path().join("missing.json"))
                .unwrap()
                .credentials("ghcr.io")
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_missing_helper_is_explained() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("config.json");
        std::fs::write(&path, r#"{"credsStore":"qyvol-test-no-such-helper"}"#).unwrap();
        let e = DockerConfig::load(&path)
            .unwrap()
            .credentials("ghcr.io")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("docker-credential-qyvol-test-no-such-helper") && e.contains("install it"),
            "{e}"
        );
    }
}
