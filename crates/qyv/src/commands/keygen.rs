//! `qyv keygen`: a new Ed25519 key pair for signing bundles.

use anyhow::{Context, Result};
use qyvol_manifest::UserConfig;
use qyvol_manifest::bundle::write_new_key_pair;

use crate::cli::KeygenArgs;

pub fn keygen(args: KeygenArgs) -> Result<i32> {
    let dir = match args.out {
        Some(d) => d,
        None => UserConfig::default_dir()
            .context("no config folder: set XDG_CONFIG_HOME or HOME, or pass --out DIR")?
            .join("keys"),
    };
    let (secret, public, key) = write_new_key_pair(&dir)?;
    println!("key {}", key.id());
    println!(
        "  private  {}  (signs bundles: keep it secret)",
        secret.display()
    );
    println!(
        "  public   {}  (give it to whoever runs your bundles)",
        public.display()
    );
    println!("sign with:   qyv pack APP.qyv --sign {}", secret.display());
    println!(
        "trust with:  qyv run APP.qyvbin --key {}   (or list it in trust.keys of the config file)",
        public.display()
    );
    Ok(0)
}
