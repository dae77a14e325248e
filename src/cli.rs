//! The command line (clap): what a user can type. Settings (`settings.rs`) turn it into the
//! typed options the library crates take; no library crate sees these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reproducible ML pipelines, a content-addressed cache, remotes and a model server.
#[derive(Debug, Parser)]
#[command(name = "cairn", version = env!("CAIRN_VERSION"), about, propagate_version = true)]
pub struct Cli {
    /// Run as if cairn was started in DIR.
    #[arg(short = 'C', long, global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create .cairn/ in the current directory.
    Init,
    /// Show which stages are stale and why.
    Status(StatusArgs),
    /// Run the stale stages of the pipeline.
    Repro(ReproArgs),
    /// Show the stage graph.
    Dag(DagArgs),
    /// Track data outside git: store it in the cache and write PATH.cairn.
    Add(AddArgs),
    /// Make the workspace match pipeline.lock and the .cairn pointer files.
    Checkout(TargetArgs),
    /// Send cached objects to a remote.
    Push(PushArgs),
    /// Fetch objects from a remote and check them out.
    Pull(TransferArgs),
    /// Fetch objects from a remote into the cache.
    Fetch(TransferArgs),
    /// Remove cache objects nothing references.
    Gc(GcArgs),
    /// Manage remotes.
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Parameters.
    #[command(subcommand)]
    Params(ParamsCommand),
    /// Metrics.
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// Plots: the stages' plots and the top-level `plots:` section, drawn into an HTML page.
    #[command(subcommand)]
    Plots(PlotsCommand),
    /// Built-in stage: validate, split and scale a CSV.
    Preprocess(PreprocessArgs),
    /// Built-in stage: train a model.
    Train(TrainArgs),
    /// Built-in stage: evaluate a model on the test split.
    Evaluate(EvaluateArgs),
    /// Built-in stage: pick the best of several evaluated models.
    Select(SelectArgs),
    /// Serve a model over HTTP.
    Serve(ServeArgs),
    /// The model registry: versions, aliases, promote, rollback, compare.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Input drift: what a model received against its training profile (exit 1 on drift).
    Drift(DriftArgs),
    /// Experiments: the pipeline with parameter overrides, run beside the workspace.
    #[command(subcommand)]
    Exp(ExpCommand),
    /// Write one self-contained HTML report: DAG, metrics, confusion matrices, plots, registry.
    Report(ReportArgs),
    /// Exit 0 when an HTTP URL answers 2xx (a container's health check: no curl needed).
    Probe {
        /// The URL, http://HOST:PORT/PATH.
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
    },
    /// Print a shell's completion script (e.g. `cairn completions bash > /etc/bash_completion.d/cairn`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages: cairn(1) on stdout, or one page per command into DIR.
    Man {
        /// A folder for cairn.1 and one page per subcommand (cairn-repro.1, …).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print a JSON Schema for editors to check and complete a file with.
    Schema {
        /// Which file.
        #[arg(value_enum)]
        file: SchemaFile,
    },
}

/// `cairn exp …`.
#[derive(Debug, Subcommand)]
pub enum ExpCommand {
    /// Run the pipeline with overrides in a copy of the workspace and record it.
    Run {
        /// Parameter overrides, [FILE:]KEY=VALUE (repeatable).
        #[arg(short = 'S', long = "set-param", value_name = "[FILE:]KEY=VALUE")]
        set: Vec<String>,
        /// The experiment's name (default: made up).
        #[arg(short, long)]
        name: Option<String>,
        /// Only record it; `--run-all` runs it.
        #[arg(long, conflicts_with = "run_all")]
        queue: bool,
        /// Run every queued experiment (and any a killed run left unfinished).
        #[arg(long)]
        run_all: bool,
        /// Experiments at once with --run-all.
        #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: u16,
        /// Stages to reproduce (with their upstream); all when none.
        targets: Vec<String>,
    },
    /// One row per experiment, grouped under the commit it came from.
    Show {
        /// Sort by this metric (best first).
        #[arg(long, value_name = "METRIC")]
        sort_by: Option<String>,
        /// Only the params and metrics that differ between rows.
        #[arg(long)]
        only_changed: bool,
        /// Print JSON.
        #[arg(long, conflicts_with_all = ["csv", "md"])]
        json: bool,
        /// Print CSV.
        #[arg(long, conflicts_with = "md")]
        csv: bool,
        /// Print a Markdown table.
        #[arg(long)]
        md: bool,
    },
    /// Put an experiment's params, lock and outs into the workspace.
    Apply {
        /// The experiment.
        name: String,
    },
    /// Make a git branch from an experiment's parent commit with its params and lock.
    Branch {
        /// The experiment.
        name: String,
        /// The branch to create.
        branch: String,
    },
    /// Remove experiments.
    Remove {
        /// Experiments to remove.
        names: Vec<String>,
        /// All of them.
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Every queued one.
        #[arg(long, conflicts_with_all = ["names", "all"])]
        queued: bool,
    },
    /// Send experiments (records and outs) to a remote.
    Push {
        /// Experiments to send (all when none).
        names: Vec<String>,
        /// The remote (default: the default remote).
        #[arg(short, long)]
        remote: Option<String>,
    },
    /// Bring experiments (records and outs) from a remote.
    Pull {
        /// Experiments to bring (all when none).
        names: Vec<String>,
        /// The remote (default: the default remote).
        #[arg(short, long)]
        remote: Option<String>,
    },
}

/// `cairn report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The file to write.
    #[arg(short, long, default_value = "report.html")]
    pub output: PathBuf,
    /// Experiments to show (all when none).
    #[arg(long = "exp", value_name = "NAME")]
    pub exps: Vec<String>,
    /// A prediction log whose inputs are compared with the production model's profile.
    #[arg(long, value_name = "DB")]
    pub log_db: Option<String>,
    /// The model the drift section is about (default: models:/<first>@production, else models/model.json).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
}

