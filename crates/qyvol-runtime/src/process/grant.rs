//! What an instance in a tree of processes holds: its `permissions.exec`,
//! the tree it belongs to (the live children count, the memory they all
//! share, whether the root's time is up), whether it was killed, and its
//! own standard streams, which a child that inherits them gets.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use qyvol_manifest::{ExecPolicy, Limits};

use super::pipe::Pipe;
use crate::cache::LoadedCode;

/// An instance's `permissions.exec` and its place in its tree.
#[derive(Clone)]
pub struct ExecGrant {
    pub policy: ExecPolicy,
    pub(crate) tree: Arc<Tree>,
    /// Set when this instance is killed: its next epoch check ends it.
    pub(crate) killed: Arc<AtomicBool>,
    /// Where this instance's own streams go (the root's are the host's).
    pub(crate) streams: Streams,
}

impl fmt::Debug for ExecGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecGrant")
            .field("policy", &self.policy)
            .field("processes", &self.tree.max)
            .finish()
    }
}

impl ExecGrant {
    /// The grant of a root app: `processes` children (theirs included) may
    /// run at once.
    pub fn new(policy: ExecPolicy, processes: Option<u32>) -> ExecGrant {
        ExecGrant {
            policy,
            tree: Arc::new(Tree {
                live: AtomicU32::new(0),
                max: processes.unwrap_or(Limits::DEFAULT_PROCESSES),
                expired: AtomicBool::new(false),
                memory_used: Arc::new(AtomicU64::new(0)),
                memory_limit: OnceLock::new(),
                timeout: OnceLock::new(),
                code: Mutex::new(HashMap::new()),
            }),
            killed: Arc::new(AtomicBool::new(false)),
            streams: Streams::host(),
        }
    }

    /// The grant of a child in the same tree.
    pub(crate) fn child(&self, policy: ExecPolicy, streams: Streams) -> ExecGrant {
        ExecGrant {
            policy,
            tree: self.tree.clone(),
            killed: Arc::new(AtomicBool::new(false)),
            streams,
        }
    }

    /// The root's time is up: every instance of the tree ends at its next
    /// epoch check (the caller advances the epoch).
    pub(crate) fn expire(&self) {
        self.tree.expired.store(true, Ordering::SeqCst);
    }

    /// Whether this instance must end now.
    pub(crate) fn must_end(&self) -> bool {
        self.killed.load(Ordering::SeqCst) || self.tree.expired.load(Ordering::SeqCst)
    }
}

/// What all the instances of one tree share.
pub(crate) struct Tree {
    /// Children running now, at any depth.
    pub(crate) live: AtomicU32,
    /// `limits.processes` of the root.
    pub(crate) max: u32,
    /// The root's time limit has passed.
    pub(crate) expired: AtomicBool,
    /// Bytes of memory the whole tree holds, against the root's
    /// `limits.memory`.
    pub(crate) memory_used: Arc<AtomicU64>,
    /// The root's `limits.memory`, set when the root starts.
    pub(crate) memory_limit: OnceLock<Option<u64>>,
    /// The root's `limits.timeout`, for a child's report.
    pub(crate) timeout: OnceLock<Option<Duration>>,
    /// Code the tree has loaded, by file, with the size and time of
    /// change it had: a program started again and again (a shell's
    /// commands) is mapped from the cache once.
    code: Mutex<HashMap<PathBuf, (FileStamp, LoadedCode)>>,
}

/// What tells that a file changed: its size and its time of change.
type FileStamp = (u64, Option<SystemTime>);

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()))
}

impl Tree {
    /// The code loaded for `path`, if the file is as it was then.
    pub(crate) fn code_for(&self, path: &Path) -> Option<LoadedCode> {
        let now = stamp(path)?;
        let code = self.code.lock().unwrap_or_else(|p| p.into_inner());
        code.get(path)
            .filter(|(then, _)| *then == now)
            .map(|(_, loaded)| loaded.clone())
    }

    pub(crate) fn keep_code(&self, path: &Path, loaded: &LoadedCode) {
        if let Some(now) = stamp(path) {
            let mut code = self.code.lock().unwrap_or_else(|p| p.into_inner());
            code.insert(path.to_path_buf(), (now, loaded.clone()));
        }
    }
}

/// Where one of an instance's output streams goes.
#[derive(Clone)]
pub(crate) enum Out {
    /// The host's own stream of the same name.
    Host,
    Pipe(Arc<Pipe>),
    Null,
}

/// Where an instance's standard input comes from.
#[derive(Clone)]
pub(crate) enum In {
    Host,
    Pipe(Arc<Pipe>),
    Null,
}

#[derive(Clone)]
pub(crate) struct Streams {
    pub(crate) stdin: In,
    pub(crate) stdout: Out,
    pub(crate) stderr: Out,
}

impl Streams {
    pub(crate) fn host() -> Streams {
        Streams {
            stdin: In::Host,
            stdout: Out::Host,
            stderr: Out::Host,
        }
    }

    /// Puts them in a WASI context.
    pub(crate) fn apply(&self, b: &mut wasmtime_wasi::WasiCtxBuilder) {
        use super::pipe::{PipeReader, PipeWriter};
        match &self.stdin {
            In::Host => {
                b.inherit_stdin();
            }
            In::Pipe(p) => {
                b.stdin(PipeReader(p.clone()));
            }
            In::Null => {}
        }
        match &self.stdout {
            Out::Host => {
                b.inherit_stdout();
            }
            Out::Pipe(p) => {
                b.stdout(PipeWriter(p.clone()));
            }
            Out::Null => {}
        }
        match &self.stderr {
            Out::Host => {
                b.inherit_stderr();
            }
            Out::Pipe(p) => {
                b.stderr(PipeWriter(p.clone()));
            }
            Out::Null => {}
        }
    }

    /// Writes a line the host has to say about this instance (how a child
    /// ended) to its standard error.
    pub(crate) fn say(&self, line: &str) {
        let text = format!("{line}\n");
        match &self.stderr {
            Out::Host => {
                use std::io::Write;
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
            // Never waits: a parent that does not read its child's errors
            // loses this line rather than holding the child's thread.
            Out::Pipe(p) => {
                let _ = p.push(text.as_bytes());
            }
            Out::Null => {}
        }
    }
}
