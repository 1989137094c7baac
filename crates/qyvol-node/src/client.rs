//! The node's client, as `qyv deploy`, `ps`, `logs` and the others use
//! it: HTTPS with the node's certificate pinned by fingerprint (or trusted
//! by the public roots), the token as a bearer, and the API's errors
//! turned back into their messages.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::api::types::*;
use crate::tls::{Fingerprint, Seen, client_config};

/// The API's port when a URL names none.
pub const DEFAULT_PORT: u16 = 7443;

/// Where a node is and how to prove who we are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// `https://host:port`.
    pub url: String,
    pub token: Option<String>,
    pub fingerprint: Option<Fingerprint>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    BadUrl(String),
    /// The node could not be reached.
    #[error("{url}: {message}")]
    Connect { url: String, message: String },
    /// Nothing answered at the address.
    #[error("{url}: cannot connect ({chain})")]
    Unreachable { url: String, chain: String },
    /// The node's certificate is not the one pinned.
    #[error(
        "{url}: the node presented the certificate {got}, not the pinned {pin}: refusing to talk to it"
    )]
    PinMismatch {
        url: String,
        got: Fingerprint,
        pin: Fingerprint,
    },
    /// No pin, and the node's certificate is not signed by an authority
    /// this machine trusts (a node's own certificate never is).
    #[error(
        "{url}: the node's certificate (fingerprint {got}) is not signed by an authority this machine trusts"
    )]
    Unverified { url: String, got: Fingerprint },
    /// The node answered with an error.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        /// See [`ErrorBody::reason`].
        reason: Option<String>,
    },
    #[error("{url}: the answer is not the API's ({message}); is this a Qyvol node?")]
    Protocol { url: String, message: String },
    #[error("{}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Reads `https://host[:port][/]`, `host[:port]`; the port defaults to
/// [`DEFAULT_PORT`].
pub fn normalize_url(text: &str) -> Result<String, ClientError> {
    let t = text.trim().trim_end_matches('/');
    let rest = if let Some(r) = t.strip_prefix("https://") {
        r
    } else if t.starts_with("http://") {
        return Err(ClientError::BadUrl(format!(
            "{text}: a node's API is HTTPS only; write https://"
        )));
    } else if t.contains("://") {
        return Err(ClientError::BadUrl(format!(
            "{text}: not a node address; write https://HOST[:PORT]"
        )));
    } else {
        t
    };
    if rest.is_empty()
        || rest.contains('/')
        || rest.contains('@')
        || rest.contains(char::is_whitespace)
    {
        return Err(ClientError::BadUrl(format!(
            "{text}: not a node address; write https://HOST[:PORT] (no path)"
        )));
    }
    // The port, unless the colon belongs to an IPv6 address.
    let has_port = match rest.rsplit_once(':') {
        Some((host, port)) => {
            (!host.contains(':') || host.ends_with(']')) && port.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    };
    if has_port {
        let port = rest.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
        if port.parse::<u16>().is_err() {
            return Err(ClientError::BadUrl(format!("{text}: {port} is not a port")));
        }
        Ok(format!("https://{rest}"))
    } else {
        Ok(format!("https://{rest}:{DEFAULT_PORT}"))
    }
}

pub struct Client {
    http: reqwest::blocking::Client,
    /// For requests that follow a stream: no overall time limit.
    streaming: reqwest::blocking::Client,
    base: String,
    token: Option<String>,
    pin: Option<Fingerprint>,
    seen: Seen,
}

/// Counts the bytes of an upload as they are read.
struct Progress<R, F> {
    inner: R,
    sent: u64,
    total: u64,
    report: F,
}

impl<R: Read, F: FnMut(u64, u64)> Read for Progress<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        (self.report)(self.sent, self.total);
        Ok(n)
    }
}

impl Client {
    pub fn new(conn: &Connection) -> Result<Client, ClientError> {
        Client::with_timeout(conn, Duration::from_secs(120))
    }

