//! The typed manifest: what a `.qyv` file says once it has been checked.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use crate::error::{ErrorKind, ManifestError};
use crate::net::NetPolicy;

mod keywords;

pub use keywords::{AppType, FsAccess, MountKind, MountMode, Restart, Runtime, Strategy};

/// What the app may touch (`permissions:`). Everything is off by default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Permissions {
    /// Host file system access; mounts may not exceed it.
    pub fs: FsAccess,
    /// Network access.
    pub net: NetPolicy,
    /// Starting other apps, each in its own sandbox.
    pub exec: ExecPolicy,
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

/// Which other apps an app may start (`permissions.exec`): none, any it
/// can read, or those at the paths listed (as the app sees them; an entry
/// ending in `/*` allows everything below its folder).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ExecPolicy {
    #[default]
    Deny,
    AllowAll,
    Allow(Vec<String>),
}

impl ExecPolicy {
    /// Whether the app may start anything at all.
    pub fn granted(&self) -> bool {
        !matches!(self, ExecPolicy::Deny)
    }

    /// Whether the app may start the program at `path`, a normalised
    /// absolute path as the app sees it.
    pub fn allows(&self, path: &str) -> bool {
        match self {
            ExecPolicy::Deny => false,
            ExecPolicy::AllowAll => true,
            ExecPolicy::Allow(entries) => entries.iter().any(|e| exec_entry_allows(e, path)),
        }
    }

    /// Whether everything `other` allows, this allows too: a child's
    /// manifest may ask for no more than its parent holds. Entries are
    /// compared as written.
    pub fn covers(&self, other: &ExecPolicy) -> bool {
        match (self, other) {
            (_, ExecPolicy::Deny) | (ExecPolicy::AllowAll, _) => true,
            (ExecPolicy::Deny, _) | (ExecPolicy::Allow(_), ExecPolicy::AllowAll) => false,
            (ExecPolicy::Allow(held), ExecPolicy::Allow(wanted)) => {
                wanted.iter().all(|w| match w.strip_suffix("/*") {
                    // A folder is covered only by a folder at least as wide.
                    Some(folder) => held.iter().any(|h| {
                        h.strip_suffix("/*").is_some_and(|f| {
                            folder == f
                                || folder.strip_prefix(f).is_some_and(|r| r.starts_with('/'))
                        })
                    }),
                    None => self.allows(w),
                })
            }
        }
    }
}

fn exec_entry_allows(entry: &str, path: &str) -> bool {
    match entry.strip_suffix("/*") {
        Some(folder) => path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1),
        None => entry == path,
    }
}

impl Serialize for ExecPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ExecPolicy::Deny => serializer.serialize_bool(false),
            ExecPolicy::AllowAll => serializer.serialize_bool(true),
            ExecPolicy::Allow(entries) => entries.serialize(serializer),
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
    /// A memfs mount's cap in bytes (required there, refused elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
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
    /// Most CPU the app may use on a node, in thousandths of a core
    /// (`limits.cpu: 0.5` is 500), even when the node is idle.
    #[serde(rename = "cpu", serialize_with = "serialize_cores")]
    pub cpu_millicores: Option<u32>,
    /// Most children (and their children) running at once, for an app
    /// with `permissions.exec`.
    pub processes: Option<u32>,
}

impl Limits {
    /// Live children when `limits.processes` is not given.
    pub const DEFAULT_PROCESSES: u32 = 64;
    /// Most `limits.processes`.
    pub const MAX_PROCESSES: u32 = 4096;
}

/// Thousandths of a core, written as cores.
fn serialize_cores<S: Serializer>(value: &Option<u32>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(m) => serializer.serialize_f64(f64::from(*m) / 1000.0),
        None => serializer.serialize_none(),
    }
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

fn serialize_some_duration<S: Serializer>(
    value: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::units::format_duration(*value))
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
    /// The path a cluster's rollout `GET`s to tell a new replica healthy
    /// (below 500); `None`: the route.
    pub health: Option<String>,
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
            health: None,
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
    /// The app's share of a node's CPU when apps compete for it, against
    /// the others' weights (1 when unset).
    pub weight: Option<u32>,
}

/// How a cluster replaces the replicas of a running revision with a new
/// one (`rollout:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rollout {
    /// Replicas that may be down at once during the update.
    pub max_unavailable: u32,
    /// New replicas that may run above `replicas` during the update.
    pub max_surge: u32,
    /// How long a new replica must run (and an HTTP one answer) to count
    /// as healthy.
    #[serde(serialize_with = "serialize_some_duration")]
    pub healthy_for: Duration,
}

impl Default for Rollout {
    fn default() -> Rollout {
        Rollout {
            max_unavailable: 1,
            max_surge: 1,
            healthy_for: Duration::from_secs(5),
        }
    }
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
    /// How a cluster rolls out a new revision.
    pub rollout: Option<Rollout>,
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
                    // A memfs without a seed has no source.
                    source: if mount.source.as_os_str().is_empty() {
                        PathBuf::new()
                    } else {
                        resolve(&self.base_dir, &mount.source)
                    },
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
            size: None,
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
pub(crate) mod tests {
    use super::*;
    use crate::decode::tests::parse;

    /// A manifest of `hello` with `extra` after its name and entrypoint.
    pub(crate) fn manifest(extra: &str) -> Manifest {
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
                size: None,
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
                "limits": {"memory": 67108864, "timeout": "1m30s", "fuel": null, "cpu": null, "processes": null},
                "restart": null,
                "http": null,
                "replicas": null,
                "scheduler": null,
                "rollout": null,
                "build": null,
                "component": false,
            })
        );
    }
}
