//! TLS for the node's API, with rustls on ring.
//!
//! The server side: the user's own certificate and key (PEM), or one made
//! on first start (self-signed, by rcgen) and kept in `tls/` in the data
//! folder. Its fingerprint, the SHA-256 of the certificate's DER, is what
//! clients pin: `sha256:` and 64 hex digits, as `qyv daemon` prints it.
//!
//! The client side: with a pinned fingerprint, the node's certificate must
//! be exactly that one (its names and issuer do not matter, as with SSH host
//! keys); without one, it must chain to a well-known root (webpki-roots) and
//! name the host. Either way the handshake's signatures are checked.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use qyvol_manifest::sync::lock;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::artifacts::write_file_atomic;
use crate::error::NodeError;

/// The SHA-256 of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Reads `sha256:HEX`, or the hex alone; colons between digit pairs
    /// (as browsers show fingerprints) and either case are fine.
    pub fn parse(text: &str) -> Result<Fingerprint, String> {
        let t = text.trim();
        let hex_part = t
            .strip_prefix("sha256:")
            .or_else(|| t.strip_prefix("SHA256:"))
            .unwrap_or(t);
        let digits: String = hex_part.chars().filter(|c| *c != ':').collect();
        let mut out = [0u8; 32];
        match hex::decode_to_slice(&digits, &mut out) {
            Ok(()) => Ok(Fingerprint(out)),
            Err(_) => Err(format!(
                "{text:?} is not a certificate fingerprint: expected sha256: and 64 hex digits, as a node prints it when it starts"
            )),
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The node's certificate chain and key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    pub fingerprint: Fingerprint,
    /// Where the certificate was read from.
    pub cert_file: PathBuf,
    /// It was made just now.
    pub created: bool,
}

/// Names a self-signed certificate is made for: loopback and this host's
/// name. Clients that pin the fingerprint do not look at them.
fn default_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_string());
        }
    }
    names
}

impl Identity {
    /// The user's certificate (PEM, leaf first) and key (PEM: PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, NodeError> {
        let read = |path: &Path| {
            qyvol_manifest::read_regular(path, qyvol_manifest::MAX_SETTINGS_LEN)
                .map_err(|e| NodeError::Tls(format!("{}: cannot read: {e}", path.display())))
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
            .collect::<Result<_, _>>()
            .map_err(|e| NodeError::Tls(format!("{}: {e}", cert.display())))?;
        let Some(leaf) = chain.first() else {
            return Err(NodeError::Tls(format!(
                "{}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
                cert.display()
            )));
        };
        let fingerprint = Fingerprint::of(leaf);
        let key = PrivateKeyDer::from_pem_slice(&read(key)?)
            .map_err(|e| NodeError::Tls(format!("{}: {e}", key.display())))?;
        Ok(Identity {
            chain,
            key,
            fingerprint,
            cert_file: cert.to_path_buf(),
            created: false,
        })
    }

    /// `tls/cert.pem` and `tls/key.pem` in the data folder, made on first
    /// start.
    pub fn load_or_create(data_dir: &Path) -> Result<Identity, NodeError> {
        let dir = data_dir.join("tls");
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        if cert.exists() || key.exists() {
            return Identity::load(&cert, &key);
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| NodeError::io("cannot create the folder", &dir, e))?;
        let mut params = rcgen::CertificateParams::new(default_names())
            .map_err(|e| NodeError::Tls(format!("cannot make a certificate: {e}")))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "qyvol node");
        let signing_key = rcgen::KeyPair::generate()
            .map_err(|e| NodeError::Tls(format!("cannot make a key: {e}")))?;
        let made = params
            .self_signed(&signing_key)
            .map_err(|e| NodeError::Tls(format!("cannot make a certificate: {e}")))?;
        // The key first: a certificate without its key would stop the next
        // start, a key without its certificate is simply made again.
        write_file_atomic(&key, signing_key.serialize_pem().as_bytes(), 0o600)?;
        write_file_atomic(&cert, made.pem().as_bytes(), 0o644)?;
        let mut identity = Identity::load(&cert, &key)?;
        identity.created = true;
        Ok(identity)
    }

    pub fn server_config(&self) -> Result<rustls::ServerConfig, NodeError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| NodeError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| {
                NodeError::Tls(format!(
                    "{}: the certificate and key do not go together: {e}",
                    self.cert_file.display()
                ))
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// What the client saw of the node's certificate, for error messages.
#[derive(Clone, Debug, Default)]
pub struct Seen(Arc<Mutex<Option<Fingerprint>>>);

impl Seen {
    pub fn get(&self) -> Option<Fingerprint> {
        *lock(&self.0)
    }

    fn set(&self, f: Fingerprint) {
        *lock(&self.0) = Some(f);
    }
}

/// Checks the node's certificate: the pinned one, or a publicly trusted one.
#[derive(Debug)]
struct NodeVerifier {
    pin: Option<Fingerprint>,
    webpki: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    seen: Seen,
}

impl ServerCertVerifier for NodeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity);
        self.seen.set(presented);
        match self.pin {
            Some(pin) if pin == presented => Ok(ServerCertVerified::assertion()),
            Some(pin) => Err(rustls::Error::General(format!(
                "the node's certificate has fingerprint {presented}, not the pinned {pin}"
            ))),
            None => self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client TLS configuration: pinned to `pin`, or trusting the public
/// roots. `seen` records the certificate the node presented.
pub fn client_config(
    pin: Option<Fingerprint>,
    seen: Seen,
) -> Result<rustls::ClientConfig, NodeError> {
    let provider = provider();
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| NodeError::Tls(e.to_string()))?;
    let verifier = NodeVerifier {
        pin,
        webpki,
        provider: provider.clone(),
        seen,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NodeError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_in_the_usual_spellings() {
        let f = Fingerprint([0xab; 32]);
        let text = f.to_string();
        assert_eq!(text, format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(Fingerprint::parse(&text), Ok(f));
        assert_eq!(Fingerprint::parse(&"AB".repeat(32)), Ok(f));
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(Fingerprint::parse(&format!("SHA256:{colons}")), Ok(f));
        for bad in [
            "",
            "sha256:",
            "sha256:abc",
            &"zz".repeat(32),
            &"ab".repeat(33),
        ] {
            assert!(Fingerprint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_certificate_is_made_once_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(d.path()).unwrap();
        assert!(a.created);
        let b = Identity::load_or_create(d.path()).unwrap();
        assert!(!b.created);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint, Fingerprint::of(&b.chain[0]));
        b.server_config().unwrap();
    }

    #[test]
    fn a_broken_certificate_file_is_named() {
        let d = tempfile::tempdir().unwrap();
        let cert = d.path().join("cert.pem");
        let key = d.path().join("key.pem");
        std::fs::write(&cert, "not pem").unwrap();
        std::fs::write(&key, "not pem").unwrap();
        let Err(err) = Identity::load(&cert, &key) else {
            panic!("a broken certificate loaded")
        };
        let err = err.to_string();
        assert!(err.contains("cert.pem"), "{err}");
    }
}
