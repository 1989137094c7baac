//! The limit on open files, which bounds how many connections a server can
//! hold: a service manager's soft limit is often 1024 while its hard limit
//! is far higher, so the soft limit is raised to the hard one, once per
//! process, before any listener counts on it.

use std::sync::OnceLock;

/// The process's limit on open files, after raising the soft limit to the
/// hard one (the first call raises it); `None` when there is no limit or it
/// cannot be read.
pub fn descriptor_limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(raise)
}

/// Connections a process may keep open: its descriptor limit less a
/// quarter (at least 16) kept for everything else it opens (files, the
/// apps' sockets, its database); effectively unbounded with no limit.
pub fn connection_budget() -> usize {
    match descriptor_limit() {
        Some(limit) => {
            let reserve = (limit / 4).max(16);
            limit.saturating_sub(reserve).max(1) as usize
        }
        None => usize::MAX,
    }
}

fn raise() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit, which `limit` is.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit, which `raised` is. A refusal
        // (some systems cap the soft limit below an unlimited hard one)
        // leaves the soft limit as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}
