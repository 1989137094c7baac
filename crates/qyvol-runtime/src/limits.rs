//! The memory limiter: caps the total of all linear memories of a run (a
//! component made by the preview-1 adapter has two) and of its tables,
//! records the peak for the metrics, and remembers that the cap was hit so
//! the run's end can name `limits.memory` instead of whatever the guest made
//! of the failed growth.
//!
//! A table lives in host memory too: a guest growing a table by 64 million
//! elements takes half a gigabyte of it without touching its linear memory.
//! Each element counts as what it takes on the host, a pointer (a funcref
//! slot; an externref slot is smaller and counts the same).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::ResourceLimiter;

#[derive(Debug, Default)]
pub(crate) struct MemoryLimiter {
    limit: Option<usize>,
    total: usize,
    peak: usize,
    /// The size of the growth in flight, undone if the engine fails it.
    pending: usize,
    hit: bool,
    /// Where a supervisor reads the current total (see `RunControl`).
    gauge: Option<Arc<AtomicU64>>,
    /// The total of a whole tree of processes and its cap (the root's
    /// `limits.memory`), which this run's memory also counts against.
    shared: Option<(Arc<AtomicU64>, u64)>,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: Option<u64>) -> MemoryLimiter {
        MemoryLimiter {
            limit: limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
            total: 0,
            peak: 0,
            pending: 0,
            hit: false,
            gauge: None,
            shared: None,
        }
    }

    /// Also publish the current total to `gauge`.
    pub(crate) fn publishing(mut self, gauge: Option<Arc<AtomicU64>>) -> MemoryLimiter {
        self.gauge = gauge;
        self
    }

    /// Also count against a tree's shared total, capped at `limit`.
    pub(crate) fn sharing(mut self, total: Arc<AtomicU64>, limit: Option<u64>) -> MemoryLimiter {
        self.shared = Some((total, limit.unwrap_or(u64::MAX)));
        self
    }

    fn publish(&self) {
        if let Some(g) = &self.gauge {
            g.store(self.total as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak as u64
    }

    pub(crate) fn hit(&self) -> bool {
        self.hit
    }
}

/// Host bytes counted for each table element.
pub(crate) const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

impl MemoryLimiter {
    /// Counts a growth of `delta` bytes, or refuses it past the limit.
    fn grow(&mut self, delta: usize) -> bool {
        let total = self.total.saturating_add(delta);
        if self.limit.is_some_and(|limit| total > limit) || !self.take_shared(delta) {
            // memory.grow and table.grow return -1, as a wasm program
            // expects when memory runs out: it may recover, or fail in its
            // own words.
            self.hit = true;
            return false;
        }
        self.total = total;
        self.pending = delta;
        self.peak = self.peak.max(total);
        self.publish();
        true
    }

    /// Takes `delta` bytes from the tree's total, if there is room.
    fn take_shared(&self, delta: usize) -> bool {
        let Some((total, limit)) = &self.shared else {
            return true;
        };
        let delta = delta as u64;
        let before = total.fetch_add(delta, Ordering::SeqCst);
        if before.saturating_add(delta) > *limit {
            total.fetch_sub(delta, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn give_back_shared(&self, bytes: usize) {
        if let Some((total, _)) = &self.shared {
            total.fetch_sub(bytes as u64, Ordering::SeqCst);
        }
    }

    /// The engine could not make the growth just allowed: it is not held.
    fn undo(&mut self) {
        self.give_back_shared(self.pending);
        self.total = self.total.saturating_sub(self.pending);
        self.pending = 0;
        self.publish();
    }
}

impl Drop for MemoryLimiter {
    /// A run that ended gives its memory back to its tree.
    fn drop(&mut self) {
        self.give_back_shared(self.total);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(desired.saturating_sub(current)))
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let elements = desired.saturating_sub(current);
        Ok(self.grow(elements.saturating_mul(TABLE_ELEMENT_BYTES)))
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_the_total_of_all_memories_and_keeps_the_peak() {
        let mut l = MemoryLimiter::new(Some(3 * 65536));
        assert!(l.memory_growing(0, 65536, None).unwrap());
        assert!(l.memory_growing(0, 2 * 65536, None).unwrap());
        assert!(!l.hit());
        assert!(!l.memory_growing(65536, 2 * 65536, None).unwrap());
        assert!(l.hit());
        assert_eq!(l.peak(), 3 * 65536);
    }

    #[test]
    fn a_failed_growth_is_not_counted() {
        let mut l = MemoryLimiter::new(Some(2 * 65536));
        assert!(l.memory_growing(0, 2 * 65536, None).unwrap());
        l.memory_grow_failed(wasmtime::format_err!("no")).unwrap();
        assert!(l.memory_growing(0, 2 * 65536, None).unwrap());
    }

    #[test]
    fn tables_count_against_the_same_cap() {
        let mut l = MemoryLimiter::new(Some(65536 + 1000 * TABLE_ELEMENT_BYTES as u64));
        assert!(l.memory_growing(0, 65536, None).unwrap());
        assert!(l.table_growing(0, 1000, None).unwrap());
        assert!(!l.hit());
        assert!(!l.table_growing(1000, 1001, None).unwrap());
        assert!(l.hit());
        assert_eq!(l.peak(), 65536 + 1000 * TABLE_ELEMENT_BYTES as u64);
        // A table growth the engine then failed is given back.
        let mut l = MemoryLimiter::new(Some(1000 * TABLE_ELEMENT_BYTES as u64));
        assert!(l.table_growing(0, 1000, None).unwrap());
        l.table_grow_failed(wasmtime::format_err!("no")).unwrap();
        assert!(l.table_growing(0, 1000, None).unwrap());
    }

    #[test]
    fn a_tree_shares_one_cap() {
        let total = Arc::new(AtomicU64::new(0));
        let mut parent = MemoryLimiter::new(None).sharing(total.clone(), Some(3 * 65536));
        let mut child = MemoryLimiter::new(None).sharing(total.clone(), Some(3 * 65536));
        assert!(parent.memory_growing(0, 2 * 65536, None).unwrap());
        assert!(!child.memory_growing(0, 2 * 65536, None).unwrap());
        assert!(child.hit());
        assert!(child.memory_growing(0, 65536, None).unwrap());
        drop(child);
        assert_eq!(total.load(Ordering::SeqCst), 2 * 65536);
        assert!(parent.memory_growing(2 * 65536, 3 * 65536, None).unwrap());
    }

    #[test]
    fn no_limit_allows_anything() {
        let mut l = MemoryLimiter::new(None);
        assert!(l.memory_growing(0, usize::MAX / 2, None).unwrap());
        assert!(!l.hit());
    }
}
