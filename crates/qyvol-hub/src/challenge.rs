//! The `WWW-Authenticate` header a registry answers 401 with: which scheme
//! it wants (`Basic`, or `Bearer` with the token service's `realm`,
//! `service` and `scope`), as RFC 7235 writes challenges.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Reads one challenge; `None` for a scheme Qyvol does not speak or a
/// bearer challenge without a realm.
pub fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r),
        None => (header, ""),
    };
    let params = params(rest);
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        });
    }
    None
}

/// `key=value` and `key="quoted, value"` pairs separated by commas; keys
/// lowercased, quoted values unescaped.
fn params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            return out;
        }
        if chars.next() != Some('=') {
            // A bare token (token68) or a broken pair: skip it.
            if chars.peek().is_none() {
                return out;
            }
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_quoted_scope_holding_commas() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:samalba/my-app:pull,push".into()),
            })
        );
    }

    #[test]
    fn ghcr_style_and_unquoted_values() {
        let c = parse(r#"bearer realm=https://ghcr.io/token, service=ghcr.io"#);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: None,
            })
        );
    }

    #[test]
    fn basic_and_escapes() {
        assert_eq!(
            parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse("Basic"), Some(Challenge::Basic));
        let c = parse(r#"Bearer realm="a\"b",Service="s""#);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "a\"b".into(),
                service: Some("s".into()),
                scope: None,
            })
        );
    }

    #[test]
    fn unknown_schemes_and_missing_realms() {
        assert_eq!(parse("Negotiate abc=="), None);
        assert_eq!(parse("Bearer service=x"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("Bearer realm"), None);
    }
}
