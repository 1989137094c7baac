//! The exit statuses of `qyv`. A run that started ends with its guest's
//! status ([`qyvol_runtime::Ending::status`]: the guest's code, or 124,
//! 126, 134, 137, 143, 152 for the endings the runtime tells apart); a
//! command that could not do what it was asked ends with [`QYV_ERROR`].
//! Documented in the README; tests check each one.

/// `qyv` could not start the program or do what the command asked: bad
/// manifest, flags, wasm file, or a node's refusal. 125, as `docker run`
/// says its own errors, apart from the program's.
pub const QYV_ERROR: i32 = 125;
