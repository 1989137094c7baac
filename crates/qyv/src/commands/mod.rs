//! One module per command. Each returns the process exit status, or an
//! error that `main` prints and turns into status 125.

mod cache;
mod inspect;
mod run;
mod schema;
mod serve;
mod validate;

use anyhow::Result;

use crate::cli::Command;

pub fn dispatch(command: Command) -> Result<i32> {
    match command {
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::serve(args),
        Command::Validate(args) => validate::validate(args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Schema => schema::schema(),
        Command::Cache(cmd) => cache::cache(cmd),
    }
}
