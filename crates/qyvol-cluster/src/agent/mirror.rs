//! A bucket kept in memory by watching it: every key's last value, its
//! revision, and when this node saw it written. A watch that breaks (NATS
//! away, a stream leader change) is started again, and the copy is marked
//! not current until the watch has caught up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{Operation, Store};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

/// One key's last value.
#[derive(Clone, Debug)]
pub struct Seen<T> {
    pub value: T,
    pub revision: u64,
    /// When it was written, as near as this node can tell.
    pub at: Instant,
}

struct Inner<T> {
    entries: HashMap<String, Seen<T>>,
    /// The copy holds everything the bucket held when the watch started.
    current: bool,
}

pub struct Mirror<T> {
    inner: Arc<Mutex<Inner<T>>>,
    pub changed: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl<T> Drop for Mirror<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How old a value written at `created` (server time) is now, so that a
/// value read when the watch starts counts from when it was written.
fn age(created: time::OffsetDateTime) -> Duration {
    let now = time::OffsetDateTime::now_utc();
    let age = now - created;
    if age.is_negative() {
        Duration::ZERO
    } else {
        age.unsigned_abs()
    }
}

impl<T: DeserializeOwned + Clone + Send + 'static> Mirror<T> {
    pub fn start(store: Store) -> Mirror<T> {
        let inner = Arc::new(Mutex::new(Inner {
            entries: HashMap::new(),
            current: false,
        }));
        let changed = Arc::new(Notify::new());
        let task = tokio::spawn(watch(store, inner.clone(), changed.clone()));
        Mirror {
            inner,
            changed,
            task,
        }
    }

    /// Every key's value, if the copy is current.
    pub fn snapshot(&self) -> Option<HashMap<String, Seen<T>>> {
        let inner = lock(&self.inner);
        inner.current.then(|| inner.entries.clone())
    }

    pub fn get(&self, key: &str) -> Option<Seen<T>> {
        lock(&self.inner).entries.get(key).cloned()
    }

    pub fn is_current(&self) -> bool {
        lock(&self.inner).current
    }
}

async fn watch<T: DeserializeOwned>(
    store: Store,
    inner: Arc<Mutex<Inner<T>>>,
    changed: Arc<Notify>,
) {
    loop {
        // An empty bucket sends nothing: it is current at once.
        let empty = store
            .status()
            .await
            .map(|s| s.values() == 0)
            .unwrap_or(false);
        // Each key's last value first, then every change (`watch_all`
        // starts with new changes only).
        let started = store.watch_with_history(">").await;
        if let Ok(mut entries) = started {
            {
                let mut i = lock(&inner);
                i.entries.clear();
                i.current = empty;
            }
            changed.notify_one();
            while let Some(Ok(entry)) = entries.next().await {
                let mut i = lock(&inner);
                match entry.operation {
                    Operation::Put => match serde_json::from_slice::<T>(&entry.value) {
                        Ok(value) => {
                            let at = Instant::now()
                                .checked_sub(age(entry.created))
                                .unwrap_or_else(Instant::now);
                            i.entries.insert(
                                entry.key.clone(),
                                Seen {
                                    value,
                                    revision: entry.revision,
                                    at,
                                },
                            );
                        }
                        Err(_) => {
                            i.entries.remove(&entry.key);
                        }
                    },
                    Operation::Delete | Operation::Purge => {
                        i.entries.remove(&entry.key);
                    }
                }
                if entry.delta == 0 || entry.seen_current {
                    i.current = true;
                }
                drop(i);
                changed.notify_one();
            }
        }
        lock(&inner).current = false;
        changed.notify_one();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
