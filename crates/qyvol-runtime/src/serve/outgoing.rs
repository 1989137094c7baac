//! Requests an app sends (`wasi:http/outgoing-handler`).
//!
//! `http://NAME.service/...` (or `service://NAME/...`) is the virtual
//! network: it reaches app NAME of the same server in-process, through its
//! queue, with no socket and no permission needed. Anything else is the
//! real network and needs `permissions.net`: the host must be allowed by
//! name, or every address it resolves to is checked against the address
//! rules and only allowed ones are dialled. A refusal fails inside the guest
//! as `error-code.HTTP-request-denied` and is logged with the permission to
//! add.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use http::uri::Scheme;
use http_body_util::BodyExt;
use qyvol_manifest::NetPolicy;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::serve::log;
use crate::serve::responses::Body;

/// Host names under this domain are apps of the same server.
pub(crate) const SERVICE_DOMAIN: &str = ".service";
/// The scheme form of the virtual network, for HTTP libraries that pass
/// other schemes through.
pub(crate) const SERVICE_SCHEME: &str = "service";
/// Calls between apps deeper than this are a loop.
pub(crate) const MAX_HOPS: u32 = 16;

/// How long a connect or a first response byte may take when the guest set
/// no request options.
const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(600);

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type Sent = Result<(http::Response<WasiBody>, IoFuture), Error>;

/// The other apps of the server, as an instance's requests to
/// `http://NAME.service/` reach them.
pub(crate) trait Peers: Send + Sync {
    /// Request `id` (after `hops` apps) to the app named `name`: its
    /// response, or the server's own when there is no such app or it could
    /// not answer.
    fn call(
        &self,
        name: &str,
        request: http::Request<WasiBody>,
        id: u64,
        hops: u32,
    ) -> Pin<Box<dyn Future<Output = http::Response<Body>> + Send + '_>>;
}

/// The hooks of one instance: who is asking, and what it may reach.
pub(crate) struct Outgoing {
    pub(crate) app: Arc<str>,
    pub(crate) net: Arc<NetPolicy>,
    /// Gone once the server is.
    pub(crate) peers: Weak<dyn Peers>,
    /// The request the instance serves now, for log lines.
    pub(crate) request: u64,
    /// How many apps that request already went through.
    pub(crate) hops: u32,
}

/// Where a guest's request goes.
#[derive(Debug, PartialEq, Eq)]
enum Destination {
    App(String),
    Network {
        https: bool,
        host: String,
        port: u16,
    },
}

fn destination(uri: &http::Uri) -> Result<Destination, Error> {
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
    let scheme = uri.scheme_str().unwrap_or("https");
    if scheme == SERVICE_SCHEME {
        return Ok(Destination::App(host));
    }
    if let Some(name) = host.strip_suffix(SERVICE_DOMAIN)
        && !name.is_empty()
        && !name.contains('.')
    {
        return Ok(Destination::App(name.to_string()));
    }
    let https = scheme == "https";
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(Destination::Network { https, host, port })
}

impl WasiHttpHooks for Outgoing {
    fn is_supported_scheme(&mut self, scheme: &Scheme) -> bool {
        *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS || scheme.as_str() == SERVICE_SCHEME
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let app = self.app.clone();
        let id = self.request;
        let what = format!("{} {}", request.method(), request.uri());
        let destination = match destination(request.uri()) {
            Ok(d) => d,
            Err(e) => return Box::new(async move { Err(e) }),
        };
        match destination {
            Destination::App(name) => {
                let peers = self.peers.clone();
                let hops = self.hops + 1;
                Box::new(async move {
                    if hops > MAX_HOPS {
                        log::line(
                            id,
                            &app,
                            &format!(
                                "{what}: more than {MAX_HOPS} calls between apps for one request; refused as a loop"
                            ),
                        );
                        return Err(Error::LoopDetected);
                    }
                    let peers = peers.upgrade().ok_or(Error::ConnectionRefused)?;
                    let response = peers.call(&name, request, id, hops).await;
                    Ok((response, Box::new(async { Ok(()) }) as IoFuture))
                })
            }
            Destination::Network { https, host, port } => {
                let net = self.net.clone();
                Box::new(async move {
                    let addrs = match allowed_addresses(&net, &host, port).await {
                        Ok(addrs) => addrs,
                        Err(Refusal::Denied) => {
                            log::line(
                                id,
                                &app,
                                &format!(
                                    "outgoing request {what} was denied by permissions.net; add \"{}\" to permissions.net to allow it",
                                    rule_for(&host, port)
                                ),
                            );
                            return Err(Error::HttpRequestDenied);
                        }
                        Err(Refusal::Lookup(e)) => {
                            return Err(Error::DnsError {
                                rcode: Some(e),
                                info_code: None,
                            });
                        }
                    };
                    if https {
                        log::line(
                            id,
                            &app,
                            &format!(
                                "outgoing request {what}: https is not supported yet for outgoing requests; use http"
                            ),
                        );
                        return Err(Error::InternalError(Some(
                            "https is not supported yet for outgoing requests".into(),
                        )));
                    }
                    send(request, &addrs, options).await
                })
            }
        }
    }
}

