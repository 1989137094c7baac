//! Tells a core module from a component by the preamble, before any parsing.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// What a `.wasm` file holds, read from its 8-byte preamble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WasmKind {
    /// A core WebAssembly module (WASI preview 1 when it imports WASI).
    CoreModule,
    /// A component (WASI 0.2 when it imports WASI).
    Component,
}

impl WasmKind {
    /// Detects the kind from the first bytes of a file; `None` when the bytes
    /// are not a WebAssembly binary at all.
    pub fn detect(bytes: &[u8]) -> Option<WasmKind> {
        if wasmparser::Parser::is_component(bytes) {
            Some(WasmKind::Component)
        } else if wasmparser::Parser::is_core_wasm(bytes) {
            Some(WasmKind::CoreModule)
        } else {
            None
        }
    }

    /// The kind of the file at `path`, from its first bytes; `None` when it
    /// cannot be read or is not WebAssembly.
    pub fn of_file(path: &Path) -> Option<WasmKind> {
        let mut head = [0u8; 8];
        qyvol_manifest::open_regular(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .ok()?;
        WasmKind::detect(&head)
    }

    /// Short stable name, used in cache file names and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            WasmKind::CoreModule => "module",
            WasmKind::Component => "component",
        }
    }

    pub fn from_str_opt(s: &str) -> Option<WasmKind> {
        match s {
            "module" => Some(WasmKind::CoreModule),
            "component" => Some(WasmKind::Component),
            _ => None,
        }
    }
}

impl fmt::Display for WasmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WasmKind::CoreModule => "core module",
            WasmKind::Component => "component",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_both_kinds_and_rejects_other_bytes() {
        let core = wat::parse_str("(module)").unwrap();
        let comp = wat::parse_str("(component)").unwrap();
        assert_eq!(WasmKind::detect(&core), Some(WasmKind::CoreModule));
        assert_eq!(WasmKind::detect(&comp), Some(WasmKind::Component));
        assert_eq!(WasmKind::detect(b"#!/bin/sh\n"), None);
        assert_eq!(WasmKind::detect(b""), None);
    }
}
