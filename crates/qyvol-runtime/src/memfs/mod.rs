//! `memfs` mounts: a per-instance file system in the host's memory, with a
//! hard size cap, gone when the instance ends.
//!
//! wasmtime-wasi's filesystem is cap-std directories all the way down
//! (its `Descriptor` is a closed enum of host files and folders, and its
//! preview-1 implementation calls that type directly), so a virtual tree
//! cannot be slipped under it. Instead Qyvol implements the WASI 0.2
//! interfaces `wasi:filesystem/types` and `wasi:filesystem/preopens`
//! itself (`host.rs`, bindings generated from `wit/`) and links them over
//! wasmtime-wasi's for a run that has memfs mounts; every other interface
//! (streams, clocks, stdio, sockets) stays wasmtime-wasi's. A preview-1
//! module with memfs mounts runs as a component made with wasmtime's
//! preview-1 adapter, so both kinds of program reach the one
//! implementation. See docs/ARCHITECTURE.md, "Virtual file systems".

mod host;
mod stream;
mod tree;

use std::fs;
use std::path::{Path, PathBuf};

use wasmtime::component::{HasData, Linker, ResourceTable};

use bindings::wasi::filesystem::types::ErrorCode;
pub(crate) use host::MemFsView;
pub use host::{MemDescriptor, MemDirStream};
use tree::{MemFs, OpenHow};

use wasmtime::Engine;

use sha2::{Digest, Sha256};

use crate::cache::KnownWasm;
use crate::code::Code;
use crate::component::Adapter;
use crate::error::RuntimeError;
use crate::kind::WasmKind;
use crate::spec::{Preopen, RunSpec};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "qyvol:memfs/memfs",
        imports: { default: trappable },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::sync::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:filesystem/types.descriptor": super::MemDescriptor,
            "wasi:filesystem/types.directory-entry-stream": super::MemDirStream,
        },
        require_store_data_send: true,
    });
}

/// A memfs mount as a run asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemMount {
    /// Where the app sees it.
    pub guest: String,
    /// The cap, in bytes: file contents, names, and a fixed cost per file
    /// or folder.
    pub size: u64,
    /// A host folder copied in at the start (`source:`), if any.
    pub seed: Option<PathBuf>,
    pub writable: bool,
}

/// The memfs trees of one instance.
#[derive(Default)]
pub struct MemFsCtx {
    mounts: Vec<(MemFs, String)>,
}

/// Why a memfs could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MemFsError {
    #[error("memfs at {guest}: its seed {path} does not fit in size {size} bytes")]
    SeedTooBig {
        guest: String,
        path: PathBuf,
        size: u64,
    },
    #[error("memfs at {guest}: cannot copy {path}: {source}")]
    Seed {
        guest: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl MemFsCtx {
    /// Fresh trees for `mounts`, each seeded from its folder.
    pub fn new(mounts: &[MemMount]) -> Result<MemFsCtx, MemFsError> {
        let mut ctx = MemFsCtx::default();
        for m in mounts {
            let fs = MemFs::new(m.size, m.writable);
            if let Some(seed) = &m.seed {
                copy_in(&fs, tree::ROOT, seed).map_err(|e| match e {
                    Copy::Full => MemFsError::SeedTooBig {
                        guest: m.guest.clone(),
                        path: seed.clone(),
                        size: m.size,
                    },
                    Copy::Io(path, source) => MemFsError::Seed {
                        guest: m.guest.clone(),
                        path,
                        source,
                    },
                })?;
            }
            ctx.mounts.push((fs, m.guest.clone()));
        }
        Ok(ctx)
    }
}

enum Copy {
    Full,
    Io(PathBuf, std::io::Error),
}

/// Copies the regular files and folders under `host` into `dir` (links and
/// special files are left out: a seed is data, not a view of the host).
fn copy_in(fs: &MemFs, dir: u64, host: &Path) -> Result<(), Copy> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| Copy::Io(path, e)
    };
    let mut entries: Vec<_> = fs::read_dir(host)
        .map_err(io(host))?
        .collect::<Result<_, _>>()
        .map_err(io(host))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let kind = entry.file_type().map_err(io(&path))?;
        let full = |e: ErrorCode| match e {
            ErrorCode::InsufficientSpace => Copy::Full,
            other => Copy::Io(path.clone(), std::io::Error::other(format!("{other:?}"))),
        };
        if kind.is_dir() {
            let mut tree = fs.lock();
            tree.create_dir(dir, &name).map_err(full)?;
            let id = tree.lookup(dir, &name).map_err(full)?;
            drop(tree);
            copy_in(fs, id, &path)?;
        } else if kind.is_file() {
            let bytes = fs::read(&path).map_err(io(&path))?;
            let mut tree = fs.lock();
            let how = OpenHow {
                create: true,
                ..OpenHow::default()
            };
            let id = tree.open(dir, &name, how).map_err(full)?;
            tree.write(id, 0, &bytes).map_err(full)?;
        }
    }
    Ok(())
}

