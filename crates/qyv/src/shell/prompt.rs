//! The prompt: where the next command runs (the node, or `local`), the
//! working folder, and how the last command ended, as in
//! `local:~/apps/hello [0]> `.

use std::borrow::Cow;
use std::path::Path;

use nu_ansi_term::{Color, Style};
use reedline::{Prompt, PromptEditMode, PromptHistorySearch, PromptHistorySearchStatus};

pub struct ShellPrompt {
    node: String,
    folder: String,
    status: i32,
}

impl ShellPrompt {
    pub fn new(node: Option<&str>, cwd: Option<&Path>, home: Option<&str>, status: i32) -> Self {
        ShellPrompt {
            node: node.unwrap_or("local").to_string(),
            folder: cwd.map_or_else(|| "(removed)".to_string(), |p| short_path(p, home)),
            status,
        }
    }
}

/// `path` with the home folder written `~`.
fn short_path(path: &Path, home: Option<&str>) -> String {
    if let Some(home) = home.filter(|h| !h.is_empty() && *h != "/")
        && let Ok(rest) = path.strip_prefix(home)
    {
        return if rest.as_os_str().is_empty() {
            "~".to_string()
        } else {
            format!("~/{}", rest.display())
        };
    }
    path.display().to_string()
}

impl Prompt for ShellPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "{}:{}",
            Color::Cyan.paint(&self.node),
            Color::Blue.bold().paint(&self.folder)
        ))
    }

    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        let style = if self.status == 0 {
            Style::new().fg(Color::Green)
        } else {
            Style::new().fg(Color::Red).bold()
        };
        Cow::Owned(format!(" {}> ", style.paint(format!("[{}]", self.status))))
    }

    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("... ")
    }

    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let failing = match search.status {
            PromptHistorySearchStatus::Passing => "",
            PromptHistorySearchStatus::Failing => "no match ",
        };
        Cow::Owned(format!("({failing}history search: {}) ", search.term))
    }

    // Colours are in the text already.
    fn get_prompt_color(&self) -> Color {
        Color::Default
    }

    fn get_indicator_color(&self) -> Color {
        Color::Default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> String {
        // Drop colour escapes: ESC [ ... m.
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn shown(p: &ShellPrompt) -> String {
        plain(&format!(
            "{}{}",
            p.render_prompt_left(),
            p.render_prompt_indicator(PromptEditMode::Default)
        ))
    }

    #[test]
    fn shows_node_folder_and_status() {
        let p = ShellPrompt::new(None, Some(Path::new("/home/u/apps")), Some("/home/u"), 0);
        assert_eq!(shown(&p), "local:~/apps [0]> ");
        let p = ShellPrompt::new(
            Some("node-1"),
            Some(Path::new("/srv")),
            Some("/home/u"),
            137,
        );
        assert_eq!(shown(&p), "node-1:/srv [137]> ");
        let p = ShellPrompt::new(None, Some(Path::new("/home/u")), Some("/home/u"), 0);
        assert_eq!(shown(&p), "local:~ [0]> ");
        let p = ShellPrompt::new(None, Some(Path::new("/home/user2")), Some("/home/u"), 0);
        assert_eq!(shown(&p), "local:/home/user2 [0]> ");
        let p = ShellPrompt::new(None, None, None, 1);
        assert_eq!(shown(&p), "local:(removed) [1]> ");
    }
}
