//! `qyv`: the one binary of Qyvol. A thin layer over the library crates:
//! parse the command line (`cli`), run the command (`commands`), turn the
//! result into an exit status.

mod bundled;
mod cli;
mod commands;
mod contexts;
mod flags;
mod languages;
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
    std::process::exit(commands::status(commands::dispatch(cli.command)));
}
