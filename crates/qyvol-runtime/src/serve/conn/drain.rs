//! How every Qyvol server stops: it stops accepting, lets what is in flight
//! finish until a deadline, then closes what is left. `qyv serve`, a node's
//! HTTP port and its API all stop this way, by the same rule for the
//! deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use super::Connections;

/// How long a stopping server waits for what is in flight.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

/// How a drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Everything finished in time.
    Finished,
    /// The deadline passed; `cut` connections were closed.
    DeadlinePassed { cut: usize },
    /// Told to stop waiting; `cut` connections were closed.
    Forced { cut: usize },
}

/// How long a stopping server waits for what is in flight: `configured`,
/// else [`DEFAULT_DRAIN`] or the longest time limit of the apps served, if
/// longer (a request may run that long).
pub fn drain_time(configured: Option<Duration>, longest_app_timeout: Option<Duration>) -> Duration {
    configured.unwrap_or_else(|| DEFAULT_DRAIN.max(longest_app_timeout.unwrap_or_default()))
}

/// Stops a listener's connections the one way every Qyvol server stops:
/// they are closed gracefully ([`Connections::close`]), then waited for,
/// with `work` (what runs beyond them), until `deadline`; `force` stops the
/// wait early. Whatever is left then is cut.
pub async fn drain(
    conns: &Connections,
    work: impl Future<Output = ()>,
    deadline: Instant,
    force: impl Future<Output = ()>,
) -> Drained {
    conns.close();
    let finished = async {
        conns.closed().await;
        work.await;
    };
    let forced = tokio::select! {
        _ = finished => return Drained::Finished,
        _ = tokio::time::sleep_until(deadline.into()) => false,
        _ = force => true,
    };
    let cut = conns.cut();
    // The connections close as soon as their tasks see the cut.
    let _ = tokio::time::timeout(Duration::from_secs(1), conns.closed()).await;
    if forced {
        Drained::Forced { cut }
    } else {
        Drained::DeadlinePassed { cut }
    }
}
