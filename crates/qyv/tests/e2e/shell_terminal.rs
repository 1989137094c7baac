//! `qyv shell` on a terminal, tried as a new user would: in a
//! pseudo-terminal whose screen is emulated (vt100), it types a partial
//! command, presses Tab, runs the hello example, takes the grey suggestion
//! with the right arrow, searches the history with Ctrl-R, and reads it all
//! on the screen; then it checks what the shell kept on disk.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use expectrl::Session;
use expectrl::process::unix::WaitStatus;

const ROWS: u16 = 60;
const COLS: u16 = 200;
/// Only a guard against a hung shell: each step normally takes well under
/// a second.
const PATIENCE: Duration = Duration::from_secs(60);

/// The shell in a pseudo-terminal, and the screen a terminal would show.
struct Terminal {
    session: expectrl::session::OsSession,
    screen: vt100::Parser,
}

impl Terminal {
    fn start(cwd: &Path, data: &Path) -> Terminal {
        // The terminal has its size before the shell starts: set from here
        // after the spawn, it raced with the shell's first look at it, and a
        // line editor that saw the default 80 columns wrapped an 80-character
        // line (prompt and command, in a checkout whose path has 18
        // characters) where this 200-column screen does not.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("stty cols {COLS} rows {ROWS} && exec \"$0\" shell"))
            .arg(assert_cmd::cargo::cargo_bin("qyv"))
            .current_dir(cwd)
            .env("HOME", data)
            .env("XDG_DATA_HOME", data.join("share"))
            .env("QYVOL_CACHE_DIR", shared_cache())
            .env("TERM", "xterm-256color")
            .env_remove("XDG_CACHE_HOME");
        let session = Session::spawn(cmd).expect("start qyv shell in a pty");
        Terminal {
            session,
            screen: vt100::Parser::new(ROWS.try_into().unwrap(), COLS.try_into().unwrap(), 0),
        }
    }

