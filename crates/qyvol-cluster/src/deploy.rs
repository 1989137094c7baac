//! A cluster deploy: the bundle is checked here as a node would check it
//! (every byte, the manifest, and whether any node's trust policy admits
//! its signer), uploaded once to the object store under its SHA-256, and
//! only then recorded as the app's new revision by compare-and-set. A
//! deploy that fails before the record leaves the desired state as it was
//! (an uploaded bundle that nothing names is removed); one that fails
//! after it has changed nothing but the record.

use std::path::{Path, PathBuf};

use qyvol_manifest::bundle::Bundle;
use qyvol_manifest::{AppType, Manifest, Purpose};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ClusterError;
use crate::model::{AppSpec, Constraint, NodeRecord, RevisionSpec, Strategy, now_ms};
use crate::state::State;

/// What the user asked for beyond the bundle; `None` takes the manifest's
/// value (`replicas:`, `scheduler:`), then the default.
#[derive(Clone, Debug, Default)]
pub struct DeployOptions {
    pub replicas: Option<u32>,
    pub strategy: Option<Strategy>,
}

/// What a bundle holds that the cluster needs.
#[derive(Clone, Debug)]
pub struct BundleFacts {
    pub path: PathBuf,
    pub digest: String,
    pub size: u64,
    pub manifest: Manifest,
    pub signer: Option<String>,
    /// A registry reference pinned by digest: the nodes pull the bundle
    /// from there, and it is not uploaded to the cluster.
    pub source: Option<String>,
}

/// What a deploy recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    pub app: String,
    pub revision: u32,
    pub digest: String,
    pub size: u64,
    pub replicas: u32,
    pub strategy: Strategy,
    /// The bundle was the current revision's already: no revision added.
    pub unchanged: bool,
    /// The object store had the bundle already.
    pub already_stored: bool,
    /// Where the nodes pull the bundle from, when not from the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Reads and checks a bundle as a node checks one. Blocking.
pub fn read_bundle(path: &Path) -> Result<BundleFacts, ClusterError> {
    let refused = |e: &dyn std::fmt::Display| ClusterError::Refused(e.to_string());
    let bundle = Bundle::open(path).map_err(|e| refused(&e))?;
    bundle.verify_all().map_err(|e| refused(&e))?;
    let manifest = bundle.manifest().map_err(|e| refused(&e))?;
    let problems: Vec<String> = manifest
        .problems(Purpose::Deploy)
        .iter()
        .filter(|f| f.is_error())
        .map(ToString::to_string)
        .collect();
    if !problems.is_empty() {
        return Err(ClusterError::Refused(format!(
            "the cluster's nodes cannot run this app: {}",
            problems.join("; ")
        )));
    }
    let mut file =
        std::fs::File::open(path).map_err(|e| ClusterError::io("cannot read", path, e))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)
        .map_err(|e| ClusterError::io("cannot read", path, e))?;
    Ok(BundleFacts {
        path: path.to_path_buf(),
        digest: hex::encode(hasher.finalize()),
        size,
        signer: bundle.signer().map(|k| k.id()),
        manifest,
        source: None,
    })
}

/// The replicas and placement asked for: flags first, then the manifest;
/// `None` where neither says (a redeploy keeps the app's, a first deploy
/// takes 1 replica, spread).
pub fn settings(manifest: &Manifest, options: &DeployOptions) -> Result<Asked, ClusterError> {
    let replicas = options.replicas.or(manifest.replicas);
    if replicas == Some(0) {
        return Err(ClusterError::Invalid(
            "replicas must be 1 or more; to stop an app without removing it, stop it".into(),
        ));
    }
    let strategy = options
        .strategy
        .or_else(|| manifest.scheduler.as_ref().map(|s| s.strategy.into()));
    let constraints = manifest
        .scheduler
        .iter()
        .flat_map(|s| &s.constraints)
        .map(|c| Constraint::parse(c).map_err(ClusterError::Invalid))
        .collect::<Result<_, _>>()?;
    Ok(Asked {
        replicas,
        strategy,
        constraints,
    })
}

