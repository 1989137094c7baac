use anyhow::{Context, Result};
use qyvol_runtime::CodeCache;

use crate::cli::CacheCommand;

pub fn cache(cmd: CacheCommand) -> Result<i32> {
    let root = CodeCache::default_root()
        .context("no cache folder: set QYVOL_CACHE_DIR, XDG_CACHE_HOME or HOME")?;
    let cache = CodeCache::new(root);
    match cmd {
        CacheCommand::Dir => println!("{}", cache.root().display()),
        CacheCommand::Ls { json } => {
            let entries = cache
                .entries()
                .with_context(|| format!("cannot list {}", cache.root().display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else if entries.is_empty() {
                println!("(empty) {}", cache.root().display());
            } else {
                println!("{:<12} {:<9} {:>12}  SOURCE", "WASM", "KIND", "SIZE");
                for e in &entries {
                    println!(
                        "{:<12} {:<9} {:>12}  {}",
                        &e.wasm_sha256[..e.wasm_sha256.len().min(12)],
                        e.kind,
                        qyvol_manifest::format_size(e.size),
                        e.source
                            .as_ref()
                            .map(|s| s.display().to_string())
                            .unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        CacheCommand::Clean => {
            let freed = cache
                .clean()
                .with_context(|| format!("cannot clean {}", cache.root().display()))?;
            println!(
                "removed {} from {}",
                qyvol_manifest::format_size(freed),
                cache.root().display()
            );
        }
    }
    Ok(0)
}
