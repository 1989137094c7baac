//! `qyv build [DIR]`: runs the app's build command (`build.command`, or
//! the default of its `language:` for the layout `qyv init` writes), checks
//! that it wrote the entrypoint, and turns a preview-1 module into a WASI
//! 0.2 component when the manifest says `component: true`. With
//! `build.watch`, an entrypoint newer than every source is left alone, and
//! `--watch` builds again whenever a source changes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use qyvol_manifest::Manifest;
use qyvol_runtime::{WasmKind, adapt_file};

use crate::cli::BuildArgs;
use crate::languages::{self, Tool};
use crate::target::{self, Target};

/// How often `--watch` looks at the sources.
const POLL: Duration = Duration::from_millis(300);

pub fn build(args: BuildArgs) -> Result<i32> {
    let path = match target::resolve(&args.target)? {
        Target::Manifest(path) => path,
        Target::Wasm(path) => bail!(
            "{}: a .wasm file has nothing to build; name a .qyv manifest or its folder",
            path.display()
        ),
        Target::Bundle(path) => bail!(
            "{}: a .qyvbin bundle is already built; name the .qyv manifest it was packed from, or its folder",
            path.display()
        ),
    };
    let manifest = Manifest::read(&path)?;
    let plan = Plan::of(&manifest)?;
    if args.watch && plan.watch.is_empty() {
        return Err(manifest
            .error_at(
                "build.watch",
                "--watch needs the sources to watch: add build.watch, e.g. watch: [\"src/**/*.rs\"]",
            )
            .into());
    }
    if args.force || !plan.up_to_date(&manifest) {
        plan.run(&manifest)?;
    } else {
        eprintln!(
            "{} is up to date (newer than every build.watch file); --force builds anyway",
            manifest.entrypoint.display()
        );
    }
    if !args.watch {
        return Ok(0);
    }
    eprintln!(
        "watching {} for changes (Ctrl-C stops)",
        plan.watch.join(", ")
    );
    let mut seen = plan.newest_source();
    loop {
        std::thread::sleep(POLL);
        let now = plan.newest_source();
        if now != seen {
            seen = now;
            // A failed build is reported and the watch goes on.
            if let Err(e) = plan.run(&manifest) {
                eprintln!("error: {e:#}");
            }
        }
    }
}

/// What building this manifest means.
struct Plan {
    command: String,
    /// Where the command came from, for messages.
    from: String,
    dir: PathBuf,
    watch: Vec<String>,
    tools: Vec<&'static Tool>,
}

impl Plan {
    fn of(m: &Manifest) -> Result<Plan> {
        let lang = m.language.as_deref().and_then(languages::find);
        if let Some(build) = &m.build {
            // A program the command starts with that qyv knows how to
            // install gets the same check as a language's default.
            let known: Vec<&'static Tool> = languages::first_program(&build.command)
                .into_iter()
                .flat_map(|program| {
                    languages::LANGUAGES
                        .iter()
                        .flat_map(|l| l.tools.iter())
                        .filter(move |t| t.program == program)
                        .take(1)
                })
                .collect();
            return Ok(Plan {
                command: build.command.clone(),
                from: "build.command".into(),
                dir: m.build_dir(),
                watch: build.watch.clone(),
                tools: known,
            });
        }
        let Some(lang) = lang else {
            let why = match &m.language {
                Some(name) => format!(
                    "language \"{name}\" has no default build (known: {})",
                    languages::names().join(", ")
                ),
                None => "no language: is given either".to_string(),
            };
            return Err(m
                .error_at(
                    "build",
                    format!(
                        "nothing says how to build this app: add build.command (e.g. build: {{command: make}}); {why}"
                    ),
                )
                .into());
        };
        Ok(Plan {
            command: lang.build_command(&m.entrypoint.to_string_lossy()),
            from: format!("the default build for {}", lang.display),
            dir: m.base_dir().to_path_buf(),
            watch: lang.watch.iter().map(|s| s.to_string()).collect(),
            tools: lang.tools.iter().collect(),
        })
    }

    fn up_to_date(&self, m: &Manifest) -> bool {
        if self.watch.is_empty() {
            return false;
        }
        let Ok(built) = std::fs::metadata(m.entrypoint_path()).and_then(|md| md.modified()) else {
            return false;
        };
        if m.component && !is_component(&m.entrypoint_path()) {
            return false;
        }
        self.newest_source().is_some_and(|newest| built > newest)
    }

    fn newest_source(&self) -> Option<SystemTime> {
        watched_files(&self.dir, &self.watch)
            .iter()
            .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .max()
    }

