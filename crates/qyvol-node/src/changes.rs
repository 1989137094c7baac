//! A counter that grows with every change a watcher of the node may want
//! to see: a write to the store (a deploy, a desired state, an event, a
//! run) or a change to an app's instance. The stream endpoint waits on it
//! instead of polling, then reads what is new.

use std::sync::Arc;

use tokio::sync::watch;

#[derive(Clone)]
pub struct Changes(Arc<watch::Sender<u64>>);

impl Default for Changes {
    fn default() -> Self {
        Changes(Arc::new(watch::channel(0).0))
    }
}

impl Changes {
    /// Something changed: wakes every watcher.
    pub fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees the changes from now on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_wakes_a_subscriber() {
        let changes = Changes::default();
        let mut rx = changes.subscribe();
        assert!(!rx.has_changed().unwrap());
        changes.bump();
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        assert!(!rx.has_changed().unwrap());
    }
}
