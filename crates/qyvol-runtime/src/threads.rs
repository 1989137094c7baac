//! Threads are not supported, and a program that uses them is told so.
//!
//! WebAssembly threads today means wasi-threads: a core module with a
//! shared memory that imports `wasi`'s `thread-spawn` (Rust's
//! `wasm32-wasip1-threads`, C's `wasm32-wasi-threads`). Qyvol does not run
//! it: the proposal is preview-1 only (components cannot use it) and is
//! being replaced by shared-everything threads; wasmtime's implementation
//! needs the engine's `threads` feature (a second engine build, shared
//! memories that the instance pool of `qyv serve` cannot hold) and gives
//! every thread an instance of its own, outside the memory limit and the
//! time limit as Qyvol applies them. Without the engine feature, such a
//! module fails validation with "threads support is not enabled" or a link
//! error on `thread-spawn`: this module turns either into "it uses
//! threads", with what to build instead.

use std::path::Path;

use wasmparser::{Parser, Payload, TypeRef};

use crate::error::RuntimeError;

/// What in the wasm needs threads, if anything (`imports wasi:thread-spawn`,
/// `has a shared memory`).
pub(crate) fn uses_threads(bytes: &[u8]) -> Vec<&'static str> {
    let mut uses = Vec::new();
    let mut add = |what| {
        if !uses.contains(&what) {
            uses.push(what);
        }
    };
    // Nested modules of a component come as payloads of the same parse.
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { break };
        match payload {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports().flatten() {
                    if import.module == "wasi" && import.name == "thread-spawn" {
                        add("imports wasi:thread-spawn");
                    }
                    if let TypeRef::Memory(m) = import.ty
                        && m.shared
                    {
                        add("has a shared memory");
                    }
                }
            }
            Payload::MemorySection(memories)
                if memories.clone().into_iter().flatten().any(|m| m.shared) =>
            {
                add("has a shared memory");
            }
            _ => {}
        }
    }
    uses
}

/// The error for wasm that the engine refused (`message`): "it uses
/// threads" when it does, else `otherwise`.
pub(crate) fn refusal(
    path: &Path,
    bytes: &[u8],
    otherwise: impl FnOnce() -> RuntimeError,
) -> RuntimeError {
    let uses = uses_threads(bytes);
    if uses.is_empty() {
        return otherwise();
    }
    RuntimeError::NotRunnable {
        path: path.to_path_buf(),
        message: format!(
            "it uses threads (it {}), and threads are not supported (wasi-threads); build it for a target without threads (Rust: wasm32-wasip1 or wasm32-wasip2, not wasm32-wasip1-threads; C: wasm32-wasi, not wasm32-wasi-threads)",
            uses.join(" and ")
        ),
        handler: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_spawn_import_and_shared_memories() {
        let threaded = wat::parse_str(
            r#"(module
                (import "wasi" "thread-spawn" (func (param i32) (result i32)))
                (memory 1 1 shared))"#,
        )
        .unwrap();
        assert_eq!(
            uses_threads(&threaded),
            ["imports wasi:thread-spawn", "has a shared memory"]
        );
        let imported =
            wat::parse_str(r#"(module (import "env" "memory" (memory 1 1 shared)))"#).unwrap();
        assert_eq!(uses_threads(&imported), ["has a shared memory"]);
        let plain = wat::parse_str("(module (memory 1))").unwrap();
        assert!(uses_threads(&plain).is_empty());
    }

    #[test]
    fn the_refusal_says_threads() {
        let threaded = wat::parse_str("(module (memory 1 1 shared))").unwrap();
        let e = refusal(Path::new("t.wasm"), &threaded, || unreachable!());
        assert!(
            e.to_string()
                .starts_with("t.wasm cannot run: it uses threads (it has a shared memory), and threads are not supported"),
            "{e}"
        );
    }
}
