//! The typed manifest: what a `.qyv` file says once it has been checked.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use crate::error::{ErrorKind, ManifestError};
use crate::net::NetPolicy;

/// Defines an enum of YAML keywords with its spelling, the list of spellings
/// (for messages and the schema) and the parse from text.
macro_rules! keywords {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spelling used in manifests.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The keyword spelt exactly `text`.
            pub fn from_name(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

keywords! {
    /// How the module is run (`runtime:`); only WASI so far, preview 1 or 2
    /// being detected from the binary.
    Runtime { #[default] Wasi = "wasi" }
}

keywords! {
    /// What kind of app it is (`type:`).
    AppType {
        /// Runs to completion, like a command-line program (default).
        #[default] Command = "command",
        /// Serves HTTP requests (`wasi:http/proxy`).
        Http = "http",
        /// A long-running background process.
        Service = "service",
        /// A graphical app.
        Gui = "gui",
    }
}

keywords! {
    /// When a node starts a service again after it ends (`restart:`, for
    /// `type: service` only).
    Restart {
        /// However it ended (the default).
        #[default] Always = "always",
        /// Only when it failed: a non-zero exit, a trap, a limit.
        OnFailure = "on-failure",
        /// Never: it stays as it ended.
        Never = "never",
    }
}

keywords! {
    /// How much of the host file system the app may touch
    /// (`permissions.fs`). Ordered: a wider access compares greater.
    FsAccess {
        /// No file access (default).
        #[default] None = "none",
        /// Read only.
        Read = "read",
        /// Read and write.
        Write = "write",
        /// The whole host file system at `/`: for development only.
        Full = "full",
    }
}

impl FsAccess {
    /// Spellings accepted besides [`FsAccess::NAMES`], for people used to
    /// Docker's wording.
    pub const ALIASES: &'static [(&'static str, FsAccess)] = &[
        ("read-only", FsAccess::Read),
        ("read-write", FsAccess::Write),
    ];

    /// A canonical name or an alias.
    pub fn parse(text: &str) -> Option<FsAccess> {
        Self::from_name(text).or_else(|| {
            Self::ALIASES
                .iter()
                .find(|(alias, _)| *alias == text)
                .map(|(_, access)| *access)
        })
    }
}

keywords! {
    /// Access through one mount (`fs[].mode`).
    MountMode {
        /// Read only (default).
        #[default] Read = "read",
        /// Read and write.
        Write = "write",
    }
}

impl MountMode {
    /// Spellings accepted besides [`MountMode::NAMES`].
    pub const ALIASES: &'static [(&'static str, MountMode)] = &[
        ("read-only", MountMode::Read),
        ("read-write", MountMode::Write),
    ];

    /// A canonical name or an alias.
    pub fn parse(text: &str) -> Option<MountMode> {
        Self::from_name(text).or_else(|| {
            Self::ALIASES
                .iter()
                .find(|(alias, _)| *alias == text)
                .map(|(_, mode)| *mode)
        })
    }

    /// The least `permissions.fs` that allows a mount with this mode.
    pub fn required_access(self) -> FsAccess {
        match self {
            MountMode::Read => FsAccess::Read,
            MountMode::Write => FsAccess::Write,
        }
    }
}

keywords! {
    /// What backs a mount (`fs[].type`).
    MountKind {
        /// A host directory (default).
        #[default] Dir = "dir",
        /// An in-memory file system, empty at start.
        Memfs = "memfs",
        /// A network file system.
        Netfs = "netfs",
    }
}

keywords! {
    /// How a cluster places replicas (`scheduler.strategy`).
    Strategy {
        /// One replica per node as far as possible (default).
        #[default] Spread = "spread",
        /// Fill one node before the next.
        Pack = "pack",
    }
}

/// What the app may touch (`permissions:`). Everything is off by default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Permissions {
    /// Host file system access; mounts may not exceed it.
    pub fs: FsAccess,
    /// Network access.
    pub net: NetPolicy,
    /// Starting host processes.
    pub exec: bool,
    /// AI inference.
    pub ai: bool,
    /// Graphics.
    pub gfx: bool,
}

impl Serialize for NetPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            NetPolicy::Deny => serializer.serialize_bool(false),
            NetPolicy::AllowAll => serializer.serialize_bool(true),
            NetPolicy::Allow(rules) => {
                let mut seq = serializer.serialize_seq(Some(rules.len()))?;
                for rule in rules {
                    seq.serialize_element(&rule.text)?;
                }
                seq.end()
            }
        }
    }
}

