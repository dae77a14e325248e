//! `cairn serve`: the HTTP inference service.
//!
//! One model (any cairn model file: features, classes and task come from it), optionally with a
//! candidate answering a share of requests and a shadow seeing all of them, behind the native
//! API, MLflow's scoring protocol and the Open Inference v2 protocol, with Prometheus metrics,
//! atomic reload (of files, or of registry references the binary resolves) and optional SQLite
//! logging. The request path parses JSON straight into feature
//! rows and counts in atomics; nothing on it locks or waits for the disk.

mod conn;
mod docs_page;
mod drift_window;
mod error;
mod input;
mod loaded;
mod metrics;
mod mlflow;
mod openapi;
mod prediction_log;
mod reload;
mod reply;
mod routes;
mod state;
mod track;
mod v2;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;

use cairn_core::error::{Error, Result};
use cairn_core::workspace::Workspace;

use self::conn::Timeouts;
use self::loaded::{LoadedModel, Role};
pub use self::loaded::{Resolver, Sourced};
use self::metrics::Metrics;
use self::prediction_log::PredictionLog;
pub use self::prediction_log::{LoggedInputs, read_inputs};
use self::reload::ReloadPolicy;
use self::state::Shared;

/// Environment variable holding the bearer token `POST /reload` requires; when it is unset,
/// reloading works only on a server that listens on loopback alone.
pub const RELOAD_TOKEN_VAR: &str = "CAIRN_RELOAD_TOKEN";

/// Where the reference pipeline's select stage writes the model to serve.
pub const DEFAULT_MODEL: &str = "models/model.json";

/// How `serve` listens and what it allows.
#[derive(Clone)]
pub struct ServeOptions {
    /// Model file or registry reference (default: the workspace's `models/model.json`).
    pub model: Option<String>,
    /// A second model answering the `split` share of requests.
    pub candidate: Option<String>,
    /// Share of requests the candidate answers, 0..=1.
    pub split: f64,
    /// A model that sees every request and never answers.
    pub shadow: Option<String>,
    /// Reload whenever this file (the registry) changes.
    pub watch: Option<PathBuf>,
    /// Turns registry references into model bytes.
    pub resolver: Option<Resolver>,
    /// Address to bind.
    pub host: String,
    /// Port to bind (0 picks a free one).
    pub port: u16,
    /// Log every prediction to this SQLite file or `postgres://` database.
    pub log_db: Option<String>,
    /// Refuse to start when the log cannot be opened or reached.
    pub require_log: bool,
    /// Worker threads (default: one per core).
    pub workers: Option<u16>,
    /// Instances per request at most.
    pub max_batch: u32,
    /// Request body size limit in bytes.
    pub max_body: usize,
    /// Time a client has to send a request's head.
    pub header_timeout: std::time::Duration,
    /// Time a client has to send a request's body.
    pub body_timeout: std::time::Duration,
    /// Time an idle keep-alive connection stays open.
    pub idle_timeout: std::time::Duration,
    /// Connections at once (default: 10,000, or fewer if the open-file limit is lower).
    pub max_connections: Option<u32>,
    /// Recent inputs kept per model for the drift gauges (0: none).
    pub drift_window: usize,
}

