//! One request on one instance: a warm instance or a fresh one from the
//! pre-linked component, bounded by `limits.timeout`; a failure is logged
//! with the request id and told to the request that waits on it.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as HttpBody;
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::{Error, WasiHttpView};

use crate::error::RuntimeError;
use crate::outcome::{LimiterView, Outcome, classify, explain};
use crate::serve::app::{LoadedApp, Warm};
use crate::serve::host::Host;
use crate::serve::outgoing::Peers;
use crate::serve::responses::Body;

/// Where the guest's response goes.
pub(crate) type Sender = oneshot::Sender<Result<Response<Body>, ErrorCode>>;

/// Which request a run serves, for the instance and the log.
pub(crate) struct Call<'a> {
    pub(crate) id: u64,
    /// How many apps the request went through before this one.
    pub(crate) hops: u32,
    /// Method and path, for log lines.
    pub(crate) what: &'a str,
}

/// How a guest's run ended, for the request that waits on it.
pub(crate) enum End {
    /// `handle` returned.
    Returned,
    /// It failed; the failure is logged already.
    Failed(Outcome),
}

/// Why a guest's run stopped short.
enum Stop {
    Wasm(wasmtime::Error),
    TimedOut(Duration),
}

/// Runs one request on a warm or fresh instance of `app`; logs a failure.
pub(crate) async fn run<B>(
    app: &LoadedApp,
    peers: Weak<dyn Peers>,
    request: Request<B>,
    sender: Sender,
    call: Call<'_>,
) -> End
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Error>,
{
    let Call { id, hops, what } = call;
    let (mut store, proxy, served) = match instance(app, peers, id, hops) {
        Ok(i) => i,
        Err(e) => {
            app.log(id, &format!("{what}: {e}"));
            return End::Failed(Outcome::Trapped {
                reason: e.to_string(),
                backtrace: Vec::new(),
            });
        }
    };
    let spec = app.spec();
    if let Some(fuel) = spec.fuel
        && let Err(e) = store.set_fuel(fuel)
    {
        app.log(id, &format!("{what}: {e}"));
    }
    let resources = {
        let mut http = store.data_mut().http();
        http.new_incoming_request(Scheme::Http, request)
            .and_then(|req| Ok((req, http.new_response_outparam(sender)?)))
    };
    let run = async {
        let (req, out) = resources.map_err(Stop::Wasm)?;
        let proxy = match proxy {
            Some(p) => p,
            None => app
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(Stop::Wasm)?,
        };
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
            .map_err(Stop::Wasm)?;
        Ok(proxy)
    };
    let result = match spec.timeout {
        Some(limit) => tokio::time::timeout(limit, run)
            .await
            .unwrap_or(Err(Stop::TimedOut(limit))),
        None => run.await,
    };
    match result {
        Ok(proxy) => {
            app.keep_warm(Warm {
                store,
                proxy,
                served: served + 1,
            });
            End::Returned
        }
        Err(stop) => failed(app, &store, stop, id, what),
    }
}

/// A warm instance (with the requests it served) or a fresh store, set up
/// for request `id`.
fn instance(
    app: &LoadedApp,
    peers: Weak<dyn Peers>,
    id: u64,
    hops: u32,
) -> Result<(Store<Host>, Option<Proxy>, u32), RuntimeError> {
    let (mut store, proxy, served) = match app.take_warm() {
        Some(Warm {
            store,
            proxy,
            served,
        }) => (store, Some(proxy), served),
        None => (app.new_store(peers)?, None, 0),
    };
    let host = store.data_mut();
    host.request.store(id, Ordering::Relaxed);
    host.outgoing.request = id;
    host.outgoing.hops = hops;
    if app.options.epoch_interruption {
        store.set_epoch_deadline(1);
    }
    Ok((store, proxy, served))
}

/// How a run that stopped short ended, logged.
fn failed(app: &LoadedApp, store: &Store<Host>, stop: Stop, id: u64, what: &str) -> End {
    let spec = app.spec();
    let outcome = match stop {
        Stop::TimedOut(limit) => Outcome::TimedOut {
            limit,
            blocked: false,
        },
        Stop::Wasm(e) => {
            let outcome = classify(e, spec);
            let host = store.data();
            let limiter = LimiterView {
                peak: host.limiter.peak(),
                hit: host.limiter.hit(),
            };
            explain(outcome, &limiter, spec, &host.gate)
        }
    };
    let status = match outcome {
        Outcome::TimedOut { .. } => 504,
        _ => 500,
    };
    let report = outcome
        .report(&app.name)
        .unwrap_or_else(|| format!("{} ended ({})", app.name, outcome.exit_code()));
    app.log(id, &format!("{what}: {status}: {report}"));
    End::Failed(outcome)
}
