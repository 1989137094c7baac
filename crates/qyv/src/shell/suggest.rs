//! The model at work: loaded from (and saved to) the user's data folder,
//! told of each command the shell runs, asked by the inline hint and by the
//! `suggest` built-in. The line editor and the shell share it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use nu_ansi_term::{Color, Style};
use reedline::{Hinter, History};

use super::data;
use super::model::{Candidate, Model, Recent};

pub struct Suggester {
    model: Model,
    recent: Recent,
    /// Where learning is saved; `None`: the model is only read (scripts,
    /// or no data folder).
    store: Option<PathBuf>,
    /// A save failed already: say it once.
    save_failed: bool,
}

/// Shared between the shell loop and the line editor's hinter.
pub type Shared = Arc<Mutex<Suggester>>;

pub fn lock(shared: &Shared) -> MutexGuard<'_, Suggester> {
    // A panic while holding the lock leaves a model still worth reading.
    qyvol_manifest::sync::lock(shared)
}

impl Suggester {
    /// The saved model, else one trained on the saved history (so that a
    /// first session already suggests), else an empty one. `save` says
    /// whether learning is written back. Problems are warnings: the shell
    /// works without suggestions.
    pub fn load(files: Option<&data::DataFiles>, save: bool) -> (Suggester, Vec<String>) {
        let mut warnings = Vec::new();
        let mut model = None;
        if let Some(files) = files {
            match data::read_model(&files.model()) {
                Ok(m) => model = m,
                // A file that is there but unusable is replaced when the
                // shell next learns; one that cannot be reached is not.
                Err(e) if files.model().is_file() => warnings.push(format!(
                    "{e}; suggestions start again from the history{}",
                    if save {
                        " and the file will be replaced"
                    } else {
                        ""
                    }
                )),
                Err(e) => warnings.push(e),
            }
            if model.is_none() {
                match data::read_history(&files.history()) {
                    Ok(history) => {
                        let trained = train(&data::entries(&history));
                        // Trained once, not at every start.
                        if save
                            && trained.commands() > 0
                            && let Err(e) = data::write_model(&files.model(), &trained)
                        {
                            warnings.push(format!("{}: {e}", files.model().display()));
                        }
                        model = Some(trained);
                    }
                    Err(e) => warnings.push(format!("{}: {e}", files.history().display())),
                }
            }
        }
        let suggester = Suggester {
            model: model.unwrap_or_default(),
            recent: Recent::start(),
            store: files.filter(|_| save).map(|f| f.model()),
            save_failed: false,
        };
        (suggester, warnings)
    }

    /// A command ran (as typed, without `qyv`): it becomes the context of
    /// the next prediction, and is learned when `learn` and the model is
    /// saved.
    pub fn ran(&mut self, command: &str, learn: bool) {
        if let Some(path) = self.store.as_ref().filter(|_| learn) {
            self.model.observe(&self.recent, command);
            if let Err(e) = data::write_model(path, &self.model)
                && !self.save_failed
            {
                self.save_failed = true;
                eprintln!(
                    "warning: {}: {e}; suggestions are not saved this session",
                    path.display()
                );
            }
        }
        self.recent.push(command);
    }

    pub fn predict(&self, prefix: &str, n: usize) -> Vec<Candidate> {
        self.model.predict(&self.recent, prefix, n)
    }

    pub fn known(&self) -> usize {
        self.model.commands()
    }

    pub fn saves(&self) -> bool {
        self.store.is_some()
    }
}

/// A model learned from history lines, oldest first, as one long session.
/// Only lines the shell can run teach it.
pub fn train(lines: &[String]) -> Model {
    let mut definition = super::line::definition();
    // A history repeats itself: parse each distinct line once.
    let mut parsed: HashMap<&str, Vec<String>> = HashMap::new();
    let mut model = Model::default();
    let mut recent = Recent::start();
    for line in lines {
        let commands = parsed
            .entry(line)
            .or_insert_with(|| super::session::learnable(&mut definition, line));
        for cmd in commands.iter() {
            model.observe(&recent, cmd);
            recent.push(cmd);
        }
    }
    model
}

/// The inline hint: the rest of the likeliest next command that starts with
/// what is typed, in grey; the right arrow or Ctrl-F takes it.
pub struct ModelHinter {
    shared: Shared,
    current: String,
    style: Style,
}

