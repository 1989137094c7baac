//! Locks that outlive a panic.

use std::sync::{Mutex, MutexGuard};

/// Takes the lock even when a thread panicked while holding it. What Qyvol
/// keeps behind a mutex (tables, handles, counters, a database connection
/// that rolls back on drop) is changed one whole statement at a time, so a
/// panic leaves it usable; refusing it would turn one failed request or run
/// into a process that fails every one after.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
