//! Which files a manifest may name when whoever reads it did not write it.
//!
//! A developer's own manifest may point anywhere (`entrypoint:
//! ../target/wasm32-wasip2/release/app.wasm`, as Spin allows): `qyv run`,
//! `qyv pack` and `qyv deploy` of it take the paths as written. A manifest
//! that a node finds in its apps folder was written by someone else: its
//! entrypoint and its mounts' sources must lie in its own folder (or in a
//! folder the node names), or it could pack any file the node can read
//! (`source: /etc`) into an app and hand it to that app. Paths are compared
//! with every symlink resolved, so a link cannot lead out either.

use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, ManifestError};
use crate::model::{FsAccess, Manifest, MountKind, resolve};

impl Manifest {
    /// Each file the manifest names (its entrypoint, its directory mounts'
    /// sources) that lies outside its folder and outside every folder of
    /// `allowed`, as an error at its field. A path that does not exist is
    /// left to [`Manifest::check_files`].
    pub fn paths_outside(&self, allowed: &[PathBuf]) -> Vec<ManifestError> {
        let Ok(home) = self.base_dir.canonicalize() else {
            return Vec::new();
        };
        let allowed: Vec<PathBuf> = allowed
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .collect();
        let inside =
            |path: &Path| path.starts_with(&home) || allowed.iter().any(|a| path.starts_with(a));
        let mut named = vec![("entrypoint".to_string(), self.entrypoint.clone())];
        for (i, mount) in self.mounts.iter().enumerate() {
            // A memfs's seed is read from the host like a folder mount.
            let seeded = mount.kind == MountKind::Memfs && !mount.source.as_os_str().is_empty();
            if mount.kind == MountKind::Dir || seeded {
                named.push((format!("fs[{i}].source"), mount.source.clone()));
            }
        }
        let mut errors = Vec::new();
        for (field, written) in named {
            let Ok(real) = resolve(&self.base_dir, &written).canonicalize() else {
                continue;
            };
            if inside(&real) {
                continue;
            }
            let mut err = self.error_at(
                &field,
                format!(
                    "{:?} is {}, outside the manifest's folder ({}); a manifest that the node reads from its apps folder may name only files in its own folder{}",
                    written.display().to_string(),
                    real.display(),
                    home.display(),
                    if allowed.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " or in {}",
                            allowed
                                .iter()
                                .map(|a| a.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
            );
            err.kind = ErrorKind::Conflict;
            errors.push(err.with_hint(
                "move the file into the manifest's folder, or have the node allow the folder it is in",
            ));
        }
        errors
    }

    /// What would hand the app more than its own files where its folder is
    /// shared, as a node's apps folder is (every app's manifest and wasm
    /// side by side): `fs: full` (the host's `/`), and a mount of the
    /// manifest's folder or a folder holding it, the implicit one of `fs:
    /// read` without an `fs:` list included. Such a mount would be packed
    /// whole into the app's bundle and readable by it.
    pub fn shared_folder_grants(&self) -> Vec<ManifestError> {
        let refuse = |field: &str, message: String, hint: &str| {
            let mut err = self.error_at(field, message);
            err.kind = ErrorKind::Conflict;
            err.with_hint(hint)
        };
        if self.permissions.fs == FsAccess::Full {
            return vec![refuse(
                "permissions.fs",
                "permissions.fs is full (the host's whole file system); a manifest that the node reads from its apps folder may not have it".into(),
                "list the folders the app needs under fs: with fs: read or write",
            )];
        }
        let Ok(home) = self.base_dir.canonicalize() else {
            return Vec::new();
        };
        let mut errors = Vec::new();
        for (i, mount) in self.effective_mounts().iter().enumerate() {
            let Ok(real) = mount.source.canonicalize() else {
                continue;
            };
            if mount.kind != MountKind::Dir || !home.starts_with(&real) {
                continue;
            }
            let (field, what) = if self.mounts.is_empty() {
                (
                    "permissions.fs".to_string(),
                    format!(
                        "permissions.fs: {} with no fs: list mounts the manifest's folder ({}) at /",
                        self.permissions.fs.as_str(),
                        home.display()
                    ),
                )
            } else {
                (
                    format!("fs[{i}].source"),
                    format!(
                        "{:?} mounts {}, which holds the manifest's folder",
                        self.mounts[i].source.display().to_string(),
                        real.display()
                    ),
                )
            };
            errors.push(refuse(
                &field,
                format!(
                    "{what}; in the node's apps folder that is every app's manifest and files, which would be packed into this app and readable by it"
                ),
                "keep the app's files in a folder of their own beside the manifest and mount that, e.g. fs: [{ source: ./NAME-data, target: /data }]",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Apps {
        dir: tempfile::TempDir,
    }

    impl Apps {
        fn new() -> Apps {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("apps/app")).unwrap();
            fs::create_dir_all(dir.path().join("outside/data")).unwrap();
            fs::write(dir.path().join("apps/app/app.wasm"), b"\0asm\x01\0\0\0").unwrap();
            fs::write(dir.path().join("outside/x.wasm"), b"\0asm\x01\0\0\0").unwrap();
            Apps { dir }
        }

        fn manifest(&self, text: &str) -> Manifest {
            let path = self.dir.path().join("apps/app.qyv");
            fs::write(&path, format!("name: app\n{text}")).unwrap();
            Manifest::load(&path).unwrap()
        }

        fn outside(&self) -> PathBuf {
            self.dir.path().join("outside")
        }
    }

    fn messages(errors: Vec<ManifestError>) -> Vec<String> {
        errors.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn files_in_the_manifest_folder_are_fine() {
        let apps = Apps::new();
        let m = apps.manifest("entrypoint: app/app.wasm\npermissions: {fs: read}\n");
        assert!(m.paths_outside(&[]).is_empty());
    }

    #[test]
    fn entrypoints_and_sources_outside_are_refused_at_their_field() {
        let apps = Apps::new();
        let m = apps.manifest(
            "entrypoint: ../outside/x.wasm\npermissions: {fs: read}\nfs:\n  - {source: ../outside/data, target: /d}\n  - {source: app, target: /a}\n",
        );
        let found = messages(m.paths_outside(&[]));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains(":2:13: entrypoint: \"../outside/x.wasm\" is "),
            "{found:?}"
        );
        assert!(
            found[0].contains("outside the manifest's folder"),
            "{found:?}"
        );
        assert!(
            found[1].contains("fs[0].source: \"../outside/data\""),
            "{found:?}"
        );
        // Unless the node allows that folder.
        assert!(m.paths_outside(&[apps.outside()]).is_empty());
    }

    #[test]
    fn the_shared_folder_and_the_host_are_not_granted() {
        let apps = Apps::new();
        let implicit = apps.manifest("entrypoint: app/app.wasm\npermissions: {fs: read}\n");
        let found = messages(implicit.shared_folder_grants());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("permissions.fs: read with no fs: list mounts the manifest's folder"),
            "{found:?}"
        );
        assert!(
            found[0].contains("every app's manifest and files"),
            "{found:?}"
        );
        let explicit = apps.manifest(
            "entrypoint: app/app.wasm\npermissions: {fs: read}\nfs: [{source: ., target: /a}]\n",
        );
        let found = messages(explicit.shared_folder_grants());
        assert!(found[0].contains("fs[0].source: \".\" mounts"), "{found:?}");
        let full = apps.manifest("entrypoint: app/app.wasm\npermissions: {fs: full}\n");
        let found = messages(full.shared_folder_grants());
        assert!(found[0].contains("permissions.fs is full"), "{found:?}");
        // A folder of its own is fine, as is no file system at all.
        let own = apps.manifest(
            "entrypoint: app/app.wasm\npermissions: {fs: read}\nfs: [{source: app, target: /a}]\n",
        );
        assert!(own.shared_folder_grants().is_empty());
        let none = apps.manifest("entrypoint: app/app.wasm\n");
        assert!(none.shared_folder_grants().is_empty());
    }

    #[test]
    fn a_symlink_cannot_lead_out() {
        let apps = Apps::new();
        std::os::unix::fs::symlink(
            apps.outside().join("x.wasm"),
            apps.dir.path().join("apps/link.wasm"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            apps.outside().join("data"),
            apps.dir.path().join("apps/data"),
        )
        .unwrap();
        let m = apps.manifest(
            "entrypoint: link.wasm\npermissions: {fs: read}\nfs: [{source: data, target: /d}]\n",
        );
        assert_eq!(m.paths_outside(&[]).len(), 2);
        let absolute = apps.manifest(&format!(
            "entrypoint: {}\n",
            apps.outside().join("x.wasm").display()
        ));
        assert_eq!(absolute.paths_outside(&[]).len(), 1);
    }
}
