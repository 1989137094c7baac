//! The shell without a terminal: `qyv shell -c "cmd; cmd"`, or commands on
//! standard input, one per line, run as they arrive. The exit status is the
//! last command's; the history and the model are read, never written.

use anyhow::{Context, Result};

use super::data;
use super::session::{Flow, Origin, Session, split_error};

pub fn run(mut session: Session, commands: Option<&str>) -> Result<i32> {
    // `history` and `context` show the saved history; nothing is added.
    let history = match &session.files {
        Some(files) => data::read_history(&files.history())
            .with_context(|| format!("cannot read the history {}", files.history().display()))?,
        None => reedline::FileBackedHistory::new(data::HISTORY_LINES)?,
    };
    if let Some(text) = commands {
        return Ok(match session.run_line(text, &history, false) {
            Ok(Flow::Exit(code)) => code,
            Ok(Flow::Continue) => session.status,
            Err(e) => {
                eprintln!("error: {}", split_error(Origin::Commands, text, &e));
                crate::exit::QYV_ERROR
            }
        });
    }
    // One line at a time, the lock released in between: an app that reads
    // standard input reads the script's next lines, as under `sh`.
    let mut number = 0;
    loop {
        let mut line = String::new();
        let read = std::io::stdin()
            .read_line(&mut line)
            .context("cannot read standard input")?;
        if read == 0 {
            break;
        }
        number += 1;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        match session.run_line(line, &history, false) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit(code)) => return Ok(code),
            Err(e) => {
                eprintln!("error: {}", split_error(Origin::Script(number), line, &e));
                session.status = crate::exit::QYV_ERROR;
                if session.errexit {
                    return Ok(session.status);
                }
            }
        }
    }
    Ok(session.status)
}
