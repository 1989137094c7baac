//! Pushing and pulling whole artifacts: a Qyvol app (its `.qyvbin` as one
//! layer, a JSON summary of its manifest as config, annotations for search)
//! or a bare wasm in the CNCF wasm layout; and pulling either into the
//! store, asking the registry no more than it must.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use qyvol_manifest::Manifest;
use serde_json::json;

use crate::client::{Access, MANIFEST_CAP, Options, Repository, sha256_digest};
use crate::error::HubError;
use crate::hashing::{FileHashing, file_digest};
use crate::media::{self, Descriptor, ImageManifest, Kind};
use crate::reference::Reference;
use crate::store::{Store, Writeback};

/// The largest layer qyv pulls (a bundle of a big interpreter is ~50 MB).
pub const LAYER_CAP: u64 = 4 << 30;
/// The largest layer pushed from memory (see `push`); larger ones stream.
const STREAM_FROM: u64 = 16 << 20;
/// The largest config read.
const CONFIG_CAP: u64 = 1 << 20;

/// What a push left in the registry.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The manifest's digest: `REGISTRY/REPOSITORY@DIGEST` names exactly this.
    pub digest: String,
    /// The layer's digest and size.
    pub layer: Descriptor,
    /// Whether the layer was sent (false: the registry had it).
    pub uploaded: bool,
}

/// What a pulled artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PulledKind {
    Bundle,
    Wasm,
}

/// A pulled artifact, in the store.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub kind: PulledKind,
    /// The manifest's digest.
    pub digest: String,
    /// The bundle or wasm in the store.
    pub path: PathBuf,
    pub size: u64,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
    /// Whether bytes came over the network (false: the store had them).
    pub downloaded: bool,
}

/// Who signed a bundle, for its annotations.
pub struct AppFacts<'a> {
    pub manifest: &'a Manifest,
    /// The key id of the bundle's signer.
    pub signer: Option<String>,
}

/// Pushes a `.qyvbin` bundle as a Qyvol app.
pub fn push_bundle(
    reference: &Reference,
    options: &Options,
    bundle: &Path,
    facts: &AppFacts<'_>,
    progress: impl FnMut(u64) + Send + 'static,
) -> Result<Pushed, HubError> {
    let m = facts.manifest;
    let permissions = serde_json::to_string(&m.permissions).unwrap_or_default();
    let config = json!({
        "name": m.name,
        "version": m.version,
        "type": m.app_type,
        "language": m.language,
        "permissions": m.permissions,
        "signer": facts.signer,
    });
    let mut annotations = BTreeMap::new();
    annotations.insert(media::TITLE.to_string(), m.name.clone());
    if let Some(v) = &m.version {
        annotations.insert(media::VERSION.to_string(), v.clone());
    }
    annotations.insert(
        media::DESCRIPTION.to_string(),
        format!(
            "Qyvol app {}{}",
            m.name,
            m.language
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        ),
    );
    annotations.insert(media::APP_NAME.to_string(), m.name.clone());
    if let Some(l) = &m.language {
        annotations.insert(media::APP_LANGUAGE.to_string(), l.clone());
    }
    if let Ok(serde_json::Value::String(t)) = serde_json::to_value(m.app_type) {
        annotations.insert(media::APP_TYPE.to_string(), t);
    }
    annotations.insert(media::APP_PERMISSIONS.to_string(), permissions);
    if let Some(s) = &facts.signer {
        annotations.insert(media::APP_SIGNER.to_string(), s.clone());
    }
    if let Some(source) = qyvol_manifest::env::var("QYVOL_SOURCE_URL") {
        annotations.insert(
            media::SOURCE.to_string(),
            source.to_string_lossy().into_owned(),
        );
    }
    let title = bundle
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}.qyvbin", m.name));
    push(
        reference,
        options,
        Some(media::QYVOL_ARTIFACT),
        (
            media::QYVOL_CONFIG,
            serde_json::to_vec(&config).expect("JSON"),
        ),
        (media::QYVOL_BUNDLE, bundle, title),
        annotations,
        progress,
    )
}

/// Pushes a wasm component or module in the CNCF wasm OCI layout, as `wkg
/// oci push` writes it, so the ecosystem's tools pull it.
pub fn push_wasm(
    reference: &Reference,
    options: &Options,
    wasm: &Path,
    progress: impl FnMut(u64) + Send + 'static,
) -> Result<Pushed, HubError> {
    let (digest, size) = file_digest(wasm)?;
    let mut head = [0u8; 8];
    let is_component = {
        let mut f = std::fs::File::open(wasm).map_err(|e| HubError::io(wasm, e))?;
        f.read_exact(&mut head).is_ok() && head[4..8] == [0x0d, 0x00, 0x01, 0x00]
    };
    if &head[..4] != qyvol_manifest::WASM_MAGIC {
        return Err(HubError::io(
            wasm,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a wasm file (no \\0asm header); only a .wasm module or component goes into the wasm layout",
            ),
        ));
    }
    let config = json!({
        "architecture": "wasm",
        "os": if is_component { "wasip2" } else { "wasip1" },
        "layerDigests": [digest],
    });
    let title = wasm
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "module.wasm".into());
    let _ = size;
    push(
        reference,
        options,
        None,
        (
            media::WASM_CONFIG,
            serde_json::to_vec(&config).expect("JSON"),
        ),
        (media::WASM_LAYER, wasm, title),
        BTreeMap::new(),
        progress,
    )
}

