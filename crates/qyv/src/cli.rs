//! The command line, parsed and nothing more: every command's options as
//! clap types. Commands live in `commands/`; value parsing for option
//! values that carry structure (`--dir`, `--env`, `--allow-net`) in
//! `flags.rs`. The shell (`shell/line.rs`) parses and completes with these
//! same definitions.
//!
//! Value names tell the shell what to complete: `TARGET` (a manifest, a
//! folder holding one, a wasm file or a bundle), `WASM`, `MANIFEST`,
//! `BUNDLE`, `WASM_OR_BUNDLE`, `MANIFEST_OR_WASM`, `APP` (an app on the
//! current node); other `PathBuf` values and
//! `value_hint = DirPath` complete as paths and folders.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};

use qyvol_manifest::{parse_duration, parse_memory_limit, parse_timeout};

use crate::flags::{DirFlag, EnvFlag};

mod cluster;
pub use cluster::*;

#[derive(Debug, Parser)]
#[command(
    name = "qyv",
    version,
    about = "Run WebAssembly apps: sandboxed, fast to start, from any language",
    long_about = None,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an app: a .qyv manifest, a folder holding one, a .qyvbin bundle,
    /// or a bare .wasm
    Run(RunArgs),
    /// Serve HTTP apps (type: http manifests, wasi:http components) on one address
    Serve(ServeArgs),
    /// Check a manifest and its wasm without running it
    Validate(ValidateArgs),
    /// Show what a .wasm file or a .qyvbin bundle holds
    Inspect(InspectArgs),
    /// Pack an app into one .qyvbin file: manifest, wasm, files; optionally
    /// precompiled and signed
    Pack(PackArgs),
    /// Check a .qyvbin bundle: every SHA-256, its signature, and whether you
    /// trust the signer
    Verify(VerifyArgs),
    /// Make an Ed25519 key pair for signing bundles
    Keygen(KeygenArgs),
    /// Print the JSON Schema of the .qyv manifest (for editors)
    Schema,
    /// Manage the compiled-code cache
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Work with WASI 0.2 components
    #[command(subcommand)]
    Component(ComponentCommand),
    /// Create a new app in a language, ready to build and run
    Init(InitArgs),
    /// Build an app: run its build command, then make the entrypoint a
    /// component if the manifest asks for one
    Build(BuildArgs),
    /// An interactive shell: every qyv command without `qyv`, completion,
    /// history, suggestions learned from use
    Shell(ShellArgs),
    /// Run a node: an HTTPS API that keeps, runs and watches apps deployed
    /// to it
    Daemon(Box<DaemonArgs>),
    /// Deploy an app to a node: pack it (from a .qyv), upload it, wait until
    /// it runs
    Deploy(DeployArgs),
    /// List a node's apps, or show one with its revisions
    Ps(PsArgs),
    /// Show an app's output, kept by its node
    Logs(LogsArgs),
    /// Start an app on its node (a command runs again)
    Start(AppArgs),
    /// Stop an app on its node
    Stop(AppArgs),
    /// Stop and start an app on its node
    Restart(AppArgs),
    /// Remove an app, its revisions and its logs from its node
    Rm(AppArgs),
    /// Make an earlier revision of an app current again
    Rollback(RollbackArgs),
    /// Show what happened on a node: deploys, starts, exits, restarts
    Events(EventsArgs),
    /// A node's apps, instances, logs and events, live: a dashboard in the
    /// browser, or (--print) a text frame in the terminal
    Viz(VizArgs),
    /// Show or choose where node commands go; save nodes by name with their
    /// token and certificate fingerprint, and clusters with their NATS
    Context(ContextArgs),
    /// Run apps on many nodes as one: a cluster on NATS JetStream
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Make a cluster's apps (or a node's) equal to the manifests and
    /// bundles in a folder: print the plan, then apply it
    Sync(SyncArgs),
    /// Log in to an OCI registry; the credentials are kept where Docker
    /// keeps them (~/.docker/config.json or its credential helper)
    Login(LoginArgs),
    /// Forget the credentials of an OCI registry
    Logout(LogoutArgs),
    /// Publish an app (.qyv, .qyvbin) or a wasm file to an OCI registry
    Push(PushArgs),
    /// Fetch an app or a wasm component from an OCI registry into the local
    /// store (checked, and judged by the trust policy)
    Pull(PullArgs),
    /// Search the apps in OCI registries (their catalog and the annotations
    /// of each repository's latest tag)
    Search(SearchArgs),
    /// Install an app from a registry as a command on PATH (a launcher in
    /// $QYVOL_BIN, else ~/.local/bin), after showing what it may touch
    Install(InstallArgs),
    /// Remove a command installed by qyv install
    Uninstall(UninstallArgs),
    /// List the apps pulled into the store, or (--installed) the commands
    /// installed from registries
    List(ListArgs),
}

