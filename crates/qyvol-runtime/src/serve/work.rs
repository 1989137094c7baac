//! Work accounting: what a server still has running (connections, guests),
//! so that its shutdown can wait for it, and say how much it cut short.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts what is still running.
#[derive(Default)]
pub(crate) struct Work {
    running: AtomicUsize,
    done: Notify,
}

/// One running thing; counted out when dropped.
pub(crate) struct Busy(Arc<Work>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.notify_waiters();
        }
    }
}

impl Work {
    pub(crate) fn start(self: &Arc<Self>) -> Busy {
        self.running.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Returns once nothing runs.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.done.notified();
            if self.running() == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_the_last_one() {
        let work = Arc::new(Work::default());
        work.idle().await;
        let one = work.start();
        let two = work.start();
        assert_eq!(work.running(), 2);
        let waiter = {
            let work = work.clone();
            tokio::spawn(async move { work.idle().await })
        };
        drop(one);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished());
        drop(two);
        waiter.await.unwrap();
        assert_eq!(work.running(), 0);
    }
}
