//! `qyv validate`: whether an app can start for a purpose (`--for run`,
//! `serve`, `pack`, `deploy`; by default what its type is started with:
//! serve for type: http, run for the rest), decided as that command decides
//! it (`crate::admission`): the manifest, its files, the wasm (fully
//! validated, not compiled), and for run and serve the writable mounts;
//! with notes on imports the grants do not serve. Exit status 0 when the
//! command would start it, 1 when it would refuse it.

use std::path::Path;

use anyhow::{Result, bail};
use qyvol_manifest::{AppType, Manifest, Purpose, Severity};
use qyvol_runtime::{Inspection, RunSpec, check_entrypoint, check_file, check_mounts};
use serde_json::json;

use crate::admission;
use crate::cli::ValidateArgs;
use crate::target::{self, Target};

/// What was found, as printed.
#[derive(Default)]
struct Report {
    errors: Vec<String>,
    warnings: Vec<String>,
    notes: Vec<String>,
    /// The file and what it is, when its wasm could be read.
    summary: Option<(String, Inspection)>,
}

pub fn validate(args: ValidateArgs) -> Result<i32> {
    let mut report = Report::default();
    let purpose = match target::resolve(&args.target)? {
        Target::Manifest(path) => match Manifest::load(&path) {
            Err(e) => {
                report.errors.push(e.to_string());
                args.purpose.map(Purpose::from)
            }
            Ok(m) => {
                let purpose = args.purpose.map(Purpose::from).unwrap_or(match m.app_type {
                    AppType::Http => Purpose::Serve,
                    _ => Purpose::Run,
                });
                manifest(&m, purpose, &mut report);
                Some(purpose)
            }
        },
        Target::Bundle(path) => bail!(
            "{}: qyv validate checks manifests and wasm files; check a bundle with qyv verify",
            path.display()
        ),
        Target::Wasm(path) => {
            let purpose = args.purpose.map(Purpose::from).unwrap_or(Purpose::Run);
            if matches!(purpose, Purpose::Pack | Purpose::Deploy) {
                bail!(
                    "{}: a bare .wasm is not packed or deployed: write a .qyv manifest for it (qyv init makes one), and validate that",
                    path.display()
                );
            }
            bare(&path, purpose, &mut report);
            Some(purpose)
        }
    };
    let valid = report.errors.is_empty();
    if args.json {
        let summary = report.summary.as_ref().map(|(_, i)| i);
        let v = json!({
            "valid": valid,
            "purpose": purpose.map(|p| p.as_str()),
            "errors": report.errors,
            "warnings": report.warnings,
            "notes": report.notes,
            "kind": summary.map(|i| i.kind.as_str()),
            "wasi": summary.map(|i| i.wasi.to_string()),
            "world": summary.map(|i| i.world),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (severity, lines) in [
            (Severity::Error, &report.errors),
            (Severity::Warning, &report.warnings),
            (Severity::Note, &report.notes),
        ] {
            for line in lines {
                eprintln!("{severity}: {line}");
            }
        }
        if valid && let Some((name, i)) = &report.summary {
            println!("ok: {name} ({}, WASI {}, {})", i.kind, i.wasi, i.world);
        }
    }
    Ok(if valid { 0 } else { 1 })
}

/// Everything the command for `purpose` would find before it starts the
/// app, and the wasm's notes.
fn manifest(m: &Manifest, purpose: Purpose, report: &mut Report) {
    let mut findings = m.problems(purpose);
    let check = check_entrypoint(m, purpose);
    findings.extend(check.findings);
    // A bundle's files are read-only: only an app run from its folder has
    // writable mounts to check.
    if purpose.starts_here()
        && let Err(e) = check_mounts(&RunSpec::from_manifest(m))
    {
        findings.push(crate::mounts::finding(m, e));
    }
    findings.sort_by_key(|f| f.severity);
    for f in findings {
        let list = match f.severity {
            Severity::Error => &mut report.errors,
            Severity::Warning => &mut report.warnings,
            Severity::Note => &mut report.notes,
        };
        list.push(admission::text(m, purpose, f));
    }
    report.summary = check
        .inspection
        .map(|i| (m.file().display().to_string(), i));
}

/// A bare .wasm: valid, an HTTP handler when it is to be served, and the
/// permissions its imports can use (a bare file runs with none).
fn bare(path: &Path, purpose: Purpose, report: &mut Report) {
    let i = match check_file(path) {
        Ok(i) => i,
        Err(e) => {
            report.errors.push(e.to_string());
            return;
        }
    };
    if purpose == Purpose::Serve
        && let Some(why) = i.not_a_handler()
    {
        report
            .errors
            .push(format!("{} is not an HTTP handler: {why}", path.display()));
    }
    for need in &i.needs {
        report.notes.push(format!(
            "{}: imports {}; a bare .wasm runs with no permissions: grant them with flags or a manifest's {}",
            path.display(),
            need.why.join(", "),
            need.permission
        ));
    }
    report.summary = Some((path.display().to_string(), i));
}
