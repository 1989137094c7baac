//! Running shell lines: split into commands, parse each with the shell's
//! clap definition, run it in this process (qyv commands through the same
//! dispatch as the command line, built-ins here), keep the context the
//! prompt shows, and tell the suggestion model what ran.

use std::io::Write;
use std::path::PathBuf;

use reedline::History;

use super::builtins;
use super::data::DataFiles;
use super::line::{self, Builtin, LineCommand};
use super::suggest::{self, Shared};
use super::words::{self, SplitError};
use crate::cli::Command;
use crate::commands;

/// What the shell does after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Exit(i32),
}

pub struct Session {
    /// The last command's exit status.
    pub status: i32,
    /// For `cd -`.
    pub previous_dir: Option<PathBuf>,
    /// The current context (`qyv context use`); `None`: this machine.
    pub node: Option<String>,
    pub home: Option<String>,
    pub files: Option<DataFiles>,
    pub suggester: Shared,
    /// Stop at the first failing command (`-e`).
    pub errexit: bool,
    /// `line::definition()`, built once.
    pub definition: clap::Command,
}

/// A command ready to run: its words (with `~` expanded, `qyv` dropped) and
/// its text as typed, which the model learns.
struct Prepared {
    words: Vec<String>,
    source: String,
}

fn prepare(line: &str, cmd: &words::Command, home: Option<&str>) -> Option<Prepared> {
    let typed = words::without_qyv(&cmd.words);
    if typed.is_empty() {
        return None;
    }
    let source = words::Command {
        words: typed.to_vec(),
    }
    .source(line);
    Some(Prepared {
        words: typed.iter().map(|w| w.expanded(home)).collect(),
        source,
    })
}

/// The commands of a history line that the shell would run, as typed:
/// what the model may learn from it.
pub fn learnable(definition: &mut clap::Command, line: &str) -> Vec<String> {
    let Ok(commands) = words::split(line) else {
        return Vec::new();
    };
    commands
        .iter()
        .filter_map(|c| prepare(line, c, None))
        .filter(|p| {
            matches!(
                line::parse(definition, &p.words),
                Ok(c) if !matches!(c, LineCommand::Builtin(Builtin::Exit { .. }))
            )
        })
        .map(|p| p.source)
        .collect()
}

impl Session {
    /// Runs every command of `line`. A line that does not split is not run
    /// at all; the caller says where the problem is.
    /// `learn`: the model may learn these commands (when it saves at all).
    pub fn run_line(
        &mut self,
        line: &str,
        history: &dyn History,
        learn: bool,
    ) -> Result<Flow, SplitError> {
        let commands = words::split(line)?;
        for cmd in &commands {
            let Some(prepared) = prepare(line, cmd, self.home.as_deref()) else {
                continue;
            };
            if let Flow::Exit(code) = self.run(prepared, history, learn) {
                return Ok(Flow::Exit(code));
            }
            if self.errexit && self.status != 0 {
                return Ok(Flow::Exit(self.status));
            }
        }
        Ok(Flow::Continue)
    }

    fn run(&mut self, prepared: Prepared, history: &dyn History, learn: bool) -> Flow {
        let parsed = line::parse(&mut self.definition, &prepared.words);
        let status = match parsed {
            Err(e) => crate::cli::usage_status(&e),
            Ok(LineCommand::Builtin(Builtin::Exit { status })) => {
                return Flow::Exit(status.unwrap_or(self.status));
            }
            Ok(command) => {
                let status = match command {
                    LineCommand::Qyv(Command::Shell(_)) => {
                        eprintln!("error: this is the qyv shell already; `exit` leaves it");
                        crate::exit::QYV_ERROR
                    }
                    // `context` alone: the shell has more to say.
                    LineCommand::Qyv(Command::Context(args)) if args.command.is_none() => {
                        let mut out = std::io::stdout().lock();
                        commands::status(builtins::context(self, history, &mut out))
                    }
                    LineCommand::Qyv(c) => commands::status(commands::dispatch(c)),
                    LineCommand::Builtin(b) => {
                        let mut out = std::io::stdout().lock();
                        commands::status(builtins::run(self, b, history, &mut out))
                    }
                };
                // A command qyv could not carry out (a typo in a path, a bad
                // manifest) is not worth suggesting; an app's own failure is.
                let learn = learn && status != crate::exit::QYV_ERROR;
                suggest::lock(&self.suggester).ran(&prepared.source, learn);
                status
            }
        };
        let _ = std::io::stdout().flush();
        self.status = status;
        self.refresh_node();
        Flow::Continue
    }

    /// Reads the current context again (a command may have changed it).
    pub fn refresh_node(&mut self) {
        self.node = crate::contexts::Contexts::load()
            .ok()
            .and_then(|c| c.current().map(|(name, _)| name.to_string()));
    }
}

/// Where a line came from, to say where a problem in it is.
#[derive(Clone, Copy, Debug)]
pub enum Origin {
    /// Typed at the prompt: the column is enough.
    Typed,
    /// `-c`: lines and columns in that text.
    Commands,
    /// Line `n` (from 1) of a script on standard input.
    Script(usize),
}

/// The message for a line that does not split, saying where.
pub fn split_error(origin: Origin, text: &str, e: &SplitError) -> String {
    let (line, column) = e.position(text);
    match origin {
        Origin::Typed => format!("column {column}: {e}"),
        Origin::Commands => format!("-c:{line}:{column}: {e}"),
        Origin::Script(n) => format!("<stdin>:{}:{column}: {e}", n + line - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_commands_as_typed_without_qyv() {
        let def = &mut line::definition();
        assert_eq!(
            learnable(def, "qyv run  'my app.qyv' --  x;pwd"),
            ["run 'my app.qyv' -- x", "pwd"]
        );
        assert!(learnable(def, "exit 3").is_empty());
        assert!(learnable(def, "run --help").is_empty());
        assert!(learnable(def, "nonsense").is_empty());
        assert!(learnable(def, "qyv").is_empty());
    }

    #[test]
    fn split_errors_name_the_place() {
        let e = words::split("ls\nrun 'x").unwrap_err();
        let msg = split_error(Origin::Commands, "ls\nrun 'x", &e);
        assert!(msg.starts_with("-c:2:5: the quote '"), "{msg}");
        let e = words::split("run a > b").unwrap_err();
        let msg = split_error(Origin::Typed, "run a > b", &e);
        assert!(msg.starts_with("column 7: `>`"), "{msg}");
        let msg = split_error(Origin::Script(4), "run a > b", &e);
        assert!(msg.starts_with("<stdin>:4:7: `>`"), "{msg}");
    }
}
