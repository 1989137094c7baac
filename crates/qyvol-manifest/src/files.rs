//! The parts that touch the disk: reading a manifest and checking that the
//! files it names are there and are what they claim to be.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, ManifestError};
use crate::model::{Manifest, MountKind};
use crate::regular::{MAX_MANIFEST_LEN, read_regular};

/// The first bytes of every WebAssembly binary, module or component.
pub const WASM_MAGIC: &[u8; 4] = b"\0asm";

impl Manifest {
    /// Parses a manifest from text. Nothing is read from disk: `file` is only
    /// used in messages and `base_dir` is where relative paths will resolve.
    ///
    /// ```
    /// use std::path::Path;
    /// use qyvol_manifest::Manifest;
    ///
    /// let text = "name: hello\nentrypoint: hello.wasm\n";
    /// let manifest = Manifest::parse(text, Path::new("hello.qyv"), Path::new("/srv/hello")).unwrap();
    /// assert_eq!(manifest.entrypoint_path(), Path::new("/srv/hello/hello.wasm"));
    ///
    /// let text = "name: hello\nentrypont: hello.wasm\n";
    /// let err = Manifest::parse(text, Path::new("hello.qyv"), Path::new(".")).unwrap_err();
    /// assert!(err.to_string().starts_with(
    ///     "hello.qyv:2:1: unknown field \"entrypont\" (did you mean \"entrypoint\"?); allowed here: name,"
    /// ));
    /// ```
    pub fn parse(text: &str, file: &Path, base_dir: &Path) -> Result<Manifest, ManifestError> {
        crate::decode::decode(text, file, base_dir)
    }

    /// Parses a manifest from bytes (from a bundle, say), refusing text that
    /// is not UTF-8 with the place of the first bad byte.
    pub fn parse_bytes(
        bytes: &[u8],
        file: &Path,
        base_dir: &Path,
    ) -> Result<Manifest, ManifestError> {
        let text = decode_utf8(bytes, file)?;
        Self::parse(text, file, base_dir)
    }

    /// Reads, parses and checks the manifest at `path`: relative paths in it
    /// resolve against its folder (made absolute), and the files it names
    /// must exist (see [`Manifest::check_files`]).
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let manifest = Self::read(path)?;
        manifest.check_files()?;
        Ok(manifest)
    }

    /// Reads and parses the manifest at `path` like [`Manifest::load`], but
    /// does not look at the files it names: for `qyv build`, which makes the
    /// entrypoint.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let bytes = read_regular(path, MAX_MANIFEST_LEN).map_err(|err| {
            let message = match err.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                std::io::ErrorKind::IsADirectory => "is a directory, not a .qyv file".to_string(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::FileTooLarge => {
                    format!("cannot read it as a manifest: {err}")
                }
                _ => format!("cannot read: {err}"),
            };
            ManifestError::new(path, ErrorKind::Read, message).with_io(err)
        })?;
        let base_dir = base_dir_of(path).map_err(|err| {
            ManifestError::new(
                path,
                ErrorKind::Read,
                format!("cannot find the manifest's folder: {err}"),
            )
            .with_io(err)
        })?;
        Self::parse_bytes(&bytes, path, &base_dir)
    }

    /// Checks the files the manifest names: the entrypoint exists, is a file
    /// and starts like WebAssembly; each directory mount's source exists and
    /// is a directory. Errors point at the field that names the file.
    pub fn check_files(&self) -> Result<(), ManifestError> {
        self.check_entrypoint()?;
        for (i, mount) in self.mounts.iter().enumerate() {
            // A netfs source is a URL; a memfs may have no seed.
            if mount.kind == MountKind::Netfs || mount.source.as_os_str().is_empty() {
                continue;
            }
            let field = format!("fs[{i}].source");
            let path = crate::model::resolve(&self.base_dir, &mount.source);
            let shown = mount.source.display();
            match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(self.file_error(
                        &field,
                        format!("{shown:?} is a file; a mount's source must be a directory"),
                    ));
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Err(self
                        .file_error(
                            &field,
                            format!("{shown:?} does not exist (looked for {})", path.display()),
                        )
                        .with_hint(
                            "create the folder, or fix the path (it is relative to the manifest)",
                        ));
                }
                Err(err) => {
                    return Err(self
                        .file_error(&field, format!("cannot read {shown:?}: {err}"))
                        .with_io(err));
                }
            }
        }
        Ok(())
    }

    fn file_error(&self, field: &str, message: String) -> ManifestError {
        let mut err = self.error_at(field, message);
        err.kind = ErrorKind::File;
        err
    }

    fn check_entrypoint(&self) -> Result<(), ManifestError> {
        let path = self.entrypoint_path();
        let shown = self.entrypoint.display();
        let mut file = match crate::regular::open_regular(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(self
                    .file_error(
                        "entrypoint",
                        format!("{shown:?} not found (looked for {})", path.display()),
                    )
                    .with_hint(
                        "build the app first, or fix the path (it is relative to the manifest)",
                    ));
            }
            Err(err) if err.kind() == std::io::ErrorKind::IsADirectory => {
                return Err(self.file_error(
                    "entrypoint",
                    format!("{shown:?} is a directory, not a .wasm file"),
                ));
            }
            Err(err) => {
                return Err(self
                    .file_error("entrypoint", format!("cannot open {shown:?}: {err}"))
                    .with_io(err));
            }
        };
        let mut head = Vec::with_capacity(16);
        if let Err(err) = file.by_ref().take(16).read_to_end(&mut head) {
            return Err(self
                .file_error("entrypoint", format!("cannot read {shown:?}: {err}"))
                .with_io(err));
        }
        if head.starts_with(WASM_MAGIC) {
            return Ok(());
        }
        let message = if head.is_empty() {
            format!("{shown:?} is empty, not a WebAssembly file")
        } else {
            format!(
                "{shown:?} is not a WebAssembly file (it starts with {})",
                describe_head(&head)
            )
        };
        Err(self.file_error("entrypoint", message))
    }
}

