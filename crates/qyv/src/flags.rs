//! Values of run flags that carry structure, parsed into types with errors
//! that say what is allowed.

use std::path::PathBuf;

use qyvol_manifest::{NetPolicy, NetRule};

/// `--env NAME=VALUE`, or `--env NAME` to copy the host's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFlag {
    pub name: String,
    /// `None`: take the host's value, if it has one.
    pub value: Option<String>,
}

impl EnvFlag {
    pub fn parse(s: &str) -> Result<EnvFlag, String> {
        let (name, value) = match s.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (s, None),
        };
        if name.is_empty() {
            return Err("expected NAME=VALUE or NAME; the name is empty".into());
        }
        if name.contains('\0') {
            return Err("the name contains a NUL byte".into());
        }
        Ok(EnvFlag {
            name: name.to_string(),
            value,
        })
    }

    /// The pair the guest sees; `None` when the host has no such variable.
    pub fn resolve(&self) -> Option<(String, String)> {
        let value = match &self.value {
            Some(v) => v.clone(),
            None => std::env::var(&self.name).ok()?,
        };
        Some((self.name.clone(), value))
    }
}

/// `--dir HOST[::GUEST][:ro]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirFlag {
    pub host: PathBuf,
    pub guest: String,
    pub read_only: bool,
}

impl DirFlag {
    pub fn parse(s: &str) -> Result<DirFlag, String> {
        let (rest, read_only) = match s.strip_suffix(":ro") {
            Some(r) => (r, true),
            None => (s.strip_suffix(":rw").unwrap_or(s), false),
        };
        let (host, guest) = match rest.split_once("::") {
            Some((h, g)) => (h, g),
            // Like `wasmtime run --dir`: the guest sees the path as given.
            None => (rest, rest),
        };
        if host.is_empty() {
            return Err("expected HOST[::GUEST][:ro]; the host folder is empty".into());
        }
        if guest.is_empty() {
            return Err("expected HOST::GUEST; the guest path after `::` is empty".into());
        }
        Ok(DirFlag {
            host: PathBuf::from(host),
            guest: guest.to_string(),
            read_only,
        })
    }
}

/// Folds `--allow-net` occurrences into the manifest's policy: a bare flag
/// allows everything, a list adds its rules.
pub fn merge_allow_net(policy: NetPolicy, flags: &[String]) -> Result<NetPolicy, String> {
    let mut policy = policy;
    for flag in flags {
        if flag.trim().is_empty() {
            policy = NetPolicy::AllowAll;
            continue;
        }
        let mut rules = Vec::new();
        for item in flag.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            rules.push(NetRule::parse(item).map_err(|e| format!("--allow-net: \"{item}\": {e}"))?);
        }
        policy = match policy {
            NetPolicy::AllowAll => NetPolicy::AllowAll,
            NetPolicy::Deny => NetPolicy::Allow(rules),
            NetPolicy::Allow(mut existing) => {
                existing.extend(rules);
                NetPolicy::Allow(existing)
            }
        };
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_forms() {
        assert_eq!(
            DirFlag::parse("data::/data:ro").unwrap(),
            DirFlag {
                host: "data".into(),
                guest: "/data".into(),
                read_only: true
            }
        );
        assert_eq!(
            DirFlag::parse("/tmp/x").unwrap(),
            DirFlag {
                host: "/tmp/x".into(),
                guest: "/tmp/x".into(),
                read_only: false
            }
        );
        assert!(DirFlag::parse("::/x").is_err());
        assert!(DirFlag::parse("x::").is_err());
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            EnvFlag::parse("A=b=c").unwrap(),
            EnvFlag {
                name: "A".into(),
                value: Some("b=c".into())
            }
        );
        assert_eq!(EnvFlag::parse("A=").unwrap().value.as_deref(), Some(""));
        assert_eq!(EnvFlag::parse("PATH").unwrap().value, None);
        assert!(EnvFlag::parse("=x").is_err());
    }

    #[test]
    fn allow_net_merges() {
        let p = merge_allow_net(NetPolicy::Deny, &["127.0.0.1:80".into()]).unwrap();
        assert!(matches!(&p, NetPolicy::Allow(r) if r.len() == 1));
        let p = merge_allow_net(p, &["10.0.0.0/8, localhost:1".into()]).unwrap();
        assert!(matches!(&p, NetPolicy::Allow(r) if r.len() == 3));
        let p = merge_allow_net(p, &[String::new()]).unwrap();
        assert!(matches!(p, NetPolicy::AllowAll));
        let err = merge_allow_net(NetPolicy::Deny, &["nope:99999".into()]).unwrap_err();
        assert!(err.starts_with("--allow-net: \"nope:99999\""), "{err}");
    }
}
