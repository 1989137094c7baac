//! Rules for names and versions: app names, semantic versions, environment
//! variable names. Public so `qyv` can check a name before it writes one.

use crate::fields::MAX_NAME_LEN;

const NAME_RULE: &str = "use [a-z0-9][a-z0-9-]* (lowercase letters, digits and '-', not starting with '-'), at most 63 characters";

/// Checks an app name: `[a-z0-9][a-z0-9-]*`, at most 63 characters, so it
/// can serve as a DNS label, a directory name and an OCI repository name.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.is_empty() {
        return Err(format!("the name is empty; {NAME_RULE}"));
    }
    if !valid_chars || name.starts_with('-') {
        return Err(format!("{name:?} is not a valid name; {NAME_RULE}"));
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(format!(
            "{name:?} is too long ({len} characters); {NAME_RULE}"
        ));
    }
    Ok(())
}

/// A valid name close to an invalid one (`Hello World` → `hello-world`).
pub fn fix_name(name: &str) -> Option<String> {
    let fixed: String = name
        .trim()
        .chars()
        .map(|c| match c {
            '_' | ' ' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let fixed = fixed.trim_start_matches('-').to_string();
    (fixed != name && check_name(&fixed).is_ok()).then_some(fixed)
}

/// Whether `version` is a semantic version (semver.org 2.0.0):
/// `MAJOR.MINOR.PATCH`, then optionally `-pre.release` and `+build.meta`.
pub fn is_semver(version: &str) -> bool {
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numeric = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
    };
    let identifier = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let core_parts: Vec<&str> = core.split('.').collect();
    if core_parts.len() != 3 || !core_parts.iter().all(|p| numeric(p)) {
        return false;
    }
    if let Some(pre) = pre {
        // Numeric pre-release identifiers may not have leading zeros;
        // alphanumeric ones may ("-0a" is fine).
        let ok = pre
            .split('.')
            .all(|p| identifier(p) && (!p.bytes().all(|b| b.is_ascii_digit()) || numeric(p)));
        if !ok {
            return false;
        }
    }
    build.is_none_or(|build| build.split('.').all(identifier))
}

/// Checks an environment variable name: not empty, no `=` (it would end the
/// name) and no NUL (it would end the string).
pub fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("an environment variable name cannot be empty".into())
    } else if name.contains('=') {
        Err(format!("{name:?} is not a variable name: it contains '='"))
    } else if name.contains('\0') {
        Err(format!(
            "{name:?} is not a variable name: it contains a NUL character"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in [
            "hello",
            "hello-qyvol",
            "a",
            "0",
            "9lives",
            "a-",
            &"a".repeat(63),
        ] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        assert_eq!(
            check_name("Hello").unwrap_err(),
            "\"Hello\" is not a valid name; use [a-z0-9][a-z0-9-]* (lowercase letters, digits and '-', not starting with '-'), at most 63 characters"
        );
        assert!(check_name("-a").is_err());
        assert!(check_name("a_b").is_err());
        assert!(check_name("a.b").is_err());
        assert!(check_name("é").is_err());
        assert!(check_name("").unwrap_err().starts_with("the name is empty"));
        assert!(
            check_name(&"a".repeat(64))
                .unwrap_err()
                .contains("too long (64 characters)")
        );
        assert_eq!(fix_name("Hello World").as_deref(), Some("hello-world"));
        assert_eq!(fix_name("my_app").as_deref(), Some("my-app"));
        assert_eq!(fix_name("héllo"), None);
    }

    #[test]
    fn semver() {
        for good in [
            "0.1.0",
            "1.2.3",
            "10.20.30",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0-x.7.z.92",
            "1.0.0-x-y-z.--",
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
            "1.0.0+21AF26D3----117B344092BD",
            "1.0.0-0a",
        ] {
            assert!(is_semver(good), "{good}");
        }
        for bad in [
            "",
            "1",
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.02.0",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-01",
            "1.0.0-a..b",
            "v1.0.0",
            "1.0.0-é",
            "1.0.0+a+b",
            " 1.0.0",
            "a.b.c",
            "1.0.0-a_b",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        assert_eq!(check_env_name("FOO"), Ok(()));
        assert_eq!(check_env_name("lower_ok.too"), Ok(()));
        assert!(check_env_name("").is_err());
        assert_eq!(
            check_env_name("A=B").unwrap_err(),
            "\"A=B\" is not a variable name: it contains '='"
        );
        assert!(check_env_name("A\0").is_err());
    }
}
