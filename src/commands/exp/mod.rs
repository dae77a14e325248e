//! `cairn exp …`: experiments. The core keeps their records and makes their workspace copies;
//! these files run them (a `cairn repro` in each copy), show, apply, branch and share them.

mod manage;
mod run;
mod share;
mod show;

use std::process::ExitCode;

use cairn_core::Result;

use crate::cli::ExpCommand;

/// `cairn exp …`.
pub fn run(command: &ExpCommand) -> Result<ExitCode> {
    match command {
        ExpCommand::Run {
            set,
            name,
            queue,
            run_all,
            jobs,
            targets,
        } => {
            if *run_all {
                run::run_all(usize::from(*jobs))
            } else {
                run::run(set, name.as_deref(), *queue, targets)
            }
        }
        ExpCommand::Show {
            sort_by,
            only_changed,
            json,
            csv,
            md,
        } => show::run(&show::ShowArgs {
            sort_by: sort_by.as_deref(),
            only_changed: *only_changed,
            format: if *json {
                show::Format::Json
            } else if *csv {
                show::Format::Csv
            } else if *md {
                show::Format::Markdown
            } else {
                show::Format::Table
            },
        }),
        ExpCommand::Apply { name } => manage::apply(name),
        ExpCommand::Branch { name, branch } => manage::branch(name, branch),
        ExpCommand::Remove { names, all, queued } => manage::remove(names, *all, *queued),
        ExpCommand::Push { names, remote } => share::push(names, remote.as_deref()),
        ExpCommand::Pull { names, remote } => share::pull(names, remote.as_deref()),
    }
}
