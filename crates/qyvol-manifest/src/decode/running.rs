//! How the app is run: `limits:`, HTTP serving (`http:`), and cluster
//! placement (`replicas:`, `scheduler:`), with the rules that tie `restart:`
//! and `http:` to the app's type.

use std::time::Duration;

use serde_json::json;

use super::{Decoder, Field, Result, Section};
use crate::error::{ErrorKind, ManifestError};
use crate::fields::{MAX_HTTP_CONCURRENCY, MAX_HTTP_QUEUE, MAX_REPLICAS};
use crate::model::{AppType, Http, Limits, Manifest, Rollout, Scheduler, Strategy};
use crate::schema::{DURATION_PATTERN, SIZE_PATTERN};
use crate::units::{self, MAX_CPU_CORES, WASM_PAGE_SIZE};
use crate::yaml::{Node, Value};

/// `limits:`.
pub(super) const LIMITS: Section<Limits> = Section {
    description: "Resource limits; unset limits use the runtime's defaults.",
    expected: "a mapping",
    fields: &[
        Field {
            name: "memory",
            required: None,
            decode: |d, node, path, l| {
                l.memory = Some(d.memory(node, path)?);
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Most memory, linear memories and tables together: a number of bytes, or a size such as 128MiB, 64MB, 1GiB, 512KiB (KB, MB, GB are powers of 1000; KiB, MiB, GiB powers of 1024). At least 64KiB, one WebAssembly page.",
                    "anyOf": [
                        {"type": "integer", "minimum": WASM_PAGE_SIZE},
                        {"type": "string", "pattern": SIZE_PATTERN},
                    ],
                })
            },
        },
        Field {
            name: "timeout",
            required: None,
            decode: |d, node, path, l| {
                l.timeout = Some(d.timeout(node, path)?);
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Longest run time, with a unit: 500ms, 30s, 1.5s, 5m, 1h.",
                    "type": "string",
                    "pattern": DURATION_PATTERN,
                })
            },
        },
        Field {
            name: "fuel",
            required: None,
            decode: |d, node, path, l| {
                l.fuel = Some(d.fuel(node, path)?);
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Instruction budget (Wasmtime fuel); null for none.",
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "default": null,
                })
            },
        },
        Field {
            name: "cpu",
            required: None,
            decode: |d, node, path, l| {
                l.cpu_millicores = Some(d.cpu(node, path)?);
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Most CPU the app uses on a node, in cores, even when the node is idle: 0.5 is half a core, 2 two cores, 250m a quarter. Unset: no cap (under contention apps share by scheduler.weight).",
                    "anyOf": [
                        {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CPU_CORES},
                        {"type": "string", "pattern": "^[0-9]+m$"},
                    ],
                })
            },
        },
        Field {
            name: "processes",
            required: None,
            decode: |d, node, path, l| {
                l.processes = Some(d.bounded(
                    node,
                    path,
                    1,
                    Limits::MAX_PROCESSES,
                    "children running at once",
                )?);
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Most children started through permissions.exec running at once, their own children included.",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": Limits::MAX_PROCESSES,
                    "default": Limits::DEFAULT_PROCESSES,
                })
            },
        },
    ],
};

/// `http:`, for apps of `type: http`.
pub(super) const HTTP: Section<Http> = Section {
    description: "How an HTTP app (type: http) is served.",
    expected: "a mapping like {route: /api, reuse: 1}",
    fields: &[
        Field {
            name: "route",
            required: None,
            decode: |d, node, path, h| {
                h.route = d.route(node, path)?;
                Ok(())
            },
            schema: || json!({"type": "string", "pattern": "^/", "default": "/", "description": "URL path prefix this app answers, e.g. /api; among apps served together the longest matching prefix wins."}),
        },
        Field {
            name: "reuse",
            required: None,
            decode: |d, node, path, h| {
                h.reuse = d.bounded(node, path, 1, u32::MAX, "requests per instance")?;
                Ok(())
            },
            schema: || json!({"type": "integer", "minimum": 1, "default": 1, "description": "Requests one instance serves before it is dropped. 1 gives every request a fresh instance (full isolation); more is faster for stateless apps but lets one request see what an earlier one left in memory."}),
        },
        Field {
            name: "concurrency",
            required: None,
            decode: |d, node, path, h| {
                h.concurrency =
                    d.bounded(node, path, 1, MAX_HTTP_CONCURRENCY, "instances at once")?;
                Ok(())
            },
            schema: || json!({"type": "integer", "minimum": 1, "maximum": MAX_HTTP_CONCURRENCY, "default": Http::DEFAULT_CONCURRENCY, "description": "Instances of this app running at once; further requests wait in the queue."}),
        },
        Field {
            name: "queue",
            required: None,
            decode: |d, node, path, h| {
                h.queue = d.bounded(node, path, 0, MAX_HTTP_QUEUE, "waiting requests")?;
                Ok(())
            },
            schema: || json!({"type": "integer", "minimum": 0, "maximum": MAX_HTTP_QUEUE, "default": Http::DEFAULT_QUEUE, "description": "Requests that may wait for an instance; when the queue is full, requests are answered 503."}),
        },
        Field {
            name: "health",
            required: None,
            decode: |d, node, path, h| {
                h.health = Some(d.route(node, path)?);
                Ok(())
            },
            schema: || json!({"type": "string", "pattern": "^/", "description": "Path a cluster's rollout GETs (below 500: healthy) before a new replica counts as healthy. Default: the route."}),
        },
    ],
};

