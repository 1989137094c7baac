//! From a parent's request to a child's spec: the request's fields, the
//! program found through the parent's own mounts, and the child's grants,
//! never more than the parent's. A `.wasm` child gets what the parent
//! passes on (by default all it holds; the request may narrow the mounts
//! and drop the network or exec); a `.qyv` child gets what its manifest
//! asks for, and is refused, naming the grant, if that is more than the
//! parent holds.

use std::path::{Path, PathBuf};

use qyvol_manifest::{ExecPolicy, FsAccess, Manifest, NetPolicy, Purpose};

use super::grant::ExecGrant;
use crate::spec::{Preopen, RunSpec};

/// Why a request was refused: its class (the guest's error code) and the
/// message the guest can read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: i32,
    pub(crate) message: String,
}

/// The guest's error codes (see docs/process.md).
pub(crate) const DENIED: i32 = 1;
pub(crate) const NOT_FOUND: i32 = 2;
pub(crate) const LIMIT: i32 = 3;
pub(crate) const INVALID: i32 = 4;
pub(crate) const FAILED: i32 = 5;
pub(crate) const CLOSED: i32 = 6;

impl Refusal {
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// How a child's standard stream is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamMode {
    /// The parent's own stream.
    Inherit,
    /// A pipe the parent writes (stdin) or reads (stdout, stderr).
    Pipe,
    /// Nothing: empty input, output dropped.
    Null,
}

/// A mount the parent passes on: a folder as the parent sees it (one of
/// its mounts or a folder inside one), read-only or read-write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MountRequest {
    pub(crate) guest: String,
    pub(crate) writable: bool,
}

/// What the parent asks for, decoded from `key=value` records separated
/// by NUL bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) path: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<String>,
    pub(crate) stdin: StreamMode,
    pub(crate) stdout: StreamMode,
    pub(crate) stderr: StreamMode,
    /// `None`: every mount the parent holds, as it holds it.
    pub(crate) mounts: Option<Vec<MountRequest>>,
    pub(crate) net: bool,
    pub(crate) exec: bool,
}

/// Most bytes of a request.
pub(crate) const MAX_REQUEST: usize = 1 << 20;

impl Request {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Request, Refusal> {
        let bad = |m: String| Refusal::new(INVALID, m);
        let text =
            std::str::from_utf8(bytes).map_err(|_| bad("the request is not UTF-8".into()))?;
        let mut r = Request {
            path: String::new(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: StreamMode::Inherit,
            stdout: StreamMode::Inherit,
            stderr: StreamMode::Inherit,
            mounts: None,
            net: true,
            exec: true,
        };
        for record in text.split('\0').filter(|r| !r.is_empty()) {
            let (key, value) = record
                .split_once('=')
                .ok_or_else(|| bad(format!("request record {record:?} is not key=value")))?;
            let mode = |v: &str| match v {
                "inherit" => Ok(StreamMode::Inherit),
                "pipe" => Ok(StreamMode::Pipe),
                "null" => Ok(StreamMode::Null),
                _ => Err(bad(format!(
                    "{key}={v:?}: a stream is inherit, pipe or null"
                ))),
            };
            let keep = |v: &str| match v {
                "inherit" => Ok(true),
                "none" => Ok(false),
                _ => Err(bad(format!("{key}={v:?}: expected inherit or none"))),
            };
            match key {
                "path" => r.path = value.to_string(),
                "arg" => r.args.push(value.to_string()),
                "env" => {
                    let (k, v) = value.split_once('=').ok_or_else(|| {
                        bad(format!(
                            "env={value:?}: an environment variable is NAME=VALUE"
                        ))
                    })?;
                    r.env.push((k.to_string(), v.to_string()));
                }
                "cwd" => r.cwd = Some(value.to_string()),
                "stdin" => r.stdin = mode(value)?,
                "stdout" => r.stdout = mode(value)?,
                "stderr" => r.stderr = mode(value)?,
                "mount" => {
                    let (guest, writable) = match value.rsplit_once(':') {
                        Some((g, "read")) => (g, false),
                        Some((g, "write")) => (g, true),
                        _ => (value, false),
                    };
                    r.mounts.get_or_insert_with(Vec::new).push(MountRequest {
                        guest: guest.to_string(),
                        writable,
                    });
                }
                "net" => r.net = keep(value)?,
                "exec" => r.exec = keep(value)?,
                _ => {
                    return Err(bad(format!(
                        "unknown request key {key:?}; known: path, arg, env, cwd, stdin, stdout, stderr, mount, net, exec"
                    )));
                }
            }
        }
        if r.path.is_empty() {
            return Err(bad("the request names no program (path=…)".into()));
        }
        Ok(r)
    }
}

/// A path as a guest sees it, made plain: absolute, no `.`, no `..`.
pub(crate) fn normal_guest_path(path: &str) -> Result<String, Refusal> {
    if !path.starts_with('/') {
        return Err(Refusal::new(
            INVALID,
            format!("{path:?}: give the program's absolute path, as this app sees it"),
        ));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Refusal::new(
                    INVALID,
                    format!("{path:?}: a path to start may not contain .."),
                ));
            }
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The host file behind `guest` in `preopens`, through the mount whose
/// guest path is the longest prefix, checked to stay inside that mount's
/// folder once links are followed.
pub(crate) fn resolve<'p>(
    preopens: &'p [Preopen],
    guest: &str,
) -> Result<(PathBuf, &'p Preopen), Refusal> {
    let not_held = || {
        Refusal::new(
            NOT_FOUND,
            format!("{guest} is not inside any folder this app has mounted"),
        )
    };
    let mount = preopens
        .iter()
        .filter(|p| {
            let g = p.guest.trim_end_matches('/');
            g.is_empty() || guest == g || guest.starts_with(&format!("{g}/"))
        })
        .max_by_key(|p| p.guest.trim_end_matches('/').len())
        .ok_or_else(not_held)?;
    let rest = guest[mount.guest.trim_end_matches('/').len()..].trim_start_matches('/');
    let host = if rest.is_empty() {
        mount.host.clone()
    } else {
        mount.host.join(rest)
    };
    let real = host
        .canonicalize()
        .map_err(|e| Refusal::new(NOT_FOUND, format!("{guest}: {e}")))?;
    let root = mount
        .host
        .canonicalize()
        .map_err(|e| Refusal::new(NOT_FOUND, format!("{guest}: {e}")))?;
    if !real.starts_with(&root) {
        return Err(Refusal::new(
            DENIED,
            format!(
                "{guest} leads outside the folder mounted at {}",
                mount.guest
            ),
        ));
    }
    Ok((real, mount))
}

