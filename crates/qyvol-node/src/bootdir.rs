//! The boot folder (`qyv daemon --apps-dir DIR`, in the spirit of
//! `/etc/qyvol.d`): every `.qyv` manifest and `.qyvbin` bundle in it is
//! deployed when the node starts and again whenever it (or, for a
//! manifest, its wasm) changes; the folder is looked at every second. A
//! file that goes away takes its app with it. A manifest is packed as
//! `qyv pack` would; a bundle with the same content as the app's current
//! revision adds no revision. Problems are said on the node's standard
//! error and tried again when the file changes.
//!
//! The manifests here are not the node operator's own work the way a
//! developer's manifest is: their entrypoints and mount sources must lie in
//! their own folder, or in a folder the node allows
//! ([`qyvol_manifest::Manifest::paths_outside`]).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use qyvol_manifest::bundle::{FILE_EXTENSION as BUNDLE_EXTENSION, Packer};
use qyvol_manifest::{FILE_EXTENSION as MANIFEST_EXTENSION, Manifest};

use crate::deploy::install;
use crate::error::NodeError;
use crate::node::Node;
use crate::supervisor::{Trigger, db};

const INTERVAL: Duration = Duration::from_secs(1);

/// Size and modification time of a file and, for a manifest, of its wasm:
/// when it changes, the app is deployed again.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp(Vec<(u64, i64, i64)>);

fn stamp_of(path: &Path) -> Option<(u64, i64, i64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.size(), m.mtime(), m.mtime_nsec()))
}

fn stamp(path: &Path) -> Stamp {
    let mut parts = vec![stamp_of(path).unwrap_or_default()];
    if path.extension().and_then(|e| e.to_str()) == Some(MANIFEST_EXTENSION)
        && let Ok(m) = Manifest::load(path)
    {
        parts.push(stamp_of(&m.entrypoint_path()).unwrap_or_default());
    }
    Stamp(parts)
}

/// The source the store records for an app from `file`.
fn source(file: &Path) -> String {
    format!("apps-dir:{}", file.display())
}

/// The app files in `dir`, by name.
fn app_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            // Not only regular files: a manifest that is a pipe or a device
            // is refused by name (once) rather than passed over.
            !p.is_dir()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some(e) if e == MANIFEST_EXTENSION || e == BUNDLE_EXTENSION
                )
        })
        .collect();
    files.sort();
    files
}

pub async fn watch(node: Arc<Node>, dir: PathBuf, allowed: Vec<PathBuf>) {
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if !dir.is_dir() {
        tracing::warn!(
            dir = %dir.display(),
            "apps-dir {}: not a folder (yet); it is looked at every second",
            dir.display()
        );
    }
    let mut seen: HashMap<PathBuf, Stamp> = HashMap::new();
    loop {
        scan(&node, &dir, &allowed, &mut seen).await;
        tokio::time::sleep(INTERVAL).await;
    }
}

async fn scan(
    node: &Arc<Node>,
    dir: &Path,
    allowed: &[PathBuf],
    seen: &mut HashMap<PathBuf, Stamp>,
) {
    let owned = dir.to_path_buf();
    let Ok(found) = tokio::task::spawn_blocking(move || {
        app_files(&owned)
            .into_iter()
            .map(|f| {
                let s = stamp(&f);
                (f, s)
            })
            .collect::<Vec<_>>()
    })
    .await
    else {
        return;
    };
    for (file, stamp) in &found {
        if seen.get(file) == Some(stamp) {
            continue;
        }
        seen.insert(file.clone(), stamp.clone());
        match deploy_file(node, file, allowed).await {
            Ok(line) => tracing::info!(file = %file.display(), "apps-dir: {line}"),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "apps-dir: {}: {e}", file.display())
            }
        }
    }
    seen.retain(|f, _| found.iter().any(|(g, _)| g == f));
    // Apps whose file is gone (also while the node was down).
    let Ok(apps) = db(node.supervisor.store(), |s| s.apps()).await else {
        return;
    };
    for app in apps {
        let Some(file) = app.source.strip_prefix("apps-dir:").map(PathBuf::from) else {
            continue;
        };
        if file.parent() != Some(dir) || found.iter().any(|(f, _)| *f == file) {
            continue;
        }
        match remove(node, &app.name).await {
            Ok(()) => tracing::info!(
                app = app.name,
                file = %file.display(),
                "apps-dir: {} is gone: removed {}",
                file.display(),
                app.name
            ),
            Err(e) => {
                tracing::warn!(app = app.name, error = %e, "apps-dir: cannot remove {}: {e}", app.name)
            }
        }
    }
}

async fn deploy_file(
    node: &Arc<Node>,
    file: &Path,
    allowed: &[PathBuf],
) -> Result<String, NodeError> {
    let artifacts = node.supervisor.artifacts().clone();
    let owned = file.to_path_buf();
    let allowed = allowed.to_vec();
    let upload = tokio::task::spawn_blocking(move || {
        let tmp = artifacts.tmp_path("apps-dir");
        if owned.extension().and_then(|e| e.to_str()) == Some(MANIFEST_EXTENSION) {
            let m = Manifest::load(&owned).map_err(|e| NodeError::BadBundle(e.to_string()))?;
            // Someone else's manifest: only files of its own folder.
            let mut outside = m.paths_outside(&allowed);
            outside.extend(m.shared_folder_grants());
            if !outside.is_empty() {
                let reasons: Vec<String> = outside.iter().map(ToString::to_string).collect();
                return Err(NodeError::BadBundle(reasons.join("; ")));
            }
            Packer::for_app(&m, &tmp)
                .and_then(|p| p.write_file(&tmp, None))
                .map_err(|e| NodeError::BadBundle(e.to_string()))?;
        } else {
            // Opened as a regular file first: a pipe would make a copy wait.
            qyvol_manifest::open_regular(&owned)
                .and_then(|mut from| std::io::copy(&mut from, &mut std::fs::File::create(&tmp)?))
                .map_err(|e| NodeError::io("cannot copy", &owned, e))?;
        }
        artifacts.adopt(tmp)
    })
    .await
    .map_err(|e| NodeError::Internal(e.to_string()))??;
    let deployed = install(node, upload, source(file)).await?;
    Ok(if deployed.unchanged {
        format!(
            "{} is {} revision {}, unchanged",
            file.display(),
            deployed.app,
            deployed.revision
        )
    } else {
        format!(
            "{} deployed as {} revision {}",
            file.display(),
            deployed.app,
            deployed.revision
        )
    })
}

/// Stops and forgets an app, and its bundles no revision uses (the
/// cluster's replicas placed elsewhere go the same way).
pub(crate) async fn remove(node: &Arc<Node>, app: &str) -> Result<(), NodeError> {
    let held = node.supervisor.lock(app).await;
    let name = app.to_string();
    let digests = db(node.supervisor.store(), move |s| s.remove(&name)).await?;
    node.supervisor.apply(&held, Trigger::Removed).await?;
    let keep = db(node.supervisor.store(), |s| s.referenced_digests()).await?;
    node.supervisor.artifacts().remove_unused(&digests, &keep);
    Ok(())
}