/// Prints a parse error (or the help or version text clap answers with) and
/// returns the status it gives: as with `docker run`, a usage error is
/// qyv's, not the app's.
pub fn usage_status(e: &clap::Error) -> i32 {
    let _ = e.print();
    if e.use_stderr() {
        crate::exit::QYV_ERROR
    } else {
        0
    }
}

impl ConnectionFlags {
    /// The limits of the HTTP listener these flags describe.
    pub fn limits(&self) -> qyvol_runtime::serve::ConnectionLimits {
        qyvol_runtime::serve::ConnectionLimits {
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_per_client: usize::try_from(self.max_connections_per_client).unwrap_or(usize::MAX),
        }
    }
}

impl RunArgs {
    pub fn target(&self) -> PathBuf {
        PathBuf::from(&self.command[0])
    }

    /// The app's arguments; a `--` right after TARGET only separates.
    pub fn app_args(&self) -> &[String] {
        match self.command.get(1).map(String::as_str) {
            Some("--") => &self.command[2..],
            _ => &self.command[1..],
        }
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "Flags add to what the manifest grants: --env, --dir and --allow-net grant more; \
--memory, --timeout and --fuel replace the manifest's limits. Put qyv's flags before TARGET: \
everything after TARGET goes to the app, as do the words after `--`.\n\n\
Exit status: the app's own exit code; 124 time limit; 125 qyv could not start the app \
(bad manifest, flags or wasm, or a bundle that is damaged or not trusted); 126 the app failed \
after being denied network access; 134 trap; 137 memory limit; 152 fuel exhausted."
)]
pub struct RunArgs {
    /// TARGET is a .qyv manifest, a folder holding exactly one, a .qyvbin
    /// bundle, or a .wasm file (which then runs with no permissions but those
    /// the flags give); ARGS go to the app, after the manifest's `args`
    // One positional, as in `wasmtime run`: once TARGET is seen, every word
    // after it belongs to the app, even one that looks like a qyv flag.
    #[arg(required = true, trailing_var_arg = true, value_name = "TARGET [ARGS]")]
    pub command: Vec<String>,

    #[command(flatten)]
    pub grants: GrantFlags,

    #[command(flatten)]
    pub limits: LimitFlags,

    /// Compile without reading or writing the compiled-code cache
    #[arg(long)]
    pub no_cache: bool,

    /// Print timings, cache use and peak memory on stderr when the app ends
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "text", value_name = "FORMAT")]
    pub metrics: Option<MetricsFormat>,

    #[command(flatten)]
    pub trust: TrustFlags,

    /// Use a bundle's precompiled code even if no trusted key signed it
    /// (machine code runs outside the sandbox)
    #[arg(long)]
    pub allow_precompiled: bool,
}

/// Whose signature a bundle needs. Either flag replaces the user config's
/// trust policy for this command: the bundle must be signed by one of the
/// keys given.
#[derive(Debug, Args, Default)]
pub struct TrustFlags {
    /// Require a bundle signed by this public key (repeatable)
    #[arg(long = "key", value_name = "PUB")]
    pub keys: Vec<PathBuf>,

    /// Require a bundle signed by one of the public keys (*.pub) in this
    /// folder (repeatable)
    #[arg(long = "trust", value_name = "DIR")]
    pub trust: Vec<PathBuf>,
}

impl TrustFlags {
    pub fn given(&self) -> bool {
        !self.keys.is_empty() || !self.trust.is_empty()
    }
}

/// Permissions granted from the command line, on top of the manifest's.
#[derive(Debug, Args, Default)]
pub struct GrantFlags {
    /// Set an environment variable for the app; NAME alone copies the
    /// host's value (repeatable)
    #[arg(long = "env", value_name = "NAME[=VALUE]", value_parser = EnvFlag::parse)]
    pub env: Vec<EnvFlag>,

    /// Mount a host folder: at GUEST if given, else at HOST's own path;
    /// `:ro` makes it read-only (repeatable)
    #[arg(long = "dir", value_name = "HOST[::GUEST][:ro]", value_parser = DirFlag::parse, value_hint = ValueHint::DirPath)]
    pub dirs: Vec<DirFlag>,

