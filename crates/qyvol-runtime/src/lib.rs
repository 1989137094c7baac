//! The engine room of Qyvol: it turns a validated manifest (or a bare `.wasm`
//! with command-line grants) into a running WebAssembly program. It detects
//! whether the file is a preview-1 core module or a WASI 0.2 component, gets
//! compiled code from the on-disk cache or compiles it, builds a WASI context
//! that grants exactly the manifest's permissions (preopens, environment,
//! sockets), enforces the memory, time and fuel limits, runs the program and
//! reports how it ended, with timings. It also inspects wasm files (imports,
//! exports, the permissions they need; [`check_entrypoint`]: what they say
//! about starting an app, beside the manifest's own findings), serves HTTP
//! apps ([`serve::Server`]: a fresh instance per request, queues, time limits,
//! apps that a long-running host can add, replace and remove as it serves,
//! outgoing requests under `permissions.net`, apps calling each other
//! in-process), and runs apps from `.qyvbin` bundles, using their
//! precompiled code when it fits this engine (it makes that code for
//! `qyv pack` too). A host that runs many programs at once runs them as
//! async tasks ([`Executor`]) under CPU shares ([`sched`]). An app with
//! `permissions.exec` starts other apps as children in their own sandboxes,
//! never with more than it holds ([`ExecGrant`]). It knows nothing of command lines: the `qyv` binary
//! builds a [`RunSpec`] (or [`serve::ServeApp`]s) and presents the results.

mod bundle;
mod cache;
mod code;
mod component;
mod control;
mod diagnosis;
mod engine;
mod error;
mod findings;
mod guard;
mod inspect;
mod kind;
mod limits;
mod lookup;
mod memfs;
mod metrics;
mod net;
mod outcome;
mod output;
mod process;
mod run;
pub mod sched;
pub mod serve;
mod spec;
mod task;
mod threads;
mod wasi;

pub use bundle::{BundleRun, Precompiled, precompile};
pub use cache::{CacheEntry, CodeCache};
pub use component::{AdaptError, Adapted, Adapter, adapt, adapt_file};
pub use control::RunControl;
pub use engine::{EngineOptions, compatibility_key, host_target};
pub use error::RuntimeError;
pub use findings::{EntrypointCheck, check_entrypoint, kind_findings};
pub use guard::{Exposure, Guarded, Reach, check as check_mounts};
pub use inspect::{
    InspectError, Inspection, Item, Need, Unmet, WasiVersion, check_file, inspect_bytes,
    inspect_file,
};
pub use kind::WasmKind;
pub use memfs::{MemFsError, MemMount};
pub use metrics::{CodeSource, Metrics};
pub use outcome::{Ending, Outcome};
pub use output::{OutputSink, StdStream, Stdio};
pub use process::{ExecGrant, MODULE as PROCESS_MODULE};
pub use run::{RunReport, run};
pub use spec::{Preopen, RunSpec};
pub use task::Executor;
