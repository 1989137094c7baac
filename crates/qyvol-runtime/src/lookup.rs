//! Name lookups under `permissions.net`.
//!
//! wasmtime-wasi gates `wasi:sockets/ip-name-lookup` with one switch
//! (`WasiCtxBuilder::allow_ip_name_lookup`): all names or none, and a
//! refusal is silent (the guest sees a resolver failure, the host nothing);
//! the socket check (`socket_addr_check`) sees addresses, never names. So a
//! component's linker gets its own `resolve-addresses`, in place of
//! wasmtime-wasi's: it asks the app's [`NetGate`], which records a refused
//! name the way it records a refused connect (so the run's end names the
//! rule to add), and hands an allowed one to wasmtime-wasi's resolver.
//!
//! Preview-1 modules have no name lookup to gate: `wasi_snapshot_preview1`
//! has no such function, and neither has the adapter that makes them
//! components.

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::Network;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{self, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode};
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::net::NetGate;

/// The interface, at the version wasmtime-wasi defines it (components
/// importing any 0.2 version link to it). Were an update of wasmtime-wasi
/// to move it, this would define a second instance instead of replacing
/// the function: crates/qyv/tests/e2e/sandbox.rs (a lookup under `net: false` is reported)
/// would fail.
const INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";

/// A store whose lookups a [`NetGate`] decides.
pub(crate) trait GatedLookups: WasiView {
    fn gate(&self) -> &NetGate;
}

/// Puts the gated `resolve-addresses` in place of wasmtime-wasi's; call it
/// after wasmtime-wasi's own `add_to_linker`.
pub(crate) fn add_to_linker<T: GatedLookups + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(INTERFACE)?.func_wrap(
        "resolve-addresses",
        |mut store: StoreContextMut<'_, T>,
         (net, name): (Resource<Network>, String)|
         -> wasmtime::Result<(Result<Resource<ResolveAddressStream>, ErrorCode>,)> {
            let data = store.data_mut();
            if !data.gate().allows_lookup(&name) {
                // What wasmtime-wasi answers when lookups are off.
                return Ok((Err(ErrorCode::PermanentResolverFailure),));
            }
            let mut sockets = data.sockets();
            let resolved = match ip_name_lookup::Host::resolve_addresses(&mut sockets, net, name) {
                Ok(stream) => Ok(stream),
                Err(e) => Err(network::Host::convert_error_code(&mut sockets, e)?),
            };
            Ok((resolved,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
