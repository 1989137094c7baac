//! `qyv cluster ps [APP]`, `logs [-f] APP`, `events`: what the cluster
//! runs, what its replicas wrote, what happened.

use anyhow::Result;
use futures_util::StreamExt;
use qyvol_cluster::AppView;
use qyvol_cluster::model::LogLine;
use qyvol_manifest::format_size;

use super::{block_on, open};
use crate::cli::{ClusterEventsArgs, ClusterLogsArgs, ClusterPsArgs};
use crate::remote::print_json;

/// How long ago a time in milliseconds was.
fn ago(ms: Option<i64>) -> String {
    ms.map(|t| format!("{} ago", qyvol_node::age(t, qyvol_node::now_ms())))
        .unwrap_or_else(|| "-".into())
}

pub fn ps(args: ClusterPsArgs) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        let views = state.app_views(args.app.as_deref()).await?;
        if args.json {
            match &args.app {
                Some(_) => print_json(&views[0])?,
                None => print_json(&views)?,
            }
            return Ok(0);
        }
        match &args.app {
            Some(_) => detail(&views[0]),
            None => table(&views),
        }
        Ok(0)
    })
}

/// One word for an app: running, stopped, pending, degraded, failed.
fn app_state(v: &AppView) -> &'static str {
    let wanted = v.spec.replicas as usize;
    if !v.spec.running {
        "stopped"
    } else if !v.placed_current() {
        "pending"
    } else if v.running() >= wanted {
        "running"
    } else if v.replicas_view.iter().all(|r| r.state == "failed") && !v.replicas_view.is_empty() {
        "failed"
    } else if v.running() == 0 {
        "starting"
    } else {
        "degraded"
    }
}

fn table(views: &[AppView]) {
    let width = views
        .iter()
        .map(|v| v.spec.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    println!(
        "{:<width$}  {:>4}  {:<8}  {:<8}  {:<9}  NODES",
        "NAME", "REV", "REPLICAS", "STRATEGY", "STATE"
    );
    for v in views {
        let nodes = v
            .placement
            .as_ref()
            .map(|p| p.nodes.join(","))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<width$}  {:>4}  {:<8}  {:<8}  {:<9}  {nodes}",
            v.spec.name,
            v.spec.revision,
            format!("{}/{}", v.running(), v.spec.replicas),
            v.spec.strategy.as_str(),
            app_state(v),
        );
        if let Some(why) = v.placement.as_ref().and_then(|p| p.reason.as_ref()) {
            println!("{:<width$}  pending: {why}", "");
        }
    }
}

fn detail(v: &AppView) {
    let s = &v.spec;
    let current = s.current();
    println!(
        "{} revision {} (sha256 {}): {}, {}/{} replicas running, {}",
        s.name,
        s.revision,
        current.map_or("-", |r| &r.digest[..12]),
        app_state(v),
        v.running(),
        s.replicas,
        s.strategy
    );
    if !s.constraints.is_empty() {
        let list: Vec<String> = s.constraints.iter().map(ToString::to_string).collect();
        println!("  constraints  {}", list.join(", "));
    }
    if let Some(r) = current {
        println!("  type         {}", r.app_type);
        println!(
            "  memory       {} reserved per replica",
            if r.memory > 0 {
                format_size(r.memory)
            } else {
                "nothing".into()
            }
        );
    }
    if let Some(why) = v.placement.as_ref().and_then(|p| p.reason.as_ref()) {
        println!("  pending      {why}");
    }
    println!("\nNODE            STATE       SINCE        REASON");
    for r in &v.replicas_view {
        let state = if r.node_lost {
            format!("{} (node lost)", r.state)
        } else {
            r.state.clone()
        };
        println!(
            "{:<14}  {:<10}  {:<11}  {}",
            r.node,
            state,
            ago(r.started_at),
            r.reason.as_deref().unwrap_or("-")
        );
    }
    println!("\nREVISION  DIGEST        SIZE       VERSION   SIGNED BY         CREATED");
    for r in s.revisions.iter().rev() {
        let mark = if r.number == s.revision { "*" } else { " " };
        let mut note = r
            .rollback_of
            .map(|n| format!(" (rollback to {n})"))
            .unwrap_or_default();
        if let Some(source) = &r.source {
            note.push_str(&format!(" (pulled from {source})"));
        }
        println!(
            "{mark}{:<8}  {:<12}  {:<9}  {:<8}  {:<16}  {}{note}",
            r.number,
            &r.digest[..12.min(r.digest.len())],
            format_size(r.size),
            r.version.as_deref().unwrap_or("-"),
            r.signer.as_deref().unwrap_or("-"),
            ago(Some(r.created_at)),
        );
    }
}

fn print_line(line: &LogLine, json: bool) {
    if json {
        println!("{}", serde_json::to_string(line).unwrap_or_default());
    } else {
        println!("[{}] {}", line.node, line.text);
    }
}

pub fn logs(args: ClusterLogsArgs) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        // Following starts before the last lines are asked for: a line
        // written in between comes once, live.
        let mut live = if args.follow {
            Some(state.follow_logs(&args.app).await?)
        } else {
            None
        };
        let lines = state.logs(&args.app, args.tail).await?;
        for line in &lines {
            print_line(line, args.json);
        }
        if let Some(live) = live.as_mut() {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            while let Some(line) = live.next().await {
                if lines.contains(&line) {
                    continue;
                }
                print_line(&line, args.json);
                let _ = std::io::stdout().flush();
            }
        }
        Ok(0)
    })
}

pub fn events(args: ClusterEventsArgs) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        if let Some(app) = &args.app {
            state.app(app).await?;
        }
        let events = state.events(args.app.as_deref(), args.tail).await?;
        if args.json {
            print_json(&events)?;
            return Ok(0);
        }
        for e in &events {
            let subject = e.app.as_deref().or(e.node.as_deref()).unwrap_or("-");
            println!(
                "{}  {:<16} {:<14} {}",
                qyvol_node::rfc3339(e.time),
                e.kind,
                subject,
                e.message
            );
        }
        Ok(0)
    })
}
