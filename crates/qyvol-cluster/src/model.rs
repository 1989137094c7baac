//! What the cluster keeps in JetStream, as JSON: an app's desired state
//! (bucket `qyvol_apps`), a node's membership (`qyvol_nodes`), the
//! scheduler's placement of an app (`qyvol_placements`), a node's
//! heartbeat with the state of its replicas (`qyvol_live`, per-key TTL),
//! the scheduler's lease (`qyvol_lease`) and the events (`QYVOL_EVENTS`).
//! Times are milliseconds since the Unix epoch.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Revisions an app keeps for `rollback`; older ones leave the record
/// (and their bundles the object store, once nothing names them).
pub const KEEP_REVISIONS: usize = 10;

/// How replicas are placed (`scheduler.strategy`, `--strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// On the nodes with the most free memory: replicas far apart.
    #[default]
    Spread,
    /// On the nodes with the least free memory that still fits: few nodes
    /// busy, the others free.
    Pack,
}

impl Strategy {
    pub const NAMES: &[&str] = &["spread", "pack"];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Spread => "spread",
            Strategy::Pack => "pack",
        }
    }

    pub fn parse(text: &str) -> Option<Strategy> {
        match text {
            "spread" => Some(Strategy::Spread),
            "pack" => Some(Strategy::Pack),
            _ => None,
        }
    }
}

impl From<qyvol_manifest::Strategy> for Strategy {
    fn from(s: qyvol_manifest::Strategy) -> Self {
        match s {
            qyvol_manifest::Strategy::Pack => Strategy::Pack,
            _ => Strategy::Spread,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `KEY=VALUE`: a node must carry this label to get a replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub key: String,
    pub value: String,
}

impl Constraint {
    /// Reads `KEY=VALUE` (as a node's `--label` too).
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?} is not KEY=VALUE (for example zone=a)"))?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !ok(key) || !ok(value) {
            return Err(format!(
                "{text:?}: KEY and VALUE are 1 to 63 letters, digits, '-', '_' or '.'"
            ));
        }
        Ok(Constraint {
            key: key.into(),
            value: value.into(),
        })
    }

    pub fn met_by(&self, labels: &BTreeMap<String, String>) -> bool {
        labels.get(&self.key) == Some(&self.value)
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// One revision of an app: a bundle, and what placing it needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionSpec {
    pub number: u32,
    /// SHA-256 of the bundle, hex: its name in the object store.
    pub digest: String,
    pub size: u64,
    /// `command`, `service` or `http`.
    pub app_type: String,
    pub version: Option<String>,
    /// Id of the key that signed the bundle.
    pub signer: Option<String>,
    /// Memory each replica reserves on its node (`limits.memory`; 0 when
    /// the manifest sets none).
    pub memory: u64,
    pub created_at: i64,
    /// Set when this revision was made by a rollback to that one.
    pub rollback_of: Option<u32>,
    /// The registry reference, pinned by digest, the nodes pull the bundle
    /// from (with their own credentials); `None`: the cluster's object
    /// store holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What should run: one record per app, changed only by compare-and-set
/// on its KV revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    pub name: String,
    /// The current revision's number.
    pub revision: u32,
    pub replicas: u32,
    pub strategy: Strategy,
    pub constraints: Vec<Constraint>,
    /// `stop` makes it false; `start` true.
    pub running: bool,
    /// Oldest first; the last [`KEEP_REVISIONS`].
    pub revisions: Vec<RevisionSpec>,
}

impl AppSpec {
    pub fn current(&self) -> Option<&RevisionSpec> {
        self.revisions.iter().find(|r| r.number == self.revision)
    }

    /// Adds `rev` as the next revision and makes it current; returns the
    /// digests that fell out of the history.
    pub fn push(&mut self, mut rev: RevisionSpec) -> Vec<String> {
        rev.number = self.revisions.last().map_or(1, |r| r.number + 1);
        self.revision = rev.number;
        self.revisions.push(rev);
        let excess = self.revisions.len().saturating_sub(KEEP_REVISIONS);
        self.revisions.drain(..excess).map(|r| r.digest).collect()
    }

    pub fn digests(&self) -> impl Iterator<Item = &str> {
        self.revisions.iter().map(|r| r.digest.as_str())
    }
}

