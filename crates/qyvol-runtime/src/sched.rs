//! CPU shares between programs that run as async tasks on one runtime (a
//! node's apps). Each program has a [`CpuShare`]: a weight (its share when
//! programs compete) and an optional cap (cores it may use at most, even
//! on an idle machine). The CPU time a program uses is measured around
//! every poll of its task (the thread's CPU clock), and its *virtual time*
//! grows by that time divided by its weight. At each epoch yield (every
//! [`TICK`] of running wasm) the program waits while it is ahead of the
//! busy program furthest behind by more than [`SLACK`], and while its cap's
//! bucket is empty: weighted fair queuing by measured CPU time. A program
//! waiting in a host call (a sleep, a read) uses no CPU and holds nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use qyvol_manifest::sync::lock;
use tokio::sync::Notify;

/// How often running wasm reaches a yield: the scheduler's time slice.
pub const TICK: Duration = Duration::from_millis(10);

/// How far (in CPU time at weight 1) a program may run ahead of the busy
/// program furthest behind before it waits: one slice, so that programs
/// of equal weight alternate slice by slice.
const SLACK: Duration = TICK;

/// A program that reached a yield this recently competes for the CPU.
const BUSY: Duration = Duration::from_millis(50);

/// CPU time a capped program may use in a burst beyond its cap (so that a
/// short request is not cut into slices): two slices.
const BURST: Duration = Duration::from_millis(20);

/// The weight of a program that names none.
pub const DEFAULT_WEIGHT: u32 = 1;

/// Virtual time is kept in nanoseconds of CPU time × this / weight, so that
/// integer division keeps its precision for weights up to 10,000.
const SCALE: u64 = 10_000;

/// The programs sharing the CPU of one host.
#[derive(Clone, Default)]
pub struct CpuScheduler {
    inner: Arc<Sched>,
}

#[derive(Default)]
struct Sched {
    shares: Mutex<Vec<Weak<State>>>,
    /// Told whenever a program's virtual time grows at a yield.
    moved: Notify,
    origin: OnceInstant,
}

/// A fixed point in time that all shares measure from.
struct OnceInstant(Instant);

impl Default for OnceInstant {
    fn default() -> Self {
        OnceInstant(Instant::now())
    }
}

/// One program's part of the CPU, and what it used.
#[derive(Clone)]
pub struct CpuShare {
    state: Arc<State>,
    sched: Arc<Sched>,
}

struct State {
    weight: u64,
    /// Cores, in thousandths.
    cap_millicores: Option<u64>,
    /// CPU time used, in nanoseconds.
    cpu_ns: AtomicU64,
    /// `cpu_ns` × SCALE / weight, moved forward when the program comes
    /// back from idling so that it does not get the time it did not use.
    vtime: AtomicU64,
    /// When the program last reached a yield (ns since the scheduler's
    /// origin, + 1 so that 0 means never).
    last_turn: AtomicU64,
    /// The thread's CPU clock when the poll under way began (or when it
    /// was last charged).
    poll_start: AtomicU64,
    bucket: Mutex<Bucket>,
}

/// A capped program's allowance: CPU time it may still use, refilled at
/// the cap's rate.
struct Bucket {
    tokens_ns: i64,
    refilled: Instant,
    charged_ns: u64,
}

impl CpuScheduler {
    pub fn new() -> CpuScheduler {
        CpuScheduler::default()
    }

    /// A share for one program: `weight` ≥ 1, `cap` in cores.
    pub fn share(&self, weight: u32, cap: Option<f64>) -> CpuShare {
        let state = Arc::new(State {
            weight: u64::from(weight.max(1)),
            cap_millicores: cap.map(|c| ((c * 1000.0).round() as u64).max(1)),
            cpu_ns: AtomicU64::new(0),
            vtime: AtomicU64::new(0),
            last_turn: AtomicU64::new(0),
            poll_start: AtomicU64::new(0),
            bucket: Mutex::new(Bucket {
                tokens_ns: BURST.as_nanos() as i64,
                refilled: Instant::now(),
                charged_ns: 0,
            }),
        });
        let mut shares = lock(&self.inner.shares);
        shares.retain(|s| s.strong_count() > 0);
        shares.push(Arc::downgrade(&state));
        CpuShare {
            state,
            sched: self.inner.clone(),
        }
    }

    /// Programs with a share now.
    pub fn len(&self) -> usize {
        lock(&self.inner.shares)
            .iter()
            .filter(|s| s.strong_count() > 0)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The calling thread's CPU time, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

impl std::fmt::Debug for CpuShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuShare")
            .field("weight", &self.weight())
            .field("cap", &self.cap())
            .field("cpu_time", &self.cpu_time())
            .finish()
    }
}

impl CpuShare {
    pub fn weight(&self) -> u32 {
        self.state.weight as u32
    }

    /// The cap in cores, if any.
    pub fn cap(&self) -> Option<f64> {
        self.state.cap_millicores.map(|m| m as f64 / 1000.0)
    }

    /// CPU time the program used so far.
    pub fn cpu_time(&self) -> Duration {
        Duration::from_nanos(self.state.cpu_ns.load(Ordering::Relaxed))
    }

    /// Runs `future` measuring the CPU time of each of its polls.
    pub fn metered<F: Future>(&self, future: F) -> Metered<F> {
        Metered {
            future,
            share: self.clone(),
        }
    }

    fn now_ns(&self) -> u64 {
        self.sched.origin.0.elapsed().as_nanos() as u64 + 1
    }

