//! One app's task: start an instance, wait for it to end (or to be asked to
//! stop), record how it ended, and start it again if its policy says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use qyvol_manifest::bundle::Bundle;
use qyvol_manifest::{AppType, Restart};
use qyvol_runtime::{Outcome, RunControl, RunReport, RunSpec, RuntimeError, Stdio};
use tokio::sync::{Notify, oneshot, watch};

use super::backoff::Backoff;
use super::{Live, Prepared, Shared, db};
use crate::api::types::State;
use crate::time::now_ms;

/// How long a stopped instance gets to end before the node stops waiting
/// for it. One running wasm ends at its next epoch check, well within this;
/// one blocked in a host call (a long sleep, a read) cannot be interrupted,
/// and waiting longer would only delay the deploy or stop that asked: its
/// thread is left to end when the call returns (the epoch deadline, already
/// passed, stops it as soon as it is back in wasm).
pub const STOP_GRACE: Duration = Duration::from_millis(100);

/// How an instance's wait ended.
enum Ending {
    Ran(Result<RunReport, RuntimeError>),
    /// Asked to stop; it ended (with this result) within the grace time, or
    /// not (`None`).
    Stopped(Option<Result<RunReport, RuntimeError>>),
}

/// A running instance.
struct Instance {
    control: RunControl,
    started: oneshot::Receiver<()>,
    done: oneshot::Receiver<Result<RunReport, RuntimeError>>,
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
    let (done_tx, done) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("app {}", app.name))
        .stack_size(8 << 20)
        .spawn(move || {
            let result = qyvol_runtime::run(spec);
            output.finish();
            let _ = done_tx.send(result);
        })
        .map_err(|e| format!("cannot start a thread for the app: {e}"))?;
    Ok(Instance {
        control,
        started,
        done,
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
                return Ending::Ran(r.unwrap_or_else(|_| Err(RuntimeError::Engine("the app's thread ended without a result".into()))));
            }
            _ = stop.notified() => {
                instance.control.stop();
                return Ending::Stopped(
                    tokio::time::timeout(STOP_GRACE, &mut instance.done)
                        .await
                        .ok()
                        .and_then(Result::ok),
                );
            }
        }
    }
}

/// The words and the exit status for how an instance ended.
fn describe(app: &str, ending: &Ending) -> (Option<i32>, String, Option<u64>, bool) {
    let report = |r: &RunReport| {
        let code = r.outcome.exit_code();
        let words = match &r.outcome {
            Outcome::Exited(c) => format!("exited with code {c}"),
            other => other.report(app).unwrap_or_default(),
        };
        (
            Some(code),
            words,
            Some(r.metrics.peak_memory_bytes),
            r.outcome.succeeded(),
        )
    };
    match ending {
        Ending::Ran(Ok(r)) => report(r),
        Ending::Ran(Err(e)) => (None, format!("could not start: {e}"), None, false),
        Ending::Stopped(Some(Ok(r))) => {
            let (code, _, peak, _) = report(r);
            (code, "stopped".into(), peak, false)
        }
        Ending::Stopped(Some(Err(e))) => (
            None,
            format!("stopped before it started ({e})"),
            None,
            false,
        ),
        Ending::Stopped(None) => (
            None,
            format!(
                "stopped; it was blocked in a host call and did not end within {} ms, so its thread was left to end when the call returns",
                STOP_GRACE.as_millis()
            ),
            None,
            false,
        ),
    }
}

pub(crate) async fn supervise(
    shared: Arc<Shared>,
    app: Prepared,
    live: watch::Sender<Live>,
    stop: Arc<Notify>,
) {
    let policy = app.manifest.restart_policy();
    let service = app.manifest.app_type == AppType::Service;
    let mut backoff = Backoff::default();
    let mut first = true;
    loop {
        let message = if first {
            format!("revision {} started", app.revision)
        } else {
            format!(
                "revision {} started again (restart policy {policy})",
                app.revision
            )
        };
        let (name, rev) = (app.name.clone(), app.revision);
        let run = match db(&shared.store, move |s| s.run_started(&name, rev, &message)).await {
            Ok(id) => id,
            Err(e) => {
                fail(&live, format!("cannot record the start: {e}"));
                return;
            }
        };
        let begun = Instant::now();
        let mut instance = match start(&shared, &app) {
            Ok(i) => i,
            Err(e) => {
                let reason = format!("could not start: {e}");
                record(&shared, &app, run, None, &reason, None, "failed").await;
                fail(&live, reason);
                return;
            }
        };
        live.send_modify(|l| {
            l.state = State::Starting;
            l.started_at = Some(now_ms());
            l.ended_at = None;
            l.next_start_at = None;
            l.control = Some(instance.control.clone());
        });
        let ending = wait(&mut instance, &stop, &live).await;
        let ran = begun.elapsed();
        let (code, reason, peak, succeeded) = describe(&app.name, &ending);
        let stopped = matches!(ending, Ending::Stopped(_));
        let startup_error = matches!(ending, Ending::Ran(Err(_)));
        let kind = if stopped {
            "stopped"
        } else if succeeded {
            "exited"
        } else {
            "failed"
        };
        record(&shared, &app, run, code, &reason, peak, kind).await;
        live.send_modify(|l| {
            l.control = None;
            l.ended_at = Some(now_ms());
            l.exit_code = code;
            l.reason = Some(reason.clone());
            l.run_seconds += ran.as_secs_f64();
            if let Some(c) = code {
                *l.exits.entry(c).or_default() += 1;
            }
            l.state = if stopped {
                State::Stopped
            } else if succeeded {
                State::Completed
            } else {
                State::Failed
            };
        });
        eprintln!(
            "qyv daemon: {} revision {}: {reason}",
            app.name, app.revision
        );
        // A program that cannot be loaded will not load on a second try.
        let again = service
            && !stopped
            && !startup_error
            && match policy {
                Restart::Always => true,
                Restart::OnFailure => !succeeded,
                Restart::Never => false,
            };
        if !again {
            return;
        }
        let delay = backoff.next(ran);
        let at = now_ms() + delay.as_millis() as i64;
        live.send_modify(|l| {
            l.state = State::Backoff;
            l.next_start_at = Some(at);
        });
        let (name, rev) = (app.name.clone(), app.revision);
        let note = format!(
            "{reason}; starting it again in {} (restart: {policy})",
            qyvol_manifest::format_duration(delay)
        );
        let _ = db(&shared.store, move |s| {
            s.add_event(&name, Some(rev), "restarting", &note)
        })
        .await;
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.notified() => {
                live.send_modify(|l| {
                    l.state = State::Stopped;
                    l.next_start_at = None;
                });
                return;
            }
        }
        live.send_modify(|l| l.restarts += 1);
        first = false;
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

#[allow(clippy::too_many_arguments)]
async fn record(
    shared: &Shared,
    app: &Prepared,
    run: i64,
    code: Option<i32>,
    reason: &str,
    peak: Option<u64>,
    kind: &'static str,
) {
    let (name, rev, reason_owned) = (app.name.clone(), app.revision, reason.to_string());
    if let Err(e) = db(&shared.store, move |s| {
        s.run_ended(run, &name, rev, code, &reason_owned, peak, kind)
    })
    .await
    {
        eprintln!("qyv daemon: {}: cannot record how it ended: {e}", app.name);
    }
}