/// The manifest's folder as an absolute path; `app.qyv` has the empty
/// path as parent, which means the current directory.
fn base_dir_of(path: &Path) -> std::io::Result<PathBuf> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let absolute = std::path::absolute(parent)?;
    Ok(crate::model::resolve(&absolute, Path::new("")))
}

/// Says what a file that is not WebAssembly looks like, so "it starts with
/// 7f 45 4c 46" comes with "a native executable (ELF)".
pub(crate) fn describe_head(head: &[u8]) -> String {
    let hex = head
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    let known: Option<&str> = if head.starts_with(b"\x7fELF") {
        Some("a native executable (ELF), not WebAssembly; build for a wasm32-wasi target")
    } else if head.starts_with(b"MZ") {
        Some("a Windows executable, not WebAssembly; build for a wasm32-wasi target")
    } else if head.starts_with(&[0xcf, 0xfa, 0xed, 0xfe])
        || head.starts_with(&[0xca, 0xfe, 0xba, 0xbe])
    {
        Some("a macOS executable, not WebAssembly; build for a wasm32-wasi target")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("a zip archive")
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some("a gzip archive")
    } else {
        None
    };
    if let Some(known) = known {
        return format!("{hex}: {known}");
    }
    // Sixteen bytes may end in the middle of a character: keep what is whole.
    let text = match std::str::from_utf8(head) {
        Ok(text) => Some(text),
        Err(err) if err.error_len().is_none() => {
            std::str::from_utf8(&head[..err.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    match text {
        Some(text)
            if !text.is_empty() && text.chars().all(|c| !c.is_control() || c.is_whitespace()) =>
        {
            let trimmed = text.trim_start();
            let what = if trimmed.starts_with("(module")
                || trimmed.starts_with("(component")
                || trimmed.starts_with(";;")
            {
                "WebAssembly text (.wat); compile it to binary, e.g. with `wasm-tools parse`"
            } else if trimmed.starts_with("#!") {
                "a script"
            } else {
                "text"
            };
            format!("{text:?}, which looks like {what}")
        }
        _ => hex,
    }
}

/// `bytes` as UTF-8, or an error at the line and column of the first bad
/// byte. A UTF-16 file gets its own message since editors on Windows still
/// write them.
pub(crate) fn decode_utf8<'b>(bytes: &'b [u8], file: &Path) -> Result<&'b str, ManifestError> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(
            ManifestError::new(file, ErrorKind::Encoding, "the file is UTF-16 text")
                .with_hint("save it as UTF-8"),
        );
    }
    std::str::from_utf8(bytes).map_err(|err| {
        let valid = &bytes[..err.valid_up_to()];
        // The prefix is valid UTF-8 by definition of valid_up_to.
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        let line = prefix.matches('\n').count() + 1;
        let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let byte = bytes.get(err.valid_up_to()).copied().unwrap_or_default();
        ManifestError::new(
            file,
            ErrorKind::Encoding,
            format!("not UTF-8 text (byte 0x{byte:02x})"),
        )
        .at(Some((line, column)))
        .with_hint("save the file as UTF-8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const WASM: &[u8] = b"\0asm\x01\0\0\0";

    struct App {
        dir: tempfile::TempDir,
    }

    impl App {
        fn new(manifest: &str) -> App {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("app.qyv"), manifest).unwrap();
            App { dir }
        }

        fn file(&self, name: &str, bytes: &[u8]) -> &Self {
            let path = self.dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
            self
        }

        fn manifest_path(&self) -> PathBuf {
            self.dir.path().join("app.qyv")
        }

        fn load(&self) -> Result<Manifest, ManifestError> {
            Manifest::load(&self.manifest_path())
        }

        /// The error with the temporary folder replaced by `$DIR`.
        fn load_err(&self) -> String {
            let err = self.load().expect_err("should fail").to_string();
            err.replace(&self.dir.path().display().to_string(), "$DIR")
        }
    }

    const BASE: &str = "name: app\nentrypoint: app.wasm\n";

    #[test]
    fn loads_and_resolves_against_the_manifest_folder() {
        let app = App::new(&format!(
            "{BASE}permissions: {{fs: read}}\nfs:\n  - {{source: data, target: /data}}\n"
        ));
        app.file("app.wasm", WASM);
        fs::create_dir(app.dir.path().join("data")).unwrap();
        let m = app.load().unwrap();
        let base = std::path::absolute(app.dir.path()).unwrap();
        assert_eq!(m.base_dir(), base);
        assert_eq!(m.file(), app.manifest_path());
        assert_eq!(m.entrypoint_path(), base.join("app.wasm"));
        assert_eq!(m.effective_mounts()[0].source, base.join("data"));
    }

    #[test]
    fn missing_manifest_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.qyv");
        let err = Manifest::load(&path).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Read);
        assert_eq!(err.to_string(), format!("{}: no such file", path.display()));
        assert!(std::error::Error::source(&err).is_some());
        let err = Manifest::load(dir.path()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Read);
    }

    #[test]
    fn syntax_errors_name_the_path_as_given() {
        let app = App::new("name: app\npermissions:\n\tfs: read\n");
        let err = app.load().unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "{}:3:2: invalid YAML",
                app.manifest_path().display()
            )),
            "{err}"
        );
    }

    #[test]
    fn entrypoint_must_exist_and_be_wasm() {
        let app = App::new(&format!("{BASE}language: c\n"));
        assert_eq!(
            app.load_err(),
            "$DIR/app.qyv:2:13: entrypoint: \"app.wasm\" not found (looked for $DIR/app.wasm); build the app first, or fix the path (it is relative to the manifest)"
        );
        app.file("app.wasm", b"");
        assert_eq!(
            app.load_err(),
            "$DIR/app.qyv:2:13: entrypoint: \"app.wasm\" is empty, not a WebAssembly file"
        );
        app.file("app.wasm", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(
            app.load_err(),
            "$DIR/app.qyv:2:13: entrypoint: \"app.wasm\" is not a WebAssembly file (it starts with 7f 45 4c 46 02 01 01 00: a native executable (ELF), not WebAssembly; build for a wasm32-wasi target)"
        );
        app.file("app.wasm", b"(module (func (export \"_start\")))");
        assert_eq!(
            app.load_err(),
            "$DIR/app.qyv:2:13: entrypoint: \"app.wasm\" is not a WebAssembly file (it starts with \"(module (func (e\", which looks like WebAssembly text (.wat); compile it to binary, e.g. with `wasm-tools parse`)"
        );
        app.file("app.wasm", b"hello, world\n");
        assert_eq!(
            app.load_err(),
            "$DIR/app.qyv:2:13: entrypoint: \"app.wasm\" is not a WebAssembly file (it starts with \"hello, world\\n\", which looks like text)"
        );
        app.file("app.wasm", b"\x01\x02\x03\xff");
        assert_eq!(
            app.load_err(),
            "$DIR/app.qyv:2:13: entrypoint: \"app.wasm\" is not a WebAssembly file (it starts with 01 02 03 ff)"
        );
        app.file("app.wasm", WASM);
        assert!(app.load().is_ok());
    }

    #[test]
    fn entrypoint_may_not_be_a_directory() {
        let app = App::new(BASE);
        fs::create_dir(app.dir.path().join("app.wasm")).unwrap();
        assert_eq!(
            app.load_err(),
            "$DIR/app.qyv:2:13: entrypoint: \"app.wasm\" is a directory, not a .wasm file"
        );
    }

    #[test]
    fn dir_mount_sources_must_be_directories() {
        let app = App::new(&format!(
            "{BASE}permissions: {{fs: read}}\nfs:\n  - source: ./data\n    target: /data\n  - target: /m\n    type: memfs\n    size: 1MiB\n"
        ));
        app.file("app.wasm", WASM);
        assert_eq!(
            app.load_err(),
            "$DIR/app.qyv:5:13: fs[0].source: \"./data\" does not exist (looked for $DIR/data); create the folder, or fix the path (it is relative to the manifest)"
        );
        app.file("data", b"not a folder");
        assert_eq!(
            app.load_err(),
            "$DIR/app.qyv:5:13: fs[0].source: \"./data\" is a file; a mount's source must be a directory"
        );
        fs::remove_file(app.dir.path().join("data")).unwrap();
        fs::create_dir(app.dir.path().join("data")).unwrap();
        // memfs has nothing on disk to check.
        let m = app.load().unwrap();
        assert_eq!(m.check_files().map_err(|e| e.to_string()), Ok(()));
    }

    #[test]
    fn parse_does_not_touch_the_disk() {
        let m = Manifest::parse(BASE, Path::new("x.qyv"), Path::new("/does/not/exist")).unwrap();
        assert_eq!(m.entrypoint_path(), Path::new("/does/not/exist/app.wasm"));
        assert_eq!(m.check_files().unwrap_err().kind, ErrorKind::File);
    }

    #[test]
    fn relative_manifest_path_gets_an_absolute_base() {
        let base = base_dir_of(Path::new("app.qyv")).unwrap();
        assert!(base.is_absolute());
        assert_eq!(base, std::env::current_dir().unwrap());
        let base = base_dir_of(Path::new("./sub/app.qyv")).unwrap();
        assert_eq!(base, std::env::current_dir().unwrap().join("sub"));
    }
}