fn push(
    reference: &Reference,
    options: &Options,
    artifact_type: Option<&str>,
    (config_type, config): (&str, Vec<u8>),
    (layer_type, layer_path, title): (&str, &Path, String),
    annotations: BTreeMap<String, String>,
    progress: impl FnMut(u64) + Send + 'static,
) -> Result<Pushed, HubError> {
    let Some(tag) = reference.tag.as_deref() else {
        return Err(HubError::BadReference {
            reference: reference.to_string(),
            message: "a push needs a tag (REGISTRY/NAMESPACE/APP:TAG); a digest names what is already there".into(),
        });
    };
    // A small layer is read once, hashed and sent as one body; a larger one
    // streams while another thread hashes it (client/stream.rs), unless the
    // user asked for chunks.
    let size = std::fs::metadata(layer_path)
        .map_err(|e| HubError::io(layer_path, e))?
        .len();
    enum Plan {
        Whole(Vec<u8>),
        Chunks(u64),
        Stream(FileHashing),
    }
    let plan = match options.chunk_size {
        Some(c) if c > 0 && size > c => Plan::Chunks(c),
        _ if size > STREAM_FROM => Plan::Stream(FileHashing::start(layer_path)),
        _ => Plan::Whole(std::fs::read(layer_path).map_err(|e| HubError::io(layer_path, e))?),
    };
    let repo = Repository::connect(
        &reference.registry,
        &reference.repository,
        Access::Push,
        options,
    )?;
    let (layer_digest, layer_size, uploaded) = match plan {
        Plan::Whole(bytes) => {
            let (digest, len) = (sha256_digest(&bytes), bytes.len() as u64);
            let uploaded = !repo.has_blob(&digest)?;
            if uploaded {
                let mut progress = progress;
                repo.push_bytes(&digest, bytes)?;
                progress(len);
            }
            (digest, len, uploaded)
        }
        Plan::Chunks(chunk) => {
            let (digest, len) = file_digest(layer_path)?;
            let uploaded = !repo.has_blob(&digest)?;
            if uploaded {
                repo.push_chunks(&digest, layer_path, len, chunk, progress)?;
            }
            (digest, len, uploaded)
        }
        Plan::Stream(hashing) => {
            let (digest, uploaded) =
                repo.push_file_streamed(layer_path, size, hashing, progress)?;
            (digest, size, uploaded)
        }
    };
    let config_digest = sha256_digest(&config);
    let config_size = config.len() as u64;
    if !repo.has_blob(&config_digest)? {
        repo.push_bytes(&config_digest, config)?;
    }
    let mut layer_annotations = BTreeMap::new();
    layer_annotations.insert(media::TITLE.to_string(), title);
    let layer = Descriptor {
        media_type: layer_type.to_string(),
        digest: layer_digest,
        size: layer_size,
        annotations: layer_annotations,
    };
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.to_string()),
        artifact_type: artifact_type.map(str::to_string),
        config: Descriptor {
            media_type: config_type.to_string(),
            digest: config_digest,
            size: config_size,
            annotations: BTreeMap::new(),
        },
        layers: vec![layer.clone()],
        annotations,
    };
    let bytes = serde_json::to_vec(&manifest).expect("JSON");
    let digest = repo.put_manifest(tag, media::OCI_MANIFEST, bytes)?;
    Ok(Pushed {
        digest,
        layer,
        uploaded,
    })
}

/// What a stored manifest holds, when its layer is in the store too.
fn from_store(
    store: &Store,
    reference: &Reference,
    digest: &str,
) -> Result<Option<Pulled>, HubError> {
    let Some(path) = store.blob(digest) else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path).map_err(|e| HubError::io(&path, e))?;
    let (manifest, kind) = classify(reference, None, &bytes)?;
    let (layer, pulled_kind) = match kind {
        Kind::Bundle(l) => (l, PulledKind::Bundle),
        Kind::Wasm(l) => (l, PulledKind::Wasm),
    };
    Ok(store.blob(&layer.digest).map(|path| Pulled {
        kind: pulled_kind,
        digest: digest.to_string(),
        path,
        size: layer.size,
        annotations: manifest.annotations,
        downloaded: false,
    }))
}

