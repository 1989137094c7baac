//! Preview-1 core module → WASI 0.2 component, with the adapters Wasmtime
//! publishes (crate `wasi-preview1-component-adapter-provider`, the same
//! release as the engine) and `wit-component`: what `wasm-tools component
//! new --adapt` does, without the external tool.
//!
//! What the adapters cannot carry is part of the result: a command made
//! this way reports every non-zero `proc_exit` as plain failure (1), since
//! the adapter calls `wasi:cli/exit.exit(err)`, which has no code.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

use crate::inspect::{InspectError, WasiVersion, inspect_bytes};
use crate::kind::WasmKind;

/// Which of the three adapters bridges the module's preview-1 imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// `wasi:cli/command`: the module's `_start` becomes `wasi:cli/run`.
    Command,
    /// `wasi:cli/imports`: a library; its own exports stay as they are.
    Reactor,
    /// `wasi:http/proxy`: no files, environment or exit, for HTTP handlers.
    Proxy,
}

impl Adapter {
    pub const NAMES: &'static [&'static str] = &["command", "reactor", "proxy"];

    pub fn as_str(self) -> &'static str {
        match self {
            Adapter::Command => "command",
            Adapter::Reactor => "reactor",
            Adapter::Proxy => "proxy",
        }
    }

    pub fn from_name(name: &str) -> Option<Adapter> {
        match name {
            "command" => Some(Adapter::Command),
            "reactor" => Some(Adapter::Reactor),
            "proxy" => Some(Adapter::Proxy),
            _ => None,
        }
    }

    /// The adapter a module's exports call for: an HTTP handler export
    /// means proxy, `_start` means command, anything else reactor.
    pub fn for_exports<'a>(exports: impl IntoIterator<Item = &'a str>) -> Adapter {
        let mut start = false;
        for name in exports {
            if name.starts_with("wasi:http/incoming-handler") {
                return Adapter::Proxy;
            }
            start |= name == "_start";
        }
        if start {
            Adapter::Command
        } else {
            Adapter::Reactor
        }
    }

    pub(crate) fn bytes(self) -> &'static [u8] {
        match self {
            Adapter::Command => WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
            Adapter::Reactor => WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            Adapter::Proxy => WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
        }
    }

    /// What a component made with this adapter cannot do that the module
    /// could, for the user to read.
    pub fn limits(self) -> &'static [&'static str] {
        match self {
            Adapter::Command => &[
                "a non-zero exit code (proc_exit) arrives as 1: wasi:cli/exit carries only success or failure",
            ],
            Adapter::Reactor => &[
                "a non-zero exit code (proc_exit) arrives as 1: wasi:cli/exit carries only success or failure",
                "no wasi:cli/run export: the component is a library, not a command",
            ],
            Adapter::Proxy => &[
                "no files, environment, arguments, exit or sockets: proc_exit and path_open fail inside the handler",
            ],
        }
    }
}

impl fmt::Display for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Error)]
pub enum AdaptError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a WebAssembly file ({0})")]
    NotWasm(String),
    #[error("not valid WebAssembly: {0}")]
    Invalid(String),
    #[error("it is already a component; only a core module can be adapted")]
    AlreadyComponent,
    #[error(
        "it imports wasi_unstable (WASI preview 0); the adapters bridge only wasi_snapshot_preview1: rebuild it with a current toolchain"
    )]
    Preview0,
    #[error("the {adapter} adapter cannot be applied: {message}")]
    Encode { adapter: Adapter, message: String },
}

/// A component made from a core module.
#[derive(Debug)]
pub struct Adapted {
    pub bytes: Vec<u8>,
    pub adapter: Adapter,
    /// Whether the module imported preview 1 at all: one that does not gets
    /// no adapter and becomes a component of its own exports.
    pub adapted_wasi: bool,
}

/// Wraps a core module into a component. `adapter` overrides the choice
/// made from the module's exports.
pub fn adapt(core: &[u8], adapter: Option<Adapter>) -> Result<Adapted, AdaptError> {
    let inspection = inspect_bytes(core).map_err(|e| match e {
        InspectError::NotWasm(what) => AdaptError::NotWasm(what),
        InspectError::Malformed(message) => AdaptError::Invalid(message),
    })?;
    if inspection.kind == WasmKind::Component {
        return Err(AdaptError::AlreadyComponent);
    }
    let adapter = adapter.unwrap_or_else(|| {
        Adapter::for_exports(inspection.exports.iter().map(|e| e.name.as_str()))
    });
    let adapted_wasi = match inspection.wasi {
        WasiVersion::Preview0 => return Err(AdaptError::Preview0),
        WasiVersion::Preview1 => true,
        _ => false,
    };
    let encode_error = |message: String| AdaptError::Encode { adapter, message };
    let mut encoder = wit_component::ComponentEncoder::default()
        .module(core)
        .map_err(|e| encode_error(format!("{e:#}")))?
        .validate(true);
    if adapted_wasi {
        encoder = encoder
            .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter.bytes())
            .map_err(|e| encode_error(format!("{e:#}")))?;
    }
    let bytes = encoder
        .encode()
        .map_err(|e| encode_error(format!("{e:#}")))?;
    Ok(Adapted {
        bytes,
        adapter,
        adapted_wasi,
    })
}

