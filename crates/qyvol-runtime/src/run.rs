//! The run path: engine → code (cache or compile) → WASI context → limits →
//! instantiate → call the entry point → classify how it ended.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::bindings::sync::CommandPre;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bundle::unpack;
use crate::cache::{LoadedCode, load_uncached};
use crate::code::Code;
use crate::control::RunControl;
use crate::diagnosis;
use crate::engine::EngineOptions;
use crate::error::{RuntimeError, chain};
use crate::kind::WasmKind;
use crate::limits::MemoryLimiter;
use crate::lookup::{self, GatedLookups};
use crate::memfs::{MemFsCtx, MemFsState, MemFsView};
use crate::metrics::{Metrics, ms};
use crate::net::NetGate;
use crate::outcome::{LimiterView, Outcome, classify, explain};
use crate::process::ProcessTable;
use crate::spec::RunSpec;
use crate::wasi;

/// How long a timed-out program gets to reach an epoch check before `qyv`
/// stops waiting for it (it is then blocked in a host call).
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// The result of a run that started.
#[derive(Debug)]
pub struct RunReport {
    pub outcome: Outcome,
    pub metrics: Metrics,
    pub kind: WasmKind,
    /// Things the user should know that did not stop the run (cache
    /// problems, unusable network rules).
    pub warnings: Vec<String>,
    /// The program is a component that can only say success or failure
    /// (it does not import `wasi:cli/exit.exit-with-code`): an exit status
    /// of 1 may stand for any non-zero code it chose.
    pub coarse_exit: bool,
    /// Things worth knowing that are not problems (a bundle's precompiled
    /// code was for another engine, so its wasm was compiled).
    pub notes: Vec<String>,
}

/// Runs a program to its end.
pub fn run(spec: RunSpec) -> Result<RunReport, RuntimeError> {
    let started = Instant::now();
    let engine = EngineOptions::for_spec(&spec).engine()?;
    let prepared = prepare(spec, &engine)?;
    let execution = match prepared.spec.timeout {
        None => execute(
            &engine,
            prepared.code.clone(),
            &prepared.spec,
            &prepared.gate,
        )?,
        Some(limit) => execute_with_deadline(
            engine,
            prepared.code.clone(),
            prepared.spec.clone(),
            prepared.gate.clone(),
            limit,
        )?,
    };
    Ok(prepared.report(execution, started))
}

/// A program ready to run on an engine: its code, loaded or compiled, and
/// its spec with the bundle's mounts in place. Shared by `qyv run` (which
/// runs it on its thread) and the tasks of a node (crate::task).
pub(crate) struct Prepared {
    pub(crate) spec: RunSpec,
    pub(crate) code: Code,
    pub(crate) gate: NetGate,
    kind: WasmKind,
    source: crate::metrics::CodeSource,
    read_time: Duration,
    code_time: Duration,
    warnings: Vec<String>,
    notes: Vec<String>,
    /// Holds a bundle's temporary files folder, if it needs one, until the
    /// program has ended.
    _bundle_files: Option<tempfile::TempDir>,
}

/// Checks the spec's mounts and gets the code for `engine`.
pub(crate) fn prepare(mut spec: RunSpec, engine: &Engine) -> Result<Prepared, RuntimeError> {
    crate::guard::check(&spec)?;
    if let Some(control) = &spec.control {
        control.attach(engine);
    }
    let mut bundle_files = None;
    let loaded = match (&spec.bundle, &spec.cache) {
        (Some(run), cache) => {
            let unpacked = unpack(engine, run, cache.as_ref())?;
            // The manifest's mounts come first, as they do for a manifest;
            // `--dir` flags follow. A memfs's files seed it instead.
            let mut mounts = unpacked.mounts(run);
            crate::memfs::seed_from_bundle(&mut spec.memfs, &mut mounts);
            spec.preopens.splice(0..0, mounts);
            bundle_files = unpacked._temp;
            unpacked.code
        }
        (None, Some(cache)) => {
            // A tree of processes keeps what it loaded (see process::grant).
            let tree = spec.exec.as_ref().map(|g| &g.tree);
            match tree.and_then(|t| t.code_for(&spec.wasm)) {
                Some(loaded) => loaded,
                None => {
                    let loaded = cache.load(engine, &spec.wasm)?;
                    if let Some(t) = tree {
                        t.keep_code(&spec.wasm, &loaded);
                    }
                    loaded
                }
            }
        }
        (None, None) => load_uncached(engine, &spec.wasm)?,
    };
    let LoadedCode {
        code,
        kind,
        source,
        read_time,
        code_time,
        mut warnings,
        notes,
    } = loaded;
    let code = crate::memfs::code_for(engine, &spec, code)?;
    let gate = NetGate::new(&spec.net);
    warnings.extend(gate.warnings.iter().cloned());
    Ok(Prepared {
        spec,
        code,
        gate,
        kind,
        source,
        read_time,
        code_time,
        warnings,
        notes,
        _bundle_files: bundle_files,
    })
}

