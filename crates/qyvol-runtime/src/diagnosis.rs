//! Why a program cannot start here: what a component exports, and link
//! errors and wrong worlds told in words that say what to do. The run path
//! and the serve path each refuse the other's programs with these; the
//! errors say which kind the program is, and the binary names the command
//! that takes it.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The names a component exports, as the messages below list them.
pub(crate) fn exports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

pub(crate) fn explain_link_error(message: &str) -> String {
    if message.contains("thread-spawn") {
        format!(
            "{message}; it uses threads (wasi-threads), and threads are not supported: build it for a target without threads"
        )
    } else if message.contains("wasi:http/") {
        format!("{message}; HTTP interfaces are given to HTTP apps (type: http), not to commands")
    } else if message.contains(crate::process::MODULE) {
        format!(
            "{message}; it starts other apps (it imports {}), and its manifest does not grant permissions.exec",
            crate::process::MODULE
        )
    } else if message.contains("unknown import")
        || message.contains("matching implementation was not found")
    {
        format!("{message}; Qyvol provides WASI preview 1 and WASI 0.2 interfaces only")
    } else {
        message.to_string()
    }
}

/// Whether a link error is about wasi:http imports.
pub(crate) fn wants_http(message: &str) -> bool {
    !message.contains("thread-spawn") && message.contains("wasi:http/")
}

/// Whether these exports are an HTTP handler's.
pub(crate) fn is_handler(exports: &[String]) -> bool {
    exports
        .iter()
        .any(|e| e.starts_with("wasi:http/incoming-handler"))
}

/// Whether these exports are a command's.
pub(crate) fn is_command(exports: &[String]) -> bool {
    exports.iter().any(|e| e.starts_with("wasi:cli/run"))
}

/// Why a component with these exports is not a command.
pub(crate) fn not_a_command(exports: &[String]) -> String {
    let listed = if exports.is_empty() {
        "nothing".to_string()
    } else {
        exports.join(", ")
    };
    if is_handler(exports) {
        format!("it is an HTTP handler (it exports {listed}), not a command")
    } else {
        format!(
            "it does not export wasi:cli/run (it exports {listed}); a command component exports it"
        )
    }
}

/// Why a component with these exports is not an HTTP handler.
pub(crate) fn not_a_handler(exports: &[String]) -> String {
    let listed = if exports.is_empty() {
        "nothing".to_string()
    } else {
        exports.join(", ")
    };
    if is_command(exports) {
        format!(
            "it is a command (it exports {listed}), not an HTTP handler: run it as a command, or build it for the wasi:http/proxy world"
        )
    } else {
        format!(
            "it does not export wasi:http/incoming-handler (it exports {listed}); HTTP apps are wasi:http/proxy components"
        )
    }
}
