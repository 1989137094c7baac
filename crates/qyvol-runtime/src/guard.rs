//! No app may write what decides its next run.
//!
//! A run reads its manifest and its code from files, and trusts qyv's own
//! state (the compiled-code cache, whose machine code runs outside the
//! sandbox; the user's config, which says whose bundles to trust). If any
//! of them lay in a folder the app may write, the app could widen its own
//! permissions, replace its code or plant machine code for its next run. So
//! before an app starts, every read-write mount is checked, whatever made
//! it (the manifest's `fs:`, the implicit mount of `fs: write`, `--dir`):
//! none may hold one of these, by its path, by a link on its path or by a
//! hard link, and none may lie inside the cache or the config folder. A
//! mount that does is refused with what it holds; the run does not start.
//!
//! The host's root (`fs: full`, `--dir /`) is the one exception: it is the
//! whole file system, no sandbox of files at all, and already lets the app
//! write anything of the user's; qyv warns about it instead.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::cache::CodeCache;
use crate::error::RuntimeError;
use crate::spec::RunSpec;

/// What a mount must not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarded {
    Manifest,
    Code,
    Cache,
    Config,
}

impl fmt::Display for Guarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Guarded::Manifest => "the app's manifest",
            Guarded::Code => "the app's code",
            Guarded::Cache => "qyv's compiled-code cache",
            Guarded::Config => "qyv's configuration",
        })
    }
}

impl Guarded {
    /// What the app could do with it.
    pub fn danger(self) -> &'static str {
        match self {
            Guarded::Manifest => "rewrite its own permissions for its next run",
            Guarded::Code => "replace its own code",
            Guarded::Cache => "plant machine code that runs outside the sandbox",
            Guarded::Config => "change whose bundles are trusted",
        }
    }

    fn is_folder(self) -> bool {
        matches!(self, Guarded::Cache | Guarded::Config)
    }
}

/// How a read-write mount reaches something guarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// It is in the mount, or a folder or link on its path is.
    Holds,
    /// The mount holds another name (a hard link) of the same file.
    HardLink(PathBuf),
    /// The mount is the guarded folder or inside it.
    Inside,
    /// The mount is too large to look through for hard links of a file
    /// that has several.
    Unchecked { entries: usize },
}

/// A read-write mount that reaches something guarded: the mount (its host
/// folder and where the app sees it), what it reaches and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposure {
    pub host: PathBuf,
    pub guest: String,
    pub what: Guarded,
    pub path: PathBuf,
    pub reach: Reach,
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Exposure {
            host,
            guest,
            what,
            path,
            reach,
        } = self;
        let mount = format!("{} is mounted read-write at {guest}", host.display());
        let path = path.display();
        let how = match reach {
            Reach::Holds => format!("{mount} and holds {what} ({path})"),
            Reach::HardLink(link) => format!(
                "{mount} and holds {}, a hard link to {what} ({path})",
                link.display()
            ),
            Reach::Inside => format!("{mount} and is {what} ({path}) or inside it"),
            Reach::Unchecked { entries } => {
                return write!(
                    f,
                    "{mount}, and {what} ({path}) has several hard links: the mount has more than {entries} entries to look through for them; copy the file so that it has one link, or mount a smaller folder"
                );
            }
        };
        write!(
            f,
            "{how}: the app could {}; mount a folder that holds none of the app's files for what it writes, or make this mount read-only",
            what.danger()
        )
    }
}

/// The most entries looked at for hard links of one guarded file.
const MAX_WALK: usize = 100_000;
/// The most symlinks followed resolving one path (as Linux allows).
const MAX_LINKS: usize = 40;

/// Refuses the first read-write mount of `spec` that reaches something
/// guarded.
pub fn check(spec: &RunSpec) -> Result<(), RuntimeError> {
    let writable: Vec<_> = spec.preopens.iter().filter(|p| p.writable).collect();
    if writable.is_empty() {
        return Ok(());
    }
    let guarded = guarded(spec);
    for preopen in writable {
        let Ok(root) = fs::canonicalize(&preopen.host) else {
            // Mounting it fails with its own error.
            continue;
        };
        if root == Path::new("/") {
            continue;
        }
        for (what, path) in &guarded {
            if let Some(reach) = reaches(&root, *what, path) {
                return Err(RuntimeError::WritesItself(Box::new(Exposure {
                    host: preopen.host.clone(),
                    guest: preopen.guest.clone(),
                    what: *what,
                    path: path.clone(),
                    reach,
                })));
            }
        }
    }
    Ok(())
}

