//! The user's own settings: `$XDG_CONFIG_HOME/qyvol/config.yaml` (or
//! `~/.config/qyvol/config.yaml`; `$QYVOL_CONFIG` names another file). It is
//! read as strictly as a manifest, with the same errors (file, line, column,
//! field, "did you mean"). So far it holds the trust policy for bundles:
//!
//! ```yaml
//! trust:
//!   require_signature: true   # refuse bundles not signed by a key below
//!   keys:                     # public key files, or folders of *.pub files,
//!     - keys/qyvol.pub        #   relative to this file's folder
//!     - /etc/qyvol/trusted
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::bundle::TrustPolicy;
use crate::decode::{Decoder, join, parse_yaml};
use crate::error::{ErrorKind, ManifestError};
use crate::model::{nearest_location, resolve};
use crate::yaml::{Node, Value};

/// Top-level fields of the config file.
pub const CONFIG_FIELDS: &[&str] = &["trust"];
/// Fields of `trust:`.
pub const TRUST_FIELDS: &[&str] = &["require_signature", "keys"];

/// Name of the config file in the config folder.
pub const CONFIG_FILE: &str = "config.yaml";

/// The parsed config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserConfig {
    file: PathBuf,
    base_dir: PathBuf,
    locations: BTreeMap<String, (usize, usize)>,
    /// `trust.require_signature`.
    pub require_signature: bool,
    /// `trust.keys`, as written.
    pub trust_keys: Vec<PathBuf>,
}

impl UserConfig {
    /// `$XDG_CONFIG_HOME/qyvol`, else `$HOME/.config/qyvol`: where the config
    /// file and, by default, `qyv keygen`'s keys live.
    pub fn default_dir() -> Option<PathBuf> {
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(d) = non_empty("XDG_CONFIG_HOME") {
            return Some(PathBuf::from(d).join("qyvol"));
        }
        non_empty("HOME").map(|h| PathBuf::from(h).join(".config").join("qyvol"))
    }

