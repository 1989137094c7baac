//! Ed25519 signing keys and their files. Keys are PEM files in the forms
//! OpenSSL reads and writes (PKCS#8 `PRIVATE KEY`, SubjectPublicKeyInfo
//! `PUBLIC KEY`), so `openssl genpkey -algorithm ed25519` makes a usable key
//! too. A key is named by its id: the first 8 bytes of the SHA-256 of its
//! raw public key, in hex.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use ed25519_compact::{KeyPair, Seed, Signature};
use sha2::{Digest, Sha256};

use super::error::{BundleError, BundleErrorKind};
use super::format::signed_message;
use crate::regular::read_regular;

/// Names `qyv keygen` gives the two halves.
pub const SECRET_KEY_FILE: &str = "qyvol.key";
pub const PUBLIC_KEY_FILE: &str = "qyvol.pub";
/// Extension of public key files that a trusted folder's keys must have.
pub const PUBLIC_KEY_EXTENSION: &str = "pub";

/// A PEM key is a few hundred bytes; anything far larger is the wrong file.
const MAX_KEY_FILE_LEN: u64 = 64 << 10;

/// The private half: signs bundles.
pub struct SecretKey(KeyPair);

/// The public half: checks signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublicKey(ed25519_compact::PublicKey);

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, String> {
        let mut seed = [0u8; Seed::BYTES];
        getrandom::fill(&mut seed).map_err(|e| format!("no random numbers: {e}"))?;
        let pair = KeyPair::try_from_seed(Seed::new(seed))
            .map_err(|e| format!("cannot make a key: {e}"))?;
        Ok(SecretKey(pair))
    }

    /// Reads a private key file.
    pub fn load(path: &Path) -> Result<SecretKey, BundleError> {
        let text = read_key_file(path)?;
        if text.contains("PUBLIC KEY-----") {
            return Err(key_error(
                path,
                "this is a public key; signing needs the private key (the .key file of the pair)",
            ));
        }
        let pair = KeyPair::from_pem(&text).map_err(|_| {
            key_error(
                path,
                "not an Ed25519 private key in PEM form (-----BEGIN PRIVATE KEY-----)",
            )
        })?;
        Ok(SecretKey(pair))
    }

    pub fn to_pem(&self) -> String {
        self.0.sk.to_pem()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.pk)
    }

    /// Signs a bundle digest. Deterministic (RFC 8032): the same digest and
    /// key always give the same signature, so packing is reproducible.
    pub(crate) fn sign_digest(&self, digest: &[u8; 32]) -> [u8; 64] {
        *self.0.sk.sign(signed_message(digest), None)
    }
}

impl PublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey(ed25519_compact::PublicKey::new(bytes))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        *self.0
    }

    /// Reads a public key file.
    pub fn load(path: &Path) -> Result<PublicKey, BundleError> {
        let text = read_key_file(path)?;
        if text.contains("PRIVATE KEY-----") {
            return Err(key_error(
                path,
                "this is a private key; give the public key here (the .pub file of the pair)",
            ));
        }
        let key = ed25519_compact::PublicKey::from_pem(&text).map_err(|_| {
            key_error(
                path,
                "not an Ed25519 public key in PEM form (-----BEGIN PUBLIC KEY-----)",
            )
        })?;
        key.validate()
            .map_err(|e| key_error(path, format!("not a usable Ed25519 public key ({e})")))?;
        Ok(PublicKey(key))
    }

    pub fn to_pem(&self) -> String {
        self.0.to_pem()
    }

    /// Short stable name: 16 hex digits.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(*self.0)[..8])
    }

    /// Whether `signature` signs `digest` with this key. Weak (small-order)
    /// keys and non-canonical signatures never verify.
    pub(crate) fn verifies(&self, digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        self.0
            .verify(signed_message(digest), &Signature::new(*signature))
            .is_ok()
    }
}

/// The public keys a path names: the file itself, or every `*.pub` file in
/// the folder (sorted by name; other files are ignored, so a folder may hold
/// notes). A folder with no key is an error: trusting nobody by mistake
/// would refuse every bundle with a puzzling message.
pub fn load_public_keys(path: &Path) -> Result<Vec<(PathBuf, PublicKey)>, BundleError> {
    let meta = fs::metadata(path).map_err(|e| BundleError::io(path, "read", e))?;
    if !meta.is_dir() {
        return Ok(vec![(path.to_path_buf(), PublicKey::load(path)?)]);
    }
    let mut files: Vec<PathBuf> = fs::read_dir(path)
        .map_err(|e| BundleError::io(path, "list the folder", e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            // Not only regular files: a `.pub` that is a pipe or a device is
            // refused by name rather than passed over.
            p.extension().and_then(|e| e.to_str()) == Some(PUBLIC_KEY_EXTENSION) && !p.is_dir()
        })
        .collect();
    if files.is_empty() {
        return Err(key_error(
            path,
            format!("no public key here (no *.{PUBLIC_KEY_EXTENSION} file)"),
        ));
    }
    files.sort();
    files
        .into_iter()
        .map(|p| PublicKey::load(&p).map(|k| (p, k)))
        .collect()
}

