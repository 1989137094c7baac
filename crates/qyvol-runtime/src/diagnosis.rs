//! Why a program cannot start here: what a component exports, and link
//! errors and wrong worlds told in words that say what to do. `qyv run` and
//! `qyv serve` each refuse the other's programs with these.

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
        format!("{message}; HTTP interfaces are provided by `qyv serve`, not `qyv run`")
    } else if message.contains("unknown import")
        || message.contains("matching implementation was not found")
    {
        format!("{message}; qyv provides WASI preview 1 and WASI 0.2 interfaces only")
    } else {
        message.to_string()
    }
}

/// Why a component with these exports is not a command.
pub(crate) fn not_a_command(exports: &[String]) -> String {
    let listed = if exports.is_empty() {
        "nothing".to_string()
    } else {
        exports.join(", ")
    };
    if exports
        .iter()
        .any(|e| e.starts_with("wasi:http/incoming-handler"))
    {
        format!(
            "it is an HTTP handler (it exports {listed}), not a command; HTTP apps are served by `qyv serve`"
        )
    } else {
        format!(
            "it does not export wasi:cli/run (it exports {listed}); `qyv run` runs command components"
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
    if exports.iter().any(|e| e.starts_with("wasi:cli/run")) {
        format!(
            "it is a command (it exports {listed}), not an HTTP handler: run it with `qyv run`, or build it for the wasi:http/proxy world"
        )
    } else {
        format!(
            "it does not export wasi:http/incoming-handler (it exports {listed}); qyv serve serves wasi:http/proxy components"
        )
    }
}