    /// Adds the CPU time since the poll began (or the last charge).
    fn charge(&self) {
        let now = thread_cpu_ns();
        let start = self.state.poll_start.swap(now, Ordering::Relaxed);
        let used = now.saturating_sub(start);
        self.state.cpu_ns.fetch_add(used, Ordering::Relaxed);
        self.state
            .vtime
            .fetch_add(used * SCALE / self.state.weight, Ordering::Relaxed);
    }

    /// The least virtual time among the other programs competing now.
    fn behind_most(&self, now: u64) -> Option<u64> {
        let shares = lock(&self.sched.shares);
        shares
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| !Arc::ptr_eq(s, &self.state))
            .filter(|s| {
                let last = s.last_turn.load(Ordering::Relaxed);
                last != 0 && now.saturating_sub(last) < BUSY.as_nanos() as u64
            })
            .map(|s| s.vtime.load(Ordering::Relaxed))
            .min()
    }

    /// How long the cap makes the program wait now, if at all.
    fn cap_wait(&self) -> Option<Duration> {
        let millicores = self.state.cap_millicores?;
        let mut b = lock(&self.state.bucket);
        let cpu = self.state.cpu_ns.load(Ordering::Relaxed);
        let now = Instant::now();
        let refill = now.duration_since(b.refilled).as_nanos() as u64 * millicores / 1000;
        b.refilled = now;
        b.tokens_ns = (b.tokens_ns + refill as i64).min(BURST.as_nanos() as i64);
        b.tokens_ns -= cpu.saturating_sub(b.charged_ns) as i64;
        b.charged_ns = cpu;
        (b.tokens_ns < 0).then(|| Duration::from_nanos((-b.tokens_ns) as u64 * 1000 / millicores))
    }

    /// What a program does at an epoch yield: waits for its cap to allow
    /// more, and for programs behind it (by weighted CPU time) to catch
    /// up, then lets other tasks of the runtime run.
    pub fn turn(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.charge();
        let share = self.clone();
        Box::pin(async move { share.wait_turn().await })
    }

    async fn wait_turn(&self) {
        if let Some(wait) = self.cap_wait() {
            tokio::time::sleep(wait).await;
        }
        let now = self.now_ns();
        let last = self.state.last_turn.swap(now, Ordering::Relaxed);
        let slack = SLACK.as_nanos() as u64 * SCALE;
        // Back from idling (or new): it starts level with the others, not
        // with credit for the time it did not compete.
        if (last == 0 || now.saturating_sub(last) >= BUSY.as_nanos() as u64)
            && let Some(min) = self.behind_most(now)
        {
            self.state.vtime.fetch_max(min, Ordering::Relaxed);
        }
        self.sched.moved.notify_waiters();
        loop {
            let now = self.now_ns();
            self.state.last_turn.store(now, Ordering::Relaxed);
            let mine = self.state.vtime.load(Ordering::Relaxed);
            match self.behind_most(now) {
                Some(min) if mine > min + slack => {
                    let moved = self.sched.moved.notified();
                    let _ = tokio::time::timeout(TICK, moved).await;
                }
                _ => break,
            }
        }
        tokio::task::yield_now().await;
    }
}

/// A future whose polls are charged to a share.
pub struct Metered<F> {
    future: F,
    share: CpuShare,
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is never moved out of the pinned `Metered`, and
        // `share` is not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        this.share
            .state
            .poll_start
            .store(thread_cpu_ns(), Ordering::Relaxed);
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        let result = future.poll(cx);
        this.share.charge();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_keeps_its_weight_and_cap() {
        let sched = CpuScheduler::new();
        let a = sched.share(3, Some(0.5));
        assert_eq!(a.weight(), 3);
        assert_eq!(a.cap(), Some(0.5));
        let b = sched.share(0, None);
        assert_eq!(b.weight(), 1, "a weight of 0 is taken as 1");
        assert_eq!(sched.len(), 2);
        drop(a);
        assert_eq!(sched.len(), 1);
    }

    #[test]
    fn the_thread_cpu_clock_moves_with_work() {
        let start = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_ns() > start, "{x}");
    }

    #[test]
    fn an_empty_cap_bucket_asks_to_wait_in_proportion_to_the_cap() {
        let sched = CpuScheduler::new();
        let half = sched.share(1, Some(0.5));
        // 120 ms of CPU charged at once: 20 ms of burst leaves 100 ms owed,
        // which a half core pays back in 200 ms.
        half.state.cpu_ns.store(120_000_000, Ordering::Relaxed);
        // (The bucket never holds more than the burst, however long ago
        // it was filled.)
        assert_eq!(half.cap_wait(), Some(Duration::from_millis(200)));
        let free = sched.share(1, None);
        free.state.cpu_ns.store(120_000_000, Ordering::Relaxed);
        assert_eq!(free.cap_wait(), None);
    }

    #[test]
    fn a_program_ahead_of_a_busy_one_waits_and_one_behind_does_not() {
        let sched = CpuScheduler::new();
        let light = sched.share(1, None);
        let heavy = sched.share(3, None);
        // Both compete; the light one used 30 ms, the heavy one 30 ms too:
        // by weight the light one is 20 ms (at weight 1) ahead.
        let now = light.now_ns();
        for s in [&light, &heavy] {
            s.state.cpu_ns.store(30_000_000, Ordering::Relaxed);
            s.state
                .vtime
                .store(30_000_000 * SCALE / s.state.weight, Ordering::Relaxed);
            s.state.last_turn.store(now, Ordering::Relaxed);
        }
        let ahead = light.state.vtime.load(Ordering::Relaxed);
        let min = light.behind_most(now).unwrap();
        assert!(ahead > min + SLACK.as_nanos() as u64 * SCALE);
        let heavy_min = heavy.behind_most(now).unwrap();
        assert!(heavy.state.vtime.load(Ordering::Relaxed) <= heavy_min);
    }
}
