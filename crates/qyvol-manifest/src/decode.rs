//! From the spanned YAML tree to a checked [`Manifest`], one field at a time,
//! so every error names the field's path and the place it was written.
//!
//! A null value (`key:` with nothing, `~`, `null`) means "not given" for every
//! optional field, the way `fuel: null` reads in the design's example.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, ManifestError};
use crate::fields::{self, MANIFEST_VERSION};
use crate::model::{AppType, Limits, Manifest, Permissions, Restart, Runtime};
use crate::suggest::did_you_mean;
use crate::yaml::{self, Entry, Node, Pos, Value, YamlErrorKind};

mod access;
mod app;
mod build;
mod running;

use access::check_mounts;
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
        let Value::Map(entries) = &node.value else {
            return Err(self.wrong_type(node, path, expected));
        };
        for entry in entries {
            if !allowed.contains(&entry.key.as_str()) {
                return Err(self
                    .error(
                        ErrorKind::UnknownField,
                        Some(entry.key_pos),
                        path,
                        format!("unknown field {:?}", entry.key),
                    )
                    .with_suggestion(did_you_mean(&entry.key, allowed))
                    .with_hint(format!("allowed here: {}", allowed.join(", "))));
            }
            self.locations
                .insert(join(path, &entry.key), entry.value.pos.pair());
        }
        Ok(entries)
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
        let entries = self.mapping(
            root,
            "",
            fields::TOP_LEVEL,
            "a mapping of fields at the top level (name: ..., entrypoint: ...)",
        )?;
        let mut manifest = Manifest {
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
            build: None,
            component: false,
            file: PathBuf::new(),
            base_dir: PathBuf::new(),
            locations: BTreeMap::new(),
        };
        let mut has_name = false;
        let mut has_entrypoint = false;
        for entry in entries {
            let key = entry.key.as_str();
            let node = &entry.value;
            // The two required fields report their own "missing"; for the
            // others, null is the same as leaving the field out.
            if node.is_null() && key != "name" && key != "entrypoint" {
                continue;
            }
            match key {
                "name" => {
                    manifest.name = self.name(node)?;
                    has_name = true;
                }
                "version" => manifest.version = Some(self.version(node)?),
                "manifest_version" => manifest.manifest_version = self.manifest_version(node)?,
                "entrypoint" => {
                    manifest.entrypoint = self.entrypoint(node)?;
                    has_entrypoint = true;
                }
                "runtime" => {
                    manifest.runtime =
                        self.keyword(node, key, Runtime::NAMES, Runtime::from_name)?
                }
                "type" => {
                    manifest.app_type =
                        self.keyword(node, key, AppType::NAMES, AppType::from_name)?
                }
                "language" => {
                    manifest.language = Some(self.text(node, key, "a string")?.to_string())
                }
                "args" => manifest.args = self.args(node)?,
                "env" => manifest.env = self.env(node)?,
                "permissions" => manifest.permissions = self.permissions(node)?,
                "fs" => manifest.mounts = self.mounts(node)?,
                "limits" => manifest.limits = self.limits(node)?,
                "restart" => {
                    manifest.restart =
                        Some(self.keyword(node, key, Restart::NAMES, Restart::from_name)?)
                }
                "http" => manifest.http = Some(self.http(node)?),
                "replicas" => manifest.replicas = Some(self.replicas(node)?),
                "scheduler" => manifest.scheduler = Some(self.scheduler(node)?),
                "build" => manifest.build = Some(self.build(node)?),
                "component" => manifest.component = self.boolean(node, key)?,
                // `mapping` has refused every name outside TOP_LEVEL; reaching
                // this arm means a name was added there but not here.
                other => return Err(self.internal(entry, other)),
            }
        }
        if !has_name {
            return Err(self.missing(
                None,
                "name",
                "add a name for the app, e.g. \"name: hello\" (lowercase letters, digits and '-')",
            ));
        }
        if !has_entrypoint {
            return Err(self.missing(
                None,
                "entrypoint",
                "add the path of the .wasm file, e.g. \"entrypoint: app.wasm\"",
            ));
        }
        Ok(manifest)
    }

    fn internal(&self, entry: &Entry, field: &str) -> ManifestError {
        self.error(
            ErrorKind::UnknownField,
            Some(entry.key_pos),
            field,
            "this field is listed in the schema but not decoded; this is a bug in qyv",
        )
    }
}

#[cfg(test)]
pub(crate) mod tests;
