//! Whole manifests in, exact messages out: the text of an error is part of
//! the interface (users read it, editors parse its position).

use std::path::Path;
use std::time::Duration;

use crate::{
    AppType, ErrorKind, FsAccess, Manifest, ManifestError, MountKind, MountMode, NetPolicy,
    NetTarget, Runtime, Strategy,
};

/// The manifest of the format's first specification, every field with its
/// comment, kept verbatim: what was promised then must still read the same.
pub(crate) const REFERENCE_EXAMPLE: &str = r#"name: hello-qyvol              # required: [a-z0-9][a-z0-9-]*, ≤ 63
version: 0.1.0                 # optional, semver
entrypoint: hello.component.wasm   # required: path relative to this file
runtime: wasi                  # wasi (default); p1 module or p2 component is detected
type: command                  # command (default) | http | service
language: rust                 # informational
args: [--greet, world]         # prepended to command-line args
env: { GREETING: hola }
permissions:
  fs: none                     # none | read | write | full  (read-only, read-write accepted)
  net: false                   # false | true | list of allowed "host:port" / CIDR
  exec: false
  ai: false
  gfx: false
fs:                            # mounts; without any, fs: read|write mounts the
  - source: ./data             # manifest's directory at "/" with that access
    target: /data
    mode: read                 # read | write; never more than permissions.fs
    type: dir                  # dir (default) | memfs | netfs
limits:
  memory: 128MiB
  timeout: 30s
  fuel: null                   # optional instruction budget
"#;

pub(crate) fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, Path::new("hello.qyv"), Path::new("/apps/hello"))
}

fn ok(text: &str) -> Manifest {
    parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(m) => panic!("parsed, but should not: {m:?}"),
        Err(e) => e.to_string(),
    }
}

const BASE: &str = "name: hello\nentrypoint: hello.wasm\n";

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn reference_example_parses_once_fs_allows_its_mount() {
    // As written, the example mounts ./data for reading under `fs: none`,
    // which its own comment ("never more than permissions.fs") forbids.
    assert_eq!(
        err(REFERENCE_EXAMPLE),
        "hello.qyv:18:11: fs[0].mode: a read mount needs permissions.fs: read, write or full, but permissions.fs is none; set permissions.fs: read"
    );
    let text = REFERENCE_EXAMPLE.replace("  fs: none  ", "  fs: read  ");
    let m = ok(&text);
    assert_eq!(m.name, "hello-qyvol");
    assert_eq!(m.version.as_deref(), Some("0.1.0"));
    assert_eq!(m.manifest_version, 1);
    assert_eq!(m.entrypoint, Path::new("hello.component.wasm"));
    assert_eq!(
        m.entrypoint_path(),
        Path::new("/apps/hello/hello.component.wasm")
    );
    assert_eq!(m.runtime, Runtime::Wasi);
    assert_eq!(m.app_type, AppType::Command);
    assert_eq!(m.language.as_deref(), Some("rust"));
    assert_eq!(m.args, ["--greet", "world"]);
    assert_eq!(m.env, [("GREETING".to_string(), "hola".to_string())]);
    assert_eq!(m.permissions.fs, FsAccess::Read);
    assert_eq!(m.permissions.net, NetPolicy::Deny);
    assert!(!m.permissions.exec.granted() && !m.permissions.ai && !m.permissions.gfx);
    assert_eq!(m.mounts.len(), 1);
    assert_eq!(m.mounts[0].source, Path::new("./data"));
    assert_eq!(m.mounts[0].target, "/data");
    assert_eq!(m.mounts[0].mode, MountMode::Read);
    assert_eq!(m.mounts[0].kind, MountKind::Dir);
    assert_eq!(m.limits.memory, Some(128 << 20));
    assert_eq!(m.limits.timeout, Some(Duration::from_secs(30)));
    assert_eq!(m.limits.fuel, None);
    assert_eq!(m.replicas, None);
    assert_eq!(m.scheduler, None);
    assert_eq!(m.file(), Path::new("hello.qyv"));
    assert_eq!(m.base_dir(), Path::new("/apps/hello"));
    assert!(m.unsupported().is_empty());
    assert!(m.cluster_only_fields().is_empty());
}

#[test]
fn minimal_manifest_gets_defaults() {
    let m = ok(BASE);
    assert_eq!(m.name, "hello");
    assert_eq!(m.version, None);
    assert_eq!(m.manifest_version, 1);
    assert_eq!(m.runtime, Runtime::Wasi);
    assert_eq!(m.app_type, AppType::Command);
    assert!(m.args.is_empty() && m.env.is_empty() && m.mounts.is_empty());
    assert_eq!(m.permissions, Default::default());
    assert_eq!(m.limits, Default::default());
}

