//! A read-write mount refused because the app could write its own files
//! through it (see `qyvol_runtime::check_mounts`), reported where the user
//! made it: at the manifest's field (`permissions.fs` for the implicit
//! mount of `fs: write`, `fs[N]` for a listed one), or as a `--dir` flag.

use std::path::Path;

use qyvol_manifest::{Finding, FsAccess, Manifest, ManifestError, MountMode, Reason};
use qyvol_runtime::{Exposure, RuntimeError};

/// What to tell about a mount refused by `e` (any other error is passed
/// on as it is).
pub fn refused(manifest: Option<&Manifest>, e: RuntimeError) -> anyhow::Error {
    let RuntimeError::WritesItself(exposure) = &e else {
        return e.into();
    };
    if let Some(placed) = manifest.and_then(|m| at_field(m, &e, exposure)) {
        return placed.into();
    }
    anyhow::anyhow!(
        "--dir {}::{}: {e} (add :ro)",
        exposure.host.display(),
        exposure.guest
    )
}

/// A mount refused by `e`, found before the app starts (`qyv validate`):
/// an error at the manifest's field that made it.
pub fn finding(m: &Manifest, e: RuntimeError) -> Finding {
    let placed = match &e {
        RuntimeError::WritesItself(exposure) => at_field(m, &e, exposure),
        _ => None,
    };
    let detail = placed.unwrap_or_else(|| m.error_at("fs", e.to_string()));
    Finding::error(Reason::WritesItself, detail)
}

/// The refused mount at the manifest field that made it, if the manifest
/// made it (and not a `--dir` flag).
fn at_field(m: &Manifest, e: &RuntimeError, exposure: &Exposure) -> Option<ManifestError> {
    let Exposure {
        host,
        guest,
        what,
        path,
        ..
    } = exposure;
    let (host, guest): (&Path, &str) = (host, guest);
    let i = m.effective_mounts().iter().position(|mount| {
        mount.mode == MountMode::Write && mount.target == guest && mount.source == host
    })?;
    if m.mounts.is_empty() && m.permissions.fs == FsAccess::Write {
        // The implicit mount of `fs: write`: the fix is a list.
        return Some(
            m.error_at(
                "permissions.fs",
                format!(
                    "write with no fs: list mounts the manifest's folder read-write at /, and it holds {what} ({}): the app could {}",
                    path.display(),
                    what.danger()
                ),
            )
            .with_hint(
                "list the folders the app writes, e.g. fs: [{ source: ./data, target: /data, mode: write }], and use fs: read for the rest",
            ),
        );
    }
    Some(m.error_at(&format!("fs[{i}]"), e.to_string()))
}