    /// Reads the user's config: the file `$QYVOL_CONFIG` names (which must
    /// exist), else [`CONFIG_FILE`] in [`UserConfig::default_dir`] if it
    /// exists. No file means the defaults.
    pub fn load_default() -> Result<UserConfig, ManifestError> {
        if let Some(path) = std::env::var_os("QYVOL_CONFIG").filter(|v| !v.is_empty()) {
            return Self::load(Path::new(&path)).map_err(|mut e| {
                if e.kind == ErrorKind::Read {
                    e.message = format!("{} (named by QYVOL_CONFIG)", e.message);
                }
                e
            });
        }
        match Self::default_dir().map(|d| d.join(CONFIG_FILE)) {
            Some(path) if path.exists() => Self::load(&path),
            _ => Ok(UserConfig::default()),
        }
    }

    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<UserConfig, ManifestError> {
        let bytes = crate::regular::read_regular(path, crate::regular::MAX_SETTINGS_LEN).map_err(
            |err| {
                let message = match err.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    _ => format!("cannot read: {err}"),
                };
                ManifestError::new(path, ErrorKind::Read, message).with_io(err)
            },
        )?;
        let text = crate::files::decode_utf8(&bytes, path)?;
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self::parse(text, path, base_dir)
    }

    /// Parses config text; relative key paths resolve against `base_dir`.
    pub fn parse(text: &str, file: &Path, base_dir: &Path) -> Result<UserConfig, ManifestError> {
        let mut config = UserConfig {
            file: file.to_path_buf(),
            base_dir: base_dir.to_path_buf(),
            ..UserConfig::default()
        };
        let Some(root) = parse_yaml(text, file)? else {
            return Ok(config);
        };
        let mut d = Decoder {
            file,
            locations: BTreeMap::new(),
        };
        for entry in d.mapping(
            &root,
            "",
            CONFIG_FIELDS,
            "a mapping of settings (trust: ...)",
        )? {
            if entry.value.is_null() {
                continue;
            }
            // `mapping` refused every other name.
            if entry.key == "trust" {
                config.trust(&mut d, &entry.value)?;
            }
        }
        config.locations = d.locations;
        Ok(config)
    }

    fn trust(&mut self, d: &mut Decoder<'_>, node: &Node) -> Result<(), ManifestError> {
        for entry in d.mapping(node, "trust", TRUST_FIELDS, "a mapping")? {
            let node = &entry.value;
            let path = join("trust", &entry.key);
            if node.is_null() {
                continue;
            }
            if entry.key == "require_signature" {
                self.require_signature = d.boolean(node, &path)?;
                continue;
            }
            let Value::Seq(items) = &node.value else {
                return Err(d
                    .wrong_type(node, &path, "a list of public key files or folders")
                    .with_hint("e.g. keys: [keys/qyvol.pub]"));
            };
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                d.locations.insert(item_path.clone(), item.pos.pair());
                let text = d.text(item, &item_path, "the path of a public key file or folder")?;
                if text.trim().is_empty() || text.contains('\0') {
                    return Err(d.error(
                        ErrorKind::Value,
                        Some(item.pos),
                        &item_path,
                        "expected the path of a public key file or folder",
                    ));
                }
                self.trust_keys.push(PathBuf::from(text));
            }
        }
        Ok(())
    }

    /// The file it was read from; empty for the defaults.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The trust policy it describes, with every key file read. A key that
    /// cannot be read is an error at its line.
    pub fn trust_policy(&self) -> Result<TrustPolicy, ManifestError> {
        let mut policy = TrustPolicy {
            require_signature: self.require_signature,
            keys: Vec::new(),
        };
        for (i, key) in self.trust_keys.iter().enumerate() {
            let path = resolve(&self.base_dir, key);
            policy.add_keys(&path).map_err(|e| {
                self.error_at(&format!("trust.keys[{i}]"), e.to_string())
                    .with_hint("paths are relative to the config file's folder")
            })?;
        }
        if self.require_signature && policy.keys.is_empty() {
            return Err(self
                .error_at(
                    "trust.require_signature",
                    "a signature is required, but trust.keys names no key: no bundle could run",
                )
                .with_hint("add the public keys you trust to trust.keys"));
        }
        Ok(policy)
    }

    /// An error about `field`, at the line where it was written.
    pub fn error_at(&self, field: &str, message: impl Into<String>) -> ManifestError {
        ManifestError::new(&self.file, ErrorKind::Value, message)
            .at(nearest_location(&self.locations, field))
            .with_field(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::write_new_key_pair;

    fn parse(text: &str) -> Result<UserConfig, String> {
        UserConfig::parse(text, Path::new("config.yaml"), Path::new("/cfg"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn empty_and_full_configs() {
        assert_eq!(parse("").unwrap().trust_keys, Vec::<PathBuf>::new());
        assert!(!parse("# nothing yet\n").unwrap().require_signature);
        let c = parse("trust:\n  require_signature: true\n  keys: [a.pub, /etc/k]\n").unwrap();
        assert!(c.require_signature);
        assert_eq!(
            c.trust_keys,
            [PathBuf::from("a.pub"), PathBuf::from("/etc/k")]
        );
    }

    #[test]
    fn mistakes_are_placed_and_named() {
        assert_eq!(
            parse("trust:\n  require_signatures: true\n").unwrap_err(),
            "config.yaml:2:3: trust: unknown field \"require_signatures\" (did you mean \"require_signature\"?); allowed here: require_signature, keys"
        );
        assert_eq!(
            parse("trsut: {}\n").unwrap_err(),
            "config.yaml:1:1: unknown field \"trsut\" (did you mean \"trust\"?); allowed here: trust"
        );
        assert_eq!(
            parse("trust:\n  require_signature: yes\n").unwrap_err(),
            "config.yaml:2:22: trust.require_signature: expected true or false, got \"yes\"; YAML 1.2 reads only true and false as booleans"
        );
        assert_eq!(
            parse("trust:\n  keys: a.pub\n").unwrap_err(),
            "config.yaml:2:9: trust.keys: expected a list of public key files or folders, got \"a.pub\"; e.g. keys: [keys/qyvol.pub]"
        );
        assert!(parse("trust: [\n").unwrap_err().contains("invalid YAML"));
    }

    #[test]
    fn policy_reads_keys_relative_to_the_file_and_places_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        write_new_key_pair(&dir.path().join("keys")).unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(
            &file,
            "trust:\n  require_signature: true\n  keys:\n    - keys/qyvol.pub\n",
        )
        .unwrap();
        let policy = UserConfig::load(&file).unwrap().trust_policy().unwrap();
        assert!(policy.require_signature);
        assert_eq!(policy.keys.len(), 1);

        std::fs::write(
            &file,
            "trust:\n  keys:\n    - keys/qyvol.pub\n    - nope.pub\n",
        )
        .unwrap();
        let err = UserConfig::load(&file)
            .unwrap()
            .trust_policy()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}:4:7: trust.keys[1]: ", file.display())),
            "{err}"
        );
        assert!(err.contains("nope.pub: no such file"), "{err}");

        std::fs::write(&file, "trust:\n  require_signature: true\n").unwrap();
        let err = UserConfig::load(&file)
            .unwrap()
            .trust_policy()
            .unwrap_err()
            .to_string();
        assert!(err.contains("trust.keys names no key"), "{err}");
    }
}
