//! The `.qyv` manifest of a Qyvol app: its schema, and the parser that turns
//! the YAML a user wrote into a checked [`Manifest`] or into one precise error
//! (file, line, column, field path, what is allowed, "did you mean"). It also
//! holds the rules other crates must apply the same way: sizes and durations
//! ([`parse_size`], [`parse_duration`]), network allow-lists ([`NetRule`]),
//! implicit mounts ([`Manifest::effective_mounts`]), whether an app can start
//! for a purpose ([`Manifest::problems`]: run, serve, pack, deploy), and the
//! JSON Schema for editors ([`json_schema`]). The [`bundle`] module is the
//! `.qyvbin` format (manifest, wasm, files and precompiled code in one signed
//! file) and [`UserConfig`] the user's own settings (the bundle trust
//! policy); [`env`] reads the environment and finds the user's folders the
//! same way for every crate, and [`sync::lock`] takes a lock past a panic. It
//! knows nothing of Wasmtime and depends on no other Qyvol crate.

// ManifestError is ~170 bytes because its parts are public fields callers
// read directly; it is built once, on the cold path of a failed parse, so
// boxing it would cost every caller an indirection for nothing.
#![allow(
    clippy::result_large_err,
    reason = "the error is a flat struct of public fields, built once per failed parse"
)]

// Qyvol runs on Unix only: bundles are read with positioned reads, keys and
// the node's files are written with Unix modes, a node stops on signals. On
// other systems this is the one error the build reports: the modules that
// use Unix calls (the bundle and, through the trust policy, the user config)
// are left out there, so that nothing fails before it.
#[cfg(not(unix))]
compile_error!(
    "Qyvol builds and runs on Unix systems only (it is developed and tested on Linux); see README.md"
);

mod admission;
#[cfg(unix)]
pub mod bundle;
#[cfg(unix)]
mod config;
mod confine;
mod decode;
pub mod env;
mod error;
pub mod fields;
mod files;
mod model;
mod naming;
mod net;
mod regular;
mod schema;
mod suggest;
pub mod sync;
mod units;
mod yaml;

pub use admission::{Finding, Purpose, Reason, Severity};
#[cfg(unix)]
pub use config::{CONFIG_FIELDS, CONFIG_FILE, TRUST_FIELDS, UserConfig};
pub use error::{ErrorKind, ManifestError};
pub use files::WASM_MAGIC;
pub use model::{
    AppType, Build, ExecPolicy, FsAccess, Http, Limits, Manifest, Mount, MountKind, MountMode,
    Permissions, Restart, Rollout, Runtime, Scheduler, Strategy,
};
pub use naming::{check_env_name, check_name, fix_name, is_semver};
pub use net::{NetPolicy, NetRule, NetTarget};
pub use regular::{
    MAX_MANIFEST_LEN, MAX_SECRET_LEN, MAX_SETTINGS_LEN, check_regular, open_regular, read_regular,
    read_regular_text,
};
pub use schema::json_schema;
pub use suggest::{did_you_mean, edit_distance};
pub use units::{
    WASM_PAGE_SIZE, check_memory_limit, format_duration, format_size, parse_duration,
    parse_memory_limit, parse_size, parse_timeout,
};

/// Extension of manifest files, without the dot.
pub const FILE_EXTENSION: &str = "qyv";
