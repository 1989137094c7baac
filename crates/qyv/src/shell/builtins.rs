//! The shell's own commands: `cd`, `ls`, `pwd`, `help`, `history`,
//! `suggest` (`exit` is the session's), and what `context` adds to
//! `qyv context` in the shell. Each writes to `out` and
//! returns its status; errors are printed like a qyv command's.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use reedline::History;

use super::complete::{BUNDLE, MANIFEST, WASM};
use super::data::{self, HISTORY_LINES};
use super::line::{self, Builtin};
use super::session::Session;
use super::suggest;

pub fn run(
    session: &mut Session,
    builtin: Builtin,
    history: &dyn History,
    out: &mut dyn Write,
) -> Result<i32> {
    match builtin {
        Builtin::Cd { dir } => cd(session, dir.as_deref(), out),
        Builtin::Ls { paths } => ls(&paths, out),
        Builtin::Pwd => {
            writeln!(out, "{}", working_folder()?.display())?;
            Ok(0)
        }
        Builtin::Help { command } => help(&mut session.definition, &command, out),
        Builtin::History { count } => {
            let entries = data::entries(history);
            let skip = count.map_or(0, |n| entries.len().saturating_sub(n));
            for (i, entry) in entries.iter().enumerate().skip(skip) {
                writeln!(out, "{:>5}  {entry}", i + 1)?;
            }
            Ok(0)
        }
        Builtin::Suggest { prefix, count } => {
            let prefix = prefix.join(" ");
            let found = suggest::lock(&session.suggester).predict(&prefix, count);
            if found.is_empty() {
                if prefix.is_empty() {
                    writeln!(
                        out,
                        "no suggestions yet: the shell learns from the commands run at its prompt"
                    )?;
                } else {
                    writeln!(out, "no suggestion starts with `{prefix}`")?;
                }
                return Ok(0);
            }
            writeln!(out, "SCORE  COMMAND")?;
            for c in found {
                writeln!(out, "{:.3}  {}", c.score, c.line)?;
            }
            Ok(0)
        }
        Builtin::Exit { .. } => unreachable!("the session ends on `exit`"),
    }
}

fn working_folder() -> Result<PathBuf> {
    std::env::current_dir().context("the working folder is gone (removed?); `cd` to another")
}

fn cd(session: &mut Session, dir: Option<&str>, out: &mut dyn Write) -> Result<i32> {
    let target = match dir {
        None => PathBuf::from(
            session
                .home
                .as_deref()
                .context("cd: HOME is not set; name a folder")?,
        ),
        Some("-") => session
            .previous_dir
            .clone()
            .context("cd -: there is no previous folder yet")?,
        Some(d) => PathBuf::from(d),
    };
    let here = std::env::current_dir().ok();
    if let Err(e) = std::env::set_current_dir(&target) {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such folder".to_string(),
            std::io::ErrorKind::NotADirectory => "not a folder".to_string(),
            _ => e.to_string(),
        };
        bail!("cd: {}: {why}", target.display());
    }
    session.previous_dir = here;
    if dir == Some("-") {
        writeln!(out, "{}", working_folder()?.display())?;
    }
    Ok(0)
}

/// What a file is to qyv, by its name.
fn kind(name: &str, is_dir: bool) -> &'static str {
    if is_dir {
        return "";
    }
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some(MANIFEST) => "app manifest",
        Some(WASM) => "wasm",
        Some(BUNDLE) => "bundle",
        _ => "",
    }
}

fn ls(paths: &[PathBuf], out: &mut dyn Write) -> Result<i32> {
    let here = [PathBuf::from(".")];
    let paths = if paths.is_empty() { &here[..] } else { paths };
    for (i, path) in paths.iter().enumerate() {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow::anyhow!("ls: {}: no such file or folder", path.display())
            }
            _ => anyhow::anyhow!("ls: {}: {e}", path.display()),
        })?;
        if !meta.is_dir() {
            let name = path.display().to_string();
            writeln!(out, "{}", row(&name, kind(&name, false), name.len()))?;
            continue;
        }
        if paths.len() > 1 {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{}:", path.display())?;
        }
        let mut entries: Vec<(String, bool)> = std::fs::read_dir(path)
            .with_context(|| format!("ls: {}", path.display()))?
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.path().is_dir(),
                )
            })
            .filter(|(name, _)| !name.starts_with('.'))
            .map(|(name, dir)| (if dir { format!("{name}/") } else { name }, dir))
            .collect();
        entries.sort();
        let width = entries
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        for (name, dir) in &entries {
            writeln!(out, "{}", row(name, kind(name, *dir), width))?;
        }
    }
    Ok(0)
}

