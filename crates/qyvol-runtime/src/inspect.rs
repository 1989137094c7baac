//! Reads what a `.wasm` file is without running it: kind, WASI version, the
//! imports and exports (WIT names for components), and which permissions
//! its imports can use.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use wasmparser::{Parser, Payload};

use qyvol_manifest::{FsAccess, NetPolicy, Permissions};

use crate::engine::EngineOptions;
use crate::error::{RuntimeError, chain};
use crate::kind::WasmKind;

/// Which WASI a file targets, judged by its imports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WasiVersion {
    /// Imports nothing from WASI.
    None,
    /// `wasi_unstable`: the oldest snapshot, which qyv does not run.
    Preview0,
    /// `wasi_snapshot_preview1`.
    Preview1,
    /// `wasi:*@0.2.x` interfaces; the highest version seen.
    Preview2(String),
    /// `wasi:*@0.3.x`, which qyv does not run yet.
    Preview3(String),
}

impl fmt::Display for WasiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WasiVersion::None => f.write_str("none (imports no WASI)"),
            WasiVersion::Preview0 => f.write_str("preview 0 (wasi_unstable, not supported)"),
            WasiVersion::Preview1 => f.write_str("preview 1 (wasi_snapshot_preview1)"),
            WasiVersion::Preview2(v) => write!(f, "0.2 (interfaces @{v})"),
            WasiVersion::Preview3(v) => write!(f, "0.3 (interfaces @{v}, not supported yet)"),
        }
    }
}

/// One import or export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `module::name` for a core module; the WIT name for a component.
    pub name: String,
    /// func, memory, table, global, tag, instance, component, module, type, value.
    pub kind: String,
}

/// A permission the file's imports can exercise, and the imports that show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Need {
    /// The manifest field that grants it: `permissions.fs`, `permissions.net`.
    pub permission: &'static str,
    pub why: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub kind: WasmKind,
    pub size: u64,
    pub wasi: WasiVersion,
    /// `wasi:cli/command`, `wasi:http/proxy`, `command` (p1 `_start`),
    /// `reactor` (p1 `_initialize`, no `_start`), or `library`.
    pub world: &'static str,
    pub imports: Vec<Item>,
    pub exports: Vec<Item>,
    pub needs: Vec<Need>,
}

impl Serialize for WasmKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

pub fn inspect_file(path: &Path) -> Result<Inspection, RuntimeError> {
    let bytes = crate::cache::read_wasm(path)?;
    inspect_located(path, &bytes)
}

/// Validates the whole file as the engine would (types, every function
/// body) without compiling it, then inspects it.
pub fn check_file(path: &Path) -> Result<Inspection, RuntimeError> {
    let bytes = crate::cache::read_wasm(path)?;
    let inspection = inspect_located(path, &bytes)?;
    let invalid = |message| RuntimeError::InvalidWasm {
        path: path.to_path_buf(),
        message,
    };
    match inspection.kind {
        // The engine's own validator, with exactly the features it runs.
        WasmKind::CoreModule => {
            let engine = EngineOptions::default().engine()?;
            wasmtime::Module::validate(&engine, &bytes)
                .map_err(|e| crate::threads::refusal(path, &bytes, || invalid(chain(&e))))?;
        }
        // Wasmtime validates components only while compiling them, which
        // takes seconds for a large one: wasmparser checks the same rules.
        WasmKind::Component => {
            wasmparser::Validator::new()
                .validate_all(&bytes)
                .map_err(|e| invalid(e.to_string()))?;
        }
    }
    Ok(inspection)
}

/// A permission the file's imports call for that the grants do not give:
/// a note for `qyv validate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unmet {
    /// The manifest field to change.
    pub field: &'static str,
    pub message: String,
}

