//! `qyv deploy TARGET [NODE]`: pack the app (when TARGET is a manifest),
//! upload the bundle with a progress bar, and wait until the app runs or
//! fails, saying why.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use qyvol_manifest::Purpose;
use qyvol_manifest::bundle::{self, Packer, SecretKey};
use qyvol_node::api::types::State;
use qyvol_runtime::ExitCodes;
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
    // The bundle to send: the given one, or one packed now.
    let packed_dir;
    let bundle = match target::resolve(&args.target)? {
        Target::Bundle(path) => {
            if args.sign.is_some() {
                bail!(
                    "--sign signs the bundle packed from a manifest; {} is a bundle already (sign it with qyv pack --sign)",
                    path.display()
                );
            }
            path
        }
        Target::Manifest(path) => {
            let Some(m) = load_bundleable(&path, Purpose::Deploy)? else {
                return Ok(ExitCodes::QYV_ERROR);
            };
            let key = args.sign.as_deref().map(SecretKey::load).transpose()?;
            packed_dir = tempfile::tempdir()?;
            let out = packed_dir.path().join(bundle::file_name(&m));
            Packer::for_app(&m, &out)?.write_file(&out, key.as_ref())?;
            out
        }
        Target::Wasm(path) => bail!(
            "{}: a node runs apps, not bare wasm files: write a .qyv manifest for it (qyv init makes one)",
            path.display()
        ),
    };
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
    let bar = progress_bar(size, args.json);
    let ticker = bar.clone();
    let deployed = client.deploy(&bundle, move |sent, _| ticker.set_position(sent));
    bar.finish_and_clear();
    let deployed = deployed?;
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

fn progress_bar(total: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "uploading {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
    ) {
        bar.set_style(style);
    }
    bar
}
