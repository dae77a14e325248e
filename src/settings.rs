//! Arguments (and the workspace's config, where it has a say) resolved into the typed options
//! the library crates take, before any of them runs.

use cairn_remote::TransferOptions;

use crate::cli::{self, TransferArgs};

/// What `push`, `fetch` and `pull` move.
pub fn transfer(args: &TransferArgs) -> TransferOptions {
    TransferOptions {
        remote: args.remote.clone(),
        targets: args.targets.clone(),
        jobs: args.jobs.map(|j| j as usize),
        run_cache: args.run_cache,
        also: Vec::new(),
        also_if_present: Vec::new(),
    }
}

/// What `preprocess` does.
pub fn preprocess(args: &cli::PreprocessArgs) -> cairn_ml::PreprocessOptions {
    cairn_ml::PreprocessOptions {
        input: args.input.clone(),
        output: args.output.clone(),
        target: args.target.clone(),
        test_size: args.test_size,
        seed: args.seed,
        scale: match args.scale {
            cli::ScaleKind::Standard => cairn_ml::ScaleKind::Standard,
            cli::ScaleKind::Minmax => cairn_ml::ScaleKind::Minmax,
            cli::ScaleKind::None => cairn_ml::ScaleKind::None,
        },
        missing: match args.missing {
            cli::MissingPolicy::Error => cairn_ml::MissingPolicy::Error,
            cli::MissingPolicy::Drop => cairn_ml::MissingPolicy::Drop,
        },
        task: args.task.map(|t| match t {
            cli::TaskKind::Classification => cairn_ml::TaskKind::Classification,
            cli::TaskKind::Regression => cairn_ml::TaskKind::Regression,
        }),
    }
}

/// What `train` does.
pub fn train(args: &cli::TrainArgs) -> cairn_ml::TrainOptions {
    cairn_ml::TrainOptions {
        input: args.input.clone(),
        output: args.output.clone(),
        algorithm: args.algorithm.clone(),
        params: args.params.clone(),
        seed: args.seed,
        hyperparameters: args.hyperparameters.clone(),
    }
}

/// What `evaluate` does.
pub fn evaluate(args: &cli::EvaluateArgs) -> cairn_ml::EvaluateOptions {
    cairn_ml::EvaluateOptions {
        model: args.model.clone(),
        input: args.input.clone(),
        metrics: args.metrics.clone(),
        plots: args.plots.clone(),
    }
}

/// What `select` does.
pub fn select(args: &cli::SelectArgs) -> cairn_ml::SelectOptions {
    cairn_ml::SelectOptions {
        candidates: args.candidates.clone(),
        models_dir: args.models_dir.clone(),
        metrics_dir: args.metrics_dir.clone(),
        by: args.by.clone(),
        output: args.output.clone(),
        metrics: args.metrics.clone(),
    }
}

/// How `serve` listens.
pub fn serve(
    args: &cli::ServeArgs,
    watch: Option<std::path::PathBuf>,
    resolver: Option<cairn_serve::Resolver>,
) -> cairn_serve::ServeOptions {
    cairn_serve::ServeOptions {
        model: args.model.clone(),
        candidate: args.candidate.clone(),
        split: if args.candidate.is_some() {
            args.split
        } else {
            0.0
        },
        shadow: args.shadow.clone(),
        watch,
        resolver,
        host: args.host.clone(),
        port: args.port,
        log_db: args.log_db.clone(),
        require_log: args.require_log,
        workers: args.workers,
        max_batch: args.max_batch,
        max_body: args.max_body,
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections,
        drift_window: args.drift_window,
    }
}
