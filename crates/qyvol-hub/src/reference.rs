//! References to artifacts in a registry, read as Docker and the other OCI
//! clients read them: `[oci://]REGISTRY/NAMESPACE/APP[:TAG][@sha256:HEX]`.
//! A first part without a dot, a colon or `localhost` is not a registry:
//! the reference is on Docker Hub (`docker.io`, under `library/` when it
//! has one part), as `docker pull` would take it.

use std::fmt;

use crate::error::HubError;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API answers on.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The tag a reference without tag or digest names.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed reference. `tag` is `None` only when a digest is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// As written (`ghcr.io`, `127.0.0.1:5000`), `docker.io` for Docker Hub.
    pub registry: String,
    /// `namespace/app`, lowercase.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:` and 64 lowercase hex digits.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference; the error says what part is wrong and what is
    /// allowed.
    pub fn parse(text: &str) -> Result<Reference, HubError> {
        let bad = |why: String| HubError::BadReference {
            reference: text.to_string(),
            message: why,
        };
        let body = text.strip_prefix("oci://").unwrap_or(text);
        if body.is_empty() {
            return Err(bad("empty; write REGISTRY/NAMESPACE/APP[:TAG]".into()));
        }
        if body.contains("://") {
            return Err(bad(
                "only the oci:// prefix is accepted; write REGISTRY/NAMESPACE/APP[:TAG] (no http:// or https://)".into(),
            ));
        }
        if body.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains a space or a control character".into()));
        }
        let (name_tag, digest) = match body.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(d).map_err(&bad)?)),
            None => (body, None),
        };
        // The tag is after the last colon, unless that colon is the port's
        // (a slash follows it).
        let (name, tag) = match name_tag.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t)),
            _ => (name_tag, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(&bad)?;
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if is_registry(first) => (first.to_string(), rest.to_string()),
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" || registry == DOCKER_HUB_API {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        check_registry(&registry).map_err(&bad)?;
        check_repository(&path).map_err(&bad)?;
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// Whether `text` is meant as a reference rather than a file name: it
    /// has the `oci://` prefix, or its first part names a registry
    /// (`host.domain/…`, `host:port/…`, `localhost/…`).
    pub fn looks_like(text: &str) -> bool {
        if text.starts_with("oci://") {
            return true;
        }
        match text.split_once('/') {
            Some((first, rest)) => is_registry(first) && !rest.is_empty() && !first.is_empty(),
            None => false,
        }
    }

    /// The host (and port) the registry's API answers on.
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// The tag or digest to ask the registry for: the digest when there is
    /// one (it pins the content).
    pub fn target(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    /// `registry/repository`, for messages.
    pub fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same reference pinned to a digest.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The host the API of a registry named so answers on.
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    }
}

/// Whether the registry is on this machine (`localhost`, `127.x`, `[::1]`),
/// where plain HTTP is the default, as Docker allows for a local registry.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether the first part of a name is a registry: it has a dot (not a
/// leading one: `./app` is a path), a port, or is `localhost`.
fn is_registry(first: &str) -> bool {
    (first.contains('.') && !first.starts_with('.')) || first.contains(':') || first == "localhost"
}

/// Checks `sha256:HEX` (64 lowercase hex digits).
pub fn parse_digest(d: &str) -> Result<String, String> {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return Err(format!(
            "the digest {d:?} is not ALGORITHM:HEX; write @sha256: and 64 hex digits"
        ));
    };
    if algorithm != "sha256" {
        return Err(format!(
            "the digest algorithm {algorithm:?} is not supported; only sha256 is"
        ));
    }
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "the digest {d:?} is not sha256: and 64 lowercase hex digits"
        ));
    }
    Ok(d.to_string())
}

fn check_tag(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the tag {t:?} is not valid: 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ))
    }
}

fn check_registry(r: &str) -> Result<(), String> {
    let (host, port) = match r.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => (h, Some(p.strip_prefix(':').unwrap_or(p))),
            None => return Err(format!("the registry {r:?} opens a '[' it does not close")),
        },
        None => match r.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (r, None),
        },
    };
    if let Some(p) = port
        && p.parse::<u16>().is_err()
    {
        return Err(format!(
            "the registry {r:?} has a port {p:?} that is not a number up to 65535"
        ));
    }
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
    if host_ok {
        Ok(())
    } else {
        Err(format!("the registry {r:?} is not a host name[:port]"))
    }
}

