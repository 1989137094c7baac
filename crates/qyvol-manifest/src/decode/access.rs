//! What the app may touch: `permissions:` and the mounts of `fs:`.

use std::path::PathBuf;

use serde_json::json;

use super::{Decoder, Field, Result, Section};
use crate::error::ErrorKind;
use crate::model::{ExecPolicy, FsAccess, Manifest, Mount, MountKind, MountMode, Permissions};
use crate::net::{NetPolicy, NetRule};
use crate::schema::with_aliases;
use crate::yaml::{Node, Value};

/// `permissions:`.
pub(super) const PERMISSIONS: Section<Permissions> = Section {
    description: "What the app may touch. Everything is denied unless granted here.",
    expected: "a mapping",
    fields: &[
        Field {
            name: "fs",
            required: None,
            decode: |d, node, path, p| {
                p.fs = d.keyword(node, path, FsAccess::NAMES, FsAccess::parse)?;
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Host file system access. Without `fs` mounts, read mounts the manifest's folder at / read-only; write needs `fs` mounts (an app may not write its own manifest or code); full gives the whole host file system (development only). Mounts may not be wider.",
                    "enum": with_aliases(FsAccess::NAMES, FsAccess::ALIASES),
                    "default": "none",
                })
            },
        },
        Field {
            name: "net",
            required: None,
            decode: |d, node, path, p| {
                p.net = d.net(node, path)?;
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Network access: false (none), true (any host), or a list of allowed destinations.",
                    "default": false,
                    "oneOf": [
                        {"type": "boolean"},
                        {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "description": "host:port, host:* (any port), [IPv6]:port, an IP address alone (any port) or a CIDR range such as 10.0.0.0/8 or fd00::/8 (any port). A host may start with *. to match every name below a domain. Ports are 1 to 65535.",
                                "minLength": 1,
                            },
                        },
                    ],
                })
            },
        },
        Field {
            name: "exec",
            required: None,
            decode: |d, node, path, p| {
                p.exec = d.exec(node, path)?;
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Starting other apps (.wasm, .qyv), each in its own sandbox with at most this app's permissions: false (none), true (any program the app can read), or a list of paths as the app sees them (an entry ending in /* allows everything below its folder).",
                    "default": false,
                    "oneOf": [
                        {"type": "boolean"},
                        {"type": "array", "items": {"type": "string", "pattern": "^/"}},
                    ],
                })
            },
        },
        Field {
            name: "ai",
            required: None,
            decode: |d, node, path, p| {
                p.ai = d.boolean(node, path)?;
                Ok(())
            },
            schema: || json!({"type": "boolean", "default": false, "description": "AI inference (not supported yet)."}),
        },
        Field {
            name: "gfx",
            required: None,
            decode: |d, node, path, p| {
                p.gfx = d.boolean(node, path)?;
                Ok(())
            },
            schema: || json!({"type": "boolean", "default": false, "description": "Graphics (not supported yet)."}),
        },
    ],
};

/// One mount of `fs:`.
pub(super) const MOUNT: Section<Mount> = Section {
    description: "A folder (or other file system) made visible to the app.",
    expected: "a mapping with source and target, e.g. {source: ./data, target: /data}",
    fields: &[
        Field {
            name: "source",
            required: Some(
                "add the host folder to mount, relative to the manifest, e.g. \"source: ./data\"",
            ),
            decode: |d, node, path, m| {
                m.source = d.mount_source(node, path)?;
                Ok(())
            },
            schema: || json!({"type": "string", "minLength": 1, "description": "Host path, relative to the manifest's folder (or absolute)."}),
        },
        Field {
            name: "target",
            required: Some("add where the app sees it, e.g. \"target: /data\""),
            decode: |d, node, path, m| {
                m.target = d.mount_target(node, path)?;
                Ok(())
            },
            schema: || json!({"type": "string", "pattern": "^/", "description": "Absolute path where the app sees it, e.g. /data; no .. component."}),
        },
        Field {
            name: "mode",
            required: None,
            decode: |d, node, path, m| {
                m.mode = d.keyword(node, path, MountMode::NAMES, MountMode::parse)?;
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Access through this mount; never wider than permissions.fs.",
                    "enum": with_aliases(MountMode::NAMES, MountMode::ALIASES),
                    "default": "read",
                })
            },
        },
        Field {
            name: "type",
            required: None,
            decode: |d, node, path, m| {
                m.kind = d.keyword(node, path, MountKind::NAMES, MountKind::from_name)?;
                Ok(())
            },
            schema: || {
                json!({
                    "description": "What backs the mount: a host directory, an in-memory file system or a network file system (memfs and netfs are not supported yet).",
                    "enum": MountKind::NAMES,
                    "default": "dir",
                })
            },
        },
    ],
};

