//! Network allow-list rules (`permissions.net`): what they may look like and
//! which addresses they let through.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the app may connect to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetPolicy {
    /// No sockets at all (`net: false`, the default).
    #[default]
    Deny,
    /// Any host, any port (`net: true`).
    AllowAll,
    /// Only what one of the rules matches (`net: [...]`); never empty, an
    /// empty list is read as [`NetPolicy::Deny`].
    Allow(Vec<NetRule>),
}

impl NetPolicy {
    /// Whether any network access is granted.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, NetPolicy::Deny)
    }

    /// Whether a connection to `addr` is allowed by address alone. Name
    /// rules never match here: the runtime checks them with
    /// [`NetPolicy::allows_name`] before it resolves the name.
    pub fn allows_addr(&self, addr: &SocketAddr) -> bool {
        match self {
            NetPolicy::Deny => false,
            NetPolicy::AllowAll => true,
            NetPolicy::Allow(rules) => rules.iter().any(|rule| rule.matches_addr(addr)),
        }
    }

    /// Whether a connection to host name `host` on `port` is allowed by a
    /// name rule (or by `net: true`).
    pub fn allows_name(&self, host: &str, port: u16) -> bool {
        match self {
            NetPolicy::Deny => false,
            NetPolicy::AllowAll => true,
            NetPolicy::Allow(rules) => rules.iter().any(|rule| rule.matches_name(host, port)),
        }
    }
}

/// One allow-list entry, such as `api.example.com:443` or `10.0.0.0/8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetRule {
    /// The rule as written in the manifest, for messages.
    pub text: String,
    /// The host, address or range it allows.
    pub target: NetTarget,
    /// The one port allowed, or None for any port.
    pub port: Option<u16>,
}

/// The host part of a [`NetRule`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetTarget {
    /// One address.
    Ip(IpAddr),
    /// A range of addresses: the first `prefix` bits of `addr`.
    Cidr {
        /// Network address (host bits may be set; they are ignored).
        addr: IpAddr,
        /// Prefix length: up to 32 for IPv4, 128 for IPv6.
        prefix: u8,
    },
    /// A DNS name, lowercase without a trailing dot; `*.example.com`
    /// matches any name below `example.com` but not `example.com` itself.
    Name(String),
}

impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const RULE_FORMS: &str = "write host:port (api.example.com:443), host:* for any port, \
[IPv6]:port, an IP address, or a CIDR range (10.0.0.0/8)";

impl NetRule {
    /// Parses one rule: `HOST:PORT`, `HOST:*`, `[IPv6]:PORT`, `[IPv6]`,
    /// an IP alone (any port), or a CIDR range (any port).
    pub fn parse(text: &str) -> Result<NetRule, String> {
        let rule = text.trim();
        if rule.is_empty() {
            return Err(format!("empty rule; {RULE_FORMS}"));
        }
        let (target, port) = Self::parse_parts(rule)?;
        Ok(NetRule {
            text: rule.to_string(),
            target,
            port,
        })
    }

