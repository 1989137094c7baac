//! What a node grants the apps it runs for others: a default for each limit
//! a manifest leaves out, and maxima no deploy may pass. `qyv run` trusts
//! the developer's own manifest as wasmtime would (no limit unless asked);
//! a node runs other people's manifests, so an app that says nothing gets
//! the node's defaults, and one that asks for more than the node allows is
//! refused before anything of it is stored (and not started, if the node
//! was restarted with lower maxima since it was deployed).

use std::time::Duration;

use qyvol_manifest::{AppType, Manifest, format_duration, format_size};
use qyvol_runtime::RunSpec;
use qyvol_runtime::serve::ServeApp;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// `limits.memory` of an app that sets none, per instance.
    pub default_memory: u64,
    /// The most `limits.memory` an app may ask for.
    pub max_memory: u64,
    /// `limits.timeout` of a command, or of each request to an HTTP app,
    /// that sets none (`None`: no limit). A service runs until it is
    /// stopped, so it gets no default.
    pub default_timeout: Option<Duration>,
    /// The most instances of one app at once (an HTTP app's
    /// `http.concurrency`).
    pub max_instances: u32,
}

impl NodeLimits {
    pub const DEFAULT_MEMORY: u64 = 256 << 20;
    pub const MAX_MEMORY: u64 = 4 << 30;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
    pub const MAX_INSTANCES: u32 = 256;

    /// Whether the limits are coherent: a default above its maximum would
    /// make every app that sets nothing unstartable.
    pub fn check(&self) -> Result<(), String> {
        if self.default_memory > self.max_memory {
            return Err(format!(
                "the default memory ({}) is above the maximum ({})",
                format_size(self.default_memory),
                format_size(self.max_memory)
            ));
        }
        if self.max_instances == 0 {
            return Err("the most instances of an app must be at least 1".into());
        }
        Ok(())
    }

    /// Every reason this node refuses to run `m`.
    pub fn refusals(&self, m: &Manifest) -> Vec<String> {
        let mut refused = Vec::new();
        if let Some(memory) = m.limits.memory
            && memory > self.max_memory
        {
            refused.push(format!(
                "limits.memory is {}, and this node allows an app at most {}",
                format_size(memory),
                format_size(self.max_memory)
            ));
        }
        if m.app_type == AppType::Http {
            let concurrency = m.http_settings().concurrency;
            // Only a number the manifest wrote: its default is capped.
            let written = m.location("http.concurrency").is_some();
            if written && concurrency > self.max_instances {
                refused.push(format!(
                    "http.concurrency is {concurrency}, and this node runs at most {} instances of an app at once",
                    self.max_instances
                ));
            }
        }
        refused
    }

    /// Fills in what the manifest left out: the default memory, and for a
    /// command the default time limit.
    pub(crate) fn apply_to_run(&self, m: &Manifest, spec: &mut RunSpec) {
        spec.memory = Some(m.limits.memory.unwrap_or(self.default_memory));
        if m.limits.timeout.is_none() && m.app_type == AppType::Command {
            spec.timeout = self.default_timeout;
        }
    }

    /// The same for an HTTP app, per request, and its instances capped.
    pub(crate) fn apply_to_serve(&self, m: &Manifest, app: &mut ServeApp) {
        app.spec.memory = Some(m.limits.memory.unwrap_or(self.default_memory));
        if m.limits.timeout.is_none() {
            app.spec.timeout = self.default_timeout;
        }
        app.http.concurrency = app.http.concurrency.min(self.max_instances);
    }

    /// One line for the node's start: what apps get.
    pub fn describe(&self) -> String {
        let timeout = match self.default_timeout {
            Some(t) => format!(
                "timeout {} by default (commands, each HTTP request)",
                format_duration(t)
            ),
            None => "no timeout by default".to_string(),
        };
        format!(
            "memory {} by default, at most {}; {timeout}; at most {} instances of an app",
            format_size(self.default_memory),
            format_size(self.max_memory),
            self.max_instances
        )
    }
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits {
            default_memory: NodeLimits::DEFAULT_MEMORY,
            max_memory: NodeLimits::MAX_MEMORY,
            default_timeout: Some(NodeLimits::DEFAULT_TIMEOUT),
            max_instances: NodeLimits::MAX_INSTANCES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest(rest: &str) -> Manifest {
        Manifest::parse(
            &format!("name: app\nentrypoint: app.wasm\n{rest}"),
            Path::new("app.qyv"),
            Path::new("/app"),
        )
        .unwrap()
    }

    #[test]
    fn asking_above_a_maximum_is_refused_with_the_reason() {
        let limits = NodeLimits::default();
        assert!(
            limits
                .refusals(&manifest("limits: {memory: 4GiB}\n"))
                .is_empty()
        );
        assert_eq!(
            limits.refusals(&manifest("limits: {memory: 8GiB}\n")),
            ["limits.memory is 8 GiB, and this node allows an app at most 4 GiB"]
        );
        let many = manifest("type: http\nhttp: {concurrency: 500}\n");
        assert_eq!(
            limits.refusals(&many),
            ["http.concurrency is 500, and this node runs at most 256 instances of an app at once"]
        );
    }

    #[test]
    fn what_a_manifest_leaves_out_gets_the_defaults() {
        let limits = NodeLimits::default();
        let m = manifest("");
        let mut spec = RunSpec::from_manifest(&m);
        limits.apply_to_run(&m, &mut spec);
        assert_eq!(spec.memory, Some(256 << 20));
        assert_eq!(spec.timeout, Some(Duration::from_secs(300)));
        // A service runs until stopped; its own limits stay.
        let m = manifest("type: service\nlimits: {memory: 1GiB}\n");
        let mut spec = RunSpec::from_manifest(&m);
        limits.apply_to_run(&m, &mut spec);
        assert_eq!(spec.memory, Some(1 << 30));
        assert_eq!(spec.timeout, None);
        // An HTTP app that says nothing of its instances gets at most the
        // node's.
        let small = NodeLimits {
            max_instances: 8,
            ..NodeLimits::default()
        };
        let m = manifest("type: http\n");
        let mut app = ServeApp::from_manifest(&m);
        small.apply_to_serve(&m, &mut app);
        assert_eq!(app.http.concurrency, 8);
        assert_eq!(app.spec.timeout, Some(Duration::from_secs(300)));
    }

    #[test]
    fn a_default_above_its_maximum_is_incoherent() {
        let bad = NodeLimits {
            default_memory: 8 << 30,
            ..NodeLimits::default()
        };
        assert!(bad.check().unwrap_err().contains("above the maximum"));
        assert!(NodeLimits::default().check().is_ok());
    }
}