impl ModelHinter {
    pub fn new(shared: Shared) -> ModelHinter {
        ModelHinter {
            shared,
            current: String::new(),
            style: Style::new().fg(Color::DarkGray),
        }
    }
}

impl Hinter for ModelHinter {
    fn handle(
        &mut self,
        line: &str,
        pos: usize,
        _history: &dyn History,
        use_ansi_coloring: bool,
        _cwd: &str,
    ) -> String {
        // A hint only makes sense where it would be appended.
        self.current = if pos == line.len() {
            lock(&self.shared)
                .predict(line, 1)
                .into_iter()
                .next()
                .map(|c| c.line[line.len()..].to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        if use_ansi_coloring && !self.current.is_empty() {
            self.style.paint(&self.current).to_string()
        } else {
            self.current.clone()
        }
    }

    fn complete_hint(&self) -> String {
        self.current.clone()
    }

    /// Leading spaces and the first word: what Ctrl-→ takes.
    fn next_hint_token(&self) -> String {
        let rest = self.current.trim_start();
        let lead = self.current.len() - rest.len();
        let word = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.current[..lead + word].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reedline::FileBackedHistory;

    fn shared(lines: &[&str]) -> Shared {
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        Arc::new(Mutex::new(Suggester {
            model: train(&lines),
            recent: Recent::start(),
            store: None,
            save_failed: false,
        }))
    }

    #[test]
    fn hints_the_rest_of_the_likeliest_command() {
        let s = shared(&["run app.qyv", "validate app.qyv", "run app.qyv"]);
        let mut h = ModelHinter::new(s.clone());
        let history = FileBackedHistory::new(10).unwrap();
        assert_eq!(h.handle("run a", 5, &history, false, ""), "pp.qyv");
        assert_eq!(h.complete_hint(), "pp.qyv");
        // On an empty line: the likeliest first command.
        assert_eq!(h.handle("", 0, &history, false, ""), "run app.qyv");
        assert_eq!(h.next_hint_token(), "run");
        // Not in the middle of the line, not for unknown text.
        assert_eq!(h.handle("run a", 2, &history, false, ""), "");
        assert_eq!(h.handle("zz", 2, &history, false, ""), "");
        lock(&s).ran("run app.qyv", true);
        assert_eq!(h.handle("", 0, &history, false, ""), "validate app.qyv");
        let painted = h.handle("v", 1, &history, true, "");
        assert!(painted.contains("alidate app.qyv") && painted.contains('\x1b'));
    }

    #[test]
    fn training_skips_what_the_shell_cannot_run() {
        let s = shared(&["run a.qyv; pwd", "rn typo", "run 'open", "ls > x"]);
        let all: Vec<String> = lock(&s)
            .predict("", 10)
            .into_iter()
            .map(|c| c.line)
            .collect();
        assert_eq!(lock(&s).known(), 2, "{all:?}");
        assert!(all.contains(&"run a.qyv".to_string()) && all.contains(&"pwd".to_string()));
    }

    #[test]
    fn learning_is_saved_only_when_asked() {
        let d = tempfile::tempdir().unwrap();
        let files = data::DataFiles {
            dir: d.path().join("qyvol"),
        };
        std::fs::create_dir_all(&files.dir).unwrap();
        std::fs::write(files.history(), "pwd\nls\n").unwrap();
        let (mut reader, warnings) = Suggester::load(Some(&files), false);
        assert!(warnings.is_empty());
        assert_eq!(reader.known(), 2, "trained on the history");
        reader.ran("run x.qyv", true);
        assert!(!files.model().exists());

        let (mut writer, _) = Suggester::load(Some(&files), true);
        let first = data::read_model(&files.model()).unwrap().unwrap();
        assert_eq!(first.commands(), 2, "the trained model is kept");
        writer.ran("run x.qyv", false);
        let same = data::read_model(&files.model()).unwrap().unwrap();
        assert_eq!(same.commands(), 2, "a private line is not learned");
        writer.ran("run x.qyv", true);
        let saved = data::read_model(&files.model()).unwrap().unwrap();
        assert_eq!(saved.commands(), 3);

        std::fs::write(files.model(), "garbage").unwrap();
        let (fresh, warnings) = Suggester::load(Some(&files), true);
        assert_eq!(fresh.known(), 2);
        assert!(
            warnings[0].contains("suggest.json: not a suggestion model"),
            "{warnings:?}"
        );
    }
}