/// Replicas and placement as a deploy asks for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    pub replicas: Option<u32>,
    pub strategy: Option<Strategy>,
    pub constraints: Vec<Constraint>,
}

/// Why no node of `nodes` would run a bundle signed by `signer`, if none
/// would. A cluster without nodes refuses nothing: the nodes that join
/// check it as they pull it.
fn refused_by_every_node(nodes: &[NodeRecord], signer: Option<&str>) -> Option<String> {
    if nodes.is_empty() || nodes.iter().any(|n| n.admits(signer)) {
        return None;
    }
    let who = signer.map_or("it is not signed".to_string(), |k| {
        format!("it is signed by key {k}, which none of them trusts")
    });
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    Some(format!(
        "every node of the cluster ({}) requires bundles signed by a key it trusts, and {who}; nothing was stored",
        names.join(", ")
    ))
}

impl State {
    /// Uploads the bundle (unless stored already) and records it as the
    /// app's current revision.
    pub async fn deploy(
        &self,
        facts: &BundleFacts,
        options: &DeployOptions,
    ) -> Result<Deployed, ClusterError> {
        let Asked {
            replicas,
            strategy,
            constraints,
        } = settings(&facts.manifest, options)?;
        let nodes: Vec<NodeRecord> = self
            .list::<NodeRecord>(&self.nodes)
            .await?
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        if let Some(why) = refused_by_every_node(&nodes, facts.signer.as_deref()) {
            return Err(ClusterError::Refused(why));
        }
        // A bundle the nodes pull from a registry is not uploaded: "already
        // stored" then means stored where they fetch it.
        let already_stored = facts.source.is_some() || self.has_bundle(&facts.digest).await;
        if !already_stored {
            self.upload(&facts.path, &facts.digest).await?;
        }
        let m = &facts.manifest;
        let revision = RevisionSpec {
            number: 0,
            digest: facts.digest.clone(),
            size: facts.size,
            app_type: m.app_type.as_str().to_string(),
            version: m.version.clone(),
            signer: facts.signer.clone(),
            memory: m.limits.memory.unwrap_or(0),
            created_at: now_ms(),
            rollback_of: None,
            source: facts.source.clone(),
        };
        let mut dropped = Vec::new();
        let mut unchanged = false;
        let recorded = self
            .update::<AppSpec, _>(&self.apps, &m.name, |now| {
                let mut app = now.unwrap_or_else(|| AppSpec {
                    name: m.name.clone(),
                    revision: 0,
                    replicas: 1,
                    strategy: Strategy::Spread,
                    constraints: Vec::new(),
                    running: true,
                    revisions: Vec::new(),
                });
                app.replicas = replicas.unwrap_or(app.replicas);
                app.strategy = strategy.unwrap_or(app.strategy);
                app.constraints = constraints.clone();
                app.running = true;
                unchanged = app.current().is_some_and(|r| r.digest == facts.digest);
                dropped = if unchanged {
                    Vec::new()
                } else {
                    app.push(revision.clone())
                };
                Ok(Some(app))
            })
            .await;
        let app = match recorded {
            Ok(app) => app.expect("a deploy always writes"),
            Err(e) => {
                if !already_stored {
                    self.collect_bundles(std::slice::from_ref(&facts.digest))
                        .await;
                }
                return Err(e);
            }
        };
        self.collect_bundles(&dropped).await;
        let (replicas, strategy) = (app.replicas, app.strategy);
        let what = if unchanged {
            format!("redeployed at revision {} (same bundle)", app.revision)
        } else {
            format!(
                "revision {} deployed (sha256 {})",
                app.revision,
                &facts.digest[..12]
            )
        };
        self.event(
            "deployed",
            Some(&app.name),
            None,
            format!("{what}, {replicas} replica(s), {strategy}"),
        )
        .await;
        Ok(Deployed {
            app: app.name,
            revision: app.revision,
            digest: facts.digest.clone(),
            size: facts.size,
            replicas,
            strategy,
            unchanged,
            already_stored,
            source: facts.source.clone(),
        })
    }

