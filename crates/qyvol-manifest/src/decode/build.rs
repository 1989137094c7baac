//! How `qyv build` makes the entrypoint: `build:`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Decoder, Field, Result, Section};
use crate::error::ErrorKind;
use crate::model::Build;
use crate::yaml::{Node, Value};

/// `build:` (as in Spin's `[component.build]`).
pub(super) const BUILD: Section<Build> = Section {
    description: "How the entrypoint is built, in the style of Spin's build section.",
    expected: "a mapping like {command: \"make\", workdir: ., watch: [\"src/*.c\"]}",
    fields: &[
        Field {
            name: "command",
            required: Some("add the command that builds the entrypoint, e.g. \"command: make\""),
            decode: |d, node, path, b| {
                b.command = d.command(node, path)?;
                Ok(())
            },
            schema: || json!({"type": "string", "minLength": 1, "description": "Shell command (run by sh -c) that writes the entrypoint."}),
        },
        Field {
            name: "workdir",
            required: None,
            decode: |d, node, path, b| {
                b.workdir = Some(d.relative_path(node, path)?);
                Ok(())
            },
            schema: || json!({"type": "string", "minLength": 1, "description": "Folder the command runs in, relative to this file, without ..; default: this file's folder."}),
        },
        Field {
            name: "watch",
            required: None,
            decode: |d, node, path, b| {
                b.watch = d.patterns(node, path)?;
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Glob patterns (*, ?, **) of the source files, relative to workdir: the entrypoint is rebuilt only when one is newer, and a watching build rebuilds when one changes.",
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "array", "items": {"type": "string", "minLength": 1}},
                    ],
                })
            },
        },
    ],
};

impl Decoder<'_> {
    /// `build.command`: a shell command, not blank.
    fn command(&self, node: &Node, path: &str) -> Result<String> {
        let text = self.text(node, path, "a shell command")?;
        if text.trim().is_empty() {
            return Err(self.error(
                ErrorKind::Value,
                Some(node.pos),
                path,
                "empty command; write the command that builds the entrypoint",
            ));
        }
        Ok(text.to_string())
    }

    /// A path inside the manifest's folder: relative, without `..`.
    fn relative_path(&self, node: &Node, field: &str) -> Result<PathBuf> {
        let text = self.text(node, field, "a folder relative to the manifest")?;
        let invalid =
            |message: String| self.error(ErrorKind::Value, Some(node.pos), field, message);
        if text.contains('\0') {
            return Err(invalid("a path cannot contain a NUL character".into()));
        }
        if text.trim().is_empty() {
            return Err(invalid(
                "empty path; use \".\" for the manifest's folder".into(),
            ));
        }
        let path = Path::new(text);
        if path.is_absolute()
            || path
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(invalid(format!(
                "{text:?} leaves the app's folder; write a folder relative to the manifest, without \"..\""
            )));
        }
        Ok(path.to_path_buf())
    }

    /// A list of glob patterns (`*`, `?`, `**`), or one pattern alone.
    fn patterns(&mut self, node: &Node, field: &str) -> Result<Vec<String>> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Scalar(_) => vec![node],
            Value::Map(_) => {
                return Err(self.wrong_type(
                    node,
                    field,
                    "a list of patterns like [\"src/**/*.rs\"]",
                ));
            }
        };
        let mut patterns = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("{field}[{i}]");
            self.locations.insert(path.clone(), item.pos.pair());
            let text = self.text(item, &path, "a pattern like \"src/**/*.rs\"")?;
            let invalid =
                |message: String| self.error(ErrorKind::Value, Some(item.pos), &path, message);
            if text.trim().is_empty() {
                return Err(invalid("empty pattern".into()));
            }
            if text.starts_with('/') || text.split('/').any(|part| part == "..") {
                return Err(invalid(format!(
                    "{text:?} leaves the build folder; patterns are relative to build.workdir, without \"..\""
                )));
            }
            patterns.push(text.to_string());
        }
        Ok(patterns)
    }
}