/// `cairn drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The model (file or registry reference) whose training profile is the reference.
    #[arg(long, requires = "log_db", conflicts_with_all = ["reference", "current"])]
    pub model: Option<String>,
    /// The prediction log `cairn serve --log-db` wrote.
    #[arg(long, value_name = "DB", requires = "model")]
    pub log_db: Option<String>,
    /// Only predictions at or after this time (RFC 3339, a date, or an age such as 1h, 30m, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only the last N predictions.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub window: Option<u64>,
    /// Reference data (CSV with a header), instead of a model's profile.
    #[arg(long, value_name = "CSV", requires = "current")]
    pub reference: Option<PathBuf>,
    /// Current data (CSV with a header) compared with --reference.
    #[arg(long, value_name = "CSV", requires = "reference")]
    pub current: Option<PathBuf>,
    /// PSI at or above this is drift.
    #[arg(long, default_value_t = 0.2)]
    pub psi_threshold: f64,
    /// PSI at or above this is a warning.
    #[arg(long, default_value_t = 0.1)]
    pub psi_warning: f64,
    /// A corrected KS p-value below this is drift.
    #[arg(long, default_value_t = 0.05)]
    pub ks_alpha: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cairn status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Stages to check (with their upstream); all when none.
    pub targets: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when anything is stale (for CI).
    #[arg(long)]
    pub check: bool,
}

/// `cairn repro`.
#[derive(Debug, Args)]
pub struct ReproArgs {
    /// Stages to reproduce (with their upstream); all when none.
    pub targets: Vec<String>,
    /// Run every selected stage, stale or not.
    #[arg(short, long)]
    pub force: bool,
    /// Say what would run, run nothing.
    #[arg(long)]
    pub dry: bool,
    /// Only the named stages, not their upstream.
    #[arg(short, long)]
    pub single_item: bool,
    /// Also the stages downstream of the targets.
    #[arg(long)]
    pub downstream: bool,
    /// Stages to run at once.
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: u32,
    /// Go on with independent stages after one fails.
    #[arg(short, long)]
    pub keep_going: bool,
    /// Fetch missing objects (and the run-cache) from the default remote first.
    #[arg(long)]
    pub pull: bool,
    /// Do not restore stages from the run-cache.
    #[arg(long)]
    pub no_run_cache: bool,
}

/// Output format of `cairn dag`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DagFormat {
    /// An indented tree.
    Text,
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// The concrete stages and edges as one JSON object (what the DVC comparison reads).
    Json,
}

/// `cairn dag`.
#[derive(Debug, Args)]
pub struct DagArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = DagFormat::Text)]
    pub format: DagFormat,
}

