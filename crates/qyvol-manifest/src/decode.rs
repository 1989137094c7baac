//! From the spanned YAML tree to a checked [`Manifest`], one field at a time,
//! so every error names the field's path and the place it was written.
//!
//! A null value (`key:` with nothing, `~`, `null`) means "not given" for every
//! optional field, the way `fuel: null` reads in the design's example.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, ManifestError};
use crate::fields::{self, MANIFEST_VERSION, MAX_HTTP_CONCURRENCY, MAX_HTTP_QUEUE, MAX_REPLICAS};
use crate::model::{
    AppType, Build, FsAccess, Http, Limits, Manifest, Mount, MountKind, MountMode, Permissions,
    Restart, Runtime, Scheduler, Strategy,
};
use crate::naming;
use crate::net::{NetPolicy, NetRule};
use crate::suggest::did_you_mean;
use crate::units;
use crate::yaml::{self, Entry, Node, Pos, Value, YamlErrorKind};

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

    fn name(&self, node: &Node) -> Result<String> {
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

    fn permissions(&mut self, node: &Node) -> Result<Permissions> {
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

    fn mounts(&mut self, node: &Node) -> Result<Vec<Mount>> {
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

    fn mount(&mut self, node: &Node, path: &str) -> Result<Mount> {
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

    fn limits(&mut self, node: &Node) -> Result<Limits> {
        let entries = self.mapping(node, "limits", fields::LIMITS, "a mapping")?;
        let mut limits = Limits::default();
        for entry in entries {
            let key = entry.key.as_str();
            let node = &entry.value;
            if node.is_null() {
                continue;
            }
            let path = join("limits", key);
            let value_error =
                |message: String| self.error(ErrorKind::Value, Some(node.pos), &path, message);
            match key {
                "memory" => {
                    let text = self.text(node, &path, "a size like 128MiB")?;
                    limits.memory = Some(units::parse_memory_limit(text).map_err(value_error)?);
                }
                "timeout" => {
                    let text = self.text(node, &path, "a duration like 30s")?;
                    limits.timeout = Some(units::parse_timeout(text).map_err(value_error)?);
                }
                "fuel" => {
                    let fuel = self.integer(node, &path)?;
                    let fuel = u64::try_from(fuel).ok().filter(|f| *f > 0).ok_or_else(|| {
                        value_error(format!(
                            "must be a positive whole number, or null for no budget; got {fuel}"
                        ))
                    })?;
                    limits.fuel = Some(fuel);
                }
                other => return Err(self.internal(entry, &join("limits", other))),
            }
        }
        Ok(limits)
    }

    fn http(&mut self, node: &Node) -> Result<Http> {
        let entries = self.mapping(
            node,
            "http",
            fields::HTTP,
            "a mapping like {route: /api, reuse: 1}",
        )?;
        let mut http = Http::default();
        for entry in entries {
            let key = entry.key.as_str();
            let node = &entry.value;
            if node.is_null() {
                continue;
            }
            let path = join("http", key);
            match key {
                "route" => http.route = self.route(node, &path)?,
                "reuse" => {
                    http.reuse = self.bounded(node, &path, 1, u32::MAX, "requests per instance")?
                }
                "concurrency" => {
                    http.concurrency =
                        self.bounded(node, &path, 1, MAX_HTTP_CONCURRENCY, "instances at once")?
                }
                "queue" => {
                    http.queue = self.bounded(node, &path, 0, MAX_HTTP_QUEUE, "waiting requests")?
                }
                other => return Err(self.internal(entry, &join("http", other))),
            }
        }
        Ok(http)
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

    /// A URL path prefix, written one way only: `/` or `/a/b`.
    fn route(&self, node: &Node, path: &str) -> Result<String> {
        let route = self.text(node, path, "a path prefix like /api")?;
        let invalid = |message: String| self.error(ErrorKind::Value, Some(node.pos), path, message);
        if !route.starts_with('/') {
            return Err(invalid(format!(
                "{route:?} is not a path; a route starts with \"/\""
            ))
            .with_suggestion(Some(format!("/{}", route.trim_start_matches("./")))));
        }
        if let Some(bad) = route.chars().find(|c| !is_path_char(*c)) {
            return Err(invalid(format!(
                "{route:?} contains {bad:?}; a route is a URL path prefix (letters, digits, - . _ ~ and /), without query or fragment"
            )));
        }
        let parts: Vec<&str> = route.split('/').filter(|p| !p.is_empty()).collect();
        if parts.iter().any(|p| *p == "." || *p == "..") {
            return Err(invalid(format!(
                "{route:?} contains \".\" or \"..\"; write the route without them"
            )));
        }
        Ok(format!("/{}", parts.join("/")))
    }

    fn replicas(&self, node: &Node) -> Result<u32> {
        let replicas = self.integer(node, "replicas")?;
        u32::try_from(replicas)
            .ok()
            .filter(|r| (1..=MAX_REPLICAS).contains(r))
            .ok_or_else(|| {
                self.error(
                    ErrorKind::Value,
                    Some(node.pos),
                    "replicas",
                    format!("must be between 1 and {MAX_REPLICAS}; got {replicas}"),
                )
            })
    }

    fn scheduler(&mut self, node: &Node) -> Result<Scheduler> {
        let entries = self.mapping(
            node,
            "scheduler",
            fields::SCHEDULER,
            "a mapping like {strategy: spread}",
        )?;
        let mut scheduler = Scheduler::default();
        for entry in entries {
            let node = &entry.value;
            if node.is_null() {
                continue;
            }
            match entry.key.as_str() {
                "strategy" => {
                    scheduler.strategy = self.keyword(
                        node,
                        "scheduler.strategy",
                        Strategy::NAMES,
                        Strategy::from_name,
                    )?;
                }
                "constraints" => scheduler.constraints = self.constraints(node)?,
                other => return Err(self.internal(entry, &join("scheduler", other))),
            }
        }
        Ok(scheduler)
    }
}

impl Decoder<'_> {
    fn build(&mut self, node: &Node) -> Result<Build> {
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
    /// `scheduler.constraints`: labels as `KEY=VALUE`.
    fn constraints(&mut self, node: &Node) -> Result<Vec<String>> {
        let field = "scheduler.constraints";
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(node, field, "a list of labels like [zone=a]"));
        };
        let mut constraints = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{field}[{i}]");
            self.locations.insert(path.clone(), item.pos.pair());
            let text = self.text(item, &path, "a label like zone=a")?;
            let word = |s: &str| {
                !s.is_empty()
                    && s.len() <= 63
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            };
            match text.split_once('=') {
                Some((k, v)) if word(k) && word(v) => constraints.push(text.to_string()),
                _ => {
                    return Err(self.error(
                        ErrorKind::Value,
                        Some(item.pos),
                        &path,
                        format!(
                            "{text:?} is not KEY=VALUE (for example zone=a); KEY and VALUE are 1 to 63 letters, digits, '-', '_' or '.'"
                        ),
                    ));
                }
            }
        }
        Ok(constraints)
    }

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

/// `restart` only means something to a service.
fn check_restart(manifest: &Manifest) -> Result<()> {
    if manifest.restart.is_some() && manifest.app_type != AppType::Service {
        let mut err = manifest.error_at(
            "restart",
            format!(
                "restart applies to type: service apps, and this app is type: {}",
                manifest.app_type
            ),
        );
        err.kind = ErrorKind::Conflict;
        return Err(err.with_hint("add \"type: service\", or remove restart"));
    }
    Ok(())
}

/// Rules between fields: a mount may not grant more than `permissions.fs`,
/// and two mounts may not share a target.
fn check_mounts(manifest: &Manifest) -> Result<()> {
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

/// Characters a route may hold: RFC 3986 path characters, percent escapes
/// excluded (a route is matched against the path as sent).
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/".contains(c)
}

/// `http:` only means something to an HTTP app.
fn check_http(manifest: &Manifest) -> Result<()> {
    if manifest.http.is_some() && manifest.app_type != AppType::Http {
        let mut err = manifest.error_at(
            "http",
            format!(
                "the http section applies to type: http apps, and this app is type: {}",
                manifest.app_type
            ),
        );
        err.kind = ErrorKind::Conflict;
        return Err(err.with_hint("add \"type: http\", or remove the http section"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
