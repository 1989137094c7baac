//! One app's task: start an instance, wait for it to end (or to be asked to
//! stop), record how it ended, and start it again if its policy says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use qyvol_manifest::bundle::Bundle;
use qyvol_manifest::{AppType, Restart};
use qyvol_runtime::{Outcome, RunControl, RunReport, RunSpec, RuntimeError, Stdio};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::{Live, Prepared, Shared, db};
use crate::api::types::State;
use crate::logs::InstanceOutput;
use crate::store::{EventKind, RunEnd, StartedRun};
use crate::time::now_ms;
use qyvol_runtime::sched::CpuShare;

/// How an instance's wait ended.
enum Ending {
    Ran(Result<RunReport, RuntimeError>),
    /// Asked to stop: its task was dropped, whatever it was doing.
    Stopped {
        memory: u64,
    },
}

/// A running instance: a task on the node's runtime.
struct Instance {
    control: RunControl,
    started: oneshot::Receiver<()>,
    done: JoinHandle<Result<RunReport, RuntimeError>>,
    output: Arc<InstanceOutput>,
    share: CpuShare,
}

fn start(shared: &Shared, app: &Prepared) -> Result<Instance, String> {
    let bundle = Bundle::open(&app.bundle).map_err(|e| e.to_string())?;
    let note = super::untrusted_code_note(&bundle, app.trusted);
    let mut spec = RunSpec::from_bundle(&app.manifest, Arc::new(bundle), app.trusted);
    shared.limits.apply_to_run(&app.manifest, &mut spec);
    spec.cache = Some(shared.cache.clone());
    let output = shared.logs.app(&app.name).sink(app.revision);
    if let Some(note) = note {
        qyvol_runtime::OutputSink::write(
            &*output,
            qyvol_runtime::StdStream::Stderr,
            format!("qyv: {note}\n").as_bytes(),
        );
    }
    spec.stdio = Stdio::Capture(output.clone());
    let control = RunControl::new();
    spec.control = Some(control.clone());
    let (started_tx, started) = oneshot::channel();
    control.on_start(move || {
        let _ = started_tx.send(());
    });
    let executor = shared.executor.clone();
    let share = shared.share(&app.manifest);
    let for_run = share.clone();
    let done = tokio::spawn(async move { executor.run(spec, for_run).await });
    Ok(Instance {
        control,
        started,
        done,
        output,
        share,
    })
}

/// Waits for the instance to end or for `stop`; says when it started.
async fn wait(instance: &mut Instance, stop: &Notify, live: &watch::Sender<Live>) -> Ending {
    let mut started = false;
    loop {
        tokio::select! {
            r = &mut instance.started, if !started => {
                started = true;
                if r.is_ok() {
                    live.send_modify(|l| l.state = State::Running);
                }
            }
            r = &mut instance.done => {
                return Ending::Ran(r.unwrap_or_else(|e| Err(RuntimeError::Engine(format!("the app's task failed: {e}")))));
            }
            _ = stop.notified() => {
                // Dropping the task's future ends the program where it is:
                // in wasm (at its next yield) or in a host call (now).
                instance.done.abort();
                let _ = (&mut instance.done).await;
                // Linear memories never shrink: what it holds now is its peak.
                return Ending::Stopped { memory: instance.control.memory() };
            }
        }
    }
}

/// How an instance ended, in words and as the store records it.
fn describe(app: &str, ending: &Ending) -> RunEnd {
    let stopped = |reason: String, peak_memory: Option<u64>| RunEnd {
        exit_code: Some(Outcome::Stopped.exit_code()),
        reason,
        peak_memory,
        kind: EventKind::Stopped,
    };
    match ending {
        Ending::Ran(Ok(r)) => RunEnd {
            exit_code: Some(r.outcome.exit_code()),
            reason: match &r.outcome {
                Outcome::Exited(c) => format!("exited with code {c}"),
                other => other.report(app).unwrap_or_default(),
            },
            peak_memory: Some(r.metrics.peak_memory_bytes),
            kind: if r.outcome.succeeded() {
                EventKind::Exited
            } else {
                EventKind::Failed
            },
        },
        Ending::Ran(Err(e)) => failed(format!("could not start: {e}")),
        Ending::Stopped { memory } => stopped("stopped".into(), Some(*memory)),
    }
}

/// An instance that ended badly before it ran.
fn failed(reason: String) -> RunEnd {
    RunEnd {
        exit_code: None,
        reason,
        peak_memory: None,
        kind: EventKind::Failed,
    }
}

/// What `qyv ps` says of an app whose instance ended this way.
fn state_after(end: &RunEnd) -> State {
    match end.kind {
        EventKind::Stopped => State::Stopped,
        EventKind::Exited => State::Completed,
        _ => State::Failed,
    }
}

/// How one instance went.
struct Ran {
    end: RunEnd,
    took: Duration,
    /// It never ran: its code could not be loaded or linked.
    startup_error: bool,
}

