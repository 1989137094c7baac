//! One served app: its settings, and once loaded, its engine (with its own
//! instance pool), its pre-linked component, its queue and its warm
//! instances (only with `http.reuse` above 1). An app from a bundle is
//! unpacked as `qyv run APP.qyvbin` unpacks it: the same mounts, the same
//! rule for its precompiled code.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};

use qyvol_manifest::bundle::Bundle;
use qyvol_manifest::{Http, Manifest, NetPolicy};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};

use crate::bundle::unpack;
use crate::cache::{LoadedCode, load_uncached};
use crate::code::Code;
use crate::diagnosis;
use crate::engine::EngineOptions;
use crate::error::{RuntimeError, chain};
use crate::limits::MemoryLimiter;
use crate::metrics::CodeSource;
use crate::net::NetGate;
use crate::output::{OutputSink, Stdio};
use crate::serve::admission::Admission;
use crate::serve::error::ServeError;
use crate::serve::host::Host;
use crate::serve::log::{self, GuestOutput};
use crate::serve::outgoing::{Outgoing, Peers};
use crate::spec::RunSpec;
use crate::wasi;

/// An app to serve: what it may touch (as for `qyv run`) and how it is
/// served.
#[derive(Clone, Debug)]
pub struct ServeApp {
    /// Unique among the apps served together: its name on the virtual
    /// network (`http://NAME.service/`).
    pub name: String,
    pub spec: RunSpec,
    pub http: Http,
}

impl ServeApp {
    /// Exactly what the manifest grants, served as its `http:` says.
    pub fn from_manifest(m: &Manifest) -> ServeApp {
        ServeApp {
            name: m.name.clone(),
            spec: RunSpec::from_manifest(m),
            http: m.http_settings(),
        }
    }

    /// The app inside a bundle, served as its manifest says, its mounts
    /// from the bundle's files ([`RunSpec::from_bundle`]); `allow_native`:
    /// its precompiled code may be used (a trusted key signed it).
    pub fn from_bundle(m: &Manifest, bundle: Arc<Bundle>, allow_native: bool) -> ServeApp {
        ServeApp {
            name: m.name.clone(),
            spec: RunSpec::from_bundle(m, bundle, allow_native),
            http: m.http_settings(),
        }
    }

    /// A bare component with no permissions, at `/`, named after its file
    /// (as `wasmtime serve` would serve it).
    pub fn bare(wasm: impl Into<PathBuf>) -> ServeApp {
        let wasm = wasm.into();
        let name = app_name_of(&wasm);
        ServeApp {
            spec: RunSpec::bare(&wasm, name.clone()),
            name,
            http: Http::default(),
        }
    }
}

/// A valid app name from a file name: `Hello_World.wasm` → `hello-world`.
fn app_name_of(wasm: &std::path::Path) -> String {
    let stem = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let stem = stem.strip_suffix(".component").unwrap_or(&stem);
    let name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-');
    let name: String = name
        .chars()
        .take(qyvol_manifest::fields::MAX_NAME_LEN)
        .collect();
    if name.is_empty() {
        "app".to_string()
    } else {
        name
    }
}

/// An instance kept for the next request, and how many it served.
pub(crate) struct Warm {
    pub(crate) store: Store<Host>,
    pub(crate) proxy: Proxy,
    pub(crate) served: u32,
}

pub(crate) struct LoadedApp {
    pub(crate) name: Arc<str>,
    pub(crate) http: Http,
    pub(crate) spec: RunSpec,
    pub(crate) options: EngineOptions,
    pub(crate) engine: Engine,
    pub(crate) pre: ProxyPre<Host>,
    pub(crate) admission: Admission,
    /// Requests routed to it.
    pub(crate) requests: AtomicU64,
    /// Where its machine code came from.
    pub(crate) code: CodeSource,
    gate: NetGate,
    net: Arc<NetPolicy>,
    warm: Mutex<Vec<Warm>>,
    /// A bundle's files folder when it is temporary (no cache), kept for
    /// as long as the app is.
    _files: Option<tempfile::TempDir>,
}

