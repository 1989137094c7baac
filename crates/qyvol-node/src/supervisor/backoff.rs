//! How long a service waits before it is started again: doubling from
//! [`FIRST`] to [`MAX`] while it keeps ending soon after it starts, back to
//! [`FIRST`] once an instance has run for [`STEADY`].

use std::time::Duration;

pub const FIRST: Duration = Duration::from_millis(100);
pub const MAX: Duration = Duration::from_secs(30);
/// An instance that ran this long was not crash-looping.
pub const STEADY: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct Backoff {
    /// Instances in a row that ended before [`STEADY`].
    quick_ends: u32,
}

impl Backoff {
    /// An instance ended after running for `ran`: the wait before the next.
    pub fn next(&mut self, ran: Duration) -> Duration {
        if ran >= STEADY {
            self.quick_ends = 0;
        }
        let delay = FIRST.saturating_mul(1 << self.quick_ends.min(16)).min(MAX);
        self.quick_ends = self.quick_ends.saturating_add(1);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets_after_a_steady_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(5);
        let waits: Vec<u128> = (0..11).map(|_| b.next(quick).as_millis()).collect();
        assert_eq!(
            waits,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000
            ]
        );
        assert_eq!(b.next(STEADY), FIRST);
        assert_eq!(b.next(quick), FIRST * 2);
    }
}