#[test]
fn every_field_of_every_section_decodes() {
    // Guards against a name added to `fields` but not to the decoder.
    let m = ok(r#"
name: full-app
version: 1.2.3-rc.1+build.5
manifest_version: 1
entrypoint: /opt/app.wasm
runtime: wasi
type: service
language: go
args: [a, 1, true, 2.5]
env:
  A: x
  B: 42
  C: false
permissions:
  fs: read-write
  net: ["example.com:443", "10.0.0.0/8", "[::1]:8080", "*.svc.local:*", 192.168.1.1]
  exec: true
  ai: True
  gfx: FALSE
fs:
  - source: data
    target: /data/
    mode: read-write
    type: memfs
    size: 1MiB
  - {source: "https://logs.example.org/", target: //var//log/., mode: read-only, type: netfs}
limits:
  memory: 1GiB
  timeout: 1.5s
  fuel: 1000000
replicas: 3
scheduler:
  strategy: pack
  constraints: [zone=a, disk=ssd]
"#);
    assert_eq!(m.version.as_deref(), Some("1.2.3-rc.1+build.5"));
    assert_eq!(m.entrypoint_path(), Path::new("/opt/app.wasm"));
    assert_eq!(m.app_type, AppType::Service);
    assert_eq!(m.args, ["a", "1", "true", "2.5"]);
    assert_eq!(
        m.env,
        [
            ("A".into(), "x".into()),
            ("B".into(), "42".into()),
            ("C".into(), "false".into())
        ]
    );
    assert_eq!(m.permissions.fs, FsAccess::Write);
    let NetPolicy::Allow(rules) = &m.permissions.net else {
        panic!("{:?}", m.permissions.net)
    };
    assert_eq!(rules.len(), 5);
    assert_eq!(rules[3].target, NetTarget::Name("*.svc.local".into()));
    assert_eq!(rules[4].port, None);
    assert!(
        m.permissions.exec == crate::ExecPolicy::AllowAll && m.permissions.ai && !m.permissions.gfx
    );
    assert_eq!(m.mounts[0].target, "/data");
    assert_eq!(m.mounts[0].mode, MountMode::Write);
    assert_eq!(m.mounts[0].kind, MountKind::Memfs);
    assert_eq!(m.mounts[1].target, "/var/log");
    assert_eq!(m.mounts[1].mode, MountMode::Read);
    assert_eq!(m.mounts[1].kind, MountKind::Netfs);
    assert_eq!(m.limits.memory, Some(1 << 30));
    assert_eq!(m.limits.timeout, Some(Duration::from_millis(1500)));
    assert_eq!(m.limits.fuel, Some(1_000_000));
    assert_eq!(m.replicas, Some(3));
    assert_eq!(
        m.scheduler.as_ref().map(|s| s.strategy),
        Some(Strategy::Pack)
    );
    assert_eq!(
        m.scheduler.as_ref().map(|s| s.constraints.clone()),
        Some(vec!["zone=a".to_string(), "disk=ssd".to_string()])
    );
    assert_eq!(m.cluster_only_fields(), ["replicas", "scheduler"]);
}

#[test]
fn enum_value_with_did_you_mean() {
    let text = "name: hello\nentrypoint: hello.wasm\nargs: []\nenv: {}\nlanguage: c\npermissions:\n  fs: reed\n";
    assert_eq!(
        err(text),
        "hello.qyv:7:7: permissions.fs: expected one of none, read, write, full; got \"reed\" (did you mean \"read\"?)"
    );
    assert_eq!(
        err(&with("type: comand\n")),
        "hello.qyv:3:7: type: expected one of command, http, service, gui; got \"comand\" (did you mean \"command\"?)"
    );
    assert_eq!(
        err(&with("runtime: wasm\n")),
        "hello.qyv:3:10: runtime: expected wasi; got \"wasm\" (did you mean \"wasi\"?)"
    );
    assert_eq!(
        err(&with("runtime: docker\n")),
        "hello.qyv:3:10: runtime: expected wasi; got \"docker\""
    );
    assert_eq!(
        err(&with("permissions:\n  fs: false\n")),
        "hello.qyv:4:7: permissions.fs: expected one of none, read, write, full; got false"
    );
    assert_eq!(
        err(&with("permissions:\n  fs: [read]\n")),
        "hello.qyv:4:7: permissions.fs: expected one of none, read, write, full, got a list"
    );
    assert_eq!(
        err(&with("scheduler: {strategy: spreed}\n")),
        "hello.qyv:3:23: scheduler.strategy: expected one of spread, pack; got \"spreed\" (did you mean \"spread\"?)"
    );
    assert_eq!(
        err(&with("fs:\n  - source: a\n    target: /a\n    type: mem\n")),
        "hello.qyv:6:11: fs[0].type: expected one of dir, memfs, netfs; got \"mem\" (did you mean \"memfs\"?)"
    );
}

#[test]
fn unknown_fields_with_did_you_mean() {
    assert_eq!(
        err("name: hello\nversion: 1.0.0\nentrypont: hello.wasm\n"),
        "hello.qyv:3:1: unknown field \"entrypont\" (did you mean \"entrypoint\"?); allowed here: name, version, manifest_version, entrypoint, runtime, type, language, args, env, permissions, fs, limits, restart, http, replicas, scheduler, rollout, build, component"
    );
    assert_eq!(
        err(&with("colour: red\n")),
        "hello.qyv:3:1: unknown field \"colour\"; allowed here: name, version, manifest_version, entrypoint, runtime, type, language, args, env, permissions, fs, limits, restart, http, replicas, scheduler, rollout, build, component"
    );
    assert_eq!(
        err(&with("permissions:\n  network: true\n")),
        "hello.qyv:4:3: permissions: unknown field \"network\"; allowed here: fs, net, exec, ai, gfx"
    );
    assert_eq!(
        err(&with("permissions:\n  exce: true\n")),
        "hello.qyv:4:3: permissions: unknown field \"exce\" (did you mean \"exec\"?); allowed here: fs, net, exec, ai, gfx"
    );
    assert_eq!(
        err(&with("fs:\n  - source: a\n    taget: /a\n")),
        "hello.qyv:5:5: fs[0]: unknown field \"taget\" (did you mean \"target\"?); allowed here: source, target, mode, type, size"
    );
    assert_eq!(
        err(&with("limits:\n  memroy: 1GiB\n")),
        "hello.qyv:4:3: limits: unknown field \"memroy\" (did you mean \"memory\"?); allowed here: memory, timeout, fuel, cpu, processes"
    );
    assert_eq!(
        err(&with("scheduler:\n  stratgy: pack\n")),
        "hello.qyv:4:3: scheduler: unknown field \"stratgy\" (did you mean \"strategy\"?); allowed here: strategy, constraints, weight"
    );
    assert_eq!(
        err(&with("scheduler:\n  constraints: [zone=a, zone]\n")),
        "hello.qyv:4:25: scheduler.constraints[1]: \"zone\" is not KEY=VALUE (for example zone=a); KEY and VALUE are 1 to 63 letters, digits, '-', '_' or '.'"
    );
    assert_eq!(
        err(&with("scheduler:\n  constraints: zone=a\n")),
        "hello.qyv:4:16: scheduler.constraints: expected a list of labels like [zone=a], got \"zone=a\""
    );
}

#[test]
fn wrong_types() {
    assert_eq!(
        err("name: hello\nentrypoint: hello.wasm\nversion: 1.0.0\nlanguage: zig\nargs: {a: b}\n"),
        "hello.qyv:5:7: args: expected a list of strings, got a mapping"
    );
    assert_eq!(
        err(&with("args:\n  a: b\n")),
        "hello.qyv:4:3: args: expected a list of strings, got a mapping"
    );
    assert_eq!(
        err(&with("args: [a, [b]]\n")),
        "hello.qyv:3:11: args[1]: expected a string, got a list"
    );
    assert_eq!(
        err(&with("args: [a, ~]\n")),
        "hello.qyv:3:11: args[1]: expected a string, got nothing (null)"
    );
    assert_eq!(
        err(&with("env: [A=1]\n")),
        "hello.qyv:3:6: env: expected a mapping of NAME: value, got a list"
    );
    assert_eq!(
        err(&with("env:\n  A: {b: c}\n")),
        "hello.qyv:4:6: env.A: expected a string, got a mapping"
    );
    assert_eq!(
        err(&with("permissions: read\n")),
        "hello.qyv:3:14: permissions: expected a mapping, got \"read\""
    );
    assert_eq!(
        err(&with("permissions:\n  exec: yes\n")),
        "hello.qyv:4:9: permissions.exec: expected true or false, got \"yes\"; YAML 1.2 reads only true and false as booleans"
    );
    assert_eq!(
        err(&with("permissions:\n  ai: 1\n")),
        "hello.qyv:4:7: permissions.ai: expected true or false, got 1"
    );
    assert_eq!(
        err(&with("permissions:\n  net: all\n")),
        "hello.qyv:4:8: permissions.net: expected false, true or a list of rules like \"api.example.com:443\", got \"all\""
    );
    assert_eq!(
        err(&with("permissions:\n  net:\n    - example.com: 443\n")),
        "hello.qyv:5:7: permissions.net[0]: expected a rule like \"api.example.com:443\", got a mapping; write each rule as one string, e.g. \"example.com:443\" (quote IPv6 ones: \"[::1]:8080\")"
    );
    assert_eq!(
        err(&with("permissions:\n  net:\n    - [::1]:8080\n")),
        "hello.qyv:5:12: invalid YAML: while parsing a block collection, did not find expected '-' indicator"
    );
    assert_eq!(
        err(&with("fs: ./data\n")),
        "hello.qyv:3:5: fs: expected a list of mounts (source, target, mode, type), got \"./data\""
    );
    assert_eq!(
        err(&with("fs:\n  - ./data:/data\n")),
        "hello.qyv:4:5: fs[0]: expected a mapping with source and target, e.g. {source: ./data, target: /data}, got \"./data:/data\""
    );
    assert_eq!(
        err(&with("limits: 128MiB\n")),
        "hello.qyv:3:9: limits: expected a mapping, got \"128MiB\""
    );
    assert_eq!(
        err(&with("limits:\n  memory: [1]\n")),
        "hello.qyv:4:11: limits.memory: expected a size like 128MiB, got a list"
    );
    assert_eq!(
        err(&with("replicas: many\n")),
        "hello.qyv:3:11: replicas: expected a whole number, got \"many\""
    );
    assert_eq!(
        err(&with("language: [rust]\n")),
        "hello.qyv:3:11: language: expected a string, got a list"
    );
    assert_eq!(
        err("name: [a]\nentrypoint: a.wasm\n"),
        "hello.qyv:1:7: name: expected a string, got a list"
    );
}

#[test]
fn missing_required_fields() {
    assert_eq!(
        err("name: hello\n"),
        "hello.qyv: entrypoint: missing; add the path of the .wasm file, e.g. \"entrypoint: app.wasm\""
    );
    assert_eq!(
        err("entrypoint: a.wasm\n"),
        "hello.qyv: name: missing; add a name for the app, e.g. \"name: hello\" (lowercase letters, digits and '-')"
    );
    assert_eq!(
        err("name: hello\nentrypoint:\n"),
        "hello.qyv:2:11: entrypoint: missing; add the path of the .wasm file, e.g. \"entrypoint: app.wasm\""
    );
    assert_eq!(
        err("name: hello\nentrypoint: ''\n"),
        "hello.qyv:2:13: entrypoint: missing; add the path of the .wasm file, e.g. \"entrypoint: app.wasm\""
    );
    assert_eq!(
        err(&with("fs:\n  - target: /data\n")),
        "hello.qyv:4:5: fs[0].source: missing; add the host folder to mount, relative to the manifest, e.g. \"source: ./data\""
    );
    assert_eq!(
        err(&with(
            "permissions: {fs: read}\nfs:\n  - source: ./data\n    mode: read\n"
        )),
        "hello.qyv:5:5: fs[0].target: missing; add where the app sees it, e.g. \"target: /data\""
    );
    assert_eq!(
        err(&with("env:\n  EMPTY:\n")),
        "hello.qyv:4:8: env.EMPTY: has no value; write EMPTY: \"\" for an empty string"
    );
}

#[test]
fn null_optional_fields_are_absent() {
    let m = ok(&with(
        "version:\nlanguage: ~\nargs:\nenv: null\npermissions:\nfs:\nlimits:\n  fuel: null\nreplicas:\nscheduler:\n",
    ));
    assert_eq!(m.version, None);
    assert_eq!(m.language, None);
    assert_eq!(m.replicas, None);
    assert_eq!(m.scheduler, None);
    assert_eq!(m.limits.fuel, None);
    let m = ok(&with("scheduler: {}\npermissions: {net: []}\n"));
    assert_eq!(m.scheduler.map(|s| s.strategy), Some(Strategy::Spread));
    assert_eq!(m.permissions.net, NetPolicy::Deny);
}

#[test]
fn quoted_strings_stay_strings() {
    let m = ok("name: '123'\nentrypoint: \"null\"\nargs: ['~', \"false\"]\nenv: {X: 'yes'}\n");
    assert_eq!(m.name, "123");
    assert_eq!(m.entrypoint, Path::new("null"));
    assert_eq!(m.args, ["~", "false"]);
    assert_eq!(m.env[0].1, "yes");
}

#[test]
fn names() {
    assert_eq!(
        err("name: Hello_World\nentrypoint: a.wasm\n"),
        "hello.qyv:1:7: name: \"Hello_World\" is not a valid name; use [a-z0-9][a-z0-9-]* (lowercase letters, digits and '-', not starting with '-'), at most 63 characters (did you mean \"hello-world\"?)"
    );
    assert_eq!(
        err(&format!("name: {}\nentrypoint: a.wasm\n", "a".repeat(64))),
        format!(
            "hello.qyv:1:7: name: \"{}\" is too long (64 characters); use [a-z0-9][a-z0-9-]* (lowercase letters, digits and '-', not starting with '-'), at most 63 characters",
            "a".repeat(64)
        )
    );
    assert_eq!(ok("name: 42\nentrypoint: a.wasm\n").name, "42");
}

#[test]
fn versions() {
    assert_eq!(
        err(&with("version: 1.0\n")),
        "hello.qyv:3:10: version: \"1.0\" is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.0.0, optionally with -pre and +build"
    );
    assert_eq!(
        err(&with("version: v1.2.3\n")),
        "hello.qyv:3:10: version: \"v1.2.3\" is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.0.0, optionally with -pre and +build (did you mean \"1.2.3\"?)"
    );
    assert_eq!(
        err(&with("manifest_version: 2\n")),
        "hello.qyv:3:19: manifest_version: this qyv reads manifest version 1; got 2: upgrade qyv"
    );
    assert_eq!(
        err(&with("manifest_version: 0\n")),
        "hello.qyv:3:19: manifest_version: this qyv reads manifest version 1; got 0: versions start at 1"
    );
    assert_eq!(
        err(&with("manifest_version: one\n")),
        "hello.qyv:3:19: manifest_version: expected a whole number, got \"one\""
    );
    assert_eq!(ok(&with("manifest_version: 1\n")).manifest_version, 1);
}

#[test]
fn env_names_and_order() {
    let m = ok(&with("env:\n  Z: 1\n  A: 2\n  M: three\n"));
    let names: Vec<&str> = m.env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["Z", "A", "M"]);
    assert_eq!(
        err(&with("env:\n  'A=B': x\n")),
        "hello.qyv:4:3: env: \"A=B\" is not a variable name: it contains '='"
    );
    assert_eq!(
        err(&with("env:\n  '': x\n")),
        "hello.qyv:4:3: env: an environment variable name cannot be empty"
    );
    assert_eq!(
        err(&with("env:\n  \"A\\0\": x\n")),
        "hello.qyv:4:3: env: \"A\\0\" is not a variable name: it contains a NUL character"
    );
}

#[test]
fn cpu_caps_and_weights() {
    let m = ok(&with("limits:\n  cpu: 0.5\nscheduler:\n  weight: 3\n"));
    assert_eq!(m.limits.cpu_millicores, Some(500));
    assert_eq!(m.scheduler.as_ref().and_then(|s| s.weight), Some(3));
    assert_eq!(
        ok(&with("limits: {cpu: 2}\n")).limits.cpu_millicores,
        Some(2000)
    );
    assert_eq!(
        ok(&with("limits: {cpu: 250m}\n")).limits.cpu_millicores,
        Some(250)
    );
    assert_eq!(
        ok(&with("limits: {cpu: 1.1}\n")).limits.cpu_millicores,
        Some(1100)
    );
    assert_eq!(ok(BASE).limits.cpu_millicores, None);
    assert_eq!(
        err(&with("limits:\n  cpu: 0\n")),
        "hello.qyv:4:8: limits.cpu: must be more than 0 cores; got 0; write cores as a number, e.g. 0.5 (half a core) or 2, or thousandths with m, e.g. 250m"
    );
    assert_eq!(
        err(&with("limits:\n  cpu: -1\n")),
        "hello.qyv:4:8: limits.cpu: must be more than 0 cores; got -1; write cores as a number, e.g. 0.5 (half a core) or 2, or thousandths with m, e.g. 250m"
    );
    assert_eq!(
        err(&with("limits:\n  cpu: half\n")),
        "hello.qyv:4:8: limits.cpu: \"half\" is not a CPU amount; write cores as a number, e.g. 0.5 (half a core) or 2, or thousandths with m, e.g. 250m"
    );
    assert_eq!(
        err(&with("limits:\n  cpu: 0.0001\n")),
        "hello.qyv:4:8: limits.cpu: 0.0001 is finer than a thousandth of a core; round it, e.g. 0.000"
    );
    assert_eq!(
        err(&with("limits:\n  cpu: 5000\n")),
        "hello.qyv:4:8: limits.cpu: at most 1024 cores; got 5000"
    );
    assert_eq!(
        err(&with("limits:\n  cpu: [1]\n")),
        "hello.qyv:4:8: limits.cpu: expected a number of cores like 0.5, got a list"
    );
    assert_eq!(
        err(&with("scheduler:\n  weight: 0\n")),
        "hello.qyv:4:11: scheduler.weight: the CPU share: must be between 1 and 10000; got 0"
    );
    assert_eq!(
        err(&with("scheduler:\n  weight: 1.5\n")),
        "hello.qyv:4:11: scheduler.weight: expected a whole number, got 1.5"
    );
}

#[test]
fn limits() {
    let m = ok(&with(
        "limits:\n  memory: 67108864\n  timeout: 500ms\n  fuel: 5\n",
    ));
    assert_eq!(m.limits.memory, Some(64 << 20));
    assert_eq!(m.limits.timeout, Some(Duration::from_millis(500)));
    assert_eq!(
        ok(&with("limits: {memory: 64MB}\n")).limits.memory,
        Some(64_000_000)
    );
    assert_eq!(
        ok(&with("limits: {memory: 512kib}\n")).limits.memory,
        Some(512 << 10)
    );
    assert_eq!(
        err(&with("limits:\n  memory: 1KiB\n")),
        "hello.qyv:4:11: limits.memory: 1 KiB is less than one WebAssembly page (64 KiB); use at least 64KiB"
    );
    assert_eq!(
        err(&with("limits:\n  memory: 0\n")),
        "hello.qyv:4:11: limits.memory: must be more than 0; a WebAssembly memory needs at least one 64 KiB page, e.g. 64MiB"
    );
    assert_eq!(
        err(&with("limits:\n  memory: 12XB\n")),
        "hello.qyv:4:11: limits.memory: unknown unit \"XB\" in \"12XB\"; use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. 128MiB"
    );
    assert_eq!(
        err(&with("limits:\n  timeout: 30\n")),
        "hello.qyv:4:12: limits.timeout: \"30\" has no unit; add a unit, e.g. 30s (use ms, s, m or h, e.g. 500ms, 30s, 1.5s, 5m, 1h)"
    );
    assert_eq!(
        err(&with("limits:\n  timeout: 0s\n")),
        "hello.qyv:4:12: limits.timeout: must be more than 0, e.g. 30s"
    );
    assert_eq!(
        err(&with("limits:\n  fuel: 0\n")),
        "hello.qyv:4:9: limits.fuel: must be a positive whole number, or null for no budget; got 0"
    );
    assert_eq!(
        err(&with("limits:\n  fuel: -3\n")),
        "hello.qyv:4:9: limits.fuel: must be a positive whole number, or null for no budget; got -3"
    );
    assert_eq!(
        err(&with(
            "limits:\n  fuel: 99999999999999999999999999999999999999999\n"
        )),
        "hello.qyv:4:9: limits.fuel: 99999999999999999999999999999999999999999 is too large"
    );
    assert_eq!(
        err(&with("limits:\n  fuel: lots\n")),
        "hello.qyv:4:9: limits.fuel: expected a whole number, got \"lots\""
    );
}

#[test]
fn replicas() {
    assert_eq!(ok(&with("replicas: 1000\n")).replicas, Some(1000));
    assert_eq!(
        err(&with("replicas: 0\n")),
        "hello.qyv:3:11: replicas: must be between 1 and 1000; got 0"
    );
    assert_eq!(
        err(&with("replicas: 1001\n")),
        "hello.qyv:3:11: replicas: must be between 1 and 1000; got 1001"
    );
}

#[test]
fn net_rules_in_manifest() {
    let m = ok(&with("permissions:\n  net: true\n"));
    assert_eq!(m.permissions.net, NetPolicy::AllowAll);
    assert_eq!(
        err(&with(
            "permissions:\n  net:\n    - example.com:443\n    - example.com\n"
        )),
        "hello.qyv:6:7: permissions.net[1]: \"example.com\" has no port; add one, e.g. \"example.com:443\", or \"example.com:*\" for any port"
    );
    assert_eq!(
        err(&with("permissions:\n  net: [\"10.0.0.0/40\"]\n")),
        "hello.qyv:4:9: permissions.net[0]: \"40\" in \"10.0.0.0/40\" is not a prefix length; use 0 to 32"
    );
    assert_eq!(
        err(&with("permissions:\n  net: [8080]\n")),
        "hello.qyv:4:9: permissions.net[0]: \"8080\" has no host; write host:port, e.g. \"api.example.com:8080\""
    );
}

#[test]
fn mounts() {
    assert_eq!(
        err(&with(
            "permissions: {fs: read}\nfs:\n  - source: ./data\n    target: /data\n    mode: write\n"
        )),
        "hello.qyv:7:11: fs[0].mode: a write mount needs permissions.fs: write or full, but permissions.fs is read; set permissions.fs: write, or this mount's mode: read"
    );
    assert_eq!(
        err(&with(
            "fs:\n  - source: ./data\n    target: /data\n    mode: write\n"
        )),
        "hello.qyv:6:11: fs[0].mode: a write mount needs permissions.fs: write or full, but permissions.fs is none; set permissions.fs: write"
    );
    // Without `mode:`, the error points at the mount itself.
    assert_eq!(
        err(&with("fs:\n  - source: ./data\n    target: /data\n")),
        "hello.qyv:4:5: fs[0].mode: a read mount needs permissions.fs: read, write or full, but permissions.fs is none; set permissions.fs: read"
    );
    assert!(
        ok(&with(
            "permissions: {fs: full}\nfs:\n  - {source: a, target: /a, mode: write}\n"
        ))
        .mounts
        .len()
            == 1
    );
    assert_eq!(
        err(&with(
            "permissions: {fs: read}\nfs:\n  - {source: a, target: /data}\n  - {source: b, target: /data/}\n"
        )),
        "hello.qyv:6:25: fs[1].target: \"/data\" is already the target of fs[0] (line 5); each mount needs its own target"
    );
    assert_eq!(
        err(&with(
            "permissions: {fs: read}\nfs:\n  - {source: a, target: data}\n"
        )),
        "hello.qyv:5:25: fs[0].target: \"data\" is not absolute; a target starts with \"/\" (did you mean \"/data\"?)"
    );
    assert_eq!(
        err(&with(
            "permissions: {fs: read}\nfs:\n  - {source: a, target: /data/../etc}\n"
        )),
        "hello.qyv:5:25: fs[0].target: \"/data/../etc\" contains \"..\"; write the target without it"
    );
    assert_eq!(
        err(&with(
            "permissions: {fs: read}\nfs:\n  - {source: ' ', target: /a}\n"
        )),
        "hello.qyv:5:14: fs[0].source: empty path; use \".\" for the manifest's folder"
    );
    assert_eq!(
        ok(&with(
            "permissions: {fs: read}\nfs:\n  - {source: ., target: /}\n"
        ))
        .mounts[0]
            .target,
        "/"
    );
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    assert_eq!(
        err("name: hello\npermissions:\n\tfs: read\n"),
        "hello.qyv:3:2: invalid YAML: tabs disallowed within this context (block indentation); indent with spaces, not tabs"
    );
    assert_eq!(
        err("name: hello\n  entrypoint: a.wasm\n"),
        "hello.qyv:2:13: invalid YAML: mapping values are not allowed in this context"
    );
    assert_eq!(
        err("name: hello\nargs: [a, b\n"),
        "hello.qyv:3:1: invalid YAML: while parsing a flow sequence, expected ',' or ']'"
    );
    assert_eq!(
        err("name: \"hello\n"),
        "hello.qyv:1:7: invalid YAML: while scanning a quoted scalar, found unexpected end of stream"
    );
}

#[test]
fn duplicate_keys_name_both_lines() {
    assert_eq!(
        err("name: hello\nentrypoint: a.wasm\nname: other\n"),
        "hello.qyv:3:1: name: given twice, on lines 1 and 3; keep one"
    );
    assert_eq!(
        err(&with(
            "permissions:\n  fs: read\n  net: true\n  fs: write\n"
        )),
        "hello.qyv:6:3: permissions.fs: given twice, on lines 4 and 6; keep one"
    );
    assert_eq!(
        err(&with("fs:\n  - {source: a, source: b}\n")),
        "hello.qyv:4:17: fs[0].source: given twice, on lines 4 and 4; keep one"
    );
}

#[test]
fn anchors_and_aliases() {
    let m = ok(
        "name: hello\nentrypoint: a.wasm\nargs: &common [--verbose, --color]\nenv:\n  ARGS: &v shared\n  OTHER: *v\n",
    );
    assert_eq!(m.env[1].1, "shared");
    assert_eq!(
        err("name: &n hello\nentrypoint: a.wasm\nargs: *n\n"),
        "hello.qyv:3:7: args: expected a list of strings, got \"hello\""
    );
    assert_eq!(
        err("name: hello\nentrypoint: a.wasm\nargs: *nothing\n"),
        "hello.qyv:3:7: invalid YAML: while parsing node, found unknown anchor"
    );
    assert_eq!(
        err("name: hello\nentrypoint: a.wasm\nargs: &a [*a]\n"),
        "hello.qyv:3:11: args[0]: this alias refers to the value that contains it; a manifest cannot be recursive"
    );
}

#[test]
fn empty_and_non_mapping_documents() {
    let empty = "hello.qyv: the manifest is empty; it needs at least a name and an entrypoint; e.g. \"name: hello\" and \"entrypoint: hello.wasm\"";
    assert_eq!(err(""), empty);
    assert_eq!(err("# nothing here\n\n"), empty);
    assert_eq!(err("---\n"), empty);
    assert_eq!(err("~\n"), empty);
    assert_eq!(
        err("- name: hello\n"),
        "hello.qyv:1:1: expected a mapping of fields at the top level (name: ..., entrypoint: ...), got a list"
    );
    assert_eq!(
        err("hello\n"),
        "hello.qyv:1:1: expected a mapping of fields at the top level (name: ..., entrypoint: ...), got \"hello\""
    );
    assert_eq!(
        err("name: a\nentrypoint: a.wasm\n---\nname: b\n"),
        "hello.qyv:3:1: a second YAML document starts here; a .qyv file holds one document, remove the extra \"---\""
    );
    assert_eq!(
        err("name: !custom a\nentrypoint: a.wasm\n"),
        "hello.qyv:1:7: name: YAML tag !custom is not supported in a manifest; remove it"
    );
}

#[test]
fn bytes_must_be_utf8() {
    let parse = |bytes: &[u8]| {
        Manifest::parse_bytes(bytes, Path::new("hello.qyv"), Path::new("/x"))
            .map_err(|e| (e.kind, e.to_string()))
    };
    assert_eq!(
        parse(b"name: hello\nentrypoint: caf\xe9.wasm\n").unwrap_err(),
        (
            ErrorKind::Encoding,
            "hello.qyv:2:16: not UTF-8 text (byte 0xe9); save the file as UTF-8".to_string()
        )
    );
    assert_eq!(
        parse(b"\xff\xfen\x00a\x00").unwrap_err().1,
        "hello.qyv: the file is UTF-16 text; save it as UTF-8"
    );
    assert_eq!(parse(b"").unwrap_err().0, ErrorKind::Empty);
    // A UTF-8 byte order mark is fine.
    assert_eq!(
        parse(b"\xef\xbb\xbfname: hi\nentrypoint: a.wasm\n")
            .unwrap()
            .name,
        "hi"
    );
}

#[test]
fn error_fields_are_exposed() {
    let e = parse("name: hello\nentrypoint: a.wasm\npermissions:\n  fs: reed\n").unwrap_err();
    assert_eq!(e.file, Path::new("hello.qyv"));
    assert_eq!((e.line, e.column), (Some(4), Some(7)));
    assert_eq!(e.field.as_deref(), Some("permissions.fs"));
    assert_eq!(
        e.message,
        "expected one of none, read, write, full; got \"reed\""
    );
    assert_eq!(e.suggestion.as_deref(), Some("read"));
    assert_eq!(e.kind, ErrorKind::Value);
}

/// No input may panic. A cheap deterministic fuzz: mutate the example byte
/// by byte and parse each result.
#[test]
fn mutated_inputs_never_panic() {
    let seed = REFERENCE_EXAMPLE.replace("  fs: none  ", "  fs: read  ")
        + "replicas: 3\nscheduler: {strategy: pack}\n";
    let alphabet = b" \t\n:-[]{},&*!|>'\"#?%@`0123456789abcxyz/.\\~";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // QYV_FUZZ_ITERATIONS=1000000 for a longer run by hand.
    let iterations = std::env::var("QYV_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    for _ in 0..iterations {
        let mut bytes = seed.clone().into_bytes();
        for _ in 0..(next() % 6 + 1) {
            let at = (next() as usize) % bytes.len();
            let byte = alphabet[(next() as usize) % alphabet.len()];
            match next() % 3 {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        let _ = Manifest::parse_bytes(&bytes, Path::new("fuzz.qyv"), Path::new("/x"));
    }
}

#[test]
fn build_section_and_component() {
    let m = ok(&with(
        "component: true\nbuild:\n  command: make app.wasm\n  workdir: src\n  watch: [\"**/*.c\", Makefile]\n",
    ));
    assert!(m.component);
    let build = m.build.as_ref().unwrap();
    assert_eq!(build.command, "make app.wasm");
    assert_eq!(build.workdir.as_deref(), Some(Path::new("src")));
    assert_eq!(build.watch, ["**/*.c", "Makefile"]);
    assert_eq!(m.build_dir(), Path::new("/apps/hello/src"));
    assert_eq!(m.location("build.watch[1]"), Some((7, 21)));

    let m = ok(&with("build: {command: cargo build, watch: src/*.rs}\n"));
    assert_eq!(m.build.as_ref().unwrap().watch, ["src/*.rs"]);
    assert_eq!(m.build_dir(), Path::new("/apps/hello"));
    assert!(!m.component);
    assert!(ok(BASE).build.is_none());
}

#[test]
fn bad_build_sections() {
    assert_eq!(
        err(&with("build: {workdir: src}\n")),
        "hello.qyv:3:8: build.command: missing; add the command that builds the entrypoint, e.g. \"command: make\""
    );
    assert_eq!(
        err(&with("build: {command: \"  \"}\n")),
        "hello.qyv:3:18: build.command: empty command; write the command that builds the entrypoint"
    );
    assert_eq!(
        err(&with("build: {command: make, workdir: ../elsewhere}\n")),
        "hello.qyv:3:33: build.workdir: \"../elsewhere\" leaves the app's folder; write a folder relative to the manifest, without \"..\""
    );
    assert_eq!(
        err(&with("build: {command: make, watch: [\"/etc/*\"]}\n")),
        "hello.qyv:3:32: build.watch[0]: \"/etc/*\" leaves the build folder; patterns are relative to build.workdir, without \"..\""
    );
    assert_eq!(
        err(&with("build: {comand: make}\n")),
        "hello.qyv:3:9: build: unknown field \"comand\" (did you mean \"command\"?); allowed here: command, workdir, watch"
    );
    assert_eq!(
        err(&with("build: make\n")),
        "hello.qyv:3:8: build: expected a mapping like {command: \"make\", workdir: ., watch: [\"src/*.c\"]}, got \"make\""
    );
    assert_eq!(
        err(&with("component: yes\n")),
        "hello.qyv:3:12: component: expected true or false, got \"yes\"; YAML 1.2 reads only true and false as booleans"
    );
}

#[test]
fn restart_is_for_services() {
    let m = ok(&with("type: service\n"));
    assert_eq!(m.restart, None);
    assert_eq!(m.restart_policy(), crate::Restart::Always);
    let m = ok(&with("type: service\nrestart: on-failure\n"));
    assert_eq!(m.restart_policy(), crate::Restart::OnFailure);
    assert_eq!(ok(BASE).restart_policy(), crate::Restart::Never);
    assert_eq!(
        err(&with("type: service\nrestart: sometimes\n")),
        "hello.qyv:4:10: restart: expected one of always, on-failure, never; got \"sometimes\""
    );
    assert_eq!(
        err(&with("restart: always\n")),
        "hello.qyv:3:10: restart: restart applies to type: service apps, and this app is type: command; add \"type: service\", or remove restart"
    );
}

#[test]
fn http_section() {
    let m = ok(&with("type: http\n"));
    assert_eq!(m.http, None);
    assert_eq!(m.http_settings(), crate::Http::default());
    assert_eq!(m.http_settings().route, "/");
    assert!(m.unsupported().is_empty());

    let m = ok(&with(
        "type: http\nhttp:\n  route: /api/v1/\n  reuse: 100\n  concurrency: 4\n  queue: 0\n",
    ));
    let http = m.http.unwrap();
    assert_eq!(http.route, "/api/v1");
    assert_eq!((http.reuse, http.concurrency, http.queue), (100, 4, 0));
    assert_eq!(
        ok(&with("type: http\nhttp: {route: //a//b}\n"))
            .http_settings()
            .route,
        "/a/b"
    );

    assert_eq!(
        err(&with("type: http\nhttp:\n  route: api\n")),
        "hello.qyv:5:10: http.route: \"api\" is not a path; a route starts with \"/\" (did you mean \"/api\"?)"
    );
    assert_eq!(
        err(&with("type: http\nhttp:\n  route: /a?b=1\n")),
        "hello.qyv:5:10: http.route: \"/a?b=1\" contains '?'; a route is a URL path prefix (letters, digits, - . _ ~ and /), without query or fragment"
    );
    assert!(err(&with("type: http\nhttp: {route: /a/../b}\n")).contains("\"..\""));
    assert_eq!(
        err(&with("type: http\nhttp:\n  reuse: 0\n")),
        "hello.qyv:5:10: http.reuse: requests per instance: must be between 1 and 4294967295; got 0"
    );
    assert_eq!(
        err(&with("type: http\nhttp:\n  concurrency: 5000\n")),
        "hello.qyv:5:16: http.concurrency: instances at once: must be between 1 and 1000; got 5000"
    );
    assert!(
        err(&with("type: http\nhttp: {queue: -1}\n"))
            .contains("http.queue: waiting requests: must be between 0 and 100000; got -1")
    );
    assert!(
        err(&with("type: http\nhttp: {reuse: many}\n"))
            .contains("http.reuse: expected a whole number")
    );
    assert_eq!(
        err(&with("type: http\nhttp:\n  rout: /\n")),
        "hello.qyv:5:3: http: unknown field \"rout\" (did you mean \"route\"?); allowed here: route, reuse, concurrency, queue, health"
    );
    let e = parse(&with("http:\n  route: /api\n")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        "hello.qyv:4:3: http: the http section applies to type: http apps, and this app is type: command; add \"type: http\", or remove the http section"
    );
}

/// The model serializes in the manifest's own shape, one key per field,
/// and the tables say which fields the decoder and the schema know: a field
/// added to one and not the other fails here.
#[test]
fn http_health_is_a_path() {
    let m = ok(&with("type: http\nhttp: {route: /api, health: /healthz}\n"));
    assert_eq!(m.http_settings().health.as_deref(), Some("/healthz"));
    assert_eq!(ok(&with("type: http\n")).http_settings().health, None);
    assert!(err(&with("type: http\nhttp: {health: healthz}\n")).contains("http.health"));
}

#[test]
fn rollout_settings_and_their_bounds() {
    let m = ok(&with(
        "rollout: {max_unavailable: 0, max_surge: 2, healthy_for: 500ms}\n",
    ));
    let r = m.rollout.unwrap();
    assert_eq!((r.max_unavailable, r.max_surge), (0, 2));
    assert_eq!(r.healthy_for, std::time::Duration::from_millis(500));
    assert_eq!(
        ok(&with("rollout: {}\n")).rollout,
        Some(crate::Rollout::default())
    );
    assert_eq!(
        err(&with("rollout:\n  max_unavailable: 0\n  max_surge: 0\n")),
        "hello.qyv:4:3: rollout: max_unavailable and max_surge are both 0: no replica could ever be replaced; allow at least one of them (max_surge: 1 keeps every old replica until its new one is healthy)"
    );
    assert_eq!(
        err(&with("rollout: {healthy_for: -5s}\n")),
        "hello.qyv:3:24: rollout.healthy_for: \"-5s\" is negative; a duration is 0 or more"
    );
    assert_eq!(
        err(&with("rollout: {max_surge: -1}\n")),
        "hello.qyv:3:22: rollout.max_surge: extra replicas: must be between 0 and 1000; got -1"
    );
}

#[test]
fn the_tables_name_every_field_of_the_model() {
    use super::access::{MOUNT, PERMISSIONS};
    use super::build::BUILD;
    use super::running::{HTTP, LIMITS, ROLLOUT, SCHEDULER};
    use super::{MANIFEST, Section};
    use crate::{Build, Http, Limits, Mount, Permissions, Rollout, Scheduler};

    fn keys(value: impl serde::Serialize) -> Vec<String> {
        let value = serde_json::to_value(value).unwrap();
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }
    fn names<T>(section: &Section<T>) -> Vec<String> {
        let mut names: Vec<String> = section.names().iter().map(|n| n.to_string()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), section.fields.len(), "a name twice");
        names
    }
    let mount = Mount {
        source: "a".into(),
        target: "/a".into(),
        mode: MountMode::Read,
        kind: MountKind::Memfs,
        size: Some(1 << 20),
    };
    let build = Build {
        command: "make".into(),
        workdir: None,
        watch: Vec::new(),
    };
    for (model, table) in [
        (keys(ok(BASE)), names(&MANIFEST)),
        (keys(Permissions::default()), names(&PERMISSIONS)),
        (keys(mount), names(&MOUNT)),
        (keys(Limits::default()), names(&LIMITS)),
        (keys(Http::default()), names(&HTTP)),
        (keys(Scheduler::default()), names(&SCHEDULER)),
        (keys(Rollout::default()), names(&ROLLOUT)),
        (keys(build), names(&BUILD)),
    ] {
        assert_eq!(model, table);
    }
}

#[test]
fn exec_takes_a_boolean_or_a_list_of_paths() {
    use crate::ExecPolicy;
    let m = ok(&with(
        "permissions:\n  exec: [/bin/tool.wasm, /apps/*]\nlimits: {processes: 8}\n",
    ));
    assert_eq!(
        m.permissions.exec,
        ExecPolicy::Allow(vec!["/bin/tool.wasm".into(), "/apps/*".into()])
    );
    assert!(m.permissions.exec.allows("/bin/tool.wasm"));
    assert!(m.permissions.exec.allows("/apps/x/y.wasm"));
    assert!(!m.permissions.exec.allows("/bin/other.wasm"));
    assert!(!m.permissions.exec.allows("/apps"));
    assert_eq!(m.limits.processes, Some(8));
    assert_eq!(ok(BASE).limits.processes, None);
    assert_eq!(
        err(&with("permissions:\n  exec: [tool]\n")),
        "hello.qyv:4:10: permissions.exec[0]: \"tool\" is not a path as the app sees it; give an absolute path without . or .. like \"/bin/tool.wasm\", or a folder's \"/bin/*\" (names of installed apps and hub references are not supported yet)"
    );
    assert_eq!(
        err(&with("permissions:\n  exec: [\"/bin/*.wasm\"]\n")),
        "hello.qyv:4:10: permissions.exec[0]: \"/bin/*.wasm\": * is allowed only as a whole last component, as in \"/bin/*\""
    );
    assert_eq!(
        err(&with("limits: {processes: 0}\n")),
        "hello.qyv:3:21: limits.processes: children running at once: must be between 1 and 4096; got 0"
    );
}

#[test]
fn a_child_may_ask_for_no_more_exec_than_its_parent() {
    use crate::ExecPolicy::{Allow, AllowAll, Deny};
    let list = |v: &[&str]| Allow(v.iter().map(|s| s.to_string()).collect());
    assert!(AllowAll.covers(&AllowAll));
    assert!(Deny.covers(&Deny));
    assert!(!Deny.covers(&list(&["/a"])));
    assert!(!list(&["/a/*"]).covers(&AllowAll));
    assert!(list(&["/a/*"]).covers(&list(&["/a/b.wasm", "/a/c/*"])));
    assert!(list(&["/a/*"]).covers(&list(&["/a/*"])));
    assert!(!list(&["/a/b.wasm"]).covers(&list(&["/a/*"])));
    assert!(!list(&["/a/*"]).covers(&list(&["/b.wasm"])));
}