/// One entry of `fs:`: a host folder (or other backing) seen by the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Host path as written (relative to the manifest's folder) in
    /// [`Manifest::mounts`]; absolute in [`Manifest::effective_mounts`].
    pub source: PathBuf,
    /// Absolute path in the guest, normalised (`/data`, no trailing slash).
    pub target: String,
    /// Read or read-write.
    pub mode: MountMode,
    /// Directory, memfs or netfs.
    #[serde(rename = "type")]
    pub kind: MountKind,
}

/// Resource limits (`limits:`); None means the runtime's default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Limits {
    /// Most linear memory, in bytes (at least 64 KiB).
    pub memory: Option<u64>,
    /// Longest run time.
    #[serde(serialize_with = "serialize_duration")]
    pub timeout: Option<Duration>,
    /// Instruction budget.
    pub fuel: Option<u64>,
}

fn serialize_duration<S: Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_str(&crate::units::format_duration(*duration)),
        None => serializer.serialize_none(),
    }
}

/// As a mapping, the way it is written, rather than a list of pairs.
fn serialize_env<S: Serializer>(
    env: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(env.len()))?;
    for (name, value) in env {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

/// How an HTTP app is served (`http:`, for `type: http` only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Http {
    /// Path prefix the app answers: `/`, or `/a/b` without a trailing
    /// slash. Among apps served together, the longest matching prefix wins.
    pub route: String,
    /// Requests one instance serves before it is dropped; 1 (the default)
    /// gives every request a fresh instance.
    pub reuse: u32,
    /// Instances of the app that may run at once.
    pub concurrency: u32,
    /// Requests that may wait for an instance when all are busy; beyond
    /// that a request is answered 503.
    pub queue: u32,
}

impl Http {
    /// Instances at once when `http.concurrency` is not given.
    pub const DEFAULT_CONCURRENCY: u32 = 64;
    /// Waiting requests when `http.queue` is not given.
    pub const DEFAULT_QUEUE: u32 = 1024;
}

impl Default for Http {
    fn default() -> Http {
        Http {
            route: "/".to_string(),
            reuse: 1,
            concurrency: Http::DEFAULT_CONCURRENCY,
            queue: Http::DEFAULT_QUEUE,
        }
    }
}

/// Cluster placement (`scheduler:`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Scheduler {
    /// Spread or pack.
    pub strategy: Strategy,
    /// `KEY=VALUE` labels a node must carry to get a replica, as written.
    pub constraints: Vec<String>,
}

/// How `qyv build` makes the entrypoint (`build:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Build {
    /// Shell command that writes the entrypoint, run by `sh -c`.
    pub command: String,
    /// Folder the command runs in, as written (relative to the manifest's
    /// folder); `None` is the manifest's folder.
    pub workdir: Option<PathBuf>,
    /// Glob patterns (relative to the working folder) of the sources: the
    /// entrypoint is up to date when it is newer than every file they match.
    pub watch: Vec<String>,
}

/// A checked `.qyv` manifest.
///
/// Paths stay as written; [`Manifest::entrypoint_path`] and
/// [`Manifest::effective_mounts`] resolve them against the manifest's folder.
/// Serializes to JSON in the manifest's own shape (for `qyv inspect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// App name: `[a-z0-9][a-z0-9-]*`, at most 63 characters.
    pub name: String,
    /// Semantic version, if given.
    pub version: Option<String>,
    /// Format version of the manifest (only 1 exists).
    pub manifest_version: u32,
    /// The `.wasm` file, as written.
    pub entrypoint: PathBuf,
    /// How the module runs.
    pub runtime: Runtime,
    /// What kind of app it is.
    #[serde(rename = "type")]
    pub app_type: AppType,
    /// Source language, informational.
    pub language: Option<String>,
    /// Arguments put before those given on the command line.
    pub args: Vec<String>,
    /// Environment variables, in the order written.
    #[serde(serialize_with = "serialize_env")]
    pub env: Vec<(String, String)>,
    /// What the app may touch.
    pub permissions: Permissions,
    /// Explicit mounts (`fs:`), sources as written.
    #[serde(rename = "fs")]
    pub mounts: Vec<Mount>,
    /// Resource limits.
    pub limits: Limits,
    /// When a node restarts a service, as written; see
    /// [`Manifest::restart_policy`].
    pub restart: Option<Restart>,
    /// How an HTTP app is served, as written; see [`Manifest::http_settings`].
    pub http: Option<Http>,
    /// Number of copies in a cluster.
    pub replicas: Option<u32>,
    /// Cluster placement.
    pub scheduler: Option<Scheduler>,
    /// How to build the entrypoint.
    pub build: Option<Build>,
    /// The entrypoint must be a WASI 0.2 component: `qyv build` adapts a
    /// preview-1 module it produced.
    pub component: bool,
    #[serde(skip)]
    pub(crate) file: PathBuf,
    #[serde(skip)]
    pub(crate) base_dir: PathBuf,
    /// Where each field's value was written, by field path.
    #[serde(skip)]
    pub(crate) locations: BTreeMap<String, (usize, usize)>,
}

