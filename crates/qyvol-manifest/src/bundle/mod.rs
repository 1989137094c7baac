//! `.qyvbin` bundles: one file holding an app's manifest, its wasm, the
//! files its mounts need, optional precompiled machine code per (target,
//! engine), and an optional Ed25519 signature over a digest of all of it.
//! `format` says where every byte goes, `open` checks a bundle's structure
//! without trusting a length, a count or a name in it, `reader` reads its
//! contents (from a `source`), checking them against their hashes, `writer`
//! packs one deterministically, `keys` and `trust` say who signed it and
//! whether that is enough. Running one (choosing the precompiled code,
//! extracting files) is the runtime's business. The prose description is
//! `docs/qyvbin.md`.

mod app;
mod error;
mod format;
mod keys;
mod manifest;
mod names;
mod open;
mod packable;
mod reader;
mod source;
mod trust;
mod writer;

pub use error::{BundleError, BundleErrorKind};
pub use format::{
    Blob, EMPTY_SHA256, Entry, EntryKind, FILE_EXTENSION, FORMAT_VERSION, MAGIC, MAX_COMPONENT_LEN,
    MAX_ENTRIES, MAX_LABEL_LEN, MAX_MANIFEST_LEN, MAX_NAME_LEN, MAX_NATIVES, MAX_TOC_LEN, Native,
    PIECE_LEN, piece_count, piece_digest, piece_hashes,
};
pub use keys::{
    PUBLIC_KEY_EXTENSION, PUBLIC_KEY_FILE, PublicKey, SECRET_KEY_FILE, SecretKey, load_public_keys,
    write_new_key_pair,
};
pub use manifest::BundledManifestError;
pub use names::check_entry_name;
pub use packable::file_name;
pub(crate) use packable::unpackable;
pub use reader::Bundle;
pub use source::{Piece, Source, Stored};
pub use trust::{Standing, TrustPolicy, TrustedKey};
pub use writer::{Content, Packed, Packer};

#[cfg(test)]
mod tests;