/// How a manifest names this host and port, for the message of a refusal.
fn rule_for(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

enum Refusal {
    Denied,
    Lookup(String),
}

/// The addresses of `host` the policy lets the app reach: all of them when
/// a name rule allows the host, otherwise those an address rule allows.
async fn allowed_addresses(
    net: &NetPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, Refusal> {
    if !net.is_enabled() {
        return Err(Refusal::Denied);
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        let addr = SocketAddr::new(ip, port);
        return if net.allows_addr(&addr) {
            Ok(vec![addr])
        } else {
            Err(Refusal::Denied)
        };
    }
    let by_name = net.allows_name(host, port);
    if !by_name && !has_address_rules(net) {
        return Err(Refusal::Denied);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Refusal::Lookup(e.to_string()))?
        .collect();
    if by_name {
        return Ok(addrs);
    }
    let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| net.allows_addr(a)).collect();
    if allowed.is_empty() {
        Err(Refusal::Denied)
    } else {
        Ok(allowed)
    }
}

fn has_address_rules(net: &NetPolicy) -> bool {
    match net {
        NetPolicy::Deny => false,
        NetPolicy::AllowAll => true,
        NetPolicy::Allow(rules) => rules
            .iter()
            .any(|r| !matches!(r.target, qyvol_manifest::NetTarget::Name(_))),
    }
}

/// Sends a plain HTTP/1.1 request to the first of `addrs` that accepts.
async fn send(
    mut request: http::Request<WasiBody>,
    addrs: &[SocketAddr],
    options: Option<RequestOptions>,
) -> Sent {
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(DEFAULT_NETWORK_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(DEFAULT_NETWORK_TIMEOUT);
    let mut last = Error::ConnectionRefused;
    let mut stream = None;
    for addr in addrs {
        match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => last = Error::Connect(e),
            Err(_) => last = Error::ConnectionTimeout,
        }
    }
    let stream = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake::<_, WasiBody>(TokioIo::new(stream))
        .await?;
    // The connection is driven on its own task: it must make progress while
    // this one waits for the response, and it ends with the response body.
    let driver = tokio::spawn(connection);
    // On the wire, the request line holds only the path: scheme and
    // authority are for proxies.
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
    let io: IoFuture = Box::new(async move {
        match driver.await {
            Ok(result) => result.map_err(Error::from),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    });
    Ok((response, io))
}

#[cfg(test)]
mod tests {
    use super::*;
    use qyvol_manifest::NetRule;

    fn dest(uri: &str) -> Destination {
        destination(&uri.parse().unwrap()).unwrap()
    }

    #[test]
    fn service_names_are_apps_and_the_rest_is_the_network() {
        assert_eq!(
            dest("http://hello.service/x"),
            Destination::App("hello".into())
        );
        assert_eq!(
            dest("http://Hello.Service./x"),
            Destination::App("hello".into())
        );
        assert_eq!(dest("service://hello/x"), Destination::App("hello".into()));
        assert_eq!(
            dest("http://a.b.service/"),
            Destination::Network {
                https: false,
                host: "a.b.service".into(),
                port: 80
            }
        );
        assert_eq!(
            dest("https://example.com/"),
            Destination::Network {
                https: true,
                host: "example.com".into(),
                port: 443
            }
        );
        assert_eq!(
            dest("http://127.0.0.1:8080/"),
            Destination::Network {
                https: false,
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
    }

    fn policy(rules: &[&str]) -> NetPolicy {
        NetPolicy::Allow(rules.iter().map(|r| NetRule::parse(r).unwrap()).collect())
    }

    #[tokio::test]
    async fn only_allowed_addresses_are_dialled() {
        let deny = NetPolicy::Deny;
        assert!(matches!(
            allowed_addresses(&deny, "127.0.0.1", 80).await,
            Err(Refusal::Denied)
        ));
        let p = policy(&["127.0.0.1:8080"]);
        assert_eq!(
            allowed_addresses(&p, "127.0.0.1", 8080).await.ok(),
            Some(vec!["127.0.0.1:8080".parse().unwrap()])
        );
        assert!(allowed_addresses(&p, "127.0.0.1", 8081).await.is_err());
        // A name is resolved, then each address is checked.
        assert!(allowed_addresses(&p, "localhost", 8080).await.is_ok());
        let by_name = policy(&["localhost:9000"]);
        assert!(allowed_addresses(&by_name, "localhost", 9000).await.is_ok());
        assert!(matches!(
            allowed_addresses(&by_name, "localhost", 9001).await,
            Err(Refusal::Denied)
        ));
        assert_eq!(rule_for("::1", 80), "[::1]:80");
    }
}
