//! What Qyvol reads from its environment, read one way everywhere: a
//! variable set to the empty string counts as unset (as the XDG base
//! directory specification says of its variables), and the user's folders
//! follow that specification.

use std::ffi::OsString;
use std::path::PathBuf;

/// The variable's value, unless it is unset or empty.
pub fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|value| !value.is_empty())
}

/// `$XDG_CONFIG_HOME`, else `$HOME/.config`.
pub fn config_home() -> Option<PathBuf> {
    base_dir("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_CACHE_HOME`, else `$HOME/.cache`.
pub fn cache_home() -> Option<PathBuf> {
    base_dir("XDG_CACHE_HOME", ".cache")
}

/// `$XDG_DATA_HOME`, else `$HOME/.local/share`.
pub fn data_home() -> Option<PathBuf> {
    base_dir("XDG_DATA_HOME", ".local/share")
}

fn base_dir(variable: &str, under_home: &str) -> Option<PathBuf> {
    match var(variable) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => var("HOME").map(|home| PathBuf::from(home).join(under_home)),
    }
}
