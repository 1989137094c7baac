//! Programs as async tasks, for a host that runs many at once (a node):
//! wasm runs on the caller's tokio runtime with async WASI host calls, so a
//! program waiting in a sleep or a read holds no thread, and a running one
//! yields at every epoch tick, where its [`CpuShare`] decides when it goes
//! on. Dropping the future ends the program at once, whatever it is doing:
//! that is how a node stops one. `qyv run` keeps the synchronous path
//! (crate::run), which starts faster; both share the preparation (checks,
//! code, WASI grants) and the report.
//!
//! The [`Executor`] holds one engine per code-changing configuration, shared
//! by every program it runs (their code is then compiled once per engine
//! and their stores are small), and one thread that advances those engines'
//! epochs every [`crate::sched::TICK`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qyvol_manifest::sync::lock;
use wasmtime::component::Component;
use wasmtime::{Engine, Linker, Module, Store, UpdateDeadline};
use wasmtime_wasi::p1;
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::code::Code;
use crate::diagnosis;
use crate::engine::EngineOptions;
use crate::error::{RuntimeError, chain};
use crate::lookup;
use crate::net::NetGate;
use crate::outcome::{LimiterView, Outcome, classify};
use crate::run::{
    Execution, P1State, P2State, RunReport, entering, execution, finish_early,
    imports_exit_with_code, link_error, no_start, not_a_command, p1_store, p2_store, prepare,
    prepare_store, run_ended, start_ended,
};
use crate::sched::{CpuScheduler, CpuShare, TICK};
use crate::spec::RunSpec;
use crate::wasi;

/// Runs programs as tasks; cheap to clone.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    engines: Mutex<HashMap<EngineOptions, Engine>>,
    scheduler: CpuScheduler,
    stopped: Arc<AtomicBool>,
}

impl Default for Executor {
    fn default() -> Self {
        Executor::new()
    }
}

impl Executor {
    /// An executor with its epoch clock running.
    pub fn new() -> Executor {
        let inner = Arc::new(Inner {
            engines: Mutex::new(HashMap::new()),
            scheduler: CpuScheduler::new(),
            stopped: Arc::new(AtomicBool::new(false)),
        });
        let weak = Arc::downgrade(&inner);
        let stopped = inner.stopped.clone();
        // One thread for every program: it only bumps a counter per engine.
        let _ = std::thread::Builder::new()
            .name("qyv-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    std::thread::sleep(TICK);
                    let Some(inner) = weak.upgrade() else { return };
                    for engine in lock(&inner.engines).values() {
                        engine.increment_epoch();
                    }
                }
            });
        Executor { inner }
    }

    /// The scheduler whose shares the programs run under.
    pub fn scheduler(&self) -> &CpuScheduler {
        &self.inner.scheduler
    }

    /// The engine for programs that need `fuel` or not; epoch checks are
    /// always on, as yields need them.
    fn engine(&self, fuel: bool) -> Result<Engine, RuntimeError> {
        let options = EngineOptions {
            epoch_interruption: true,
            consume_fuel: fuel,
        };
        let mut engines = lock(&self.inner.engines);
        if let Some(e) = engines.get(&options) {
            return Ok(e.clone());
        }
        let engine = options.engine()?;
        engines.insert(options, engine.clone());
        Ok(engine)
    }

    /// Runs a program to its end under `share`. Its loading (which may
    /// compile) runs on the blocking pool; its wasm on the caller's
    /// runtime. Drop the future to stop the program.
    pub async fn run(&self, spec: RunSpec, share: CpuShare) -> Result<RunReport, RuntimeError> {
        let started = Instant::now();
        let engine = self.engine(spec.fuel.is_some())?;
        let for_prepare = engine.clone();
        let prepared = tokio::task::spawn_blocking(move || prepare(spec, &for_prepare))
            .await
            .map_err(|e| RuntimeError::Engine(format!("loading the program failed: {e}")))??;
        // The time limit counts from the start of the program, not of the
        // loading (a first compile may take seconds), as in `qyv run`.
        let running = Instant::now();
        let deadline = prepared.spec.timeout.map(|t| running + t);
        let run = share.metered(execute(
            &engine,
            prepared.code.clone(),
            &prepared.spec,
            &prepared.gate,
            share.clone(),
            deadline,
        ));
        let execution = match prepared.spec.timeout {
            None => run.await?,
            // The epoch callback interrupts a program running wasm past its
            // deadline; this ends one waiting in a host call.
            Some(limit) => match tokio::time::timeout_at(
                tokio::time::Instant::from_std(running + limit + TICK),
                run,
            )
            .await
            {
                Ok(execution) => execution?,
                Err(_) => timed_out(limit, running),
            },
        };
        Ok(prepared.report(execution, started))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
    }
}

