//! What a bundle can carry of a manifest's grants. Its files are the same
//! for every run, so they are mounted read-only, and it cannot carry the
//! host's own file system: packing such a manifest, running a bundle that
//! holds one and deploying it are refused
//! ([`Manifest::problems`](crate::Manifest::problems)), each with the field
//! to change.

use crate::admission::{Finding, Reason};
use crate::error::ErrorKind;
use crate::model::{FsAccess, Manifest, MountKind, MountMode};

/// Every reason `m` cannot be put in a bundle, at its field.
pub(crate) fn unpackable(m: &Manifest) -> Vec<Finding> {
    let mut problems = Vec::new();
    let mut add = |reason, field: &str, message: &str| {
        let mut err = m.error_at(field, message);
        err.kind = ErrorKind::Conflict;
        problems.push(Finding::error(reason, err));
    };
    match m.permissions.fs {
        FsAccess::Full => add(
            Reason::HostFiles,
            "permissions.fs",
            "full gives the app the host's whole file system, which a bundle cannot carry; use fs: read with mounts of the folders it needs",
        ),
        FsAccess::Write if m.mounts.is_empty() => add(
            Reason::BundleWrites,
            "permissions.fs",
            "write mounts the manifest's folder read-write, but a bundle's files are read-only; use fs: read",
        ),
        _ => {}
    }
    for (i, mount) in m.mounts.iter().enumerate() {
        // A memfs is written in memory: its seed in the bundle stays as is.
        if mount.mode == MountMode::Write && mount.kind != MountKind::Memfs {
            add(
                Reason::BundleWrites,
                &format!("fs[{i}].mode"),
                "a bundle's files are read-only; use mode: read",
            );
        }
    }
    problems
}

/// The file name a packed app gets when none is given: `NAME.qyvbin`.
pub fn file_name(m: &Manifest) -> String {
    format!("{}.{}", m.name, super::FILE_EXTENSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn problems(text: &str) -> Vec<String> {
        let m = Manifest::parse(
            &format!("name: app\nentrypoint: app.wasm\n{text}"),
            Path::new("app.qyv"),
            Path::new("/app"),
        )
        .unwrap();
        unpackable(&m).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn read_mounts_pack_and_the_rest_say_which_field() {
        assert!(problems("").is_empty());
        assert!(problems("permissions: {fs: read}\n").is_empty());
        assert!(problems("permissions: {fs: write}\nfs: [{source: d, target: /d}]\n").is_empty());
        let p = problems("permissions: {fs: full}\n");
        assert!(
            p[0].starts_with("app.qyv:3:19: permissions.fs: full gives"),
            "{p:?}"
        );
        let p = problems("permissions: {fs: write}\n");
        assert!(
            p[0].contains("permissions.fs: write mounts the manifest's folder"),
            "{p:?}"
        );
        let p = problems(
            "permissions: {fs: write}\nfs:\n  - {source: a, target: /a}\n  - {source: b, target: /b, mode: write}\n",
        );
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("app.qyv:6:35: fs[1].mode: a bundle's files are read-only"),
            "{p:?}"
        );
    }
}
