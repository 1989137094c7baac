//! What a shell command may be: every `qyv` command, from the CLI's own clap
//! definition (so a command merged into the CLI is a shell command at once,
//! with its completion), plus the shell's built-ins. Parsing, completion and
//! `help` all read this one definition.

use clap::{CommandFactory, FromArgMatches, Subcommand};

use crate::cli::{Cli, Command};

/// A shell command: one of qyv's, or a built-in.
#[derive(Debug, Subcommand)]
pub enum LineCommand {
    #[command(flatten)]
    Qyv(Command),
    #[command(flatten)]
    Builtin(Builtin),
}

/// Commands of the shell itself.
#[derive(Debug, Subcommand)]
pub enum Builtin {
    /// Change the working folder (none: the home folder; `-`: the previous one)
    Cd {
        #[arg(value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
        dir: Option<String>,
    },
    /// List a folder: apps (.qyv), wasm programs, bundles (.qyvbin) and folders
    Ls {
        #[arg(value_name = "PATH")]
        paths: Vec<std::path::PathBuf>,
    },
    /// Print the working folder
    Pwd,
    /// List the commands and keys, or show one command's help
    Help {
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Show the commands typed before, numbered, oldest first
    History {
        /// Only the last N
        #[arg(value_name = "N")]
        count: Option<usize>,
    },
    /// Show the likely next commands, with the scores the shell's model gives them
    Suggest {
        /// Only commands that start with these words
        #[arg(value_name = "PREFIX", trailing_var_arg = true)]
        prefix: Vec<String>,
        /// How many to show
        #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 5)]
        count: usize,
    },
    /// Leave the shell, with this status (default: the last command's)
    Exit {
        #[arg(value_name = "STATUS", allow_negative_numbers = true)]
        status: Option<i32>,
    },
}

/// The one definition that parsing, completion and `help` use: the command
/// line's own (`Cli`), with the built-ins added and `shell` hidden (there is
/// no shell within the shell); built, so that `--help` and `--version` are
/// there. Lines read as `qyv WORDS`, so usage and help read as on the
/// command line (`qyv run …`).
pub fn definition() -> clap::Command {
    let mut cmd =
        Builtin::augment_subcommands(Cli::command()).mut_subcommand("shell", |s| s.hide(true));
    cmd.build();
    cmd
}

/// Parses a command's words (without `qyv`) with `definition` (which clap
/// needs mutable, not to copy it for each line).
pub fn parse(definition: &mut clap::Command, words: &[String]) -> Result<LineCommand, clap::Error> {
    let argv = std::iter::once("qyv").chain(words.iter().map(String::as_str));
    let matches = definition.try_get_matches_from_mut(argv)?;
    LineCommand::from_arg_matches(&matches)
}

pub fn is_builtin(name: &str) -> bool {
    Builtin::has_subcommand(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<LineCommand, clap::Error> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        super::parse(&mut definition(), &words)
    }

    #[test]
    fn definition_is_consistent() {
        definition().debug_assert();
    }

    #[test]
    fn qyv_commands_parse_as_in_the_cli() {
        let Ok(LineCommand::Qyv(Command::Run(run))) =
            parse(&["run", "--env", "A=1", "app.qyv", "--", "x"])
        else {
            panic!()
        };
        assert_eq!(run.app_args(), ["x"]);
        assert!(matches!(
            parse(&["cache", "ls", "--json"]),
            Ok(LineCommand::Qyv(Command::Cache(_)))
        ));
    }

    #[test]
    fn builtins_parse() {
        assert!(matches!(
            parse(&["cd", "-"]),
            Ok(LineCommand::Builtin(Builtin::Cd { dir: Some(d) })) if d == "-"
        ));
        assert!(matches!(
            parse(&["exit", "-1"]),
            Ok(LineCommand::Builtin(Builtin::Exit { status: Some(-1) }))
        ));
        assert!(matches!(
            parse(&["suggest", "-n", "3", "run", "x"]),
            Ok(LineCommand::Builtin(Builtin::Suggest { count: 3, prefix })) if prefix == ["run", "x"]
        ));
        assert!(is_builtin("cd") && !is_builtin("run"));
    }

    #[test]
    fn mistakes_get_clap_errors_with_the_usage_that_applies() {
        let err = parse(&["rum", "app.qyv"]).unwrap_err();
        let text = err.render().to_string();
        assert!(text.contains("'rum'") && text.contains("'run'"), "{text}");
        let text = parse(&["histroy"]).unwrap_err().render().to_string();
        assert!(text.contains("'history'"), "{text}");
        let err = parse(&["history", "lots"])
            .unwrap_err()
            .render()
            .to_string();
        assert!(err.contains("invalid value 'lots' for '[N]'"), "{err}");
        let err = parse(&["cd", "a", "b"]).unwrap_err().render().to_string();
        assert!(
            err.contains("'b'") && err.contains("Usage: qyv cd [DIR]"),
            "{err}"
        );
        let help = parse(&["run", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(help.render().to_string().contains("Usage: qyv run"));
    }

    #[test]
    fn completion_definition_hides_shell_and_has_help() {
        let def = definition();
        assert!(def.find_subcommand("shell").unwrap().is_hide_set());
        let run = def.find_subcommand("run").unwrap();
        assert!(run.get_arguments().any(|a| a.get_long() == Some("help")));
    }
}