/// `cairn add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Files or directories to track.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Commands taking optional stage or pointer-file targets.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Stages or .cairn pointer files; everything when none.
    pub targets: Vec<String>,
}

/// `cairn push | pull | fetch`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Stages or .cairn pointer files; everything the lock and pointers reference when none.
    pub targets: Vec<String>,
    /// Remote name (default: the configured default remote).
    #[arg(short, long)]
    pub remote: Option<String>,
    /// Transfers at once.
    #[arg(short, long, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Also transfer run-cache entries.
    #[arg(long)]
    pub run_cache: bool,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `cairn push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// What to send, and where.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Send every object the targets need as a loose object, whatever the remote claims to
    /// hold, replacing what is there: repairs objects that are damaged or missing on the remote
    /// (in packs too). Each object is checked against its digest before it is sent.
    #[arg(long)]
    pub force: bool,
}

/// `cairn gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    pub dry: bool,
    /// Also drop run-cache entries (and the objects only they keep).
    #[arg(long)]
    pub run_cache: bool,
}

/// `cairn remote …`.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote: a folder path or s3://bucket/prefix.
    Add {
        /// Name of the remote.
        name: String,
        /// Folder path or s3://bucket/prefix.
        url: String,
        /// Make it the default remote.
        #[arg(short, long)]
        default: bool,
        /// Write it to config.local.yaml (not committed).
        #[arg(long)]
        local: bool,
    },
    /// List remotes.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote.
    Remove {
        /// Name of the remote.
        name: String,
    },
    /// Set a remote's setting (url, endpoint_url, region, profile, access_key_id, …,
    /// connect_timeout, read_timeout).
    Modify {
        /// Name of the remote.
        name: String,
        /// Setting.
        key: String,
        /// Value.
        value: String,
        /// Write it to config.local.yaml (credentials always go there).
        #[arg(long)]
        local: bool,
    },
    /// Set the default remote.
    Default {
        /// Name of the remote.
        name: String,
    },
}

/// `cairn params …`.
#[derive(Debug, Subcommand)]
pub enum ParamsCommand {
    /// Compare params with a git revision (default HEAD).
    Diff(DiffArgs),
}

/// `cairn metrics …`.
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Show the metrics files of the pipeline.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare metrics with a git revision (default HEAD).
    Diff(DiffArgs),
}

