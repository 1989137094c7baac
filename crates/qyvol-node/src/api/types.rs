//! The API's request and response bodies, shared by the node and its
//! client. Times are RFC 3339 (UTC); digests are SHA-256 in hex.

use serde::{Deserialize, Serialize};

pub use crate::logs::LogLine;
pub use crate::store::Desired;

/// What a client may ask of an app: `POST /v1/apps/{name}/{action}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run it, unless it runs already.
    Start,
    /// Stop its instance; it stays stopped, across node restarts too.
    Stop,
    /// A new instance, whatever runs now.
    Restart,
}

impl Action {
    /// The last segment of the route.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }
}

/// Where an app is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// To run, not started yet.
    #[default]
    Pending,
    /// An instance is being made (code compiled or loaded, instantiated).
    Starting,
    /// An instance runs (an HTTP app: its route is served).
    Running,
    /// A command (or a service that may end) finished with exit code 0.
    Completed,
    /// It ended badly and will not be started again by itself.
    Failed,
    /// A service ended and waits to be started again.
    Backoff,
    /// Stopped by a client (or never started, when deployed stopped).
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Starting => "starting",
            State::Running => "running",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Backoff => "backoff",
            State::Stopped => "stopped",
        }
    }

    /// Whether a deploy that waits for its app can stop waiting: the app
    /// runs, or has ended one way or another.
    pub fn settled(self) -> bool {
        !matches!(self, State::Pending | State::Starting)
    }
}

/// An app as `qyv ps` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    pub name: String,
    /// `command`, `service` or `http`.
    #[serde(rename = "type")]
    pub app_type: String,
    /// The manifest's `version`, if any.
    pub version: Option<String>,
    /// The current revision.
    pub revision: u32,
    /// SHA-256 of the current revision's bundle.
    pub digest: String,
    pub desired: Desired,
    pub state: State,
    /// Instances running now (0 or 1).
    pub instances: u32,
    /// Times the node started the app again by itself since the node
    /// started.
    pub restarts: u32,
    /// How the last instance ended: its exit status.
    pub exit_code: Option<i32>,
    /// How the last instance ended, in words, or why it could not start.
    pub reason: Option<String>,
    /// When the current (or last) instance started.
    pub started_at: Option<String>,
    /// When the last instance ended.
    pub ended_at: Option<String>,
    /// When a service in back-off starts again.
    pub next_start_at: Option<String>,
    /// Linear memory of the running instance, in bytes.
    pub memory_bytes: u64,
    /// CPU time the app's instances used since the node started, in
    /// milliseconds (commands and services; an HTTP app's requests are
    /// not counted).
    #[serde(default)]
    pub cpu_ms: u64,
    /// When the current revision was deployed.
    pub deployed_at: String,
    /// `api`, or `apps-dir:FILE` for an app from the node's boot folder.
    pub source: String,
    /// The restart policy of a service.
    pub restart: Option<String>,
    /// The route of an HTTP app on the node's HTTP port.
    pub route: Option<String>,
}

/// One revision of an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub number: u32,
    pub digest: String,
    pub size: u64,
    pub version: Option<String>,
    /// Id of the key that signed the bundle.
    pub signer: Option<String>,
    /// The revision this one rolled back to.
    pub rollback_of: Option<u32>,
    pub created_at: String,
    pub current: bool,
}

/// An app with its revisions (`GET /v1/apps/{name}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppDetail {
    #[serde(flatten)]
    pub status: AppStatus,
    /// Newest first.
    pub revisions: Vec<Revision>,
    /// The current revision's `permissions`, as its manifest grants them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<serde_json::Value>,
    /// The current revision's `limits`, as its manifest sets them (what it
    /// leaves out, the node's defaults fill in when it starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<serde_json::Value>,
}

/// Something that happened to an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Grows with every event: `after=ID` pages through them.
    pub id: i64,
    pub time: String,
    pub app: String,
    pub revision: Option<u32>,
    /// The word of one of the store's `EventKind`s: deployed,
    /// rolled-back, start, stop, restart, started, exited, failed,
    /// restarting, stopped, interrupted, removed. Text rather than the enum,
    /// so that a client reads events of kinds newer than itself.
    pub kind: String,
    pub message: String,
}

/// The answer to a deploy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    pub app: String,
    pub revision: u32,
    pub digest: String,
    pub size: u64,
    /// The bundle was the app's current one already: no revision added.
    pub unchanged: bool,
}

/// `POST /v1/pull`: deploy the Qyvol app at a registry reference, pinned
/// by digest; the node pulls it with its own registry credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// `REGISTRY/NAMESPACE/APP@sha256:…` (a tag beside the digest is
    /// only a label).
    pub reference: String,
}

/// `POST /v1/apps/{name}/rollback`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRequest {
    /// The revision to go back to; default: the one before the current.
    pub revision: Option<u32>,
}

/// `GET /v1/node`: what a client needs to know before it deploys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub version: String,
    /// Largest bundle a deploy may upload, in bytes.
    pub max_upload: u64,
    /// Only bundles signed by a key the node trusts are accepted.
    pub require_signature: bool,
    /// The certificate's fingerprint, `sha256:HEX`.
    pub fingerprint: String,
    pub apps: usize,
    pub uptime_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub version: String,
    pub uptime_seconds: u64,
}

/// Every error the API answers with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable word: no_such_app, bad_bundle, too_large, unauthorized…
    pub error: String,
    /// What happened and what the node allows, for people.
    pub message: String,
    /// Why, finer than `error`, where a client can act on it: `unsigned`
    /// (the node requires bundles signed by a key it trusts), `no_http`
    /// (the node serves no HTTP apps). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The first event of `GET /v1/stream` (`node`): which node this is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamNode {
    pub version: String,
    /// The certificate's fingerprint, `sha256:HEX`.
    pub fingerprint: String,
    pub uptime_seconds: u64,
    /// The app whose log lines the stream carries, if any.
    pub logs: Option<String>,
}

/// A `log` event of `GET /v1/stream`: a line of the followed app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamLog {
    pub app: String,
    #[serde(flatten)]
    pub line: LogLine,
}

/// An `app` event of `GET /v1/stream`: the app's status and, for an HTTP
/// app, the requests routed to its current revision since it was served
/// (a client makes a rate of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamApp {
    #[serde(flatten)]
    pub status: AppStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_requests: Option<u64>,
}
