//! Where completion finds app names (`APP` values): the apps of the
//! current node, or of the current cluster. The shell asks through this trait so that completion
//! does not know about nodes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use qyvol_manifest::sync::lock;
use qyvol_node::client::Client;

use crate::cli::NodeFlags;
use crate::contexts::Contexts;
use crate::remote::connection;

/// The names of the apps where commands run now.
pub trait AppNames: Send {
    fn app_names(&self) -> Vec<String>;
}

/// No node: nothing to complete.
#[cfg(test)]
pub struct NoNode;

#[cfg(test)]
impl AppNames for NoNode {
    fn app_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// How long a node may take to list its apps before completion gives up.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a list stays good: Tab pressed again soon asks no one.
const KEEP: Duration = Duration::from_secs(5);

/// The apps of the current context's node, asked for when Tab needs them
/// and kept a few seconds. Without a node, or when it does not answer in
/// time, there is nothing to complete.
#[derive(Default)]
pub struct NodeApps {
    last: Mutex<Option<(Instant, String, Vec<String>)>>,
}

impl AppNames for NodeApps {
    fn app_names(&self) -> Vec<String> {
        let Ok(contexts) = Contexts::load() else {
            return Vec::new();
        };
        let Some((name, saved)) = contexts.current() else {
            return Vec::new();
        };
        let cluster = saved.is_cluster();
        let mut last = lock(&self.last);
        if let Some((at, context, names)) = last.as_ref()
            && context == name
            && at.elapsed() < KEEP
        {
            return names.clone();
        }
        let names: Vec<String> = if cluster {
            crate::commands::cluster::app_names(ASK_TIMEOUT)
        } else {
            connection(&NodeFlags::default(), None)
                .ok()
                .and_then(|conn| Client::with_timeout(&conn, ASK_TIMEOUT).ok())
                .and_then(|client| client.apps().ok())
                .map(|apps| apps.into_iter().map(|a| a.name).collect())
                .unwrap_or_default()
        };
        *last = Some((Instant::now(), name.to_string(), names.clone()));
        names
    }
}