fn classify(
    reference: &Reference,
    media_type: Option<&str>,
    bytes: &[u8],
) -> Result<(ImageManifest, Kind), HubError> {
    media::classify(media_type, bytes).map_err(|what| HubError::WrongType {
        reference: reference.to_string(),
        what,
        expected: media::RUNNABLE.to_string(),
    })
}

/// Pulls an artifact into the store. With a digest in the reference and
/// the content stored, the registry is not asked at all; with a tag, it is
/// asked only for the tag's digest when that content is stored.
pub fn pull(
    reference: &Reference,
    options: &Options,
    store: &Store,
    progress: impl FnMut(u64, u64),
) -> Result<Pulled, HubError> {
    if let Some(d) = &reference.digest
        && let Some(p) = from_store(store, reference, d)?
    {
        return Ok(p);
    }
    let repo = Repository::connect(
        &reference.registry,
        &reference.repository,
        Access::Pull,
        options,
    )?;
    let digest = match &reference.digest {
        Some(d) => Some(d.clone()),
        None => repo
            .resolve(reference.target())
            .map_err(|e| with_known_tags(&repo, e))?,
    };
    if let Some(d) = &digest
        && let Some(p) = from_store(store, reference, d)?
    {
        store.record(reference, d)?;
        return Ok(p);
    }
    // By digest when the registry said it: the bytes are then checked
    // against it.
    let target = digest.as_deref().unwrap_or(reference.target());
    let (media_type, bytes, manifest_digest) = repo.manifest(target)?;
    let (manifest, kind) = classify(reference, media_type.as_deref(), &bytes)?;
    let (layer, pulled_kind) = match kind {
        Kind::Bundle(l) => (l, PulledKind::Bundle),
        Kind::Wasm(l) => (l, PulledKind::Wasm),
    };
    // The config is small; reading it checks the artifact is whole.
    repo.blob_bytes(&manifest.config.digest, manifest.config.size, CONFIG_CAP)?;
    let mut downloaded = false;
    let path = match store.blob(&layer.digest) {
        Some(p) => p,
        None => {
            downloaded = true;
            let total = layer.size;
            let mut progress = progress;
            let resumed = std::cell::Cell::new(false);
            let mut fetch = |file: &mut std::fs::File, have: Option<(u64, &mut dyn Read)>| {
                resumed.set(have.is_some());
                // fetch_blob writes in pieces of a megabyte: no buffer.
                let mut out = Writeback::new(file);
                repo.fetch_blob_after(
                    &layer.digest,
                    layer.size,
                    LAYER_CAP,
                    have,
                    &mut out,
                    &mut |n| progress(n, total),
                )
            };
            match store.put_resumable(&layer.digest, layer.size, &mut fetch) {
                // What an interrupted pull left was damaged (it is removed
                // then): once more from the start.
                Err(HubError::DigestMismatch { .. }) if resumed.get() => {
                    store.put_resumable(&layer.digest, layer.size, &mut fetch)?
                }
                other => other?,
            }
        }
    };
    if bytes.len() as u64 <= MANIFEST_CAP {
        store.put_bytes(&manifest_digest, &bytes)?;
    }
    store.record(reference, &manifest_digest)?;
    Ok(Pulled {
        kind: pulled_kind,
        digest: manifest_digest,
        path,
        size: layer.size,
        annotations: manifest.annotations,
        downloaded,
    })
}

/// A missing tag's error, with the tags the repository has (when it lists
/// them): the likely fix is one of them.
fn with_known_tags(repo: &Repository, e: HubError) -> HubError {
    match e {
        HubError::NotFound {
            registry,
            repository,
            what,
        } if what.starts_with("tag ") => {
            let known = match repo.tags() {
                Ok(tags) if tags.is_empty() => " (the repository has no tags)".to_string(),
                Ok(mut tags) => {
                    tags.sort();
                    let shown: Vec<&str> = tags.iter().take(20).map(String::as_str).collect();
                    format!(
                        " (its tags: {}{})",
                        shown.join(", "),
                        if tags.len() > 20 { ", …" } else { "" }
                    )
                }
                Err(_) => String::new(),
            };
            HubError::NotFound {
                registry,
                repository,
                what: format!("{what}{known}"),
            }
        }
        e => e,
    }
}

/// Connects to check that credentials work (`qyv login`): a pull of the
/// repository's token, or of `/v2/` with basic auth.
pub fn check_login(registry: &str, options: &Options) -> Result<(), HubError> {
    // A token service needs a scope; any repository name will do, access to
    // it is not checked by asking for a token.
    Repository::connect(registry, "qyvol/login-check", Access::Pull, options).map(|_| ())
}
