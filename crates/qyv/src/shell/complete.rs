//! Tab completion, read off the clap definition of the shell's commands
//! (see `line.rs`): command and subcommand names, flags, the values a flag
//! lists, file paths where a command wants a file (only the kinds it takes),
//! and app names from the current node.

use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ValueHint};
use reedline::{Completer, CompletionResult, Span, Suggestion};

use super::apps::AppNames;
use super::line;
use super::words::{self, Word, quote};

/// What a value may be, for completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wants {
    /// Files with one of these extensions (any file when empty), and
    /// folders to go through.
    Files(&'static [&'static str]),
    Dirs,
    Apps,
    Nothing,
}

pub const MANIFEST: &str = qyvol_manifest::FILE_EXTENSION;
pub const WASM: &str = "wasm";
/// Signed single-file bundles, which `run` and the bundle commands take.
pub const BUNDLE: &str = "qyvbin";
/// The kinds of file a TARGET can name.
const APP_FILES: &[&str] = &[MANIFEST, WASM, BUNDLE];

impl Wants {
    /// Reads the value's kind from its value name (the convention is in
    /// `cli.rs`), else its value hint.
    fn of(arg: &Arg) -> Wants {
        let name = arg
            .get_value_names()
            .and_then(|n| n.first())
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_default();
        // Longer names first: the first prefix that matches decides.
        let by_name = [
            ("WASM_OR_BUNDLE", Wants::Files(&[WASM, BUNDLE])),
            ("MANIFEST_OR_WASM", Wants::Files(&[MANIFEST, WASM])),
            ("TARGET", Wants::Files(APP_FILES)),
            ("WASM", Wants::Files(&[WASM])),
            ("MANIFEST", Wants::Files(&[MANIFEST])),
            ("BUNDLE", Wants::Files(&[BUNDLE])),
            ("APP", Wants::Apps),
        ];
        if let Some((_, wants)) = by_name.iter().find(|(n, _)| name.starts_with(n)) {
            return *wants;
        }
        // `PathBuf` values have the `AnyPath` hint without saying so.
        match arg.get_value_hint() {
            ValueHint::DirPath => Wants::Dirs,
            ValueHint::FilePath | ValueHint::AnyPath | ValueHint::ExecutablePath => {
                Wants::Files(&[])
            }
            _ => Wants::Nothing,
        }
    }
}

pub struct ShellCompleter {
    definition: clap::Command,
    apps: Box<dyn AppNames>,
    home: Option<String>,
}

/// Where relative paths and `~` lead.
struct Place<'a> {
    cwd: &'a Path,
    home: Option<&'a str>,
}

impl ShellCompleter {
    pub fn new(apps: Box<dyn AppNames>, home: Option<String>) -> ShellCompleter {
        ShellCompleter {
            definition: line::definition(),
            apps,
            home,
        }
    }

    /// The suggestions for the text before `pos`, with relative paths read
    /// from `cwd`.
    pub fn suggestions(&self, cwd: &Path, line: &str, pos: usize) -> Vec<Suggestion> {
        let place = Place {
            cwd,
            home: self.home.as_deref(),
        };
        let before = &line[..pos];
        let partial = words::split_partial(before);
        let typed = words::without_qyv(&partial.words);
        let current = &partial.current;
        let span = Span::new(current.start, pos);
        let Some((first, rest)) = typed.split_first() else {
            return subcommands(&self.definition, &current.text, span);
        };
        // `help COMMAND...` names commands.
        if first.text == "help" {
            let mut cmd = &self.definition;
            for w in rest {
                match cmd.find_subcommand(&w.text) {
                    Some(sub) => cmd = sub,
                    None => return Vec::new(),
                }
            }
            return subcommands(cmd, &current.text, span);
        }
        let Some(mut cmd) = self.definition.find_subcommand(&first.text) else {
            return Vec::new();
        };
        let walk = Walk::through(&mut cmd, rest);
        match walk.state {
            State::ValueOf(arg) => self.values(arg, current, span, "", &place),
            State::Free {
                positional,
                trailing,
            } => {
                if !trailing && current.text.starts_with('-') {
                    if let Some((flag, value)) = current.text.split_once('=') {
                        return cmd
                            .get_arguments()
                            .find(|a| a.get_long() == flag.strip_prefix("--"))
                            .map(|arg| {
                                let v = Word {
                                    text: value.to_string(),
                                    ..current.clone()
                                };
                                self.values(arg, &v, span, &format!("{flag}="), &place)
                            })
                            .unwrap_or_default();
                    }
                    return flags(cmd, &walk.used, &current.text, span);
                }
                if cmd.has_subcommands() && positional == 0 {
                    return subcommands(cmd, &current.text, span);
                }
                match (trailing, cmd.get_positionals().nth(positional)) {
                    (false, Some(arg)) => self.values(arg, current, span, "", &place),
                    // The app's own arguments: anything, most often a file.
                    _ => paths(current, Wants::Files(&[]), span, "", &place),
                }
            }
        }
    }

