//! One module per command. Each returns the process exit status, or an
//! error that `main` prints and turns into status 125.

mod apps;
mod build;
mod cache;
pub mod cluster;
mod component;
pub mod context;
mod daemon;
mod deploy;
mod events;
mod hub;
mod init;
mod inspect;
mod install;
mod keygen;
mod logs;
mod pack;
mod ps;
mod run;
mod schema;
mod serve;
mod sync;
mod validate;
mod verify;
mod viz;

use anyhow::Result;
use qyvol_node::api::types::Action;

use crate::cli::Command;

pub fn dispatch(command: Command) -> Result<i32> {
    match command {
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::serve(args),
        Command::Validate(args) => validate::validate(args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Pack(args) => pack::pack(args),
        Command::Verify(args) => verify::verify(args),
        Command::Keygen(args) => keygen::keygen(args),
        Command::Schema => schema::schema(),
        Command::Cache(cmd) => cache::cache(cmd),
        Command::Component(cmd) => component::component(cmd),
        Command::Init(args) => init::init(args),
        Command::Build(args) => build::build(args),
        Command::Shell(args) => crate::shell::shell(args),
        Command::Daemon(args) => daemon::daemon(*args),
        Command::Deploy(args) => deploy::deploy(args),
        Command::Ps(args) => ps::ps(args),
        Command::Logs(args) => logs::logs(args),
        Command::Start(args) => apps::act(args, Action::Start),
        Command::Stop(args) => apps::act(args, Action::Stop),
        Command::Restart(args) => apps::act(args, Action::Restart),
        Command::Rm(args) => apps::rm(args),
        Command::Rollback(args) => apps::rollback(args),
        Command::Events(args) => events::events(args),
        Command::Viz(args) => viz::viz(args),
        Command::Context(args) => context::context(args),
        Command::Sync(args) => sync::sync(args),
        Command::Cluster(cmd) => cluster::cluster(cmd),
        Command::Login(args) => hub::login(args),
        Command::Logout(args) => hub::logout(args),
        Command::Push(args) => hub::push(args),
        Command::Pull(args) => hub::pull(args),
        Command::Search(args) => hub::search(args),
        Command::Install(args) => install::install(args),
        Command::Uninstall(args) => install::uninstall(args),
        Command::List(args) => install::list(args),
    }
}

/// The exit status of a command's result; an error is printed and is qyv's
/// (125).
pub fn status(result: Result<i32>) -> i32 {
    result.unwrap_or_else(|e| {
        eprintln!("error: {:#}", crate::hints::advise(e));
        crate::exit::QYV_ERROR
    })
}
