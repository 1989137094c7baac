//! Splitting a shell line into commands and words, the way `sh` quotes:
//! `'single'` keeps everything, `"double"` and a bare backslash escape one
//! character, `;` and new lines end a command, `#` at the start of a word
//! starts a comment. The characters that would mean pipes, redirections,
//! jobs, variables or substitutions in `sh` are refused unquoted rather
//! than passed on as text, since the shell does none of those.
//!
//! Every word keeps where it stands in the line so that completion can
//! replace the word under the cursor, and the history can be learned as the
//! user typed it.

use std::borrow::Cow;

use thiserror::Error;

/// One word: its text with quotes and escapes removed, and its byte range
/// in the line (quotes included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub start: usize,
    pub end: usize,
    /// Began with an unquoted `~` followed by `/` or nothing: the home folder.
    pub tilde: bool,
}

impl Word {
    /// The text with a leading `~` turned into the home folder, when one is
    /// known.
    pub fn expanded(&self, home: Option<&str>) -> String {
        match (self.tilde, home) {
            (true, Some(home)) => format!("{home}{}", &self.text[1..]),
            _ => self.text.clone(),
        }
    }
}

/// A command: its words, and the stretch of the line it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub words: Vec<Word>,
}

impl Command {
    /// The command as typed (quotes kept), single-spaced.
    pub fn source(&self, line: &str) -> String {
        self.words
            .iter()
            .map(|w| &line[w.start..w.end])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SplitError {
    #[error("the quote {quote} opened here is never closed; close it with {quote}")]
    UnclosedQuote { quote: char, at: usize },
    #[error("a backslash ends the line; remove it, or quote it ('\\')")]
    TrailingBackslash { at: usize },
    #[error(
        "`{ch}`: {what} are not supported by the qyv shell; quote it ('{ch}') to pass it as text"
    )]
    Unsupported {
        ch: char,
        what: &'static str,
        at: usize,
    },
}

impl SplitError {
    /// Byte offset of the problem in the line.
    pub fn offset(&self) -> usize {
        match self {
            SplitError::UnclosedQuote { at, .. }
            | SplitError::TrailingBackslash { at }
            | SplitError::Unsupported { at, .. } => *at,
        }
    }

    /// `line:column` (both from 1, columns in characters) of the problem
    /// in `text`.
    pub fn position(&self, text: &str) -> (usize, usize) {
        let before = &text[..self.offset().min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, column)
    }
}

/// What `sh` would do with a character the shell refuses.
fn unsupported(ch: char) -> Option<&'static str> {
    Some(match ch {
        '|' => "pipes",
        '&' => "background jobs and `&&`",
        '<' | '>' => "redirections",
        '$' => "variables",
        '`' | '(' | ')' => "command substitutions and subshells",
        _ => return None,
    })
}

/// The commands of a complete line (or script), refusing unclosed quotes and
/// unsupported characters.
pub fn split(line: &str) -> Result<Vec<Command>, SplitError> {
    let scan = scan(line, true)?;
    Ok(scan.commands)
}

/// What completion needs of the text before the cursor: the words already
/// typed in the last command, and the word being typed (perhaps empty,
/// perhaps inside an open quote).
#[derive(Debug, PartialEq, Eq)]
pub struct Partial {
    pub words: Vec<Word>,
    pub current: Word,
}

/// Reads `line` as far as it goes, never failing.
pub fn split_partial(line: &str) -> Partial {
    let scan = scan(line, false).expect("a lenient scan does not fail");
    let mut words = scan.tail;
    let current = match scan.open {
        Some(word) => word,
        None => Word {
            text: String::new(),
            start: line.len(),
            end: line.len(),
            tilde: false,
        },
    };
    // A word that reaches the end of the line is still being typed.
    if current.text.is_empty()
        && current.start == line.len()
        && let Some(last) = words.last()
        && last.end == line.len()
    {
        let last = words.pop().expect("checked above");
        return Partial {
            words,
            current: last,
        };
    }
    Partial { words, current }
}