/// The spec of a `.wasm` child: the parent's grants, narrowed as asked.
pub(crate) fn wasm_child(
    parent: &RunSpec,
    grant: &ExecGrant,
    file: PathBuf,
    req: &Request,
) -> Result<RunSpec, Refusal> {
    let mut spec = parent.clone();
    spec.wasm = file;
    spec.manifest = None;
    spec.bundle = None;
    spec.control = None;
    spec.argv0 = Path::new(&req.path)
        .file_stem()
        .map_or_else(|| req.path.clone(), |s| s.to_string_lossy().into_owned());
    spec.args = req.args.clone();
    spec.env = req.env.clone();
    spec.timeout = None;
    if let Some(asked) = &req.mounts {
        let mut preopens = Vec::with_capacity(asked.len());
        for m in asked {
            let guest = normal_guest_path(&m.guest)?;
            let (host, held) = resolve(&parent.preopens, &guest)?;
            if m.writable && !held.writable {
                return Err(Refusal::new(
                    DENIED,
                    format!("the child asks to write {guest}, which this app holds read-only"),
                ));
            }
            if !host.is_dir() {
                return Err(Refusal::new(INVALID, format!("{guest} is not a folder")));
            }
            preopens.push(Preopen {
                host,
                guest,
                writable: m.writable,
            });
        }
        spec.preopens = preopens;
    }
    if !req.net {
        spec.net = NetPolicy::Deny;
    }
    let policy = if req.exec {
        grant.policy.clone()
    } else {
        ExecPolicy::Deny
    };
    spec.exec = Some(ExecGrant {
        policy,
        ..grant.clone()
    });
    Ok(spec)
}

/// The spec of a `.qyv` child: what its manifest asks, refused if that is
/// more than the parent holds, with the request's arguments and variables
/// added.
pub(crate) fn manifest_child(
    parent: &RunSpec,
    grant: &ExecGrant,
    file: &Path,
    req: &Request,
) -> Result<RunSpec, Refusal> {
    let m = Manifest::load(file).map_err(|e| Refusal::new(INVALID, e.to_string()))?;
    let errors: Vec<String> = m
        .problems(Purpose::Run)
        .into_iter()
        .filter(|f| f.is_error())
        .map(|f| f.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(Refusal::new(INVALID, errors.join("\n")));
    }
    let mut spec = RunSpec::from_manifest(&m);
    let asked = |what: String| {
        Refusal::new(
            DENIED,
            format!(
                "{}: the child asks for {what}, which its parent does not hold",
                file.display()
            ),
        )
    };
    if m.permissions.fs == FsAccess::Full
        && !parent
            .preopens
            .iter()
            .any(|p| p.guest == "/" && p.host == Path::new("/") && p.writable)
    {
        return Err(asked(
            "permissions.fs: full (the whole host file system)".into(),
        ));
    }
    let entry = spec
        .wasm
        .canonicalize()
        .map_err(|e| Refusal::new(NOT_FOUND, format!("{}: {e}", spec.wasm.display())))?;
    if !parent_holds(parent, &entry, false) {
        return Err(asked(format!(
            "its entrypoint {}, outside the folders it can read",
            spec.wasm.display()
        )));
    }
    for p in &spec.preopens {
        let real = p
            .host
            .canonicalize()
            .map_err(|e| Refusal::new(NOT_FOUND, format!("{}: {e}", p.host.display())))?;
        if !parent_holds(parent, &real, p.writable) {
            return Err(asked(format!(
                "a {} mount of {} at {}",
                if p.writable {
                    "read-write"
                } else {
                    "read-only"
                },
                p.host.display(),
                p.guest
            )));
        }
    }
    if !net_covers(&parent.net, &spec.net) {
        return Err(asked(format!(
            "network access ({})",
            describe_net(&spec.net)
        )));
    }
    if !grant.policy.covers(&m.permissions.exec) {
        return Err(asked(format!(
            "permissions.exec: {}",
            serde_json::to_string(&m.permissions.exec).unwrap_or_default()
        )));
    }
    match (parent.fuel, spec.fuel) {
        (None, Some(_)) => {
            return Err(asked(
                "limits.fuel (its parent runs without a fuel budget, so its children do too)"
                    .into(),
            ));
        }
        (Some(p), Some(c)) => spec.fuel = Some(p.min(c)),
        (fuel, None) => spec.fuel = fuel,
    }
    spec.args.extend(req.args.iter().cloned());
    spec.env.extend(req.env.iter().cloned());
    spec.cache = parent.cache.clone();
    spec.exec = Some(ExecGrant {
        policy: m.permissions.exec.clone(),
        ..grant.clone()
    });
    Ok(spec)
}