impl Prepared {
    /// How the run went, from its execution; `started` is when it began.
    pub(crate) fn report(self, execution: Execution, started: Instant) -> RunReport {
        let mut outcome = execution.outcome;
        if !outcome.succeeded() {
            outcome = explain(outcome, &execution.limiter, &self.spec, &self.gate);
        }
        let metrics = Metrics {
            read_ms: ms(self.read_time),
            code_ms: ms(self.code_time),
            code_source: Some(self.source),
            instantiate_ms: ms(execution.instantiate_time),
            run_ms: ms(execution.run_time),
            total_ms: ms(started.elapsed()),
            peak_memory_bytes: execution.limiter.peak,
            exit_code: Some(outcome.exit_code()),
            fuel_consumed: execution.fuel_consumed,
        };
        RunReport {
            outcome,
            metrics,
            kind: self.kind,
            warnings: self.warnings,
            coarse_exit: execution.coarse_exit,
            notes: self.notes,
        }
    }
}

pub(crate) struct Execution {
    pub(crate) outcome: Outcome,
    pub(crate) instantiate_time: Duration,
    pub(crate) run_time: Duration,
    pub(crate) limiter: LimiterView,
    pub(crate) fuel_consumed: Option<u64>,
    pub(crate) coarse_exit: bool,
}

/// Runs on a worker thread so that a program blocked in a host call cannot
/// hold `qyv` past its time limit.
fn execute_with_deadline(
    engine: Engine,
    code: Code,
    spec: RunSpec,
    gate: NetGate,
    limit: Duration,
) -> Result<Execution, RuntimeError> {
    let (tx, rx) = mpsc::channel();
    let worker_engine = engine.clone();
    let tree = spec.exec.clone();
    std::thread::Builder::new()
        .name("qyv-guest".into())
        .stack_size(8 << 20)
        .spawn(move || {
            let _ = tx.send(execute(&worker_engine, code, &spec, &gate));
        })
        .map_err(|e| RuntimeError::Engine(format!("cannot start the guest thread: {e}")))?;
    let started = Instant::now();
    match rx.recv_timeout(limit) {
        Ok(result) => return result,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err(RuntimeError::Engine(
                "the guest thread ended without a result".into(),
            ));
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {}
    }
    // The deadline is 1 epoch: this makes the next epoch check trap, in
    // the program and in all its children.
    if let Some(tree) = &tree {
        tree.expire();
    }
    engine.increment_epoch();
    match rx.recv_timeout(TIMEOUT_GRACE) {
        Ok(result) => result,
        Err(_) => Ok(Execution {
            outcome: Outcome::TimedOut {
                limit,
                blocked: true,
            },
            instantiate_time: Duration::ZERO,
            run_time: started.elapsed(),
            limiter: LimiterView::default(),
            fuel_consumed: None,
            coarse_exit: false,
        }),
    }
}

pub(crate) struct P1State {
    pub(crate) wasi: WasiP1Ctx,
    limiter: MemoryLimiter,
    /// The children of a program with `permissions.exec`.
    pub(crate) procs: Option<ProcessTable>,
}

pub(crate) struct P2State {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The run's memfs trees (none without memfs mounts).
    memfs: MemFsCtx,
    limiter: MemoryLimiter,
    /// Decides the name lookups (see crate::lookup).
    gate: NetGate,
}

impl WasiView for P2State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl MemFsState for P2State {
    fn memfs(&mut self) -> MemFsView<'_> {
        crate::memfs::view(&mut self.table, &self.memfs)
    }
}

impl GatedLookups for P2State {
    fn gate(&self) -> &NetGate {
        &self.gate
    }
}

fn execute(
    engine: &Engine,
    code: Code,
    spec: &RunSpec,
    gate: &NetGate,
) -> Result<Execution, RuntimeError> {
    let builder = wasi::context(spec, gate)?;
    match code {
        Code::Module(module) => execute_module(engine, &module, builder, spec),
        Code::Component(component) => execute_component(engine, &component, builder, spec, gate),
    }
}

