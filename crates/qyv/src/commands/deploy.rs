//! `qyv deploy TARGET [NODE]`: pack the app (when TARGET is a manifest),
//! upload the bundle with a progress bar, and wait until the app runs or
//! fails, saying why.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use qyvol_manifest::Purpose;
use qyvol_manifest::bundle::{self, Packer, SecretKey};
use qyvol_node::api::types::State;
use serde::Serialize;

use crate::admission::load_bundleable;
use crate::cli::DeployArgs;
use crate::remote::{self, connect, print_json};
use crate::target::{self, Target};

#[derive(Serialize)]
struct Report {
    deployed: qyvol_node::api::types::Deployed,
    status: Option<qyvol_node::api::types::AppStatus>,
}

pub fn deploy(args: DeployArgs) -> Result<i32> {
    let client = connect(&args.node, args.url.as_deref())?;
    let deployed = if super::hub::is_reference(&args.target.to_string_lossy()) {
        if args.sign.is_some() {
            bail!(
                "--sign signs a bundle packed from a manifest; {} names an app in a registry, signed (or not) when it was pushed",
                args.target.display()
            );
        }
        // The node pulls by digest, with its own credentials: the tag is
        // resolved here, so that the node runs what the user named now.
        let pinned = super::hub::pin(&args.target.to_string_lossy())?;
        if !args.json {
            println!("{} is {pinned}; the node pulls it", args.target.display());
        }
        client.deploy_reference(&pinned)?
    } else {
        match upload(&client, &args)? {
            Some(d) => d,
            None => return Ok(crate::exit::QYV_ERROR),
        }
    };
    finish(&client, &args, deployed)
}

/// Packs (when needed) and uploads the bundle; `None` after the manifest's
/// problems are printed.
fn upload(
    client: &qyvol_node::client::Client,
    args: &DeployArgs,
) -> Result<Option<qyvol_node::api::types::Deployed>> {
    let Some(sendable) = bundle_to_send(&args.target, args.sign.as_deref())? else {
        return Ok(None);
    };
    let bundle = sendable.path.clone();
    // Ask first: a wrong token or a bundle over the node's limit is said
    // before megabytes are sent.
    let info = client.node()?;
    let size = std::fs::metadata(&bundle)?.len();
    if size > info.max_upload {
        bail!(
            "{} is {}, more than {} accepts ({}); make the app smaller, or start the node with a larger --max-upload",
            bundle.display(),
            qyvol_manifest::format_size(size),
            client.url(),
            qyvol_manifest::format_size(info.max_upload)
        );
    }
    let bar = progress_bar(size, args.json, "uploading");
    let ticker = bar.clone();
    let deployed = client.deploy(&bundle, move |sent, _| ticker.set_position(sent));
    bar.finish_and_clear();
    Ok(Some(deployed?))
}

/// Says what was deployed and waits (unless --no-wait) until it runs.
fn finish(
    client: &qyvol_node::client::Client,
    args: &DeployArgs,
    deployed: qyvol_node::api::types::Deployed,
) -> Result<i32> {
    if !args.json {
        let what = if deployed.unchanged {
            "unchanged, already"
        } else {
            "deployed as"
        };
        println!(
            "{} {what} revision {} on {} (sha256 {})",
            deployed.app,
            deployed.revision,
            client.url(),
            &deployed.digest[..12]
        );
    }
    if args.no_wait {
        if args.json {
            print_json(&Report {
                deployed,
                status: None,
            })?;
        }
        return Ok(0);
    }
    let status = client.wait(&deployed.app, deployed.revision, args.timeout)?;
    let ok = matches!(status.state, State::Running | State::Completed);
    if args.json {
        print_json(&Report {
            deployed,
            status: Some(status.clone()),
        })?;
    } else if status.state.settled() {
        println!("{}", remote::state_line(&status));
    } else {
        println!(
            "{} is still {} after {}; `qyv ps {}` shows how it goes",
            status.name,
            status.state.as_str(),
            qyvol_manifest::format_duration(args.timeout),
            status.name
        );
    }
    Ok(if ok { 0 } else { 1 })
}

/// A bundle ready to send, and the folder it was packed in (if it was).
pub(crate) struct Sendable {
    pub path: std::path::PathBuf,
    _packed: Option<tempfile::TempDir>,
}

/// The bundle `qyv deploy` and `qyv cluster deploy` send: TARGET when it
/// is one, else the app packed now (signed with `sign`); `None` after the
/// manifest's problems are printed.
pub(crate) fn bundle_to_send(
    target: &std::path::Path,
    sign: Option<&std::path::Path>,
) -> Result<Option<Sendable>> {
    match target::resolve(target)? {
        Target::Bundle(path) => {
            if sign.is_some() {
                bail!(
                    "--sign signs the bundle packed from a manifest; {} is a bundle already (sign it with qyv pack --sign)",
                    path.display()
                );
            }
            Ok(Some(Sendable {
                path,
                _packed: None,
            }))
        }
        Target::Manifest(path) => {
            let Some(m) = load_bundleable(&path, Purpose::Deploy)? else {
                return Ok(None);
            };
            let key = sign.map(SecretKey::load).transpose()?;
            let dir = tempfile::tempdir()?;
            let out = dir.path().join(bundle::file_name(&m));
            Packer::for_app(&m, &out)?.write_file(&out, key.as_ref())?;
            Ok(Some(Sendable {
                path: out,
                _packed: Some(dir),
            }))
        }
        Target::Wasm(path) => bail!(
            "{}: a node runs apps, not bare wasm files: write a .qyv manifest for it (qyv init makes one)",
            path.display()
        ),
    }
}

/// A bar on stderr when it is a terminal: `LABEL [bar] sent/total rate`.
pub(crate) fn progress_bar(total: u64, quiet: bool, label: &str) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{label} {{bar:30}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}}"
    )) {
        bar.set_style(style);
    }
    bar
}
