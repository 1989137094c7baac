//! Where the shell keeps what it learns about its user: the history and the
//! suggestion model, in `$XDG_DATA_HOME/qyvol` (else
//! `~/.local/share/qyvol`). Both are written by interactive sessions only.

use std::io;
use std::path::{Path, PathBuf};

use reedline::{FileBackedHistory, History, HistoryItem};

use super::model::Model;

/// Lines of history kept.
pub const HISTORY_LINES: usize = 10_000;
/// How reedline's file history writes a new line inside an entry (its own
/// constant is not public).
const NEWLINE_ESCAPE: &str = "<\\n>";

pub struct DataFiles {
    pub dir: PathBuf,
}

impl DataFiles {
    /// `None` when neither `XDG_DATA_HOME` nor `HOME` is set.
    pub fn locate() -> Option<DataFiles> {
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let dir = match non_empty("XDG_DATA_HOME") {
            Some(d) => PathBuf::from(d).join("qyvol"),
            None => PathBuf::from(non_empty("HOME")?).join(".local/share/qyvol"),
        };
        Some(DataFiles { dir })
    }

    pub fn history(&self) -> PathBuf {
        self.dir.join("history")
    }

    pub fn model(&self) -> PathBuf {
        self.dir.join("suggest.json")
    }
}

/// The history and the model are kept far smaller (500 commands, about
/// 100 KB); a larger file is not theirs.
const MAX_DATA_FILE_LEN: u64 = 16 << 20;

/// The saved history as reedline reads it (one entry a line, new lines in
/// an entry escaped), without writing anything: for scripts, and to train
/// a first model. A missing file is an empty history.
pub fn read_history(path: &Path) -> io::Result<FileBackedHistory> {
    let mut history = FileBackedHistory::new(HISTORY_LINES).map_err(io::Error::other)?;
    let text = match qyvol_manifest::read_regular(path, MAX_DATA_FILE_LEN) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(history),
        Err(e) => return Err(e),
    };
    for line in text.lines() {
        let entry = line.replace(NEWLINE_ESCAPE, "\n");
        history
            .save(HistoryItem::from_command_line(entry))
            .map_err(io::Error::other)?;
    }
    Ok(history)
}

/// Every entry of a history, oldest first.
pub fn entries(history: &dyn History) -> Vec<String> {
    history
        .search(reedline::SearchQuery::everything(
            reedline::SearchDirection::Forward,
            None,
        ))
        .map(|items| items.into_iter().map(|i| i.command_line).collect())
        .unwrap_or_default()
}

/// The saved model. A missing file is `Ok(None)`; a damaged one an error
/// saying what is wrong with it.
pub fn read_model(path: &Path) -> Result<Option<Model>, String> {
    let text = match qyvol_manifest::read_regular_text(path, MAX_DATA_FILE_LEN) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    Model::from_json(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes the model whole or not at all: a temporary file renamed over the
/// old one, so a crash or a second shell never leaves half a file.
pub fn write_model(path: &Path, model: &Model) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".suggest.{}.tmp", std::process::id()));
    std::fs::write(&tmp, model.to_json())?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_file_is_read_as_reedline_writes_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("history");
        assert!(entries(&read_history(&p).unwrap()).is_empty());
        std::fs::write(&p, "ls\nrun a.qyv<\\n>pwd\nls\n").unwrap();
        assert_eq!(
            entries(&read_history(&p).unwrap()),
            ["ls", "run a.qyv\npwd", "ls"]
        );
    }

    #[test]
    fn model_file_round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/suggest.json");
        assert!(read_model(&p).unwrap().is_none());
        let mut m = Model::default();
        m.observe(&super::super::model::Recent::start(), "ls");
        write_model(&p, &m).unwrap();
        assert_eq!(read_model(&p).unwrap().unwrap().commands(), 1);
        std::fs::write(&p, "[1,2").unwrap();
        let err = read_model(&p).unwrap_err();
        assert!(
            err.contains("suggest.json: not a suggestion model"),
            "{err}"
        );
    }
}
