//! What only the binary may add to a library's error or report: the `qyv`
//! command or flag that does something about it. The libraries say what
//! happened and which manifest field or setting governs it, in their own
//! terms (a node's refusal goes to a remote user, who may not run `qyv`);
//! they carry typed reasons, and this module turns each into its advice,
//! in one place. Admission findings get theirs in `admission.rs`, beside
//! the manifest's findings they extend.

use qyvol_hub::HubError;
use qyvol_manifest::bundle::{BundleError, BundleErrorKind};
use qyvol_node::client::ClientError;
use qyvol_node::{Listener, NodeError};
use qyvol_runtime::serve::ServeError;
use qyvol_runtime::{Outcome, RuntimeError};

/// The flag of `qyv run` that does what a limit's or a denial's field
/// does, for [`Outcome::report_with`].
pub fn run_flag(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::MemoryLimit { .. } => Some("pass --memory".into()),
        Outcome::FuelExhausted { .. } => Some("pass --fuel".into()),
        Outcome::NetDenied { rules, .. } => Some(format!("pass --allow-net={}", rules.join(","))),
        _ => None,
    }
}

/// `e` with the advice its typed reason calls for, if it has one.
pub fn advise(e: anyhow::Error) -> anyhow::Error {
    match advice(&e) {
        Some((separator, advice)) => anyhow::anyhow!("{e:#}{separator}{advice}"),
        None => e,
    }
}

/// The advice for the first error in `e`'s chain that has one, and how it
/// joins the message.
fn advice(e: &anyhow::Error) -> Option<(&'static str, String)> {
    e.chain().find_map(|cause| {
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return client(c);
        }
        if let Some(n) = cause.downcast_ref::<NodeError>() {
            return node(n).map(|a| ("; ", a));
        }
        if let Some(s) = cause.downcast_ref::<ServeError>() {
            return serve(s).map(|a| ("", a));
        }
        if let Some(r) = cause.downcast_ref::<RuntimeError>() {
            return runtime(r).map(|a| ("; ", a));
        }
        if let Some(b) = cause.downcast_ref::<BundleError>() {
            return bundle(b).map(|a| ("; ", a));
        }
        if let Some(h) = cause.downcast_ref::<HubError>() {
            return hub(h).map(|a| ("; ", a));
        }
        None
    })
}

/// A node's answer, by its code and reason, or the client's own trouble.
fn client(e: &ClientError) -> Option<(&'static str, String)> {
    let advice = match e {
        ClientError::Api { code, reason, .. } => match (code.as_str(), reason.as_deref()) {
            (_, Some("unsigned")) => "sign it with `qyv pack --sign KEY` (or `qyv deploy --sign KEY`), with a key whose public half the node was started with (--trust)".into(),
            (_, Some("no_http")) => "start it with `qyv daemon --http ADDR` (for example --http 0.0.0.0:8080) to serve them on that port".into(),
            ("no_such_app", _) => "`qyv ps` lists them".into(),
            ("no_such_revision", _) => "`qyv ps APP` lists an app's revisions".into(),
            ("unauthorized", _) => "`qyv daemon token` on the node shows it".into(),
            ("too_large", _) => "start the node with a larger --max-upload".into(),
            _ => return None,
        },
        ClientError::Unreachable { .. } => "is `qyv daemon` running there?".into(),
        ClientError::PinMismatch { .. } => {
            return Some((
                ". ",
                "If the node's certificate changed on purpose, pin the new one (--fingerprint, or qyv context add again)".into(),
            ));
        }
        ClientError::Unverified { url, got } => {
            return Some((
                ". ",
                format!(
                    "If `qyv daemon` printed this fingerprint, pin it: --fingerprint {got} (or qyv context add NAME {url} --token TOKEN --fingerprint {got})"
                ),
            ));
        }
        _ => return None,
    };
    Some(("; ", advice))
}

/// The daemon's own start errors.
fn node(e: &NodeError) -> Option<String> {
    Some(match e {
        NodeError::Bind {
            listener: Listener::Api,
            ..
        } => "choose another address with --listen".into(),
        NodeError::Bind {
            listener: Listener::Http,
            ..
        } => "choose another address with --http (port 0 picks a free one)".into(),
        NodeError::DataDirInUse { .. } => "stop it, or give this one another --data-dir".into(),
        _ => return None,
    })
}

/// A program refused by the run path: the command that takes it.
pub fn runtime(e: &RuntimeError) -> Option<String> {
    match e {
        RuntimeError::NotRunnable { handler: true, .. } => {
            Some("HTTP apps are served by `qyv serve`".into())
        }
        RuntimeError::Link { http: true, .. } => Some("serve it with `qyv serve`".into()),
        RuntimeError::MemFsBesideFolders => Some(
            "give the memfs the files the app reads as its source: (copied in at the start), or drop the --dir and dir mounts".into(),
        ),
        _ => None,
    }
}

/// `e`'s message with its advice, for errors placed at a manifest line.
pub fn runtime_text(e: &RuntimeError) -> String {
    match runtime(e) {
        Some(advice) => format!("{e}; {advice}"),
        None => e.to_string(),
    }
}

/// `e`'s message with its advice: a command refused by the serve path.
pub fn serve_text(e: &ServeError) -> String {
    match e {
        ServeError::NotHttp { command: true, .. } => format!("{e}; `qyv run` runs it"),
        _ => e.to_string(),
    }
}

/// `qyv serve`'s own start errors.
fn serve(e: &ServeError) -> Option<String> {
    match e {
        ServeError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            Some(": pick another with --addr (port 0 picks a free one)".into())
        }
        ServeError::NotHttp { command: true, .. } => Some("; `qyv run` runs it".into()),
        _ => None,
    }
}

/// A bundle or key file that cannot be used.
fn bundle(e: &BundleError) -> Option<String> {
    Some(match e.kind {
        BundleErrorKind::NotABundle => "`qyv pack APP.qyv` makes one".into(),
        BundleErrorKind::Key => "`qyv keygen` writes key pairs in this form".into(),
        BundleErrorKind::KeyExists => "`qyv keygen --out DIR` writes them elsewhere".into(),
        _ => return None,
    })
}

/// A registry's refusal: the login that answers it.
fn hub(e: &HubError) -> Option<String> {
    match e {
        HubError::Unauthorized { registry, .. } => Some(format!("run qyv login {registry}")),
        _ => None,
    }
}
