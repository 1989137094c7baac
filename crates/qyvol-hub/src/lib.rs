//! QyvolHub: OCI registries (the CNCF distribution registry, GHCR, Docker
//! Hub, Harbor, zot) as the place Qyvol apps are shared. It parses
//! references ([`Reference`]), finds credentials where Docker keeps them
//! ([`DockerConfig`], credential helpers included), speaks the registry API
//! with basic or bearer-token authentication ([`Repository`]), pushes a
//! `.qyvbin` bundle as an artifact of Qyvol's own media types or a bare
//! wasm in the CNCF wasm layout ([`push_bundle`], [`push_wasm`]), and pulls
//! either into a local content-addressed [`Store`] whose every file is
//! checked against its digest before it gets its name ([`pull`]), and
//! indexes what a registry lists for [`search`]. The media
//! types are in [`media`] and documented in docs/hub.md. Trust (whose
//! signature a bundle needs) stays with the caller, as for a bundle on disk.

mod artifact;
pub mod challenge;
mod client;
mod credentials;
mod error;
mod hashing;
pub mod media;
mod reference;
pub mod search;
mod store;

pub use artifact::{
    AppFacts, LAYER_CAP, Pulled, PulledKind, Pushed, check_login, pull, push_bundle, push_wasm,
};
pub use client::{Access, MANIFEST_CAP, Options, Repository, sha256_digest};
pub use credentials::{Credentials, DockerConfig, Stored};
pub use error::HubError;
pub use hashing::file_digest;
pub use reference::{DEFAULT_TAG, DOCKER_HUB, Reference, is_loopback};
pub use store::Store;

/// The options to reach a registry as the user configured it: the Docker
/// config's credentials, plain HTTP for the registries listed in
/// `$QYVOL_INSECURE_REGISTRIES` (comma-separated `host[:port]`).
pub fn options_for(registry: &str) -> Result<Options, HubError> {
    let credentials = DockerConfig::load_default()?.credentials(registry)?;
    let plain_http = qyvol_manifest::env::var("QYVOL_INSECURE_REGISTRIES")
        .map(|v| v.to_string_lossy().split(',').any(|r| r.trim() == registry))
        .unwrap_or(false);
    Ok(Options {
        credentials,
        plain_http,
        chunk_size: None,
    })
}