/// A store for a preview-1 module, its memory limited.
pub(crate) fn p1_store(
    engine: &Engine,
    mut builder: wasmtime_wasi::WasiCtxBuilder,
    spec: &RunSpec,
) -> Store<P1State> {
    let procs = spec
        .exec
        .as_ref()
        .filter(|g| g.policy.granted())
        .map(|g| ProcessTable::new(engine, spec, g));
    let state = P1State {
        wasi: builder.build_p1(),
        limiter: limiter(spec),
        procs,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store
}

/// A store for a component, its memory limited, its lookups gated, and
/// its memfs trees fresh.
pub(crate) fn p2_store(
    engine: &Engine,
    mut builder: wasmtime_wasi::WasiCtxBuilder,
    spec: &RunSpec,
    gate: &NetGate,
) -> Result<Store<P2State>, RuntimeError> {
    let state = P2State {
        wasi: builder.build(),
        table: ResourceTable::new(),
        memfs: MemFsCtx::new(&spec.memfs)?,
        limiter: limiter(spec),
        gate: gate.clone(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    Ok(store)
}

fn limiter(spec: &RunSpec) -> MemoryLimiter {
    let limiter = MemoryLimiter::new(spec.memory)
        .publishing(spec.control.as_ref().map(RunControl::memory_gauge));
    match &spec.exec {
        // The root of a tree is the first to make a store: its limits are
        // the tree's.
        Some(grant) => {
            let tree = &grant.tree;
            tree.timeout.get_or_init(|| spec.timeout);
            let cap = *tree.memory_limit.get_or_init(|| spec.memory);
            limiter.sharing(tree.memory_used.clone(), cap)
        }
        None => limiter,
    }
}

/// Budget the store starts with so that the first epoch tick interrupts it.
pub(crate) fn prepare_store<T>(store: &mut Store<T>, spec: &RunSpec) -> Result<(), RuntimeError> {
    if spec.timeout.is_some() || spec.control.is_some() {
        store.set_epoch_deadline(1);
    }
    if let Some(grant) = spec.exec.clone() {
        // The epoch of a tree's engine advances when any of its instances
        // is killed, and when the root's time is up: each ends only if
        // that was for it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if grant.must_end() {
                Err(wasmtime::Trap::Interrupt.into())
            } else {
                Ok(wasmtime::UpdateDeadline::Continue(1))
            }
        });
    }
    if let Some(fuel) = spec.fuel {
        store
            .set_fuel(fuel)
            .map_err(|e| RuntimeError::Engine(chain(&e)))?;
    }
    Ok(())
}

fn fuel_used<T>(store: &Store<T>, spec: &RunSpec) -> Option<u64> {
    let budget = spec.fuel?;
    store
        .get_fuel()
        .ok()
        .map(|left| budget.saturating_sub(left))
}

pub(crate) fn execute_module(
    engine: &Engine,
    module: &Module,
    builder: wasmtime_wasi::WasiCtxBuilder,
    spec: &RunSpec,
) -> Result<Execution, RuntimeError> {
    let mut linker: Linker<P1State> = Linker::new(engine);
    p1::add_to_linker_sync(&mut linker, |s| &mut s.wasi)
        .map_err(|e| RuntimeError::Engine(chain(&e)))?;
    if spec.exec.as_ref().is_some_and(|g| g.policy.granted()) {
        crate::process::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(chain(&e)))?;
    }
    let mut store = p1_store(engine, builder, spec);
    prepare_store(&mut store, spec)?;

    let started = Instant::now();
    let pre = linker
        .instantiate_pre(module)
        .map_err(|e| link_error(spec, &e))?;
    let instance = match pre.instantiate(&mut store) {
        Ok(i) => i,
        Err(e) => {
            return finish_early(classify(e, spec), started, &store, spec);
        }
    };
    let instantiate_time = started.elapsed();
    let Ok(start) = instance.get_typed_func::<(), ()>(&mut store, "_start") else {
        return Err(no_start(spec));
    };
    if let Some(stopped) = entering(spec) {
        return finish_early(stopped, started, &store, spec);
    }
    let started = Instant::now();
    let result = start.call(&mut store, ());
    let run_time = started.elapsed();
    let outcome = start_ended(result, spec);
    Ok(execution(outcome, instantiate_time, run_time, &store, spec))
}

pub(crate) fn execute_component(
    engine: &Engine,
    component: &Component,
    builder: wasmtime_wasi::WasiCtxBuilder,
    spec: &RunSpec,
    gate: &NetGate,
) -> Result<Execution, RuntimeError> {
    let mut linker = wasmtime::component::Linker::<P2State>::new(engine);
    // WASI 0.2.12's `exit-with-code` is part of this linker: a component
    // whose toolchain uses it reports its real exit code, not just 0 or 1.
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
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
    let mut store = p2_store(engine, builder, spec, gate)?;
    prepare_store(&mut store, spec)?;

    let started = Instant::now();
    let command = match pre.instantiate(&mut store) {
        Ok(c) => c,
        Err(e) => return finish_early(classify(e, spec), started, &store, spec),
    };
    let instantiate_time = started.elapsed();
    if let Some(stopped) = entering(spec) {
        return finish_early(stopped, started, &store, spec);
    }
    let started = Instant::now();
    let result = command.wasi_cli_run().call_run(&mut store);
    let run_time = started.elapsed();
    let outcome = run_ended(result, spec);
    Ok(Execution {
        coarse_exit,
        ..execution(outcome, instantiate_time, run_time, &store, spec)
    })
}