/// A repository is parts separated by `/`, each lowercase letters and
/// digits joined by `.`, `_`, `__` or dashes.
fn check_repository(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("no repository after the registry; write REGISTRY/NAMESPACE/APP".into());
    }
    if path.len() > 255 {
        return Err("the repository name is longer than 255 characters".into());
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "the repository {path:?} has capital letters; repository names are lowercase"
        ));
    }
    for part in path.split('/') {
        let bytes = part.as_bytes();
        let ends_ok = bytes.first().is_some_and(|b| b.is_ascii_alphanumeric())
            && bytes.last().is_some_and(|b| b.is_ascii_alphanumeric());
        let chars_ok = bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        let separators_ok = !part.contains("..")
            && !part.contains("___")
            && !part.contains("._")
            && !part.contains("_.");
        if !(ends_ok && chars_ok && separators_ok) {
            return Err(format!(
                "{part:?} in the repository {path:?} is not valid: each part is lowercase letters and digits, joined by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn r(text: &str) -> Reference {
        Reference::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn registries_namespaces_tags_and_digests() {
        let a = r("ghcr.io/acme/hello:1.0");
        assert_eq!(
            (a.registry.as_str(), a.repository.as_str(), a.tag.as_deref()),
            ("ghcr.io", "acme/hello", Some("1.0"))
        );
        assert_eq!(a.to_string(), "ghcr.io/acme/hello:1.0");
        let b = r("127.0.0.1:5000/apps/hello");
        assert_eq!(b.registry, "127.0.0.1:5000");
        assert_eq!(b.tag.as_deref(), Some("latest"));
        let c = r(&format!("oci://localhost/x/y@{D}"));
        assert_eq!(c.registry, "localhost");
        assert_eq!(c.tag, None);
        assert_eq!(c.target(), D);
        let d = r(&format!("localhost:5000/x:v2@{D}"));
        assert_eq!(d.tag.as_deref(), Some("v2"));
        assert_eq!(d.digest.as_deref(), Some(D));
        assert_eq!(d.target(), D, "a digest pins the content over the tag");
        assert_eq!(r("[::1]:5000/a/b:t").registry, "[::1]:5000");
    }

    #[test]
    fn docker_hub_defaults() {
        let a = r("hello");
        assert_eq!(a.registry, "docker.io");
        assert_eq!(a.repository, "library/hello");
        assert_eq!(a.api_host(), "registry-1.docker.io");
        assert_eq!(r("acme/hello:2").repository, "acme/hello");
        assert_eq!(r("docker.io/hello").repository, "library/hello");
        assert_eq!(r("index.docker.io/acme/x").registry, "docker.io");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for (text, says) in [
            ("", "empty"),
            ("oci://", "empty"),
            ("https://ghcr.io/a/b", "only the oci:// prefix"),
            ("ghcr.io/Acme/hello", "capital letters"),
            ("ghcr.io/acme/hello:", "tag"),
            ("ghcr.io/acme/hello:-x", "tag"),
            ("ghcr.io/acme/he llo", "space"),
            ("ghcr.io/acme/hello@sha256:abc", "64 lowercase hex"),
            ("ghcr.io/acme/hello@md5:abc", "only sha256"),
            ("ghcr.io/acme/hello@abc", "ALGORITHM:HEX"),
            ("ghcr.io/", "no repository"),
            ("ghcr.io/acme//hello", "is not valid"),
            ("ghcr.io/-acme/hello", "is not valid"),
            ("host:99999/a", "port"),
        ] {
            let e = Reference::parse(text).expect_err(text).to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert!(
                e.contains(&format!("{text:?}")) || text.is_empty() || e.contains(text),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn what_looks_like_a_reference() {
        assert!(Reference::looks_like("oci://hello"));
        assert!(Reference::looks_like("ghcr.io/acme/hello:1"));
        assert!(Reference::looks_like("localhost:5000/hello"));
        assert!(Reference::looks_like("localhost/hello"));
        assert!(!Reference::looks_like("app.qyv"));
        assert!(!Reference::looks_like("examples/hello/hello.qyv"));
        assert!(!Reference::looks_like("./dir/app.qyvbin"));
        assert!(!Reference::looks_like("hello"));
    }

    #[test]
    fn loopback_registries() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("ghcr.io"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
