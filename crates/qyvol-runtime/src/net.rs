//! The network gate: turns `permissions.net` into the socket checks the WASI
//! context calls before every bind, connect and send, and into the check of
//! every name lookup ([`crate::lookup`]), and remembers what it refused so
//! that a failed run can name the rule to add.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};

use qyvol_manifest::{NetPolicy, NetRule, NetTarget};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::SocketAddrUse;

/// One refusal: what the guest tried (`connect to 1.2.3.4:80`, `look up
/// example.com`) and the rule that would have allowed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Denial {
    pub(crate) what: String,
    pub(crate) rule: String,
}

/// What the guest was refused, in order, at most a few.
#[derive(Clone, Debug, Default)]
pub(crate) struct Denials(Arc<Mutex<Vec<Denial>>>);

const MAX_DENIALS_KEPT: usize = 8;

/// The longest name a denial shows (the longest DNS name is 253).
const MAX_NAME_SHOWN: usize = 253;

impl Denials {
    fn record(&self, what: String, rule: String) {
        let denial = Denial { what, rule };
        if let Ok(mut v) = self.0.lock()
            && v.len() < MAX_DENIALS_KEPT
            && !v.contains(&denial)
        {
            v.push(denial);
        }
    }

    pub(crate) fn list(&self) -> Vec<Denial> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// One allow rule with host names already resolved to addresses.
#[derive(Clone, Debug)]
struct Allowed {
    rule: NetRule,
    resolved: Vec<IpAddr>,
}

impl Allowed {
    fn matches(&self, addr: &SocketAddr) -> bool {
        if self.rule.matches_addr(addr) {
            return true;
        }
        let port_ok = self.rule.port.is_none_or(|p| p == addr.port());
        port_ok && self.resolved.contains(&addr.ip())
    }
}

#[derive(Clone, Debug)]
pub(crate) struct NetGate {
    policy: Policy,
    pub(crate) denials: Denials,
    /// Rules that could not be used, with the reason: shown as warnings.
    pub(crate) warnings: Vec<String>,
}

#[derive(Clone, Debug)]
enum Policy {
    Deny,
    AllowAll,
    Allow { rules: Vec<Allowed> },
}

impl NetGate {
    pub(crate) fn new(policy: &NetPolicy) -> NetGate {
        let mut warnings = Vec::new();
        let policy = match policy {
            NetPolicy::Deny => Policy::Deny,
            NetPolicy::AllowAll => Policy::AllowAll,
            NetPolicy::Allow(rules) => {
                let rules = rules
                    .iter()
                    .map(|rule| {
                        let mut resolved = Vec::new();
                        if let NetTarget::Name(name) = &rule.target {
                            if name.starts_with("*.") {
                                warnings.push(format!(
                                    "permissions.net: \"{}\": wildcard names apply to HTTP requests only; sockets need addresses",
                                    rule.text
                                ));
                            } else {
                                match (name.as_str(), 0).to_socket_addrs() {
                                    Ok(addrs) => resolved.extend(addrs.map(|a| a.ip())),
                                    Err(e) => warnings.push(format!(
                                        "permissions.net: cannot resolve \"{}\" ({e}); the rule allows nothing this run",
                                        rule.text
                                    )),
                                }
                            }
                        }
                        Allowed {
                            rule: rule.clone(),
                            resolved,
                        }
                    })
                    .collect();
                Policy::Allow { rules }
            }
        };
        NetGate {
            policy,
            denials: Denials::default(),
            warnings,
        }
    }

    /// The same rules with a record of refusals of its own: one per
    /// instance when a server runs many.
    pub(crate) fn fresh(&self) -> NetGate {
        NetGate {
            policy: self.policy.clone(),
            denials: Denials::default(),
            warnings: Vec::new(),
        }
    }

    /// Whether the guest may use `addr` for `use_`. Pure, for tests.
    fn allows(&self, addr: &SocketAddr, use_: SocketAddrUse) -> bool {
        // Every connect first binds to any address and an OS-chosen port:
        // harmless alone, and letting it through means the refusal lands
        // on the connect, which names the address the app wanted.
        let implicit_bind = matches!(use_, SocketAddrUse::TcpBind | SocketAddrUse::UdpBind)
            && addr.ip().is_unspecified()
            && addr.port() == 0;
        match &self.policy {
            Policy::Deny => implicit_bind,
            Policy::AllowAll => true,
            Policy::Allow { rules, .. } => match use_ {
                _ if implicit_bind => true,
                // Listening was allowed by a rule; who connects is not ours to filter.
                SocketAddrUse::TcpAccept => true,
                _ => rules.iter().any(|r| r.matches(addr)),
            },
        }
    }

    /// Whether the guest may look `name` up; a refusal is recorded. Under
    /// an allow-list only the names of its name rules may be looked up
    /// (any other lookup would reach a DNS server with a name the app
    /// chose); an IP address "resolves" to itself without the network.
    pub(crate) fn allows_lookup(&self, name: &str) -> bool {
        let ok = match &self.policy {
            Policy::Deny => false,
            Policy::AllowAll => true,
            Policy::Allow { rules, .. } => {
                is_ip_literal(name) || rules.iter().any(|r| r.rule.matches_host(name))
            }
        };
        if !ok {
            let shown: String = name.chars().take(MAX_NAME_SHOWN).collect();
            let shown = shown.escape_debug();
            self.denials
                .record(format!("look up {shown}"), format!("{shown}:PORT"));
        }
        ok
    }

