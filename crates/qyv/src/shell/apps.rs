//! Where completion finds app names (`APP` values): the apps of the
//! current node. Commands that take an app by name (`logs`, `ps`, node
//! commands) come with the node; the shell asks through this trait so that
//! the node client plugs in without touching completion.

/// The names of the apps where commands run now.
pub trait AppNames: Send {
    fn app_names(&self) -> Vec<String>;
}

/// No node is set: commands run on this machine, where apps have no names
/// to complete. `context` says so.
pub struct NoNode;

impl AppNames for NoNode {
    fn app_names(&self) -> Vec<String> {
        Vec::new()
    }
}