    fn values(
        &self,
        arg: &Arg,
        current: &Word,
        span: Span,
        lead: &str,
        place: &Place,
    ) -> Vec<Suggestion> {
        let listed = arg.get_possible_values();
        if !listed.is_empty() {
            return listed
                .iter()
                .filter(|v| !v.is_hide_set() && v.get_name().starts_with(&current.text))
                .map(|v| Suggestion {
                    value: format!("{lead}{}", v.get_name()),
                    description: v.get_help().map(|h| h.to_string()),
                    span,
                    append_whitespace: true,
                    ..Suggestion::default()
                })
                .collect();
        }
        match Wants::of(arg) {
            Wants::Apps => self
                .apps
                .app_names()
                .into_iter()
                .filter(|n| n.starts_with(&current.text))
                .map(|n| Suggestion {
                    value: format!("{lead}{}", quote(&n)),
                    span,
                    append_whitespace: true,
                    ..Suggestion::default()
                })
                .collect(),
            Wants::Nothing => Vec::new(),
            wants => paths(current, wants, span, lead, place),
        }
    }
}

impl Completer for ShellCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> CompletionResult {
        // A working folder that was removed lists nothing.
        let cwd = std::env::current_dir().unwrap_or_default();
        CompletionResult::fresh(self.suggestions(&cwd, line, pos))
    }
}

/// Where the words typed so far leave the command.
enum State<'a> {
    /// The next word is the value of this option.
    ValueOf(&'a Arg),
    /// The next word is a flag or the positional value of this index;
    /// `trailing`: everything from here goes to the app.
    Free { positional: usize, trailing: bool },
}

struct Walk<'a> {
    state: State<'a>,
    /// Flags given, to leave out those that cannot be given twice.
    used: Vec<&'a Arg>,
}

impl<'a> Walk<'a> {
    /// Follows `words` into subcommands and past options and their values;
    /// `cmd` ends as the innermost command.
    fn through(cmd: &mut &'a clap::Command, words: &[Word]) -> Walk<'a> {
        let mut positional = 0;
        let mut trailing = false;
        let mut used = Vec::new();
        let mut pending: Option<&'a Arg> = None;
        for w in words {
            let text = w.text.as_str();
            if pending.take().is_some() {
                continue;
            }
            if trailing {
                continue;
            }
            if text == "--" {
                trailing = true;
                continue;
            }
            if let Some(long) = text.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, _)) => (n, true),
                    None => (long, false),
                };
                if let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(name)) {
                    used.push(arg);
                    if !inline && takes_separate_value(arg) {
                        pending = Some(arg);
                    }
                }
                continue;
            }
            if let Some(shorts) = text.strip_prefix('-')
                && !shorts.is_empty()
            {
                // `-n5`: the value is attached; `-n`: it is the next word.
                let mut chars = shorts.chars();
                while let Some(c) = chars.next() {
                    if let Some(arg) = cmd.get_arguments().find(|a| a.get_short() == Some(c)) {
                        used.push(arg);
                        if takes_separate_value(arg) {
                            if chars.as_str().is_empty() {
                                pending = Some(arg);
                            }
                            break;
                        }
                    }
                }
                continue;
            }
            if positional == 0
                && let Some(sub) = cmd.find_subcommand(text)
            {
                *cmd = sub;
                used.clear();
                continue;
            }
            match cmd.get_positionals().nth(positional) {
                Some(arg) if arg.is_trailing_var_arg_set() => trailing = true,
                Some(arg) if takes_many(arg) => {}
                _ => positional += 1,
            }
        }
        let state = match pending {
            Some(arg) => State::ValueOf(arg),
            None => State::Free {
                positional,
                trailing,
            },
        };
        Walk { state, used }
    }
}

fn takes_separate_value(arg: &Arg) -> bool {
    let takes = arg.get_num_args().is_some_and(|n| n.takes_values());
    takes && !arg.is_require_equals_set()
}

fn takes_many(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

fn subcommands(cmd: &clap::Command, prefix: &str, span: Span) -> Vec<Suggestion> {
    let mut out: Vec<Suggestion> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name().starts_with(prefix))
        .map(|s| Suggestion {
            value: s.get_name().to_string(),
            description: s.get_about().map(|a| a.to_string()),
            span,
            append_whitespace: true,
            ..Suggestion::default()
        })
        .collect();
    out.sort_by(|a, b| a.value.cmp(&b.value));
    out
}