impl Inspection {
    /// Compares what the imports can use with what the manifest grants.
    /// Both are notes, not errors: some toolchains import the socket and
    /// file system interfaces whether the program uses them or not
    /// (componentize-py imports every wasi:sockets interface), and a use
    /// the grants do not allow is refused at run time with its own message.
    pub fn unmet(&self, permissions: &Permissions, has_mounts: bool) -> Vec<Unmet> {
        let mut out = Vec::new();
        for need in &self.needs {
            let shown = show_some(&need.why);
            match need.permission {
                // Every wasi:http handler imports the outgoing handler,
                // which also reaches apps of the same server
                // (http://NAME.service/) without any permission.
                "permissions.net"
                    if matches!(permissions.net, NetPolicy::Deny)
                        && need.why.iter().all(|n| n.starts_with("wasi:http/outgoing-handler")) =>
                {
                    out.push(Unmet {
                        field: "permissions.net",
                        message: format!(
                            "the module imports {shown} but permissions.net is false: its requests can reach only apps served with it (http://NAME.service/)"
                        ),
                    })
                }
                "permissions.net" if matches!(permissions.net, NetPolicy::Deny) => out.push(Unmet {
                    field: "permissions.net",
                    message: format!(
                        "the module imports {shown} but permissions.net is false: every connection and name lookup will be refused (fine if it makes none); if it needs the network, set it to true or to a list of allowed addresses (e.g. [\"example.org:443\"])"
                    ),
                }),
                // Not a note but a refusal (see findings.rs): the imports
                // are linked only for an app granted exec.
                "permissions.exec" if !permissions.exec.granted() => out.push(Unmet {
                    field: "permissions.exec",
                    message: format!(
                        "the module imports {shown} (it starts other apps) but permissions.exec is false: it cannot start; set it to true or to a list of the programs it starts"
                    ),
                }),
                "permissions.fs" if permissions.fs == FsAccess::None && !has_mounts => out.push(Unmet {
                    field: "permissions.fs",
                    message: format!(
                        "the module imports {shown} but permissions.fs is none: it will see no files (fine if it opens none)"
                    ),
                }),
                _ => {}
            }
        }
        out
    }
}

fn show_some(items: &[String]) -> String {
    const SHOWN: usize = 2;
    let mut s = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

fn inspect_located(path: &Path, bytes: &[u8]) -> Result<Inspection, RuntimeError> {
    inspect_bytes(bytes).map_err(|e| match e {
        InspectError::NotWasm(what) => RuntimeError::NotWasm {
            path: path.to_path_buf(),
            what,
        },
        InspectError::Malformed(message) => RuntimeError::InvalidWasm {
            path: path.to_path_buf(),
            message,
        },
    })
}

#[derive(Debug)]
pub enum InspectError {
    NotWasm(String),
    Malformed(String),
}

pub fn inspect_bytes(bytes: &[u8]) -> Result<Inspection, InspectError> {
    let kind = WasmKind::detect(bytes)
        .ok_or_else(|| InspectError::NotWasm(crate::cache::describe_non_wasm(bytes)))?;
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    // Only the outermost module or component speaks for the file; nested
    // ones (a component's core modules) are its implementation.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::Malformed(e.to_string()))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ImportSection(reader) if depth == 0 => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| InspectError::Malformed(e.to_string()))?;
                    imports.push(Item {
                        name: format!("{}::{}", import.module, import.name),
                        kind: core_kind(import.ty).to_string(),
                    });
                }
            }
            Payload::ExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| InspectError::Malformed(e.to_string()))?;
                    exports.push(Item {
                        name: export.name.to_string(),
                        kind: external_kind(export.kind).to_string(),
                    });
                }
            }
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| InspectError::Malformed(e.to_string()))?;
                    imports.push(Item {
                        name: import.name.name.to_string(),
                        kind: type_ref_kind(import.ty).to_string(),
                    });
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| InspectError::Malformed(e.to_string()))?;
                    exports.push(Item {
                        name: export.name.name.to_string(),
                        kind: component_kind(export.kind).to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    let wasi = wasi_version(kind, &imports);
    let world = world(kind, &exports);
    let needs = needs(&imports);
    Ok(Inspection {
        kind,
        size: bytes.len() as u64,
        wasi,
        world,
        imports,
        exports,
        needs,
    })
}

fn core_kind(ty: wasmparser::TypeRef) -> &'static str {
    use wasmparser::TypeRef::*;
    match ty {
        Func(_) | FuncExact(_) => "func",
        Table(_) => "table",
        Memory(_) => "memory",
        Global(_) => "global",
        Tag(_) => "tag",
    }
}