/// A program that was in a host call when its time limit passed.
fn timed_out(limit: Duration, started: Instant) -> Execution {
    Execution {
        outcome: Outcome::TimedOut {
            limit,
            blocked: false,
        },
        instantiate_time: Duration::ZERO,
        run_time: started.elapsed(),
        limiter: LimiterView::default(),
        fuel_consumed: None,
        coarse_exit: false,
    }
}

/// Sets the store to yield at every tick, taking its turn under `share`,
/// and to trap once `deadline` has passed or the run is stopped.
fn yield_every_tick<T>(
    store: &mut Store<T>,
    spec: &RunSpec,
    share: CpuShare,
    deadline: Option<Instant>,
) {
    store.set_epoch_deadline(1);
    let control = spec.control.clone();
    store.epoch_deadline_callback(move |_| {
        let stopped = control.as_ref().is_some_and(|c| c.is_stopped());
        if stopped || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::YieldCustom(1, share.turn()))
    });
}

async fn execute(
    engine: &Engine,
    code: Code,
    spec: &RunSpec,
    gate: &NetGate,
    share: CpuShare,
    deadline: Option<Instant>,
) -> Result<Execution, RuntimeError> {
    let builder = wasi::task_context(spec, gate)?;
    match code {
        Code::Module(module) => {
            let mut store = p1_store(engine, builder, spec);
            prepare_store(&mut store, spec)?;
            yield_every_tick(&mut store, spec, share, deadline);
            execute_module(engine, &module, store, spec).await
        }
        Code::Component(component) => {
            let mut store = p2_store(engine, builder, spec, gate)?;
            prepare_store(&mut store, spec)?;
            yield_every_tick(&mut store, spec, share, deadline);
            execute_component(engine, &component, store, spec).await
        }
    }
}

async fn execute_module(
    engine: &Engine,
    module: &Module,
    mut store: Store<P1State>,
    spec: &RunSpec,
) -> Result<Execution, RuntimeError> {
    let mut linker: Linker<P1State> = Linker::new(engine);
    p1::add_to_linker_async(&mut linker, |s| &mut s.wasi)
        .map_err(|e| RuntimeError::Engine(chain(&e)))?;
    let started = Instant::now();
    let pre = linker
        .instantiate_pre(module)
        .map_err(|e| link_error(spec, &e))?;
    let instance = match pre.instantiate_async(&mut store).await {
        Ok(i) => i,
        Err(e) => return finish_early(classify(e, spec), started, &store, spec),
    };
    let instantiate_time = started.elapsed();
    let Ok(start) = instance.get_typed_func::<(), ()>(&mut store, "_start") else {
        return Err(no_start(spec));
    };
    if let Some(stopped) = entering(spec) {
        return finish_early(stopped, started, &store, spec);
    }
    let started = Instant::now();
    let result = start.call_async(&mut store, ()).await;
    let run_time = started.elapsed();
    let outcome = start_ended(result, spec);
    Ok(execution(outcome, instantiate_time, run_time, &store, spec))
}

async fn execute_component(
    engine: &Engine,
    component: &Component,
    mut store: Store<P2State>,
    spec: &RunSpec,
) -> Result<Execution, RuntimeError> {
    let mut linker = wasmtime::component::Linker::<P2State>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .and_then(|()| lookup::add_to_linker(&mut linker))
        .map_err(|e| RuntimeError::Engine(chain(&e)))?;
    if !spec.memfs.is_empty() {
        crate::memfs::add_to_linker(&mut linker)?;
    }
    let exports = diagnosis::exports(engine, component);
    let coarse_exit = !imports_exit_with_code(engine, component);
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| link_error(spec, &e))?;
    let pre = CommandPre::new(pre).map_err(|_| not_a_command(&exports, spec))?;
    let started = Instant::now();
    let command = match pre.instantiate_async(&mut store).await {
        Ok(c) => c,
        Err(e) => return finish_early(classify(e, spec), started, &store, spec),
    };
    let instantiate_time = started.elapsed();
    if let Some(stopped) = entering(spec) {
        return finish_early(stopped, started, &store, spec);
    }
    let started = Instant::now();
    let result = command.wasi_cli_run().call_run(&mut store).await;
    let run_time = started.elapsed();
    let outcome = run_ended(result, spec);
    Ok(Execution {
        coarse_exit,
        ..execution(outcome, instantiate_time, run_time, &store, spec)
    })
}