/// Everything of the run that no mount may write.
fn guarded(spec: &RunSpec) -> Vec<(Guarded, PathBuf)> {
    let mut list = Vec::new();
    if let Some(m) = &spec.manifest {
        list.push((Guarded::Manifest, m.clone()));
    }
    list.push((Guarded::Code, spec.wasm.clone()));
    let caches = spec.cache.iter().map(|c| c.root().to_path_buf());
    for root in caches.chain(CodeCache::default_root()) {
        list.push((Guarded::Cache, root));
    }
    let config = std::env::var_os("QYVOL_CONFIG").filter(|v| !v.is_empty());
    for path in config
        .map(PathBuf::from)
        .into_iter()
        .chain(qyvol_manifest::UserConfig::default_dir())
    {
        list.push((Guarded::Config, path));
    }
    list.dedup();
    list
}

/// How the mount at `root` (canonical) reaches `path`, if it does.
fn reaches(root: &Path, what: Guarded, path: &Path) -> Option<Reach> {
    let mount = Identity::of(root)?;
    let way = Way::to(path);
    if way.dirs.iter().any(|d| mount.is(d)) {
        return Some(Reach::Holds);
    }
    if what.is_folder() {
        let folder = Identity::of(&way.end)?;
        return Way::to(root)
            .dirs
            .iter()
            .chain([&root.to_path_buf()])
            .any(|d| folder.is(d))
            .then_some(Reach::Inside);
    }
    let meta = fs::metadata(&way.end).ok()?;
    if meta.nlink() > 1 {
        return hard_link(root, &meta);
    }
    None
}

/// A file or folder by device and inode: the same whatever path (a bind
/// mount, a symlink) names it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Identity(u64, u64);

impl Identity {
    fn of(path: &Path) -> Option<Identity> {
        fs::metadata(path).ok().map(|m| Identity(m.dev(), m.ino()))
    }

    fn is(self, path: &Path) -> bool {
        Identity::of(path) == Some(self)
    }
}

/// The folders whose entries decide what a path names, in the order they
/// are used, and where it ends up.
struct Way {
    /// Every folder an entry of the path (or of a symlink on it) is looked
    /// up in; whoever may write one of them can change what the path names.
    dirs: Vec<PathBuf>,
    /// The path with every symlink resolved (as far as it exists).
    end: PathBuf,
}

impl Way {
    fn to(path: &Path) -> Way {
        let start = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut pending: VecDeque<OsString> = VecDeque::new();
        let mut current = PathBuf::from("/");
        let mut dirs = Vec::new();
        let mut links = 0;
        push_front(&mut pending, &start, &mut current);
        while let Some(name) = pending.pop_front() {
            if name == ".." {
                current.pop();
                continue;
            }
            dirs.push(current.clone());
            let next = current.join(&name);
            match fs::read_link(&next) {
                Ok(target) if links < MAX_LINKS => {
                    links += 1;
                    push_front(&mut pending, &target, &mut current);
                }
                _ => current = next,
            }
        }
        Way { dirs, end: current }
    }
}

/// Queues the parts of `path` before what is pending; an absolute path
/// starts again from the root.
fn push_front(pending: &mut VecDeque<OsString>, path: &Path, current: &mut PathBuf) {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir => {
                current.clear();
                current.push("/");
            }
            Component::Normal(name) => parts.push(name.to_os_string()),
            Component::ParentDir => parts.push("..".into()),
            Component::CurDir | Component::Prefix(_) => {}
        }
    }
    for part in parts.into_iter().rev() {
        pending.push_front(part);
    }
}

