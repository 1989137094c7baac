//! A handle on a run from outside it, for hosts that supervise programs
//! (a node): stop the program, learn when it has started, and read its
//! memory while it runs. A run with a control always has epoch checks, so
//! that `stop` interrupts a guest that is running wasm; one blocked in a
//! host call (a sleep, a read) stops when the call returns.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use qyvol_manifest::sync::lock;
use wasmtime::Engine;

type Hook = Box<dyn FnOnce() + Send>;

#[derive(Clone, Default)]
pub struct RunControl {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    stopped: AtomicBool,
    engine: Mutex<Option<Engine>>,
    on_start: Mutex<Option<Hook>>,
    memory: Arc<AtomicU64>,
}

impl fmt::Debug for RunControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunControl")
            .field("stopped", &self.is_stopped())
            .field("memory", &self.memory())
            .finish()
    }
}

impl RunControl {
    pub fn new() -> RunControl {
        RunControl::default()
    }

    /// Calls `hook` once the program is instantiated, just before its entry
    /// point runs (never, if it fails before that).
    pub fn on_start(&self, hook: impl FnOnce() + Send + 'static) {
        *lock(&self.inner.on_start) = Some(Box::new(hook));
    }

    /// Asks the run to end: it ends as [`crate::Outcome::Stopped`] at its
    /// next epoch check, or does not start at all.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        if let Some(engine) = lock(&self.inner.engine).as_ref() {
            engine.increment_epoch();
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// The total size of the program's linear memories now, in bytes.
    pub fn memory(&self) -> u64 {
        self.inner.memory.load(Ordering::Relaxed)
    }

    /// The engine the run uses: `stop` interrupts it from now on.
    pub(crate) fn attach(&self, engine: &Engine) {
        *lock(&self.inner.engine) = Some(engine.clone());
    }

    pub(crate) fn started(&self) {
        if let Some(hook) = lock(&self.inner.on_start).take() {
            hook();
        }
    }

    /// Where the memory limiter publishes the current total.
    pub(crate) fn memory_gauge(&self) -> Arc<AtomicU64> {
        self.inner.memory.clone()
    }
}
