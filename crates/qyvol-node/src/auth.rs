//! The node's API token: 32 random bytes, written as 64 hex digits to
//! `token` in the data folder (mode 0600) on first start. Requests carry it
//! as `Authorization: Bearer TOKEN`; it is compared in constant time (the
//! SHA-256 of both sides, so not even the length leaks).

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::artifacts::write_file_atomic;
use crate::error::NodeError;

/// File name of the token in the data folder.
pub const TOKEN_FILE: &str = "token";

#[derive(Clone)]
pub struct Token {
    text: String,
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    fn from_text(text: String) -> Token {
        let digest = Sha256::digest(text.as_bytes()).into();
        Token { text, digest }
    }

    /// A new random token.
    pub fn generate() -> Result<Token, NodeError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| NodeError::Internal(format!("no randomness for a token: {e}")))?;
        Ok(Token::from_text(hex::encode(bytes)))
    }

    /// The token in `data_dir`, made on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<(Token, bool), NodeError> {
        let path = data_dir.join(TOKEN_FILE);
        match Token::load(data_dir) {
            Ok(t) => Ok((t, false)),
            Err(NodeError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let token = Token::generate()?;
                write_file_atomic(&path, format!("{}\n", token.text).as_bytes(), 0o600)?;
                Ok((token, true))
            }
            Err(e) => Err(e),
        }
    }

    /// The token in `data_dir`, which must exist.
    pub fn load(data_dir: &Path) -> Result<Token, NodeError> {
        let path = data_dir.join(TOKEN_FILE);
        let text = qyvol_manifest::read_regular_text(&path, qyvol_manifest::MAX_SECRET_LEN)
            .map_err(|e| NodeError::io("cannot read the token", &path, e))?;
        let text = text.trim().to_string();
        if text.len() < 32 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(NodeError::BadRequest(format!(
                "{}: not a token (at least 32 printable characters); remove it and a new one is made at the next start",
                path.display()
            )));
        }
        Ok(Token::from_text(text))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `presented` is this token, in time that does not depend on
    /// where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let other: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.ct_eq(&other).into()
    }

    /// Checks an `Authorization` header value.
    pub fn check_header(&self, header: Option<&str>) -> Result<(), NodeError> {
        let presented = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim);
        match presented {
            Some(p) if self.matches(p) => Ok(()),
            _ => Err(NodeError::Unauthorized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let (a, made) = Token::load_or_create(d.path()).unwrap();
        assert!(made);
        assert_eq!(a.as_str().len(), 64);
        let (b, made) = Token::load_or_create(d.path()).unwrap();
        assert!(!made);
        assert_eq!(a.as_str(), b.as_str());
        let mode = std::fs::metadata(d.path().join(TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn only_the_exact_token_passes() {
        let t = Token::generate().unwrap();
        let bearer = format!("Bearer {}", t.as_str());
        assert!(t.check_header(Some(&bearer)).is_ok());
        assert!(t.check_header(None).is_err());
        assert!(t.check_header(Some(t.as_str())).is_err());
        assert!(t.check_header(Some("Bearer ")).is_err());
        let mut wrong = t.as_str().to_string();
        wrong.replace_range(63.., if wrong.ends_with('0') { "1" } else { "0" });
        assert!(t.check_header(Some(&format!("Bearer {wrong}"))).is_err());
        assert!(
            t.check_header(Some(&format!("Bearer {}x", t.as_str())))
                .is_err()
        );
    }

    #[test]
    fn a_damaged_token_file_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(TOKEN_FILE), "short\n").unwrap();
        let err = Token::load_or_create(d.path()).unwrap_err().to_string();
        assert!(err.contains("not a token"), "{err}");
    }
}