    /// Allow network access: to everything, or only to the listed
    /// HOST:PORT, IP or CIDR entries (repeatable)
    #[arg(long = "allow-net", value_name = "HOST:PORT,...", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub allow_net: Vec<String>,
}

/// Limits from the command line; each replaces the manifest's. Values are
/// read by the manifest's own parsers: `--memory 64MiB` means what
/// `limits.memory: 64MiB` does.
#[derive(Debug, Args, Default)]
pub struct LimitFlags {
    /// Cap the app's linear memories and tables together, e.g. 64MiB
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit)]
    pub memory: Option<u64>,

    /// Stop the app after this long, e.g. 5s or 500ms
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,

    /// Stop the app after this many units of fuel (about one per instruction)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub fuel: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricsFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Each request gets a fresh instance of its app (http.reuse: N lets one \
instance serve N requests). Apps are chosen by the longest http.route prefix of the path; an app \
reaches another of the same server at http://NAME.service/. A busy app queues requests \
(http.concurrency, http.queue) and answers 503 when its queue is full; limits.timeout bounds each \
request (504); a trap fails only its request (500). Logs go to stderr, each line with the request \
id that the response carries in x-request-id. SIGINT or SIGTERM stops accepting, finishes the \
requests in flight (for at most --drain-timeout, then closes what is left) and exits 0; a second \
one exits at once with status 1."
)]
pub struct ServeArgs {
    /// Apps to serve: .qyv manifests of type http, folders holding one,
    /// their .qyvbin bundles, wasi:http components (.wasm: served at / with
    /// no permissions), or registry references to either
    #[arg(required = true, value_name = "TARGET")]
    pub apps: Vec<PathBuf>,

    /// Address to listen on; port 0 picks a free port (the address is
    /// printed as `listening on http://ADDR`)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Log one line per request (method, path, status, time), not only
    /// failures
    #[arg(long)]
    pub log_requests: bool,

    /// Compile without reading or writing the compiled-code cache
    #[arg(long)]
    pub no_cache: bool,

    #[command(flatten)]
    pub trust: TrustFlags,

    /// Use a bundle's precompiled code even if no trusted key signed it
    /// (machine code runs outside the sandbox)
    #[arg(long)]
    pub allow_precompiled: bool,

    #[command(flatten)]
    pub connections: ConnectionFlags,
}

/// What a listener allows its connections, and how long a stop waits.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connections")]
pub struct ConnectionFlags {
    /// How long a client may take to send a request's head (and, for the
    /// node's API, its TLS handshake), counted from its connect or from
    /// the first byte of its next request
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub header_timeout: std::time::Duration,

    /// How long a connection may stay idle between requests; also how long
    /// a request body may stop arriving, or a response wait for the client
    /// to read it
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub idle_timeout: std::time::Duration,

    /// Connections open at once on the HTTP listener; at the cap the one
    /// idle the longest is closed, and when all are busy new ones get 503.
    /// Lowered to fit the limit on open files
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Connections open at once from one client address on the HTTP
    /// listener; 0: no cap (behind a proxy every client has its address)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_connections_per_client: u64,

    /// How long SIGINT or SIGTERM waits for the requests in flight before
    /// closing what is left [default: 10s, or the longest limits.timeout
    /// of the apps served]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub drain_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A .qyv manifest, a folder holding exactly one, or a .wasm file
    pub target: PathBuf,
    /// What to check the app for: the command that would refuse it refuses
    /// it here too [default: serve for type: http, run for the rest]
    #[arg(long = "for", value_enum, value_name = "PURPOSE")]
    pub purpose: Option<PurposeFlag>,
    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
}

/// What `qyv validate --for` checks an app for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PurposeFlag {
    /// `qyv run` from its folder
    Run,
    /// `qyv serve`
    Serve,
    /// `qyv pack`
    Pack,
    /// `qyv deploy` to a node
    Deploy,
}

impl From<PurposeFlag> for qyvol_manifest::Purpose {
    fn from(flag: PurposeFlag) -> Self {
        match flag {
            PurposeFlag::Run => qyvol_manifest::Purpose::Run,
            PurposeFlag::Serve => qyvol_manifest::Purpose::Serve,
            PurposeFlag::Pack => qyvol_manifest::Purpose::Pack,
            PurposeFlag::Deploy => qyvol_manifest::Purpose::Deploy,
        }
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A .wasm file or a .qyvbin bundle
    #[arg(value_name = "WASM_OR_BUNDLE")]
    pub file: PathBuf,
    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Interactive when standard input is a terminal: Tab completes commands, \
flags, files and app names; the right arrow (or Ctrl-F) accepts the grey suggestion; Ctrl-R \
searches the history; `help` lists the built-ins. Otherwise the commands are read from standard \
input, one per line, like `sh`. History and the suggestion model are kept in \
$XDG_DATA_HOME/qyvol (else ~/.local/share/qyvol); scripts and -c read them but do not change \
them.\n\nExit status: the last command's."
)]
pub struct ShellArgs {
    /// Run these commands (separated by `;` or new lines) instead of reading them
    #[arg(short = 'c', value_name = "COMMANDS")]
    pub commands: Option<String>,

