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

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
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