fn external_kind(kind: wasmparser::ExternalKind) -> &'static str {
    use wasmparser::ExternalKind::*;
    match kind {
        Func | FuncExact => "func",
        Table => "table",
        Memory => "memory",
        Global => "global",
        Tag => "tag",
    }
}

fn type_ref_kind(ty: wasmparser::ComponentTypeRef) -> &'static str {
    use wasmparser::ComponentTypeRef::*;
    match ty {
        Module(_) => "module",
        Func(_) => "func",
        Value(_) => "value",
        Type(_) => "type",
        Instance(_) => "instance",
        Component(_) => "component",
    }
}

fn component_kind(kind: wasmparser::ComponentExternalKind) -> &'static str {
    use wasmparser::ComponentExternalKind::*;
    match kind {
        Module => "module",
        Func => "func",
        Value => "value",
        Type => "type",
        Instance => "instance",
        Component => "component",
    }
}

fn wasi_version(kind: WasmKind, imports: &[Item]) -> WasiVersion {
    match kind {
        WasmKind::CoreModule => {
            if imports
                .iter()
                .any(|i| i.name.starts_with("wasi_snapshot_preview1::"))
            {
                WasiVersion::Preview1
            } else if imports
                .iter()
                .any(|i| i.name.starts_with("wasi_unstable::"))
            {
                WasiVersion::Preview0
            } else {
                WasiVersion::None
            }
        }
        WasmKind::Component => {
            let versions: Vec<&str> = imports
                .iter()
                .filter(|i| i.name.starts_with("wasi:"))
                .filter_map(|i| i.name.split_once('@').map(|(_, v)| v))
                .collect();
            let highest = |prefix: &str| {
                versions
                    .iter()
                    .filter(|v| v.starts_with(prefix))
                    .max_by(|a, b| compare_versions(a, b))
                    .map(|v| v.to_string())
            };
            if let Some(v) = highest("0.3.") {
                WasiVersion::Preview3(v)
            } else if let Some(v) = highest("0.2.") {
                WasiVersion::Preview2(v)
            } else {
                WasiVersion::None
            }
        }
    }
}

fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<u64> {
        s.split(['.', '-'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a).cmp(&parts(b))
}

fn world(kind: WasmKind, exports: &[Item]) -> &'static str {
    let has = |prefix: &str| exports.iter().any(|e| e.name.starts_with(prefix));
    match kind {
        WasmKind::Component if has("wasi:cli/run@") => "wasi:cli/command",
        WasmKind::Component if has("wasi:http/incoming-handler@") => "wasi:http/proxy",
        WasmKind::Component => "library",
        WasmKind::CoreModule if has("_start") => "command",
        WasmKind::CoreModule if has("_initialize") => "reactor",
        WasmKind::CoreModule => "library",
    }
}

