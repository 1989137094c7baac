//! The scheduler's lease: one key in `qyvol_lease` with a time to live.
//! A node takes it by writing it where it is absent (or expired), keeps it
//! by rewriting it on its revision before it expires, and has lost it when
//! that rewrite finds another revision, or when it could not renew for
//! longer than is safe. Only a node whose lease is fresh places replicas.

use std::time::{Duration, Instant};

use async_nats::jetstream::kv::Operation;

use crate::model::{Lease, now_ms};
use crate::state::{LEASE_TTL, State};

const KEY: &str = "scheduler";

/// A lease older than this (since its last renewal) is not acted on:
/// another node may be about to take it.
const FRESH: Duration = Duration::from_millis(1500);

#[derive(Default)]
pub struct Holder {
    revision: Option<u64>,
    renewed: Option<Instant>,
    since: i64,
}

impl Holder {
    /// Whether this node may place replicas now.
    pub fn fresh(&self) -> bool {
        self.revision.is_some() && self.renewed.is_some_and(|r| r.elapsed() < FRESH)
    }

    /// Takes or renews the lease; returns whether this node holds it.
    pub async fn tick(&mut self, state: &State, node: &str) -> bool {
        let lease = Lease {
            node: node.into(),
            since: if self.revision.is_some() {
                self.since
            } else {
                now_ms()
            },
        };
        let expected = match self.revision {
            Some(r) => Some(r),
            None => match state.lease.entry(KEY).await {
                Ok(None) => Some(0),
                Ok(Some(e)) if e.operation != Operation::Put => Some(e.revision),
                // A lease this node held before it restarted is its own.
                Ok(Some(e)) => match serde_json::from_slice::<Lease>(&e.value) {
                    Ok(l) if l.node == node => Some(e.revision),
                    _ => return false,
                },
                Err(_) => return false,
            },
        };
        match state
            .put_ttl(&state.lease, KEY, &lease, LEASE_TTL, expected)
            .await
        {
            Ok(revision) => {
                if self.revision.is_none() {
                    self.since = lease.since;
                }
                self.revision = Some(revision);
                self.renewed = Some(Instant::now());
                true
            }
            Err(e) => {
                let lost_race = e.to_string().to_lowercase().contains("wrong last sequence");
                let stale = self.renewed.is_none_or(|r| r.elapsed() >= FRESH);
                if lost_race || stale {
                    self.revision = None;
                    self.renewed = None;
                }
                self.revision.is_some()
            }
        }
    }

    /// Gives the lease up (the node is leaving), so that another node
    /// takes it at once.
    pub async fn release(&mut self, state: &State) {
        if let Some(r) = self.revision.take() {
            let _ = state.lease.delete_expect_revision(KEY, Some(r)).await;
        }
    }
}