    fn run(&self, m: &Manifest) -> Result<()> {
        for tool in &self.tools {
            if !tool.available() {
                return Err(m
                    .error_at(
                        "build",
                        format!(
                            "{} is not installed (needed by {}); install it with: {}",
                            tool.describe(),
                            self.from,
                            tool.install
                        ),
                    )
                    .into());
            }
        }
        if !self.dir.is_dir() {
            return Err(m
                .error_at(
                    "build.workdir",
                    format!("{} is not a folder", self.dir.display()),
                )
                .into());
        }
        eprintln!("building {}: {}", m.name, self.command);
        let started = Instant::now();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .current_dir(&self.dir)
            .status()
            .context("cannot start sh to run the build command")?;
        if !status.success() {
            let how = match status.code() {
                Some(127) => "could not find a program it runs (status 127)".to_string(),
                Some(code) => format!("failed with status {code}"),
                None => "was stopped by a signal".to_string(),
            };
            return Err(m.error_at("build", format!("{} {how}", self.from)).into());
        }
        let entry = m.entrypoint_path();
        let bytes = qyvol_manifest::read_regular(&entry, u64::MAX).map_err(|e| {
            m.error_at(
                "entrypoint",
                format!(
                    "the build ran but {} cannot be read ({e}); the build command must write the entrypoint",
                    entry.display()
                ),
            )
        })?;
        let Some(kind) = WasmKind::detect(&bytes) else {
            return Err(m
                .error_at(
                    "entrypoint",
                    format!(
                        "the build wrote {}, which is not WebAssembly",
                        entry.display()
                    ),
                )
                .into());
        };
        if m.component && kind == WasmKind::CoreModule {
            let adapted = adapt_file(&entry, &entry, None)
                .map_err(|e| m.error_at("component", format!("{}: {e}", entry.display())))?;
            super::component::report(&entry, &adapted);
        }
        let size = std::fs::metadata(&entry).map(|md| md.len()).unwrap_or(0);
        let kind = if is_component(&entry) {
            "component"
        } else {
            "core module"
        };
        eprintln!(
            "built {} ({kind}, {size} bytes) in {:.1}s",
            m.entrypoint.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

fn is_component(path: &Path) -> bool {
    let mut head = [0u8; 8];
    qyvol_manifest::open_regular(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && WasmKind::detect(&head) == Some(WasmKind::Component)
}

/// `component: true` promises a component: a core module in its place
/// (not built yet, or built without `qyv build`) is an error for `qyv run`
/// and `qyv validate`, not something to run as it is.
pub fn check_component_flag(m: &Manifest) -> Result<()> {
    let entry = m.entrypoint_path();
    if m.component && entry.is_file() && !is_component(&entry) {
        return Err(m
            .error_at(
                "component",
                format!(
                    "component: true, but {} is a core module; run `qyv build` to adapt it (or `qyv component new`)",
                    m.entrypoint.display()
                ),
            )
            .into());
    }
    Ok(())
}

/// Files under `dir` matching any of `patterns`. Folders that hold build
/// output or dependencies (`target`, `node_modules`, dot folders) are not
/// searched unless a pattern names them.
fn watched_files(dir: &Path, patterns: &[String]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = rel.join(&name);
            let text = rel.to_string_lossy();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                let skipped = name.starts_with('.') || name == "target" || name == "node_modules";
                if !skipped || patterns.iter().any(|p| p.starts_with(text.as_ref())) {
                    stack.push(rel);
                }
            } else if patterns.iter().any(|p| glob_match(p, &text)) {
                found.push(dir.join(&rel));
            }
        }
    }
    found
}

/// Glob match over `/`-separated paths: `*` and `?` within one name, `**`
/// for any number of folders.
fn glob_match(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let path: Vec<&str> = path.split('/').collect();
    match_parts(&pattern, &path)
}

fn match_parts(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| match_parts(rest, &path[skip..])),
        Some((first, rest)) => match path.split_first() {
            Some((name, tail)) => {
                match_name(first.as_bytes(), name.as_bytes()) && match_parts(rest, tail)
            }
            None => false,
        },
    }
}

fn match_name(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| match_name(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && match_name(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && match_name(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.c", "main.c"));
        assert!(!glob_match("*.c", "src/main.c"));
        assert!(glob_match("src/**/*.rs", "src/main.rs"));
        assert!(glob_match("src/**/*.rs", "src/a/b/lib.rs"));
        assert!(glob_match("**/*.py", "app.py"));
        assert!(glob_match("./go.mod", "go.mod"));
        assert!(glob_match("wit/*.wit", "wit/world.wit"));
        assert!(!glob_match("wit/*.wit", "wit/deps/cli.wit"));
        assert!(glob_match("ma?n.??", "main.go"));
        assert!(!glob_match("main.c", "main.cpp"));
    }

    #[test]
    fn watched_files_skip_build_output() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "src/main.rs",
            "src/a/b.rs",
            "target/x.rs",
            "Cargo.toml",
            "notes.txt",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let mut found: Vec<String> = watched_files(
            d.path(),
            &["src/**/*.rs".into(), "Cargo.toml".into(), "**/*.rs".into()],
        )
        .iter()
        .map(|p| p.strip_prefix(d.path()).unwrap().display().to_string())
        .collect();
        found.sort();
        assert_eq!(found, ["Cargo.toml", "src/a/b.rs", "src/main.rs"]);
    }
}
