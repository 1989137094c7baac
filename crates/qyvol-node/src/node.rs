//! What every request handler shares: the supervisor (and through it the
//! store, the bundles and the logs), the token, and the node's settings.

use qyvol_runtime::serve::Closing;

use crate::auth::Token;
use crate::hold::Hold;
use crate::supervisor::Supervisor;
use crate::tls::Fingerprint;

pub struct Node {
    pub supervisor: Supervisor,
    pub token: Token,
    /// Largest bundle a deploy may upload, in bytes.
    pub max_upload: u64,
    pub fingerprint: Fingerprint,
    pub hold: Hold,
    /// The node's place in a cluster, if it joined one.
    pub cluster: crate::cluster::Slot,
    /// Resolves when the node starts to stop.
    pub closing: Closing,
}
