//! A read-write mount refused because the app could write its own files
//! through it (see `qyvol_runtime::check_mounts`), reported where the user
//! made it: at the manifest's field (`permissions.fs` for the implicit
//! mount of `fs: write`, `fs[N]` for a listed one), or as a `--dir` flag.

use std::path::Path;

use qyvol_manifest::{FsAccess, Manifest, MountMode};
use qyvol_runtime::{Exposure, RuntimeError};

/// What to tell about a mount refused by `e` (any other error is passed
/// on as it is).
pub fn refused(manifest: Option<&Manifest>, e: RuntimeError) -> anyhow::Error {
    let RuntimeError::WritesItself(exposure) = &e else {
        return e.into();
    };
    let Exposure {
        host,
        guest,
        what,
        path,
        ..
    } = &**exposure;
    let (host, guest): (&Path, &str) = (host, guest);
    let flag = || anyhow::anyhow!("--dir {}::{guest}: {e} (add :ro)", host.display());
    let Some(m) = manifest else {
        return flag();
    };
    let made = m.effective_mounts().iter().position(|mount| {
        mount.mode == MountMode::Write && mount.target == guest && mount.source == host
    });
    let Some(i) = made else {
        return flag();
    };
    if m.mounts.is_empty() && m.permissions.fs == FsAccess::Write {
        // The implicit mount of `fs: write`: the fix is a list.
        return m
            .error_at(
                "permissions.fs",
                format!(
                    "write with no fs: list mounts the manifest's folder read-write at /, and it holds {what} ({}): the app could {}",
                    path.display(),
                    what.danger()
                ),
            )
            .with_hint(
                "list the folders the app writes, e.g. fs: [{ source: ./data, target: /data, mode: write }], and use fs: read for the rest",
            )
            .into();
    }
    m.error_at(&format!("fs[{i}]"), e.to_string()).into()
}
