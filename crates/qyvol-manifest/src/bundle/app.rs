//! What goes into an app's bundle: its manifest (the file, verbatim), its
//! wasm, and every file of its directory mounts, as `fs/N/...` for mount N.
//! `qyv pack` writes it; a node packs the manifests of its boot folder the
//! same way.

use std::fs;
use std::path::Path;

use super::error::{BundleError, BundleErrorKind};
use super::writer::{Content, Packer};
use crate::model::{Manifest, MountKind};

impl Packer {
    /// The bundle of the app `m` (loaded from its file), to be written to
    /// `out`, which is skipped if it sits in a mounted folder.
    pub fn for_app(m: &Manifest, out: &Path) -> Result<Packer, BundleError> {
        let manifest_bytes =
            crate::regular::read_regular(m.file(), crate::regular::MAX_MANIFEST_LEN)
                .map_err(|e| BundleError::io(m.file(), "read", e))?;
        let mut packer = Packer::new(
            out,
            &file_name(m.file()),
            manifest_bytes,
            &file_name(&m.entrypoint),
            Content::File(m.entrypoint_path()),
        )?;
        let out_abs = std::path::absolute(out).map_err(|e| BundleError::io(out, "resolve", e))?;
        for (i, mount) in m.effective_mounts().iter().enumerate() {
            // A memfs's seed travels as a folder does (the run copies it
            // into memory); a memfs without one gets an empty folder, as
            // every mount of a bundle has its fs/N.
            let seeded = mount.kind == MountKind::Memfs && !mount.source.as_os_str().is_empty();
            if mount.kind == MountKind::Dir || seeded {
                add_tree(&mut packer, &mount.source, &format!("fs/{i}"), &out_abs)?;
            } else if mount.kind == MountKind::Memfs {
                packer.add_dir(&format!("fs/{i}"))?;
            }
        }
        Ok(packer)
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Adds `dir` (a mount's source) as the folder `prefix`, and everything in
/// it: folders and regular files only. `skip` is the bundle being written,
/// which may sit inside a mounted folder.
fn add_tree(packer: &mut Packer, dir: &Path, prefix: &str, skip: &Path) -> Result<(), BundleError> {
    packer.add_dir(prefix)?;
    let list = |e| BundleError::io(dir, "list", e);
    let mut children: Vec<_> = fs::read_dir(dir)
        .map_err(list)?
        .collect::<Result<_, _>>()
        .map_err(list)?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let path = child.path();
        if path == skip {
            continue;
        }
        let refuse = |message: &str| BundleError::new(&path, BundleErrorKind::Pack, message);
        let Some(name) = child.file_name().to_str().map(str::to_string) else {
            return Err(refuse(
                "the file name is not UTF-8; a bundle's names are UTF-8: rename it",
            ));
        };
        let entry = format!("{prefix}/{name}");
        let kind = child
            .file_type()
            .map_err(|e| BundleError::io(&path, "read", e))?;
        if kind.is_dir() {
            add_tree(packer, &path, &entry, skip)?;
        } else if kind.is_file() {
            packer.add_file(&entry, Content::File(path))?;
        } else if kind.is_symlink() {
            return Err(refuse(
                "a symbolic link; a bundle holds folders and regular files only: replace the link with what it points to",
            ));
        } else {
            return Err(refuse(
                "not a folder or a regular file (a socket, a device, a pipe?); a bundle cannot hold it",
            ));
        }
    }
    Ok(())
}