    /// With -c or a script on standard input: stop at the first command that
    /// fails, with its status
    #[arg(short = 'e', long = "errexit")]
    pub errexit: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The bundle holds the manifest as written, the wasm, and the files of every mount \
(their folders are read-only in the bundle: write mounts cannot be packed). Packing is \
deterministic: the same app, key and options give the same bytes."
)]
pub struct PackArgs {
    /// A .qyv manifest, or a folder holding exactly one
    pub target: PathBuf,

    /// Where to write the bundle [default: NAME.qyvbin in the current folder]
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Sign the bundle with this private key (made by qyv keygen)
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,

    /// Add machine code compiled for this machine and engine, so that the
    /// bundle starts without compiling (used when a trusted key signed it)
    #[arg(long)]
    pub precompile: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The credentials are checked against the registry before they are kept. A \
credential helper named by the Docker config (credsStore, credHelpers) keeps them if there is \
one; otherwise they go into the config's auths, as `docker login` writes them."
)]
pub struct LoginArgs {
    /// The registry: HOST[:PORT] (ghcr.io, docker.io, 127.0.0.1:5000)
    pub registry: String,

    /// The user name [default: asked on the terminal]
    #[arg(short = 'u', long)]
    pub username: Option<String>,

    /// Read the password (or access token) from standard input
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry: HOST[:PORT]
    pub registry: String,
}

/// What `qyv push` publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PushFormat {
    /// A Qyvol app: the .qyvbin bundle (a .qyv is packed first)
    Qyv,
    /// A bare .wasm in the CNCF wasm OCI layout, for any wasm tool
    Wasm,
}

#[derive(Debug, Args)]
#[command(
    after_help = "REF is REGISTRY/NAMESPACE/APP:TAG (oci:// in front is accepted; without a \
registry, Docker Hub). A .qyv is packed into a bundle first (signed with --sign KEY); a \
.qyvbin is pushed as it is; a .wasm is pushed in the CNCF wasm layout (--format wasm). The \
media types are in docs/hub.md. Prints the digest: REGISTRY/NAMESPACE/APP@DIGEST names \
exactly what was pushed."
)]
pub struct PushArgs {
    /// A .qyv manifest (or a folder holding one), a .qyvbin bundle, or a
    /// .wasm file
    #[arg(value_name = "MANIFEST_OR_WASM")]
    pub source: PathBuf,

    /// Where to push: REGISTRY/NAMESPACE/APP:TAG
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Sign the bundle packed from a .qyv with this private key
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,

    /// qyv (a Qyvol app) or wasm (a bare wasm file) [default: wasm for a
    /// .wasm, qyv otherwise]
    #[arg(long, value_enum)]
    pub format: Option<PushFormat>,

    /// Send the bundle in chunks of this size (for registries and proxies
    /// that cap a request's size) [default: one request]
    #[arg(long, value_name = "SIZE", value_parser = qyvol_manifest::parse_size)]
    pub chunk_size: Option<u64>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The artifact goes into the local store beside the compiled-code cache \
($QYVOL_CACHE_DIR/hub, else ~/.cache/qyvol/hub), every byte checked against its digest. \
A bundle is judged by the trust policy as `qyv run app.qyvbin` judges it.\n\n\
Exit status: 0 pulled; 125 not pulled (bad reference, registry error, damaged or not trusted)."
)]
pub struct PullArgs {
    /// REGISTRY/NAMESPACE/APP[:TAG] or …@sha256:DIGEST
    #[arg(value_name = "REF")]
    pub reference: String,

    #[command(flatten)]
    pub trust: TrustFlags,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The command runs `qyv run REF@DIGEST`: pinned to what was installed, from the \
store, sandboxed with the app's own permissions and judged by the trust policy (and the --key \
/ --trust given here) at each start. Installing a newer tag under the same name updates the \
command in place. A file qyv did not install is never overwritten."
)]
pub struct InstallArgs {
    /// REGISTRY/NAMESPACE/APP[:TAG] or …@sha256:DIGEST
    #[arg(value_name = "REF")]
    pub reference: String,

