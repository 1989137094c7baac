//! Where the libraries' log events go. The libraries (the node above all)
//! emit `tracing` events with fields and never print; the binary alone
//! installs the subscriber: human lines on stderr, `qyv daemon: message`
//! as they always read, or one JSON object per line (`qyv daemon
//! --log-format json`) for a log collector. `RUST_LOG` filters both, in
//! `tracing`'s syntax (`warn`, `qyvol_node=debug`, `async_nats=debug`);
//! by default Qyvol's own events at `info` and no dependency's. Commands
//! whose libraries emit no events (`run`, `pack`, the node's client) do
//! not install it (`main.rs`): a library that starts logging on their path
//! adds its command there.

use std::fmt;

use clap::ValueEnum;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `qyv daemon: what happened`, for people.
    #[default]
    Human,
    /// One JSON object a line: timestamp, level, target, message and the
    /// event's fields (app, revision, …), for a log collector.
    Json,
}

/// Qyvol's own crates at `info`, and nothing of the dependencies (the NATS
/// client, rustls, hyper and the engine have events of their own, which
/// `qyv` never printed): what a log says unless `RUST_LOG` asks otherwise.
pub const DEFAULT_FILTER: &str =
    "qyv=info,qyvol_manifest=info,qyvol_runtime=info,qyvol_node=info,qyvol_cluster=info";

/// The filter `RUST_LOG` asks for, [`DEFAULT_FILTER`] when it is unset or
/// empty.
pub fn filter() -> anyhow::Result<EnvFilter> {
    match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => EnvFilter::try_new(&text).map_err(|e| {
            anyhow::anyhow!(
                "RUST_LOG={text:?}: {e}; write a level (error, warn, info, debug, trace) or TARGET=LEVEL pairs, comma-separated (e.g. qyvol_node=debug)"
            )
        }),
        _ => Ok(EnvFilter::new(DEFAULT_FILTER)),
    }
}

/// Installs the subscriber for this process; `program` opens each human
/// line (`qyv daemon`, `qyv serve`).
pub fn init(program: &'static str, format: LogFormat, filter: EnvFilter) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // A process installs one subscriber; a second call (none today) would
    // keep the first.
    let _ = match format {
        LogFormat::Human => builder.event_format(Human { program }).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// `PROGRAM: message`: the event's fields are in its message already, for
/// people; the JSON format carries them as fields.
struct Human {
    program: &'static str,
}

impl<S, N> FormatEvent<S, N> for Human
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = Message(String::new());
        event.record(&mut message);
        writeln!(writer, "{}: {}", self.program, message.0)
    }
}

/// The `message` of an event, without its other fields.
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
