//! A registry token service for the hub tests, as Docker Hub and GHCR run
//! one: `GET /token?service=…&scope=repository:NAME:pull,push` with basic
//! credentials answers a JWT (ES256, its certificate in the `x5c` header)
//! granting what the scope asks; the distribution registry, configured
//! with `auth: token` and that certificate as its root bundle, checks it.
//! Wrong or missing credentials get 401. Every request is counted.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, SigningKey};

pub const SERVICE: &str = "qyvol-test-registry";
pub const ISSUER: &str = "qyvol-test-token-service";

pub struct TokenService {
    pub port: u16,
    /// The certificate the registry trusts, PEM.
    pub cert_pem: String,
    /// Tokens given out.
    pub issued: Arc<AtomicUsize>,
}

impl TokenService {
    /// A service on a free loopback port that gives tokens to `user` /
    /// `password`.
    pub fn start(user: &str, password: &str) -> TokenService {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = CertificateParams::new(vec!["token.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let x5c = base64_std(cert.der());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let issued = Arc::new(AtomicUsize::new(0));
        let count = issued.clone();
        let expected = format!(
            "Basic {}",
            base64_std(format!("{user}:{password}").as_bytes())
        );
        let subject = user.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(value.trim().to_string());
                    }
                }
                let target = request.split(' ').nth(1).unwrap_or("");
                let reply = if authorization.as_deref() != Some(expected.as_str()) {
                    response(401, r#"{"details":"bad credentials"}"#)
                } else {
                    count.fetch_add(1, Ordering::SeqCst);
                    let token = token(&key, &x5c, &subject, &scopes(target));
                    response(
                        200,
                        &format!(
                            r#"{{"token":"{token}","access_token":"{token}","expires_in":300}}"#
                        ),
                    )
                };
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        TokenService {
            port,
            cert_pem: cert.pem(),
            issued,
        }
    }

    /// The `auth:` section of the registry's config, with the certificate
    /// written to `bundle`.
    pub fn registry_config(&self, bundle: &std::path::Path) -> String {
        std::fs::write(bundle, &self.cert_pem).unwrap();
        format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.port,
            bundle.display()
        )
    }
}

fn response(status: u16, body: &str) -> String {
    let reason = if status == 200 { "OK" } else { "Unauthorized" };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The `access` claims for every `scope=` of the query: `TYPE:NAME:ACTIONS`.
fn scopes(target: &str) -> Vec<serde_json::Value> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|p| p.strip_prefix("scope="))
        .filter_map(|s| {
            let s = s
                .replace("%3A", ":")
                .replace("%2C", ",")
                .replace("%2F", "/");
            let (kind, rest) = s.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(serde_json::json!({
                "type": kind,
                "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }))
        })
        .collect()
}

fn token(key: &KeyPair, x5c: &str, subject: &str, access: &[serde_json::Value]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({ "typ": "JWT", "alg": "ES256", "x5c": [x5c] });
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let signed = format!(
        "{}.{}",
        base64_url(header.to_string().as_bytes()),
        base64_url(claims.to_string().as_bytes())
    );
    let der = key.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", base64_url(&fixed_signature(&der)))
}

/// An ECDSA signature in DER (`SEQUENCE { INTEGER r, INTEGER s }`) as JWS
/// wants it: r and s as 32 bytes each.
fn fixed_signature(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut at = 2; // SEQUENCE tag and (short) length
    for _ in 0..2 {
        assert_eq!(der[at], 0x02, "an INTEGER");
        let len = der[at + 1] as usize;
        let value = &der[at + 2..at + 2 + len];
        let value = &value[value.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - value.len()));
        out.extend_from_slice(value);
        at += 2 + len;
    }
    out
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
