//! `qyv`: the one binary of Qyvol. A thin layer over the library crates:
//! parse the command line (`cli`), run the command (`commands`), turn the
//! result into an exit status.

mod bundled;
mod cli;
mod commands;
mod flags;
mod target;

use clap::Parser;
use qyvol_runtime::ExitCodes;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Like `docker run`: a usage error is qyv's, not the app's.
            std::process::exit(if e.use_stderr() {
                ExitCodes::QYV_ERROR
            } else {
                0
            });
        }
    };
    let code = match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCodes::QYV_ERROR
        }
    };
    std::process::exit(code);
}
