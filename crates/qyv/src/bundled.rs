//! What `run`, `serve`, `verify` and `inspect` share about bundles: the
//! trust policy (from `--key` / `--trust`, else the user config), how a
//! signer stands under it in words, whether a bundle may run and with its
//! precompiled code or not, and the manifest a bundle carries.

use std::path::{Path, PathBuf};

use anyhow::Result;
use qyvol_manifest::bundle::{Bundle, Standing, TrustPolicy};
use qyvol_manifest::{Manifest, UserConfig};

use crate::cli::TrustFlags;

/// A trust policy and where it came from, for messages.
pub struct Policy {
    pub policy: TrustPolicy,
    /// "--key/--trust", or the config file, or "no trust policy".
    pub origin: String,
    /// The config file, when the policy came from one.
    pub config: Option<PathBuf>,
}

impl Policy {
    /// `--key` / `--trust` when given (they require a signature by one of
    /// their keys); otherwise the user config's `trust:` section.
    pub fn load(flags: &TrustFlags) -> Result<Policy> {
        if flags.given() {
            let mut policy = TrustPolicy {
                require_signature: true,
                keys: Vec::new(),
            };
            for path in flags.keys.iter().chain(&flags.trust) {
                policy.add_keys(path)?;
            }
            return Ok(Policy {
                policy,
                origin: "--key/--trust".into(),
                config: None,
            });
        }
        let config = UserConfig::load_default()?;
        let policy = config.trust_policy()?;
        let file = config.file();
        let (origin, config) = if file.as_os_str().is_empty() {
            ("no trust policy".to_string(), None)
        } else {
            (
                format!("the trust policy in {}", file.display()),
                Some(file.to_path_buf()),
            )
        };
        Ok(Policy {
            policy,
            origin,
            config,
        })
    }

    /// Why a bundle that stands so may not run, and what to do.
    pub fn refusal(&self, bundle: &Path, standing: &Standing<'_>) -> String {
        let fix = match &self.config {
            Some(c) => format!(
                "add the signer's public key to trust.keys in {}, or pass --key PUB",
                c.display()
            ),
            None => "pass the signer's public key with --key PUB".to_string(),
        };
        match standing {
            Standing::Unsigned => format!(
                "{} is not signed, and {} requires a signature by a trusted key; sign it with qyv pack --sign KEY",
                bundle.display(),
                self.origin
            ),
            Standing::Untrusted(key) => format!(
                "{} is signed by key {}, which {} does not trust; {fix}",
                bundle.display(),
                key.id(),
                self.origin
            ),
            Standing::Trusted(_) => format!("{} is trusted", bundle.display()),
        }
    }
}

/// How a signature stands, in a few words.
pub fn signer_text(standing: &Standing<'_>) -> String {
    match standing {
        Standing::Trusted(k) => format!(
            "signed by key {}, trusted ({})",
            k.key.id(),
            k.file.display()
        ),
        Standing::Untrusted(key) => {
            format!("signed by key {}, which you do not trust", key.id())
        }
        Standing::Unsigned => "not signed".to_string(),
    }
}

/// The manifest inside a bundle (checked against its SHA-256), named in
/// messages as `BUNDLE!MANIFEST`.
pub fn manifest_of(bundle: &Bundle) -> Result<Manifest> {
    Ok(bundle.manifest()?)
}

/// A bundle judged by the trust policy before it runs.
pub struct Judged {
    pub bundle: Bundle,
    /// Its precompiled code may be loaded.
    pub allow_native: bool,
}

/// Opens the bundle at `path` (named `shown` in messages: a pulled bundle
/// is named as the user named it, not by its place in the store) and
/// judges it: `None` after the refusal is printed; notes for an unsigned
/// or untrusted bundle, and for precompiled code left unused.
pub fn judge_bundle(
    path: &Path,
    shown: &Path,
    trust: &TrustFlags,
    allow_precompiled: bool,
    no_cache: bool,
) -> Result<Option<Judged>> {
    let bundle = Bundle::open(path)?;
    let policy = Policy::load(trust)?;
    let standing = policy.policy.standing(bundle.signer());
    if !policy.policy.admits(&standing) {
        eprintln!("error: {}", policy.refusal(shown, &standing));
        return Ok(None);
    }
    match &standing {
        Standing::Trusted(_) => {}
        Standing::Unsigned => eprintln!(
            "note: {} is not signed; running it as a local app",
            shown.display()
        ),
        Standing::Untrusted(key) => eprintln!(
            "note: {} is signed by key {}, which you do not trust; running it as an unsigned bundle",
            shown.display(),
            key.id()
        ),
    }
    let trusted = matches!(standing, Standing::Trusted(_));
    if !trusted && !allow_precompiled && !bundle.natives().is_empty() {
        eprintln!(
            "note: its precompiled code is not used, because no trusted key signed it (machine code runs outside the sandbox); its wasm is compiled instead. Trust the signer (--key, or trust.keys in the config), or pass --allow-precompiled"
        );
    }
    Ok(Some(Judged {
        allow_native: (trusted || allow_precompiled) && !no_cache,
        bundle,
    }))
}
