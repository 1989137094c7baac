//! The interactive shell: reedline with the shell's prompt, completion,
//! history (Ctrl-R searches it) and the model's inline hint, around the
//! session that runs each line.

use anyhow::{Context, Result};
use reedline::{
    ColumnarMenu, Emacs, FileBackedHistory, KeyCode, KeyModifiers, MenuBuilder, Reedline,
    ReedlineEvent, ReedlineMenu, Signal, default_emacs_keybindings,
};

use super::apps::NodeApps;
use super::complete::ShellCompleter;
use super::data::HISTORY_LINES;
use super::prompt::ShellPrompt;
use super::session::{Flow, Origin, Session, split_error};
use super::suggest::ModelHinter;

const MENU: &str = "completion_menu";

pub fn run(mut session: Session, warnings: Vec<String>) -> Result<i32> {
    let history = history(&session)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let mut editor = editor(&session, history);
    loop {
        let cwd = std::env::current_dir().ok();
        let prompt = ShellPrompt::new(
            session.node.as_deref(),
            cwd.as_deref(),
            session.home.as_deref(),
            session.status,
        );
        let line = match editor.read_line(&prompt) {
            Ok(Signal::Success(line)) => line,
            Ok(Signal::CtrlC) => continue,
            Ok(Signal::CtrlD) => {
                // Leave the caller's prompt a line of its own.
                println!();
                return Ok(session.status);
            }
            Ok(_) => continue,
            Err(e) => return Err(e).context("the terminal failed"),
        };
        if let Err(e) = editor.sync_history() {
            eprintln!("warning: the history was not saved: {e}");
        }
        // A line kept out of the history is kept out of the model too.
        let learn = !line.starts_with(' ');
        match session.run_line(&line, editor.history(), learn) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit(code)) => return Ok(code),
            Err(e) => {
                eprintln!("error: {}", split_error(Origin::Typed, &line, &e));
                session.status = crate::exit::QYV_ERROR;
            }
        }
    }
}

/// The history file, or one kept for this session only (saying why).
fn history(session: &Session) -> Result<FileBackedHistory> {
    let kept = session.files.as_ref().map(|files| {
        let path = files.history();
        FileBackedHistory::with_file(HISTORY_LINES, path.clone()).map_err(|e| (path, e))
    });
    Ok(match kept {
        Some(Ok(history)) => history,
        Some(Err((path, e))) => {
            eprintln!(
                "warning: cannot open the history {}: {e}; this session's is not kept",
                path.display()
            );
            FileBackedHistory::new(HISTORY_LINES)?
        }
        None => {
            eprintln!("warning: the history is not kept: set XDG_DATA_HOME or HOME");
            FileBackedHistory::new(HISTORY_LINES)?
        }
    })
}

/// The line editor: emacs keys, Tab for the completion menu, hints from
/// the suggestion model.
fn editor(session: &Session, history: FileBackedHistory) -> Reedline {
    let mut keys = default_emacs_keybindings();
    keys.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu(MENU.to_string()),
            ReedlineEvent::MenuNext,
        ]),
    );
    keys.add_binding(
        KeyModifiers::SHIFT,
        KeyCode::BackTab,
        ReedlineEvent::MenuPrevious,
    );
    Reedline::create()
        .with_history(Box::new(history))
        // As with bash's ignorespace: a line that starts with a space is
        // neither kept nor learned.
        .with_history_exclusion_prefix(Some(" ".to_string()))
        .with_completer(Box::new(ShellCompleter::new(
            Box::new(NodeApps::default()),
            session.home.clone(),
        )))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(
            ColumnarMenu::default().with_name(MENU),
        )))
        .with_hinter(Box::new(ModelHinter::new(session.suggester.clone())))
        .with_edit_mode(Box::new(Emacs::new(keys)))
}