    /// The command's name [default: the app's name]
    #[arg(long, value_name = "CMD")]
    pub name: Option<String>,

    /// Install without asking (the permissions are still printed)
    #[arg(long, short = 'y')]
    pub yes: bool,

    #[command(flatten)]
    pub trust: TrustFlags,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// A command installed by qyv install
    #[arg(value_name = "CMD")]
    pub command: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The commands installed by qyv install
    #[arg(long)]
    pub installed: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The index of a registry is kept in the store ($QYVOL_CACHE_DIR/hub/index) and \
built again after an hour or with --refresh. Registries that do not list their repositories \
(GHCR, Docker Hub) cannot be searched: qyv says so and where to look instead. Without \
--registry, every registry searched before is searched again."
)]
pub struct SearchArgs {
    /// A part of the app's reference, name, description or language
    /// [default: everything]
    pub term: Option<String>,

    /// The registry to search: HOST[:PORT] (repeatable)
    #[arg(long = "registry", value_name = "REGISTRY")]
    pub registries: Vec<String>,

    /// Build the index again now
    #[arg(long)]
    pub refresh: bool,

    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 the bundle is intact and its signature is acceptable; 1 it is \
damaged, tampered with, or not signed as required; 125 qyv could not check it (bad flags, \
unreadable key or config)."
)]
pub struct VerifyArgs {
    /// A .qyvbin bundle
    pub bundle: PathBuf,

    #[command(flatten)]
    pub trust: TrustFlags,

    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Folder for the new key pair (qyvol.key, qyvol.pub) [default:
    /// $XDG_CONFIG_HOME/qyvol/keys, or ~/.config/qyvol/keys]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Which node a command talks to, and the credentials. Without --node,
/// the current context (`qyv context use`).
#[derive(Clone, Debug, Args, Default)]
pub struct NodeFlags {
    /// The node: a context's name, or https://HOST[:PORT] (port 7443 if
    /// none)
    #[arg(long, value_name = "URL|CONTEXT", env = "QYVOL_NODE")]
    pub node: Option<String>,

    /// The node's API token (`qyv daemon token` on the node shows it);
    /// default: the context's
    #[arg(
        long,
        value_name = "TOKEN",
        env = "QYVOL_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Talk to the node only if its certificate has this fingerprint
    /// (sha256:HEX, as `qyv daemon` prints it); default: the context's
    #[arg(long, value_name = "SHA256", env = "QYVOL_FINGERPRINT")]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "On first start the node makes its data folder (database, bundles, logs, compiled \
code), a self-signed certificate and an API token; it prints the certificate's fingerprint, which \
clients pin. Apps that should run are started again when the node starts. Stop it with SIGINT or \
SIGTERM: it stops accepting, finishes the requests in flight on the API and the --http port (for \
at most --drain-timeout, then closes what is left), stops the apps and exits 0."
)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub command: Option<DaemonCommand>,

    /// Where the API listens
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7443")]
    pub listen: std::net::SocketAddr,

    /// Serve the node's type: http apps, by route, in plain HTTP on this
    /// address (e.g. 0.0.0.0:8080); without it the node refuses them
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,

    /// The node's data folder [default: /var/lib/qyvol for root, else
    /// $XDG_DATA_HOME/qyvol/node or ~/.local/share/qyvol/node]
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub data_dir: Option<PathBuf>,

    /// A folder of .qyv manifests and .qyvbin bundles to deploy at start
    /// and whenever they change (as /etc/qyvol.d)
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub apps_dir: Option<PathBuf>,

    /// Serve this certificate (PEM, chain) instead of the node's own
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Largest bundle a deploy may upload, e.g. 64MiB
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = qyvol_manifest::parse_size)]
    pub max_upload: u64,

    /// Accept only bundles signed by these keys (else the user config's
    /// trust policy applies)
    #[command(flatten)]
    pub trust: TrustFlags,

    #[command(flatten)]
    pub limits: NodeLimitFlags,

    /// Let apps-dir manifests name files in this folder too (repeatable);
    /// otherwise their entrypoints and mounts must be in their own folder
    #[arg(long = "allow-path", value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub allow_paths: Vec<PathBuf>,

    #[command(flatten)]
    pub cluster: DaemonClusterFlags,

    // The timeouts apply to the API and the --http port; --max-connections
    // and --max-connections-per-client to the --http port.
    #[command(flatten)]
    pub connections: ConnectionFlags,

    /// Connections open at once on the API; lowered to fit the limit on
    /// open files
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Connections")]
    pub api_max_connections: u64,

    /// Connections open at once from one client address on the API; 0: no
    /// cap
    #[arg(
        long,
        value_name = "N",
        default_value_t = 128,
        help_heading = "Connections"
    )]
    pub api_max_connections_per_client: u64,

    /// How the node writes its log on stderr: human lines, or one JSON
    /// object a line for a log collector; RUST_LOG filters either (e.g.
    /// RUST_LOG=warn)
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = crate::logging::LogFormat::Human)]
    pub log_format: crate::logging::LogFormat,
}

