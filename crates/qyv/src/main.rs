//! `qyv`: the one binary of Qyvol. A thin layer over the library crates:
//! parse the command line (`cli`), run the command (`commands`), turn the
//! result into an exit status.

mod admission;
mod bundled;
mod cli;
mod commands;
mod contexts;
mod exit;
mod flags;
mod hints;
mod languages;
mod logging;
mod mounts;
mod remote;
mod shell;
mod target;

use clap::{Args, FromArgMatches, Parser};

/// `qyv run …` read against the run command alone when it parses: the
/// whole command tree (every command's flags, the cluster's and the hub's
/// included) costs a cold start about 80 page faults it does not need.
/// Anything else, help and errors included, goes through the whole tree,
/// so what a user reads is the same either way.
fn run_alone() -> Option<cli::Cli> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1)? != "run" {
        return None;
    }
    let matches = clap::Command::new("qyv")
        .subcommand(cli::RunArgs::augment_args(clap::Command::new("run")))
        .try_get_matches_from(args)
        .ok()?;
    let run = cli::RunArgs::from_arg_matches(matches.subcommand_matches("run")?).ok()?;
    Some(cli::Cli {
        command: cli::Command::Run(run),
    })
}

fn main() {
    let cli = match run_alone().map(Ok).unwrap_or_else(cli::Cli::try_parse) {
        Ok(cli) => cli,
        Err(e) => std::process::exit(cli::usage_status(&e)),
    };
    // Only the commands whose libraries emit events install a subscriber:
    // `qyv run`'s cold start pays nothing for logging. The daemon is a
    // service: a RUST_LOG it cannot read is refused, as a bad flag is.
    let logs = match &cli.command {
        cli::Command::Daemon(args) => Some(("qyv daemon", args.log_format)),
        cli::Command::Serve(_) => Some(("qyv serve", logging::LogFormat::Human)),
        cli::Command::Shell(_) | cli::Command::Cluster(_) => {
            Some(("qyv", logging::LogFormat::Human))
        }
        _ => None,
    };
    if let Some((program, format)) = logs {
        let filter = match logging::filter() {
            Ok(filter) => filter,
            Err(e) if program == "qyv daemon" => std::process::exit(commands::status(Err(e))),
            Err(_) => tracing_subscriber::EnvFilter::new(logging::DEFAULT_FILTER),
        };
        logging::init(program, format, filter);
    }
    std::process::exit(commands::status(commands::dispatch(cli.command)));
}