/// Looks through the mount for another name of the file `target` (which
/// has several), without following symlinks (the app cannot follow one out
/// of its mount, and one inside leads to what this walk sees anyway).
fn hard_link(root: &Path, target: &fs::Metadata) -> Option<Reach> {
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_WALK {
                return Some(Reach::Unchecked { entries: MAX_WALK });
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.dev() == target.dev() && meta.ino() == target.ino() {
                return Some(Reach::HardLink(entry.path()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn folder() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        (dir, root)
    }

    #[test]
    fn a_file_in_the_mount_or_below_it_is_held() {
        let (_d, root) = folder();
        fs::create_dir_all(root.join("app/sub")).unwrap();
        fs::write(root.join("app/sub/app.qyv"), "x").unwrap();
        let file = root.join("app/sub/app.qyv");
        assert_eq!(
            reaches(&root.join("app"), Guarded::Manifest, &file),
            Some(Reach::Holds)
        );
        assert_eq!(
            reaches(&root.join("app/sub"), Guarded::Manifest, &file),
            Some(Reach::Holds)
        );
        fs::create_dir(root.join("data")).unwrap();
        assert_eq!(reaches(&root.join("data"), Guarded::Manifest, &file), None);
    }

    #[test]
    fn a_symlink_into_the_mount_or_a_link_on_the_path_inside_it_is_held() {
        let (_d, root) = folder();
        fs::create_dir_all(root.join("data")).unwrap();
        fs::create_dir_all(root.join("app")).unwrap();
        // The manifest is a link to a file in the mount.
        fs::write(root.join("data/real.qyv"), "x").unwrap();
        symlink(root.join("data/real.qyv"), root.join("app/app.qyv")).unwrap();
        let data = root.join("data");
        assert_eq!(
            reaches(&data, Guarded::Manifest, &root.join("app/app.qyv")),
            Some(Reach::Holds)
        );
        // The path goes through a link that sits in the mount: the app can
        // replace the link.
        fs::create_dir_all(root.join("elsewhere")).unwrap();
        fs::write(root.join("elsewhere/app.wasm"), "x").unwrap();
        symlink("../elsewhere", root.join("data/code")).unwrap();
        let through = root.join("data/code/app.wasm");
        assert_eq!(reaches(&data, Guarded::Code, &through), Some(Reach::Holds));
        assert_eq!(
            reaches(&data, Guarded::Code, &root.join("elsewhere/app.wasm")),
            None
        );
    }

    #[test]
    fn a_hard_link_in_the_mount_is_found() {
        let (_d, root) = folder();
        fs::create_dir_all(root.join("data/deep")).unwrap();
        fs::create_dir_all(root.join("app")).unwrap();
        fs::write(root.join("app/app.wasm"), "x").unwrap();
        let data = root.join("data");
        assert_eq!(
            reaches(&data, Guarded::Code, &root.join("app/app.wasm")),
            None
        );
        fs::hard_link(root.join("app/app.wasm"), root.join("data/deep/copy")).unwrap();
        assert_eq!(
            reaches(&data, Guarded::Code, &root.join("app/app.wasm")),
            Some(Reach::HardLink(root.join("data/deep/copy")))
        );
    }

    #[test]
    fn a_mount_inside_a_guarded_folder_or_around_it_is_refused() {
        let (_d, root) = folder();
        fs::create_dir_all(root.join("cache/v1/code")).unwrap();
        let cache = root.join("cache");
        assert_eq!(
            reaches(&root.join("cache/v1"), Guarded::Cache, &cache),
            Some(Reach::Inside)
        );
        assert_eq!(
            reaches(&root.join("cache"), Guarded::Cache, &cache),
            Some(Reach::Inside)
        );
        assert_eq!(reaches(&root, Guarded::Cache, &cache), Some(Reach::Holds));
        fs::create_dir(root.join("other")).unwrap();
        assert_eq!(reaches(&root.join("other"), Guarded::Cache, &cache), None);
        // A cache that does not exist yet would be made in the mount.
        assert_eq!(
            reaches(&root, Guarded::Cache, &root.join("later/cache")),
            Some(Reach::Holds)
        );
    }

    #[test]
    fn ways_resolve_dot_dot_and_relative_links() {
        let (_d, root) = folder();
        fs::create_dir_all(root.join("a/b")).unwrap();
        symlink("b", root.join("a/l")).unwrap();
        let way = Way::to(&root.join("a/l/../b/./f"));
        assert_eq!(way.end, root.join("a/b/f"));
        assert!(way.dirs.contains(&root.join("a")));
        assert!(way.dirs.contains(&root.join("a/b")));
    }
}
