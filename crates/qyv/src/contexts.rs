//! Saved nodes and clusters: each context names a node's URL, its API
//! token and its certificate fingerprint, or a cluster's NATS addresses
//! and credentials file; one of them is current (or none: `local`).
//! They live in `contexts.json` in the user's config folder, written
//! whole (temporary file, then rename) and readable by the user only,
//! since tokens are secrets. Node commands find their node here
//! (see `remote.rs`), and the shell's prompt shows the current context.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use qyvol_manifest::UserConfig;
use serde::{Deserialize, Serialize};

/// The context that means "no node".
pub const LOCAL: &str = "local";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contexts {
    /// The current context; `None` is `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, Saved>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// A node's `https://HOST:PORT`, or a cluster's `nats://…[,…]`.
    pub url: String,
    /// A node's API token (empty for a cluster).
    #[serde(default)]
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// A cluster's NATS credentials file, absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creds: Option<PathBuf>,
}

impl Saved {
    /// Whether it names a cluster (its URL is NATS's).
    pub fn is_cluster(&self) -> bool {
        qyvol_cluster::Address::is_cluster(&self.url)
    }
}

impl Contexts {
    /// Where the file is: `$XDG_CONFIG_HOME/qyvol/contexts.json`, else
    /// `~/.config/qyvol/contexts.json`.
    pub fn path() -> Option<PathBuf> {
        UserConfig::default_dir().map(|d| d.join("contexts.json"))
    }

    /// The saved contexts; none when the file does not exist.
    pub fn load() -> Result<Contexts> {
        let Some(path) = Self::path() else {
            return Ok(Contexts::default());
        };
        let text = match qyvol_manifest::read_regular_text(&path, qyvol_manifest::MAX_SETTINGS_LEN)
        {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contexts::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a contexts file (JSON written by qyv context add); fix it or remove it",
                path.display()
            )
        })
    }

    pub fn save(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let Some(path) = Self::path() else {
            bail!("no folder for the contexts: set XDG_CONFIG_HOME or HOME");
        };
        let dir = path.parent().expect("the path has a folder");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".contexts-")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        tmp.write_all(text.as_bytes())?;
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// The current context's name and what it holds.
    pub fn current(&self) -> Option<(&str, &Saved)> {
        let name = self.current.as_deref()?;
        self.contexts.get(name).map(|c| (name, c))
    }
}

/// Checks a context's name: the rule of app names, and not `local`.
pub fn check_context_name(name: &str) -> Result<()> {
    if name == LOCAL {
        bail!("`{LOCAL}` is the name of no node (this machine); choose another name");
    }
    qyvol_manifest::check_name(name).map_err(|why| anyhow::anyhow!("context name {name:?}: {why}"))
}
