//! A deploy, from the first byte of the upload to the app restarted.
//!
//! 1. The upload streams into a temporary file, hashed on the way and
//!    refused (413) past the node's limit.
//! 2. The bundle is opened and every byte of it checked against its
//!    SHA-256, its signature against the node's trust policy, and its
//!    manifest against what the node can run (400 with the reason).
//! 3. With the app's lock held (and, for an HTTP app, the node's route
//!    lock, once no other app is found holding its route): the file is
//!    renamed into the content store, then the revision is recorded in one
//!    transaction, then the app is restarted on it.
//!
//! Nothing is stored before step 3, and step 3 leaves the app at its old
//! revision or its new one whatever moment the node is killed at.

use std::fs::File;
use std::path::Path;

use futures_util::StreamExt;
use qyvol_manifest::bundle::{Bundle, Standing, TrustPolicy};
use qyvol_manifest::{AppType, Purpose, format_size};

use crate::api::types::Deployed;
use crate::artifacts::Upload;
use crate::error::NodeError;
use crate::limits::NodeLimits;
use crate::node::Node;
use crate::store::{NewRevision, short};
use crate::supervisor::{Trigger, db};

/// What the checks found out about a bundle.
struct Checked {
    app: String,
    app_type: AppType,
    version: Option<String>,
    signer: Option<String>,
    /// An HTTP app's route.
    route: Option<String>,
}

/// How messages name the upload (not the temporary file's path).
const UPLOAD_NAME: &str = "the upload";

/// Every check a bundle passes before anything of it is stored.
fn check(path: &Path, trust: &TrustPolicy, limits: &NodeLimits) -> Result<Checked, NodeError> {
    let bad = |e: &dyn std::fmt::Display| NodeError::BadBundle(e.to_string());
    let file = File::open(path).map_err(|e| NodeError::io("cannot read the upload", path, e))?;
    let bundle = Bundle::from_source(file, Path::new(UPLOAD_NAME)).map_err(|e| bad(&e))?;
    bundle.verify_all().map_err(|e| bad(&e))?;
    let standing = trust.standing(bundle.signer());
    if !trust.admits(&standing) {
        let who = match &standing {
            Standing::Unsigned => "it is not signed".to_string(),
            Standing::Untrusted(key) => format!(
                "it is signed by key {}, which this node does not trust",
                key.id()
            ),
            Standing::Trusted(_) => unreachable!("a trusted signer is admitted"),
        };
        return Err(NodeError::Unsigned(format!(
            "this node requires bundles signed by a key it trusts, and {who}; sign it with a key whose public half this node trusts"
        )));
    }
    let manifest = bundle.manifest().map_err(|e| bad(&e))?;
    let mut findings = manifest.problems(Purpose::Deploy);
    findings.extend(limits.refusals(&manifest));
    let refused: Vec<String> = findings
        .iter()
        .filter(|f| f.is_error())
        .map(ToString::to_string)
        .collect();
    if !refused.is_empty() {
        return Err(NodeError::BadBundle(format!(
            "this node cannot run the app: {}",
            refused.join("; ")
        )));
    }
    Ok(Checked {
        app: manifest.name.clone(),
        app_type: manifest.app_type,
        version: manifest.version.clone(),
        signer: bundle.signer().map(|k| k.id()),
        route: (manifest.app_type == AppType::Http).then(|| manifest.http_settings().route),
    })
}

/// Receives, checks, stores and starts a bundle sent to the API. `length`
/// is the upload's declared size, if any.
pub async fn deploy(
    node: &Node,
    body: axum::body::Body,
    length: Option<u64>,
) -> Result<Deployed, NodeError> {
    let upload = receive(node, body, length).await?;
    install(node, upload, "api".into()).await
}

