//! What the app may touch: `permissions:` and the mounts of `fs:`.

use std::path::PathBuf;

use serde_json::json;

use super::{Decoder, Field, Result, Section};
use crate::error::ErrorKind;
use crate::fields::{MAX_MEMFS_SIZE, MIN_MEMFS_SIZE};
use crate::model::{ExecPolicy, FsAccess, Manifest, Mount, MountKind, MountMode, Permissions};
use crate::net::{NetPolicy, NetRule};
use crate::schema::with_aliases;
use crate::units;
use crate::yaml::{Node, Pos, Value};

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
            // Required for dir and netfs mounts; `mounts` checks it once the
            // type is known (a memfs may start empty).
            required: None,
            decode: |d, node, path, m| {
                m.source = d.mount_source(node, path)?;
                Ok(())
            },
            schema: || json!({"type": "string", "minLength": 1, "description": "Host path, relative to the manifest's folder (or absolute); for a memfs, the folder it starts as a copy of (optional); for a netfs, its URL (http(s)://, webdav+http(s)://, s3://)."}),
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
                    "description": "What backs the mount: a host directory, an in-memory file system of at most size bytes (memfs), or a network file system (netfs, not supported yet).",
                    "enum": MountKind::NAMES,
                    "default": "dir",
                })
            },
        },
        Field {
            name: "size",
            required: None,
            decode: |d, node, path, m| {
                m.size = Some(d.memfs_size(node, path)?);
                Ok(())
            },
            schema: || {
                json!({
                    "description": "A memfs mount's cap: file contents, names and 128 bytes per file or folder, e.g. 64MiB; writes past it fail in the app (no space left). Required for memfs, only for memfs.",
                    "type": ["string", "integer"],
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
                size: None,
            };
            let mount = self.section(item, &path, &MOUNT, blank)?;
            self.mount_kind_rules(item, &path, &mount)?;
            mounts.push(mount);
        }
        Ok(mounts)
    }

    /// What each type of mount needs: a source for dir and netfs, a size
    /// for memfs (and a size for nothing else).
    fn mount_kind_rules(&self, item: &Node, path: &str, mount: &Mount) -> Result<()> {
        let at = |field: &str| {
            let field = format!("{path}.{field}");
            let pos = self
                .locations
                .get(&field)
                .map(|&(line, col)| Pos { line, col })
                .unwrap_or(item.pos);
            (field, pos)
        };
        match mount.kind {
            MountKind::Dir | MountKind::Netfs if mount.source.as_os_str().is_empty() => {
                let hint = if mount.kind == MountKind::Dir {
                    "add the host folder to mount, relative to the manifest, e.g. \"source: ./data\""
                } else {
                    "add the URL to mount, e.g. \"source: https://data.example.org/datasets/\""
                };
                Err(self.missing(Some(item.pos), &format!("{path}.source"), hint))
            }
            MountKind::Netfs
                if !NETFS_SCHEMES
                    .iter()
                    .any(|s| source_text(mount).starts_with(s)) =>
            {
                let (field, pos) = at("source");
                Err(self
                    .error(
                        ErrorKind::Value,
                        Some(pos),
                        &field,
                        format!(
                            "{:?} is not a URL; a netfs source is one of {}",
                            source_text(mount),
                            NETFS_SCHEMES
                                .iter()
                                .map(|s| format!("{s}…"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .with_hint("for a folder of this machine use type: dir"))
            }
            MountKind::Memfs if mount.size.is_none() => Err(self.missing(
                Some(item.pos),
                &format!("{path}.size"),
                "a memfs mount needs a cap on the memory it may use, e.g. \"size: 64MiB\"",
            )),
            MountKind::Dir | MountKind::Netfs if mount.size.is_some() => {
                let (field, pos) = at("size");
                Err(self
                    .error(
                        ErrorKind::Value,
                        Some(pos),
                        &field,
                        format!(
                            "size is for memfs mounts only, and this one is type: {}",
                            mount.kind
                        ),
                    )
                    .with_hint("remove size, or set type: memfs for a mount in memory"))
            }
            _ => Ok(()),
        }
    }

    /// A memfs mount's `size`: a size between the format's bounds.
    fn memfs_size(&self, node: &Node, path: &str) -> Result<u64> {
        let text = self.text(node, path, "a size such as 64MiB")?;
        let bytes = units::parse_size(text)
            .map_err(|message| self.error(ErrorKind::Value, Some(node.pos), path, message))?;
        if !(MIN_MEMFS_SIZE..=MAX_MEMFS_SIZE).contains(&bytes) {
            return Err(self.error(
                ErrorKind::Value,
                Some(node.pos),
                path,
                format!(
                    "{} is outside what a memfs may hold: at least {} and at most {} (it is the host's memory)",
                    units::format_size(bytes),
                    units::format_size(MIN_MEMFS_SIZE),
                    units::format_size(MAX_MEMFS_SIZE)
                ),
            ));
        }
        Ok(bytes)
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

/// What a netfs source may start with: plain HTTP(S) (read-only), WebDAV,
/// and S3-compatible stores.
const NETFS_SCHEMES: &[&str] = &[
    "http://",
    "https://",
    "webdav+http://",
    "webdav+https://",
    "s3://",
];

fn source_text(mount: &Mount) -> std::borrow::Cow<'_, str> {
    mount.source.to_string_lossy()
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
        // A memfs or netfs is its own tree: one inside another mount, or
        // another inside it, would hide part of one of them.
        if let Some(other) = manifest.mounts[..i].iter().position(|m| {
            (m.kind != MountKind::Dir || mount.kind != MountKind::Dir)
                && (inside(&mount.target, &m.target) || inside(&m.target, &mount.target))
        }) {
            let line = manifest
                .location(&format!("fs[{other}]"))
                .map(|(line, _)| format!(" (line {line})"))
                .unwrap_or_default();
            let mut err = manifest.error_at(
                &format!("fs[{i}].target"),
                format!(
                    "{:?} and the target of fs[{other}]{line}, {:?}, are one inside the other; a {} mount cannot be mounted over another mount or under one",
                    mount.target,
                    manifest.mounts[other].target,
                    if mount.kind != MountKind::Dir { mount.kind } else { manifest.mounts[other].kind },
                ),
            );
            err.kind = ErrorKind::Conflict;
            return Err(
                err.with_hint("give each memfs or netfs mount a folder of its own, e.g. /tmp")
            );
        }
    }
    Ok(())
}

/// Whether the guest path `inner` is `outer` or below it.
fn inside(inner: &str, outer: &str) -> bool {
    outer == "/"
        || inner == outer
        || (inner.starts_with(outer) && inner.as_bytes().get(outer.len()) == Some(&b'/'))
}
