//! A JSON Schema (draft 2020-12) of the manifest, for editors: with it,
//! VS Code and others complete and check `.qyv` files as they are typed.
//!
//! Field names come from [`crate::fields`] and keyword values from the model's
//! enums, so the schema says what the decoder accepts. Some rules only the
//! decoder can check (a mount no wider than `permissions.fs`, network rule
//! syntax in full); the schema describes them in words.

use serde_json::{Map, Value, json};

use crate::fields;
use crate::model::{AppType, FsAccess, Http, MountKind, MountMode, Restart, Runtime, Strategy};

const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9-]*$";
const SEMVER_PATTERN: &str = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-((0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?$";
const SIZE_PATTERN: &str = r"^\s*[0-9]+(\.[0-9]+)?\s*([bB]|[kKmMgGtT][iI]?[bB])?\s*$";
const DURATION_PATTERN: &str = r"^\s*([0-9]+(\.[0-9]+)?\s*(ns|us|µs|ms|s|m|h)\s*)+$";

/// Keyword names with aliases appended (aliases stay valid for editors but
/// are not offered first).
fn with_aliases<T>(names: &[&str], aliases: &[(&str, T)]) -> Vec<String> {
    names
        .iter()
        .copied()
        .chain(aliases.iter().map(|(alias, _)| *alias))
        .map(String::from)
        .collect()
}

/// A closed object (`additionalProperties: false`): the tests check its
/// property names against the section's list in `fields`.
fn object(description: &str, properties: Vec<(&str, Value)>, required: &[&str]) -> Value {
    let mut props = Map::new();
    for (name, schema) in properties {
        props.insert(name.to_string(), schema);
    }
    let mut object = json!({
        "type": "object",
        "description": description,
        "properties": props,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        object["required"] = json!(required);
    }
    object
}

/// The manifest's JSON Schema.
pub fn json_schema() -> Value {
    let permissions = object(
        "What the app may touch. Everything is denied unless granted here.",
        vec![
            (
                "fs",
                json!({
                    "description": "Host file system access. Without `fs` mounts, read mounts the manifest's folder at / read-only; write needs `fs` mounts (an app may not write its own manifest or code); full gives the whole host file system (development only). Mounts may not be wider.",
                    "enum": with_aliases(FsAccess::NAMES, FsAccess::ALIASES),
                    "default": "none",
                }),
            ),
            (
                "net",
                json!({
                    "description": "Network access: false (none), true (any host), or a list of allowed destinations.",
                    "default": false,
                    "oneOf": [
                        {"type": "boolean"},
                        {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "description": "host:port, host:* (any port), [IPv6]:port, an IP address alone (any port) or a CIDR range such as 10.0.0.0/8 or fd00::/8 (any port). A host may start with *. to match every name below a domain. Ports are 1 to 65535.",
                                "minLength": 1,
                            },
                        },
                    ],
                }),
            ),
            (
                "exec",
                json!({"type": "boolean", "default": false, "description": "Starting host processes (not supported yet by qyv run)."}),
            ),
            (
                "ai",
                json!({"type": "boolean", "default": false, "description": "AI inference (not supported yet by qyv run)."}),
            ),
            (
                "gfx",
                json!({"type": "boolean", "default": false, "description": "Graphics (not supported yet by qyv run)."}),
            ),
        ],
        &[],
    );

    let mount = object(
        "A folder (or other file system) made visible to the app.",
        vec![
            (
                "source",
                json!({"type": "string", "minLength": 1, "description": "Host path, relative to the manifest's folder (or absolute)."}),
            ),
            (
                "target",
                json!({"type": "string", "pattern": "^/", "description": "Absolute path where the app sees it, e.g. /data; no .. component."}),
            ),
            (
                "mode",
                json!({
                    "description": "Access through this mount; never wider than permissions.fs.",
                    "enum": with_aliases(MountMode::NAMES, MountMode::ALIASES),
                    "default": "read",
                }),
            ),
            (
                "type",
                json!({
                    "description": "What backs the mount: a host directory, an in-memory file system or a network file system (memfs and netfs are not supported yet by qyv run).",
                    "enum": MountKind::NAMES,
                    "default": "dir",
                }),
            ),
        ],
        &["source", "target"],
    );

    let limits = object(
        "Resource limits; unset limits use the runtime's defaults.",
        vec![
            (
                "memory",
                json!({
                    "description": "Most memory, linear memories and tables together: a number of bytes, or a size such as 128MiB, 64MB, 1GiB, 512KiB (KB, MB, GB are powers of 1000; KiB, MiB, GiB powers of 1024). At least 64KiB, one WebAssembly page.",
                    "anyOf": [
                        {"type": "integer", "minimum": crate::units::WASM_PAGE_SIZE},
                        {"type": "string", "pattern": SIZE_PATTERN},
                    ],
                }),
            ),
            (
                "timeout",
                json!({
                    "description": "Longest run time, with a unit: 500ms, 30s, 1.5s, 5m, 1h.",
                    "type": "string",
                    "pattern": DURATION_PATTERN,
                }),
            ),
            (
                "fuel",
                json!({
                    "description": "Instruction budget (Wasmtime fuel); null for none.",
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "default": null,
                }),
            ),
        ],
        &[],
    );

    let http = object(
        "How an HTTP app (type: http) is served by qyv serve.",
        vec![
            (
                "route",
                json!({"type": "string", "pattern": "^/", "default": "/", "description": "URL path prefix this app answers, e.g. /api; among apps served together the longest matching prefix wins."}),
            ),
            (
                "reuse",
                json!({"type": "integer", "minimum": 1, "default": 1, "description": "Requests one instance serves before it is dropped. 1 gives every request a fresh instance (full isolation); more is faster for stateless apps but lets one request see what an earlier one left in memory."}),
            ),
            (
                "concurrency",
                json!({"type": "integer", "minimum": 1, "maximum": fields::MAX_HTTP_CONCURRENCY, "default": Http::DEFAULT_CONCURRENCY, "description": "Instances of this app running at once; further requests wait in the queue."}),
            ),
            (
                "queue",
                json!({"type": "integer", "minimum": 0, "maximum": fields::MAX_HTTP_QUEUE, "default": Http::DEFAULT_QUEUE, "description": "Requests that may wait for an instance; when the queue is full, requests are answered 503."}),
            ),
        ],
        &[],
    );

    let scheduler = object(
        "Placement of replicas in a cluster (used by cluster deploys only).",
        vec![
            (
                "strategy",
                json!({
                    "description": "spread: replicas on the nodes with the most free memory; pack: on the fullest node that fits. A node runs at most one replica of an app.",
                    "enum": Strategy::NAMES,
                    "default": "spread",
                }),
            ),
            (
                "constraints",
                json!({
                    "description": "Labels (KEY=VALUE) a node must carry to get a replica, as given by qyv daemon --label.",
                    "type": "array",
                    "items": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,63}=[A-Za-z0-9._-]{1,63}$" },
                }),
            ),
        ],
        &[],
    );

    let build = object(
        "How `qyv build` makes the entrypoint, in the style of Spin's build section.",
        vec![
            (
                "command",
                json!({"type": "string", "minLength": 1, "description": "Shell command (run by sh -c) that writes the entrypoint."}),
            ),
            (
                "workdir",
                json!({"type": "string", "minLength": 1, "description": "Folder the command runs in, relative to this file, without ..; default: this file's folder."}),
            ),
            (
                "watch",
                json!({
                    "description": "Glob patterns (*, ?, **) of the source files, relative to workdir: the entrypoint is rebuilt only when one is newer, and `qyv build --watch` rebuilds when one changes.",
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "array", "items": {"type": "string", "minLength": 1}},
                    ],
                }),
            ),
        ],
        &["command"],
    );

    let mut root = object(
        "A Qyvol app: a WebAssembly program and what it may touch.",
        vec![
            (
                "name",
                json!({
                    "type": "string",
                    "pattern": NAME_PATTERN,
                    "maxLength": fields::MAX_NAME_LEN,
                    "description": "App name: lowercase letters, digits and -, not starting with -, at most 63 characters.",
                }),
            ),
            (
                "version",
                json!({"type": "string", "pattern": SEMVER_PATTERN, "description": "App version, semantic (MAJOR.MINOR.PATCH, optional -pre and +build)."}),
            ),
            (
                "manifest_version",
                json!({"type": "integer", "const": fields::MANIFEST_VERSION, "default": fields::MANIFEST_VERSION, "description": "Version of this manifest format."}),
            ),
            (
                "entrypoint",
                json!({"type": "string", "minLength": 1, "description": "Path of the .wasm file (module or component), relative to this file."}),
            ),
            (
                "runtime",
                json!({"enum": Runtime::NAMES, "default": "wasi", "description": "How the module runs; WASI preview 1 modules and preview 2 components are detected."}),
            ),
            (
                "type",
                json!({"enum": AppType::NAMES, "default": "command", "description": "Kind of app: command runs to completion (qyv run); http serves requests (qyv serve); service runs in the background; gui has a window (service and gui are not supported yet)."}),
            ),
            (
                "language",
                json!({"type": "string", "description": "Source language, informational."}),
            ),
            (
                "args",
                json!({
                    "type": "array",
                    "items": {"type": ["string", "number", "boolean"]},
                    "description": "Arguments put before those given on the command line.",
                }),
            ),
            (
                "env",
                json!({
                    "type": "object",
                    "propertyNames": {"pattern": "^[^=\\u0000]+$"},
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Environment variables, NAME: value.",
                }),
            ),
            ("permissions", permissions),
            (
                "fs",
                json!({
                    "type": "array",
                    "items": mount,
                    "description": "Mounts. Without any, permissions.fs read mounts the manifest's folder at / read-only. A read-write mount may not hold the app's manifest or code.",
                }),
            ),
            ("limits", limits),
            ("http", http),
            (
                "restart",
                json!({"enum": Restart::NAMES, "default": "always", "description": "For type: service on a node: start it again when it ends (always), only when it failed (on-failure), or never."}),
            ),
            (
                "replicas",
                json!({"type": "integer", "minimum": 1, "maximum": fields::MAX_REPLICAS, "description": "Number of copies in a cluster (used by cluster deploys only)."}),
            ),
            ("scheduler", scheduler),
            ("build", build),
            (
                "component",
                json!({"type": "boolean", "default": false, "description": "The entrypoint is a WASI 0.2 component: `qyv build` turns a preview-1 module into one with Wasmtime's adapter."}),
            ),
        ],
        &["name", "entrypoint"],
    );
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["title"] = json!("Qyvol manifest (.qyv)");
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(value: &Value) -> Vec<String> {
        value["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect()
    }

    fn section<'a>(schema: &'a Value, path: &str) -> &'a Value {
        match path {
            "" => schema,
            "fs[]" => &schema["properties"]["fs"]["items"],
            name => &schema["properties"][name],
        }
    }

    #[test]
    fn properties_match_the_decoder_fields() {
        let schema = json_schema();
        for (path, names) in fields::SECTIONS {
            let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            expected.sort();
            let mut actual = keys(section(&schema, path));
            actual.sort();
            assert_eq!(actual, expected, "section {path:?}");
            assert_eq!(section(&schema, path)["additionalProperties"], json!(false));
        }
    }

    #[test]
    fn every_property_has_a_description() {
        fn walk(value: &Value, path: &str) {
            if let Some(props) = value.get("properties").and_then(Value::as_object) {
                for (name, schema) in props {
                    assert!(
                        schema
                            .get("description")
                            .and_then(Value::as_str)
                            .is_some_and(|d| !d.is_empty()),
                        "{path}.{name} has no description"
                    );
                    walk(schema, &format!("{path}.{name}"));
                    if let Some(items) = schema.get("items") {
                        walk(items, &format!("{path}.{name}[]"));
                    }
                }
            }
        }
        walk(&json_schema(), "");
    }

    #[test]
    fn schema_header_and_enums() {
        let schema = json_schema();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["required"], json!(["name", "entrypoint"]));
        assert_eq!(
            schema["properties"]["permissions"]["properties"]["fs"]["enum"],
            json!(["none", "read", "write", "full", "read-only", "read-write"])
        );
        assert_eq!(
            schema["properties"]["type"]["enum"],
            json!(["command", "http", "service", "gui"])
        );
        assert_eq!(
            schema["properties"]["fs"]["items"]["required"],
            json!(["source", "target"])
        );
    }
}
