//! One module per command. Each returns the process exit status, or an
//! error that `main` prints and turns into status 125.

mod cache;
mod inspect;
mod keygen;
mod pack;
mod run;
mod schema;
mod validate;
mod verify;

use anyhow::Result;

use crate::cli::Command;

pub fn dispatch(command: Command) -> Result<i32> {
    match command {
        Command::Run(args) => run::run(args),
        Command::Validate(args) => validate::validate(args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Pack(args) => pack::pack(args),
        Command::Verify(args) => verify::verify(args),
        Command::Keygen(args) => keygen::keygen(args),
        Command::Schema => schema::schema(),
        Command::Cache(cmd) => cache::cache(cmd),
    }
}
