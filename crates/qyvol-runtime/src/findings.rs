//! The half of admission that needs the engine: what the wasm file a
//! manifest names says about starting its app. The manifest's half is
//! [`qyvol_manifest::Manifest::problems`]; both return
//! [`Finding`]s at the manifest's lines, and callers merge the two lists.

use qyvol_manifest::{Finding, Manifest, Purpose, Reason, Severity};

use crate::inspect::{Inspection, check_file};
use crate::kind::WasmKind;

/// What the entrypoint's first bytes say: a core module where
/// `component: true` promises a component. It reads 8 bytes, so it is
/// checked before every start; a file that is missing or is not wasm is
/// left to the error of whatever reads it next.
pub fn kind_findings(m: &Manifest) -> Vec<Finding> {
    if m.component && WasmKind::of_file(&m.entrypoint_path()) == Some(WasmKind::CoreModule) {
        return vec![Finding::error(
            Reason::NotComponent,
            m.error_at(
                "component",
                format!(
                    "component: true, but {} is a core module",
                    m.entrypoint.display()
                ),
            ),
        )];
    }
    Vec::new()
}

/// The entrypoint's findings, and what it is when it could be read.
pub struct EntrypointCheck {
    pub findings: Vec<Finding>,
    pub inspection: Option<Inspection>,
}

/// Everything found about the entrypoint without running it, for
/// `purpose`: its kind ([`kind_findings`]); the whole file validated as the
/// engine would (not WebAssembly, invalid, threaded); when it is served,
/// that it is an HTTP handler; and where it starts here, the imports its
/// grants do not serve, as notes ([`Inspection::unmet`]). This validates
/// every function body: `validate`, `pack` and `deploy` pay for it, a run
/// does not (the engine finds the same when it compiles).
pub fn check_entrypoint(m: &Manifest, purpose: Purpose) -> EntrypointCheck {
    let mut findings = kind_findings(m);
    let inspection = match check_file(&m.entrypoint_path()) {
        Err(e) => {
            findings.push(Finding::error(
                Reason::Wasm,
                m.error_at("entrypoint", e.to_string()),
            ));
            None
        }
        Ok(i) => {
            // Only where it is served now: a node that is deployed one
            // records the revision and reports the failure as the app's.
            if purpose == Purpose::Serve
                && let Some(why) = i.not_a_handler()
            {
                findings.push(Finding::error(
                    Reason::Wasm,
                    m.error_at(
                        "entrypoint",
                        format!("{} is not an HTTP handler: {why}", m.entrypoint.display()),
                    ),
                ));
            }
            if purpose.starts_here() {
                let has_mounts = !m.effective_mounts().is_empty();
                findings.extend(i.unmet(&m.permissions, has_mounts).into_iter().map(|u| {
                    Finding::new(
                        // The process imports are linked only with exec:
                        // without it the app does not start at all.
                        if u.field == "permissions.exec" {
                            Severity::Error
                        } else {
                            Severity::Note
                        },
                        Reason::Unmet,
                        m.error_at(u.field, u.message),
                    )
                }));
            }
            Some(i)
        }
    };
    findings.sort_by_key(|f| f.severity);
    EntrypointCheck {
        findings,
        inspection,
    }
}

