//! Everything one run needs, resolved: the manifest's grants merged with the
//! command line's, before any engine work starts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qyvol_manifest::bundle::Bundle;
use qyvol_manifest::{FsAccess, Manifest, MountKind, MountMode, NetPolicy};

use crate::bundle::BundleRun;
use crate::cache::CodeCache;
use crate::control::RunControl;
use crate::memfs::MemMount;
use crate::output::Stdio;
use crate::process::ExecGrant;

/// A host folder the guest sees at `guest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
}

/// A fully resolved run: which file, what it sees, what it may use.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub wasm: PathBuf,
    /// The manifest the run comes from, if any: like the wasm, no mount
    /// may let the app write it.
    pub manifest: Option<PathBuf>,
    /// The program name the guest sees as its first argument.
    pub argv0: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub preopens: Vec<Preopen>,
    /// In-memory file systems, fresh for each instance.
    pub memfs: Vec<MemMount>,
    pub net: NetPolicy,
    /// Cap on the total size of the program's linear memories, in bytes.
    pub memory: Option<u64>,
    pub timeout: Option<Duration>,
    pub fuel: Option<u64>,
    /// `None` compiles every time (`--no-cache`).
    pub cache: Option<CodeCache>,
    /// Set when the program and the mounts' files come from a bundle; `wasm`
    /// is then the bundle's path.
    pub bundle: Option<BundleRun>,
    /// Where standard output and error go (default: the host's).
    pub stdio: Stdio,
    /// A handle for a supervisor to stop the run and watch it.
    pub control: Option<RunControl>,
    /// `permissions.exec` and the tree of processes the run belongs to;
    /// `None` for a run that may not start others and is no one's child.
    pub exec: Option<ExecGrant>,
}

impl RunSpec {
    /// A run that grants nothing: no files, no network, no environment.
    pub fn bare(wasm: impl Into<PathBuf>, argv0: impl Into<String>) -> RunSpec {
        RunSpec {
            wasm: wasm.into(),
            manifest: None,
            argv0: argv0.into(),
            args: Vec::new(),
            env: Vec::new(),
            preopens: Vec::new(),
            memfs: Vec::new(),
            net: NetPolicy::Deny,
            memory: None,
            timeout: None,
            fuel: None,
            cache: CodeCache::default_root().map(CodeCache::new),
            bundle: None,
            stdio: Stdio::Inherit,
            control: None,
            exec: None,
        }
    }

    /// Exactly what the manifest grants. The guest's first argument is the
    /// app's name, as a command's name would be.
    pub fn from_manifest(m: &Manifest) -> RunSpec {
        let mut spec = RunSpec::bare(m.entrypoint_path(), m.name.clone());
        spec.manifest = Some(m.file().to_path_buf());
        spec.args = m.args.clone();
        spec.env = m.env.clone();
        spec.preopens = if m.permissions.fs == FsAccess::Full {
            vec![Preopen {
                host: PathBuf::from("/"),
                guest: "/".to_string(),
                writable: true,
            }]
        } else {
            m.effective_mounts()
                .into_iter()
                .filter(|mount| mount.kind == MountKind::Dir)
                .map(|mount| Preopen {
                    host: mount.source,
                    guest: mount.target,
                    writable: mount.mode == MountMode::Write,
                })
                .collect()
        };
        spec.memfs = m
            .effective_mounts()
            .into_iter()
            .filter(|mount| mount.kind == MountKind::Memfs)
            .map(|mount| MemMount {
                guest: mount.target,
                size: mount.size.unwrap_or(0),
                seed: (!mount.source.as_os_str().is_empty()).then_some(mount.source),
                writable: mount.mode == MountMode::Write,
            })
            .collect();
        spec.net = m.permissions.net.clone();
        spec.memory = m.limits.memory;
        spec.timeout = m.limits.timeout;
        spec.fuel = m.limits.fuel;
        if m.permissions.exec.granted() {
            spec.exec = Some(ExecGrant::new(
                m.permissions.exec.clone(),
                m.limits.processes,
            ));
        }
        spec
    }

    /// What the manifest inside a bundle grants, its mounts served from the
    /// bundle's files, read-only whatever the manifest says (a bundle's
    /// files are the same for every run), and never the host's own folders.
    pub fn from_bundle(m: &Manifest, bundle: Arc<Bundle>, allow_native: bool) -> RunSpec {
        let mut spec = RunSpec::from_manifest(m);
        // The manifest and the wasm are in the bundle's file.
        spec.wasm = bundle.file().to_path_buf();
        spec.manifest = None;
        spec.preopens.clear();
        // A memfs seed comes from the bundle's files (marked by an empty
        // path until the bundle is unpacked), never from the host.
        for mount in &mut spec.memfs {
            mount.seed = mount.seed.take().map(|_| PathBuf::new());
        }
        let mounts = m.effective_mounts().into_iter().map(|m| m.target).collect();
        spec.bundle = Some(BundleRun {
            bundle,
            mounts,
            allow_native,
        });
        spec
    }
}