/// A node of the cluster, as it joined (and as cordon/drain left it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub name: String,
    /// The node's API, `https://HOST:PORT`, when it said.
    pub api: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub cores: u32,
    /// Memory replicas may reserve, in bytes.
    pub memory: u64,
    /// What a replica without `limits.memory` reserves there (the node's
    /// `--default-memory`); 0 when the node did not say.
    #[serde(default)]
    pub default_memory: u64,
    /// The most `limits.memory` it runs (`--max-memory`); 0 when the node
    /// did not say.
    #[serde(default)]
    pub max_memory: u64,
    /// It was started with `--http`: it can run HTTP apps.
    pub serves_http: bool,
    /// It runs only bundles signed by one of `trusted_keys`.
    pub require_signature: bool,
    /// Ids of the keys it trusts.
    pub trusted_keys: Vec<String>,
    /// No new replicas go there.
    pub cordoned: bool,
    /// Its replicas move away.
    pub draining: bool,
    pub joined_at: i64,
    pub version: String,
}

impl NodeRecord {
    /// Whether this node runs a bundle signed by `signer`.
    pub fn admits(&self, signer: Option<&str>) -> bool {
        !self.require_signature || signer.is_some_and(|s| self.trusted_keys.iter().any(|k| k == s))
    }
}

/// A replica as its node reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    pub app: String,
    pub digest: String,
    /// As `qyv ps` says it: pending, starting, running, completed, failed,
    /// backoff, stopped.
    pub state: String,
    pub reason: Option<String>,
    pub started_at: Option<i64>,
    pub memory: u64,
}

/// What a node says every beat: it lives, and how its replicas are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: String,
    pub at: i64,
    pub replicas: Vec<ReplicaStatus>,
}

/// Where the scheduler put an app's replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub app: String,
    pub revision: u32,
    pub digest: String,
    pub running: bool,
    /// One node per replica placed.
    pub nodes: Vec<String>,
    /// Replicas wanted but not placed.
    pub pending: u32,
    /// Why replicas are pending.
    pub reason: Option<String>,
}

/// The scheduler's lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub node: String,
    pub since: i64,
}

/// Something that happened in the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The stream's sequence number (0 before it is stored).
    #[serde(default)]
    pub id: u64,
    pub time: i64,
    /// deployed, scaled, stopped, started, removed, rolled-back, placed,
    /// moved, pending, node-joined, node-left, node-lost, node-back,
    /// cordoned, uncordoned, draining, scheduler, replica-started,
    /// replica-failed.
    pub kind: String,
    pub app: Option<String>,
    pub node: Option<String>,
    pub message: String,
}

/// One line of a replica's output, with the node it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub node: String,
    pub time: String,
    pub stream: String,
    pub revision: u32,
    pub text: String,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(digest: &str) -> RevisionSpec {
        RevisionSpec {
            number: 0,
            digest: digest.into(),
            size: 1,
            app_type: "service".into(),
            version: None,
            signer: None,
            memory: 0,
            created_at: 0,
            rollback_of: None,
            source: None,
        }
    }

    #[test]
    fn revisions_are_numbered_and_the_oldest_fall_out() {
        let mut app = AppSpec {
            name: "a".into(),
            revision: 0,
            replicas: 1,
            strategy: Strategy::Spread,
            constraints: vec![],
            running: true,
            revisions: vec![],
        };
        let mut dropped = Vec::new();
        for i in 0..12 {
            dropped.extend(app.push(rev(&format!("d{i}"))));
        }
        assert_eq!(app.revision, 12);
        assert_eq!(app.revisions.len(), KEEP_REVISIONS);
        assert_eq!(app.revisions[0].number, 3);
        assert_eq!(dropped, ["d0", "d1"]);
        assert_eq!(app.current().unwrap().digest, "d11");
    }

    #[test]
    fn constraints_are_key_equals_value() {
        let c = Constraint::parse("zone=a").unwrap();
        assert_eq!(c.to_string(), "zone=a");
        for bad in ["zone", "=a", "zone=", "zo ne=a", "a=b=c"] {
            assert!(Constraint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_node_admits_what_its_policy_allows() {
        let mut n = NodeRecord {
            name: "n".into(),
            api: None,
            labels: BTreeMap::new(),
            cores: 1,
            memory: 1,
            default_memory: 0,
            max_memory: 0,
            serves_http: false,
            require_signature: false,
            trusted_keys: vec!["k1".into()],
            cordoned: false,
            draining: false,
            joined_at: 0,
            version: "0".into(),
        };
        assert!(n.admits(None));
        n.require_signature = true;
        assert!(!n.admits(None));
        assert!(!n.admits(Some("k2")));
        assert!(n.admits(Some("k1")));
    }
}