impl Manifest {
    /// The manifest's path as given to [`Manifest::parse`] or
    /// [`Manifest::load`].
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The folder relative paths are resolved against.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The entrypoint resolved against [`Manifest::base_dir`].
    pub fn entrypoint_path(&self) -> PathBuf {
        resolve(&self.base_dir, &self.entrypoint)
    }

    /// The folder `build.command` runs in, resolved against
    /// [`Manifest::base_dir`].
    pub fn build_dir(&self) -> PathBuf {
        match self.build.as_ref().and_then(|b| b.workdir.as_deref()) {
            Some(dir) => resolve(&self.base_dir, dir),
            None => resolve(&self.base_dir, Path::new(".")),
        }
    }

    /// The mounts the runtime should make, sources resolved to absolute
    /// paths (when the base folder is absolute, as with `load`).
    ///
    /// Without explicit mounts, `fs: read` or `fs: write` mounts the
    /// manifest's folder at `/` with that access; `fs: full` adds nothing
    /// here, as the runtime grants the host's `/` itself.
    pub fn effective_mounts(&self) -> Vec<Mount> {
        if !self.mounts.is_empty() {
            return self
                .mounts
                .iter()
                .map(|mount| Mount {
                    source: resolve(&self.base_dir, &mount.source),
                    ..mount.clone()
                })
                .collect();
        }
        let mode = match self.permissions.fs {
            FsAccess::Read => MountMode::Read,
            FsAccess::Write => MountMode::Write,
            FsAccess::None | FsAccess::Full => return Vec::new(),
        };
        vec![Mount {
            source: resolve(&self.base_dir, Path::new(".")),
            target: "/".into(),
            mode,
            kind: MountKind::Dir,
        }]
    }

    /// When a node restarts this app once it ends: a service's `restart`
    /// (default `always`); any other app runs once.
    pub fn restart_policy(&self) -> Restart {
        match self.app_type {
            AppType::Service => self.restart.unwrap_or_default(),
            _ => Restart::Never,
        }
    }

    /// The `http:` settings with defaults filled in (for `type: http`).
    pub fn http_settings(&self) -> Http {
        self.http.clone().unwrap_or_default()
    }

    /// Where the value of `field` (`entrypoint`, `fs[0].source`,
    /// `permissions.net[1]`, `env.FOO`...) was written: 1-based line and
    /// column, if it was written at all.
    pub fn location(&self, field: &str) -> Option<(usize, usize)> {
        self.locations.get(field).copied()
    }

    /// An error about `field` found after parsing (by the runtime, say),
    /// placed where the field was written, or failing that where its nearest
    /// enclosing field was.
    pub fn error_at(&self, field: &str, message: impl Into<String>) -> ManifestError {
        ManifestError::new(&self.file, ErrorKind::Runtime, message)
            .at(nearest_location(&self.locations, field))
            .with_field(field)
    }

