//! How a run ended: the endings, the status each reports,
//! how an error out of wasm becomes an ending ([`classify`]) and how a limit
//! the guest ran into explains a failure ([`explain`]). The run path and the
//! serve path both end their guests here.

use std::time::Duration;

use qyvol_manifest::{format_duration, format_size};
use wasmtime::{Trap, WasmBacktrace};
use wasmtime_wasi::I32Exit;

use crate::control::RunControl;
use crate::net::NetGate;
use crate::spec::RunSpec;

/// How a run ended, as a kind without its details: what the binary turns
/// into its exit status and the node records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The program returned or called exit with this code.
    Exited(i32),
    Trapped,
    TimedOut,
    MemoryLimit,
    FuelExhausted,
    NetDenied,
    Stopped,
}

impl Ending {
    /// The status a process that ended this way reports, by the Unix
    /// conventions its readers know: the guest's own code, 124 for a time
    /// limit (as GNU `timeout`), 126 for a denied permission, 128 + the
    /// signal that would have ended a native process (134 SIGABRT for a
    /// trap, as `wasmtime run`; 137 SIGKILL for the memory cap, as an
    /// out-of-memory kill in Docker; 152 SIGXCPU for fuel; 143 SIGTERM for
    /// a stop, as `docker stop`). The node's records and the run's metrics
    /// report the same numbers as the binary's exit status, so they are
    /// kept with the ending rather than in the binary.
    pub fn status(self) -> i32 {
        match self {
            Ending::Exited(code) => code,
            Ending::TimedOut => 124,
            Ending::NetDenied => 126,
            Ending::Trapped => 134,
            Ending::MemoryLimit => 137,
            Ending::FuelExhausted => 152,
            Ending::Stopped => 143,
        }
    }
}

/// The end of a run that started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The program returned or called exit with this code.
    Exited(i32),
    /// A trap: the reason and the wasm backtrace, one frame per line.
    Trapped {
        reason: String,
        backtrace: Vec<String>,
    },
    /// Stopped by the time limit. `blocked`: the program was waiting in a
    /// host call (a read, a sleep) and could not be interrupted, so `qyv`
    /// gave up on it.
    TimedOut { limit: Duration, blocked: bool },
    /// The program hit the memory cap and then failed (`then`).
    MemoryLimit { limit: u64, then: Box<Outcome> },
    /// The fuel budget ran out.
    FuelExhausted { fuel: u64 },
    /// The program was refused network access (`denied`: what it tried,
    /// `connect to 1.2.3.4:80`, `look up example.com`) and then failed
    /// (`then`); `rules` would have allowed it (`NAME:PORT` for a name,
    /// whose port the lookup does not tell).
    NetDenied {
        denied: Vec<String>,
        rules: Vec<String>,
        then: Box<Outcome>,
    },
    /// A supervisor stopped it (see `RunControl::stop`).
    Stopped,
}

impl Outcome {
    /// The kind of this ending.
    pub fn ending(&self) -> Ending {
        match self {
            Outcome::Exited(code) => Ending::Exited(*code),
            Outcome::Trapped { .. } => Ending::Trapped,
            Outcome::TimedOut { .. } => Ending::TimedOut,
            Outcome::MemoryLimit { .. } => Ending::MemoryLimit,
            Outcome::FuelExhausted { .. } => Ending::FuelExhausted,
            Outcome::NetDenied { .. } => Ending::NetDenied,
            Outcome::Stopped => Ending::Stopped,
        }
    }

    /// The status this ending reports (see [`Ending::status`]).
    pub fn exit_code(&self) -> i32 {
        self.ending().status()
    }

    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Exited(0))
    }

    /// What `qyv` says on stderr about this ending; `None` for a plain exit,
    /// whose story the program told itself.
    pub fn report(&self, program: &str) -> Option<String> {
        self.report_with(program, |_| None)
    }

    /// The same, with what else the caller lets the user do about a limit
    /// or a denial (`also`, e.g. a flag of its own), said beside the
    /// manifest field that does it.
    pub fn report_with(
        &self,
        program: &str,
        also: impl Fn(&Outcome) -> Option<String>,
    ) -> Option<String> {
        let or = |before: &str, after: &str| {
            also(self).map_or(String::new(), |a| format!("{before}{a}{after}"))
        };
        match self {
            Outcome::Exited(_) => None,
            Outcome::Trapped { reason, backtrace } => {
                let mut s = format!("{program} trapped: {reason}");
                if !backtrace.is_empty() {
                    s.push_str("\nwasm backtrace:");
                    for frame in backtrace {
                        s.push('\n');
                        s.push_str(frame);
                    }
                }
                Some(s)
            }
            Outcome::TimedOut { limit, blocked } => Some(format!(
                "{program} was stopped by the time limit of {} (limits.timeout){}",
                format_duration(*limit),
                if *blocked {
                    "; it was blocked in a host call and could not be interrupted"
                } else {
                    ""
                }
            )),
            Outcome::MemoryLimit { limit, then } => Some(format!(
                "{program} reached the memory limit of {} (limits.memory) and {}; raise limits.memory{}",
                format_size(*limit),
                then.ended_as(),
                or(" or ", "")
            )),
            Outcome::FuelExhausted { fuel } => Some(format!(
                "{program} ran out of fuel after {fuel} units (limits.fuel); raise limits.fuel{}",
                or(" or ", "")
            )),
            Outcome::NetDenied {
                denied,
                rules,
                then,
            } => {
                let quoted: Vec<String> = rules.iter().map(|r| format!("\"{r}\"")).collect();
                let port = if rules.iter().any(|r| r.ends_with(":PORT")) {
                    "; PORT is the port it connects to (* for any)"
                } else {
                    ""
                };
                Some(format!(
                    "{program} was denied network access ({}) by permissions.net and {}; to allow it, add {} to permissions.net{}{port}",
                    denied.join(", "),
                    then.ended_as(),
                    quoted.join(" and "),
                    or(" (or ", ")")
                ))
            }
            Outcome::Stopped => Some(format!("{program} was stopped")),
        }
    }

    fn ended_as(&self) -> String {
        match self {
            Outcome::Exited(code) => format!("exited with code {code}"),
            Outcome::Trapped { reason, .. } => format!("trapped ({reason})"),
            other => format!("ended with status {}", other.exit_code()),
        }
    }
}

