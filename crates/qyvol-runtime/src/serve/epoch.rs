//! The epoch clock of the apps with a time limit: a thread that advances
//! their engines' epochs, which is how `limits.timeout` is checked and how
//! a busy guest yields to the other requests. It starts with the first app
//! that has a time limit, so a server whose apps have none runs no clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::Engine;

use crate::serve::app::LoadedApp;

/// How often the clock ticks: the resolution of `limits.timeout`, and how
/// often a busy guest yields.
const TICK: Duration = Duration::from_millis(10);

#[derive(Default)]
pub(crate) struct EpochClock {
    timed: Arc<Timed>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the clock's thread shares with it.
#[derive(Default)]
struct Timed {
    /// Every app loaded with a time limit, for as long as it is served or a
    /// request still uses it.
    apps: Mutex<Vec<Weak<LoadedApp>>>,
    stopped: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EpochClock {
    /// Advances the epochs of those of `apps` that have a time limit,
    /// starting the clock if it is not running yet.
    pub(crate) fn add(&self, apps: &[Arc<LoadedApp>]) {
        let mut timed = apps
            .iter()
            .filter(|a| a.options.epoch_interruption)
            .map(Arc::downgrade)
            .peekable();
        if timed.peek().is_none() {
            return;
        }
        lock(&self.timed.apps).extend(timed);
        let mut thread = lock(&self.thread);
        if thread.is_some() || self.timed.stopped.load(Ordering::Acquire) {
            return;
        }
        let shared = self.timed.clone();
        // Without its thread the time limits are not enforced, but the apps
        // still serve: a limit that cannot be enforced is no reason to
        // refuse every request.
        *thread = std::thread::Builder::new()
            .name("qyv-epoch".into())
            .spawn(move || shared.run())
            .ok();
    }

    /// Stops the clock for good (the server has stopped).
    pub(crate) fn stop(&self) {
        self.timed.stopped.store(true, Ordering::Release);
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }

    #[cfg(test)]
    pub(crate) fn running(&self) -> bool {
        lock(&self.thread).is_some()
    }
}

impl Drop for EpochClock {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Timed {
    fn run(&self) {
        while !self.stopped.load(Ordering::Acquire) {
            std::thread::sleep(TICK);
            for engine in self.engines() {
                engine.increment_epoch();
            }
        }
    }

    /// The engines to advance now; forgets apps nothing uses any more.
    fn engines(&self) -> Vec<Engine> {
        let mut apps = lock(&self.apps);
        let mut engines = Vec::with_capacity(apps.len());
        apps.retain(|app| match app.upgrade() {
            Some(app) => {
                engines.push(app.engine.clone());
                true
            }
            None => false,
        });
        engines
    }
}
