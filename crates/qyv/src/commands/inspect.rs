//! `qyv inspect FILE.wasm`.

use anyhow::Result;
use qyvol_runtime::inspect_file;

use crate::cli::InspectArgs;

pub fn inspect(args: InspectArgs) -> Result<i32> {
    let i = inspect_file(&args.file)?;
    if args.json {
        let mut v = serde_json::to_value(&i)?;
        v["file"] = args.file.display().to_string().into();
        v["wasi_version"] = i.wasi.to_string().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("file:    {}", args.file.display());
    println!(
        "size:    {} ({} bytes)",
        qyvol_manifest::format_size(i.size),
        i.size
    );
    println!("kind:    {}", i.kind);
    println!("wasi:    {}", i.wasi);
    println!("world:   {}", i.world);
    if i.needs.is_empty() {
        println!("needs:   no permissions");
    } else {
        for (n, need) in i.needs.iter().enumerate() {
            println!(
                "{}{} (imports {})",
                if n == 0 { "needs:   " } else { "         " },
                need.permission,
                need.why.join(", ")
            );
        }
    }
    let width = i
        .imports
        .iter()
        .chain(&i.exports)
        .map(|x| x.name.len())
        .max()
        .unwrap_or(0);
    println!("imports ({}):", i.imports.len());
    for x in &i.imports {
        println!("  {:<width$}  {}", x.name, x.kind);
    }
    println!("exports ({}):", i.exports.len());
    for x in &i.exports {
        println!("  {:<width$}  {}", x.name, x.kind);
    }
    Ok(0)
}