/// Reads `input`, adapts it and writes `output` whole or not at all (a
/// temporary file renamed into place), so `input` and `output` may be the
/// same file.
pub fn adapt_file(
    input: &Path,
    output: &Path,
    adapter: Option<Adapter>,
) -> Result<Adapted, AdaptError> {
    let core =
        qyvol_manifest::read_regular(input, u64::MAX).map_err(|source| AdaptError::Read {
            path: input.to_path_buf(),
            source,
        })?;
    let adapted = adapt(&core, adapter)?;
    crate::cache::write_atomic(output, &adapted.bytes).map_err(|source| AdaptError::Write {
        path: output.to_path_buf(),
        source,
    })?;
    Ok(adapted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMAND: &str = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $exit (i32.const 3))))"#;

    #[test]
    fn the_adapter_follows_the_exports() {
        assert_eq!(Adapter::for_exports(["memory", "_start"]), Adapter::Command);
        assert_eq!(
            Adapter::for_exports(["_initialize", "add"]),
            Adapter::Reactor
        );
        assert_eq!(
            Adapter::for_exports(["wasi:http/incoming-handler@0.2.0#handle", "_start"]),
            Adapter::Proxy
        );
        for name in Adapter::NAMES {
            assert_eq!(Adapter::from_name(name).unwrap().as_str(), *name);
        }
    }

    #[test]
    fn a_command_module_becomes_a_command_component() {
        let core = wat::parse_str(COMMAND).unwrap();
        let adapted = adapt(&core, None).unwrap();
        assert_eq!(adapted.adapter, Adapter::Command);
        assert!(adapted.adapted_wasi);
        let inspection = inspect_bytes(&adapted.bytes).unwrap();
        assert_eq!(inspection.kind, WasmKind::Component);
        assert_eq!(inspection.world, "wasi:cli/command");
    }

    #[test]
    fn a_module_without_wasi_keeps_its_exports() {
        let core =
            wat::parse_str(r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#)
                .unwrap();
        let adapted = adapt(&core, None).unwrap();
        assert!(!adapted.adapted_wasi);
        let inspection = inspect_bytes(&adapted.bytes).unwrap();
        assert_eq!(inspection.kind, WasmKind::Component);
    }

    #[test]
    fn bad_inputs_say_what_is_wrong() {
        let component = adapt(&wat::parse_str(COMMAND).unwrap(), None)
            .unwrap()
            .bytes;
        assert!(matches!(
            adapt(&component, None),
            Err(AdaptError::AlreadyComponent)
        ));
        assert!(matches!(
            adapt(b"#!/bin/sh\n", None),
            Err(AdaptError::NotWasm(_))
        ));
        let old = wat::parse_str(
            r#"(module (import "wasi_unstable" "proc_exit" (func (param i32))) (memory (export "memory") 1) (func (export "_start")))"#,
        )
        .unwrap();
        assert!(matches!(adapt(&old, None), Err(AdaptError::Preview0)));
        // The command adapter needs `_start` to call.
        let lib = wat::parse_str(
            r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) (memory (export "memory") 1))"#,
        )
        .unwrap();
        let err = adapt(&lib, Some(Adapter::Command)).unwrap_err();
        assert!(
            matches!(
                err,
                AdaptError::Encode {
                    adapter: Adapter::Command,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn writes_whole_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("app.wasm");
        std::fs::write(&input, wat::parse_str(COMMAND).unwrap()).unwrap();
        adapt_file(&input, &input, None).unwrap();
        assert_eq!(
            WasmKind::detect(&std::fs::read(&input).unwrap()),
            Some(WasmKind::Component)
        );
        // A failed adaptation leaves the output as it was.
        let out = dir.path().join("out.wasm");
        assert!(adapt_file(&input, &out, None).is_err());
        assert!(!out.exists());
    }
}