/// How a node joins a cluster at start.
#[derive(Debug, Args, Default)]
pub struct DaemonClusterFlags {
    /// Join the cluster whose NATS (with JetStream) is here:
    /// nats://HOST[:PORT][,nats://…] (tls:// for TLS). The node joins it
    /// again at every start until it is removed from it
    #[arg(long = "cluster", value_name = "NATS_URL")]
    pub cluster: Option<String>,

    /// NATS credentials: a .creds file, an nkey seed, or one line
    /// USER:PASSWORD
    #[arg(long = "cluster-creds", value_name = "FILE", requires = "cluster")]
    pub creds: Option<PathBuf>,

    /// The node's name in the cluster [default: the host name]
    #[arg(long = "node-name", value_name = "NAME", requires = "cluster")]
    pub node_name: Option<String>,

    /// A label placement constraints match (repeatable), e.g. zone=a
    #[arg(long = "label", value_name = "KEY=VALUE", requires = "cluster")]
    pub labels: Vec<String>,
}

/// What a node grants apps that do not say, and the most it grants any.
#[derive(Debug, Args)]
pub struct NodeLimitFlags {
    /// limits.memory of an app that sets none, per instance
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_memory_limit)]
    pub default_memory: u64,

    /// The most limits.memory an app may ask for; a deploy asking more is
    /// refused
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = parse_memory_limit)]
    pub max_memory: u64,

    /// limits.timeout of a command, or of each request to an HTTP app, that
    /// sets none; `none` for no limit (services run until stopped)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_optional_timeout)]
    pub default_timeout: OptionalTimeout,

    /// The most instances of one app at once (an HTTP app's
    /// http.concurrency); a deploy asking more is refused
    #[arg(long, value_name = "N", default_value = "256", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_instances: u32,
}

/// A duration, or `none`.
#[derive(Clone, Copy, Debug)]
pub struct OptionalTimeout(pub Option<std::time::Duration>);

fn parse_optional_timeout(text: &str) -> Result<OptionalTimeout, String> {
    if text == "none" {
        return Ok(OptionalTimeout(None));
    }
    parse_timeout(text).map(|t| OptionalTimeout(Some(t)))
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Print the node's API token
    Token {
        /// The node's data folder (as given to qyv daemon)
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
#[command(
    after_help = "DIR holds .qyv manifests and .qyvbin bundles, directly or one folder down (one \
app each). The target is --node or --cluster, else the current context: on a cluster each \
change is a deploy (a rollout), on a node a deploy to it. Exit status: 0 the target matches \
DIR (already, or once the plan is applied); 1 --dry-run found changes; 125 a manifest, bundle \
or the target refused or failed (nothing of the plan after it is applied)."
)]
pub struct SyncArgs {
    /// The folder of manifests and bundles
    #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub dir: PathBuf,
    /// Remove the apps the folder does not hold
    #[arg(long)]
    pub prune: bool,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub node: NodeFlags,
}

#[derive(Debug, Args)]
#[command(
    after_help = "A manifest is packed as `qyv pack` packs it. Exit status: 0 the app runs (or, \
a command, completed); 1 it failed (the reason is printed); 125 the deploy was refused or the \
node could not be reached."
)]
pub struct DeployArgs {
    /// A .qyv manifest, a folder holding one, a .qyvbin bundle, or a
    /// registry reference REGISTRY/NS/APP:TAG (the node pulls it by digest,
    /// with its own registry credentials)
    #[arg(value_name = "TARGET")]
    pub target: PathBuf,

    /// The node, https://HOST[:PORT] or a context's name (as --node)
    #[arg(value_name = "NODE")]
    pub url: Option<String>,

    #[command(flatten)]
    pub node: NodeFlags,

    /// Sign the bundle packed from a manifest with this private key
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,

    /// Return once the node has stored the bundle, without waiting for the
    /// app to run
    #[arg(long)]
    pub no_wait: bool,

    /// How long to wait for the app to run
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,

    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show this app, with its revisions
    #[arg(value_name = "APP")]
    pub app: Option<String>,