    async fn has_bundle(&self, digest: &str) -> bool {
        self.bundles
            .info(digest)
            .await
            .is_ok_and(|info| !info.deleted)
    }

    /// Stores the bundle, trying again for a while when JetStream does
    /// not answer (a server lost, a leader being elected).
    async fn upload(&self, path: &Path, digest: &str) -> Result<(), ClusterError> {
        let patience = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let mut file = tokio::fs::File::open(path)
                .await
                .map_err(|e| ClusterError::io("cannot read", path, e))?;
            match self.bundles.put(digest, &mut file).await {
                Ok(_) => return Ok(()),
                Err(_) if std::time::Instant::now() < patience => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(e) => {
                    return Err(ClusterError::js(
                        "cannot store the bundle in the cluster",
                        e,
                    ));
                }
            }
        }
    }

    /// The registry reference app `app`'s revision with bundle `digest`
    /// is pulled from, if it is not in the object store.
    pub async fn source_of(&self, app: &str, digest: &str) -> Option<String> {
        let (spec, _) = self.get::<AppSpec>(&self.apps, app).await.ok()??;
        spec.revisions
            .into_iter()
            .find(|r| r.digest == digest)
            .and_then(|r| r.source)
    }

    /// Downloads the bundle `digest` into `to`, checking its SHA-256.
    pub async fn download(&self, digest: &str, to: &Path) -> Result<(), ClusterError> {
        use tokio::io::AsyncWriteExt;
        let what = || format!("cannot fetch the bundle sha256 {digest} from the cluster");
        let mut object = self
            .bundles
            .get(digest)
            .await
            .map_err(|e| ClusterError::js(what(), e))?;
        let mut file = tokio::fs::File::create(to)
            .await
            .map_err(|e| ClusterError::io("cannot write", to, e))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 256 << 10];
        loop {
            use tokio::io::AsyncReadExt;
            let n = object
                .read(&mut buffer)
                .await
                .map_err(|e| ClusterError::js(what(), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            file.write_all(&buffer[..n])
                .await
                .map_err(|e| ClusterError::io("cannot write", to, e))?;
        }
        file.sync_all()
            .await
            .map_err(|e| ClusterError::io("cannot write", to, e))?;
        let got = hex::encode(hasher.finalize());
        if got != digest {
            let _ = tokio::fs::remove_file(to).await;
            return Err(ClusterError::Refused(format!(
                "the cluster's copy of bundle sha256 {digest} has the SHA-256 {got}: it is damaged; deploy the app again"
            )));
        }
        Ok(())
    }

    /// Removes the bundles among `digests` that no app's revisions name.
    pub async fn collect_bundles(&self, digests: &[String]) {
        if digests.is_empty() {
            return;
        }
        let Ok(apps) = self.list::<AppSpec>(&self.apps).await else {
            return;
        };
        for digest in digests {
            if !apps.iter().any(|(_, a)| a.digests().any(|d| d == digest)) {
                let _ = self.bundles.delete(digest).await;
            }
        }
    }
}

/// Whether an app type runs on a node's HTTP port.
pub fn is_http(app_type: &str) -> bool {
    app_type == AppType::Http.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_every_node_refuses_is_named_with_the_nodes() {
        let node = |n| crate::placement::tests::node(n, 1 << 30, &[]);
        let mut a = node("a");
        let mut b = node("b");
        assert_eq!(refused_by_every_node(&[a.clone(), b.clone()], None), None);
        a.require_signature = true;
        assert_eq!(refused_by_every_node(&[a.clone(), b.clone()], None), None);
        b.require_signature = true;
        let why = refused_by_every_node(&[a, b], None).unwrap();
        assert!(why.contains("every node of the cluster (a, b)"), "{why}");
        assert!(why.contains("it is not signed"), "{why}");
        assert_eq!(refused_by_every_node(&[], None), None);
    }
}
