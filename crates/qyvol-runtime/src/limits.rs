//! The memory limiter: caps the total of all linear memories of a run (a
//! component made by the preview-1 adapter has two), records the peak for
//! the metrics, and remembers that the cap was hit so the run's end can name
//! `limits.memory` instead of whatever the guest made of the failed growth.

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
}

impl MemoryLimiter {
    pub(crate) fn new(limit: Option<u64>) -> MemoryLimiter {
        MemoryLimiter {
            limit: limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
            ..Default::default()
        }
    }

    /// Also publish the current total to `gauge`.
    pub(crate) fn publishing(mut self, gauge: Option<Arc<AtomicU64>>) -> MemoryLimiter {
        self.gauge = gauge;
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

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current);
        let total = self.total.saturating_add(delta);
        if self.limit.is_some_and(|limit| total > limit) {
            // memory.grow returns -1, as a wasm program expects when memory
            // runs out: it may recover, or fail in its own words.
            self.hit = true;
            return Ok(false);
        }
        self.total = total;
        self.pending = delta;
        self.peak = self.peak.max(total);
        self.publish();
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.total = self.total.saturating_sub(self.pending);
        self.pending = 0;
        self.publish();
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
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
    fn no_limit_allows_anything() {
        let mut l = MemoryLimiter::new(None);
        assert!(l.memory_growing(0, usize::MAX / 2, None).unwrap());
        assert!(!l.hit());
    }
}