/// Deploys the Qyvol app a registry reference names, pinned by digest:
/// the node pulls it with its own credentials (its Docker config), into
/// the same temporary file an upload goes to, its digest checked as it
/// arrives; then it is installed as an upload is.
pub async fn deploy_reference(node: &Node, reference: &str) -> Result<Deployed, NodeError> {
    let parsed =
        qyvol_hub::Reference::parse(reference).map_err(|e| NodeError::BadRequest(e.to_string()))?;
    if parsed.digest.is_none() {
        return Err(NodeError::BadRequest(format!(
            "{reference}: a node pulls by digest; name the app as REGISTRY/NAMESPACE/APP@sha256:… (qyv deploy REF resolves a tag to its digest)"
        )));
    }
    let upload = node.supervisor.artifacts().upload()?;
    let limit = node.max_upload;
    let upload = tokio::task::spawn_blocking(move || pull_into(&parsed, upload, limit))
        .await
        .map_err(|e| NodeError::Internal(format!("a task failed: {e}")))??;
    install(node, upload, format!("registry:{reference}")).await
}

fn pull_into(
    reference: &qyvol_hub::Reference,
    mut upload: Upload,
    limit: u64,
) -> Result<Upload, NodeError> {
    struct Into<'a>(&'a mut Upload);
    impl std::io::Write for Into<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .write(buf)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    pull_bundle(reference, None, limit, &mut Into(&mut upload))?;
    Ok(upload)
}

/// Pulls the bundle of the Qyvol app `reference` names, with the node's
/// own credentials (its Docker config), into `out`, its digest checked as
/// it arrives. `expect`: the bundle's SHA-256 (hex) the caller was told,
/// refused before any byte is fetched when the artifact holds another.
pub(crate) fn pull_bundle(
    reference: &qyvol_hub::Reference,
    expect: Option<&str>,
    limit: u64,
    out: &mut dyn std::io::Write,
) -> Result<(), NodeError> {
    use qyvol_hub::media::{self, Kind};
    let failed = |e: qyvol_hub::HubError| {
        NodeError::BadRequest(format!("the node could not pull {reference}: {e}"))
    };
    let options = qyvol_hub::options_for(&reference.registry).map_err(failed)?;
    let repo = qyvol_hub::Repository::connect(
        &reference.registry,
        &reference.repository,
        qyvol_hub::Access::Pull,
        &options,
    )
    .map_err(failed)?;
    let (media_type, bytes, _) = repo.manifest(reference.target()).map_err(failed)?;
    let layer = match media::classify(media_type.as_deref(), &bytes) {
        Ok((_, Kind::Bundle(layer))) => layer,
        Ok((_, Kind::Wasm(_))) => {
            return Err(NodeError::BadBundle(format!(
                "{reference} is a bare wasm (CNCF wasm layout); a node runs Qyvol apps: push the app's .qyv (qyv push app.qyv REF)"
            )));
        }
        Err(what) => {
            return Err(NodeError::BadBundle(format!(
                "{reference} is {what}, not a Qyvol app"
            )));
        }
    };
    if let Some(want) = expect
        && layer.digest.strip_prefix("sha256:") != Some(want)
    {
        return Err(NodeError::BadBundle(format!(
            "{reference} holds the bundle {}, not the bundle sha256:{want} the cluster recorded",
            layer.digest
        )));
    }
    if layer.size > limit {
        return Err(NodeError::TooLarge {
            limit: format_size(limit),
        });
    }
    repo.fetch_blob(&layer.digest, layer.size, limit, out, &mut |_| {})
        .map_err(failed)?;
    Ok(())
}

/// Streams the body into a temporary file, within the node's limit.
async fn receive(
    node: &Node,
    body: axum::body::Body,
    length: Option<u64>,
) -> Result<Upload, NodeError> {
    let limit = node.max_upload;
    let too_large = || NodeError::TooLarge {
        limit: format_size(limit),
    };
    if length.is_some_and(|l| l > limit) {
        crate::api::drain(body).await;
        return Err(too_large());
    }
    let mut upload = node.supervisor.artifacts().upload()?;
    let mut stream = body.into_data_stream();
    let mut held = false;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| NodeError::BadRequest(format!("the upload was cut off: {e}")))?;
        if upload.size() + chunk.len() as u64 > limit {
            drop(upload);
            crate::api::drain_stream(stream).await;
            return Err(too_large());
        }
        upload.write(&chunk)?;
        if !held && length.is_some_and(|l| upload.size() * 2 >= l) {
            held = true;
            node.hold.at("deploy:receiving", "-").await;
        }
    }
    if upload.size() == 0 {
        return Err(NodeError::BadRequest(
            "the request has no body; send the .qyvbin bundle as the body".into(),
        ));
    }
    if length.is_some_and(|l| l != upload.size()) {
        return Err(NodeError::BadRequest(format!(
            "the upload was cut off: {} of {} bytes arrived",
            upload.size(),
            length.unwrap_or_default()
        )));
    }
    Ok(upload)
}