/// Writes a new key pair into `dir` (created if needed) as
/// [`SECRET_KEY_FILE`] (mode 0600) and [`PUBLIC_KEY_FILE`]. Existing keys
/// are never overwritten.
pub fn write_new_key_pair(dir: &Path) -> Result<(PathBuf, PathBuf, PublicKey), BundleError> {
    let secret_path = dir.join(SECRET_KEY_FILE);
    let public_path = dir.join(PUBLIC_KEY_FILE);
    for existing in [&secret_path, &public_path] {
        if existing.exists() {
            return Err(BundleError::new(
                existing,
                BundleErrorKind::KeyExists,
                "already exists; a key is never overwritten: remove it or choose another folder",
            ));
        }
    }
    let key = SecretKey::generate().map_err(|e| key_error(dir, e))?;
    fs::create_dir_all(dir).map_err(|e| BundleError::io(dir, "create the folder", e))?;
    write_new(&secret_path, key.to_pem().as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public_path, key.public().to_pem().as_bytes(), 0o644) {
        // Half a pair is worse than none.
        let _ = fs::remove_file(&secret_path);
        return Err(e);
    }
    Ok((secret_path, public_path, key.public()))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), BundleError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| BundleError::io(path, "create", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            let _ = fs::remove_file(path);
            BundleError::io(path, "write", e)
        })
}

fn read_key_file(path: &Path) -> Result<String, BundleError> {
    let bytes = read_regular(path, MAX_KEY_FILE_LEN).map_err(|e| match e.kind() {
        io::ErrorKind::IsADirectory => key_error(path, "is a folder, not a key file"),
        io::ErrorKind::InvalidInput | io::ErrorKind::FileTooLarge => {
            key_error(path, format!("cannot be a key file: {e}"))
        }
        _ => BundleError::io(path, "read", e),
    })?;
    String::from_utf8(bytes).map_err(|_| key_error(path, "not a PEM key file (not text)"))
}

fn key_error(path: &Path, message: impl Into<String>) -> BundleError {
    BundleError::new(path, BundleErrorKind::Key, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pair_signs_and_verifies_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, public, key) = write_new_key_pair(dir.path()).unwrap();
        let mode = fs::metadata(&secret).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let sk = SecretKey::load(&secret).unwrap();
        let pk = PublicKey::load(&public).unwrap();
        assert_eq!(pk, key);
        assert_eq!(pk.id().len(), 16);
        let digest = [7u8; 32];
        let sig = sk.sign_digest(&digest);
        assert_eq!(sig, sk.sign_digest(&digest), "signing is deterministic");
        assert!(pk.verifies(&digest, &sig));
        assert!(!pk.verifies(&[8u8; 32], &sig));
        let other = SecretKey::generate().unwrap().public();
        assert!(!other.verifies(&digest, &sig));
    }

    #[test]
    fn keygen_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        write_new_key_pair(dir.path()).unwrap();
        let before = fs::read(dir.path().join(SECRET_KEY_FILE)).unwrap();
        let err = write_new_key_pair(dir.path()).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(fs::read(dir.path().join(SECRET_KEY_FILE)).unwrap(), before);
    }

    #[test]
    fn halves_swapped_or_garbage_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, public, _) = write_new_key_pair(dir.path()).unwrap();
        let err = SecretKey::load(&public).err().unwrap().to_string();
        assert!(err.contains("this is a public key"), "{err}");
        let err = PublicKey::load(&secret).unwrap_err().to_string();
        assert!(err.contains("this is a private key"), "{err}");
        let junk = dir.path().join("junk.pub");
        fs::write(&junk, "hello\n").unwrap();
        let err = PublicKey::load(&junk).unwrap_err().to_string();
        assert!(
            err.contains("not an Ed25519 public key in PEM form"),
            "{err}"
        );
        let err = PublicKey::load(&dir.path().join("missing.pub"))
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("missing.pub: no such file"), "{err}");
    }

    #[test]
    fn weak_public_keys_are_refused() {
        // The identity point: every signature "verifies" against it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let pem = ed25519_compact::PublicKey::new(identity).to_pem();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weak.pub");
        fs::write(&path, pem).unwrap();
        let err = PublicKey::load(&path).unwrap_err().to_string();
        assert!(err.contains("not a usable Ed25519 public key"), "{err}");
    }

    #[test]
    fn a_folder_of_keys_loads_every_pub_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_public_keys(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no public key here"), "{err}");
        write_new_key_pair(&dir.path().join("a")).unwrap();
        write_new_key_pair(&dir.path().join("b")).unwrap();
        let trusted = dir.path().join("trusted");
        fs::create_dir(&trusted).unwrap();
        for name in ["a", "b"] {
            fs::copy(
                dir.path().join(name).join(PUBLIC_KEY_FILE),
                trusted.join(format!("{name}.pub")),
            )
            .unwrap();
        }
        fs::write(trusted.join("README"), "keys of the team\n").unwrap();
        let keys = load_public_keys(&trusted).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].0.ends_with("a.pub"));
    }
}
