//! Whether a manifest's app can start for a purpose: the one answer to
//! "can this start here?" that running, serving, packing, validating and
//! deploying (on the client and on a node) all print from.
//!
//! [`Manifest::problems`] looks only at the manifest. What needs the engine
//! (the wasm file's kind, its validity, its imports against the grants)
//! is found by the runtime, and a node adds its own limits; both return
//! [`Finding`]s too, so a caller merges the lists and decides by
//! [`Severity`]: any error refuses the start, warnings and notes are said.
//! A finding speaks of the manifest, not of any command: callers add their
//! own hints by its [`Reason`].

use std::fmt;

use crate::error::{ErrorKind, ManifestError};
use crate::model::{AppType, FsAccess, Manifest, MountKind};

/// What the app is being checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Running it from its folder: a command or a service, one instance.
    Run,
    /// Running it from a bundle it was packed into.
    RunBundled,
    /// Serving it from its folder: an HTTP app.
    Serve,
    /// Serving it from a bundle it was packed into.
    ServeBundled,
    /// Packing it into a bundle.
    Pack,
    /// Deploying it to a node, which runs it from a bundle.
    Deploy,
}

impl Purpose {
    /// Whether its files come from (or go into) a bundle, whose files are
    /// read-only and hold nothing of the host.
    fn bundled(self) -> bool {
        matches!(
            self,
            Purpose::RunBundled | Purpose::ServeBundled | Purpose::Pack | Purpose::Deploy
        )
    }

