//! `qyv run`: resolve the target, admit the app (`crate::admission`),
//! merge the manifest's grants with the flags', run, and report how the app
//! ended. A bundle is opened and judged by the trust policy first; the
//! runtime verifies its contents.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};
use qyvol_manifest::{Manifest, Purpose};
use qyvol_runtime::{Outcome, Preopen, RunSpec, kind_findings};

use crate::admission::{admit, locate};
use crate::bundled::{judge_bundle, manifest_of};
use crate::cli::{GrantFlags, LimitFlags, MetricsFormat, RunArgs};
use crate::flags::merge_allow_net;
use crate::target::{self, Target};

pub fn run(args: RunArgs) -> Result<i32> {
    // A reference (`oci://…`, `registry/ns/app:tag`) that is not a file
    // here is pulled first (or found in the store) and run from there.
    let (target, pulled_name) = if super::hub::is_reference(&args.command[0]) {
        let (t, name) = super::hub::run_target(&args.command[0])?;
        (t, Some(name))
    } else {
        (target::resolve(&args.target())?, None)
    };
    if (args.trust.given() || args.allow_precompiled) && !matches!(target, Target::Bundle(_)) {
        bail!(
            "--key, --trust and --allow-precompiled apply to .qyvbin bundles; {} is not one",
            args.target().display()
        );
    }
    let (mut spec, manifest) = match target {
        Target::Manifest(path) => {
            let m = Manifest::load(&path)?;
            let mut findings = m.problems(Purpose::Run);
            findings.extend(kind_findings(&m));
            if !admit(&m, Purpose::Run, findings) {
                return Ok(crate::exit::QYV_ERROR);
            }
            (RunSpec::from_manifest(&m), Some(m))
        }
        Target::Bundle(path) => match open_bundle(&path, pulled_name.is_some(), &args)? {
            Ok(opened) => opened,
            Err(refused) => return Ok(refused),
        },
        // Like `wasmtime run`: the guest's first argument is the file name.
        Target::Wasm(path) => {
            let argv0 = pulled_name.clone().unwrap_or_else(|| {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string())
            });
            (RunSpec::bare(&path, argv0), None)
        }
    };
    apply_grants(&mut spec, &args.grants)?;
    apply_limits(&mut spec, &args.limits);
    spec.args.extend(args.app_args().iter().cloned());
    if args.no_cache {
        spec.cache = None;
    }
    let program = spec
        .wasm
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| spec.wasm.display().to_string());

    let report = match qyvol_runtime::run(spec) {
        Ok(r) => r,
        Err(e) => return Err(locate(manifest.as_ref(), e)),
    };
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(message) = report.outcome.report_with(&program, crate::hints::run_flag) {
        eprintln!("qyv: {message}");
    }
    // Said for apps run from a manifest; a bare .wasm keeps `wasmtime
    // run`'s exact stderr.
    if manifest.is_some() && report.coarse_exit && report.outcome == Outcome::Exited(1) {
        eprintln!(
            "qyv: note: {program} is a component without wasi:cli/exit.exit-with-code: it can only report success or failure, so 1 stands for whatever non-zero code it chose"
        );
    }
    match args.metrics {
        Some(MetricsFormat::Text) => eprint!("{}", report.metrics.to_text()),
        Some(MetricsFormat::Json) => eprintln!("{}", report.metrics.to_json()),
        None => {}
    }
    Ok(report.outcome.exit_code())
}

/// Opens a bundle and judges it by the trust policy: refused (with the exit
/// status), or a spec to run, whose contents the runtime verifies.
fn open_bundle(
    path: &Path,
    pulled: bool,
    args: &RunArgs,
) -> Result<std::result::Result<(RunSpec, Option<Manifest>), i32>> {
    let named = args.target();
    let shown: &Path = if pulled { &named } else { path };
    let Some(judged) = judge_bundle(
        path,
        shown,
        &args.trust,
        args.allow_precompiled,
        args.no_cache,
    )?
    else {
        return Ok(Err(crate::exit::QYV_ERROR));
    };
    let m = manifest_of(&judged.bundle)?;
    if !admit(&m, Purpose::RunBundled, m.problems(Purpose::RunBundled)) {
        return Ok(Err(crate::exit::QYV_ERROR));
    }
    Ok(Ok((
        RunSpec::from_bundle(&m, Arc::new(judged.bundle), judged.allow_native),
        Some(m),
    )))
}

fn apply_grants(spec: &mut RunSpec, grants: &GrantFlags) -> Result<()> {
    for flag in &grants.env {
        let Some((name, value)) = flag.resolve() else {
            continue;
        };
        match spec.env.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => spec.env.push((name, value)),
        }
    }
    for dir in &grants.dirs {
        if !dir.host.is_dir() {
            bail!(
                "--dir {}: {} is not a folder",
                dir.host.display(),
                dir.host.display()
            );
        }
        spec.preopens.push(Preopen {
            host: dir.host.clone(),
            guest: dir.guest.clone(),
            writable: !dir.read_only,
        });
    }
    if !grants.allow_net.is_empty() {
        let policy = std::mem::replace(&mut spec.net, qyvol_manifest::NetPolicy::Deny);
        spec.net = merge_allow_net(policy, &grants.allow_net).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

fn apply_limits(spec: &mut RunSpec, limits: &LimitFlags) {
    if let Some(m) = limits.memory {
        spec.memory = Some(m);
    }
    if let Some(t) = limits.timeout {
        spec.timeout = Some(t);
    }
    if let Some(f) = limits.fuel {
        spec.fuel = Some(f);
    }
}
