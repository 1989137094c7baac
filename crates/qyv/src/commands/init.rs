//! `qyv init --lang LANG NAME`: a new app folder that builds as it is
//! (`qyv build`) and runs (`qyv run`), from the templates in `languages`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use qyvol_manifest::{FILE_EXTENSION, check_name, did_you_mean, fix_name};

use crate::cli::InitArgs;
use crate::languages::{self, Language, WASI_WIT};

pub fn init(args: InitArgs) -> Result<i32> {
    if let Err(message) = check_name(&args.name) {
        let hint = fix_name(&args.name)
            .map(|s| format!(" (did you mean \"{s}\"?)"))
            .unwrap_or_default();
        bail!("app name \"{}\": {message}{hint}", args.name);
    }
    let Some(lang) = languages::find(&args.lang) else {
        let names = languages::names();
        let hint = did_you_mean(&args.lang.to_ascii_lowercase(), &names)
            .map(|s| format!(" (did you mean \"{s}\"?)"))
            .unwrap_or_default();
        bail!(
            "--lang {}: not a language qyv knows{hint}; one of {}",
            args.lang,
            names.join(", ")
        );
    };
    let dest = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dest.exists()
        && std::fs::read_dir(&dest)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{}: already exists and is not empty; choose another name or --dir",
            dest.display()
        );
    }
    write_app(&dest, &args.name, lang)
        .with_context(|| format!("cannot create {}", dest.display()))?;

    let manifest = format!("{}.{FILE_EXTENSION}", args.name);
    eprintln!(
        "created {} ({} app): {}",
        dest.display(),
        lang.display,
        std::iter::once(manifest.as_str())
            .chain(lang.files.iter().map(|(f, _)| *f))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for tool in lang.tools {
        if !tool.available() {
            eprintln!(
                "warning: {} is not installed; `qyv build` needs it: {}",
                tool.describe(),
                tool.install
            );
        }
    }
    eprintln!(
        "next: cd {} && qyv build && qyv run .",
        languages::shell_quote(&dest.display().to_string())
    );
    Ok(0)
}

/// Writes the whole app into a temporary sibling folder, then renames it
/// into place: an interrupted init leaves nothing behind.
fn write_app(dest: &Path, name: &str, lang: &Language) -> Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".qyv-init-")
        .tempdir_in(&parent)?;
    let root = staging.path();
    let entrypoint = format!("{name}.wasm");
    let mut files: Vec<(String, String)> = lang
        .files
        .iter()
        .map(|(path, text)| (path.to_string(), text.replace("{{name}}", name)))
        .collect();
    if lang.wasi_wit {
        for (file, text) in WASI_WIT {
            files.push((format!("wit/deps/{file}"), text.to_string()));
        }
    }
    files.push((
        format!("{name}.{FILE_EXTENSION}"),
        manifest(name, lang, &entrypoint),
    ));
    files.push((".gitignore".into(), format!("/{entrypoint}\n")));
    for (path, text) in files {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, text)?;
    }
    if dest.exists() {
        // An empty folder the user made for the app.
        std::fs::remove_dir(dest)?;
    }
    let kept = staging.keep();
    std::fs::rename(&kept, dest)?;
    Ok(())
}

/// The app's manifest. Strings that may hold YAML's special characters
/// are written as JSON strings, which YAML reads the same.
fn manifest(name: &str, lang: &Language, entrypoint: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let watch: Vec<String> = lang.watch.iter().map(|w| quote(w)).collect();
    let mut text = format!(
        "# {name}: a {display} app. `qyv build` builds it, `qyv run .` runs it.\n\
         name: {name}\n\
         version: 0.1.0\n\
         entrypoint: {entrypoint}\n\
         language: {lang}\n\
         build:\n  command: {command}\n  watch: [{watch}]\n",
        display = lang.display,
        lang = lang.name,
        command = quote(&lang.build_command(entrypoint)),
        watch = watch.join(", "),
    );
    if lang.component {
        text.push_str("component: true\n");
    }
    text
}
