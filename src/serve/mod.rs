//! `cairn serve`: the HTTP inference service.
//!
//! One model (any cairn model file: features, classes and task come from it) behind the native
//! API, MLflow's scoring protocol and the Open Inference v2 protocol, with Prometheus metrics,
//! atomic reload and optional SQLite logging. The request path parses JSON straight into feature
//! rows and counts in atomics; nothing on it locks or waits for the disk.

mod error;
mod input;
mod loaded;
mod metrics;
mod mlflow;
mod openapi;
mod prediction_log;
mod reply;
mod routes;
mod state;
mod track;
mod v2;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::workspace::Workspace;

use self::loaded::LoadedModel;
use self::metrics::Metrics;
use self::prediction_log::PredictionLog;
use self::state::Shared;

/// Environment variable holding the bearer token `POST /reload` requires (unguarded when unset).
pub const RELOAD_TOKEN_VAR: &str = "CAIRN_RELOAD_TOKEN";

/// Where the reference pipeline's select stage writes the model to serve.
pub const DEFAULT_MODEL: &str = "models/model.json";

/// `cairn serve`.
pub fn serve(args: &ServeArgs) -> Result<ExitCode> {
    crate::memory::without_huge_pages();
    init_tracing();
    let path = model_path(args)?;
    let metrics = Metrics::default();
    let model = LoadedModel::load(&path, &metrics)?;
    let (log, log_writer) = match &args.log_db {
        Some(db) => {
            let (log, writer) = PredictionLog::open(db)?;
            (Some(log), Some(writer))
        }
        None => (None, None),
    };
    let state = Arc::new(Shared {
        model: ArcSwap::from_pointee(model),
        metrics,
        log,
        max_batch: args.max_batch as usize,
        reload_token: std::env::var(RELOAD_TOKEN_VAR)
            .ok()
            .filter(|t| !t.is_empty()),
        reload_lock: tokio::sync::Mutex::new(()),
    });

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers.into());
    }
    let runtime = runtime
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the async runtime: {e}")))?;
    let app = routes::router(Arc::clone(&state), args.max_body);
    let served = runtime.block_on(async {
        let address = format!("{}:{}", args.host, args.port);
        let listener = tokio::net::TcpListener::bind(&address).await.map_err(|e| {
            Error::Usage(format!(
                "cannot listen on {address}: {e}; choose another --host or --port"
            ))
        })?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::Failed(format!("cannot read the bound address: {e}")))?;
        {
            let model = state.model.load();
            tracing::info!(model = %model.path.display(), version = %model.version, "serving");
        }
        // Tests and scripts read this line to find the port.
        println!("listening on http://{bound}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| Error::Failed(format!("the server failed: {e}")))
    });
    // Every request has been answered: let the log writer finish what is queued.
    if let (Some(log), Some(writer)) = (&state.log, log_writer) {
        log.stop();
        let _ = writer.join();
    }
    runtime.shutdown_background();
    served?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// `--model`, or `models/model.json` of the workspace.
fn model_path(args: &ServeArgs) -> Result<PathBuf> {
    if let Some(path) = &args.model {
        return Ok(path.clone());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::Failed(format!("cannot read the current directory: {e}")))?;
    let workspace = Workspace::find(&cwd).map_err(|_| {
        Error::Usage(format!(
            "no --model given and {} is not in a cairn workspace: pass --model FILE",
            cwd.display()
        ))
    })?;
    let path = workspace.root.join(DEFAULT_MODEL);
    if !path.is_file() {
        return Err(Error::data(
            &path,
            "no model to serve: run `cairn repro` so the pipeline trains and selects one, or pass --model FILE",
        ));
    }
    Ok(path)
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
