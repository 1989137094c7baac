//! What a TARGET argument names: a manifest, a folder holding exactly one
//! manifest, a bundle, or a bare wasm file.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use qyvol_manifest::bundle::{FILE_EXTENSION as BUNDLE_EXTENSION, MAGIC as BUNDLE_MAGIC};
use qyvol_manifest::{FILE_EXTENSION, WASM_MAGIC};

#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Manifest(PathBuf),
    Bundle(PathBuf),
    Wasm(PathBuf),
}

pub fn resolve(path: &Path) -> Result<Target> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{}: no such file or folder", path.display())
        }
        Err(e) => bail!("{}: {e}", path.display()),
    };
    if meta.is_dir() {
        return manifest_in(path);
    }
    // A pipe or a device is refused here, by what it is, before anything
    // opens it (an open of a pipe waits for a writer).
    if let Err(e) = qyvol_manifest::check_regular(&meta) {
        bail!("{}: {e}", path.display());
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some(FILE_EXTENSION) | Some("yaml") | Some("yml") => Ok(Target::Manifest(path.into())),
        Some(BUNDLE_EXTENSION) => Ok(Target::Bundle(path.into())),
        Some("wasm") => Ok(Target::Wasm(path.into())),
        _ => {
            // No telling extension: the content decides.
            let mut head = [0u8; 8];
            let read = qyvol_manifest::open_regular(path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
            if read.is_ok() && head.starts_with(WASM_MAGIC) {
                Ok(Target::Wasm(path.into()))
            } else if read.is_ok() && head == BUNDLE_MAGIC {
                Ok(Target::Bundle(path.into()))
            } else {
                bail!(
                    "{}: not a .{FILE_EXTENSION} manifest, a folder, a .{BUNDLE_EXTENSION} bundle or a .wasm file",
                    path.display()
                )
            }
        }
    }
}

fn manifest_in(dir: &Path) -> Result<Target> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()) == Some(FILE_EXTENSION))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(Target::Manifest(found.remove(0))),
        0 => bail!(
            "{}: no .{FILE_EXTENSION} manifest in this folder; name a .{FILE_EXTENSION} or .wasm file",
            dir.display()
        ),
        _ => {
            let names: Vec<String> = found
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            bail!(
                "{}: {} manifests here ({}); name the one to use",
                dir.display(),
                found.len(),
                names.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_with_one_manifest_two_or_none() {
        let d = tempfile::tempdir().unwrap();
        assert!(
            resolve(d.path())
                .unwrap_err()
                .to_string()
                .contains("no .qyv manifest")
        );
        std::fs::write(d.path().join("a.qyv"), "").unwrap();
        assert_eq!(
            resolve(d.path()).unwrap(),
            Target::Manifest(d.path().join("a.qyv"))
        );
        std::fs::write(d.path().join("b.qyv"), "").unwrap();
        let err = resolve(d.path()).unwrap_err().to_string();
        assert!(err.contains("2 manifests here (a.qyv, b.qyv)"), "{err}");
    }

    #[test]
    fn wasm_by_extension_or_magic() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("prog");
        std::fs::write(&bin, b"\0asm\x01\0\0\0").unwrap();
        assert_eq!(resolve(&bin).unwrap(), Target::Wasm(bin.clone()));
        let packed = d.path().join("app-copy");
        std::fs::write(&packed, BUNDLE_MAGIC).unwrap();
        assert_eq!(resolve(&packed).unwrap(), Target::Bundle(packed.clone()));
        let txt = d.path().join("notes.txt");
        std::fs::write(&txt, b"hello").unwrap();
        assert!(resolve(&txt).is_err());
        assert!(
            resolve(&d.path().join("missing.wasm"))
                .unwrap_err()
                .to_string()
                .contains("no such file")
        );
    }
}