/// `cairn models …`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Register a model file as the next version of NAME (its bytes go into the cache).
    Register {
        /// The model file (a cairn model, or an ONNX file).
        path: PathBuf,
        /// The registered model's name.
        #[arg(long)]
        name: String,
        /// Metrics to record with it (JSON or YAML; default: the producing stage's metrics).
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        /// Why this version exists.
        #[arg(short, long)]
        message: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List registered models, or the versions of one.
    List {
        /// A model's name: list its versions.
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one version: models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/latest.
    Show {
        /// The version.
        reference: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The alias moves of a model, oldest first.
    History {
        /// The model's name.
        name: String,
        /// Only this alias's moves.
        #[arg(long)]
        alias: Option<String>,
        /// Which version held the alias at this time (RFC 3339, e.g. 2026-12-01T09:00:00Z).
        #[arg(long, value_name = "TIME", requires = "alias")]
        at: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Point an alias at a version.
    Promote {
        /// The version: models:/NAME/VERSION (or @ALIAS, latest).
        reference: String,
        /// The alias (production, staging, candidate, or any name).
        #[arg(long)]
        alias: String,
        /// Why, recorded in the history.
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Move an alias back to the version that held it before.
    Rollback {
        /// The model's name.
        name: String,
        /// The alias.
        #[arg(long)]
        alias: String,
        /// Why, recorded in the history.
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Aliases.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Score two models on the same held-out data and decide: exit 0 when the candidate wins.
    Compare {
        /// The candidate: a path or a registry reference.
        reference: String,
        /// What it must beat: a path or a registry reference (e.g. models:/iris@production).
        #[arg(long)]
        against: String,
        /// Prepared data whose test split both are scored on.
        #[arg(long, default_value = "data/prepared", value_name = "DIR")]
        data: PathBuf,
        /// The metric that decides (default: f1_macro, or rmse for regression).
        #[arg(long)]
        metric: Option<String>,
        /// By how much the candidate must be better.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        min_delta: f64,
        /// Point this alias at the candidate when it wins (a registry reference).
        #[arg(long, value_name = "ALIAS")]
        promote: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `cairn models alias …`.
#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Remove an alias.
    Rm {
        /// The model's name.
        name: String,
        /// The alias.
        alias: String,
        /// Why, recorded in the history.
        #[arg(short, long)]
        message: Option<String>,
    },
}

/// `cairn plots …`.
#[derive(Debug, Subcommand)]
pub enum PlotsCommand {
    /// Draw the plots of the workspace.
    Show {
        /// Plots to draw (an id, a file or a folder of plots); all when none.
        targets: Vec<String>,
        /// Print the data as JSON instead of writing the page.
        #[arg(long)]
        json: bool,
        /// Folder to write index.html into.
        #[arg(short, long, default_value = "cairn_plots", value_name = "DIR")]
        out: PathBuf,
    },
    /// Draw the plots of git revisions beside the workspace's.
    Diff {
        /// Revisions to compare with (default HEAD).
        revisions: Vec<String>,
        /// Only these plots.
        #[arg(long = "target", value_name = "PLOT")]
        targets: Vec<String>,
        /// Print the data as JSON instead of writing the page.
        #[arg(long)]
        json: bool,
        /// Folder to write index.html into.
        #[arg(short, long, default_value = "cairn_plots", value_name = "DIR")]
        out: PathBuf,
    },
}

/// `params diff`, `metrics diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Git revision to compare with.
    #[arg(default_value = "HEAD")]
    pub rev: String,
    /// Print JSON.
    #[arg(long, conflicts_with = "md")]
    pub json: bool,
    /// Print a Markdown table (for a CI job summary or a pull-request comment).
    #[arg(long)]
    pub md: bool,
    /// Also list unchanged values.
    #[arg(long)]
    pub all: bool,
}

/// The files `cairn schema` describes.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SchemaFile {
    /// pipeline.yaml (and DVC's dvc.yaml).
    Pipeline,
}

/// Feature scaling.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ScaleKind {
    /// Zero mean, unit variance.
    Standard,
    /// Into [0, 1].
    Minmax,
    /// No scaling.
    None,
}

/// What to do with rows that have missing values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum MissingPolicy {
    /// Stop with an error naming the row and column.
    Error,
    /// Drop the row.
    Drop,
}

/// Learning task.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TaskKind {
    /// Predict a class.
    Classification,
    /// Predict a number.
    Regression,
}

/// `cairn preprocess`.
#[derive(Debug, Args)]
pub struct PreprocessArgs {
    /// CSV file with a header.
    #[arg(long)]
    pub input: PathBuf,
    /// Output directory.
    #[arg(long)]
    pub output: PathBuf,
    /// Target column (default: the last).
    #[arg(long)]
    pub target: Option<String>,
    /// Fraction of rows held out for testing.
    #[arg(long, default_value_t = 0.2)]
    pub test_size: f64,
    /// Seed of the split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Feature scaling, fitted on the train part only.
    #[arg(long, value_enum, default_value_t = ScaleKind::Standard)]
    pub scale: ScaleKind,
    /// Rows with missing values.
    #[arg(long, value_enum, default_value_t = MissingPolicy::Error)]
    pub missing: MissingPolicy,
    /// Classification or regression (default: regression when the target is numeric with many values).
    #[arg(long, value_enum)]
    pub task: Option<TaskKind>,
}

/// `cairn train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Directory written by `cairn preprocess`.
    #[arg(long)]
    pub input: PathBuf,
    /// Model file to write.
    #[arg(long)]
    pub output: PathBuf,
    /// logistic, tree, forest (classification; default logistic); linear, tree, forest
    /// (regression; default linear).
    #[arg(long)]
    pub algorithm: Option<String>,
    /// Hyperparameter, KEY=VALUE (repeatable). logistic: alpha, max_iterations,
    /// gradient_tolerance, fit_intercept; linear: alpha, fit_intercept; tree: max_depth,
    /// min_samples_split, min_samples_leaf, min_impurity_decrease, criterion (gini|entropy, for
    /// classes); forest: those of tree plus n_estimators, feature_fraction, bootstrap.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Hyperparameters as `--KEY VALUE` pairs after the other options, as a dvc.yaml-style
    /// `${mapping}` in a stage command expands to (e.g. `--max_depth 4 --criterion entropy`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "--KEY VALUE"
    )]
    pub hyperparameters: Vec<String>,
}

