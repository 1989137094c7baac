//! `qyv search`: an index of what a registry holds, built from its catalog
//! (where it lets clients list repositories) and the annotations of each
//! repository's latest tag, kept in the store (`index/REGISTRY.json`) and
//! refreshed when asked or when older than [`MAX_AGE`]; then matched
//! against a term.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::client::{Access, Options, Repository};
use crate::error::HubError;
use crate::media::{self, Kind};
use crate::reference::{DEFAULT_TAG, DOCKER_HUB};
use crate::store::Store;

/// How long an index is used before it is built again.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// The most repositories indexed per registry.
const MAX_REPOSITORIES: usize = 2000;

/// One app (or wasm) a registry holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `REGISTRY/REPOSITORY:TAG`.
    pub reference: String,
    pub digest: String,
    /// "qyvol" or "wasm".
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub language: Option<String>,
    /// The manifest's `permissions` as JSON (Qyvol apps).
    pub permissions: Option<String>,
    pub signer: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Index {
    pub registry: String,
    /// Seconds since the epoch.
    pub built: u64,
    pub entries: Vec<Entry>,
    /// Repositories that could not be read, with why.
    #[serde(default)]
    pub skipped: Vec<(String, String)>,
}

fn index_path(store: &Store, registry: &str) -> PathBuf {
    store.root().join("index").join(format!("{registry}.json"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The registries with an index in the store.
pub fn indexed_registries(store: &Store) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(store.root().join("index"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".json"))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The registry's index: the stored one when fresh and `refresh` is not
/// asked, else built now and stored.
pub fn index(
    store: &Store,
    registry: &str,
    options: &Options,
    refresh: bool,
) -> Result<Index, HubError> {
    let path = index_path(store, registry);
    if !refresh
        && let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(index) = serde_json::from_str::<Index>(&text)
        && now().saturating_sub(index.built) < MAX_AGE.as_secs()
    {
        return Ok(index);
    }
    let index = build(registry, options)?;
    let parent = path.parent().expect("an index path has a parent");
    std::fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| HubError::io(parent, e))?;
    serde_json::to_writer(&mut tmp, &index).map_err(|e| HubError::io(&path, e.into()))?;
    tmp.persist(&path)
        .map_err(|e| HubError::io(&path, e.error))?;
    Ok(index)
}

/// Reads the catalog, then each repository's latest tag (`latest`, else
/// the last in order).
fn build(registry: &str, options: &Options) -> Result<Index, HubError> {
    let catalog = Repository::connect(registry, "", Access::Catalog, options)?;
    let Some(repositories) = catalog.catalog(MAX_REPOSITORIES)? else {
        return Err(no_catalog(registry));
    };
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for repository in repositories {
        match entry(registry, &repository, options) {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => {}
            Err(e) => skipped.push((repository, e.to_string())),
        }
    }
    Ok(Index {
        registry: registry.to_string(),
        built: now(),
        entries,
        skipped,
    })
}

fn no_catalog(registry: &str) -> HubError {
    let how = if registry == DOCKER_HUB {
        "search on https://hub.docker.com/search (or `docker search`)".to_string()
    } else if registry == "ghcr.io" {
        "find packages on GitHub (https://github.com/OWNER?tab=packages)".to_string()
    } else {
        "ask its owner for the repository names, or search on its web site".to_string()
    };
    HubError::Protocol {
        registry: registry.to_string(),
        message: format!(
            "this registry does not let clients list its repositories (no /v2/_catalog open to you), so it cannot be searched; {how}, then use the full reference ({registry}/NAMESPACE/APP:TAG)"
        ),
    }
}

/// The entry of a repository's latest tag; `None` when it holds nothing
/// qyv runs (a container image, say) or no tag.
fn entry(registry: &str, repository: &str, options: &Options) -> Result<Option<Entry>, HubError> {
    let repo = Repository::connect(registry, repository, Access::Pull, options)?;
    let mut tags = repo.tags()?;
    tags.sort();
    let tag = if tags.iter().any(|t| t == DEFAULT_TAG) {
        DEFAULT_TAG.to_string()
    } else {
        match tags.pop() {
            Some(t) => t,
            None => return Ok(None),
        }
    };
    let (media_type, bytes, digest) = repo.manifest(&tag)?;
    let Ok((manifest, kind)) = media::classify(media_type.as_deref(), &bytes) else {
        return Ok(None);
    };
    let a = &manifest.annotations;
    let get = |k: &str| a.get(k).cloned();
    let last = repository
        .rsplit('/')
        .next()
        .unwrap_or(repository)
        .to_string();
    Ok(Some(match kind {
        Kind::Bundle(_) => Entry {
            reference: format!("{registry}/{repository}:{tag}"),
            digest,
            kind: "qyvol".into(),
            name: get(media::APP_NAME).unwrap_or(last),
            description: get(media::DESCRIPTION),
            version: get(media::VERSION),
            language: get(media::APP_LANGUAGE),
            permissions: get(media::APP_PERMISSIONS),
            signer: get(media::APP_SIGNER),
        },
        Kind::Wasm(_) => Entry {
            reference: format!("{registry}/{repository}:{tag}"),
            digest,
            kind: "wasm".into(),
            name: get(media::TITLE).unwrap_or(last),
            description: get(media::DESCRIPTION),
            version: get(media::VERSION),
            language: None,
            permissions: None,
            signer: None,
        },
    }))
}

/// Whether an entry matches a term: a case-insensitive part of its
/// reference, name, description or language.
pub fn matches(entry: &Entry, term: &str) -> bool {
    let term = term.to_lowercase();
    [
        Some(&entry.reference),
        Some(&entry.name),
        entry.description.as_ref(),
        entry.language.as_ref(),
    ]
    .into_iter()
    .flatten()
    .any(|field| field.to_lowercase().contains(&term))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_match_names_descriptions_and_languages() {
        let e = Entry {
            reference: "r.example/acme/hello:1".into(),
            digest: "sha256:00".into(),
            kind: "qyvol".into(),
            name: "hello".into(),
            description: Some("Greets the World".into()),
            version: None,
            language: Some("rust".into()),
            permissions: None,
            signer: None,
        };
        for yes in ["hello", "ACME", "world", "Rust", ""] {
            assert!(matches(&e, yes), "{yes}");
        }
        assert!(!matches(&e, "python"));
    }
}