/// A program whose imports the linker cannot satisfy. The synchronous
/// path here and the node's async one (`task.rs`) link and end alike.
pub(crate) fn link_error(spec: &RunSpec, e: &wasmtime::Error) -> RuntimeError {
    let message = chain(e);
    RuntimeError::Link {
        path: spec.wasm.clone(),
        http: diagnosis::wants_http(&message),
        message: diagnosis::explain_link_error(&message),
    }
}

/// A module without `_start`.
pub(crate) fn no_start(spec: &RunSpec) -> RuntimeError {
    RuntimeError::NotRunnable {
        path: spec.wasm.clone(),
        message: "it exports no `_start` function: it is a library (reactor) module, not a program"
            .into(),
        handler: false,
    }
}

/// A component with these exports that is not a command.
pub(crate) fn not_a_command(exports: &[String], spec: &RunSpec) -> RuntimeError {
    RuntimeError::NotRunnable {
        path: spec.wasm.clone(),
        message: diagnosis::not_a_command(exports),
        handler: diagnosis::is_handler(exports),
    }
}

/// How a module's `_start` ended.
pub(crate) fn start_ended(result: wasmtime::Result<()>, spec: &RunSpec) -> Outcome {
    match result {
        Ok(()) => Outcome::Exited(0),
        Err(e) => classify(e, spec),
    }
}

/// How a command's `run` ended.
pub(crate) fn run_ended(result: wasmtime::Result<Result<(), ()>>, spec: &RunSpec) -> Outcome {
    match result {
        Ok(Ok(())) => Outcome::Exited(0),
        Ok(Err(())) => Outcome::Exited(1),
        Err(e) => classify(e, spec),
    }
}

/// The program is about to run its entry point: unless it was stopped
/// already (the store's epoch deadline is set, so a later stop interrupts
/// it), tell the supervisor it started.
pub(crate) fn entering(spec: &RunSpec) -> Option<Outcome> {
    let control = spec.control.as_ref()?;
    if control.is_stopped() {
        return Some(Outcome::Stopped);
    }
    control.started();
    None
}

/// A run that ends before its entry point is called: an instantiation that
/// failed at run time (a start function trapped, or the initial memory was
/// over the limit) ends it like a trap does, and so does a stop that came
/// during instantiation.
pub(crate) fn finish_early<T: LimiterAccess>(
    outcome: Outcome,
    started: Instant,
    store: &Store<T>,
    spec: &RunSpec,
) -> Result<Execution, RuntimeError> {
    Ok(execution(
        outcome,
        started.elapsed(),
        Duration::ZERO,
        store,
        spec,
    ))
}

pub(crate) fn execution<T: LimiterAccess>(
    outcome: Outcome,
    instantiate_time: Duration,
    run_time: Duration,
    store: &Store<T>,
    spec: &RunSpec,
) -> Execution {
    let limiter = store.data().limiter();
    Execution {
        outcome,
        instantiate_time,
        run_time,
        limiter: LimiterView {
            peak: limiter.peak(),
            hit: limiter.hit(),
        },
        fuel_consumed: fuel_used(store, spec),
        coarse_exit: false,
    }
}

pub(crate) trait LimiterAccess {
    fn limiter(&self) -> &MemoryLimiter;
}

impl LimiterAccess for P1State {
    fn limiter(&self) -> &MemoryLimiter {
        &self.limiter
    }
}

impl LimiterAccess for P2State {
    fn limiter(&self) -> &MemoryLimiter {
        &self.limiter
    }
}

/// Whether the component can report an exact exit code: only through WASI
/// 0.2.12's `wasi:cli/exit.exit-with-code`; plain `exit` says ok or error.
pub(crate) fn imports_exit_with_code(engine: &Engine, component: &Component) -> bool {
    use wasmtime::component::types::ComponentItem;
    component
        .component_type()
        .imports(engine)
        .any(|(name, item)| {
            name.starts_with("wasi:cli/exit@")
                && matches!(&item.ty, ComponentItem::ComponentInstance(instance)
                    if instance.exports(engine).any(|(f, _)| f == "exit-with-code"))
        })
}
