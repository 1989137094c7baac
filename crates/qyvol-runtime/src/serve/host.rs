//! What one instance's store holds: its WASI context (the app's grants,
//! output prefixed with the request id), its HTTP context, the outgoing
//! request hooks and the memory limiter.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::limits::MemoryLimiter;
use crate::net::NetGate;
use crate::serve::outgoing::Outgoing;

pub(crate) struct Host {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    /// The instance's memfs trees: fresh (and seeded) for each instance.
    pub(crate) memfs: crate::memfs::MemFsCtx,
    pub(crate) outgoing: Outgoing,
    pub(crate) limiter: MemoryLimiter,
    /// The socket checks of this instance, with its own record of refusals.
    pub(crate) gate: NetGate,
    /// The request this instance serves now, read by its output prefix.
    pub(crate) request: Arc<AtomicU64>,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::memfs::MemFsState for Host {
    fn memfs(&mut self) -> crate::memfs::MemFsView<'_> {
        crate::memfs::view(&mut self.table, &self.memfs)
    }
}

impl crate::lookup::GatedLookups for Host {
    fn gate(&self) -> &NetGate {
        &self.gate
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}