/// What each step of an app's task works with.
struct Supervised<'a> {
    shared: &'a Shared,
    app: &'a Prepared,
    live: &'a watch::Sender<Live>,
    stop: &'a Notify,
}

pub(crate) async fn supervise(
    shared: Arc<Shared>,
    app: Prepared,
    live: watch::Sender<Live>,
    stop: Arc<Notify>,
) {
    let task = Supervised {
        shared: &shared,
        app: &app,
        live: &live,
        stop: &stop,
    };
    let policy = app.manifest.restart_policy();
    let service = app.manifest.app_type == AppType::Service;
    let mut backoff = Backoff::default();
    let mut first = true;
    loop {
        let Some(ran) = task.run_once(first, policy).await else {
            return;
        };
        // A program that cannot be loaded will not load on a second try.
        let again = service
            && ran.end.kind != EventKind::Stopped
            && !ran.startup_error
            && match policy {
                Restart::Always => true,
                Restart::OnFailure => ran.end.kind != EventKind::Exited,
                Restart::Never => false,
            };
        if !again
            || !task
                .back_off(&ran.end.reason, backoff.next(ran.took), policy)
                .await
        {
            return;
        }
        live.send_modify(|l| l.restarts += 1);
        first = false;
    }
}

impl Supervised<'_> {
    /// Starts an instance and waits for its end, recording both; `None`
    /// when that could not even begin (the app has then failed for good).
    async fn run_once(&self, first: bool, policy: Restart) -> Option<Ran> {
        let (app, live) = (self.app, self.live);
        let message = if first {
            format!("revision {} started", app.revision)
        } else {
            format!(
                "revision {} started again (restart policy {policy})",
                app.revision
            )
        };
        let (name, rev) = (app.name.clone(), app.revision);
        let run = match db(&self.shared.store, move |s| {
            s.run_started(&name, rev, &message)
        })
        .await
        {
            Ok(run) => run,
            Err(e) => {
                fail(live, format!("cannot record the start: {e}"));
                return None;
            }
        };
        let begun = Instant::now();
        let mut instance = match start(self.shared, app) {
            Ok(i) => i,
            Err(e) => {
                let end = failed(format!("could not start: {e}"));
                record(self.shared, &run, &end).await;
                fail(live, end.reason);
                return None;
            }
        };
        live.send_modify(|l| {
            l.state = State::Starting;
            l.started_at = Some(now_ms());
            l.ended_at = None;
            l.next_start_at = None;
            l.control = Some(instance.control.clone());
            l.share = Some(instance.share.clone());
        });
        let ending = wait(&mut instance, self.stop, live).await;
        instance.output.finish();
        let took = begun.elapsed();
        let end = describe(&app.name, &ending);
        record(self.shared, &run, &end).await;
        live.send_modify(|l| {
            l.control = None;
            l.share = None;
            l.cpu_ended += instance.share.cpu_time();
            l.ended_at = Some(now_ms());
            l.exit_code = end.exit_code;
            l.reason = Some(end.reason.clone());
            l.run_seconds += took.as_secs_f64();
            if let Some(c) = end.exit_code {
                *l.exits.entry(c).or_default() += 1;
            }
            l.state = state_after(&end);
        });
        tracing::info!(
            app = app.name,
            revision = app.revision,
            "{} revision {}: {}",
            app.name,
            app.revision,
            end.reason
        );
        Some(Ran {
            end,
            took,
            startup_error: matches!(ending, Ending::Ran(Err(_))),
        })
    }

    /// Waits `delay` before the next start, saying why and when; false
    /// when the app is stopped meanwhile.
    async fn back_off(&self, reason: &str, delay: Duration, policy: Restart) -> bool {
        let at = now_ms() + delay.as_millis() as i64;
        self.live.send_modify(|l| {
            l.state = State::Backoff;
            l.next_start_at = Some(at);
        });
        let (name, rev) = (self.app.name.clone(), self.app.revision);
        let note = format!(
            "{reason}; starting it again in {} (restart: {policy})",
            qyvol_manifest::format_duration(delay)
        );
        let _ = db(&self.shared.store, move |s| {
            s.add_event(&name, Some(rev), EventKind::Restarting, &note)
        })
        .await;
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = self.stop.notified() => {
                self.live.send_modify(|l| {
                    l.state = State::Stopped;
                    l.next_start_at = None;
                });
                false
            }
        }
    }
}

fn fail(live: &watch::Sender<Live>, reason: String) {
    live.send_modify(|l| {
        l.state = State::Failed;
        l.reason = Some(reason);
        l.control = None;
        l.ended_at = Some(now_ms());
    });
}

async fn record(shared: &Shared, run: &StartedRun, end: &RunEnd) {
    let (owned_run, owned_end) = (run.clone(), end.clone());
    if let Err(e) = db(&shared.store, move |s| s.run_ended(&owned_run, &owned_end)).await {
        tracing::error!(app = run.app, error = %e, "{}: cannot record how it ended: {e}", run.app);
    }
}
