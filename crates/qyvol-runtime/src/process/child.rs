//! One child: its code loaded (from the same engine and code cache as its
//! parent) before its start is answered, then a fresh instance on a thread
//! of its own; its status when it ends; killing it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wasmtime::Engine;

use super::grant::ExecGrant;
use super::pipe::Pipe;
use super::spawn::{FAILED, Refusal};
use crate::code::Code;
use crate::outcome::Outcome;
use crate::run::{Prepared, execute_component, execute_module, prepare};
use crate::spec::RunSpec;
use crate::wasi;

/// How long `wait` gives a killed child blocked in a host call (a sleep)
/// before it reports it stopped anyway.
const KILL_GRACE: Duration = Duration::from_millis(250);

/// Where a child is: running, or ended with a status.
#[derive(Default)]
struct Done {
    status: Mutex<Option<i32>>,
    changed: Condvar,
}

/// The parent's handle on a child.
pub(crate) struct Child {
    grant: ExecGrant,
    engine: Engine,
    pub(crate) stdin: Option<Arc<Pipe>>,
    pub(crate) stdout: Option<Arc<Pipe>>,
    pub(crate) stderr: Option<Arc<Pipe>>,
    done: Arc<Done>,
}

/// Ends the pipes a child writes, so that its parent reads their end,
/// and its input, so that the parent's writes fail.
fn close_pipes(stdin: &Option<Arc<Pipe>>, outputs: &[&Option<Arc<Pipe>>]) {
    if let Some(p) = stdin {
        p.close_reader();
    }
    for p in outputs.iter().copied().flatten() {
        p.close_writer();
    }
}

impl Child {
    /// Loads the child's code and starts it on a thread of its own. The
    /// caller has counted it in its tree's live children; if it does not
    /// start, the caller counts it out.
    pub(crate) fn start(
        engine: &Engine,
        spec: RunSpec,
        pipes: [Option<Arc<Pipe>>; 3],
    ) -> Result<Child, Refusal> {
        let grant = spec
            .exec
            .clone()
            .ok_or_else(|| Refusal::new(FAILED, "a child's spec holds no place in a tree"))?;
        let prepared = prepare(spec, engine).map_err(|e| Refusal::new(FAILED, e.to_string()))?;
        let [stdin, stdout, stderr] = pipes;
        let done = Arc::new(Done::default());
        // Counted out of the tree's live children when its thread ends.
        let child = Child {
            grant: grant.clone(),
            engine: engine.clone(),
            stdin: stdin.clone(),
            stdout: stdout.clone(),
            stderr: stderr.clone(),
            done: done.clone(),
        };
        let engine = engine.clone();
        let spawned = std::thread::Builder::new()
            .name("qyv-child".into())
            .stack_size(8 << 20)
            .spawn(move || {
                let status = run(&engine, prepared, &grant);
                close_pipes(&stdin, &[&stdout, &stderr]);
                *done.status.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
                done.changed.notify_all();
                grant.tree.live.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            return Err(Refusal::new(FAILED, format!("cannot start a thread: {e}")));
        }
        Ok(child)
    }

    /// Ends the child at its next epoch check, and its input now.
    pub(crate) fn kill(&self) {
        if self.status().is_some() {
            return;
        }
        self.grant.killed.store(true, Ordering::SeqCst);
        self.engine.increment_epoch();
        if let Some(p) = &self.stdin {
            p.close_writer();
        }
    }

    pub(crate) fn status(&self) -> Option<i32> {
        *self.done.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the child's end and returns its status. A killed child
    /// that does not end within [`KILL_GRACE`] (it is blocked in a host
    /// call) is reported stopped, and its pipes closed.
    pub(crate) fn wait(&self) -> i32 {
        let mut status = self.done.status.lock().unwrap_or_else(|p| p.into_inner());
        let mut killed_at: Option<Instant> = None;
        loop {
            if let Some(s) = *status {
                return s;
            }
            if self.grant.killed.load(Ordering::SeqCst) {
                let since = *killed_at.get_or_insert_with(Instant::now);
                let left = KILL_GRACE.saturating_sub(since.elapsed());
                if left.is_zero() {
                    let s = Outcome::Stopped.exit_code();
                    *status = Some(s);
                    drop(status);
                    close_pipes(&self.stdin, &[&self.stdout, &self.stderr]);
                    return s;
                }
                status = self
                    .done
                    .changed
                    .wait_timeout(status, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            } else {
                status = self
                    .done
                    .changed
                    .wait(status)
                    .unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}

/// Runs the child to its end on this thread and returns its status; how it
/// ended, unless it exited, is said on its standard error.
fn run(engine: &Engine, prepared: Prepared, grant: &ExecGrant) -> i32 {
    let started = Instant::now();
    let spec = &prepared.spec;
    let name = spec.argv0.clone();
    // A child whose manifest sets its own time limit: ended like a kill,
    // and reported as its own timeout.
    let own_limit = spec.timeout;
    let timed_out = Arc::new(AtomicBool::new(false));
    let (finished, finish) = std::sync::mpsc::channel::<()>();
    if let Some(limit) = own_limit {
        let (grant, engine, timed_out) = (grant.clone(), engine.clone(), timed_out.clone());
        std::thread::spawn(move || {
            if finish.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
                timed_out.store(true, Ordering::SeqCst);
                grant.killed.store(true, Ordering::SeqCst);
                engine.increment_epoch();
            }
        });
    }
    let executed = wasi::grants(spec, &prepared.gate).and_then(|mut b| {
        b.allow_blocking_current_thread(true);
        grant.streams.apply(&mut b);
        match prepared.code.clone() {
            Code::Module(m) => execute_module(engine, &m, b, spec),
            Code::Component(c) => execute_component(engine, &c, b, spec, &prepared.gate),
        }
    });
    let execution = match executed {
        Ok(e) => e,
        Err(e) => {
            grant.streams.say(&format!("{name} could not start: {e}"));
            return FAILED_STATUS;
        }
    };
    drop(finished);
    let mut outcome = prepared.report(execution, started).outcome;
    if matches!(outcome, Outcome::TimedOut { .. }) {
        if timed_out.load(Ordering::SeqCst) {
            outcome = Outcome::TimedOut {
                limit: own_limit.unwrap_or_default(),
                blocked: false,
            };
        } else if grant.tree.expired.load(Ordering::SeqCst) {
            outcome = Outcome::TimedOut {
                limit: grant
                    .tree
                    .timeout
                    .get()
                    .copied()
                    .flatten()
                    .unwrap_or_default(),
                blocked: false,
            };
        } else if grant.killed.load(Ordering::SeqCst) {
            outcome = Outcome::Stopped;
        }
    }
    match &outcome {
        // A child that was killed was stopped by its parent: the parent
        // knows, and says what it likes.
        Outcome::Exited(_) | Outcome::Stopped => {}
        other => {
            if let Some(line) = other.report(&name) {
                grant.streams.say(&line);
            }
        }
    }
    outcome.exit_code()
}

/// The status of a child that could not start (a link error), as `qyv`'s
/// own for a program it cannot start.
pub(crate) const FAILED_STATUS: i32 = 125;
