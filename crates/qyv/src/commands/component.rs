//! `qyv component new`: a preview-1 core module made a WASI 0.2 component
//! with Wasmtime's adapter, built in (no external wasm-tools).

use anyhow::{Context, Result};
use qyvol_runtime::{Adapter, adapt_file};

use crate::cli::{ComponentCommand, ComponentNewArgs};

pub fn component(cmd: ComponentCommand) -> Result<i32> {
    match cmd {
        ComponentCommand::New(args) => new(args),
    }
}

fn new(args: ComponentNewArgs) -> Result<i32> {
    let adapter = args.adapter.map(Adapter::from);
    let adapted = adapt_file(&args.input, &args.output, adapter)
        .with_context(|| format!("{}", args.input.display()))?;
    report(&args.output, &adapted);
    Ok(0)
}

/// What was written and what the adapter could not carry, on stderr.
pub fn report(output: &std::path::Path, adapted: &qyvol_runtime::Adapted) {
    if adapted.adapted_wasi {
        eprintln!(
            "wrote {}: a WASI 0.2 component ({} adapter, {} bytes)",
            output.display(),
            adapted.adapter,
            adapted.bytes.len()
        );
        for limit in adapted.adapter.limits() {
            eprintln!("note: {limit}");
        }
    } else {
        eprintln!(
            "wrote {}: a component ({} bytes); the module imports no WASI, so no adapter was needed",
            output.display(),
            adapted.bytes.len()
        );
    }
}
