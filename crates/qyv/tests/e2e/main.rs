//! The end-to-end tests: the real `qyv` binary driven as a user would, one
//! module per area. One test binary (rather than one per file) so the
//! shared helpers in `common/` are compiled and linked once; pick an area
//! with a filter, e.g. `cargo test -p qyv --test e2e node::` or
//! `cargo test -p qyv --test e2e serve::`.

mod bundles;
mod cache;
mod cluster;
mod common;
mod contract;
mod docs;
mod examples;
mod exec;
mod golden;
mod hub;
mod hub_interop;
mod hub_resume;
mod init_build;
mod inspect_validate;
mod limits;
mod manifest_errors;
mod memfs;
mod node;
mod permissions;
mod run_basics;
mod sandbox;
mod serve;
mod shell;
mod shell_terminal;
mod wasmtime_parity;
