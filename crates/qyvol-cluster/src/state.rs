//! The cluster's state in JetStream: opened (made on first use, replicated
//! min(3, servers) times), read, and changed only by compare-and-set, so
//! that two writers at once never lose an update.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `qyvol_apps` | KV, history 5 | desired state, key = app |
//! | `qyvol_nodes` | KV | members, key = node |
//! | `qyvol_placements` | KV | the scheduler's placements, key = app |
//! | `qyvol_live` | KV, per-key TTL | heartbeats with replica states, key = node |
//! | `qyvol_lease` | KV, per-key TTL | the scheduler's lease, key `scheduler` |
//! | `qyvol_bundles` | object store | bundles, name = SHA-256 |
//! | `QYVOL_EVENTS` | stream `qyvol.events` | what happened, last 10,000 |

use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation, Store};
use async_nats::jetstream::{object_store, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connect::Connection;
use crate::error::ClusterError;
use crate::model::{Event, now_ms};

pub const APPS: &str = "qyvol_apps";
pub const NODES: &str = "qyvol_nodes";
pub const PLACEMENTS: &str = "qyvol_placements";
pub const LIVE: &str = "qyvol_live";
pub const LEASE: &str = "qyvol_lease";
pub const BUNDLES: &str = "qyvol_bundles";
pub const EVENTS: &str = "QYVOL_EVENTS";
pub const EVENT_SUBJECT: &str = "qyvol.events";
/// Replicas' output, live: `qyvol.logs.APP.NODE` (core NATS, not kept).
pub const LOG_SUBJECT: &str = "qyvol.logs";
/// A node answers requests for its replicas' last lines here:
/// `qyvol.node.NODE.logs`.
pub const NODE_SUBJECT: &str = "qyvol.node";

/// A heartbeat lives this long in `qyvol_live` unless renewed.
pub const LIVE_TTL: Duration = Duration::from_secs(3);
/// The scheduler's lease lives this long unless renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(3);
/// Events kept.
const EVENTS_KEPT: i64 = 10_000;
/// How long a change keeps trying while JetStream does not answer.
const RETRY_FOR: Duration = Duration::from_secs(15);
/// Tries of a compare-and-set before giving up.
const CAS_TRIES: usize = 50;

/// The cluster's buckets and streams.
#[derive(Clone)]
pub struct State {
    pub conn: Connection,
    pub apps: Store,
    pub nodes: Store,
    pub placements: Store,
    pub live: Store,
    pub lease: Store,
    pub bundles: object_store::ObjectStore,
}

impl State {
    /// Opens the cluster's state, making what is missing.
    pub async fn open(conn: Connection) -> Result<State, ClusterError> {
        let replicas = conn.replicas();
        let js = &conn.jetstream;
        let bucket = |name: &str, history: i64, markers: bool| kv::Config {
            bucket: name.into(),
            history,
            num_replicas: replicas,
            limit_markers: markers.then_some(Duration::from_secs(1)),
            ..Default::default()
        };
        let apps = open_kv(js, bucket(APPS, 5, false)).await?;
        let nodes = open_kv(js, bucket(NODES, 1, false)).await?;
        let placements = open_kv(js, bucket(PLACEMENTS, 1, false)).await?;
        let live = open_kv(js, bucket(LIVE, 1, true)).await?;
        let lease = open_kv(js, bucket(LEASE, 1, true)).await?;
        let bundles = open_objects(js, replicas).await?;
        if js.get_stream(EVENTS).await.is_err() {
            js.get_or_create_stream(stream::Config {
                name: EVENTS.into(),
                subjects: vec![EVENT_SUBJECT.into()],
                max_messages: EVENTS_KEPT,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| ClusterError::js("cannot make the events stream", e))?;
        }
        Ok(State {
            conn,
            apps,
            nodes,
            placements,
            live,
            lease,
            bundles,
        })
    }

    /// The value at `key`, with its revision.
    pub async fn get<T: DeserializeOwned>(
        &self,
        store: &Store,
        key: &str,
    ) -> Result<Option<(T, u64)>, ClusterError> {
        let entry = store
            .entry(key)
            .await
            .map_err(|e| ClusterError::js(format!("cannot read {key} in {}", store.name), e))?;
        match entry {
            Some(e) if e.operation == Operation::Put => {
                Ok(Some((decode(&e.value, key)?, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Every value in the bucket, by key.
    pub async fn list<T: DeserializeOwned>(
        &self,
        store: &Store,
    ) -> Result<Vec<(String, T)>, ClusterError> {
        let what = || format!("cannot list {}", store.name);
        let mut keys = store
            .keys()
            .await
            .map_err(|e| ClusterError::js(what(), e))?;
        let mut names = Vec::new();
        while let Some(k) = keys.next().await {
            names.push(k.map_err(|e| ClusterError::js(what(), e))?);
        }
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some((v, _)) = self.get(store, &name).await? {
                out.push((name, v));
            }
        }
        Ok(out)
    }

    /// Changes the value at `key` by compare-and-set: `change` gets the
    /// value now (`None`: no such key) and returns the new one, or `None`
    /// to leave it as it is. A writer that changed it in between makes
    /// `change` run again on the newer value.
    pub async fn update<T, F>(
        &self,
        store: &Store,
        key: &str,
        mut change: F,
    ) -> Result<Option<T>, ClusterError>
    where
        T: Serialize + DeserializeOwned + Clone,
        F: FnMut(Option<T>) -> Result<Option<T>, ClusterError>,
    {
        // A JetStream that loses a server answers nothing for a few
        // seconds while it elects a leader: those errors are tried again.
        let patience = std::time::Instant::now() + RETRY_FOR;
        let mut tries = 0;
        while tries < CAS_TRIES {
            let now = match self.get::<T>(store, key).await {
                Ok(now) => now,
                Err(ClusterError::JetStream { .. }) if std::time::Instant::now() < patience => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let revision = now.as_ref().map(|(_, r)| *r);
            let Some(next) = change(now.map(|(v, _)| v))? else {
                return Ok(None);
            };
            let bytes = encode(&next);
            let written = match revision {
                Some(r) => store
                    .update(key, bytes, r)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => store
                    .create(key, bytes)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            };
            match written {
                Ok(()) => return Ok(Some(next)),
                Err(e) if conflict(&e) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(_) if std::time::Instant::now() < patience => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => {
                    return Err(ClusterError::js(
                        format!("cannot write {key} in {}", store.name),
                        e,
                    ));
                }
            }
        }
        Err(ClusterError::Contended(format!(
            "{key} in {} changed {CAS_TRIES} times while this change was being made; try again",
            store.name
        )))
    }

    /// Writes `value` at `key` with a time to live, if the key is still at
    /// `expected` (`Some(0)`: absent; `None`: whatever it holds). Returns
    /// the new revision.
    pub async fn put_ttl<T: Serialize>(
        &self,
        store: &Store,
        key: &str,
        value: &T,
        ttl: Duration,
        expected: Option<u64>,
    ) -> Result<u64, ClusterError> {
        use async_nats::header::{self, HeaderMap};
        let mut headers = HeaderMap::new();
        headers.insert(
            header::NATS_MESSAGE_TTL,
            ttl.as_secs().max(1).to_string().as_str(),
        );
        if let Some(r) = expected {
            headers.insert(
                header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
                r.to_string().as_str(),
            );
        }
        let subject = format!("$KV.{}.{key}", store.name);
        let what = || format!("cannot write {key} in {}", store.name);
        let ack = self
            .conn
            .jetstream
            .publish_with_headers(subject, headers, encode(value))
            .await
            .map_err(|e| ClusterError::js(what(), e))?
            .await
            .map_err(|e| ClusterError::js(what(), e))?;
        Ok(ack.sequence)
    }

    /// Records an event; a failure to record one is not the caller's
    /// failure (the change it tells of is made).
    pub async fn event(&self, kind: &str, app: Option<&str>, node: Option<&str>, message: String) {
        let event = Event {
            id: 0,
            time: now_ms(),
            kind: kind.into(),
            app: app.map(Into::into),
            node: node.map(Into::into),
            message,
        };
        if let Ok(ack) = self
            .conn
            .jetstream
            .publish(EVENT_SUBJECT, encode(&event))
            .await
        {
            let _ = ack.await;
        }
    }

    /// The last `count` events (of `app` only, if given), oldest first.
    pub async fn events(
        &self,
        app: Option<&str>,
        count: usize,
    ) -> Result<Vec<Event>, ClusterError> {
        let what = "cannot read the cluster's events";
        let stream = self
            .conn
            .jetstream
            .get_stream(EVENTS)
            .await
            .map_err(|e| ClusterError::js(what, e))?;
        let info = stream
            .get_info()
            .await
            .map_err(|e| ClusterError::js(what, e))?;
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut out = Vec::new();
        let mut seq = last;
        while seq >= first.max(1) && out.len() < count {
            if let Ok(m) = stream.get_raw_message(seq).await
                && let Ok(mut e) = serde_json::from_slice::<Event>(&m.payload)
                && app.is_none_or(|a| e.app.as_deref() == Some(a))
            {
                e.id = seq;
                out.push(e);
            }
            seq -= 1;
        }
        out.reverse();
        Ok(out)
    }
}

/// Whether a failed write lost a compare-and-set race.
fn conflict(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("wrong last sequence") || m.contains("already exists") || m.contains("10071")
}

async fn open_kv(
    js: &async_nats::jetstream::Context,
    config: kv::Config,
) -> Result<Store, ClusterError> {
    let name = config.bucket.clone();
    if let Ok(store) = js.get_key_value(&name).await {
        return Ok(store);
    }
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        // Another node made it at the same moment.
        Err(e) => js
            .get_key_value(&name)
            .await
            .map_err(|_| ClusterError::js(format!("cannot make the bucket {name}"), e)),
    }
}

async fn open_objects(
    js: &async_nats::jetstream::Context,
    replicas: usize,
) -> Result<object_store::ObjectStore, ClusterError> {
    if let Ok(store) = js.get_object_store(BUNDLES).await {
        return Ok(store);
    }
    let config = object_store::Config {
        bucket: BUNDLES.into(),
        num_replicas: replicas,
        ..Default::default()
    };
    match js.create_object_store(config).await {
        Ok(store) => Ok(store),
        Err(e) => js
            .get_object_store(BUNDLES)
            .await
            .map_err(|_| ClusterError::js(format!("cannot make the object store {BUNDLES}"), e)),
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("cluster records serialize"))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], key: &str) -> Result<T, ClusterError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ClusterError::js(
            format!("the record {key} is not one this version of qyvol reads"),
            e,
        )
    })
}
