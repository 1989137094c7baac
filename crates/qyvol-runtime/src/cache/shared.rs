//! Code mapped once per artifact and engine in this process, then shared by
//! every program that loads it: a node running thousands of apps of the same
//! code maps the file once. Each mapping of a `Module` is four memory
//! mappings and some metadata; the kernel allows a process 65,530 mappings
//! (`vm.max_map_count`), which 10,000 apps with one mapping each of their
//! own exceeded. An entry is the artifact's file identity (a replaced file
//! is a new inode: cache files change only by rename) and the engine
//! (`Engine::same`: code belongs to the engine that loaded it).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use qyvol_manifest::sync::lock;
use wasmtime::Engine;

use super::store::Stamp;
use crate::code::Code;

/// Entries kept; past it the oldest goes (its code lives on in the programs
/// that hold it). Bounds what a long-running process keeps of code no
/// program uses any more.
const KEPT: usize = 256;

struct Entry {
    artifact: PathBuf,
    stamp: Stamp,
    engine: Engine,
    code: Code,
}

static SHARED: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The code mapped from `artifact` (as it is now) for `engine`, if any.
pub(super) fn get(engine: &Engine, artifact: &Path, stamp: &Stamp) -> Option<Code> {
    lock(&SHARED)
        .iter()
        .find(|e| e.artifact == artifact && &e.stamp == stamp && Engine::same(&e.engine, engine))
        .map(|e| e.code.clone())
}

/// Remembers code just mapped from `artifact`.
pub(super) fn put(engine: &Engine, artifact: &Path, stamp: Stamp, code: &Code) {
    let mut shared = lock(&SHARED);
    shared.retain(|e| !(e.artifact == artifact && Engine::same(&e.engine, engine)));
    if shared.len() >= KEPT {
        shared.remove(0);
    }
    shared.push(Entry {
        artifact: artifact.to_path_buf(),
        stamp,
        engine: engine.clone(),
        code: code.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_shared_for_the_same_file_and_engine_only() {
        let dir = tempfile::tempdir().unwrap();
        let artifact = dir.path().join("code.cwasm");
        std::fs::write(&artifact, b"x").unwrap();
        let stamp = Stamp::of(&std::fs::metadata(&artifact).unwrap());
        let engine = Engine::default();
        let module = wasmtime::Module::new(&engine, wat::parse_str("(module)").unwrap()).unwrap();
        put(
            &engine,
            &artifact,
            stamp.clone(),
            &Code::Module(module.clone()),
        );
        match get(&engine, &artifact, &stamp) {
            Some(Code::Module(m)) => assert!(wasmtime::Module::same(&m, &module)),
            _ => panic!("the code was not shared"),
        }
        let other = Engine::default();
        assert!(get(&other, &artifact, &stamp).is_none(), "another engine");
        let mut changed = stamp.clone();
        changed.ino += 1;
        assert!(
            get(&engine, &artifact, &changed).is_none(),
            "a replaced file"
        );
    }
}
