//! The numbers of the manifest format: its version and the bounds of its
//! values, for the decoder, the schema and the crates that apply them. The
//! fields themselves are declared by the decoder's tables (`decode/`), one
//! entry per field with the code that reads it and its JSON Schema.

/// The manifest format version this crate reads.
pub const MANIFEST_VERSION: u32 = 1;

/// Longest allowed app name: a DNS label, so a name can become a host name.
pub const MAX_NAME_LEN: usize = 63;

/// Most instances of one HTTP app at once (`http.concurrency`): each one
/// holds a slot of the instance pool, whose address space is reserved up
/// front.
pub const MAX_HTTP_CONCURRENCY: u32 = 1000;

/// Most requests that may wait for an instance (`http.queue`).
pub const MAX_HTTP_QUEUE: u32 = 100_000;

/// Bounds of `replicas`.
pub const MAX_REPLICAS: u32 = 1000;

/// Smallest `size` of a memfs mount: room for a few small files.
pub const MIN_MEMFS_SIZE: u64 = 64 << 10;

/// Largest `size` of a memfs mount: it is the host's memory, and more than
/// this is a typo or belongs on a disk.
pub const MAX_MEMFS_SIZE: u64 = 16 << 30;