struct Scan {
    commands: Vec<Command>,
    /// The words after the last `;` or new line.
    tail: Vec<Word>,
    /// The unfinished word at the end, in a lenient scan.
    open: Option<Word>,
}

// One loop over the characters, as a shell reads them: quotes, escapes,
// separators and the word being built are one state, which functions of
// their own would have to pass back and forth at every character.
fn scan(line: &str, strict: bool) -> Result<Scan, SplitError> {
    let mut commands = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut chars = line.char_indices().peekable();
    // An unclosed quote: which, where, and the word it leaves unfinished.
    let mut unclosed: Option<(char, usize, Word)> = None;
    'line: while let Some(&(i, c)) = chars.peek() {
        if c == ';' || c == '\n' {
            chars.next();
            end_command(&mut commands, &mut words);
            continue;
        }
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            while chars.next_if(|&(_, c)| c != '\n').is_some() {}
            continue;
        }
        // One word, up to unquoted white space or `;`.
        let start = i;
        let mut text = String::new();
        let tilde = c == '~'
            && line[i + 1..]
                .chars()
                .next()
                .is_none_or(|n| n == '/' || n == ';' || n.is_whitespace());
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() || c == ';' {
                break;
            }
            chars.next();
            match c {
                '\'' => {
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '\'' {
                            closed = true;
                            break;
                        }
                        text.push(c);
                    }
                    if !closed {
                        unclosed = Some(('\'', i, Word::unfinished(text, start, line)));
                        break 'line;
                    }
                }
                '"' => {
                    let mut closed = false;
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\\' => match chars.next_if(|&(_, c)| matches!(c, '"' | '\\')) {
                                Some((_, escaped)) => text.push(escaped),
                                None => text.push('\\'),
                            },
                            c => text.push(c),
                        }
                    }
                    if !closed {
                        unclosed = Some(('"', i, Word::unfinished(text, start, line)));
                        break 'line;
                    }
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => text.push(escaped),
                    None if strict => return Err(SplitError::TrailingBackslash { at: i }),
                    None => {}
                },
                c => {
                    if strict && let Some(what) = unsupported(c) {
                        return Err(SplitError::Unsupported { ch: c, what, at: i });
                    }
                    text.push(c);
                }
            }
        }
        let end = chars.peek().map(|&(i, _)| i).unwrap_or(line.len());
        words.push(Word {
            text,
            start,
            end,
            tilde,
        });
    }
    if let Some((quote, at, _)) = &unclosed
        && strict
    {
        return Err(SplitError::UnclosedQuote {
            quote: *quote,
            at: *at,
        });
    }
    let tail = words.clone();
    end_command(&mut commands, &mut words);
    Ok(Scan {
        commands,
        tail,
        open: unclosed.map(|(_, _, word)| word),
    })
}

impl Word {
    /// The word being typed inside an open quote, up to the end of the line.
    fn unfinished(text: String, start: usize, line: &str) -> Word {
        Word {
            text,
            start,
            end: line.len(),
            tilde: false,
        }
    }
}

fn end_command(commands: &mut Vec<Command>, words: &mut Vec<Word>) {
    if !words.is_empty() {
        commands.push(Command {
            words: std::mem::take(words),
        });
    }
}

/// The words of a command without a leading `qyv`, which the shell allows
/// (out of habit, or pasted from elsewhere).
pub fn without_qyv(words: &[Word]) -> &[Word] {
    match words.split_first() {
        Some((first, rest)) if first.text == "qyv" => rest,
        _ => words,
    }
}