/// Imports that open files or sockets. A preview-1 program that only reads
/// and writes the descriptors it was given needs no permission; one that
/// imports `path_open` can open files by name.
fn needs(imports: &[Item]) -> Vec<Need> {
    let mut fs = Vec::new();
    let mut net = Vec::new();
    let mut exec = Vec::new();
    for i in imports {
        let n = i.name.as_str();
        if n.starts_with("wasi:filesystem/") || n == "wasi_snapshot_preview1::path_open" {
            fs.push(n.to_string());
        }
        if n.starts_with("wasi:sockets/")
            || n.starts_with("wasi:http/outgoing-handler")
            || n.starts_with("wasi_snapshot_preview1::sock_")
        {
            net.push(n.to_string());
        }
        if n.starts_with(&format!("{}::", crate::process::MODULE)) {
            exec.push(n.to_string());
        }
    }
    let mut out = Vec::new();
    if !fs.is_empty() {
        out.push(Need {
            permission: "permissions.fs",
            why: fs,
        });
    }
    if !net.is_empty() {
        out.push(Need {
            permission: "permissions.net",
            why: net,
        });
    }
    if !exec.is_empty() {
        out.push(Need {
            permission: "permissions.exec",
            why: exec,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_p1_command_module() {
        let wasm = wat::parse_str(
            r#"(module
                (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
                (memory (export "memory") 1)
                (func (export "_start")))"#,
        )
        .unwrap();
        let i = inspect_bytes(&wasm).unwrap();
        assert_eq!(i.kind, WasmKind::CoreModule);
        assert_eq!(i.wasi, WasiVersion::Preview1);
        assert_eq!(i.world, "command");
        assert_eq!(i.imports[0].name, "wasi_snapshot_preview1::fd_write");
        assert_eq!(i.exports.len(), 2);
        assert_eq!(i.needs.len(), 1);
        assert_eq!(i.needs[0].permission, "permissions.fs");
    }

    #[test]
    fn the_process_imports_need_exec() {
        let wasm = wat::parse_str(
            r#"(module
                (import "qyvol_process" "spawn" (func (param i32 i32 i32) (result i32)))
                (memory (export "memory") 1)
                (func (export "_start")))"#,
        )
        .unwrap();
        let i = inspect_bytes(&wasm).unwrap();
        assert_eq!(i.needs.len(), 1);
        assert_eq!(i.needs[0].permission, "permissions.exec");
        assert_eq!(i.needs[0].why, ["qyvol_process::spawn"]);
    }

    #[test]
    fn a_component_with_wasi_imports_names_them_in_wit() {
        let wasm = wat::parse_str(
            r#"(component
                (import "wasi:sockets/tcp@0.2.3" (instance))
                (import "wasi:cli/stdout@0.2.0" (instance))
                (core module (import "wasi_snapshot_preview1" "fd_write" (func)))
            )"#,
        )
        .unwrap();
        let i = inspect_bytes(&wasm).unwrap();
        assert_eq!(i.kind, WasmKind::Component);
        assert_eq!(i.wasi, WasiVersion::Preview2("0.2.3".into()));
        assert_eq!(i.world, "library");
        // the nested core module's import is not the component's
        assert_eq!(i.imports.len(), 2);
        assert_eq!(i.needs[0].permission, "permissions.net");
        assert_eq!(i.needs[0].why, vec!["wasi:sockets/tcp@0.2.3"]);
    }

    #[test]
    fn sockets_without_net_and_files_without_fs_are_noted() {
        let wasm = wat::parse_str(
            r#"(component
                (import "wasi:sockets/tcp@0.2.3" (instance))
                (import "wasi:filesystem/preopens@0.2.3" (instance)))"#,
        )
        .unwrap();
        let i = inspect_bytes(&wasm).unwrap();
        let none = Permissions::default();
        let unmet = i.unmet(&none, false);
        assert_eq!(unmet.len(), 2);
        let net = unmet.iter().find(|u| u.field == "permissions.net").unwrap();
        assert!(
            net.message.contains("wasi:sockets/tcp@0.2.3"),
            "{}",
            net.message
        );
        assert!(unmet.iter().any(|u| u.field == "permissions.fs"));
        let granted = Permissions {
            net: NetPolicy::AllowAll,
            fs: FsAccess::Read,
            ..Permissions::default()
        };
        assert!(i.unmet(&granted, false).is_empty());
    }

    #[test]
    fn check_file_finds_invalid_bodies_that_parsing_alone_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.wasm");
        // type error inside a function body: i32.add with no operands
        let bytes = wat::parse_str("(module (func i32.add drop))").unwrap();
        std::fs::write(&path, &bytes).unwrap();
        assert!(inspect_file(&path).is_ok());
        let err = check_file(&path).unwrap_err().to_string();
        assert!(err.contains("not valid WebAssembly"), "{err}");
    }

    #[test]
    fn garbage_is_not_wasm_and_truncated_wasm_is_malformed() {
        assert!(matches!(
            inspect_bytes(b"hello"),
            Err(InspectError::NotWasm(_))
        ));
        let wasm = wat::parse_str("(module (func (export \"f\")))").unwrap();
        assert!(matches!(
            inspect_bytes(&wasm[..wasm.len() - 3]),
            Err(InspectError::Malformed(_))
        ));
    }
}
