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
    // Rust ignores SIGPIPE, so a write to a closed pipe (`cairn status --json | head -1`) is an
    // error that `println!` turns into a panic. The default action ends the process quietly,
    // as `cat` and ripgrep do.
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            let code = err
                .downcast_ref::<cairn_core::Error>()
                .map_or(1, cairn_core::Error::exit_code);
            ExitCode::from(code)
        }
    }
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
        Command::Preprocess(args) => done(cairn_ml::preprocess(&settings::preprocess(&args))?)?,
        Command::Train(args) => done(cairn_ml::train(&settings::train(&args))?)?,
        Command::Evaluate(args) => done(cairn_ml::evaluate(&settings::evaluate(&args))?)?,
        Command::Select(args) => done(cairn_ml::select(&settings::select(&args))?)?,
        Command::Serve(args) => commands::serve::run(&args)?,
    };
    Ok(code)
}