impl LoadedApp {
    /// Compiles (or maps from the cache) and links the app; returns it and
    /// the warnings of its loading.
    pub(crate) fn load(app: ServeApp) -> Result<(LoadedApp, Vec<String>), ServeError> {
        let ServeApp {
            name,
            mut spec,
            http,
        } = app;
        let failed = |source: RuntimeError| ServeError::App {
            app: name.clone(),
            source,
        };
        crate::guard::check(&spec).map_err(failed)?;
        let options = EngineOptions {
            epoch_interruption: spec.timeout.is_some(),
            consume_fuel: spec.fuel.is_some(),
        };
        let engine = options.serving_engine(http.concurrency).map_err(failed)?;
        let mut files = None;
        let loaded = match (&spec.bundle, &spec.cache) {
            (Some(run), cache) => {
                let unpacked = unpack(&engine, run, cache.as_ref()).map_err(failed)?;
                let mut mounts = unpacked.mounts(run);
                crate::memfs::seed_from_bundle(&mut spec.memfs, &mut mounts);
                spec.preopens.splice(0..0, mounts);
                files = unpacked._temp;
                unpacked.code
            }
            (None, Some(cache)) => cache.load(&engine, &spec.wasm).map_err(failed)?,
            (None, None) => load_uncached(&engine, &spec.wasm).map_err(failed)?,
        };
        let LoadedCode {
            code,
            source,
            mut warnings,
            notes,
            ..
        } = loaded;
        // Nothing else shows a bundle's notes: they go with the warnings.
        warnings.extend(notes);
        // An HTTP app is a component: a module is refused just below.
        let code = match code {
            Code::Component(_) => crate::memfs::code_for(&engine, &spec, code).map_err(failed)?,
            module => module,
        };
        let component = match code {
            Code::Component(c) => c,
            Code::Module(_) => {
                return Err(ServeError::NotHttp {
                    app: name,
                    path: spec.wasm.clone(),
                    message: "it is a WASI preview 1 core module; HTTP apps are components that export wasi:http/incoming-handler (Rust wasm32-wasip2, componentize-py, componentize-js, ...)".into(),
                    command: false,
                });
            }
        };
        let mut linker = Linker::<Host>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| crate::lookup::add_to_linker(&mut linker))
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
            .map_err(|e| failed(RuntimeError::Engine(chain(&e))))?;
        if !spec.memfs.is_empty() {
            crate::memfs::add_to_linker(&mut linker).map_err(failed)?;
        }
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            failed(RuntimeError::Link {
                path: spec.wasm.clone(),
                message: diagnosis::explain_link_error(&chain(&e)),
                http: false,
            })
        })?;
        let pre = ProxyPre::new(pre).map_err(|_| {
            let exports = diagnosis::exports(&engine, &component);
            ServeError::NotHttp {
                app: name.clone(),
                path: spec.wasm.clone(),
                message: diagnosis::not_a_handler(&exports),
                command: diagnosis::is_command(&exports),
            }
        })?;
        let gate = NetGate::new(&spec.net);
        warnings.extend(gate.warnings.iter().map(|w| format!("{name}: {w}")));
        Ok((
            LoadedApp {
                admission: Admission::new(http.concurrency, http.queue),
                requests: AtomicU64::new(0),
                code: source,
                _files: files,
                net: Arc::new(spec.net.clone()),
                name: name.into(),
                http,
                spec,
                options,
                engine,
                pre,
                gate,
                warm: Mutex::new(Vec::new()),
            },
            warnings,
        ))
    }

    /// A store for a new instance, granting what the app's spec grants;
    /// its requests to `http://NAME.service/` go to `peers`.
    pub(crate) fn new_store(&self, peers: Weak<dyn Peers>) -> Result<Store<Host>, RuntimeError> {
        let request = Arc::new(AtomicU64::new(0));
        let gate = self.gate.fresh();
        let mut builder = wasi::grants(&self.spec, &gate)?;
        let sink = self.sink();
        builder
            .stdout(GuestOutput::new(
                self.name.clone(),
                request.clone(),
                false,
                sink.clone(),
            ))
            .stderr(GuestOutput::new(
                self.name.clone(),
                request.clone(),
                true,
                sink,
            ));
        let host = Host {
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            memfs: crate::memfs::MemFsCtx::new(&self.spec.memfs)?,
            outgoing: Outgoing {
                app: self.name.clone(),
                net: self.net.clone(),
                peers,
                request: 0,
                hops: 0,
            },
            limiter: MemoryLimiter::new(self.spec.memory),
            gate,
            request,
        };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| &mut h.limiter);
        if self.options.epoch_interruption {
            // Each tick of the server's epoch clock hands the thread back
            // to the scheduler, which is where a request's time limit is
            // checked and other requests run.
            store.epoch_deadline_async_yield_and_update(1);
        }
        Ok(store)
    }

    pub(crate) fn take_warm(&self) -> Option<Warm> {
        if self.http.reuse <= 1 {
            return None;
        }
        self.warm.lock().ok()?.pop()
    }

    /// Keeps an instance that ended its request well, unless it has served
    /// its `http.reuse` requests.
    pub(crate) fn keep_warm(&self, warm: Warm) {
        if warm.served >= self.http.reuse {
            return;
        }
        if let Ok(mut list) = self.warm.lock() {
            list.push(warm);
        }
    }

    pub(crate) fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// Where the app's output goes when its spec captures it.
    fn sink(&self) -> Option<Arc<dyn OutputSink>> {
        match &self.spec.stdio {
            Stdio::Capture(sink) => Some(sink.clone()),
            Stdio::Inherit => None,
        }
    }

    /// A server log line about request `id` of this app: on the server's
    /// standard error, and in the app's own output when it is captured.
    pub(crate) fn log(&self, id: u64, message: &str) {
        log::line(id, &self.name, message);
        if let Some(sink) = self.sink() {
            log::to_sink(&*sink, id, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_come_from_the_file() {
        assert_eq!(app_name_of("x/Hello_World.wasm".as_ref()), "hello-world");
        assert_eq!(app_name_of("http.component.wasm".as_ref()), "http");
        assert_eq!(app_name_of("__.wasm".as_ref()), "app");
    }
}
