//! The `cairn` binary: parse arguments, resolve them into settings, run the command, map errors
//! to exit codes. The only crate that knows the command line or prints.

mod cli;
mod commands;
mod render;
mod settings;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

// glibc malloc showed up in every serve profile (malloc, free, consolidate: ~4 % of a request);
// mimalloc's per-thread pages make those allocations nearly free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A reader that stops early (`cairn status --json | head -1`) closes the pipe, and
    // `println!` then panics. That is the reader's choice, not a failure: end quietly, as
    // ripgrep does. (Restoring SIGPIPE's default would do it too, but would also kill a push
    // whose S3 connection the server drops.)
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_closed_stdout(info.payload()) {
            default_hook(info);
        }
    }));
    match std::panic::catch_unwind(run) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            eprintln!("error: {err:#}");
            let code = err
                .downcast_ref::<cairn_core::Error>()
                .map_or(1, cairn_core::Error::exit_code);
            ExitCode::from(code)
        }
        Err(payload) if is_closed_stdout(payload.as_ref()) => ExitCode::SUCCESS,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Whether a panic is `println!` finding stdout closed.
fn is_closed_stdout(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    message.contains("failed printing to stdout") && message.contains("Broken pipe")
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    cairn_core::report::install(Box::new(render::Terminal));
    if let Some(dir) = &cli.directory {
        std::env::set_current_dir(dir)
            .map_err(|e| cairn_core::Error::Usage(format!("-C {}: {e}", dir.display())))?;
    }
    use commands::stages::done;
    let code = match cli.command {
        Command::Init => commands::init::run()?,
        Command::Status(args) => commands::status::run(&args)?,
        Command::Repro(args) => commands::repro::run(&args)?,
        Command::Dag(args) => commands::dag::run(&args)?,
        Command::Checkout(args) => commands::checkout::run(&args)?,
        Command::Add(args) => commands::add::run(&args)?,
        Command::Push(args) => commands::push::run(&args)?,
        Command::Pull(args) => commands::fetch::pull(&args)?,
        Command::Fetch(args) => commands::fetch::run(&args)?,
        Command::Gc(args) => commands::gc::run(&args)?,
        Command::Remote(cmd) => commands::remote::run(&cmd)?,
        Command::Params(cmd) => commands::compare::params_command(&cmd)?,
        Command::Metrics(cmd) => commands::compare::metrics_command(&cmd)?,
        Command::Plots(cmd) => commands::plots::run(&cmd)?,
        Command::Preprocess(args) => done(cairn_ml::preprocess(&settings::preprocess(&args))?)?,
        Command::Train(args) => done(cairn_ml::train(&settings::train(&args))?)?,
        Command::Evaluate(args) => done(cairn_ml::evaluate(&settings::evaluate(&args))?)?,
        Command::Select(args) => done(cairn_ml::select(&settings::select(&args))?)?,
        Command::Serve(args) => commands::serve::run(&args)?,
        Command::Models(cmd) => commands::models::run(&cmd)?,
        Command::Drift(args) => commands::drift::run(&args)?,
        Command::Exp(cmd) => commands::exp::run(&cmd)?,
        Command::Report(args) => commands::report::run(&args)?,
        Command::Probe { url, timeout } => commands::probe::run(&url, timeout)?,
        Command::Completions { shell } => commands::docs::completions(shell),
        Command::Man { dir } => commands::docs::man(dir.as_deref())?,
        Command::Schema { file } => commands::docs::schema(file),
    };
    Ok(code)
}
