//! Builds the WASI context of a run from its spec: arguments, environment
//! (only what the spec names: the host's never leaks in), preopened folders
//! with their access, stdio, and the network gate. `qyv run`, the node's
//! tasks and `qyv serve` share everything but stdio and blocking.

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::error::{RuntimeError, chain};
use crate::net::NetGate;
use crate::spec::RunSpec;

pub(crate) fn context(spec: &RunSpec, gate: &NetGate) -> Result<WasiCtxBuilder, RuntimeError> {
    let mut b = grants(spec, gate)?;
    // One program per process: blocking the thread on file I/O is cheaper
    // than bouncing every call through the async runtime.
    b.allow_blocking_current_thread(true);
    spec.stdio.apply(&mut b);
    Ok(b)
}

/// The context of a program that runs as an async task beside others
/// (crate::task): its file I/O goes through the runtime's blocking pool,
/// so that one program's slow disk never holds up another's turn.
pub(crate) fn task_context(spec: &RunSpec, gate: &NetGate) -> Result<WasiCtxBuilder, RuntimeError> {
    let mut b = grants(spec, gate)?;
    spec.stdio.apply(&mut b);
    Ok(b)
}

/// Arguments, environment, mounts and network: what the spec grants, with
/// no stdio at all.
pub(crate) fn grants(spec: &RunSpec, gate: &NetGate) -> Result<WasiCtxBuilder, RuntimeError> {
    let mut b = WasiCtxBuilder::new();
    b.arg(&spec.argv0);
    for arg in &spec.args {
        b.arg(arg);
    }
    for (k, v) in &spec.env {
        b.env(k, v);
    }
    for p in &spec.preopens {
        let perms = if p.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(&p.host, &p.guest, perms)
            .map_err(|e| RuntimeError::Preopen {
                host: p.host.clone(),
                guest: p.guest.clone(),
                source: std::io::Error::other(chain(&e)),
            })?;
    }
    gate.apply(&mut b);
    Ok(b)
}
