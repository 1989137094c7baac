//! docs/languages.md says what the examples do: its table quotes each
//! contract app's build command exactly, and says component or core module
//! and exit-code behaviour as the built files and the contract list do.

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