    pub(crate) fn apply(&self, b: &mut WasiCtxBuilder) {
        // Creating a socket is allowed even under `net: false`: it can do
        // nothing until a bind, connect or send, and each of those passes
        // the check below, which records what it refused so that the run's
        // end can name permissions.net. Lookups are decided name by name by
        // `allows_lookup` (see crate::lookup); the switch only stays off
        // where no name may be looked up.
        b.allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(!matches!(self.policy, Policy::Deny));
        let gate = self.clone();
        b.socket_addr_check(move |addr, use_| {
            let ok = gate.allows(&addr, use_);
            if !ok && !matches!(use_, SocketAddrUse::UdpReceive) {
                gate.denials
                    .record(format!("{} {addr}", describe(use_)), addr.to_string());
            }
            Box::pin(async move { ok })
        });
    }
}

/// An IPv4 or IPv6 address, bracketed or not.
fn is_ip_literal(name: &str) -> bool {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    bare.parse::<IpAddr>().is_ok()
}

fn describe(use_: SocketAddrUse) -> &'static str {
    match use_ {
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => "bind",
        SocketAddrUse::TcpListen => "listen on",
        SocketAddrUse::TcpAccept => "accept from",
        SocketAddrUse::TcpConnect => "connect to",
        SocketAddrUse::UdpSend => "send to",
        SocketAddrUse::UdpReceive => "receive from",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(rules: &[&str]) -> NetGate {
        let rules = rules.iter().map(|r| NetRule::parse(r).unwrap()).collect();
        NetGate::new(&NetPolicy::Allow(rules))
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn deny_refuses_everything() {
        let g = NetGate::new(&NetPolicy::Deny);
        assert!(!g.allows(&sa("127.0.0.1:80"), SocketAddrUse::TcpConnect));
        assert!(!g.allows(&sa("0.0.0.0:8080"), SocketAddrUse::TcpBind));
        assert!(!g.allows(&sa("0.0.0.0:0"), SocketAddrUse::TcpListen));
        assert!(!g.allows(&sa("1.1.1.1:53"), SocketAddrUse::UdpSend));
    }

    #[test]
    fn a_list_allows_only_its_ports() {
        let g = gate(&["127.0.0.1:8080", "10.0.0.0/8"]);
        assert!(g.allows(&sa("127.0.0.1:8080"), SocketAddrUse::TcpConnect));
        assert!(!g.allows(&sa("127.0.0.1:8081"), SocketAddrUse::TcpConnect));
        assert!(g.allows(&sa("10.1.2.3:22"), SocketAddrUse::TcpConnect));
        assert!(!g.allows(&sa("192.168.1.1:8080"), SocketAddrUse::UdpSend));
        // implicit binds before a connect are always fine, explicit ones are not
        assert!(g.allows(&sa("0.0.0.0:0"), SocketAddrUse::TcpBind));
        assert!(!g.allows(&sa("0.0.0.0:9000"), SocketAddrUse::TcpBind));
    }

    #[test]
    fn names_are_resolved_and_enable_lookup() {
        let g = gate(&["localhost:9000"]);
        assert!(g.allows(&sa("127.0.0.1:9000"), SocketAddrUse::TcpConnect));
        assert!(!g.allows(&sa("127.0.0.1:9001"), SocketAddrUse::TcpConnect));
        assert!(g.allows_lookup("localhost"));
        let ips = gate(&["127.0.0.1:9000"]);
        assert!(!ips.allows_lookup("localhost"));
    }

    #[test]
    fn denials_are_kept_once_each() {
        let d = Denials::default();
        d.record("connect to 1.2.3.4:80".into(), "1.2.3.4:80".into());
        d.record("connect to 1.2.3.4:80".into(), "1.2.3.4:80".into());
        assert_eq!(d.list().len(), 1);
    }

    #[test]
    fn lookups_follow_the_policy_and_refusals_are_recorded() {
        let deny = NetGate::new(&NetPolicy::Deny);
        assert!(!deny.allows_lookup("localhost"));
        assert_eq!(
            deny.denials.list(),
            vec![Denial {
                what: "look up localhost".into(),
                rule: "localhost:PORT".into()
            }]
        );
        assert!(NetGate::new(&NetPolicy::AllowAll).allows_lookup("example.com"));
        let list = gate(&["localhost:9000", "*.example.com:443", "10.0.0.1:80"]);
        assert!(list.allows_lookup("localhost"));
        assert!(list.allows_lookup("LOCALHOST."));
        assert!(list.allows_lookup("api.example.com"));
        assert!(list.allows_lookup("10.0.0.9"));
        assert!(list.allows_lookup("[::1]"));
        assert!(list.denials.list().is_empty());
        assert!(!list.allows_lookup("example.com"));
        assert!(!list.allows_lookup("evil.test"));
        let refused: Vec<_> = list.denials.list().into_iter().map(|d| d.what).collect();
        assert_eq!(refused, ["look up example.com", "look up evil.test"]);
        // A guest's name is shown escaped, never as terminal control codes.
        assert!(!deny.allows_lookup("a\u{1b}[2Jb"));
        assert_eq!(deny.denials.list()[1].what, "look up a\\u{1b}[2Jb");
    }
}