/// Serves until SIGTERM or SIGINT. `on_listening` is told the bound address once the server
/// accepts connections (with port 0 it is the port picked).
pub fn serve(
    args: &ServeOptions,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<ExitCode> {
    cairn_core::memory::without_huge_pages();
    init_tracing();
    let cwd = std::env::current_dir()
        .map_err(|e| Error::Failed(format!("cannot read the current directory: {e}")))?;
    let workspace = Workspace::find(&cwd).ok().map(|w| w.root);
    let source = model_source(args, &cwd, workspace.as_deref())?;
    let mut metrics = Metrics::default();
    metrics.drift_window = args.drift_window;
    let model = LoadedModel::open(&source, args.resolver.as_ref(), Role::Primary, &metrics)?;
    let beside =
        |source: &Option<String>, role: Role, flag: &str| -> Result<Option<ArcSwap<LoadedModel>>> {
            let Some(source) = source else {
                return Ok(None);
            };
            let other = LoadedModel::open(source, args.resolver.as_ref(), role, &metrics)?;
            if let Some(why) = model.mismatch(&other) {
                return Err(Error::Usage(format!("{flag} {source}: {why}")));
            }
            Ok(Some(ArcSwap::from_pointee(other)))
        };
    if !(0.0..=1.0).contains(&args.split) {
        return Err(Error::Usage(format!(
            "--split {}: the share of requests the candidate answers is between 0 and 1 (0.1 is 10 %)",
            args.split
        )));
    }
    let candidate = beside(&args.candidate, Role::Candidate, "--candidate")?;
    let shadow = beside(&args.shadow, Role::Shadow, "--shadow")?;
    let path = model.path.clone();
    let max_connections = max_connections(args.max_connections);
    let timeouts = Timeouts {
        header: args.header_timeout,
        body: args.body_timeout,
        idle: args.idle_timeout,
    };
    let (log, log_writer) = match &args.log_db {
        Some(db) => {
            let (log, writer) =
                PredictionLog::open(&prediction_log::Target::parse(db), args.require_log)?;
            (Some(log), Some(writer))
        }
        None => (None, None),
    };

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers.into());
    }
    let runtime = runtime
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the async runtime: {e}")))?;
    let address = format!("{}:{}", args.host, args.port);
    let bound = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&address).await.map_err(|e| {
            Error::Usage(format!(
                "cannot listen on {address}: {e}; choose another --host or --port"
            ))
        })?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::Failed(format!("cannot read the bound address: {e}")))?;
        Ok::<_, Error>((listener, bound))
    });
    let (listener, bound) = match bound {
        Ok(bound) => bound,
        Err(e) => {
            if let (Some(log), Some(writer)) = (&log, log_writer) {
                log.stop();
                let _ = writer.join();
            }
            return Err(e);
        }
    };
    let reload = ReloadPolicy::new(
        std::env::var(RELOAD_TOKEN_VAR).ok(),
        bound,
        &cwd,
        workspace.as_deref(),
        &path,
    );
    if !reload.enabled() {
        tracing::warn!("{}", reload.disabled_reason());
    }
    let state = Arc::new(Shared {
        model: ArcSwap::from_pointee(model),
        candidate,
        shadow,
        split: args.split,
        resolver: args.resolver.clone(),
        draws: std::sync::atomic::AtomicU64::new(0),
        metrics,
        log,
        max_batch: args.max_batch as usize,
        reload,
        reload_lock: tokio::sync::Mutex::new(()),
    });
    let app = routes::router(Arc::clone(&state), args.max_body);
    runtime.block_on(async {
        for model in state.loaded() {
            tracing::info!(role = model.role.name(), model = %model.path.display(), version = %model.version, max_connections, "serving");
        }
        if let Some(file) = &args.watch {
            tokio::spawn(reload::watch(Arc::clone(&state), file.clone()));
        }
        on_listening(bound);
        conn::serve(
            listener,
            app,
            Arc::clone(&state),
            timeouts,
            max_connections,
            shutdown_signal(),
        )
        .await;
    });
    // Every request has been answered: let the log writer finish what is queued.
    if let (Some(log), Some(writer)) = (&state.log, log_writer) {
        log.stop();
        let _ = writer.join();
    }
    runtime.shutdown_background();
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Descriptors kept for everything but client connections: the listener, the runtime, the
/// prediction log, model files being read.
const RESERVED_FDS: u64 = 64;

/// `--max-connections`, or 10,000; either way no more than the open-file limit leaves room for
/// (raised to its hard maximum first), so that accepting never runs out of descriptors.
fn max_connections(asked: Option<u32>) -> usize {
    let wanted = asked.map_or(10_000, u64::from);
    let room = conn::raise_open_file_limit(wanted + RESERVED_FDS)
        .map(|limit| limit.saturating_sub(RESERVED_FDS).max(1));
    match room {
        Some(room) if room < wanted => {
            if asked.is_some() {
                tracing::warn!(
                    "--max-connections {wanted} is more than the open-file limit allows: serving {room} at once"
                );
            }
            room as usize
        }
        _ => wanted as usize,
    }
}

/// `--model`, or `models/model.json` of the workspace.
fn model_source(args: &ServeOptions, cwd: &Path, workspace: Option<&Path>) -> Result<String> {
    if let Some(source) = &args.model {
        return Ok(source.clone());
    }
    let root = workspace.ok_or_else(|| {
        Error::Usage(format!(
            "no --model given and {} is not in a cairn workspace: pass --model FILE",
            cwd.display()
        ))
    })?;
    let path = root.join(DEFAULT_MODEL);
    if !path.is_file() {
        return Err(Error::data(
            &path,
            "no model to serve: run `cairn repro` so the pipeline trains and selects one, or pass --model FILE",
        ));
    }
    Ok(path.display().to_string())
}

/// Logs to stderr; `RUST_LOG` filters (default: info, so errors always show and the
/// per-request lines, at debug, only when asked for).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