impl Decoder<'_> {
    /// `permissions.exec`: a boolean or a list of paths.
    fn exec(&mut self, node: &Node, path: &str) -> Result<ExecPolicy> {
        let expected = "false, true or a list of paths like \"/bin/tool.wasm\" or \"/bin/*\"";
        match &node.value {
            // As any boolean field, with YAML 1.1's yes and no explained.
            Value::Scalar(_) => Ok(if self.boolean(node, path)? {
                ExecPolicy::AllowAll
            } else {
                ExecPolicy::Deny
            }),
            Value::Map(_) => Err(self.wrong_type(node, path, expected)),
            Value::Seq(items) => {
                let mut entries = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    self.locations.insert(item_path.clone(), item.pos.pair());
                    let text = self.text(item, &item_path, "a path like \"/bin/tool.wasm\"")?;
                    let normal = text.starts_with('/')
                        && !text.contains("//")
                        && !text.split('/').any(|c| c == "." || c == "..")
                        && (text.len() == 1 || !text.ends_with('/'));
                    if !normal {
                        return Err(self.error(
                            ErrorKind::Value,
                            Some(item.pos),
                            &item_path,
                            format!(
                                "{text:?} is not a path as the app sees it; give an absolute path without . or .. like \"/bin/tool.wasm\", or a folder's \"/bin/*\" (names of installed apps and hub references are not supported yet)"
                            ),
                        ));
                    }
                    if text.contains('*') && !text.ends_with("/*") || text.matches('*').count() > 1
                    {
                        return Err(self.error(
                            ErrorKind::Value,
                            Some(item.pos),
                            &item_path,
                            format!("{text:?}: * is allowed only as a whole last component, as in \"/bin/*\""),
                        ));
                    }
                    entries.push(text.to_string());
                }
                Ok(if entries.is_empty() {
                    ExecPolicy::Deny
                } else {
                    ExecPolicy::Allow(entries)
                })
            }
        }
    }

    fn net(&mut self, node: &Node, path: &str) -> Result<NetPolicy> {
        let expected = "false, true or a list of rules like \"api.example.com:443\"";
        match &node.value {
            Value::Scalar(s) => match s.as_bool() {
                Some(true) => Ok(NetPolicy::AllowAll),
                Some(false) => Ok(NetPolicy::Deny),
                None => Err(self.wrong_type(node, path, expected)),
            },
            Value::Map(_) => Err(self.wrong_type(node, path, expected)),
            Value::Seq(items) => {
                let mut rules = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    self.locations.insert(item_path.clone(), item.pos.pair());
                    let text = match &item.value {
                        Value::Scalar(s) if !s.is_null() => &s.text,
                        _ => {
                            return Err(self
                                .wrong_type(item, &item_path, "a rule like \"api.example.com:443\"")
                                .with_hint(
                                    "write each rule as one string, e.g. \"example.com:443\" (quote IPv6 ones: \"[::1]:8080\")",
                                ));
                        }
                    };
                    let rule = NetRule::parse(text).map_err(|message| {
                        self.error(ErrorKind::Value, Some(item.pos), &item_path, message)
                    })?;
                    rules.push(rule);
                }
                Ok(if rules.is_empty() {
                    NetPolicy::Deny
                } else {
                    NetPolicy::Allow(rules)
                })
            }
        }
    }

    /// `fs:`, each mount read by [`MOUNT`].
    pub(super) fn mounts(&mut self, node: &Node, path: &str) -> Result<Vec<Mount>> {
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(
                node,
                path,
                "a list of mounts (source, target, mode, type)",
            ));
        };
        let mut mounts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            self.locations.insert(path.clone(), item.pos.pair());
            let blank = Mount {
                source: PathBuf::new(),
                target: String::new(),
                mode: MountMode::default(),
                kind: MountKind::default(),
            };
            mounts.push(self.section(item, &path, &MOUNT, blank)?);
        }
        Ok(mounts)
    }

    fn mount_source(&self, node: &Node, field: &str) -> Result<PathBuf> {
        let source = self.text(node, field, "a path")?;
        if source.contains('\0') {
            return Err(self.error(
                ErrorKind::Value,
                Some(node.pos),
                field,
                "a path cannot contain a NUL character",
            ));
        }
        if source.trim().is_empty() {
            return Err(self.error(
                ErrorKind::Value,
                Some(node.pos),
                field,
                "empty path; use \".\" for the manifest's folder",
            ));
        }
        Ok(PathBuf::from(source))
    }

    /// Checks a guest path and writes it one way only (`/data`, not
    /// `/data/` or `//data/.`), so duplicate targets are caught.
    fn mount_target(&self, node: &Node, field: &str) -> Result<String> {
        let target = self.text(node, field, "an absolute path in the app, e.g. /data")?;
        let invalid =
            |message: String| self.error(ErrorKind::Value, Some(node.pos), field, message);
        if target.contains('\0') {
            return Err(invalid("a path cannot contain a NUL character".into()));
        }
        if !target.starts_with('/') {
            let fixed = format!("/{}", target.trim_start_matches("./"));
            return Err(invalid(format!(
                "{target:?} is not absolute; a target starts with \"/\""
            ))
            .with_suggestion(Some(fixed)));
        }
        let parts: Vec<&str> = target
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if parts.contains(&"..") {
            return Err(invalid(format!(
                "{target:?} contains \"..\"; write the target without it"
            )));
        }
        Ok(format!("/{}", parts.join("/")))
    }
}

