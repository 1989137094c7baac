//! `qyv logs [-f] APP`: an app's output as its node kept it; standard
//! error lines go to standard error.

use std::io::Write;

use anyhow::Result;

use crate::cli::LogsArgs;
use crate::remote::connect;

pub fn logs(args: LogsArgs) -> Result<i32> {
    if super::cluster::current_is_cluster(args.node.node.as_deref()) {
        return super::cluster::logs(crate::cli::ClusterLogsArgs {
            app: args.app,
            follow: args.follow,
            tail: args.tail,
            json: args.json,
            cluster: crate::cli::ClusterFlags {
                cluster: args.node.node,
                creds: None,
            },
        });
    }
    let client = connect(&args.node, None)?;
    let mut failed = None;
    client.logs(&args.app, args.tail, args.follow, |line| {
        let written = if args.json {
            serde_json::to_string(&line)
                .map_err(std::io::Error::other)
                .and_then(|text| writeln!(std::io::stdout(), "{text}"))
        } else if line.stream == "stderr" {
            writeln!(std::io::stderr(), "{}", line.text)
        } else {
            writeln!(std::io::stdout(), "{}", line.text).and_then(|_| std::io::stdout().flush())
        };
        // A closed pipe (`| head`) ends the command quietly.
        match written {
            Ok(()) => true,
            Err(e) => {
                failed = (e.kind() != std::io::ErrorKind::BrokenPipe).then_some(e);
                false
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(0)
}