impl Inspection {
    /// Why the file cannot handle HTTP requests, if it cannot: only a
    /// component that exports `wasi:http/incoming-handler` can.
    pub fn not_a_handler(&self) -> Option<String> {
        if self.kind == WasmKind::CoreModule {
            return Some(
                "it is a WASI preview 1 core module, and an HTTP handler is a component that exports wasi:http/incoming-handler (Rust wasm32-wasip2, componentize-py, componentize-js, ...)".into(),
            );
        }
        if self
            .exports
            .iter()
            .any(|e| e.name.starts_with("wasi:http/incoming-handler@"))
        {
            return None;
        }
        let listed: Vec<&str> = self.exports.iter().map(|e| e.name.as_str()).collect();
        Some(format!(
            "it does not export wasi:http/incoming-handler (it exports {}); build it for the wasi:http/proxy world",
            if listed.is_empty() {
                "nothing".to_string()
            } else {
                listed.join(", ")
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn app(dir: &Path, wasm: &[u8], extra: &str) -> Manifest {
        std::fs::write(dir.join("app.wasm"), wasm).unwrap();
        let file = dir.join("app.qyv");
        std::fs::write(&file, format!("name: app\nentrypoint: app.wasm\n{extra}")).unwrap();
        Manifest::load(&file).unwrap()
    }

    fn reasons(found: &[Finding]) -> Vec<(Severity, Reason)> {
        found.iter().map(|f| (f.severity, f.reason)).collect()
    }

    #[test]
    fn a_core_module_where_a_component_is_promised() {
        let d = tempfile::tempdir().unwrap();
        let core = wat::parse_str("(module (func (export \"_start\")))").unwrap();
        let m = app(d.path(), &core, "component: true\n");
        let found = kind_findings(&m);
        assert_eq!(reasons(&found), [(Severity::Error, Reason::NotComponent)]);
        assert!(
            found[0]
                .to_string()
                .ends_with(":3:12: component: component: true, but app.wasm is a core module"),
            "{}",
            found[0]
        );
        let component = wat::parse_str("(component)").unwrap();
        assert!(kind_findings(&app(d.path(), &component, "component: true\n")).is_empty());
        assert!(kind_findings(&app(d.path(), &core, "")).is_empty());
    }

    #[test]
    fn invalid_wasm_is_an_error_at_the_entrypoint() {
        let d = tempfile::tempdir().unwrap();
        let bad = wat::parse_str("(module (func i32.add drop))").unwrap();
        let check = check_entrypoint(&app(d.path(), &bad, ""), Purpose::Pack);
        assert_eq!(reasons(&check.findings), [(Severity::Error, Reason::Wasm)]);
        assert!(
            check.findings[0]
                .to_string()
                .contains(":2:13: entrypoint: "),
            "{}",
            check.findings[0]
        );
        assert!(check.inspection.is_none());
    }

    #[test]
    fn an_http_app_that_is_served_must_be_a_handler() {
        let d = tempfile::tempdir().unwrap();
        let core = wat::parse_str("(module (func (export \"_start\")))").unwrap();
        let m = app(d.path(), &core, "type: http\n");
        let check = check_entrypoint(&m, Purpose::Serve);
        assert_eq!(reasons(&check.findings), [(Severity::Error, Reason::Wasm)]);
        assert!(
            check.findings[0]
                .to_string()
                .contains("app.wasm is not an HTTP handler: it is a WASI preview 1 core module"),
            "{}",
            check.findings[0]
        );
        // A node takes it, and says why it fails when it starts it.
        assert!(check_entrypoint(&m, Purpose::Deploy).findings.is_empty());
    }

    #[test]
    fn unmet_imports_are_notes_where_the_app_starts() {
        let d = tempfile::tempdir().unwrap();
        let opens = wat::parse_str(
            r#"(module (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32))) (func (export "_start")))"#,
        )
        .unwrap();
        let m = app(d.path(), &opens, "");
        let run = check_entrypoint(&m, Purpose::Run);
        assert_eq!(reasons(&run.findings), [(Severity::Note, Reason::Unmet)]);
        assert!(
            run.findings[0]
                .to_string()
                .contains("permissions.fs: the module imports wasi_snapshot_preview1::path_open"),
            "{}",
            run.findings[0]
        );
        assert!(check_entrypoint(&m, Purpose::Pack).findings.is_empty());
    }

    #[test]
    fn importing_the_process_interface_without_exec_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let spawns = wat::parse_str(
            r#"(module (import "qyvol_process" "spawn" (func (param i32 i32 i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))"#,
        )
        .unwrap();
        let m = app(d.path(), &spawns, "");
        let run = check_entrypoint(&m, Purpose::Run);
        assert_eq!(reasons(&run.findings), [(Severity::Error, Reason::Unmet)]);
        assert!(
            run.findings[0]
                .to_string()
                .contains("permissions.exec: the module imports qyvol_process::spawn (it starts other apps) but permissions.exec is false"),
            "{}",
            run.findings[0]
        );
        let granted = app(d.path(), &spawns, "permissions:\n  exec: true\n");
        assert!(check_entrypoint(&granted, Purpose::Run).findings.is_empty());
    }
}
