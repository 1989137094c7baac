//! The app's own top-level fields: name, version, entrypoint, arguments and
//! environment.

use std::path::PathBuf;

use super::{Decoder, Result, join};
use crate::error::ErrorKind;
use crate::fields::MANIFEST_VERSION;
use crate::naming;
use crate::yaml::{Node, Value};

impl Decoder<'_> {
    pub(super) fn name(&self, node: &Node) -> Result<String> {
        if node.is_null() {
            return Err(self.missing(
                Some(node.pos),
                "name",
                "add a name for the app, e.g. \"name: hello\" (lowercase letters, digits and '-')",
            ));
        }
        let name = self.text(node, "name", "a string")?;
        naming::check_name(name).map_err(|message| {
            self.error(ErrorKind::Value, Some(node.pos), "name", message)
                .with_suggestion(naming::fix_name(name))
        })?;
        Ok(name.to_string())
    }

    pub(super) fn version(&self, node: &Node) -> Result<String> {
        let version = self.text(node, "version", "a version string like 1.0.0")?;
        if !naming::is_semver(version) {
            let err = self.error(
                ErrorKind::Value,
                Some(node.pos),
                "version",
                format!(
                    "{version:?} is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.0.0, optionally with -pre and +build"
                ),
            );
            let fixed = version.strip_prefix('v').filter(|v| naming::is_semver(v));
            return Err(err.with_suggestion(fixed));
        }
        Ok(version.to_string())
    }

    pub(super) fn manifest_version(&self, node: &Node) -> Result<u32> {
        let version = self.integer(node, "manifest_version")?;
        if version == i128::from(MANIFEST_VERSION) {
            return Ok(MANIFEST_VERSION);
        }
        let message = if version > i128::from(MANIFEST_VERSION) {
            format!(
                "this qyv reads manifest version {MANIFEST_VERSION}; got {version}: upgrade qyv"
            )
        } else {
            format!(
                "this qyv reads manifest version {MANIFEST_VERSION}; got {version}: versions start at 1"
            )
        };
        Err(self.error(
            ErrorKind::Value,
            Some(node.pos),
            "manifest_version",
            message,
        ))
    }

    pub(super) fn entrypoint(&self, node: &Node) -> Result<PathBuf> {
        let hint = "add the path of the .wasm file, e.g. \"entrypoint: app.wasm\"";
        if node.is_null() {
            return Err(self.missing(Some(node.pos), "entrypoint", hint));
        }
        let path = self.text(node, "entrypoint", "the path of a .wasm file")?;
        if path.trim().is_empty() {
            return Err(self.missing(Some(node.pos), "entrypoint", hint));
        }
        if path.contains('\0') {
            return Err(self.error(
                ErrorKind::Value,
                Some(node.pos),
                "entrypoint",
                "a path cannot contain a NUL character",
            ));
        }
        Ok(PathBuf::from(path))
    }

    pub(super) fn args(&mut self, node: &Node) -> Result<Vec<String>> {
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(node, "args", "a list of strings"));
        };
        let mut args = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("args[{i}]");
            self.locations.insert(path.clone(), item.pos.pair());
            args.push(self.text(item, &path, "a string")?.to_string());
        }
        Ok(args)
    }

    pub(super) fn env(&mut self, node: &Node) -> Result<Vec<(String, String)>> {
        let Value::Map(entries) = &node.value else {
            return Err(self.wrong_type(node, "env", "a mapping of NAME: value"));
        };
        let mut env = Vec::with_capacity(entries.len());
        for entry in entries {
            let path = join("env", &entry.key);
            naming::check_env_name(&entry.key).map_err(|message| {
                self.error(ErrorKind::Value, Some(entry.key_pos), "env", message)
            })?;
            self.locations.insert(path.clone(), entry.value.pos.pair());
            if entry.value.is_null() {
                return Err(self
                    .error(
                        ErrorKind::Missing,
                        Some(entry.value.pos),
                        &path,
                        "has no value",
                    )
                    .with_hint(format!("write {}: \"\" for an empty string", entry.key)));
            }
            let value = self.text(&entry.value, &path, "a string")?;
            env.push((entry.key.clone(), value.to_string()));
        }
        Ok(env)
    }
}
