//! Whose bundles run. A policy is a set of trusted public keys and whether a
//! signature by one of them is required; it comes from the user's config
//! file or from `--key` / `--trust` on the command line.

use std::path::{Path, PathBuf};

use super::error::BundleError;
use super::keys::{PublicKey, load_public_keys};

/// A key the user trusts, and the file it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    pub key: PublicKey,
    pub file: PathBuf,
}

/// Which bundles may run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Refuse a bundle unless one of `keys` signed it.
    pub require_signature: bool,
    pub keys: Vec<TrustedKey>,
}

/// Where a bundle stands under a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing<'p> {
    /// Signed by a trusted key.
    Trusted(&'p TrustedKey),
    /// Signed (the signature is valid) by a key the policy does not list.
    Untrusted(PublicKey),
    Unsigned,
}

impl TrustPolicy {
    /// Adds the key in a file, or every `*.pub` key in a folder.
    pub fn add_keys(&mut self, path: &Path) -> Result<(), BundleError> {
        for (file, key) in load_public_keys(path)? {
            if !self.keys.iter().any(|k| k.key == key) {
                self.keys.push(TrustedKey { key, file });
            }
        }
        Ok(())
    }

    /// How a bundle signed by `signer` (already verified) stands.
    pub fn standing(&self, signer: Option<&PublicKey>) -> Standing<'_> {
        match signer {
            None => Standing::Unsigned,
            Some(key) => match self.keys.iter().find(|k| k.key == *key) {
                Some(trusted) => Standing::Trusted(trusted),
                None => Standing::Untrusted(*key),
            },
        }
    }

    /// Whether a bundle that stands so may run.
    pub fn admits(&self, standing: &Standing<'_>) -> bool {
        !self.require_signature || matches!(standing, Standing::Trusted(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::keys::SecretKey;

    #[test]
    fn standings_and_what_each_policy_admits() {
        let ours = SecretKey::generate().unwrap().public();
        let theirs = SecretKey::generate().unwrap().public();
        let mut policy = TrustPolicy {
            require_signature: false,
            keys: vec![TrustedKey {
                key: ours,
                file: "ours.pub".into(),
            }],
        };
        let trusted = policy.standing(Some(&ours));
        assert!(matches!(trusted, Standing::Trusted(k) if k.file == Path::new("ours.pub")));
        assert_eq!(policy.standing(Some(&theirs)), Standing::Untrusted(theirs));
        assert_eq!(policy.standing(None), Standing::Unsigned);
        for standing in [Standing::Unsigned, Standing::Untrusted(theirs)] {
            assert!(policy.admits(&standing));
        }
        policy.require_signature = true;
        assert!(policy.admits(&policy.standing(Some(&ours))));
        assert!(!policy.admits(&Standing::Untrusted(theirs)));
        assert!(!policy.admits(&Standing::Unsigned));
    }
}