/// `scheduler:`, for cluster deploys.
pub(super) const SCHEDULER: Section<Scheduler> = Section {
    description: "Placement of replicas in a cluster (strategy, constraints: used by cluster deploys) and the app's CPU share on a node (weight).",
    expected: "a mapping like {strategy: spread}",
    fields: &[
        Field {
            name: "strategy",
            required: None,
            decode: |d, node, path, s| {
                s.strategy = d.keyword(node, path, Strategy::NAMES, Strategy::from_name)?;
                Ok(())
            },
            schema: || {
                json!({
                    "description": "spread: replicas on the nodes with the most free memory; pack: on the fullest node that fits. A node runs at most one replica of an app.",
                    "enum": Strategy::NAMES,
                    "default": "spread",
                })
            },
        },
        Field {
            name: "constraints",
            required: None,
            decode: |d, node, path, s| {
                s.constraints = d.constraints(node, path)?;
                Ok(())
            },
            schema: || {
                json!({
                    "description": "Labels (KEY=VALUE) a node must carry to get a replica, as a node is given them when it starts.",
                    "type": "array",
                    "items": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,63}=[A-Za-z0-9._-]{1,63}$" },
                })
            },
        },
        Field {
            name: "weight",
            required: None,
            decode: |d, node, path, s| {
                s.weight = Some(d.bounded(node, path, 1, MAX_WEIGHT, "the CPU share")?);
                Ok(())
            },
            schema: || {
                json!({
                    "description": "The app's share of a node's CPU when apps compete for it, against the other apps' weights: an app of weight 3 gets three times the CPU of one of weight 1. Measured CPU time, shared at every 10 ms slice.",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_WEIGHT,
                    "default": 1,
                })
            },
        },
    ],
};

/// `rollout:`, for cluster deploys of a new revision.
pub(super) const ROLLOUT: Section<Rollout> = Section {
    description: "How a cluster replaces the replicas of a running revision with a new one: a few at a time, each new replica healthy before the next old one stops; a new revision that fails is rolled back everywhere.",
    expected: "a mapping like {max_unavailable: 1, max_surge: 1, healthy_for: 5s}",
    fields: &[
        Field {
            name: "max_unavailable",
            required: None,
            decode: |d, node, path, r| {
                r.max_unavailable =
                    d.bounded(node, path, 0, MAX_REPLICAS, "replicas down at once")?;
                Ok(())
            },
            schema: || json!({"type": "integer", "minimum": 0, "maximum": MAX_REPLICAS, "default": 1, "description": "Replicas that may be down at once during an update (old ones stopped, new ones not yet healthy)."}),
        },
        Field {
            name: "max_surge",
            required: None,
            decode: |d, node, path, r| {
                r.max_surge = d.bounded(node, path, 0, MAX_REPLICAS, "extra replicas")?;
                Ok(())
            },
            schema: || json!({"type": "integer", "minimum": 0, "maximum": MAX_REPLICAS, "default": 1, "description": "New replicas that may start above replicas during an update, on nodes that hold none of the app."}),
        },
        Field {
            name: "healthy_for",
            required: None,
            decode: |d, node, path, r| {
                let text = d.text(node, path, "a duration like 5s")?;
                let healthy_for = units::parse_duration(text)
                    .map_err(|message| d.invalid(node, path, message))?;
                if healthy_for > MAX_HEALTHY_FOR {
                    return Err(d.invalid(node, path, format!("must be at most 1h; got {text}")));
                }
                r.healthy_for = healthy_for;
                Ok(())
            },
            schema: || json!({"type": "string", "pattern": DURATION_PATTERN, "default": "5s", "description": "How long a new replica must run (an HTTP one: and answer) before it counts as healthy and the next old one stops."}),
        },
    ],
};

/// Longest `rollout.healthy_for`.
const MAX_HEALTHY_FOR: Duration = Duration::from_secs(3600);

/// Most `scheduler.weight`.
const MAX_WEIGHT: u32 = 10_000;

