//! The one error type of the crate: a message tied to a place in a `.qyv`
//! file, printed the way compilers do so editors and terminals can jump to it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What went wrong, for callers that branch on it (exit codes, tests); the
/// text for humans is in [`ManifestError::message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Read,
    /// The bytes are not UTF-8 text.
    Encoding,
    /// Nothing but blanks and comments.
    Empty,
    /// The YAML itself is malformed.
    Syntax,
    /// A key the schema does not know.
    UnknownField,
    /// A required key is absent (or null).
    Missing,
    /// A value of the wrong shape (a list where a string belongs, ...).
    Type,
    /// A value of the right shape that breaks a rule (bad name, bad size, ...).
    Value,
    /// The same key, or the same mount target, given twice.
    Duplicate,
    /// Two fields that contradict each other (a write mount under `fs: read`).
    Conflict,
    /// A file the manifest names is missing or is not what it should be.
    File,
    /// Valid, but the feature is not built yet.
    Unsupported,
    /// Reported later by the runtime at a field's position.
    Runtime,
}

/// An error in a manifest, with the place it comes from.
///
/// Displays on one line as
/// `{file}:{line}:{col}: {field}: {message} (did you mean "{suggestion}"?); {hint}`,
/// each part present only when known.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ManifestError {
    /// The manifest's path as the caller gave it.
    pub file: PathBuf,
    /// 1-based line, when the error has a place in the text.
    pub line: Option<usize>,
    /// 1-based column, in characters.
    pub column: Option<usize>,
    /// Dotted path of the field (`permissions.net[1]`, `fs[0].mode`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// A close valid value, printed as `(did you mean "x"?)`.
    pub suggestion: Option<String>,
    /// What to do about it, printed after the suggestion.
    pub hint: Option<String>,
    /// Category of the error.
    pub kind: ErrorKind,
    // Arc keeps the error cloneable while still exposing the I/O cause.
    #[source]
    source: Option<Arc<std::io::Error>>,
}

impl ManifestError {
    /// An error about `file` with no position yet; add details with the
    /// `with_*` methods.
    pub fn new(file: &Path, kind: ErrorKind, message: impl Into<String>) -> Self {
        ManifestError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
            suggestion: None,
            hint: None,
            kind,
            source: None,
        }
    }

    /// Places the error at a 1-based line and column.
    #[must_use]
    pub fn at(mut self, pos: Option<(usize, usize)>) -> Self {
        if let Some((line, column)) = pos {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }

    /// Names the field the error is about.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = if field.is_empty() { None } else { Some(field) };
        self
    }

    /// Adds a "did you mean" candidate.
    #[must_use]
    pub fn with_suggestion(mut self, suggestion: Option<impl Into<String>>) -> Self {
        self.suggestion = suggestion.map(Into::into);
        self
    }

    /// Adds advice printed after the message.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn with_io(mut self, err: std::io::Error) -> Self {
        self.source = Some(Arc::new(err));
        self
    }

    /// The manifest's path as given.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// `(line, column)`, 1-based, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        Some((self.line?, self.column.unwrap_or(1)))
    }

    /// The field path, when the error is about one field.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The message without file, position, field, suggestion or hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The "did you mean" candidate.
    pub fn suggestion(&self) -> Option<&str> {
        self.suggestion.as_deref()
    }

    /// The category.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, " (did you mean \"{suggestion}\"?)")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_every_part_in_order() {
        let err = ManifestError::new(Path::new("hello.qyv"), ErrorKind::Value, "bad")
            .at(Some((7, 3)))
            .with_field("permissions.fs")
            .with_suggestion(Some("read"))
            .with_hint("fix it");
        assert_eq!(
            err.to_string(),
            "hello.qyv:7:3: permissions.fs: bad (did you mean \"read\"?); fix it"
        );
    }

    #[test]
    fn display_without_position_or_field() {
        let err = ManifestError::new(Path::new("dir/a.qyv"), ErrorKind::Empty, "empty");
        assert_eq!(err.to_string(), "dir/a.qyv: empty");
        assert_eq!(err.position(), None);
    }

    #[test]
    fn io_cause_is_the_source() {
        use std::error::Error as _;
        let err = ManifestError::new(Path::new("a.qyv"), ErrorKind::Read, "cannot read")
            .with_io(std::io::Error::other("boom"));
        assert_eq!(err.source().map(|s| s.to_string()), Some("boom".into()));
    }
}