    /// Whether it starts one instance here, now (not later, elsewhere).
    pub fn starts_here(self) -> bool {
        matches!(
            self,
            Purpose::Run | Purpose::RunBundled | Purpose::Serve | Purpose::ServeBundled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Run => "run",
            Purpose::RunBundled => "run from a bundle",
            Purpose::Serve => "serve",
            Purpose::ServeBundled => "serve from a bundle",
            Purpose::Pack => "pack",
            Purpose::Deploy => "deploy",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a finding weighs. Ordered: the gravest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The app cannot start for this purpose.
    Error,
    /// It starts, but the user should know the risk.
    Warning,
    /// It starts; something may not do what the user expects.
    Note,
}

impl Severity {
    /// The word that opens the line a finding is printed on.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about, for callers that add their own advice or
/// branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A feature that parses but is not built yet (`exec: true`,
    /// `type: gui`, a `memfs` mount).
    Unsupported,
    /// An HTTP app where a command or a service is run.
    HttpApp,
    /// An app that is not an HTTP app where one is served.
    NotHttp,
    /// Fields only a cluster acts on (`replicas`, `scheduler`).
    ClusterOnly,
    /// Fields only a node acts on (`limits.cpu`, `scheduler.weight`).
    NodeOnly,
    /// `permissions.fs: full`: the host's whole file system.
    HostFiles,
    /// A write to files that a bundle holds read-only.
    BundleWrites,
    /// `component: true` with a core module as the entrypoint.
    NotComponent,
    /// The entrypoint is not WebAssembly this engine runs (not wasm,
    /// invalid, threaded).
    Wasm,
    /// The entrypoint imports what the grants do not serve.
    Unmet,
    /// A read-write mount reaches what decides the app's next run (its
    /// manifest, its code).
    WritesItself,
    /// More than the host allows (a node's maxima).
    OverLimit,
}

/// One thing found about starting an app: how much it weighs, what it is
/// about, and the message at its place in the manifest.
#[derive(Clone, Debug)]
pub struct Finding {
    pub severity: Severity,
    pub reason: Reason,
    pub detail: ManifestError,
}

impl Finding {
    pub fn new(severity: Severity, reason: Reason, detail: ManifestError) -> Finding {
        Finding {
            severity,
            reason,
            detail,
        }
    }

    pub fn error(reason: Reason, detail: ManifestError) -> Finding {
        Finding::new(Severity::Error, reason, detail)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Whether any of `findings` keeps the app from starting.
    pub fn any_error(findings: &[Finding]) -> bool {
        findings.iter().any(Finding::is_error)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.detail.fmt(f)
    }
}

impl Manifest {
    /// What the manifest alone says about starting its app for `purpose`:
    /// the wrong type of app, features not built yet, what a bundle cannot
    /// carry (when it goes into or comes from one), and what the user
    /// should know (the whole host file system, cluster-only fields).
    /// Errors first, in the order of the manifest's concerns.
    pub fn problems(&self, purpose: Purpose) -> Vec<Finding> {
        let mut found: Vec<Finding> = self.wrong_type(purpose).into_iter().collect();
        found.extend(
            self.unsupported()
                .into_iter()
                .map(|e| Finding::error(Reason::Unsupported, e)),
        );
        if self.permissions.exec.granted() && purpose != Purpose::Run {
            let mut detail = self.error_at(
                "permissions.exec",
                format!(
                    "starting other apps (permissions.exec) is supported for a command or service run from its manifest, not yet for {}; set it to false",
                    match purpose {
                        Purpose::RunBundled => "one run from a bundle",
                        Purpose::Serve | Purpose::ServeBundled => "an app that is served",
                        Purpose::Pack => "one packed into a bundle",
                        Purpose::Deploy => "one deployed to a node",
                        Purpose::Run => unreachable!("checked above"),
                    }
                ),
            );
            detail.kind = ErrorKind::Unsupported;
            found.push(Finding::error(Reason::Unsupported, detail));
        }
        if purpose.bundled() {
            found.extend(crate::bundle::unpackable(self));
        } else if self.permissions.fs == FsAccess::Full {
            // Worded as it always was, with its place added.
            let detail = ManifestError::new(
                &self.file,
                ErrorKind::Runtime,
                "permissions.fs is full: the app can read and write the whole host file system; use it for development only",
            )
            .at(self.location("permissions.fs"));
            found.push(Finding::new(Severity::Warning, Reason::HostFiles, detail));
        }
        let cluster = self.cluster_only_fields();
        if purpose.starts_here()
            && let Some(first) = cluster.first()
        {
            let detail = ManifestError::new(
                &self.file,
                ErrorKind::Runtime,
                format!("{} take effect in cluster deploys", cluster.join(", ")),
            )
            .at(self.location(first));
            found.push(Finding::new(Severity::Note, Reason::ClusterOnly, detail));
        }
        let node = self.node_only_fields();
        if purpose.starts_here()
            && let Some(first) = node.first()
        {
            let detail = ManifestError::new(
                &self.file,
                ErrorKind::Runtime,
                format!("{} take effect on a node (qyv deploy)", node.join(", ")),
            )
            .at(self.location(first));
            found.push(Finding::new(Severity::Note, Reason::NodeOnly, detail));
        }
        found.sort_by_key(|f| f.severity);
        found
    }

    /// An app of the wrong type for `purpose` (a gui app is refused as not
    /// supported instead).
    fn wrong_type(&self, purpose: Purpose) -> Option<Finding> {
        let (reason, message) = match (purpose, self.app_type) {
            (Purpose::Run | Purpose::RunBundled, AppType::Http) => {
                (Reason::HttpApp, "this is an HTTP app".to_string())
            }
            (Purpose::Serve | Purpose::ServeBundled, AppType::Command | AppType::Service) => (
                Reason::NotHttp,
                format!(
                    "this is a type: {} app, and only type: http apps are served",
                    self.app_type
                ),
            ),
            _ => return None,
        };
        let mut detail = self.error_at("type", message);
        detail.kind = ErrorKind::Value;
        Some(Finding::error(reason, detail))
    }

    /// Fields that parse but whose features are not built yet, each as an
    /// error at its place.
    pub(crate) fn unsupported(&self) -> Vec<ManifestError> {
        let mut errors = Vec::new();
        let mut add = |field: &str, message: String| {
            let mut err = self.error_at(field, message);
            err.kind = ErrorKind::Unsupported;
            errors.push(err);
        };
        let p = &self.permissions;
        for (flag, field, what) in [
            (p.ai, "permissions.ai", "AI inference (ai: true)"),
            (p.gfx, "permissions.gfx", "graphics (gfx: true)"),
        ] {
            if flag {
                add(
                    field,
                    format!("{what} is not supported yet; set it to false"),
                );
            }
        }
        if matches!(self.app_type, AppType::Gui) {
            add(
                "type",
                format!(
                    "{} apps are not supported yet; use type: command or service (a program, run once or kept running) or type: http (a wasi:http handler, served)",
                    self.app_type
                ),
            );
        }
        for (i, mount) in self.mounts.iter().enumerate() {
            if mount.kind == MountKind::Netfs {
                add(
                    &format!("fs[{i}].type"),
                    format!(
                        "{} mounts are not supported yet; use type: dir or memfs",
                        mount.kind
                    ),
                );
            }
        }
        errors
    }

    /// Cluster fields present in this manifest (`replicas`, `scheduler`):
    /// valid, but only a cluster deploy acts on them.
    pub(crate) fn cluster_only_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.replicas.is_some() {
            fields.push("replicas");
        }
        // `scheduler.weight` alone is the node's business.
        if self.scheduler.is_some()
            && (self.location("scheduler.strategy").is_some()
                || self.location("scheduler.constraints").is_some()
                || self.location("scheduler.weight").is_none())
        {
            fields.push("scheduler");
        }
        if self.rollout.is_some() {
            fields.push("rollout");
        }
        fields
    }

    /// Fields set in the manifest that only a node acts on: the CPU share.
    pub(crate) fn node_only_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.limits.cpu_millicores.is_some() {
            fields.push("limits.cpu");
        }
        if self.scheduler.as_ref().is_some_and(|s| s.weight.is_some()) {
            fields.push("scheduler.weight");
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::manifest;

    fn lines(m: &Manifest, purpose: Purpose) -> Vec<String> {
        m.problems(purpose)
            .iter()
            .map(|f| format!("{}: {f}", f.severity))
            .collect()
    }

    #[test]
    fn unsupported_features_are_listed_at_their_lines() {
        let m = manifest(
            "type: gui\npermissions:\n  fs: write\n  exec: true\n  ai: true\n  gfx: true\nfs:\n  - {source: a, target: /a, type: memfs, size: 1MiB}\n  - {source: b, target: /b}\n  - {source: \"http://c/\", target: /c, type: netfs}\nreplicas: 2\n",
        );
        let messages: Vec<String> = m.unsupported().iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "hello.qyv:7:7: permissions.ai: AI inference (ai: true) is not supported yet; set it to false",
                "hello.qyv:8:8: permissions.gfx: graphics (gfx: true) is not supported yet; set it to false",
                "hello.qyv:3:7: type: gui apps are not supported yet; use type: command or service (a program, run once or kept running) or type: http (a wasi:http handler, served)",
                "hello.qyv:12:45: fs[2].type: netfs mounts are not supported yet; use type: dir or memfs",
            ]
        );
        assert!(
            m.unsupported()
                .iter()
                .all(|e| e.kind == ErrorKind::Unsupported)
        );
        assert_eq!(m.cluster_only_fields(), ["replicas"]);
    }

    #[test]
    fn exec_is_refused_for_every_purpose_but_a_run() {
        let m = manifest("permissions:\n  exec: [/bin/*]\n");
        assert!(m.problems(Purpose::Run).is_empty());
        for purpose in [
            Purpose::RunBundled,
            Purpose::Serve,
            Purpose::Pack,
            Purpose::Deploy,
        ] {
            let found: Vec<Finding> = m
                .problems(purpose)
                .into_iter()
                .filter(|f| f.reason == Reason::Unsupported)
                .collect();
            assert_eq!(found.len(), 1, "{purpose}");
            assert!(
                found[0].to_string().starts_with(
                    "hello.qyv:4:9: permissions.exec: starting other apps (permissions.exec) is supported for a command or service run from its manifest, not yet for "
                ),
                "{}",
                found[0]
            );
        }
    }

    #[test]
    fn an_unsupported_feature_refuses_every_purpose() {
        let m = manifest("permissions:\n  ai: true\n");
        for purpose in [
            Purpose::Run,
            Purpose::RunBundled,
            Purpose::Serve,
            Purpose::Pack,
            Purpose::Deploy,
        ] {
            let found = m.problems(purpose);
            assert!(Finding::any_error(&found), "{purpose}");
            assert!(
                found.iter().any(|f| f.reason == Reason::Unsupported),
                "{purpose}"
            );
        }
    }

    #[test]
    fn the_type_must_fit_the_purpose() {
        let web = manifest("type: http\n");
        assert_eq!(
            lines(&web, Purpose::Run),
            ["error: hello.qyv:3:7: type: this is an HTTP app"]
        );
        assert_eq!(web.problems(Purpose::RunBundled)[0].reason, Reason::HttpApp);
        assert!(web.problems(Purpose::Serve).is_empty());
        assert!(web.problems(Purpose::Deploy).is_empty());
        let command = manifest("");
        assert_eq!(
            lines(&command, Purpose::Serve),
            [
                "error: hello.qyv: type: this is a type: command app, and only type: http apps are served"
            ]
        );
        assert!(command.problems(Purpose::Run).is_empty());
        assert!(command.problems(Purpose::Pack).is_empty());
        // A gui app is said to be unsupported, not of the wrong type.
        let gui = manifest("type: gui\n");
        let found = gui.problems(Purpose::Serve);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].reason, Reason::Unsupported);
    }

    #[test]
    fn the_whole_host_file_system_warns_here_and_cannot_be_bundled() {
        let m = manifest("permissions: {fs: full}\n");
        assert_eq!(
            lines(&m, Purpose::Run),
            [
                "warning: hello.qyv:3:19: permissions.fs is full: the app can read and write the whole host file system; use it for development only"
            ]
        );
        for purpose in [Purpose::RunBundled, Purpose::Pack, Purpose::Deploy] {
            let found = m.problems(purpose);
            assert_eq!(found.len(), 1, "{purpose}");
            assert!(found[0].is_error());
            assert_eq!(found[0].reason, Reason::HostFiles);
        }
    }

    #[test]
    fn cluster_fields_are_a_note_where_one_instance_starts() {
        let m = manifest("replicas: 3\nscheduler: {strategy: spread}\ntype: http\n");
        assert_eq!(
            lines(&m, Purpose::Serve),
            ["note: hello.qyv:3:11: replicas, scheduler take effect in cluster deploys"]
        );
        assert!(m.problems(Purpose::Pack).is_empty());
        assert!(m.problems(Purpose::Deploy).is_empty());
    }

    #[test]
    fn errors_come_before_warnings_and_notes() {
        let m = manifest("replicas: 2\npermissions: {fs: full, ai: true}\n");
        let severities: Vec<Severity> = m
            .problems(Purpose::Run)
            .iter()
            .map(|f| f.severity)
            .collect();
        assert_eq!(
            severities,
            [Severity::Error, Severity::Warning, Severity::Note]
        );
    }
}
