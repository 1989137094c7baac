//! `qyv verify`: every byte of a bundle checked (structure, digest,
//! signature, every SHA-256), then its signer judged by the trust policy.
//! Exit 0 when it may run, 1 when not, 125 when it could not be checked.

use anyhow::Result;
use qyvol_manifest::bundle::{Bundle, BundleErrorKind, Standing};
use serde_json::json;

use crate::bundled::{Policy, manifest_of, signer_text};
use crate::cli::VerifyArgs;

pub fn verify(args: VerifyArgs) -> Result<i32> {
    let policy = Policy::load(&args.trust)?;
    let checked = Bundle::open(&args.bundle).and_then(|b| b.verify_all().map(|()| b));
    let bundle = match checked {
        Ok(b) => b,
        // A file that is not there is a mistake on the command line.
        Err(e) if e.kind() == BundleErrorKind::Io => return Err(e.into()),
        Err(e) => return Ok(report(&args, false, &e.to_string(), None)),
    };
    let m = match manifest_of(&bundle) {
        Ok(m) => m,
        Err(e) => return Ok(report(&args, false, &format!("{e:#}"), None)),
    };
    let standing = policy.policy.standing(bundle.signer());
    let signer = signer_text(&standing);
    if !policy.policy.admits(&standing) {
        let why = policy.refusal(&args.bundle, &standing);
        return Ok(report(&args, false, &why, Some((&bundle, &standing))));
    }
    let summary = format!(
        "{}: {} {}, {} entries and {} precompiled, every SHA-256 matches; {signer}",
        args.bundle.display(),
        m.name,
        m.version.as_deref().unwrap_or("(no version)"),
        bundle.entries().len(),
        bundle.natives().len(),
    );
    Ok(report(&args, true, &summary, Some((&bundle, &standing))))
}

fn report(
    args: &VerifyArgs,
    ok: bool,
    message: &str,
    bundle: Option<(&Bundle, &Standing<'_>)>,
) -> i32 {
    if args.json {
        let signer = bundle.and_then(|(b, s)| {
            b.signer().map(|k| {
                json!({
                    "key_id": k.id(),
                    "trusted": matches!(s, Standing::Trusted(_)),
                })
            })
        });
        let v = json!({
            "file": args.bundle.display().to_string(),
            "ok": ok,
            "message": message,
            "digest": bundle.map(|(b, _)| b.digest_hex()),
            "signer": signer,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if ok {
        println!("ok: {message}");
    } else {
        eprintln!("error: {message}");
    }
    if ok { 0 } else { 1 }
}
