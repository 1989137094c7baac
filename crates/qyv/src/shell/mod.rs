//! `qyv shell`: every qyv command without the `qyv` prefix, in one process,
//! plus built-ins (`cd`, `ls`, `pwd`, `help`, `history`, `suggest`,
//! `exit`; `context` is `qyv context` with the shell's own state). On a terminal it is a line editor with completion
//! from the CLI's own definition, a prompt that shows the context, a saved
//! history with Ctrl-R search, and an inline hint from a small model learned
//! from the user's own commands. Without one it runs `-c` or standard input
//! as a script.
//!
//! Commands run in this process: a failing app sets the status and the
//! shell goes on. An app stopped by its time limit while blocked in a host
//! call (reading standard input, sleeping) leaves its thread behind until
//! the shell exits; see the runtime's `execute_with_deadline`.

mod apps;
mod builtins;
mod complete;
mod data;
mod interactive;
mod line;
mod model;
mod prompt;
mod script;
mod session;
mod suggest;
mod words;

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};

use crate::cli::ShellArgs;
use session::Session;
use suggest::Suggester;

pub fn shell(args: ShellArgs) -> Result<i32> {
    // Both ends on a terminal: the line editor draws on standard output.
    let interactive = args.commands.is_none()
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    if interactive && args.errexit {
        bail!(
            "-e stops a script at its first failure: use it with -c or with commands on standard input"
        );
    }
    let files = data::DataFiles::locate();
    let (suggester, warnings) = Suggester::load(files.as_ref(), interactive);
    let mut session = Session {
        status: 0,
        previous_dir: None,
        node: None,
        home: qyvol_manifest::env::var("HOME").and_then(|h| h.into_string().ok()),
        files,
        suggester: Arc::new(Mutex::new(suggester)),
        errexit: args.errexit,
        definition: line::definition(),
    };
    session.refresh_node();
    if interactive {
        interactive::run(session, warnings)
    } else {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        script::run(session, args.commands.as_deref())
    }
}