/// `cairn evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Directory written by `cairn preprocess`.
    #[arg(long)]
    pub input: PathBuf,
    /// Metrics JSON file to write.
    #[arg(long)]
    pub metrics: PathBuf,
    /// Directory for the confusion matrix (CSV and SVG).
    #[arg(long)]
    pub plots: Option<PathBuf>,
}

/// `cairn select`.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Candidates as MODEL=METRICS pairs.
    #[arg(
        long = "candidate",
        value_name = "MODEL=METRICS",
        required_unless_present = "models_dir"
    )]
    pub candidates: Vec<String>,
    /// Every NAME.json model in DIR is a candidate, scored by METRICS_DIR/NAME.json.
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Where the metrics of --models-dir's models are (default: DIR itself).
    #[arg(long, value_name = "METRICS_DIR", requires = "models_dir")]
    pub metrics_dir: Option<PathBuf>,
    /// Metric to maximise (e.g. accuracy, f1_macro; for rmse/mae it is minimised).
    #[arg(long, default_value = "accuracy")]
    pub by: String,
    /// Where to copy the best model.
    #[arg(long)]
    pub output: PathBuf,
    /// Where to write the best model's metrics, with the name of the winner.
    #[arg(long)]
    pub metrics: PathBuf,
}

/// `cairn serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Model file (a cairn model, or an ONNX file with its names in model.onnx.json or its
    /// metadata) or registry reference, e.g. models:/iris@production (default:
    /// models/model.json of the workspace, which the pipeline's select stage writes).
    #[arg(long)]
    pub model: Option<String>,
    /// A second model (file or registry reference) answering the --split share of requests.
    #[arg(long, value_name = "MODEL")]
    pub candidate: Option<String>,
    /// Share of requests the candidate answers, 0 to 1; sticky per X-Request-Id.
    #[arg(
        long,
        requires = "candidate",
        default_value_t = 0.1,
        value_name = "SHARE"
    )]
    pub split: f64,
    /// A model that sees every request; its answers are logged and counted, never returned.
    #[arg(long, value_name = "MODEL")]
    pub shadow: Option<String>,
    /// Reload by itself whenever the registry file changes (for registry references).
    #[arg(long)]
    pub watch: bool,
    /// Recent inputs kept per model for the drift gauges of /metrics (0: none).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub drift_window: usize,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Log every prediction to this SQLite file, or to a PostgreSQL database
    /// (postgres://USER:PASSWORD@HOST:PORT/DB) that several replicas can share.
    #[arg(long, value_name = "FILE|URL")]
    pub log_db: Option<String>,
    /// Refuse to start when the prediction log cannot be reached (by default the server starts
    /// and logs once the database is back).
    #[arg(long, requires = "log_db")]
    pub require_log: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// Instances per request at most.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch: u32,
    /// Request body size limit in bytes (larger bodies get 413).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_body: usize,
    /// Time a client has to send a request's head (from its first byte; for a new connection,
    /// from connecting); the connection is closed after it. E.g. 10s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub header_timeout: std::time::Duration,
    /// Time a client has to send a request's body once the server waits for it; after it the
    /// request gets 408 and the connection is closed.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub body_timeout: std::time::Duration,
    /// Time a kept-alive connection may wait for its next request (or leave a reply unread)
    /// before it is closed.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// Connections open at once at most; more wait to be accepted until one closes
    /// (default: 10,000, fewer if the open-file limit is lower).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
}

/// A duration of `cairn serve`'s flags: a number with a unit `ms`, `s` or `m` (seconds when
/// none), greater than zero.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}': use ms, s or m, as in 10s"
            ));
        }
    };
    let seconds = number
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|s| s.is_finite() && *s >= 0.001 && *s <= 86_400.0 * 365.0)
        .ok_or_else(|| format!("'{text}' is not a duration from 1ms to a year, as in 10s"))?;
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn serve_durations_take_ms_s_or_m() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "0", "0ms", "-1s", "5h", "s", "1e3", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