/// What the limiter saw, copied out of the store.
#[derive(Debug, Default)]
pub(crate) struct LimiterView {
    pub(crate) peak: u64,
    pub(crate) hit: bool,
}

/// Turns an error out of wasm into how the run ended.
pub(crate) fn classify(e: wasmtime::Error, spec: &RunSpec) -> Outcome {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return Outcome::Exited(exit.0);
    }
    let backtrace = e
        .downcast_ref::<WasmBacktrace>()
        .map(format_backtrace)
        .unwrap_or_default();
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) if spec.control.as_ref().is_some_and(RunControl::is_stopped) => {
            Outcome::Stopped
        }
        Some(Trap::Interrupt) => Outcome::TimedOut {
            limit: spec.timeout.unwrap_or_default(),
            blocked: false,
        },
        Some(Trap::OutOfFuel) => Outcome::FuelExhausted {
            fuel: spec.fuel.unwrap_or_default(),
        },
        Some(trap) => Outcome::Trapped {
            reason: trap
                .to_string()
                .trim_start_matches("wasm trap: ")
                .to_string(),
            backtrace,
        },
        // A host function failed in a way the guest cannot handle.
        None => Outcome::Trapped {
            reason: format!("{:#}", e.root_cause()),
            backtrace,
        },
    }
}

/// Wasmtime's own rendering of frames, without its heading line.
fn format_backtrace(bt: &WasmBacktrace) -> Vec<String> {
    bt.to_string()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// When a limit the guest ran into explains its failure better than the
/// failure itself, say so.
pub(crate) fn explain(
    outcome: Outcome,
    limiter: &LimiterView,
    spec: &RunSpec,
    gate: &NetGate,
) -> Outcome {
    if matches!(
        outcome,
        Outcome::TimedOut { .. } | Outcome::FuelExhausted { .. } | Outcome::Stopped
    ) {
        return outcome;
    }
    if limiter.hit
        && let Some(limit) = spec.memory
    {
        return Outcome::MemoryLimit {
            limit,
            then: Box::new(outcome),
        };
    }
    let denied = gate.denials.list();
    if !denied.is_empty() {
        let mut rules: Vec<String> = Vec::new();
        for d in &denied {
            if !rules.contains(&d.rule) {
                rules.push(d.rule.clone());
            }
        }
        return Outcome::NetDenied {
            denied: denied.into_iter().map(|d| d.what).collect(),
            rules,
            then: Box::new(outcome),
        };
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ending_has_its_own_status() {
        let trap = Outcome::Trapped {
            reason: "x".into(),
            backtrace: vec![],
        };
        let codes = [
            Outcome::Exited(3).exit_code(),
            trap.exit_code(),
            Outcome::TimedOut {
                limit: Duration::from_secs(1),
                blocked: false,
            }
            .exit_code(),
            Outcome::MemoryLimit {
                limit: 1,
                then: Box::new(trap.clone()),
            }
            .exit_code(),
            Outcome::FuelExhausted { fuel: 1 }.exit_code(),
            Outcome::NetDenied {
                denied: vec![],
                rules: vec![],
                then: Box::new(Outcome::Exited(1)),
            }
            .exit_code(),
            Outcome::Stopped.exit_code(),
        ];
        let mut unique = codes.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "{codes:?}");
    }

    #[test]
    fn reports_name_the_limit() {
        let r = Outcome::TimedOut {
            limit: Duration::from_millis(1500),
            blocked: false,
        }
        .report("app")
        .unwrap();
        assert_eq!(
            r,
            "app was stopped by the time limit of 1.5s (limits.timeout)"
        );
        let r = Outcome::MemoryLimit {
            limit: 64 << 20,
            then: Box::new(Outcome::Exited(1)),
        }
        .report("app")
        .unwrap();
        assert!(r.contains("limits.memory"), "{r}");
        assert!(r.contains("exited with code 1"), "{r}");
        assert!(Outcome::Exited(2).report("app").is_none());
        let denied = Outcome::NetDenied {
            denied: vec!["look up localhost".into()],
            rules: vec!["localhost:PORT".into()],
            then: Box::new(Outcome::Exited(1)),
        };
        assert_eq!(
            denied.report("app").unwrap(),
            "app was denied network access (look up localhost) by permissions.net and exited with code 1; to allow it, add \"localhost:PORT\" to permissions.net; PORT is the port it connects to (* for any)"
        );
        // The caller's own way is said beside the field's.
        assert_eq!(
            denied
                .report_with("app", |_| Some("pass --allow-net=localhost:PORT".into()))
                .unwrap(),
            "app was denied network access (look up localhost) by permissions.net and exited with code 1; to allow it, add \"localhost:PORT\" to permissions.net (or pass --allow-net=localhost:PORT); PORT is the port it connects to (* for any)"
        );
    }
}