/// A store whose data can lend its memfs trees and resource table.
pub(crate) trait MemFsState: Send {
    fn memfs(&mut self) -> MemFsView<'_>;
}

struct MemFsData;

impl HasData for MemFsData {
    type Data<'a> = MemFsView<'a>;
}

/// Links memfs's `wasi:filesystem` over what is in `linker` (wasmtime-wasi's).
pub(crate) fn add_to_linker<T: MemFsState + 'static>(
    linker: &mut Linker<T>,
) -> Result<(), RuntimeError> {
    linker.allow_shadowing(true);
    let result =
        bindings::wasi::filesystem::types::add_to_linker::<T, MemFsData>(linker, |s| s.memfs())
            .and_then(|()| {
                bindings::wasi::filesystem::preopens::add_to_linker::<T, MemFsData>(linker, |s| {
                    s.memfs()
                })
            });
    linker.allow_shadowing(false);
    result.map_err(|e| RuntimeError::Engine(crate::error::chain(&e)))
}

/// The code a run with memfs mounts runs: a component, made from a
/// preview-1 module with wasmtime's command adapter. Its compiled code is
/// cached under a key made of the module's and the adapter's SHA-256, so
/// only the first run adapts and compiles. Refuses what is not supported
/// yet.
pub(crate) fn code_for(engine: &Engine, spec: &RunSpec, code: Code) -> Result<Code, RuntimeError> {
    if spec.memfs.is_empty() {
        return Ok(code);
    }
    if !spec.preopens.is_empty() {
        return Err(RuntimeError::MemFsBesideFolders);
    }
    let Code::Module(_) = code else {
        return Ok(code);
    };
    // A bundle's wasm is read (and checked against its SHA-256) again.
    let core = match &spec.bundle {
        Some(run) => run.bundle.read(run.bundle.wasm_entry())?,
        None => std::fs::read(&spec.wasm).map_err(|source| RuntimeError::Read {
            path: spec.wasm.clone(),
            source,
        })?,
    };
    let adapt = || {
        crate::component::adapt(&core, Some(Adapter::Command))
            .map(|adapted| adapted.bytes)
            .map_err(|e| RuntimeError::NotRunnable {
                path: spec.wasm.clone(),
                message: format!("its memfs mounts need it as a component, and {e}"),
                handler: false,
            })
    };
    let Some(cache) = &spec.cache else {
        return Code::compile(engine, WasmKind::Component, &adapt()?).map_err(|e| {
            RuntimeError::InvalidWasm {
                path: spec.wasm.clone(),
                message: crate::error::chain(&e),
            }
        });
    };
    let mut key = Sha256::new();
    key.update(b"qyvol: preview-1 module through the command adapter\0");
    key.update(Sha256::digest(&core));
    key.update(Sha256::digest(Adapter::Command.bytes()));
    let wasm = KnownWasm {
        origin: &spec.wasm,
        sha256: hex::encode(key.finalize()),
        kind: WasmKind::Component,
        bytes: None,
    };
    Ok(cache.load_known(engine, wasm, adapt)?.code)
}

/// Moves the bundle's files of a memfs mount from `mounts` (where the
/// bundle put them as a folder) to the memfs's seed.
pub(crate) fn seed_from_bundle(memfs: &mut [MemMount], mounts: &mut Vec<Preopen>) {
    mounts.retain(|preopen| {
        let Some(mount) = memfs.iter_mut().find(|m| m.guest == preopen.guest) else {
            return true;
        };
        if mount.seed.is_some() {
            mount.seed = Some(preopen.host.clone());
        }
        false
    });
    // A seed the bundle holds no files for starts empty.
    for mount in memfs {
        if mount
            .seed
            .as_ref()
            .is_some_and(|s| s.as_os_str().is_empty())
        {
            mount.seed = None;
        }
    }
}

/// A table to hold memfs resources beside wasmtime-wasi's.
pub(crate) fn view<'a>(table: &'a mut ResourceTable, ctx: &'a MemFsCtx) -> MemFsView<'a> {
    MemFsView { table, ctx }
}

#[cfg(test)]
mod tests;