fn flags(cmd: &clap::Command, used: &[&Arg], prefix: &str, span: Span) -> Vec<Suggestion> {
    let mut out = Vec::new();
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let repeatable = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
        if !repeatable && used.iter().any(|u| u.get_id() == arg.get_id()) {
            continue;
        }
        let names = arg
            .get_long()
            .map(|l| format!("--{l}"))
            .into_iter()
            .chain(arg.get_short().map(|s| format!("-{s}")));
        for name in names.filter(|n| n.starts_with(prefix)) {
            let equals = arg.is_require_equals_set();
            out.push(Suggestion {
                value: name,
                description: arg.get_help().map(|h| h.to_string()),
                span,
                append_whitespace: !equals,
                ..Suggestion::default()
            });
        }
    }
    // Long flags first: they say what they do.
    out.sort_by(|a, b| {
        (!a.value.starts_with("--"), &a.value).cmp(&(!b.value.starts_with("--"), &b.value))
    });
    out
}

/// Files and folders that complete `current`, quoted as needed; `lead` goes
/// before each (`--dir=`).
fn paths(current: &Word, wants: Wants, span: Span, lead: &str, place: &Place) -> Vec<Suggestion> {
    let typed = current.text.as_str();
    let (dir_part, file_prefix) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let listed: PathBuf = match (dir_part.strip_prefix("~/"), place.home) {
        (Some(rest), Some(home)) if current.tilde => Path::new(home).join(rest),
        _ => place.cwd.join(dir_part),
    };
    let Ok(entries) = std::fs::read_dir(&listed) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(file_prefix)
            || (name.starts_with('.') && !file_prefix.starts_with('.'))
        {
            continue;
        }
        // Follows links: a link to a folder is a folder to go into.
        let is_dir = entry.path().is_dir();
        let fits = match wants {
            Wants::Dirs => is_dir,
            Wants::Files(exts) => {
                is_dir
                    || exts.is_empty()
                    || Path::new(&name)
                        .extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| exts.contains(&e))
            }
            Wants::Apps | Wants::Nothing => false,
        };
        if !fits {
            continue;
        }
        let path = format!("{dir_part}{name}{}", if is_dir { "/" } else { "" });
        // `~/` stays unquoted so that the shell still reads it as home.
        let value = match path.strip_prefix("~/") {
            Some(rest) if current.tilde => format!("~/{}", quote(rest)),
            _ => quote(&path).into_owned(),
        };
        out.push(Suggestion {
            value: format!("{lead}{value}"),
            span,
            // Inside a folder there is more to type.
            append_whitespace: !is_dir,
            ..Suggestion::default()
        });
    }
    out.sort_by(|a, b| a.value.cmp(&b.value));
    out
}

#[cfg(test)]
mod tests {
    use super::super::apps::NoNode;
    use super::*;

    struct TwoApps;
    impl AppNames for TwoApps {
        fn app_names(&self) -> Vec<String> {
            vec!["hello".into(), "web shop".into()]
        }
    }

    fn values_in(cwd: &Path, home: Option<&Path>, line: &str) -> Vec<String> {
        let home = home.map(|h| h.to_string_lossy().into_owned());
        ShellCompleter::new(Box::new(NoNode), home)
            .suggestions(cwd, line, line.len())
            .into_iter()
            .map(|s| s.value)
            .collect()
    }

    fn values(line: &str) -> Vec<String> {
        values_in(Path::new("/nonexistent"), None, line)
    }

