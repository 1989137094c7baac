//! Reaching the cluster's NATS: the addresses (`nats://HOST[:PORT]`,
//! `tls://…` for TLS, several separated by commas), the credentials
//! (a `.creds` file, an nkey seed, or `USER:PASSWORD`), and a checked
//! connection: JetStream must be there, and the number of servers gives
//! the replication factor of everything the cluster stores.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ClusterError;

/// NATS's client port when an address names none.
pub const DEFAULT_PORT: u16 = 4222;

/// How long a connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A cluster's NATS servers, as the user wrote them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Each `scheme://host:port`.
    pub servers: Vec<String>,
}

impl Address {
    /// Whether `text` names a cluster rather than a node.
    pub fn is_cluster(text: &str) -> bool {
        let t = text.trim();
        t.starts_with("nats://") || t.starts_with("tls://")
    }

    /// Reads `nats://HOST[:PORT][,nats://HOST[:PORT]…]` (`tls://` for TLS).
    pub fn parse(text: &str) -> Result<Address, ClusterError> {
        let bad = |why: String| ClusterError::BadAddress(format!("{text:?}: {why}"));
        let mut servers = Vec::new();
        for part in text.split(',').map(str::trim) {
            let Some((scheme, rest)) = part.split_once("://") else {
                return Err(bad(format!(
                    "{part:?} is not a NATS address; write nats://HOST[:PORT] (tls://HOST[:PORT] for TLS), several separated by commas"
                )));
            };
            if scheme != "nats" && scheme != "tls" {
                return Err(bad(format!(
                    "{scheme}:// is not a NATS scheme; write nats:// (or tls:// for TLS)"
                )));
            }
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() || rest.contains(['/', '@', ' ']) {
                return Err(bad(format!(
                    "{part:?}: write nats://HOST[:PORT], no path and no user (credentials go in a file)"
                )));
            }
            let with_port = match rest.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && !port.contains(']') => {
                    port.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| bad(format!("{port:?} is not a port")))?;
                    rest.to_string()
                }
                _ => format!("{rest}:{DEFAULT_PORT}"),
            };
            servers.push(format!("{scheme}://{with_port}"));
        }
        let tls = servers.iter().filter(|s| s.starts_with("tls://")).count();
        if tls != 0 && tls != servers.len() {
            return Err(bad(
                "mixes tls:// and nats://; use tls:// for every server or for none".into(),
            ));
        }
        Ok(Address { servers })
    }

    pub fn tls(&self) -> bool {
        self.servers.iter().any(|s| s.starts_with("tls://"))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.servers.join(","))
    }
}

/// How the cluster's clients and nodes prove who they are to NATS.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Credentials {
    /// A `.creds` file: a user JWT and its nkey seed.
    Creds {
        text: String,
    },
    /// An nkey seed (`SU…`).
    Nkey {
        seed: String,
    },
    UserPassword {
        user: String,
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        let kind = match self {
            Credentials::Creds { .. } => "creds",
            Credentials::Nkey { .. } => "nkey",
            Credentials::UserPassword { .. } => "user-password",
        };
        write!(f, "Credentials({kind})")
    }
}

impl Credentials {
    /// Reads a credentials file: a `.creds` file (JWT and seed), an nkey
    /// seed, or one line `USER:PASSWORD`.
    pub fn load(path: &Path) -> Result<Credentials, ClusterError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ClusterError::BadCredentials(format!(
                "cannot read the NATS credentials {}: {e}",
                path.display()
            ))
        })?;
        Credentials::parse(&text)
            .map_err(|why| ClusterError::BadCredentials(format!("{}: {why}", path.display())))
    }

    pub fn parse(text: &str) -> Result<Credentials, String> {
        let trimmed = text.trim();
        if trimmed.contains("-----BEGIN NATS USER JWT-----") {
            return Ok(Credentials::Creds { text: text.into() });
        }
        let lines: Vec<&str> = trimmed.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.len() == 1 {
            let line = lines[0].trim();
            if line.starts_with("SU") && line.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Ok(Credentials::Nkey { seed: line.into() });
            }
            if let Some((user, password)) = line.split_once(':')
                && !user.is_empty()
                && !password.is_empty()
            {
                return Ok(Credentials::UserPassword {
                    user: user.into(),
                    password: password.into(),
                });
            }
        }
        Err("not NATS credentials: expected a .creds file (user JWT and nkey seed), an nkey seed (SU…), or one line USER:PASSWORD".into())
    }

    /// Connection options that carry these credentials.
    fn options(&self) -> Result<async_nats::ConnectOptions, ClusterError> {
        Ok(match self {
            Credentials::Creds { text } => async_nats::ConnectOptions::with_credentials(text)
                .map_err(|e| {
                    ClusterError::BadCredentials(format!("the .creds file cannot be used: {e}"))
                })?,
            Credentials::Nkey { seed } => async_nats::ConnectOptions::with_nkey(seed.clone()),
            Credentials::UserPassword { user, password } => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
        })
    }
}

