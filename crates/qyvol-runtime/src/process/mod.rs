//! `permissions.exec`: apps that start other apps. A parent starts a child
//! (a `.wasm` or a `.qyv` found through its own mounts) with arguments,
//! variables, a working folder and its standard streams piped, inherited
//! or null; it writes the child's input, reads its output, waits for its
//! status and kills it. Each child is a fresh instance on the parent's
//! engine, with code from the same cache, on a thread of its own, and holds
//! at most what its parent holds ([`spawn`]). A tree of processes shares
//! the root's limits: `limits.processes` live children at any depth, the
//! root's memory (every instance's memory counts against it) and its time
//! (when it is up, every instance ends). A parent that ends kills its
//! children. Preview-1 modules call it through the `qyvol_process` imports
//! ([`host`]; docs/process.md).

mod child;
mod grant;
mod host;
mod pipe;
mod spawn;

pub use grant::ExecGrant;
pub use host::MODULE;
pub(crate) use host::{ProcessTable, add_to_linker};