/// Whether one of the parent's mounts reaches `real` (a canonical host
/// path) with at least this access.
fn parent_holds(parent: &RunSpec, real: &Path, writable: bool) -> bool {
    parent.preopens.iter().any(|p| {
        (p.writable || !writable)
            && p.host
                .canonicalize()
                .is_ok_and(|root| real.starts_with(root))
    })
}

/// Whether `held` allows everything `wanted` does; rules compare as
/// written.
fn net_covers(held: &NetPolicy, wanted: &NetPolicy) -> bool {
    match (held, wanted) {
        (_, NetPolicy::Deny) | (NetPolicy::AllowAll, _) => true,
        (NetPolicy::Deny, _) | (NetPolicy::Allow(_), NetPolicy::AllowAll) => false,
        (NetPolicy::Allow(h), NetPolicy::Allow(w)) => {
            w.iter().all(|r| h.iter().any(|x| x.text == r.text))
        }
    }
}

fn describe_net(net: &NetPolicy) -> String {
    match net {
        NetPolicy::Deny => "none".into(),
        NetPolicy::AllowAll => "permissions.net: true".into(),
        NetPolicy::Allow(rules) => rules
            .iter()
            .map(|r| format!("\"{}\"", r.text))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_decodes_its_records() {
        let r = Request::parse(
            b"path=/bin/a.wasm\0arg=x\0arg=y z\0env=A=1=2\0stdout=pipe\0stdin=null\0mount=/data:write\0mount=/ro\0net=none\0",
        )
        .unwrap();
        assert_eq!(r.path, "/bin/a.wasm");
        assert_eq!(r.args, ["x", "y z"]);
        assert_eq!(r.env, [("A".to_string(), "1=2".to_string())]);
        assert_eq!(
            (r.stdin, r.stdout, r.stderr),
            (StreamMode::Null, StreamMode::Pipe, StreamMode::Inherit)
        );
        assert_eq!(
            r.mounts.unwrap(),
            [
                MountRequest {
                    guest: "/data".into(),
                    writable: true
                },
                MountRequest {
                    guest: "/ro".into(),
                    writable: false
                }
            ]
        );
        assert!(!r.net && r.exec);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let e = |b: &[u8]| Request::parse(b).unwrap_err().message;
        assert_eq!(e(b"arg=x"), "the request names no program (path=…)");
        assert_eq!(
            e(b"path=/a\0stdout=file"),
            "stdout=\"file\": a stream is inherit, pipe or null"
        );
        assert!(e(b"path=/a\0colour=red").starts_with("unknown request key \"colour\""));
        assert_eq!(normal_guest_path("a.wasm").unwrap_err().code, INVALID);
        assert_eq!(normal_guest_path("/a/./b//c.wasm").unwrap(), "/a/b/c.wasm");
        assert!(normal_guest_path("/a/../etc").is_err());
    }

    #[test]
    fn a_program_is_found_through_the_longest_mount_and_stays_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(inner.join("a.wasm"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", inner.join("out")).unwrap();
        let preopens = vec![
            Preopen {
                host: dir.path().to_path_buf(),
                guest: "/".into(),
                writable: false,
            },
            Preopen {
                host: inner.clone(),
                guest: "/bin".into(),
                writable: true,
            },
        ];
        let (host, mount) = resolve(&preopens, "/bin/a.wasm").unwrap();
        assert_eq!(host, inner.join("a.wasm").canonicalize().unwrap());
        assert!(mount.writable);
        assert_eq!(resolve(&preopens, "/bin/out").unwrap_err().code, DENIED);
        assert_eq!(
            resolve(&preopens, "/nope.wasm").unwrap_err().code,
            NOT_FOUND
        );
        assert_eq!(resolve(&[], "/a.wasm").unwrap_err().code, NOT_FOUND);
    }
}
