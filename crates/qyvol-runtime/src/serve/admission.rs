//! Backpressure: at most `concurrency` instances of an app run at once;
//! requests beyond that wait in a bounded queue, in arrival order, and only
//! a request that finds the queue full is refused (503).

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) struct Admission {
    permits: std::sync::Arc<Semaphore>,
    waiting: AtomicU32,
    queue: u32,
    concurrency: u32,
}

/// The queue was full.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Full {
    pub(crate) running: u32,
    pub(crate) waiting: u32,
}

/// Leaves the queue when dropped, including when the client goes away
/// while its request waits.
struct InQueue<'a>(&'a AtomicU32);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    pub(crate) fn new(concurrency: u32, queue: u32) -> Admission {
        let concurrency = concurrency.max(1);
        Admission {
            permits: std::sync::Arc::new(Semaphore::new(concurrency as usize)),
            waiting: AtomicU32::new(0),
            queue,
            concurrency,
        }
    }

    /// A place to run: at once when an instance is free, after waiting when
    /// the queue has room, never when it has none. The permit is held for
    /// as long as the instance runs.
    pub(crate) async fn enter(&self) -> Result<OwnedSemaphorePermit, Full> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _in_queue = InQueue(&self.waiting);
        if before >= self.queue {
            return Err(Full {
                running: self.concurrency,
                waiting: before,
            });
        }
        // Tokio's semaphore is fair: waiters are served first come, first
        // served. It is never closed, so acquiring cannot fail.
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Full {
                running: self.concurrency,
                waiting: self.waiting.load(Ordering::Acquire),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_in_order_then_refuses_when_the_queue_is_full() {
        let a = std::sync::Arc::new(Admission::new(1, 1));
        let first = a.enter().await.unwrap();
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.enter().await.map(|_| ()) })
        };
        // Let the waiter reach the queue.
        while a.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            a.enter().await.err(),
            Some(Full {
                running: 1,
                waiting: 1
            })
        );
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!(a.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_queue_of_zero_refuses_as_soon_as_all_run() {
        let a = Admission::new(2, 0);
        let _one = a.enter().await.unwrap();
        let _two = a.enter().await.unwrap();
        assert!(a.enter().await.is_err());
    }

    #[tokio::test]
    async fn a_request_that_gives_up_leaves_the_queue() {
        let a = std::sync::Arc::new(Admission::new(1, 1));
        let _first = a.enter().await.unwrap();
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.enter().await.map(|_| ()) })
        };
        while a.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(a.waiting.load(Ordering::Acquire), 0);
    }
}
