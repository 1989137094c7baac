//! The names allowed in each section of a manifest.
//!
//! One list per section, read by the decoder (unknown-field errors and their
//! "did you mean") and by the JSON Schema (`properties`), so the two cannot
//! drift apart; a test checks that they agree. A new section (`build:`,
//! `component:`, `http:`, `restart:`...) adds its name to [`TOP_LEVEL`], a
//! list of its own here, an arm in `decode.rs`, a type in `model.rs` and an
//! entry in `schema.rs`.

/// Top-level fields.
pub const TOP_LEVEL: &[&str] = &[
    "name",
    "version",
    "manifest_version",
    "entrypoint",
    "runtime",
    "type",
    "language",
    "args",
    "env",
    "permissions",
    "fs",
    "limits",
    "restart",
    "http",
    "replicas",
    "scheduler",
    "build",
    "component",
];

/// Fields of `permissions:`.
pub const PERMISSIONS: &[&str] = &["fs", "net", "exec", "ai", "gfx"];

/// Fields of each `fs:` mount.
pub const MOUNT: &[&str] = &["source", "target", "mode", "type"];

/// Fields of `limits:`.
pub const LIMITS: &[&str] = &["memory", "timeout", "fuel"];

/// Fields of `http:` (apps of `type: http`).
pub const HTTP: &[&str] = &["route", "reuse", "concurrency", "queue"];

/// Fields of `scheduler:`.
pub const SCHEDULER: &[&str] = &["strategy", "constraints"];

/// Fields of `build:` (as in Spin's `[component.build]`).
pub const BUILD: &[&str] = &["command", "workdir", "watch"];

/// Every section with fixed fields, by the path used in messages (`fs[]`
/// for the items of the `fs` list).
pub const SECTIONS: &[(&str, &[&str])] = &[
    ("", TOP_LEVEL),
    ("permissions", PERMISSIONS),
    ("fs[]", MOUNT),
    ("limits", LIMITS),
    ("http", HTTP),
    ("scheduler", SCHEDULER),
    ("build", BUILD),
];

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
