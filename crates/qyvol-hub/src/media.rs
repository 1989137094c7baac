//! The OCI documents Qyvol writes and reads: image manifests and their
//! descriptors, the media types of a Qyvol bundle artifact and of the CNCF
//! wasm layout, and what a manifest pulled from a registry turns out to be.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index (a list of manifests, e.g. one per platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// What a registry may answer a manifest request with.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The artifact type of a Qyvol app (a `.qyvbin` bundle).
pub const QYVOL_ARTIFACT: &str = "application/vnd.qyvol.app.v1";
/// The config of a Qyvol app: a JSON summary of the manifest inside.
pub const QYVOL_CONFIG: &str = "application/vnd.qyvol.app.config.v1+json";
/// The one layer of a Qyvol app: the `.qyvbin` bundle, as it is on disk.
pub const QYVOL_BUNDLE: &str = "application/vnd.qyvol.bundle.v1";

/// The CNCF wasm OCI layout (the TAG Runtime's "Wasm OCI Artifact").
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";

pub const TITLE: &str = "org.opencontainers.image.title";
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
pub const VERSION: &str = "org.opencontainers.image.version";
pub const SOURCE: &str = "org.opencontainers.image.source";
pub const CREATED: &str = "org.opencontainers.image.created";
/// Qyvol's own annotations.
pub const APP_NAME: &str = "dev.qyvol.app.name";
pub const APP_LANGUAGE: &str = "dev.qyvol.app.language";
pub const APP_TYPE: &str = "dev.qyvol.app.type";
pub const APP_PERMISSIONS: &str = "dev.qyvol.app.permissions";
pub const APP_SIGNER: &str = "dev.qyvol.app.signer";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What an artifact holds, as far as qyv is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Qyvol app: this layer is its `.qyvbin`.
    Bundle(Descriptor),
    /// A component or module in the CNCF wasm layout: this layer is it.
    Wasm(Descriptor),
}

/// The artifact types qyv runs, for messages.
pub const RUNNABLE: &str = "application/vnd.qyvol.app.v1 (a Qyvol app) or application/vnd.wasm.config.v0+json with an application/wasm layer (a wasm component or module, as wkg and wash push them)";

/// What a manifest's bytes hold: a runnable kind, or in words what else.
pub fn classify(media_type: Option<&str>, bytes: &[u8]) -> Result<(ImageManifest, Kind), String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("a manifest that is not JSON ({e})"))?;
    let declared = value
        .get("mediaType")
        .and_then(|v| v.as_str())
        .or(media_type)
        .unwrap_or("");
    if declared == OCI_INDEX || declared == DOCKER_LIST || value.get("manifests").is_some() {
        return Err(
            "an image index (a list of manifests, one per platform: a container image)".into(),
        );
    }
    if value.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1) {
        return Err("a Docker schema 1 image (an old container image format)".into());
    }
    let manifest: ImageManifest =
        serde_json::from_value(value).map_err(|e| format!("a manifest qyv cannot read ({e})"))?;
    let config = manifest.config.media_type.as_str();
    let find = |layer_type: &str| manifest.layers.iter().find(|l| l.media_type == layer_type);
    match config {
        QYVOL_CONFIG => match find(QYVOL_BUNDLE) {
            Some(l) => {
                let l = l.clone();
                Ok((manifest, Kind::Bundle(l)))
            }
            None => Err(format!("a Qyvol app without its {QYVOL_BUNDLE} layer")),
        },
        WASM_CONFIG => match find(WASM_LAYER) {
            Some(l) => {
                let l = l.clone();
                Ok((manifest, Kind::Wasm(l)))
            }
            None => Err(format!("a wasm artifact without an {WASM_LAYER} layer")),
        },
        "application/vnd.oci.image.config.v1+json"
        | "application/vnd.docker.container.image.v1+json" => {
            // An artifact may use the image config with an artifactType of
            // its own; otherwise it is a container image.
            match manifest.artifact_type.as_deref() {
                Some(t) => Err(format!("an OCI artifact of type {t}")),
                None if manifest.layers.iter().any(|l| l.media_type == WASM_LAYER) => Err(
                    "a container image holding a wasm layer (a runwasi/containerd image, not the CNCF wasm layout)"
                        .into(),
                ),
                None => Err(format!("a container image (config {config})")),
            }
        }
        "application/vnd.cncf.helm.config.v1+json" => Err("a Helm chart".into()),
        "application/vnd.oci.empty.v1+json" => Err(format!(
            "an OCI artifact of type {}",
            manifest.artifact_type.as_deref().unwrap_or("(none given)")
        )),
        other => Err(format!("an artifact whose config is {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn manifest(config: &str, layer: &str, artifact: Option<&str>) -> Vec<u8> {
        let mut v = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": config, "digest": D, "size": 2},
            "layers": [{"mediaType": layer, "digest": D, "size": 10}],
        });
        if let Some(a) = artifact {
            v["artifactType"] = a.into();
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn runnable_kinds() {
        let (_, k) = classify(
            None,
            &manifest(QYVOL_CONFIG, QYVOL_BUNDLE, Some(QYVOL_ARTIFACT)),
        )
        .unwrap();
        assert!(matches!(k, Kind::Bundle(d) if d.size == 10));
        let (_, k) = classify(None, &manifest(WASM_CONFIG, WASM_LAYER, None)).unwrap();
        assert!(matches!(k, Kind::Wasm(_)));
    }

    #[test]
    fn other_artifacts_say_what_they_are() {
        for (bytes, says) in [
            (
                manifest("application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip", None),
                "a container image",
            ),
            (
                manifest("application/vnd.cncf.helm.config.v1+json", "x", None),
                "a Helm chart",
            ),
            (
                manifest("application/vnd.oci.empty.v1+json", "x", Some("application/vnd.example.sbom")),
                "application/vnd.example.sbom",
            ),
            (manifest(QYVOL_CONFIG, WASM_LAYER, None), "without its"),
            (
                br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec(),
                "an image index",
            ),
            (b"not json".to_vec(), "not JSON"),
        ] {
            let e = classify(None, &bytes).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
