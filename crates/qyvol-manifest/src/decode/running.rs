//! How the app is run: `limits:`, HTTP serving (`http:`), and cluster
//! placement (`replicas:`, `scheduler:`), with the rules that tie `restart:`
//! and `http:` to the app's type.

use super::{Decoder, Result, join};
use crate::error::ErrorKind;
use crate::fields::{self, MAX_HTTP_CONCURRENCY, MAX_HTTP_QUEUE, MAX_REPLICAS};
use crate::model::{AppType, Http, Limits, Manifest, Scheduler, Strategy};
use crate::units;
use crate::yaml::Node;

impl Decoder<'_> {
    pub(super) fn limits(&mut self, node: &Node) -> Result<Limits> {
        let entries = self.mapping(node, "limits", fields::LIMITS, "a mapping")?;
        let mut limits = Limits::default();
        for entry in entries {
            let key = entry.key.as_str();
            let node = &entry.value;
            if node.is_null() {
                continue;
            }
            let path = join("limits", key);
            let value_error =
                |message: String| self.error(ErrorKind::Value, Some(node.pos), &path, message);
            match key {
                "memory" => {
                    let text = self.text(node, &path, "a size like 128MiB")?;
                    limits.memory = Some(units::parse_memory_limit(text).map_err(value_error)?);
                }
                "timeout" => {
                    let text = self.text(node, &path, "a duration like 30s")?;
                    limits.timeout = Some(units::parse_timeout(text).map_err(value_error)?);
                }
                "fuel" => {
                    let fuel = self.integer(node, &path)?;
                    let fuel = u64::try_from(fuel).ok().filter(|f| *f > 0).ok_or_else(|| {
                        value_error(format!(
                            "must be a positive whole number, or null for no budget; got {fuel}"
                        ))
                    })?;
                    limits.fuel = Some(fuel);
                }
                other => return Err(self.internal(entry, &join("limits", other))),
            }
        }
        Ok(limits)
    }

    pub(super) fn http(&mut self, node: &Node) -> Result<Http> {
        let entries = self.mapping(
            node,
            "http",
            fields::HTTP,
            "a mapping like {route: /api, reuse: 1}",
        )?;
        let mut http = Http::default();
        for entry in entries {
            let key = entry.key.as_str();
            let node = &entry.value;
            if node.is_null() {
                continue;
            }
            let path = join("http", key);
            match key {
                "route" => http.route = self.route(node, &path)?,
                "reuse" => {
                    http.reuse = self.bounded(node, &path, 1, u32::MAX, "requests per instance")?
                }
                "concurrency" => {
                    http.concurrency =
                        self.bounded(node, &path, 1, MAX_HTTP_CONCURRENCY, "instances at once")?
                }
                "queue" => {
                    http.queue = self.bounded(node, &path, 0, MAX_HTTP_QUEUE, "waiting requests")?
                }
                other => return Err(self.internal(entry, &join("http", other))),
            }
        }
        Ok(http)
    }

    /// A URL path prefix, written one way only: `/` or `/a/b`.
    pub(super) fn route(&self, node: &Node, path: &str) -> Result<String> {
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

    pub(super) fn scheduler(&mut self, node: &Node) -> Result<Scheduler> {
        let entries = self.mapping(
            node,
            "scheduler",
            fields::SCHEDULER,
            "a mapping like {strategy: spread}",
        )?;
        let mut scheduler = Scheduler::default();
        for entry in entries {
            let node = &entry.value;
            if node.is_null() {
                continue;
            }
            match entry.key.as_str() {
                "strategy" => {
                    scheduler.strategy = self.keyword(
                        node,
                        "scheduler.strategy",
                        Strategy::NAMES,
                        Strategy::from_name,
                    )?;
                }
                other => return Err(self.internal(entry, &join("scheduler", other))),
            }
        }
        Ok(scheduler)
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
