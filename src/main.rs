//! The `cairn` binary: parse arguments, call the library, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

use cairn::cli::{Cli, Command};

// glibc malloc showed up in every serve profile (malloc, free, consolidate: ~4 % of a request);
// mimalloc's per-thread pages make those allocations nearly free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            let code = err
                .downcast_ref::<cairn::Error>()
                .map_or(1, cairn::Error::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(dir) = &cli.directory {
        std::env::set_current_dir(dir)
            .map_err(|e| cairn::Error::Usage(format!("-C {}: {e}", dir.display())))?;
    }
    let code = match cli.command {
        Command::Init => cairn::repro::init()?,
        Command::Status(args) => cairn::repro::status(&args)?,
        Command::Repro(args) => cairn::repro::repro(&args)?,
        Command::Dag(args) => cairn::repro::dag(&args)?,
        Command::Checkout(args) => cairn::repro::checkout(&args)?,
        Command::Add(args) => cairn::remote::add(&args)?,
        Command::Push(args) => cairn::remote::push(&args)?,
        Command::Pull(args) => cairn::remote::pull(&args)?,
        Command::Fetch(args) => cairn::remote::fetch(&args)?,
        Command::Gc(args) => cairn::remote::gc(&args)?,
        Command::Remote(cmd) => cairn::remote::remote_command(&cmd)?,
        Command::Params(cmd) => cairn::ml::params_command(&cmd)?,
        Command::Metrics(cmd) => cairn::ml::metrics_command(&cmd)?,
        Command::Preprocess(args) => cairn::ml::preprocess(&args)?,
        Command::Train(args) => cairn::ml::train(&args)?,
        Command::Evaluate(args) => cairn::ml::evaluate(&args)?,
        Command::Select(args) => cairn::ml::select(&args)?,
        Command::Serve(args) => cairn::serve::serve(&args)?,
    };
    Ok(code)
}
