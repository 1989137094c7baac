//! How `qyv build` makes the entrypoint: `build:`.

use std::path::{Path, PathBuf};

use super::{Decoder, Result, join};
use crate::error::ErrorKind;
use crate::fields;
use crate::model::Build;
use crate::yaml::{Node, Value};

impl Decoder<'_> {
    pub(super) fn build(&mut self, node: &Node) -> Result<Build> {
        let entries = self.mapping(
            node,
            "build",
            fields::BUILD,
            "a mapping like {command: \"make\", workdir: ., watch: [\"src/*.c\"]}",
        )?;
        let mut command = None;
        let mut workdir = None;
        let mut watch = Vec::new();
        for entry in entries {
            let node = &entry.value;
            if node.is_null() {
                continue;
            }
            let path = join("build", &entry.key);
            match entry.key.as_str() {
                "command" => {
                    let text = self.text(node, &path, "a shell command")?;
                    if text.trim().is_empty() {
                        return Err(self.error(
                            ErrorKind::Value,
                            Some(node.pos),
                            &path,
                            "empty command; write the command that builds the entrypoint",
                        ));
                    }
                    command = Some(text.to_string());
                }
                "workdir" => workdir = Some(self.relative_path(node, &path)?),
                "watch" => watch = self.patterns(node, &path)?,
                other => return Err(self.internal(entry, &join("build", other))),
            }
        }
        let Some(command) = command else {
            return Err(self.missing(
                Some(node.pos),
                "build.command",
                "add the command that builds the entrypoint, e.g. \"command: make\"",
            ));
        };
        Ok(Build {
            command,
            workdir,
            watch,
        })
    }

    /// A path inside the manifest's folder: relative, without `..`.
    pub(super) fn relative_path(&self, node: &Node, field: &str) -> Result<PathBuf> {
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
    pub(super) fn patterns(&mut self, node: &Node, field: &str) -> Result<Vec<String>> {
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
