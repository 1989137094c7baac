//! Compiled code of either kind, and the two ways to get it: compiling wasm
//! bytes, or mapping a serialized artifact from disk.

use std::path::Path;

use wasmtime::Engine;
use wasmtime::Module;
use wasmtime::component::Component;

use crate::kind::WasmKind;

// Cloning shares the compiled code (it is reference-counted).
#[derive(Clone)]
pub(crate) enum Code {
    Module(Module),
    Component(Component),
}

impl Code {
    pub(crate) fn compile(
        engine: &Engine,
        kind: WasmKind,
        bytes: &[u8],
    ) -> Result<Code, wasmtime::Error> {
        Ok(match kind {
            WasmKind::CoreModule => Code::Module(Module::from_binary(engine, bytes)?),
            WasmKind::Component => Code::Component(Component::from_binary(engine, bytes)?),
        })
    }

    /// Maps a serialized artifact (lazily paged in by the kernel).
    ///
    /// # Safety
    /// The file must be an artifact that this engine configuration produced
    /// and must not change while the code is alive. The cache guarantees the
    /// first by checking a digest recorded at write time (see `cache/store.rs`) and
    /// the second by only ever replacing files by rename.
    pub(crate) unsafe fn deserialize_file(
        engine: &Engine,
        kind: WasmKind,
        path: &Path,
    ) -> Result<Code, wasmtime::Error> {
        // SAFETY: forwarded to the caller, see above.
        unsafe {
            Ok(match kind {
                WasmKind::CoreModule => Code::Module(Module::deserialize_file(engine, path)?),
                WasmKind::Component => Code::Component(Component::deserialize_file(engine, path)?),
            })
        }
    }

    pub(crate) fn serialize(&self) -> Result<Vec<u8>, wasmtime::Error> {
        match self {
            Code::Module(m) => m.serialize(),
            Code::Component(c) => c.serialize(),
        }
    }
}