    /// Fields that parse but whose features `qyv` does not have yet, each
    /// as an error at its place, for the CLI to report. `type: http` is not
    /// among them: `qyv serve` serves it (and `qyv run` says so).
    pub fn unsupported(&self) -> Vec<ManifestError> {
        let mut errors = Vec::new();
        let mut add = |field: &str, message: String| {
            let mut err = self.error_at(field, message);
            err.kind = ErrorKind::Unsupported;
            errors.push(err);
        };
        let p = &self.permissions;
        for (flag, field, what) in [
            (
                p.exec,
                "permissions.exec",
                "starting host processes (exec: true)",
            ),
            (p.ai, "permissions.ai", "AI inference (ai: true)"),
            (p.gfx, "permissions.gfx", "graphics (gfx: true)"),
        ] {
            if flag {
                add(
                    field,
                    format!("{what} is not supported yet by `qyv run`; set it to false"),
                );
            }
        }
        if matches!(self.app_type, AppType::Gui) {
            add(
                "type",
                format!(
                    "{} apps are not supported yet; use type: command or service (qyv run, a node) or type: http (qyv serve)",
                    self.app_type
                ),
            );
        }
        for (i, mount) in self.mounts.iter().enumerate() {
            if mount.kind != MountKind::Dir {
                add(
                    &format!("fs[{i}].type"),
                    format!(
                        "{} mounts are not supported yet by `qyv run`; use type: dir",
                        mount.kind
                    ),
                );
            }
        }
        errors
    }

    /// Cluster fields present in this manifest (`replicas`, `scheduler`):
    /// valid, but only a cluster deploy acts on them.
    pub fn cluster_only_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.replicas.is_some() {
            fields.push("replicas");
        }
        if self.scheduler.is_some() {
            fields.push("scheduler");
        }
        fields
    }
}

/// Where `field` was written, or failing that its nearest enclosing field.
pub(crate) fn nearest_location(
    locations: &BTreeMap<String, (usize, usize)>,
    field: &str,
) -> Option<(usize, usize)> {
    let mut path = field;
    loop {
        if let Some(pos) = locations.get(path) {
            return Some(*pos);
        }
        path = &path[..path.rfind(['.', '['])?];
    }
}