    fn parse_parts(rule: &str) -> Result<(NetTarget, Option<u16>), String> {
        if let Some(inner) = rule.strip_prefix('[') {
            let Some((addr, after)) = inner.split_once(']') else {
                return Err(format!("{rule:?} has no closing ']'; {RULE_FORMS}"));
            };
            let ip: Ipv6Addr = addr
                .parse()
                .map_err(|_| format!("{addr:?} in {rule:?} is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(port) => parse_port(port, rule)?,
                    None => return Err(format!("{rule:?}: expected ':port' after ']'")),
                },
            };
            return Ok((NetTarget::Ip(IpAddr::V6(ip)), port));
        }
        if let Some((addr, prefix)) = rule.split_once('/') {
            let ip: IpAddr = addr.parse().map_err(|_| {
                if addr.contains(':') && addr.parse::<SocketAddr>().is_ok() {
                    format!("{rule:?}: a CIDR range covers every port; drop the port")
                } else {
                    format!("{addr:?} in {rule:?} is not an IP address; a CIDR range is like 10.0.0.0/8 or fd00::/8")
                }
            })?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix.parse().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("{prefix:?} in {rule:?} is not a prefix length; use 0 to {max}")
            })?;
            return Ok((NetTarget::Cidr { addr: ip, prefix }, None));
        }
        if let Ok(ip) = rule.parse::<IpAddr>() {
            return Ok((NetTarget::Ip(ip), None));
        }
        let Some((host, port)) = rule.rsplit_once(':') else {
            return Err(if rule.chars().all(|c| c.is_ascii_digit()) {
                format!("{rule:?} has no host; write host:port, e.g. \"api.example.com:{rule}\"")
            } else {
                format!(
                    "{rule:?} has no port; add one, e.g. \"{rule}:443\", or \"{rule}:*\" for any port"
                )
            });
        };
        if host.contains(':') {
            return Err(format!(
                "{rule:?}: put an IPv6 address in brackets before a port, e.g. \"[::1]:8080\""
            ));
        }
        if host.is_empty() {
            return Err(format!("{rule:?} has no host; {RULE_FORMS}"));
        }
        let port = parse_port(port, rule)?;
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok((NetTarget::Ip(IpAddr::V4(ip)), port));
        }
        Ok((NetTarget::Name(parse_host_name(host, rule)?), port))
    }

    /// Whether this rule lets a connection to `addr` through. Only address
    /// rules (IP and CIDR) can match; name rules need resolving first.
    pub fn matches_addr(&self, addr: &SocketAddr) -> bool {
        if self.port.is_some_and(|port| port != addr.port()) {
            return false;
        }
        // An IPv4 peer may show up as ::ffff:a.b.c.d on a dual-stack socket;
        // it is still the IPv4 address the rule names.
        let ip = addr.ip().to_canonical();
        match &self.target {
            NetTarget::Ip(rule_ip) => rule_ip.to_canonical() == ip,
            NetTarget::Cidr { addr: net, prefix } => {
                in_cidr(addr.ip(), *net, *prefix) || in_cidr(ip, *net, *prefix)
            }
            NetTarget::Name(_) => false,
        }
    }

    /// Whether this rule lets a connection to host name `host` on `port`
    /// through (case-insensitive, trailing dot ignored). `*.example.com`
    /// matches `a.example.com` and `a.b.example.com`, not `example.com`.
    pub fn matches_name(&self, host: &str, port: u16) -> bool {
        self.port.is_none_or(|p| p == port) && self.matches_host(host)
    }

    /// Whether this is a name rule for `host`, on whatever port: the names
    /// an app may look up.
    pub fn matches_host(&self, host: &str) -> bool {
        let NetTarget::Name(name) = &self.target else {
            return false;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match name.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => host == *name,
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            // Prefixes are checked at parse time, but the fields are public:
            // saturate rather than trust them.
            let mask = u32::MAX
                .checked_shl(32u32.saturating_sub(prefix.into()))
                .unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX
                .checked_shl(128u32.saturating_sub(prefix.into()))
                .unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn parse_port(port: &str, rule: &str) -> Result<Option<u16>, String> {
    if port == "*" {
        return Ok(None);
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!(
            "{port:?} in {rule:?} is not a port; use 1 to 65535, or * for any port"
        )),
        Ok(port) => Ok(Some(port)),
    }
}

/// Checks a DNS name (letters, digits, `-` and `.`, an optional leading
/// `*.`) and returns it lowercase without a trailing dot.
fn parse_host_name(host: &str, rule: &str) -> Result<String, String> {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let bare = name.strip_prefix("*.").unwrap_or(&name);
    if bare.is_empty() || bare.len() > 253 {
        return Err(format!("{host:?} in {rule:?} is not a host name"));
    }
    let labels: Vec<&str> = bare.split('.').collect();
    for label in &labels {
        let valid_chars = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if label.is_empty()
            || label.len() > 63
            || !valid_chars
            || label.starts_with('-')
            || label.ends_with('-')
        {
            let hint = if label.contains('*') {
                "; a wildcard is only allowed as a whole first label, e.g. *.example.com (use net: true to allow every host)"
            } else {
                "; a host name has letters, digits, '-' and '.'"
            };
            return Err(format!("{host:?} in {rule:?} is not a host name{hint}"));
        }
    }
    // A name made of numbers only would be an IPv4 address, and a wrong one.
    if labels.iter().all(|l| l.chars().all(|c| c.is_ascii_digit())) {
        return Err(format!("{host:?} in {rule:?} is not a valid IP address"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> NetRule {
        NetRule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn sock(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_forms() {
        let r = rule("api.example.com:443");
        assert_eq!(r.target, NetTarget::Name("api.example.com".into()));
        assert_eq!(r.port, Some(443));
        assert_eq!(
            rule("Example.COM:*").target,
            NetTarget::Name("example.com".into())
        );
        assert_eq!(rule("example.com:*").port, None);
        assert_eq!(
            rule("*.example.com:443").target,
            NetTarget::Name("*.example.com".into())
        );
        assert_eq!(
            rule("localhost:8080").target,
            NetTarget::Name("localhost".into())
        );
        let r = rule("[::1]:8080");
        assert_eq!(r.target, NetTarget::Ip("::1".parse().unwrap()));
        assert_eq!(r.port, Some(8080));
        assert_eq!(rule("[fe80::1]").port, None);
        assert_eq!(rule("[::1]:*").port, None);
        let r = rule("10.1.2.3");
        assert_eq!(r.target, NetTarget::Ip("10.1.2.3".parse().unwrap()));
        assert_eq!(r.port, None);
        assert_eq!(rule("::1").port, None);
        assert_eq!(rule("127.0.0.1:5432").port, Some(5432));
        assert_eq!(
            rule("10.0.0.0/8").target,
            NetTarget::Cidr {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8
            }
        );
        assert_eq!(
            rule("fd00::/8").target,
            NetTarget::Cidr {
                addr: "fd00::".parse().unwrap(),
                prefix: 8
            }
        );
        assert_eq!(rule(" db.local:5432 ").text, "db.local:5432");
        assert_eq!(
            rule("example.com.:443").target,
            NetTarget::Name("example.com".into())
        );
    }

    #[test]
    fn rejects_bad_rules() {
        let err = |text: &str| NetRule::parse(text).unwrap_err();
        assert_eq!(
            err("example.com"),
            "\"example.com\" has no port; add one, e.g. \"example.com:443\", or \"example.com:*\" for any port"
        );
        assert_eq!(
            err("example.com:0"),
            "\"0\" in \"example.com:0\" is not a port; use 1 to 65535, or * for any port"
        );
        assert_eq!(
            err("example.com:65536"),
            "\"65536\" in \"example.com:65536\" is not a port; use 1 to 65535, or * for any port"
        );
        assert_eq!(
            err("fe80::1:8080:x"),
            "\"fe80::1:8080:x\": put an IPv6 address in brackets before a port, e.g. \"[::1]:8080\""
        );
        assert_eq!(
            err("10.0.0.0/33"),
            "\"33\" in \"10.0.0.0/33\" is not a prefix length; use 0 to 32"
        );
        assert_eq!(
            err("10.0.0.0:80/8"),
            "\"10.0.0.0:80/8\": a CIDR range covers every port; drop the port"
        );
        assert_eq!(
            err("bad_host:80"),
            "\"bad_host\" in \"bad_host:80\" is not a host name; a host name has letters, digits, '-' and '.'"
        );
        assert_eq!(
            err("*:80"),
            "\"*\" in \"*:80\" is not a host name; a wildcard is only allowed as a whole first label, e.g. *.example.com (use net: true to allow every host)"
        );
        assert_eq!(
            err("999.1.1.1:80"),
            "\"999.1.1.1\" in \"999.1.1.1:80\" is not a valid IP address"
        );
        assert_eq!(
            err("8080"),
            "\"8080\" has no host; write host:port, e.g. \"api.example.com:8080\""
        );
        assert!(err(":80").contains("has no host"));
        assert!(err("").starts_with("empty rule"));
        assert!(err("[::1").contains("no closing"));
        assert!(err("[1.2.3.4]:80").contains("not an IPv6 address"));
        assert!(err("[::1]80").contains("expected ':port'"));
        assert!(err("a..b:80").contains("not a host name"));
        assert!(err("-a.com:80").contains("not a host name"));
        assert!(err("a.*.com:80").contains("wildcard"));
        assert!(err("fd00::/200").contains("use 0 to 128"));
        assert!(err("host/8").contains("not an IP address"));
        assert!(err("example.com:http").contains("not a port"));
    }

    #[test]
    fn ip_rules_match_their_address() {
        let r = rule("10.1.2.3");
        assert!(r.matches_addr(&sock("10.1.2.3:80")));
        assert!(r.matches_addr(&sock("10.1.2.3:5432")));
        assert!(!r.matches_addr(&sock("10.1.2.4:80")));
        assert!(r.matches_addr(&sock("[::ffff:10.1.2.3]:80")));
        let r = rule("127.0.0.1:5432");
        assert!(r.matches_addr(&sock("127.0.0.1:5432")));
        assert!(!r.matches_addr(&sock("127.0.0.1:5433")));
        let r = rule("[::1]:8080");
        assert!(r.matches_addr(&sock("[::1]:8080")));
        assert!(!r.matches_addr(&sock("[::1]:8081")));
        assert!(!r.matches_addr(&sock("127.0.0.1:8080")));
    }

    #[test]
    fn cidr_rules_match_their_range() {
        let r = rule("10.0.0.0/8");
        assert!(r.matches_addr(&sock("10.255.0.1:1")));
        assert!(!r.matches_addr(&sock("11.0.0.1:1")));
        assert!(!r.matches_addr(&sock("[fd00::1]:1")));
        let r = rule("192.168.1.77/24");
        assert!(r.matches_addr(&sock("192.168.1.1:80")));
        assert!(!r.matches_addr(&sock("192.168.2.1:80")));
        let r = rule("0.0.0.0/0");
        assert!(r.matches_addr(&sock("8.8.8.8:53")));
        assert!(!r.matches_addr(&sock("[::1]:53")));
        let r = rule("fd00::/8");
        assert!(r.matches_addr(&sock("[fd12:3456::1]:443")));
        assert!(!r.matches_addr(&sock("[fe80::1]:443")));
        let r = rule("::/0");
        assert!(r.matches_addr(&sock("[2001:db8::1]:1")));
        let r = rule("10.0.0.1/32");
        assert!(r.matches_addr(&sock("10.0.0.1:9")));
        assert!(!r.matches_addr(&sock("10.0.0.2:9")));
    }

    #[test]
    fn name_rules_match_names_only() {
        let r = rule("api.example.com:443");
        assert!(!r.matches_addr(&sock("1.2.3.4:443")));
        assert!(r.matches_name("api.example.com", 443));
        assert!(r.matches_name("API.Example.com.", 443));
        assert!(!r.matches_name("api.example.com", 80));
        assert!(!r.matches_name("example.com", 443));
        let r = rule("*.example.com:*");
        assert!(r.matches_name("a.example.com", 1));
        assert!(r.matches_name("a.b.example.com", 2));
        assert!(!r.matches_name("example.com", 1));
        assert!(!r.matches_name("badexample.com", 1));
        assert!(!rule("10.0.0.1").matches_name("10.0.0.1", 80));
    }

    #[test]
    fn policies() {
        let addr = sock("10.0.0.1:80");
        assert!(!NetPolicy::Deny.allows_addr(&addr));
        assert!(NetPolicy::AllowAll.allows_addr(&addr));
        assert!(NetPolicy::AllowAll.allows_name("x.org", 1));
        let allow = NetPolicy::Allow(vec![rule("10.0.0.0/8"), rule("db:5432")]);
        assert!(allow.allows_addr(&addr));
        assert!(!allow.allows_addr(&sock("11.0.0.1:80")));
        assert!(allow.allows_name("db", 5432));
        assert!(!allow.allows_name("db", 5433));
        assert!(allow.is_enabled());
        assert!(!NetPolicy::Deny.is_enabled());
    }
}