fn row(name: &str, kind: &str, width: usize) -> String {
    if kind.is_empty() {
        name.to_string()
    } else {
        format!("{name:<width$}  {kind}")
    }
}

fn help(def: &mut clap::Command, command: &[String], out: &mut dyn Write) -> Result<i32> {
    if !command.is_empty() {
        let mut cmd = &mut *def;
        for name in command {
            cmd = match cmd.find_subcommand_mut(name) {
                Some(c) => c,
                None => bail!(
                    "help: no command `{}`; `help` lists them",
                    command.join(" ")
                ),
            };
        }
        write!(out, "{}", cmd.render_long_help())?;
        return Ok(0);
    }
    let (builtins, commands): (Vec<&clap::Command>, Vec<&clap::Command>) = def
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .partition(|c| line::is_builtin(c.get_name()));
    let width = def
        .get_subcommands()
        .map(|c| c.get_name().len())
        .max()
        .unwrap_or(0);
    writeln!(out, "qyv commands (as on the command line, without `qyv`):")?;
    for c in commands {
        writeln!(out, "  {:<width$}  {}", c.get_name(), about(c))?;
    }
    writeln!(out, "\nshell commands:")?;
    for c in builtins {
        writeln!(out, "  {:<width$}  {}", c.get_name(), about(c))?;
    }
    writeln!(
        out,
        "\n`help COMMAND` or `COMMAND --help` shows a command's options. `;` separates \
commands; quote with '…' or \"…\".\n\
keys: Tab completes · → or Ctrl-F takes the grey suggestion · Ctrl-R searches the history · \
Ctrl-D leaves"
    )?;
    Ok(0)
}

fn about(c: &clap::Command) -> String {
    c.get_about().map(|a| a.to_string()).unwrap_or_default()
}

/// `context` in the shell: where commands go (as `qyv context` says it),
/// then the shell's own state.
pub fn context(session: &Session, history: &dyn History, out: &mut dyn Write) -> Result<i32> {
    crate::commands::context::show(&crate::contexts::Contexts::load()?, out)?;
    let folder = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "(removed)".into());
    writeln!(out, "folder:   {folder}")?;
    writeln!(out, "status:   {}", session.status)?;
    let suggester = suggest::lock(&session.suggester);
    match &session.files {
        Some(files) => {
            let entries = data::entries(history).len();
            let kept = if suggester.saves() {
                ""
            } else {
                ", not written by scripts"
            };
            writeln!(
                out,
                "history:  {} ({entries} of at most {HISTORY_LINES} entries{kept})",
                files.history().display()
            )?;
            writeln!(
                out,
                "model:    {} ({} commands learned{kept})",
                files.model().display(),
                suggester.known()
            )?;
        }
        None => writeln!(out, "history:  not kept: set XDG_DATA_HOME or HOME")?,
    }
    let cache = qyvol_runtime::CodeCache::default_root()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none: set QYVOL_CACHE_DIR, XDG_CACHE_HOME or HOME".into());
    writeln!(out, "cache:    {cache}")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut dyn Write) -> Result<i32>) -> String {
        let mut out = Vec::new();
        assert_eq!(f(&mut out).unwrap(), 0);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ls_marks_what_qyv_runs() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "hello.qyv",
            "hello.wasm",
            "app.qyvbin",
            "notes.txt",
            ".hidden",
        ] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let listing = text(|out| ls(&[d.path().to_path_buf()], out));
        assert_eq!(
            listing,
            "app.qyvbin  bundle\nhello.qyv   app manifest\nhello.wasm  wasm\nnotes.txt\nsub/\n"
        );
        let err = ls(&[d.path().join("nope")], &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().ends_with("nope: no such file or folder"),
            "{err}"
        );
        let one = text(|out| ls(&[d.path().join("hello.qyv")], out));
        assert!(one.ends_with("hello.qyv  app manifest\n"), "{one}");
    }

    #[test]
    fn help_lists_both_kinds_of_command() {
        let all = text(|out| help(&mut line::definition(), &[], out));
        let (cli, shell) = all.split_once("shell commands:").unwrap();
        assert!(cli.contains("  run ") && cli.contains("  cache "), "{all}");
        assert!(
            shell.contains("  cd ") && shell.contains("  suggest "),
            "{all}"
        );
        assert!(!all.contains("  shell "), "{all}");
        let run = text(|out| help(&mut line::definition(), &["run".into()], out));
        assert!(
            run.contains("Usage: qyv run") && run.contains("--allow-net"),
            "{run}"
        );
        let ls = text(|out| help(&mut line::definition(), &["cache".into(), "ls".into()], out));
        assert!(ls.contains("Usage: qyv cache ls"), "{ls}");
        let err = help(&mut line::definition(), &["nope".into()], &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("no command `nope`"));
    }
}
