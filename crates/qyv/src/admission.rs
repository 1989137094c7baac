//! Whether an app can start, as every command says it. The findings come
//! from the libraries: the manifest's (`Manifest::problems`) and its
//! wasm's (`qyvol_runtime::kind_findings`, `check_entrypoint`); this module
//! adds the hints only the binary may give (which `qyv` command to use
//! instead), prints each finding on a line opened by its severity, and
//! answers whether the app may start. Errors the runtime meets while
//! starting the app are placed here too, at the manifest line they are
//! about.

use std::path::Path;

use anyhow::Result;
use qyvol_manifest::{Finding, Manifest, Purpose, Reason};
use qyvol_runtime::{RuntimeError, check_entrypoint};

/// Prints what stops the app from starting for `purpose`, or else what the
/// user should know (warnings, notes); whether it may start.
pub fn admit(m: &Manifest, purpose: Purpose, mut findings: Vec<Finding>) -> bool {
    findings.sort_by_key(|f| f.severity);
    let refused = Finding::any_error(&findings);
    for f in findings {
        // An app that does not start has no use for advice on its run.
        if refused && !f.is_error() {
            continue;
        }
        eprintln!("{}", line(m, purpose, f));
    }
    !refused
}

/// A finding as `qyv` prints it: `error: FILE:LINE:COL: FIELD: message;
/// hint`.
pub fn line(m: &Manifest, purpose: Purpose, f: Finding) -> String {
    let f = with_hint(m, purpose, f);
    format!("{}: {f}", f.severity)
}

/// The same without the severity, for `--json` lists.
pub fn text(m: &Manifest, purpose: Purpose, f: Finding) -> String {
    with_hint(m, purpose, f).to_string()
}

/// Adds what only the binary may say: the `qyv` command to use instead.
fn with_hint(m: &Manifest, purpose: Purpose, mut f: Finding) -> Finding {
    let file = m.file().display().to_string();
    // A bundle's manifest is named BUNDLE!MANIFEST; commands take the bundle.
    let path = match purpose {
        Purpose::RunBundled | Purpose::ServeBundled => file
            .rsplit_once('!')
            .map_or(file.as_str(), |(bundle, _)| bundle),
        _ => file.as_str(),
    };
    match f.reason {
        Reason::HttpApp => {
            f.detail.message = format!("{}: serve it with `qyv serve {path}`", f.detail.message);
        }
        Reason::NotHttp => {
            f.detail.message = format!(
                "qyv serve serves type: http apps, and this one is type: {}",
                m.app_type
            );
            f.detail.hint = Some(format!(
                "run it with `qyv run {path}`, or set type: http if it is a wasi:http handler"
            ));
        }
        Reason::ClusterOnly => {
            f.detail.hint = Some(match purpose {
                Purpose::Serve => "`qyv serve` serves one copy".into(),
                _ => "`qyv run` runs one instance".into(),
            });
        }
        Reason::NodeOnly => {
            f.detail.hint = Some(match purpose {
                Purpose::Serve => "`qyv serve` neither caps nor shares the CPU".into(),
                _ => "`qyv run` neither caps nor shares the CPU".into(),
            });
        }
        Reason::BundleWrites => {
            f.detail.hint = Some(
                "give the app a writable folder when it runs (qyv run --dir HOST::GUEST)".into(),
            );
        }
        Reason::NotComponent => {
            f.detail.hint = Some("run `qyv build` to adapt it (or `qyv component new`)".into());
        }
        _ => {}
    }
    f
}

/// The manifest at `path` when its app can be packed for `purpose` (pack,
/// deploy): the manifest's findings and its wasm's, fully validated;
/// otherwise `None`, after printing what stops it.
pub fn load_bundleable(path: &Path, purpose: Purpose) -> Result<Option<Manifest>> {
    let m = Manifest::load(path)?;
    let mut findings = m.problems(purpose);
    findings.extend(check_entrypoint(&m, purpose).findings);
    Ok(admit(&m, purpose, findings).then_some(m))
}

/// Errors about the wasm file point at the manifest line that names it.
pub fn locate(manifest: Option<&Manifest>, e: RuntimeError) -> anyhow::Error {
    if matches!(e, RuntimeError::WritesItself(_)) {
        return crate::mounts::refused(manifest, e);
    }
    let Some(m) = manifest else {
        return e.into();
    };
    let field = match &e {
        RuntimeError::Read { .. }
        | RuntimeError::NotWasm { .. }
        | RuntimeError::InvalidWasm { .. }
        | RuntimeError::NotRunnable { .. }
        | RuntimeError::Link { .. } => "entrypoint",
        RuntimeError::Preopen { .. }
        | RuntimeError::MemFs(_)
        | RuntimeError::MemFsBesideFolders => "fs",
        RuntimeError::NetRule { .. } => "permissions.net",
        RuntimeError::Engine(_) | RuntimeError::Bundle(_) | RuntimeError::WritesItself(_) => {
            return e.into();
        }
    };
    m.error_at(field, crate::hints::runtime_text(&e)).into()
}
