//! The manifest a bundle carries, parsed as a manifest file would be.

use std::path::{Path, PathBuf};

use super::error::BundleError;
use super::reader::Bundle;
use super::source::Source;
use crate::error::ManifestError;
use crate::model::Manifest;

/// Why the manifest inside a bundle cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum BundledManifestError {
    /// Its bytes could not be read, or do not match their SHA-256.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// It is not a valid manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

impl<S: Source> Bundle<S> {
    /// The manifest inside (checked against its SHA-256), named in messages
    /// as `BUNDLE!MANIFEST`; relative paths resolve against the bundle's
    /// folder.
    pub fn manifest(&self) -> Result<Manifest, BundledManifestError> {
        let bytes = self.read_manifest()?;
        let name = PathBuf::from(format!(
            "{}!{}",
            self.file().display(),
            self.manifest_entry().name
        ));
        let base = self
            .file()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Ok(Manifest::parse_bytes(&bytes, &name, base)?)
    }
}
