//! From the spanned YAML tree to a checked [`Manifest`], one field at a time,
//! so every error names the field's path and the place it was written.
//!
//! Each section of a manifest (the top level, `permissions`, a mount,
//! `limits`, `http`, `scheduler`, `build`) is a table of [`Field`]s, one
//! entry per field holding its name, how its value is read and its JSON
//! Schema. The decoder reads the tables (which names a section accepts, "did
//! you mean" for the others, which must be given) and so does the schema
//! ([`crate::json_schema`]): a new field is one entry in its section's table
//! and one field of the model, and a test checks that the two name the same
//! fields.
//!
//! A null value (`key:` with nothing, `~`, `null`) means "not given" for every
//! optional field, the way `fuel: null` reads in the design's example.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, ManifestError};
use crate::fields::MANIFEST_VERSION;
use crate::model::{AppType, Limits, Manifest, Permissions, Runtime};
use crate::suggest::did_you_mean;
use crate::yaml::{self, Entry, Node, Pos, Value, YamlErrorKind};

mod access;
mod app;
mod build;
mod running;

use access::check_mounts;
pub(crate) use app::MANIFEST;
use running::{check_http, check_restart};

type Result<T> = std::result::Result<T, ManifestError>;

/// Parses and checks a manifest's text; paths are not touched.
pub(crate) fn decode(text: &str, file: &Path, base_dir: &Path) -> Result<Manifest> {
    let mut decoder = Decoder {
        file,
        locations: BTreeMap::new(),
    };
    let root = match parse_yaml(text, file)? {
        Some(root) => root,
        None => {
            return Err(ManifestError::new(
                file,
                ErrorKind::Empty,
                "the manifest is empty; it needs at least a name and an entrypoint",
            )
            .with_hint("e.g. \"name: hello\" and \"entrypoint: hello.wasm\""));
        }
    };
    let mut manifest = decoder.manifest(&root)?;
    manifest.file = file.to_path_buf();
    manifest.base_dir = base_dir.to_path_buf();
    manifest.locations = decoder.locations;
    check_mounts(&manifest)?;
    check_restart(&manifest)?;
    check_http(&manifest)?;
    Ok(manifest)
}

/// The YAML tree of a file's text; `None` when it holds nothing but
/// blanks, comments and nulls.
pub(crate) fn parse_yaml(text: &str, file: &Path) -> Result<Option<Node>> {
    match yaml::parse(text) {
        Ok(Some(root)) if !root.is_null() => Ok(Some(root)),
        Ok(_) => Ok(None),
        Err(err) => {
            let (kind, message) = match err.kind {
                YamlErrorKind::Syntax => {
                    (ErrorKind::Syntax, format!("invalid YAML: {}", err.message))
                }
                YamlErrorKind::Structure => (ErrorKind::Syntax, err.message),
                YamlErrorKind::Duplicate => (ErrorKind::Duplicate, err.message),
            };
            let mut error = ManifestError::new(file, kind, message).at(err.pos.map(Pos::pair));
            if let Some(field) = err.field {
                error = error.with_field(field);
            }
            Err(error)
        }
    }
}

/// One field of a section: its name, how its value is read into the
/// section's Rust value, and its JSON Schema.
pub(crate) struct Field<T> {
    pub(crate) name: &'static str,
    /// For a field that must be given: what the "missing" error suggests.
    pub(crate) required: Option<&'static str>,
    /// Reads a value other than null into the section's value; `path`
    /// names the field in messages (`fs[0].target`).
    pub(crate) decode: fn(&mut Decoder<'_>, node: &Node, path: &str, value: &mut T) -> Result<()>,
    /// The value's JSON Schema, with its description.
    pub(crate) schema: fn() -> serde_json::Value,
}

/// A mapping with fixed fields.
pub(crate) struct Section<T: 'static> {
    /// What the section is for, as the schema says it.
    pub(crate) description: &'static str,
    /// What a value that is not a mapping is told it should have been.
    pub(crate) expected: &'static str,
    /// In the order messages ("allowed here: ...") list them.
    pub(crate) fields: &'static [Field<T>],
}