    /// A folder with the kinds of files completion tells apart.
    fn sample_folder() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "app.qyv",
            "prog.wasm",
            "b.qyvbin",
            "notes.txt",
            "my app.qyv",
            ".hidden.qyv",
        ] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        std::fs::create_dir(d.path().join("apps")).unwrap();
        std::fs::write(d.path().join("apps/inner.wasm"), "").unwrap();
        d
    }

    #[test]
    fn command_names_from_the_definition() {
        assert_eq!(values("ru"), ["run"]);
        // Built-ins and CLI commands together, sorted, each once: other
        // commands starting with "c" may join as the CLI grows.
        let c = values("c");
        for name in ["cache", "cd", "component", "context"] {
            assert!(c.iter().any(|v| v == name), "{name} in {c:?}");
        }
        assert!(c.windows(2).all(|w| w[0] < w[1]), "{c:?}");
        assert_eq!(values("ca"), ["cache"]);
        assert_eq!(values("qyv val"), ["validate"]);
        assert_eq!(values("ls; ex"), ["exit"]);
        // No shell in the shell.
        assert!(values("sh").is_empty());
        let all = values("");
        for name in ["run", "inspect", "help", "history", "suggest", "pwd"] {
            assert!(all.contains(&name.to_string()), "{name} in {all:?}");
        }
        let s = ShellCompleter::new(Box::new(NoNode), None).suggestions(Path::new("/"), "ru", 2);
        assert_eq!(s[0].span, Span::new(0, 2));
        assert!(
            s[0].description
                .as_deref()
                .unwrap()
                .starts_with("Run an app")
        );
    }

    #[test]
    fn subcommands_and_flags() {
        assert_eq!(values("cache "), ["clean", "dir", "ls"]);
        assert_eq!(values("help ru"), ["run"]);
        assert_eq!(values("help cache c"), ["clean"]);
        assert!(values("help nope ").is_empty());
        assert_eq!(values("cache ls --"), ["--help", "--json", "--version"]);
        let run = values("run --");
        for f in [
            "--env",
            "--dir",
            "--allow-net",
            "--memory",
            "--metrics",
            "--no-cache",
        ] {
            assert!(run.contains(&f.to_string()), "{f} in {run:?}");
        }
        assert_eq!(values("run --me"), ["--memory", "--metrics"]);
        // A flag given once is not offered again; a repeatable one is.
        let again = values("run --no-cache --env A=1 --");
        assert!(!again.contains(&"--no-cache".to_string()));
        assert!(again.contains(&"--env".to_string()));
        assert_eq!(
            values("suggest -"),
            ["--count", "--help", "--version", "-V", "-h", "-n"]
        );
    }

    #[test]
    fn listed_values_of_a_flag() {
        assert_eq!(
            values("run --metrics="),
            ["--metrics=text", "--metrics=json"]
        );
        assert_eq!(values("run --metrics=j"), ["--metrics=json"]);
        // A value after a flag that takes one is not a flag or a target.
        assert!(values("run --memory ").is_empty());
    }

    #[test]
    fn files_of_the_kinds_a_command_takes() {
        let d = sample_folder();
        let v = |line: &str| values_in(d.path(), None, line);
        assert_eq!(
            v("run "),
            ["'my app.qyv'", "app.qyv", "apps/", "b.qyvbin", "prog.wasm"]
        );
        assert_eq!(v("validate a"), ["app.qyv", "apps/"]);
        assert_eq!(v("inspect "), ["apps/", "b.qyvbin", "prog.wasm"]);
        assert_eq!(
            v("serve "),
            ["'my app.qyv'", "app.qyv", "apps/", "b.qyvbin", "prog.wasm"]
        );
        assert_eq!(v("inspect apps/"), ["apps/inner.wasm"]);
        assert_eq!(v("run ."), [".hidden.qyv"]);
        assert_eq!(v("run 'my"), ["'my app.qyv'"]);
        assert_eq!(v("run --dir "), ["apps/"]);
        assert_eq!(v("cd "), ["apps/"]);
        // After the target, the app's arguments: any file, and no qyv flags.
        assert_eq!(v("run app.qyv no"), ["notes.txt"]);
        assert!(v("run app.qyv --me").is_empty());
        assert_eq!(v("ls no"), ["notes.txt"]);
        // Values that are not paths list no files.
        assert!(v("history ").is_empty());
        assert!(v("exit ").is_empty());
        assert!(v("suggest ").is_empty());
        let abs = format!("run {}/ap", d.path().display());
        assert_eq!(
            values(&abs),
            [
                format!("{}/app.qyv", d.path().display()),
                format!("{}/apps/", d.path().display())
            ]
        );
        let s = ShellCompleter::new(Box::new(NoNode), None).suggestions(d.path(), "run ap", 6);
        let dir = s.iter().find(|s| s.value == "apps/").unwrap();
        assert!(!dir.append_whitespace);
        assert!(
            s.iter()
                .find(|s| s.value == "app.qyv")
                .unwrap()
                .append_whitespace
        );
        assert_eq!(s[0].span, Span::new(4, 6));
    }

    #[test]
    fn tilde_stays_home() {
        let home = sample_folder();
        let got = values_in(Path::new("/"), Some(home.path()), "run ~/ap");
        assert_eq!(got, ["~/app.qyv", "~/apps/"]);
        let got = values_in(Path::new("/"), Some(home.path()), "run ~/my");
        assert_eq!(got, ["~/'my app.qyv'"]);
        // Without a home folder, `~` is only a name.
        assert!(values_in(Path::new("/"), None, "run ~/ap").is_empty());
    }

    #[test]
    fn app_names_come_from_the_node() {
        let mut def = clap::Command::new("logs").arg(Arg::new("app").value_name("APP"));
        def.build();
        let arg = def.get_positionals().next().unwrap();
        let current = Word {
            text: "we".into(),
            start: 5,
            end: 7,
            tilde: false,
        };
        let place = Place {
            cwd: Path::new("/"),
            home: None,
        };
        let with = ShellCompleter::new(Box::new(TwoApps), None);
        let got: Vec<String> = with
            .values(arg, &current, Span::new(5, 7), "", &place)
            .into_iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(got, ["'web shop'"]);
        let without = ShellCompleter::new(Box::new(NoNode), None);
        assert!(
            without
                .values(arg, &current, Span::new(5, 7), "", &place)
                .is_empty()
        );
    }
}