    /// A client whose requests (but logs that follow, waits and uploads)
    /// give up after `timeout`, connecting included.
    pub fn with_timeout(conn: &Connection, timeout: Duration) -> Result<Client, ClientError> {
        let base = normalize_url(&conn.url)?;
        let seen = Seen::default();
        let build = |timeout: Option<Duration>| {
            let tls = client_config(conn.fingerprint, seen.clone()).map_err(|e| {
                ClientError::Connect {
                    url: base.clone(),
                    message: e.to_string(),
                }
            })?;
            let mut b = reqwest::blocking::Client::builder()
                .use_preconfigured_tls(tls)
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("qyv/", env!("CARGO_PKG_VERSION")));
            b = b.timeout(timeout);
            b.build().map_err(|e| ClientError::Connect {
                url: base.clone(),
                message: e.to_string(),
            })
        };
        Ok(Client {
            http: build(Some(timeout))?,
            streaming: build(None)?,
            base: base.clone(),
            token: conn.token.clone(),
            pin: conn.fingerprint,
            seen,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// The certificate the node presented, once connected.
    pub fn presented(&self) -> Option<Fingerprint> {
        self.seen.get()
    }

    /// The node's URL, `https://HOST:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(
        &self,
        http: &reqwest::blocking::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        let mut r = http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    /// Why a request did not get an answer, for people.
    fn connect_error(&self, e: reqwest::Error) -> ClientError {
        let mut chain = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        let seen = self.seen.get();
        let url = self.base.clone();
        let message = match (self.pin, seen) {
            (Some(pin), Some(got)) if pin != got => {
                return ClientError::PinMismatch { url, got, pin };
            }
            (None, Some(got))
                if chain.contains("certificate") || chain.contains("UnknownIssuer") =>
            {
                return ClientError::Unverified { url, got };
            }
            _ if e.is_timeout() => "the node did not answer in time".to_string(),
            _ if e.is_connect() => return ClientError::Unreachable { url, chain },
            _ => chain,
        };
        ClientError::Connect { url, message }
    }

    fn send(
        &self,
        r: reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response, ClientError> {
        let response = r.send().map_err(|e| self.connect_error(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => ClientError::Api {
                status,
                code: body.error,
                message: body.message,
                reason: body.reason,
            },
            Err(_) => ClientError::Protocol {
                url: self.base.clone(),
                message: format!(
                    "status {status}: {}",
                    text.chars().take(200).collect::<String>()
                ),
            },
        })
    }

    fn json<T: DeserializeOwned>(
        &self,
        r: reqwest::blocking::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = self.send(r)?;
        let text = response.text().map_err(|e| self.connect_error(e))?;
        serde_json::from_str(&text).map_err(|e| ClientError::Protocol {
            url: self.base.clone(),
            message: e.to_string(),
        })
    }

    pub fn health(&self) -> Result<Health, ClientError> {
        self.json(self.request(&self.http, reqwest::Method::GET, "/v1/health"))
    }

    pub fn node(&self) -> Result<NodeInfo, ClientError> {
        self.json(self.request(&self.http, reqwest::Method::GET, "/v1/node"))
    }

    pub fn apps(&self) -> Result<Vec<AppStatus>, ClientError> {
        self.json(self.request(&self.http, reqwest::Method::GET, "/v1/apps"))
    }

    pub fn app(&self, name: &str) -> Result<AppDetail, ClientError> {
        self.json(self.request(
            &self.http,
            reqwest::Method::GET,
            &format!("/v1/apps/{name}"),
        ))
    }

    /// Uploads a bundle; `progress(sent, total)` is called as it goes.
    pub fn deploy(
        &self,
        bundle: &Path,
        progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<Deployed, ClientError> {
        let file_error = |source| ClientError::File {
            path: bundle.to_path_buf(),
            source,
        };
        let file = qyvol_manifest::open_regular(bundle).map_err(file_error)?;
        let total = file.metadata().map_err(file_error)?.len();
        let body = reqwest::blocking::Body::sized(
            Progress {
                inner: file,
                sent: 0,
                total,
                report: progress,
            },
            total,
        );
        let sent = self.json(
            self.request(&self.streaming, reqwest::Method::POST, "/v1/apps")
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/vnd.qyvol.bundle",
                )
                .body(body),
        );
        match sent {
            Err(ClientError::Connect { url, message }) => Err(self
                .why_upload_stopped(total)
                .unwrap_or(ClientError::Connect { url, message })),
            other => other,
        }
    }

    /// Asks the node to pull and deploy the app at a registry reference
    /// pinned by digest (`POST /v1/pull`): nothing is uploaded.
    pub fn deploy_reference(&self, reference: &str) -> Result<Deployed, ClientError> {
        self.json(
            self.request(&self.streaming, reqwest::Method::POST, "/v1/pull")
                .json(&PullRequest {
                    reference: reference.to_string(),
                }),
        )
    }

    /// A node that refuses a large upload (too large, or no token) answers
    /// and closes the connection before it has read it all, and the answer
    /// is lost with the connection: asks the node what it would have said.
    fn why_upload_stopped(&self, size: u64) -> Option<ClientError> {
        match self.node() {
            Err(e @ ClientError::Api { .. }) => Some(e),
            Ok(info) if size > info.max_upload => Some(ClientError::Api {
                status: 413,
                code: "too_large".into(),
                message: format!(
                    "the upload is larger than this node accepts ({})",
                    qyvol_manifest::format_size(info.max_upload)
                ),
                reason: None,
            }),
            _ => None,
        }
    }

    /// Waits (up to `timeout`) until the app at `revision` runs or ended.
    pub fn wait(
        &self,
        name: &str,
        revision: u32,
        timeout: Duration,
    ) -> Result<AppStatus, ClientError> {
        let path = format!(
            "/v1/apps/{name}/wait?revision={revision}&timeout={}ms",
            timeout.as_millis()
        );
        self.json(self.request(&self.streaming, reqwest::Method::GET, &path))
    }

    /// `start`, `stop` or `restart`.
    pub fn action(&self, name: &str, action: Action) -> Result<AppStatus, ClientError> {
        self.json(self.request(
            &self.http,
            reqwest::Method::POST,
            &format!("/v1/apps/{name}/{}", action.as_str()),
        ))
    }

    pub fn rollback(&self, name: &str, revision: Option<u32>) -> Result<AppStatus, ClientError> {
        self.json(
            self.request(
                &self.http,
                reqwest::Method::POST,
                &format!("/v1/apps/{name}/rollback"),
            )
            .json(&RollbackRequest { revision }),
        )
    }

    pub fn remove(&self, name: &str) -> Result<(), ClientError> {
        self.send(self.request(
            &self.http,
            reqwest::Method::DELETE,
            &format!("/v1/apps/{name}"),
        ))
        .map(|_| ())
    }

    /// The last `tail` lines of the app's log, then (with `follow`) the
    /// new ones until the node ends the stream or `line` returns false.
    pub fn logs(
        &self,
        name: &str,
        tail: usize,
        follow: bool,
        mut line: impl FnMut(LogLine) -> bool,
    ) -> Result<(), ClientError> {
        let http = if follow { &self.streaming } else { &self.http };
        let path = format!("/v1/apps/{name}/logs?tail={tail}&follow={follow}");
        let response = self.send(self.request(http, reqwest::Method::GET, &path))?;
        for text in BufReader::new(response).lines() {
            let text = text.map_err(|e| ClientError::Connect {
                url: self.base.clone(),
                message: format!("the log stream broke: {e}"),
            })?;
            if text.is_empty() {
                continue;
            }
            let parsed: LogLine =
                serde_json::from_str(&text).map_err(|e| ClientError::Protocol {
                    url: self.base.clone(),
                    message: e.to_string(),
                })?;
            if !line(parsed) {
                break;
            }
        }
        Ok(())
    }

    /// Sends a request as a local viewer of the dashboard received it
    /// (method, path with its query, body) with this client's token and
    /// pin, and hands back the node's answer as it comes, error statuses
    /// included: the viewer passes them on.
    pub fn forward(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::blocking::Response, ClientError> {
        self.request(&self.streaming, method, path)
            .body(body)
            .send()
            .map_err(|e| self.connect_error(e))
    }

    /// `GET /v1/stream`: each Server-Sent Event's name and data (one line
    /// of JSON) until the node ends the stream or `event` returns false.
    pub fn stream(
        &self,
        logs: Option<(&str, usize)>,
        mut event: impl FnMut(&str, &str) -> bool,
    ) -> Result<(), ClientError> {
        let path = match logs {
            Some((name, tail)) => format!("/v1/stream?logs={name}&tail={tail}"),
            None => "/v1/stream".to_string(),
        };
        let response = self.send(self.request(&self.streaming, reqwest::Method::GET, &path))?;
        let (mut kind, mut data) = (String::new(), String::new());
        for text in BufReader::new(response).lines() {
            let text = text.map_err(|e| ClientError::Connect {
                url: self.base.clone(),
                message: format!("the stream broke: {e}"),
            })?;
            if text.is_empty() {
                if !data.is_empty() && !event(&kind, &data) {
                    break;
                }
                kind.clear();
                data.clear();
            } else if let Some(k) = text.strip_prefix("event:") {
                kind = k.trim().to_string();
            } else if let Some(d) = text.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            }
        }
        Ok(())
    }

    pub fn events(
        &self,
        app: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, ClientError> {
        let mut path = format!("/v1/events?after={after}&limit={limit}");
        if let Some(a) = app {
            path.push_str(&format!("&app={a}"));
        }
        self.json(self.request(&self.http, reqwest::Method::GET, &path))
    }

    /// Asks the node to join a cluster (`qyv cluster add-node`).
    pub fn join_cluster(
        &self,
        request: &crate::api::cluster::JoinRequest,
    ) -> Result<qyvol_cluster::Status, ClientError> {
        // A join connects to NATS and makes the cluster's buckets: give it
        // longer than the node's own bound.
        self.json(
            self.request(&self.streaming, reqwest::Method::POST, "/v1/cluster/join")
                .json(request),
        )
    }

    pub fn metrics(&self) -> Result<String, ClientError> {
        let r = self.send(self.request(&self.http, reqwest::Method::GET, "/metrics"))?;
        r.text().map_err(|e| self.connect_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_https_and_the_default_port() {
        for (given, want) in [
            ("https://node.example:8443", "https://node.example:8443"),
            ("https://node.example/", "https://node.example:7443"),
            ("node.example", "https://node.example:7443"),
            ("127.0.0.1:9000", "https://127.0.0.1:9000"),
            ("https://[::1]:9000", "https://[::1]:9000"),
            ("[::1]", "https://[::1]:7443"),
        ] {
            assert_eq!(normalize_url(given).unwrap(), want, "{given}");
        }
        for bad in [
            "http://node",
            "ftp://node",
            "https://node/api",
            "",
            "https://a:99999",
            "a b",
        ] {
            assert!(normalize_url(bad).is_err(), "{bad}");
        }
    }
}
