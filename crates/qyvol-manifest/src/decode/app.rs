//! The top level of a manifest: the app's own fields (name, version,
//! entrypoint, arguments, environment...) and the sections below it, each
//! read by its own table.

use std::path::PathBuf;

use serde_json::json;

use super::access::{MOUNT, PERMISSIONS};
use super::build::BUILD;
use super::running::{HTTP, LIMITS, ROLLOUT, SCHEDULER};
use super::{Decoder, Field, Result, Section, join};
use crate::error::ErrorKind;
use crate::fields::{MANIFEST_VERSION, MAX_NAME_LEN, MAX_REPLICAS};
use crate::model::{
    AppType, Build, Http, Limits, Manifest, Permissions, Restart, Rollout, Runtime, Scheduler,
};
use crate::naming;
use crate::schema::{self, NAME_PATTERN, SEMVER_PATTERN};
use crate::yaml::{Node, Value};

const ENTRYPOINT_HINT: &str = "add the path of the .wasm file, e.g. \"entrypoint: app.wasm\"";

/// The top level of a manifest.
pub(crate) const MANIFEST: Section<Manifest> = Section {
    description: "A Qyvol app: a WebAssembly program and what it may touch.",
    expected: "a mapping of fields at the top level (name: ..., entrypoint: ...)",
    fields: &[
        Field {
            name: "name",
            required: Some(
                "add a name for the app, e.g. \"name: hello\" (lowercase letters, digits and '-')",
            ),
            decode: |d, node, _, m| {
                m.name = d.name(node)?;
                Ok(())
            },
            schema: || {
                json!({
                    "type": "string",
                    "pattern": NAME_PATTERN,
                    "maxLength": MAX_NAME_LEN,
                    "description": "App name: lowercase letters, digits and -, not starting with -, at most 63 characters.",
                })
            },
        },
        Field {
            name: "version",
            required: None,
            decode: |d, node, _, m| {
                m.version = Some(d.version(node)?);
                Ok(())
            },
            schema: || json!({"type": "string", "pattern": SEMVER_PATTERN, "description": "App version, semantic (MAJOR.MINOR.PATCH, optional -pre and +build)."}),
        },
        Field {
            name: "manifest_version",
            required: None,
            decode: |d, node, _, m| {
                m.manifest_version = d.manifest_version(node)?;
                Ok(())
            },
            schema: || json!({"type": "integer", "const": MANIFEST_VERSION, "default": MANIFEST_VERSION, "description": "Version of this manifest format."}),
        },
        Field {
            name: "entrypoint",
            required: Some(ENTRYPOINT_HINT),
            decode: |d, node, _, m| {
                m.entrypoint = d.entrypoint(node)?;
                Ok(())
            },
            schema: || json!({"type": "string", "minLength": 1, "description": "Path of the .wasm file (module or component), relative to this file."}),
        },
        Field {
            name: "runtime",
            required: None,
            decode: |d, node, path, m| {
                m.runtime = d.keyword(node, path, Runtime::NAMES, Runtime::from_name)?;
                Ok(())
            },
            schema: || json!({"enum": Runtime::NAMES, "default": "wasi", "description": "How the module runs; WASI preview 1 modules and preview 2 components are detected."}),
        },
        Field {
            name: "type",
            required: None,
            decode: |d, node, path, m| {
                m.app_type = d.keyword(node, path, AppType::NAMES, AppType::from_name)?;
                Ok(())
            },
            schema: || json!({"enum": AppType::NAMES, "default": "command", "description": "Kind of app: command runs to completion; http serves requests; service runs in the background; gui has a window (service and gui are not supported yet)."}),
        },
        Field {
            name: "language",
            required: None,
            decode: |d, node, path, m| {
                m.language = Some(d.text(node, path, "a string")?.to_string());
                Ok(())
            },
            schema: || json!({"type": "string", "description": "Source language, informational."}),
        },
        Field {
            name: "args",
            required: None,
            decode: |d, node, _, m| {
                m.args = d.args(node)?;
                Ok(())
            },
            schema: || {
                json!({
                    "type": "array",
                    "items": {"type": ["string", "number", "boolean"]},
                    "description": "Arguments put before those given on the command line.",
                })
            },
        },
        Field {
            name: "env",
            required: None,
            decode: |d, node, _, m| {
                m.env = d.env(node)?;
                Ok(())
            },
            schema: || {
                json!({
                    "type": "object",
                    "propertyNames": {"pattern": "^[^=\\u0000]+$"},
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Environment variables, NAME: value.",
                })
            },
        },
        Field {
            name: "permissions",
            required: None,
            decode: |d, node, path, m| {
                m.permissions = d.section(node, path, &PERMISSIONS, Permissions::default())?;
                Ok(())
            },
            schema: || schema::section(&PERMISSIONS),
        },
        Field {
            name: "fs",
            required: None,
            decode: |d, node, path, m| {
                m.mounts = d.mounts(node, path)?;
                Ok(())
            },
            schema: || {
                json!({
                    "type": "array",
                    "items": schema::section(&MOUNT),
                    "description": "Mounts. Without any, permissions.fs read mounts the manifest's folder at / read-only. A read-write mount may not hold the app's manifest or code.",
                })
            },
        },
        Field {
            name: "limits",
            required: None,
            decode: |d, node, path, m| {
                m.limits = d.section(node, path, &LIMITS, Limits::default())?;
                Ok(())
            },
            schema: || schema::section(&LIMITS),
        },
        Field {
            name: "restart",
            required: None,
            decode: |d, node, path, m| {
                m.restart = Some(d.keyword(node, path, Restart::NAMES, Restart::from_name)?);
                Ok(())
            },
            schema: || json!({"enum": Restart::NAMES, "default": "always", "description": "For type: service on a node: start it again when it ends (always), only when it failed (on-failure), or never."}),
        },
        Field {
            name: "http",
            required: None,
            decode: |d, node, path, m| {
                m.http = Some(d.section(node, path, &HTTP, Http::default())?);
                Ok(())
            },
            schema: || schema::section(&HTTP),
        },
        Field {
            name: "replicas",
            required: None,
            decode: |d, node, _, m| {
                m.replicas = Some(d.replicas(node)?);
                Ok(())
            },
            schema: || json!({"type": "integer", "minimum": 1, "maximum": MAX_REPLICAS, "description": "Number of copies in a cluster (used by cluster deploys only)."}),
        },
        Field {
            name: "scheduler",
            required: None,
            decode: |d, node, path, m| {
                m.scheduler = Some(d.section(node, path, &SCHEDULER, Scheduler::default())?);
                Ok(())
            },
            schema: || schema::section(&SCHEDULER),
        },
        Field {
            name: "rollout",
            required: None,
            decode: |d, node, path, m| {
                let rollout = d.section(node, path, &ROLLOUT, Rollout::default())?;
                d.check_rollout(node, path, &rollout)?;
                m.rollout = Some(rollout);
                Ok(())
            },
            schema: || schema::section(&ROLLOUT),
        },
        Field {
            name: "build",
            required: None,
            decode: |d, node, path, m| {
                let blank = Build {
                    command: String::new(),
                    workdir: None,
                    watch: Vec::new(),
                };
                m.build = Some(d.section(node, path, &BUILD, blank)?);
                Ok(())
            },
            schema: || schema::section(&BUILD),
        },
        Field {
            name: "component",
            required: None,
            decode: |d, node, path, m| {
                m.component = d.boolean(node, path)?;
                Ok(())
            },
            schema: || json!({"type": "boolean", "default": false, "description": "The entrypoint is a WASI 0.2 component: a build turns a preview-1 module into one with Wasmtime's adapter."}),
        },
    ],
};

impl Decoder<'_> {
    fn name(&self, node: &Node) -> Result<String> {
        let name = self.text(node, "name", "a string")?;
        naming::check_name(name).map_err(|message| {
            self.error(ErrorKind::Value, Some(node.pos), "name", message)
                .with_suggestion(naming::fix_name(name))
        })?;
        Ok(name.to_string())
    }

    fn version(&self, node: &Node) -> Result<String> {
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

    fn manifest_version(&self, node: &Node) -> Result<u32> {
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

    fn entrypoint(&self, node: &Node) -> Result<PathBuf> {
        let path = self.text(node, "entrypoint", "the path of a .wasm file")?;
        if path.trim().is_empty() {
            return Err(self.missing(Some(node.pos), "entrypoint", ENTRYPOINT_HINT));
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

    fn args(&mut self, node: &Node) -> Result<Vec<String>> {
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

    fn env(&mut self, node: &Node) -> Result<Vec<(String, String)>> {
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