/// `base` joined with `path`, without `.` components; `..` is kept, since
/// removing it without looking at symlinks could change the meaning.
pub(crate) fn resolve(base: &Path, path: &Path) -> PathBuf {
    let joined = base.join(path);
    let mut out = PathBuf::new();
    for component in joined.components() {
        if component != Component::CurDir {
            out.push(component);
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::parse;

    fn manifest(extra: &str) -> Manifest {
        parse(&format!(
            "name: hello\nentrypoint: ./bin/hello.wasm\n{extra}"
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn fs_access_is_ordered_by_width() {
        assert!(FsAccess::None < FsAccess::Read);
        assert!(FsAccess::Read < FsAccess::Write);
        assert!(FsAccess::Write < FsAccess::Full);
        assert_eq!(FsAccess::parse("read-only"), Some(FsAccess::Read));
        assert_eq!(FsAccess::parse("read-write"), Some(FsAccess::Write));
        assert_eq!(FsAccess::parse("Read"), None);
        assert_eq!(FsAccess::Full.to_string(), "full");
    }

    #[test]
    fn entrypoint_is_resolved_without_dot_components() {
        let m = manifest("");
        assert_eq!(m.entrypoint, Path::new("./bin/hello.wasm"));
        assert_eq!(m.entrypoint_path(), Path::new("/apps/hello/bin/hello.wasm"));
    }

    #[test]
    fn effective_mounts_follow_permissions() {
        let none = manifest("");
        assert!(none.effective_mounts().is_empty());
        let read = manifest("permissions: {fs: read}\n");
        assert_eq!(
            read.effective_mounts(),
            [Mount {
                source: PathBuf::from("/apps/hello"),
                target: "/".into(),
                mode: MountMode::Read,
                kind: MountKind::Dir,
            }]
        );
        let write = manifest("permissions: {fs: read-write}\n");
        assert_eq!(write.effective_mounts()[0].mode, MountMode::Write);
        assert!(
            manifest("permissions: {fs: full}\n")
                .effective_mounts()
                .is_empty()
        );
        let explicit = manifest(
            "permissions: {fs: write}\nfs:\n  - {source: ./data, target: /data, mode: write}\n  - {source: /srv/x, target: /x}\n",
        );
        let mounts = explicit.effective_mounts();
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].source, Path::new("/apps/hello/data"));
        assert_eq!(mounts[0].mode, MountMode::Write);
        assert_eq!(mounts[1].source, Path::new("/srv/x"));
        assert_eq!(explicit.mounts[0].source, Path::new("./data"));
    }

    #[test]
    fn locations_and_error_at() {
        let m = manifest(
            "permissions:\n  fs: read\n  net:\n    - a.com:443\n    - 10.0.0.0/8\nfs:\n  - source: data\n    target: /d\nlimits:\n  memory: 64MiB\nenv:\n  FOO: bar\nargs: [x]\n",
        );
        assert_eq!(m.location("name"), Some((1, 7)));
        assert_eq!(m.location("entrypoint"), Some((2, 13)));
        assert_eq!(m.location("permissions.fs"), Some((4, 7)));
        assert_eq!(m.location("permissions.net[1]"), Some((7, 7)));
        assert_eq!(m.location("fs[0]"), Some((9, 5)));
        assert_eq!(m.location("fs[0].target"), Some((10, 13)));
        assert_eq!(m.location("limits.memory"), Some((12, 11)));
        assert_eq!(m.location("env.FOO"), Some((14, 8)));
        assert_eq!(m.location("args[0]"), Some((15, 8)));
        assert_eq!(m.location("limits.timeout"), None);
        assert_eq!(
            m.error_at("fs[0].source", "cannot open: permission denied")
                .to_string(),
            "hello.qyv:9:13: fs[0].source: cannot open: permission denied"
        );
        // Not written: falls back to the nearest enclosing field.
        assert_eq!(
            m.error_at("fs[0].mode", "x").to_string(),
            "hello.qyv:9:5: fs[0].mode: x"
        );
        assert_eq!(
            m.error_at("limits.timeout", "run took too long")
                .to_string(),
            "hello.qyv:12:3: limits.timeout: run took too long"
        );
        assert_eq!(
            m.error_at("replicas", "x").to_string(),
            "hello.qyv: replicas: x"
        );
    }

    #[test]
    fn unsupported_features_are_listed_at_their_lines() {
        let m = manifest(
            "type: gui\npermissions:\n  fs: write\n  exec: true\n  ai: true\n  gfx: true\nfs:\n  - {source: a, target: /a, type: memfs}\n  - {source: b, target: /b}\n  - {source: c, target: /c, type: netfs}\nreplicas: 2\n",
        );
        let messages: Vec<String> = m.unsupported().iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "hello.qyv:6:9: permissions.exec: starting host processes (exec: true) is not supported yet by `qyv run`; set it to false",
                "hello.qyv:7:7: permissions.ai: AI inference (ai: true) is not supported yet by `qyv run`; set it to false",
                "hello.qyv:8:8: permissions.gfx: graphics (gfx: true) is not supported yet by `qyv run`; set it to false",
                "hello.qyv:3:7: type: gui apps are not supported yet; use type: command or service (qyv run, a node) or type: http (qyv serve)",
                "hello.qyv:10:35: fs[0].type: memfs mounts are not supported yet by `qyv run`; use type: dir",
                "hello.qyv:12:35: fs[2].type: netfs mounts are not supported yet by `qyv run`; use type: dir",
            ]
        );
        assert!(
            m.unsupported()
                .iter()
                .all(|e| e.kind == ErrorKind::Unsupported)
        );
        assert_eq!(m.cluster_only_fields(), ["replicas"]);
    }

    #[test]
    fn serializes_in_the_manifest_shape() {
        let m = manifest(
            "version: 1.0.0\nenv: {Z: 1, A: b}\npermissions:\n  fs: read\n  net: [\"a.com:443\"]\nfs:\n  - {source: ./d, target: /d}\nlimits: {memory: 64MiB, timeout: 1m30s}\n",
        );
        // Written in the order of the manifest, not sorted.
        assert!(
            serde_json::to_string(&m)
                .unwrap()
                .contains(r#""env":{"Z":"1","A":"b"}"#)
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "hello",
                "version": "1.0.0",
                "manifest_version": 1,
                "entrypoint": "./bin/hello.wasm",
                "runtime": "wasi",
                "type": "command",
                "language": null,
                "args": [],
                "env": {"Z": "1", "A": "b"},
                "permissions": {"fs": "read", "net": ["a.com:443"], "exec": false, "ai": false, "gfx": false},
                "fs": [{"source": "./d", "target": "/d", "mode": "read", "type": "dir"}],
                "limits": {"memory": 67108864, "timeout": "1m30s", "fuel": null},
                "restart": null,
                "http": null,
                "replicas": null,
                "scheduler": null,
                "build": null,
                "component": false,
            })
        );
    }
}