/// `word` as the shell reads it back: as it is when it holds nothing
/// special, else in single quotes.
pub fn quote(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ',' | ':' | '=' | '+' | '@' | '%')
        });
    if plain {
        return Cow::Borrowed(word);
    }
    Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<Vec<String>> {
        split(line)
            .unwrap()
            .into_iter()
            .map(|c| c.words.into_iter().map(|w| w.text).collect())
            .collect()
    }

    #[test]
    fn words_quotes_and_separators() {
        assert_eq!(
            texts(r#"run a.qyv -- "two words" 'it''s' x\ y; pwd"#),
            [
                vec!["run", "a.qyv", "--", "two words", "its", "x y"],
                vec!["pwd"]
            ]
        );
        assert_eq!(
            texts("ls\n\n cd /tmp ;; "),
            [vec!["ls"], vec!["cd", "/tmp"]]
        );
        assert_eq!(texts(r#"a "q\"\\\n""#), [vec!["a", "q\"\\\\n"]]);
        assert_eq!(texts("# only a comment"), Vec::<Vec<String>>::new());
        assert_eq!(texts("ls # the rest\npwd"), [vec!["ls"], vec!["pwd"]]);
        assert_eq!(texts("echo a#b"), [vec!["echo", "a#b"]]);
        assert_eq!(
            texts("run 'a;b' \"|\" '$X'"),
            [vec!["run", "a;b", "|", "$X"]]
        );
    }

    #[test]
    fn spans_cover_the_typed_word() {
        let line = r#"run  "my app.qyv"  x"#;
        let cmd = &split(line).unwrap()[0];
        let w = &cmd.words[1];
        assert_eq!(&line[w.start..w.end], "\"my app.qyv\"");
        assert_eq!(cmd.source(line), r#"run "my app.qyv" x"#);
    }

    #[test]
    fn tilde_only_at_the_start_and_unquoted() {
        let cmds = split("cd ~; cd ~/x; cd '~'; cd a~; cd ~user").unwrap();
        let tildes: Vec<bool> = cmds.iter().map(|c| c.words[1].tilde).collect();
        assert_eq!(tildes, [true, true, false, false, false]);
        assert_eq!(cmds[1].words[1].expanded(Some("/home/u")), "/home/u/x");
        assert_eq!(cmds[1].words[1].expanded(None), "~/x");
    }

    #[test]
    fn refuses_what_it_does_not_do() {
        let err = split("run a.qyv > out.txt").unwrap_err();
        assert!(matches!(
            err,
            SplitError::Unsupported {
                ch: '>',
                at: 10,
                ..
            }
        ));
        assert!(
            err.to_string().contains("redirections are not supported"),
            "{err}"
        );
        assert!(matches!(
            split("run x | y").unwrap_err(),
            SplitError::Unsupported { ch: '|', .. }
        ));
        assert!(matches!(
            split("run $HOME").unwrap_err(),
            SplitError::Unsupported { ch: '$', .. }
        ));
        let err = split("ls\nrun \"a").unwrap_err();
        assert_eq!(err, SplitError::UnclosedQuote { quote: '"', at: 7 });
        assert_eq!(err.position("ls\nrun \"a"), (2, 5));
        assert!(matches!(
            split("ls \\").unwrap_err(),
            SplitError::TrailingBackslash { at: 3 }
        ));
    }

    #[test]
    fn partial_lines_for_completion() {
        let p = split_partial("run --me");
        assert_eq!(p.words.len(), 1);
        assert_eq!(p.current.text, "--me");
        assert_eq!(p.current.start, 4);

        let p = split_partial("run ");
        assert_eq!(p.words.len(), 1);
        assert_eq!((p.current.text.as_str(), p.current.start), ("", 4));

        let p = split_partial("ls; run 'my fi");
        assert_eq!(p.words.len(), 1);
        assert_eq!(p.words[0].text, "run");
        assert_eq!((p.current.text.as_str(), p.current.start), ("my fi", 8));

        let p = split_partial("");
        assert!(p.words.is_empty());
        assert_eq!(p.current.text, "");

        let p = split_partial("ls;");
        assert!(p.words.is_empty(), "{p:?}");

        // Characters refused when running are plain text while typing.
        let p = split_partial("run a>b");
        assert_eq!(p.current.text, "a>b");
    }

    #[test]
    fn quote_round_trips() {
        for w in ["plain", "a b", "it's", "", "x;y", "~/a", "$X", "ü.wasm"] {
            let q = quote(w);
            assert_eq!(texts(&format!("cmd {q}"))[0][1], w, "{q}");
        }
        assert_eq!(quote("dir/app.qyv"), "dir/app.qyv");
        assert_eq!(quote("a b"), "'a b'");
    }
}
