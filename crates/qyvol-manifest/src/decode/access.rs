//! What the app may touch: `permissions:` and the mounts of `fs:`.

use std::path::PathBuf;

use super::{Decoder, Result, join};
use crate::error::ErrorKind;
use crate::fields;
use crate::model::{FsAccess, Manifest, Mount, MountKind, MountMode, Permissions};
use crate::net::{NetPolicy, NetRule};
use crate::yaml::{Node, Value};

impl Decoder<'_> {
    pub(super) fn permissions(&mut self, node: &Node) -> Result<Permissions> {
        let entries = self.mapping(node, "permissions", fields::PERMISSIONS, "a mapping")?;
        let mut permissions = Permissions::default();
        for entry in entries {
            let key = entry.key.as_str();
            let node = &entry.value;
            if node.is_null() {
                continue;
            }
            let path = join("permissions", key);
            match key {
                "fs" => {
                    permissions.fs = self.keyword(node, &path, FsAccess::NAMES, FsAccess::parse)?
                }
                "net" => permissions.net = self.net(node, &path)?,
                "exec" => permissions.exec = self.boolean(node, &path)?,
                "ai" => permissions.ai = self.boolean(node, &path)?,
                "gfx" => permissions.gfx = self.boolean(node, &path)?,
                other => return Err(self.internal(entry, &join("permissions", other))),
            }
        }
        Ok(permissions)
    }

    pub(super) fn net(&mut self, node: &Node, path: &str) -> Result<NetPolicy> {
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

    pub(super) fn mounts(&mut self, node: &Node) -> Result<Vec<Mount>> {
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(
                node,
                "fs",
                "a list of mounts (source, target, mode, type)",
            ));
        };
        let mut mounts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("fs[{i}]");
            self.locations.insert(path.clone(), item.pos.pair());
            mounts.push(self.mount(item, &path)?);
        }
        Ok(mounts)
    }

    pub(super) fn mount(&mut self, node: &Node, path: &str) -> Result<Mount> {
        let entries = self.mapping(
            node,
            path,
            fields::MOUNT,
            "a mapping with source and target, e.g. {source: ./data, target: /data}",
        )?;
        let mut source = None;
        let mut target = None;
        let mut mode = MountMode::default();
        let mut kind = MountKind::default();
        for entry in entries {
            let key = entry.key.as_str();
            let node = &entry.value;
            let field = join(path, key);
            if node.is_null() {
                continue;
            }
            match key {
                "source" => source = Some(self.mount_source(node, &field)?),
                "target" => target = Some(self.mount_target(node, &field)?),
                "mode" => mode = self.keyword(node, &field, MountMode::NAMES, MountMode::parse)?,
                "type" => {
                    kind = self.keyword(node, &field, MountKind::NAMES, MountKind::from_name)?
                }
                other => return Err(self.internal(entry, &join(path, other))),
            }
        }
        let Some(source) = source else {
            return Err(self.missing(
                Some(node.pos),
                &join(path, "source"),
                "add the host folder to mount, relative to the manifest, e.g. \"source: ./data\"",
            ));
        };
        let Some(target) = target else {
            return Err(self.missing(
                Some(node.pos),
                &join(path, "target"),
                "add where the app sees it, e.g. \"target: /data\"",
            ));
        };
        Ok(Mount {
            source,
            target,
            mode,
            kind,
        })
    }

    pub(super) fn mount_source(&self, node: &Node, field: &str) -> Result<PathBuf> {
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
    pub(super) fn mount_target(&self, node: &Node, field: &str) -> Result<String> {
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
