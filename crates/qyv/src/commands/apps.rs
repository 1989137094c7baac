//! `qyv start|stop|restart|rm|rollback APP`: change an app on its node
//! and say where it is then.

use anyhow::Result;
use qyvol_node::api::types::Action;

use crate::cli::{AppArgs, RollbackArgs};
use crate::remote::{connect, print_json, state_line};

/// `start`, `stop` or `restart`.
pub fn act(args: AppArgs, action: Action) -> Result<i32> {
    let client = connect(&args.node, None)?;
    let status = client.action(&args.app, action)?;
    if args.json {
        print_json(&status)?;
    } else {
        println!("{}", state_line(&status));
    }
    Ok(0)
}

pub fn rm(args: AppArgs) -> Result<i32> {
    let client = connect(&args.node, None)?;
    client.remove(&args.app)?;
    if args.json {
        print_json(&serde_json::json!({"app": args.app, "removed": true}))?;
    } else {
        println!("{} removed from {}", args.app, client.url());
    }
    Ok(0)
}

pub fn rollback(args: RollbackArgs) -> Result<i32> {
    let client = connect(&args.node, None)?;
    let status = client.rollback(&args.app, args.to)?;
    if args.json {
        print_json(&status)?;
    } else {
        println!(
            "{} rolled back: revision {} (sha256 {})",
            status.name,
            status.revision,
            &status.digest[..12]
        );
        println!("{}", state_line(&status));
    }
    Ok(0)
}