/// Rules between fields: a mount may not grant more than `permissions.fs`,
/// and two mounts may not share a target.
pub(super) fn check_mounts(manifest: &Manifest) -> Result<()> {
    let fs = manifest.permissions.fs;
    for (i, mount) in manifest.mounts.iter().enumerate() {
        let required = mount.mode.required_access();
        if fs < required {
            let wider = match required {
                FsAccess::Write => "write or full",
                _ => "read, write or full",
            };
            let mut hint = format!("set permissions.fs: {required}");
            if mount.mode == MountMode::Write && fs == FsAccess::Read {
                hint.push_str(", or this mount's mode: read");
            }
            let mut err = manifest.error_at(
                &format!("fs[{i}].mode"),
                format!(
                    "a {} mount needs permissions.fs: {wider}, but permissions.fs is {fs}",
                    mount.mode
                ),
            );
            err.kind = ErrorKind::Conflict;
            return Err(err.with_hint(hint));
        }
        if let Some(first) = manifest.mounts[..i]
            .iter()
            .position(|m| m.target == mount.target)
        {
            let first_line = manifest
                .location(&format!("fs[{first}]"))
                .map(|(line, _)| format!(" (line {line})"))
                .unwrap_or_default();
            let mut err = manifest.error_at(
                &format!("fs[{i}].target"),
                format!(
                    "{:?} is already the target of fs[{first}]{first_line}; each mount needs its own target",
                    mount.target
                ),
            );
            err.kind = ErrorKind::Duplicate;
            return Err(err);
        }
    }
    Ok(())
}