    /// Reads what the shell wrote so far into the screen, answering its
    /// cursor-position queries as a terminal does.
    fn pump(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match self.session.try_read(&mut buf) {
                Ok(0) => return,
                Ok(n) => self.feed(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // The shell has exited and the pty is closed.
                Err(_) => return,
            }
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        const QUERY: &[u8] = b"\x1b[6n";
        while let Some(at) = bytes.windows(QUERY.len()).position(|w| w == QUERY) {
            self.screen.process(&bytes[..at]);
            let (row, col) = self.screen.screen().cursor_position();
            write!(self.session, "\x1b[{};{}R", row + 1, col + 1).unwrap();
            bytes = &bytes[at + QUERY.len()..];
        }
        self.screen.process(bytes);
    }

    fn contents(&self) -> String {
        self.screen.screen().contents()
    }

    /// Reads the screen until `done` finds what it waits for in it; fails
    /// with `what` and the screen if that never comes.
    fn until<T>(&mut self, what: &str, mut done: impl FnMut(&Terminal) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            self.pump();
            if let Some(found) = done(self) {
                return found;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "waited in vain for {what}; the screen (cursor at {:?}):\n{}",
                self.screen.screen().cursor_position(),
                self.contents()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the screen shows `text` (`times` times at least).
    fn wait_for_n(&mut self, text: &str, times: usize) -> String {
        self.until(&format!("{text:?} ({times}x)"), |t| {
            let shown = t.contents();
            (shown.matches(text).count() >= times).then_some(shown)
        })
    }

    fn wait_for(&mut self, text: &str) -> String {
        self.wait_for_n(text, 1)
    }

    /// The line the cursor is on, and the cursor's column.
    fn cursor_line(&self) -> (String, usize) {
        let (row, col) = self.screen.screen().cursor_position();
        let line = self
            .contents()
            .lines()
            .nth(row as usize)
            .unwrap_or("")
            .to_string();
        (line, col as usize)
    }

    /// Waits until the cursor's line ends with `text` (trailing spaces
    /// aside).
    fn wait_for_line(&mut self, text: &str) -> String {
        self.until(&format!("a line ending with {text:?}"), |t| {
            let (line, _) = t.cursor_line();
            line.trim_end().ends_with(text.trim_end()).then_some(line)
        })
    }

    /// Waits for a fresh prompt showing `status`, the cursor right after it
    /// (a hint may follow).
    fn wait_for_prompt(&mut self, status: i32) -> String {
        let mark = format!("[{status}]> ");
        self.until(&format!("a prompt with {mark:?}"), |t| {
            let (line, col) = t.cursor_line();
            let before: String = line.chars().take(col).collect();
            before.ends_with(&mark).then_some(line)
        })
    }

    /// The text from the cursor to the end of its line, and whether all of
    /// it is drawn in a colour (a hint) rather than as typed text.
    fn after_cursor(&self) -> (String, bool) {
        let screen = self.screen.screen();
        let (row, col) = screen.cursor_position();
        let mut text = String::new();
        let mut coloured = true;
        for c in col..COLS {
            let cell = screen.cell(row, c).unwrap();
            if cell.contents().is_empty() {
                break;
            }
            coloured &= cell.fgcolor() != vt100::Color::Default;
            text.push_str(cell.contents());
        }
        let coloured = coloured && !text.is_empty();
        (text, coloured)
    }

    /// Waits until the text after the cursor is `hint`, in grey (`""`: no
    /// hint).
    fn wait_for_hint(&mut self, hint: &str) {
        self.until(&format!("the hint {hint:?}"), |t| {
            let (text, coloured) = t.after_cursor();
            (text == hint && (coloured || hint.is_empty())).then_some(())
        })
    }

    fn send(&mut self, keys: &str) {
        self.session.write_all(keys.as_bytes()).unwrap();
        self.session.flush().unwrap();
    }

    fn exit_status(&mut self) -> i32 {
        self.until("the shell to exit", |t| {
            match t.session.get_process().status() {
                Ok(WaitStatus::Exited(_, code)) => Some(code),
                Ok(WaitStatus::StillAlive) => None,
                other => panic!("the shell ended oddly: {other:?}"),
            }
        })
    }
}

const TAB: &str = "\t";
const ENTER: &str = "\r";
const RIGHT: &str = "\x1b[C";
const CTRL_R: &str = "\x12";

#[test]
fn type_complete_run_accept_the_hint_and_search_the_history() {
    let data = tempfile::tempdir().unwrap();
    let mut t = Terminal::start(&repo(), data.path());
    let hello = "examples/hello/hello.qyv";

    // The prompt: no node, the working folder, the last status.
    let line = t.wait_for_prompt(0);
    assert!(
        line.starts_with(&format!("local:{} [0]> ", repo().display())),
        "{line}"
    );

    // Tab completes the command, then the file (only the kinds run takes:
    // the manifest, not main.rs or README.md).
    t.send("ru");
    t.wait_for_line("> ru");
    t.send(TAB);
    t.wait_for_line("> run");
    t.send("examples/hello/hello.q");
    t.send(TAB);
    t.wait_for_line(&format!("> run {hello}"));
    t.send(ENTER);
    t.wait_for("¡Hola desde Rust!");
    t.wait_for_prompt(0);

    // The model learned it: typing `r` shows the rest in grey; the right
    // arrow takes it.
    t.send("r");
    t.wait_for_line(&format!("> run {hello}"));
    t.wait_for_hint(&format!("un {hello}"));
    t.send(RIGHT);
    t.wait_for_hint("");
    t.send(ENTER);
    t.wait_for_n("¡Hola desde Rust!", 2);
    t.wait_for_prompt(0);

    // `suggest` shows the candidates with their scores.
    t.send("suggest\r");
    let shown = t.wait_for("SCORE  COMMAND");
    assert!(shown.contains(&format!("  run {hello}")), "{shown}");

    // A failing command shows in the prompt's status.
    t.send("cd nowhere\r");
    t.wait_for("cd: nowhere: no such folder");
    t.wait_for_prompt(125);

    // Ctrl-R finds an earlier line by a part of it.
    t.send(CTRL_R);
    t.send("sugg");
    t.wait_for("history search: sugg");
    t.send(ENTER);
    t.send(ENTER);
    t.wait_for_n("SCORE  COMMAND", 2);

    t.send("exit 3\r");
    assert_eq!(t.exit_status(), 3);

    // What the shell kept: the history and a small model.
    let history = std::fs::read_to_string(data.path().join("share/qyvol/history")).unwrap();
    let lines: Vec<&str> = history.lines().map(str::trim_end).collect();
    let run = format!("run {hello}");
    assert_eq!(
        lines,
        [&run, &run, "suggest", "cd nowhere", "suggest", "exit 3"],
        "{history}"
    );
    let model = std::fs::read_to_string(data.path().join("share/qyvol/suggest.json")).unwrap();
    assert!(model.contains(&format!("\"run {hello}\"")), "{model}");
    // A command qyv could not carry out (status 125) is not worth suggesting.
    assert!(!model.contains("cd nowhere"), "{model}");
    assert!(model.len() < 4096, "{} bytes", model.len());
}

#[test]
fn a_new_session_suggests_what_the_last_one_did() {
    let data = tempfile::tempdir().unwrap();
    write(data.path(), "share/qyvol/history", "pwd\ncontext\n");
    let mut t = Terminal::start(&repo(), data.path());
    t.wait_for_prompt(0);
    // At the start of a session, what the history began with.
    t.wait_for_hint("pwd");
    t.send(RIGHT);
    t.send(ENTER);
    t.wait_for(&repo().display().to_string());
    // After `pwd`, what followed it.
    t.wait_for_prompt(0);
    t.wait_for_hint("context");
    // Ctrl-D on an empty line leaves with the last status.
    t.send("\x04");
    assert_eq!(t.exit_status(), 0);
}

#[test]
fn an_app_reads_the_terminal_then_the_shell_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let mut t = Terminal::start(&repo(), data.path());
    t.wait_for_prompt(0);
    // The app copies its standard input (this terminal) until Ctrl-D.
    // Keys sent with the Enter would reach the line editor first (it reads
    // ahead): type once the line is taken, as a person does.
    let (row, _) = t.screen.screen().cursor_position();
    let probe = probe_p1();
    let probe = probe.strip_prefix(repo()).unwrap().display();
    t.send(&format!("run {probe} stdin\r"));
    t.until("the line to be taken", |t| {
        (t.screen.screen().cursor_position() == (row + 1, 0)).then_some(())
    });
    t.send("typed for the app\r");
    t.wait_for("typed for the app");
    t.send("\x04");
    t.wait_for_prompt(0);
    // Ctrl-C drops a half-typed line; the shell stays.
    t.send("half typed");
    t.wait_for_line("half typed");
    t.send("\x03");
    t.wait_for_prompt(0);
    t.send("pwd\r");
    t.wait_for_n(&format!("\n{}\n", repo().display()), 1);
    t.send("exit\r");
    assert_eq!(t.exit_status(), 0);
}
