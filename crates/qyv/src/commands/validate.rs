//! `qyv validate`: the manifest, its files, the wasm (fully validated, not
//! compiled) and whether the permissions granted cover what it imports.
//! Exit status 0 when valid, 1 when not.

use anyhow::{Result, bail};
use qyvol_manifest::Manifest;
use qyvol_runtime::check_file;
use serde_json::json;

use crate::cli::ValidateArgs;
use crate::target::{self, Target};

pub fn validate(args: ValidateArgs) -> Result<i32> {
    let mut errors: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut summary = None;
    match target::resolve(&args.target)? {
        Target::Manifest(path) => match Manifest::load(&path) {
            Err(e) => errors.push(e.to_string()),
            Ok(m) => {
                notes.extend(m.unsupported().iter().map(|e| e.to_string()));
                if let Err(e) = super::build::check_component_flag(&m) {
                    errors.push(e.to_string());
                }
                let spec = qyvol_runtime::RunSpec::from_manifest(&m);
                if let Err(e) = qyvol_runtime::check_mounts(&spec) {
                    errors.push(format!("{:#}", crate::mounts::refused(Some(&m), e)));
                }
                match check_file(&m.entrypoint_path()) {
                    Err(e) => errors.push(m.error_at("entrypoint", e.to_string()).to_string()),
                    Ok(i) => {
                        let has_mounts = !m.effective_mounts().is_empty();
                        for u in i.unmet(&m.permissions, has_mounts) {
                            notes.push(m.error_at(u.field, u.message).to_string());
                        }
                        summary = Some((path.display().to_string(), i));
                    }
                }
            }
        },
        Target::Bundle(path) => bail!(
            "{}: qyv validate checks manifests and wasm files; check a bundle with qyv verify",
            path.display()
        ),
        Target::Wasm(path) => match check_file(&path) {
            Err(e) => errors.push(e.to_string()),
            Ok(i) => {
                for need in &i.needs {
                    notes.push(format!(
                        "{}: imports {}; a bare .wasm runs with no permissions: grant them with flags or a manifest's {}",
                        path.display(),
                        need.why.join(", "),
                        need.permission
                    ));
                }
                summary = Some((path.display().to_string(), i));
            }
        },
    }

    if args.json {
        let v = json!({
            "valid": errors.is_empty(),
            "errors": errors,
            "notes": notes,
            "kind": summary.as_ref().map(|(_, i)| i.kind.as_str()),
            "wasi": summary.as_ref().map(|(_, i)| i.wasi.to_string()),
            "world": summary.as_ref().map(|(_, i)| i.world),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for e in &errors {
            eprintln!("error: {e}");
        }
        for n in &notes {
            eprintln!("note: {n}");
        }
        if errors.is_empty()
            && let Some((name, i)) = &summary
        {
            println!("ok: {name} ({}, WASI {}, {})", i.kind, i.wasi, i.world);
        }
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}