impl Decoder<'_> {
    /// `scheduler.constraints`: labels as `KEY=VALUE`.
    fn constraints(&mut self, node: &Node, field: &str) -> Result<Vec<String>> {
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(node, field, "a list of labels like [zone=a]"));
        };
        let word = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let mut constraints = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{field}[{i}]");
            self.locations.insert(path.clone(), item.pos.pair());
            let text = self.text(item, &path, "a label like zone=a")?;
            match text.split_once('=') {
                Some((k, v)) if word(k) && word(v) => constraints.push(text.to_string()),
                _ => {
                    return Err(self.error(
                        ErrorKind::Value,
                        Some(item.pos),
                        &path,
                        format!(
                            "{text:?} is not KEY=VALUE (for example zone=a); KEY and VALUE are 1 to 63 letters, digits, '-', '_' or '.'"
                        ),
                    ));
                }
            }
        }
        Ok(constraints)
    }

    /// `limits.memory`: a size, at least one page.
    fn memory(&self, node: &Node, path: &str) -> Result<u64> {
        let text = self.text(node, path, "a size like 128MiB")?;
        units::parse_memory_limit(text).map_err(|message| self.invalid(node, path, message))
    }

    /// `limits.cpu`: cores.
    fn cpu(&self, node: &Node, path: &str) -> Result<u32> {
        let text = self.text(node, path, "a number of cores like 0.5")?;
        units::parse_cpu(text).map_err(|message| self.invalid(node, path, message))
    }

    /// `limits.timeout`: a duration with its unit.
    fn timeout(&self, node: &Node, path: &str) -> Result<Duration> {
        let text = self.text(node, path, "a duration like 30s")?;
        units::parse_timeout(text).map_err(|message| self.invalid(node, path, message))
    }

    /// `limits.fuel`: a positive whole number.
    fn fuel(&self, node: &Node, path: &str) -> Result<u64> {
        let fuel = self.integer(node, path)?;
        u64::try_from(fuel).ok().filter(|f| *f > 0).ok_or_else(|| {
            self.invalid(
                node,
                path,
                format!("must be a positive whole number, or null for no budget; got {fuel}"),
            )
        })
    }

    fn invalid(&self, node: &Node, path: &str, message: String) -> ManifestError {
        self.error(ErrorKind::Value, Some(node.pos), path, message)
    }

    /// A URL path prefix, written one way only: `/` or `/a/b`.
    fn route(&self, node: &Node, path: &str) -> Result<String> {
        let route = self.text(node, path, "a path prefix like /api")?;
        let invalid = |message: String| self.error(ErrorKind::Value, Some(node.pos), path, message);
        if !route.starts_with('/') {
            return Err(invalid(format!(
                "{route:?} is not a path; a route starts with \"/\""
            ))
            .with_suggestion(Some(format!("/{}", route.trim_start_matches("./")))));
        }
        if let Some(bad) = route.chars().find(|c| !is_path_char(*c)) {
            return Err(invalid(format!(
                "{route:?} contains {bad:?}; a route is a URL path prefix (letters, digits, - . _ ~ and /), without query or fragment"
            )));
        }
        let parts: Vec<&str> = route.split('/').filter(|p| !p.is_empty()).collect();
        if parts.iter().any(|p| *p == "." || *p == "..") {
            return Err(invalid(format!(
                "{route:?} contains \".\" or \"..\"; write the route without them"
            )));
        }
        Ok(format!("/{}", parts.join("/")))
    }

    /// A rollout must be able to take a step: something may be down, or
    /// something may start beside.
    pub(super) fn check_rollout(&self, node: &Node, path: &str, r: &Rollout) -> Result<()> {
        if r.max_unavailable == 0 && r.max_surge == 0 {
            return Err(self.invalid(
                node,
                path,
                "max_unavailable and max_surge are both 0: no replica could ever be replaced; allow at least one of them (max_surge: 1 keeps every old replica until its new one is healthy)".to_string(),
            ));
        }
        Ok(())
    }

    pub(super) fn replicas(&self, node: &Node) -> Result<u32> {
        let replicas = self.integer(node, "replicas")?;
        u32::try_from(replicas)
            .ok()
            .filter(|r| (1..=MAX_REPLICAS).contains(r))
            .ok_or_else(|| {
                self.error(
                    ErrorKind::Value,
                    Some(node.pos),
                    "replicas",
                    format!("must be between 1 and {MAX_REPLICAS}; got {replicas}"),
                )
            })
    }
}

/// `restart` only means something to a service.
pub(super) fn check_restart(manifest: &Manifest) -> Result<()> {
    if manifest.restart.is_some() && manifest.app_type != AppType::Service {
        let mut err = manifest.error_at(
            "restart",
            format!(
                "restart applies to type: service apps, and this app is type: {}",
                manifest.app_type
            ),
        );
        err.kind = ErrorKind::Conflict;
        return Err(err.with_hint("add \"type: service\", or remove restart"));
    }
    Ok(())
}

/// Characters a route may hold: RFC 3986 path characters, percent escapes
/// excluded (a route is matched against the path as sent).
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/".contains(c)
}

/// `http:` only means something to an HTTP app.
pub(super) fn check_http(manifest: &Manifest) -> Result<()> {
    if manifest.http.is_some() && manifest.app_type != AppType::Http {
        let mut err = manifest.error_at(
            "http",
            format!(
                "the http section applies to type: http apps, and this app is type: {}",
                manifest.app_type
            ),
        );
        err.kind = ErrorKind::Conflict;
        return Err(err.with_hint("add \"type: http\", or remove the http section"));
    }
    Ok(())
}