/// Checks a received bundle, stores it and makes it the app's current
/// revision, from `source` (`api`, `apps-dir:FILE`).
pub(crate) async fn install(
    node: &Node,
    upload: Upload,
    source: String,
) -> Result<Deployed, NodeError> {
    let supervisor = &node.supervisor;
    let trust = supervisor.trust().clone();
    let limits = supervisor.limits().clone();
    let (upload, digest, checked) = tokio::task::spawn_blocking(move || {
        let mut upload = upload;
        let digest = upload.finish()?;
        let checked = check(upload.path(), &trust, &limits)?;
        Ok::<_, NodeError>((upload, digest, checked))
    })
    .await
    .map_err(|e| NodeError::Internal(format!("a task failed: {e}")))??;
    let size = upload.size();
    let held_lock = supervisor.lock(&checked.app).await;
    if source != crate::cluster::SOURCE {
        // The cluster would put its replica back at its next look: say so
        // rather than let this deploy be undone.
        let name = checked.app.clone();
        if let Ok((row, _)) = db(supervisor.store(), move |s| s.current(&name)).await
            && row.source == crate::cluster::SOURCE
        {
            return Err(NodeError::Conflict(format!(
                "{} runs on this node as a replica the cluster placed; deploy it to the cluster, or remove it from the cluster first (a deploy to this node alone would be undone by the cluster)",
                checked.app
            )));
        }
    }
    let _routes = match &checked.route {
        Some(route) => {
            let guard = supervisor.lock_routes().await;
            if let Some(why) = supervisor.refuse_route(&checked.app, route).await? {
                return Err(why);
            }
            Some(guard)
        }
        None => None,
    };
    node.hold.at("deploy:locked", &checked.app).await;
    let artifacts = supervisor.artifacts().clone();
    let stored_digest = digest.clone();
    tokio::task::spawn_blocking(move || artifacts.commit(upload, &stored_digest))
        .await
        .map_err(|e| NodeError::Internal(format!("a task failed: {e}")))??;
    node.hold.at("deploy:stored", &checked.app).await;

    let new = NewRevision {
        app: checked.app.clone(),
        digest: digest.clone(),
        size,
        app_type: checked.app_type,
        version: checked.version.clone(),
        signer: checked.signer.clone(),
        source,
    };
    let (recorded, pruned) = db(supervisor.store(), move |s| s.deploy(&new)).await?;
    if !pruned.is_empty() {
        let keep = db(supervisor.store(), |s| s.referenced_digests()).await?;
        supervisor.artifacts().remove_unused(&pruned, &keep);
    }
    node.hold.at("deploy:recorded", &checked.app).await;
    tracing::info!(
        app = checked.app,
        revision = recorded.revision,
        sha256 = digest,
        unchanged = recorded.unchanged,
        "{} revision {} deployed (sha256 {}){}",
        checked.app,
        recorded.revision,
        short(&digest),
        if recorded.unchanged {
            ", unchanged"
        } else {
            ""
        }
    );
    let trigger = if recorded.unchanged {
        Trigger::Start
    } else {
        Trigger::Changed
    };
    // The revision is recorded: a failure to start is the app's state, not
    // the deploy's.
    let _ = supervisor.apply(&held_lock, trigger).await;
    Ok(Deployed {
        app: checked.app,
        revision: recorded.revision,
        digest,
        size,
        unchanged: recorded.unchanged,
    })
}