/// The settings every connection of the cluster uses.
fn settings(options: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
    options
        .connection_timeout(CONNECT_TIMEOUT)
        .request_timeout(Some(Duration::from_secs(5)))
        // Forever: a node keeps trying while its NATS is away.
        .max_reconnects(None)
}

/// A checked connection to the cluster's NATS, with JetStream.
#[derive(Clone)]
pub struct Connection {
    pub client: async_nats::Client,
    pub jetstream: async_nats::jetstream::Context,
    pub address: Address,
    /// NATS servers in the cluster: replicas of what we store are
    /// min(3, servers).
    pub servers: usize,
}

impl Connection {
    /// Connects as `name` (how NATS's monitoring shows this client).
    pub async fn open(
        address: &Address,
        credentials: Option<&Credentials>,
        name: &str,
    ) -> Result<Connection, ClusterError> {
        let url = address.to_string();
        let base = match credentials {
            Some(c) => c.options()?,
            None => async_nats::ConnectOptions::new(),
        };
        let mut options = settings(base).name(name);
        if address.tls() {
            options = options.require_tls(true);
        }
        let servers: Vec<async_nats::ServerAddr> = address
            .servers
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| ClusterError::BadAddress(format!("{s}: not a NATS address ({e})")))
            })
            .collect::<Result<_, _>>()?;
        let client = options
            .connect(servers)
            .await
            .map_err(|e| ClusterError::Unreachable {
                url: url.clone(),
                message: describe_connect_error(&e),
            })?;
        let info = client.server_info();
        if !info.jetstream {
            return Err(ClusterError::NoJetStream { url });
        }
        let mut peers: Vec<&String> = info.connect_urls.iter().collect();
        peers.sort();
        peers.dedup();
        let servers = if info.cluster.is_some() {
            peers.len().max(1)
        } else {
            1
        };
        let jetstream = async_nats::jetstream::new(client.clone());
        Ok(Connection {
            client,
            jetstream,
            address: address.clone(),
            servers,
        })
    }

    /// Replicas of each bucket and stream: three where there are three
    /// servers or more, else one per server.
    pub fn replicas(&self) -> usize {
        self.servers.clamp(1, 3)
    }
}

fn describe_connect_error(e: &async_nats::ConnectError) -> String {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("authorization") || lower.contains("authentication") {
        format!(
            "{text}: the credentials were refused (check the user, password, nkey or .creds file)"
        )
    } else if lower.contains("certificate") || lower.contains("issuer") {
        format!(
            "{text}: the server's TLS certificate is not trusted here; if your own CA signed it, set SSL_CERT_FILE to the CA's PEM file (for the client and for every node)"
        )
    } else if lower.contains("timed out") {
        format!("{text}: no answer in {}s", CONNECT_TIMEOUT.as_secs())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_a_scheme_check_and_the_default_port() {
        let a = Address::parse("nats://127.0.0.1,nats://h2:5000").unwrap();
        assert_eq!(a.servers, ["nats://127.0.0.1:4222", "nats://h2:5000"]);
        assert!(!a.tls());
        assert!(Address::parse("tls://h:4443").unwrap().tls());
        for bad in [
            "https://h",
            "h:4222",
            "nats://",
            "nats://h/x",
            "nats://u:p@h",
            "nats://h:0",
            "nats://h:99999",
            "nats://a,tls://b",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        assert!(Address::is_cluster("nats://x"));
        assert!(!Address::is_cluster("https://x"));
    }

    #[test]
    fn credentials_are_recognised_by_their_shape() {
        assert!(matches!(
            Credentials::parse("qyv:secret\n").unwrap(),
            Credentials::UserPassword { .. }
        ));
        assert!(matches!(
            Credentials::parse("SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n")
                .unwrap(),
            Credentials::Nkey { .. }
        ));
        assert!(matches!(
            Credentials::parse("-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n")
                .unwrap(),
            Credentials::Creds { .. }
        ));
        for bad in ["", "just-a-word", "a:b\nc:d", ":nopass"] {
            assert!(Credentials::parse(bad).is_err(), "{bad}");
        }
        let shown = format!(
            "{:?}",
            Credentials::UserPassword {
                user: "u".into(),
                password: "hunter2".into()
            }
        );
        assert!(!shown.contains("hunter2"));
    }
}