    #[command(flatten)]
    pub node: NodeFlags,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[arg(value_name = "APP")]
    pub app: String,

    /// Keep printing new lines as the app writes them
    #[arg(short, long)]
    pub follow: bool,

    /// How many of the last lines to show
    #[arg(short = 'n', long, value_name = "N", default_value_t = 100)]
    pub tail: usize,

    #[command(flatten)]
    pub node: NodeFlags,

    /// Print each line as a JSON object (time, stream, revision, text)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AppArgs {
    #[arg(value_name = "APP")]
    pub app: String,

    #[command(flatten)]
    pub node: NodeFlags,

    /// Print the app's status as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[arg(value_name = "APP")]
    pub app: String,

    /// The revision to go back to [default: the one before the current]
    #[arg(long, value_name = "REVISION")]
    pub to: Option<u32>,

    #[command(flatten)]
    pub node: NodeFlags,

    /// Print the app's status as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this app's events
    #[arg(value_name = "APP")]
    pub app: Option<String>,

    /// How many of the last events to show
    #[arg(short = 'n', long, value_name = "N", default_value_t = 50)]
    pub tail: u32,

    #[command(flatten)]
    pub node: NodeFlags,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The page asks for the token printed at the start, made for this \
session only; the viewer passes its requests on to the node with the context's own token, which \
never reaches the browser. A node serves the same dashboard itself under https://NODE/ui, behind \
its own token."
)]
pub struct VizArgs {
    #[command(flatten)]
    pub node: NodeFlags,

    /// Where the dashboard is served (plain HTTP; port 0: a free one)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub addr: std::net::SocketAddr,

    /// Do not open a browser; only print the address
    #[arg(long)]
    pub no_open: bool,

    /// No browser: print the apps and the latest events as a text frame,
    /// again every --interval (for SSH sessions)
    #[arg(long)]
    pub print: bool,

    /// With --print: milliseconds between frames
    #[arg(long, value_name = "MS", default_value_t = 1000, requires = "print")]
    pub interval: u64,

