//! What cairn says about itself, generated from its own definitions: shell completions and man
//! pages from the clap command, the JSON Schema of pipeline.yaml.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use cairn_core::{Error, Result};

use crate::cli::{Cli, SchemaFile};
use crate::render::emit;

/// The schema of pipeline.yaml. Kept by hand beside the parser (crates/cairn-core's
/// `pipeline::definition`, which refuses unknown keys as this does); tests/docs.rs checks that
/// every example pipeline passes it and that the keys match what cairn accepts.
const PIPELINE_SCHEMA: &str = include_str!("pipeline.schema.json");

/// `cairn completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut command = Cli::command();
    // Into a buffer first: clap_complete panics when stdout closes early (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "cairn", &mut script);
    emit(&String::from_utf8_lossy(&script));
    ExitCode::SUCCESS
}

/// `cairn man [--dir DIR]`.
pub fn man(dir: Option<&Path>) -> Result<ExitCode> {
    let command = Cli::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        render(&command, &mut page)?;
        emit(&String::from_utf8_lossy(&page));
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut written = 0;
    write_pages(&command, "cairn", dir, &mut written)?;
    println!("wrote {written} man pages into {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `name.1` for `command`, then `name-SUB.1` for each subcommand, recursively.
fn write_pages(command: &clap::Command, name: &str, dir: &Path, written: &mut usize) -> Result<()> {
    let command = command.clone().name(name.to_string());
    let mut page = Vec::new();
    render(&command, &mut page)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page).map_err(|e| Error::Io { path, source: e })?;
    *written += 1;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

fn render(command: &clap::Command, out: &mut Vec<u8>) -> Result<()> {
    clap_mangen::Man::new(command.clone())
        .render(out)
        .map_err(|e| Error::Failed(format!("rendering the man page: {e}")))
}

/// `cairn schema FILE`.
pub fn schema(file: SchemaFile) -> ExitCode {
    match file {
        SchemaFile::Pipeline => emit(PIPELINE_SCHEMA),
    }
    ExitCode::SUCCESS
}
