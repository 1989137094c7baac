//! `qyv ps [APP]`: a node's apps, or one app with its revisions.

use anyhow::Result;
use qyvol_manifest::format_size;
use qyvol_node::api::types::AppStatus;

use crate::cli::PsArgs;
use crate::remote::{ago, connect, print_json, state_line};

pub fn ps(args: PsArgs) -> Result<i32> {
    if super::cluster::current_is_cluster(args.node.node.as_deref()) {
        return super::cluster::ps(crate::cli::ClusterPsArgs {
            app: args.app,
            json: args.json,
            cluster: crate::cli::ClusterFlags {
                cluster: args.node.node,
                creds: None,
            },
        });
    }
    let client = connect(&args.node, None)?;
    if let Some(app) = &args.app {
        let detail = client.app(app)?;
        if args.json {
            print_json(&detail)?;
            return Ok(0);
        }
        let s = &detail.status;
        println!("{}", state_line(s));
        let rows: Vec<(&str, String)> = vec![
            ("type", s.app_type.clone()),
            ("version", s.version.clone().unwrap_or_else(|| "-".into())),
            (
                "revision",
                format!("{} (sha256 {})", s.revision, &s.digest[..12]),
            ),
            ("desired", s.desired.as_str().into()),
            ("state", s.state.as_str().into()),
            ("instances", s.instances.to_string()),
            ("restarts", s.restarts.to_string()),
            ("restart", s.restart.clone().unwrap_or_else(|| "-".into())),
            ("route", s.route.clone().unwrap_or_else(|| "-".into())),
            (
                "exit code",
                s.exit_code.map_or("-".into(), |c| c.to_string()),
            ),
            ("reason", s.reason.clone().unwrap_or_else(|| "-".into())),
            ("started", ago(s.started_at.as_deref())),
            ("ended", ago(s.ended_at.as_deref())),
            ("memory", format_size(s.memory_bytes)),
            ("deployed", ago(Some(&s.deployed_at))),
            ("source", s.source.clone()),
        ];
        for (k, v) in rows {
            println!("  {k:<10} {v}");
        }
        println!("\nREVISION  DIGEST        SIZE       VERSION   SIGNED BY         CREATED");
        for r in &detail.revisions {
            let mark = if r.current { "*" } else { " " };
            let note = r
                .rollback_of
                .map(|n| format!(" (rollback to {n})"))
                .unwrap_or_default();
            println!(
                "{mark}{:<8}  {:<12}  {:<9}  {:<8}  {:<16}  {}{note}",
                r.number,
                &r.digest[..12],
                format_size(r.size),
                r.version.as_deref().unwrap_or("-"),
                r.signer.as_deref().unwrap_or("-"),
                ago(Some(&r.created_at)),
            );
        }
        return Ok(0);
    }
    let apps = client.apps()?;
    if args.json {
        print_json(&apps)?;
        return Ok(0);
    }
    print_table(&apps);
    Ok(0)
}

fn print_table(apps: &[AppStatus]) {
    let width = apps.iter().map(|a| a.name.len()).max().unwrap_or(0).max(4);
    println!(
        "{:<width$}  {:<8} {:>4}  {:<10} {:<10} {:>8}  {:>4}  {:>9}",
        "NAME", "TYPE", "REV", "STATE", "SINCE", "RESTARTS", "EXIT", "MEMORY"
    );
    for a in apps {
        let since = match a.state {
            qyvol_node::api::types::State::Running | qyvol_node::api::types::State::Starting => {
                ago(a.started_at.as_deref())
            }
            _ => ago(a.ended_at.as_deref().or(Some(&a.deployed_at))),
        };
        println!(
            "{:<width$}  {:<8} {:>4}  {:<10} {:<10} {:>8}  {:>4}  {:>9}",
            a.name,
            a.app_type,
            a.revision,
            a.state.as_str(),
            since,
            a.restarts,
            a.exit_code.map_or("-".into(), |c| c.to_string()),
            if a.memory_bytes > 0 {
                format_size(a.memory_bytes)
            } else {
                "-".into()
            },
        );
    }
}
