//! The manifest's keywords: the values a field may take from a fixed list
//! (`type: http`, `fs: read`...), each an enum with its spelling.

use std::fmt;

use serde::Serialize;
use serde::ser::Serializer;

/// Defines an enum of YAML keywords with its spelling, the list of spellings
/// (for messages and the schema) and the parse from text.
macro_rules! keywords {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spelling used in manifests.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The keyword spelt exactly `text`.
            pub fn from_name(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

keywords! {
    /// How the module is run (`runtime:`); only WASI so far, preview 1 or 2
    /// being detected from the binary.
    Runtime { #[default] Wasi = "wasi" }
}

keywords! {
    /// What kind of app it is (`type:`).
    AppType {
        /// Runs to completion, like a command-line program (default).
        #[default] Command = "command",
        /// Serves HTTP requests (`wasi:http/proxy`).
        Http = "http",
        /// A long-running background process.
        Service = "service",
        /// A graphical app.
        Gui = "gui",
    }
}

keywords! {
    /// When a node starts a service again after it ends (`restart:`, for
    /// `type: service` only).
    Restart {
        /// However it ended (the default).
        #[default] Always = "always",
        /// Only when it failed: a non-zero exit, a trap, a limit.
        OnFailure = "on-failure",
        /// Never: it stays as it ended.
        Never = "never",
    }
}

keywords! {
    /// How much of the host file system the app may touch
    /// (`permissions.fs`). Ordered: a wider access compares greater.
    FsAccess {
        /// No file access (default).
        #[default] None = "none",
        /// Read only.
        Read = "read",
        /// Read and write.
        Write = "write",
        /// The whole host file system at `/`: for development only.
        Full = "full",
    }
}

impl FsAccess {
    /// Spellings accepted besides [`FsAccess::NAMES`], for people used to
    /// Docker's wording.
    pub const ALIASES: &'static [(&'static str, FsAccess)] = &[
        ("read-only", FsAccess::Read),
        ("read-write", FsAccess::Write),
    ];

    /// A canonical name or an alias.
    pub fn parse(text: &str) -> Option<FsAccess> {
        Self::from_name(text).or_else(|| {
            Self::ALIASES
                .iter()
                .find(|(alias, _)| *alias == text)
                .map(|(_, access)| *access)
        })
    }
}

keywords! {
    /// Access through one mount (`fs[].mode`).
    MountMode {
        /// Read only (default).
        #[default] Read = "read",
        /// Read and write.
        Write = "write",
    }
}

impl MountMode {
    /// Spellings accepted besides [`MountMode::NAMES`].
    pub const ALIASES: &'static [(&'static str, MountMode)] = &[
        ("read-only", MountMode::Read),
        ("read-write", MountMode::Write),
    ];

    /// A canonical name or an alias.
    pub fn parse(text: &str) -> Option<MountMode> {
        Self::from_name(text).or_else(|| {
            Self::ALIASES
                .iter()
                .find(|(alias, _)| *alias == text)
                .map(|(_, mode)| *mode)
        })
    }

    /// The least `permissions.fs` that allows a mount with this mode.
    pub fn required_access(self) -> FsAccess {
        match self {
            MountMode::Read => FsAccess::Read,
            MountMode::Write => FsAccess::Write,
        }
    }
}

keywords! {
    /// What backs a mount (`fs[].type`).
    MountKind {
        /// A host directory (default).
        #[default] Dir = "dir",
        /// An in-memory file system, empty at start.
        Memfs = "memfs",
        /// A network file system.
        Netfs = "netfs",
    }
}

keywords! {
    /// How a cluster places replicas (`scheduler.strategy`).
    Strategy {
        /// One replica per node as far as possible (default).
        #[default] Spread = "spread",
        /// Fill one node before the next.
        Pack = "pack",
    }
}
