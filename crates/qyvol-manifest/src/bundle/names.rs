//! The rules an entry name must follow, shared by the writer (which refuses
//! to write a name the reader would refuse) and the reader (which never
//! trusts one): relative, `/`-separated, normalised, printable, short.
//! Extracting a valid name under a folder can only land inside it.

use super::format::{MAX_COMPONENT_LEN, MAX_NAME_LEN};

/// `Ok` when `name` may name an entry; otherwise why not.
pub fn check_entry_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "the name is {} bytes long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    if name.starts_with('/') {
        return Err("the name is an absolute path; entry names are relative".into());
    }
    for part in name.split('/') {
        match part {
            "" => {
                return Err("the name has an empty component (\"//\" or a trailing \"/\")".into());
            }
            "." | ".." => {
                return Err(format!(
                    "the name has a {part:?} component; entry names are normalised paths"
                ));
            }
            _ => {}
        }
        if part.len() > MAX_COMPONENT_LEN {
            return Err(format!(
                "a component of the name is {} bytes long; at most {MAX_COMPONENT_LEN} are allowed",
                part.len()
            ));
        }
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || *c == '\\') {
        let what = match c {
            '\0' => "a NUL byte".to_string(),
            '\\' => "a backslash".to_string(),
            c => format!("the control character U+{:04X}", c as u32),
        };
        return Err(format!("the name contains {what}"));
    }
    Ok(())
}

/// The folders that contain `name`, innermost last: `a/b/c` gives `a`, `a/b`.
pub(crate) fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(i, _)| &name[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        for name in [
            "app.qyv",
            "fs/0",
            "fs/0/data/hello.txt",
            "a b/ü.txt",
            "..a/b..",
        ] {
            assert_eq!(check_entry_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn bad_names_say_why() {
        let cases = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("fs/../../etc", "\"..\" component"),
            ("./a", "\".\" component"),
            ("a//b", "empty component"),
            ("a/", "empty component"),
            ("a\0b", "NUL"),
            ("a\\..\\b", "backslash"),
            ("a\nb", "U+000A"),
        ];
        for (name, why) in cases {
            let err = check_entry_name(name).unwrap_err();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        assert!(check_entry_name(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(check_entry_name(&"a".repeat(MAX_COMPONENT_LEN + 1)).is_err());
        assert!(check_entry_name(&"a".repeat(MAX_COMPONENT_LEN)).is_ok());
    }

    #[test]
    fn parents_from_outermost() {
        assert_eq!(parents("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(parents("a").count(), 0);
    }
}