    /// With --print: one frame, then exit
    #[arg(long, requires = "print")]
    pub once: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Contexts are kept in $XDG_CONFIG_HOME/qyvol/contexts.json (else \
~/.config/qyvol/contexts.json), readable by you only. `local` is no node: commands run on this \
machine."
)]
pub struct ContextArgs {
    #[command(subcommand)]
    pub command: Option<ContextCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Save a node (https://…) or a cluster (nats://…) under a name
    Add {
        /// A name for the node or cluster: lowercase letters, digits and '-'
        name: String,
        /// A node's https://HOST[:PORT], or a cluster's
        /// nats://HOST[:PORT][,nats://…] (tls:// for TLS)
        #[arg(value_name = "URL")]
        url: String,
        /// The node's API token (a node's context needs it)
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// A cluster's NATS credentials: a .creds file, an nkey seed, or
        /// one line USER:PASSWORD
        #[arg(long, value_name = "FILE")]
        creds: Option<PathBuf>,
        /// The node's certificate fingerprint (sha256:HEX, as `qyv daemon`
        /// prints it); without it the certificate must be publicly trusted
        #[arg(long, value_name = "SHA256")]
        fingerprint: Option<String>,
    },
    /// Make node commands go to this context (`local`: none)
    Use {
        #[arg(value_name = "CONTEXT")]
        name: String,
    },
    /// List the saved contexts
    Ls {
        /// Print JSON (tokens left out)
        #[arg(long)]
        json: bool,
    },
    /// Forget a context
    Rm {
        #[arg(value_name = "CONTEXT")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the cache folder
    Dir,
    /// List compiled artifacts
    Ls {
        /// Print the list as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove every compiled artifact
    Clean,
}

#[derive(Debug, Subcommand)]
pub enum ComponentCommand {
    /// Turn a WASI preview-1 core module into a WASI 0.2 component, with
    /// the adapter Wasmtime publishes
    #[command(
        after_help = "The adapter bridges every preview-1 call to WASI 0.2. It cannot carry an exit \
code: a non-zero proc_exit becomes plain failure, which `qyv run` reports as 1."
    )]
    New(ComponentNewArgs),
}

#[derive(Debug, Args)]
pub struct ComponentNewArgs {
    /// The core module (.wasm)
    pub input: PathBuf,
    /// Where to write the component (may be INPUT itself)
    #[arg(short, long, value_name = "COMPONENT")]
    pub output: PathBuf,
    /// Which adapter: command (a program with _start), reactor (a library)
    /// or proxy (an HTTP handler); default: chosen from the module's exports
    #[arg(long, value_enum)]
    pub adapter: Option<AdapterFlag>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AdapterFlag {
    Command,
    Reactor,
    Proxy,
}

impl From<AdapterFlag> for qyvol_runtime::Adapter {
    fn from(flag: AdapterFlag) -> Self {
        match flag {
            AdapterFlag::Command => qyvol_runtime::Adapter::Command,
            AdapterFlag::Reactor => qyvol_runtime::Adapter::Reactor,
            AdapterFlag::Proxy => qyvol_runtime::Adapter::Proxy,
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The app's name: lowercase letters, digits and '-'; also the folder
    /// created for it
    pub name: String,
    /// The language of the app
    #[arg(long, short, value_name = "LANG")]
    pub lang: String,
    /// Create the app in this folder instead of ./NAME
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A .qyv manifest or a folder holding exactly one (default: the
    /// current folder)
    #[arg(default_value = ".")]
    pub target: PathBuf,
    /// Build even when the entrypoint is newer than every `build.watch` file
    #[arg(long)]
    pub force: bool,
    /// After building, build again each time a `build.watch` file changes
    #[arg(long)]
    pub watch: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn words_after_the_target_go_to_the_app() {
        let cli =
            Cli::try_parse_from(["qyv", "run", "--env", "A=1", "app.wasm", "--env", "x", "-v"])
                .unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.target(), PathBuf::from("app.wasm"));
        assert_eq!(run.app_args(), ["--env", "x", "-v"]);
        assert_eq!(run.grants.env.len(), 1);
        let cli = Cli::try_parse_from(["qyv", "run", "app.qyv", "--", "--help"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.app_args(), ["--help"]);
    }

    #[test]
    fn allow_net_with_and_without_value() {
        let cli = Cli::try_parse_from([
            "qyv",
            "run",
            "--allow-net",
            "--allow-net=127.0.0.1:80,10.0.0.0/8",
            "a.wasm",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.grants.allow_net, ["", "127.0.0.1:80,10.0.0.0/8"]);
    }

    #[test]
    fn metrics_defaults_to_text() {
        let cli = Cli::try_parse_from(["qyv", "run", "--metrics", "a.wasm"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.metrics, Some(MetricsFormat::Text));
        let cli = Cli::try_parse_from(["qyv", "run", "--metrics=json", "a.wasm"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.metrics, Some(MetricsFormat::Json));
    }

    #[test]
    fn serve_takes_several_apps_and_an_address() {
        let cli = Cli::try_parse_from(["qyv", "serve", "a.qyv", "b.qyv", "--addr", "127.0.0.1:0"])
            .unwrap();
        let Command::Serve(serve) = cli.command else {
            panic!()
        };
        assert_eq!(serve.apps.len(), 2);
        assert_eq!(serve.addr.port(), 0);
        assert!(Cli::try_parse_from(["qyv", "serve", "--addr", "nowhere", "a.qyv"]).is_err());
        assert!(Cli::try_parse_from(["qyv", "serve"]).is_err());
    }

    #[test]
    fn connection_flags_have_defaults_and_refuse_what_cannot_work() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["qyv", "serve", "a.qyv"];
            args.extend(extra);
            Cli::try_parse_from(args).map(|cli| match cli.command {
                Command::Serve(serve) => serve.connections,
                _ => panic!(),
            })
        };
        let limits = parse(&[]).unwrap().limits();
        assert_eq!(limits, qyvol_runtime::serve::ConnectionLimits::default());
        let flags = parse(&["--header-timeout", "2s", "--drain-timeout", "0s"]).unwrap();
        assert_eq!(flags.header_timeout, std::time::Duration::from_secs(2));
        assert_eq!(flags.drain_timeout, Some(std::time::Duration::ZERO));
        for bad in [
            &["--header-timeout", "0s"][..],
            &["--idle-timeout", "soon"],
            &["--max-connections", "0"],
            &["--max-connections-per-client", "-1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let Command::Daemon(daemon) = Cli::try_parse_from(["qyv", "daemon"]).unwrap().command
        else {
            panic!()
        };
        assert_eq!(
            (
                daemon.api_max_connections,
                daemon.api_max_connections_per_client
            ),
            (512, 128)
        );
    }

    #[test]
    fn bad_limits_are_refused_by_the_parser() {
        for bad in [
            ["qyv", "run", "--memory", "lots", "a.wasm"],
            ["qyv", "run", "--timeout", "5", "a.wasm"],
            ["qyv", "run", "--fuel", "0", "a.wasm"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
