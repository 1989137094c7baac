//! The docs say what is true: docs/languages.md's table quotes each
//! contract app's build command exactly, and says component or core module
//! and exit-code behaviour as the built files and the contract list do; the
//! map of the code (docs/ARCHITECTURE.md) and the README name only files
//! that exist.

use crate::common::*;

fn rows() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(repo().join("docs/languages.md")).unwrap();
    // The first table: the one under the page's title.
    let table = doc.split("\n## ").next().unwrap();
    table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Language |"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The `command:` of an example manifest, as YAML reads the JSON-style
/// string it is written as.
fn build_command(lang: &str) -> String {
    let text = std::fs::read_to_string(example(&format!("{lang}/{lang}.qyv"))).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("  command: "))
        .unwrap_or_else(|| panic!("{lang}.qyv has no build.command"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn the_languages_table_matches_the_examples() {
    let rows = rows();
    for (lang, display, exact) in CONTRACT_APPS {
        let row = rows
            .iter()
            .find(|r| r[0] == *display)
            .unwrap_or_else(|| panic!("docs/languages.md has no row for {display}"));
        assert_eq!(row.len(), 6, "{display}: {row:?}");
        assert_eq!(row[2], format!("`{}`", build_command(lang)), "{display}");
        let wasm = std::fs::read(example(&format!("{lang}/{lang}.wasm"))).unwrap();
        let component = wasm[4..8] == [0x0d, 0x00, 0x01, 0x00];
        assert_eq!(
            row[3].starts_with("component"),
            component,
            "{display}: {}",
            row[3]
        );
        assert_eq!(row[4].starts_with("exact"), *exact, "{display}: {}", row[4]);
        assert_eq!(row[5], "works: contract test passes", "{display}");
    }
    // Every row is a contract app or says why there is none.
    for row in &rows {
        let listed = CONTRACT_APPS.iter().any(|(_, d, _)| *d == row[0]);
        assert!(
            listed || row.last().unwrap().starts_with("not available"),
            "{row:?}"
        );
    }
}

/// The repository paths a markdown file names in backticks. A path counts
/// when its first part is something at the top of the repository
/// (`crates/…`, `docs/…`, `README.md`); inside a table whose first header
/// is a folder in backticks (`| \`crates/x/src/\` | what |`), a file name
/// or a path with a `/` in its rows is relative to that folder. Anything
/// else in backticks (code, `node.db`, `/v1/apps`) is not a path here.
fn named_paths(doc: &str) -> Vec<(usize, std::path::PathBuf)> {
    let root = repo();
    let lines: Vec<&str> = doc.lines().collect();
    let mut base: Option<String> = None;
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with('|') {
            base = None;
        } else if lines
            .get(i + 1)
            .is_some_and(|next| next.starts_with("|---"))
        {
            // A table's header row: its first cell may name its folder.
            base = line
                .trim_start_matches('|')
                .split('|')
                .next()
                .map(str::trim)
                .and_then(|c| c.strip_prefix('`')?.strip_suffix('`'))
                .filter(|c| c.ends_with('/'))
                .map(str::to_string);
        }
        for token in line.split('`').skip(1).step_by(2) {
            let plain = !token.is_empty()
                && !token.starts_with(['/', '.'])
                && !token.contains("..")
                && token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
            if !plain {
                continue;
            }
            let first = token.split('/').next().unwrap();
            if root.join(first).exists() && (token.contains('/') || root.join(token).is_file()) {
                found.push((i + 1, root.join(token)));
            } else if let Some(base) = &base {
                let file = [".rs", ".md", ".json", ".sh", ".toml"]
                    .iter()
                    .any(|ext| token.ends_with(ext));
                if (file || token.contains('/')) && token != base.as_str() {
                    found.push((i + 1, root.join(base).join(token)));
                }
            }
        }
    }
    found
}

#[test]
fn architecture_names_only_files_that_exist() {
    for doc in ["docs/ARCHITECTURE.md", "README.md"] {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        let named = named_paths(&text);
        assert!(named.len() > 10, "{doc}: only {} paths found", named.len());
        let missing: Vec<String> = named
            .iter()
            .filter(|(_, p)| !p.exists())
            .map(|(line, p)| format!("{doc}:{line}: {}", p.display()))
            .collect();
        assert!(
            missing.is_empty(),
            "files named but not there:\n{}",
            missing.join("\n")
        );
    }
}

/// The check itself: a name that is not there is caught, in prose and in a
/// table with a folder, and what is not a path is left alone.
#[test]
fn the_path_check_catches_a_missing_file() {
    let doc = "See `crates/qyv/src/nope.rs` and `node.db`.\n\n| `crates/qyv/src/` | what |\n|---|---|\n| `main.rs`, `gone.rs` | x |\n\nAfter: `main.rs`.\n";
    let named: Vec<String> = named_paths(doc)
        .into_iter()
        .map(|(line, p)| format!("{line}:{}", p.strip_prefix(repo()).unwrap().display()))
        .collect();
    assert_eq!(
        named,
        [
            "1:crates/qyv/src/nope.rs",
            "3:crates/qyv/src",
            "5:crates/qyv/src/main.rs",
            "5:crates/qyv/src/gone.rs"
        ]
    );
}