impl<T> Section<T> {
    fn field(&self, name: &str) -> Option<&Field<T>> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.fields.iter().map(|f| f.name).collect()
    }
}

/// Turns YAML nodes into typed values with errors at their places; the
/// user config file (`config.rs`) decodes with it too.
pub(crate) struct Decoder<'f> {
    pub(crate) file: &'f Path,
    pub(crate) locations: BTreeMap<String, (usize, usize)>,
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// "one of a, b, c" or just "a".
fn one_of(names: &[&str]) -> String {
    match names {
        [one] => (*one).to_string(),
        _ => format!("one of {}", names.join(", ")),
    }
}

impl Decoder<'_> {
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        pos: Option<Pos>,
        field: &str,
        message: impl Into<String>,
    ) -> ManifestError {
        ManifestError::new(self.file, kind, message)
            .at(pos.map(Pos::pair))
            .with_field(field)
    }

    pub(crate) fn wrong_type(&self, node: &Node, field: &str, expected: &str) -> ManifestError {
        self.error(
            ErrorKind::Type,
            Some(node.pos),
            field,
            format!("expected {expected}, got {}", node.describe()),
        )
    }

    pub(crate) fn missing(&self, pos: Option<Pos>, field: &str, hint: &str) -> ManifestError {
        self.error(ErrorKind::Missing, pos, field, "missing")
            .with_hint(hint)
    }

    /// The entries of a mapping, after refusing names outside `allowed` and
    /// recording where each value sits.
    pub(crate) fn mapping<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
        expected: &str,
    ) -> Result<&'n [Entry]> {
        self.entries(
            node,
            path,
            expected,
            |key| allowed.contains(&key),
            || allowed.to_vec(),
        )
    }

    /// [`Decoder::mapping`], with the test of a name and the list of names
    /// (made only for an error) apart. Every name is checked, and every
    /// place recorded, before a value is read: an unknown field is the
    /// error, wherever it is.
    fn entries<'n, 'a>(
        &mut self,
        node: &'n Node,
        path: &str,
        expected: &str,
        known: impl Fn(&str) -> bool,
        names: impl FnOnce() -> Vec<&'a str>,
    ) -> Result<&'n [Entry]> {
        let Value::Map(entries) = &node.value else {
            return Err(self.wrong_type(node, path, expected));
        };
        for entry in entries {
            if !known(&entry.key) {
                let allowed = names();
                return Err(self
                    .error(
                        ErrorKind::UnknownField,
                        Some(entry.key_pos),
                        path,
                        format!("unknown field {:?}", entry.key),
                    )
                    .with_suggestion(did_you_mean(&entry.key, &allowed))
                    .with_hint(format!("allowed here: {}", allowed.join(", "))));
            }
            self.locations
                .insert(join(path, &entry.key), entry.value.pos.pair());
        }
        Ok(entries)
    }

    /// Reads the mapping `node` into `value` by the section's table, then
    /// reports the first required field that was not given.
    pub(crate) fn section<T>(
        &mut self,
        node: &Node,
        path: &str,
        section: &Section<T>,
        mut value: T,
    ) -> Result<T> {
        let entries = self.entries(
            node,
            path,
            section.expected,
            |key| section.field(key).is_some(),
            || section.names(),
        )?;
        for entry in entries {
            // `entries` has refused every name the table does not have.
            let Some(field) = section.field(&entry.key) else {
                continue;
            };
            if entry.value.is_null() {
                // A required field of the top level written without a value
                // is missing where it is written; anywhere else, null is the
                // same as leaving the field out.
                match field.required {
                    Some(hint) if path.is_empty() => {
                        return Err(self.missing(Some(entry.value.pos), field.name, hint));
                    }
                    _ => continue,
                }
            }
            (field.decode)(self, &entry.value, &join(path, field.name), &mut value)?;
        }
        let given = |name: &str| entries.iter().any(|e| e.key == name && !e.value.is_null());
        for field in section.fields {
            if let Some(hint) = field.required
                && !given(field.name)
            {
                // A section is where it starts; the top level is nowhere in
                // particular.
                let pos = (!path.is_empty()).then_some(node.pos);
                return Err(self.missing(pos, &join(path, field.name), hint));
            }
        }
        Ok(value)
    }

    /// A scalar's text, whatever YAML type it would have: `args: [1, true]`
    /// are the strings "1" and "true", as in Docker Compose. Null is refused.
    pub(crate) fn text<'n>(&self, node: &'n Node, path: &str, expected: &str) -> Result<&'n str> {
        match &node.value {
            Value::Scalar(s) if !s.is_null() => Ok(&s.text),
            _ => Err(self.wrong_type(node, path, expected)),
        }
    }

    fn keyword<T>(
        &self,
        node: &Node,
        path: &str,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T> {
        let expected = one_of(names);
        let text = match &node.value {
            Value::Scalar(s) if !s.is_null() => &s.text,
            _ => return Err(self.wrong_type(node, path, &expected)),
        };
        parse(text).ok_or_else(|| {
            self.error(
                ErrorKind::Value,
                Some(node.pos),
                path,
                format!("expected {expected}; got {}", node.describe()),
            )
            .with_suggestion(did_you_mean(text, names))
        })
    }

    pub(crate) fn boolean(&self, node: &Node, path: &str) -> Result<bool> {
        let scalar = match &node.value {
            Value::Scalar(s) if !s.is_null() => s,
            _ => return Err(self.wrong_type(node, path, "true or false")),
        };
        scalar.as_bool().ok_or_else(|| {
            let err = self.wrong_type(node, path, "true or false");
            match scalar.text.to_ascii_lowercase().as_str() {
                "yes" | "no" | "on" | "off" | "y" | "n" => {
                    err.with_hint("YAML 1.2 reads only true and false as booleans")
                }
                _ => err,
            }
        })
    }

    /// A whole number; sign and range are the caller's to check.
    fn integer(&self, node: &Node, path: &str) -> Result<i128> {
        let text = self.text(node, path, "a whole number")?;
        text.parse::<i128>().map_err(|err| {
            if matches!(
                err.kind(),
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
            ) {
                self.error(
                    ErrorKind::Value,
                    Some(node.pos),
                    path,
                    format!("{text} is too large"),
                )
            } else {
                self.wrong_type(node, path, "a whole number")
            }
        })
    }

    /// A whole number within `min..=max`.
    fn bounded(&self, node: &Node, path: &str, min: u32, max: u32, what: &str) -> Result<u32> {
        let value = self.integer(node, path)?;
        u32::try_from(value)
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| {
                self.error(
                    ErrorKind::Value,
                    Some(node.pos),
                    path,
                    format!("{what}: must be between {min} and {max}; got {value}"),
                )
            })
    }

    fn manifest(&mut self, root: &Node) -> Result<Manifest> {
        let blank = Manifest {
            name: String::new(),
            version: None,
            manifest_version: MANIFEST_VERSION,
            entrypoint: PathBuf::new(),
            runtime: Runtime::default(),
            app_type: AppType::default(),
            language: None,
            args: Vec::new(),
            env: Vec::new(),
            permissions: Permissions::default(),
            mounts: Vec::new(),
            limits: Limits::default(),
            restart: None,
            http: None,
            replicas: None,
            scheduler: None,
            rollout: None,
            build: None,
            component: false,
            file: PathBuf::new(),
            base_dir: PathBuf::new(),
            locations: BTreeMap::new(),
        };
        self.section(root, "", &MANIFEST, blank)
    }
}

#[cfg(test)]
pub(crate) mod tests;
