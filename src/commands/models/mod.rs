//! `cairn models …`: the model registry. The registry crate does the work; these files turn
//! its results into tables for people and JSON for scripts.

mod alias;
mod compare;
mod history;
mod list;
mod register;
pub mod resolve;
mod show;

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::workspace::Workspace;
use cairn_registry::{Registry, RegistryObjects};

use crate::cli::{AliasCommand, ModelsCommand};

/// `cairn models …`.
pub fn run(command: &ModelsCommand) -> Result<ExitCode> {
    match command {
        ModelsCommand::Register {
            path,
            name,
            metrics,
            message,
            json,
        } => register::run(path, name, metrics.as_deref(), message.as_deref(), *json),
        ModelsCommand::List { name, json } => list::run(name.as_deref(), *json),
        ModelsCommand::Show { reference, json } => show::run(reference, *json),
        ModelsCommand::History {
            name,
            alias,
            at,
            json,
        } => history::run(name, alias.as_deref(), at.as_deref(), *json),
        ModelsCommand::Promote {
            reference,
            alias,
            message,
        } => alias::promote(reference, alias, message.as_deref()),
        ModelsCommand::Rollback {
            name,
            alias,
            message,
        } => alias::rollback(name, alias, message.as_deref()),
        ModelsCommand::Alias(AliasCommand::Rm {
            name,
            alias,
            message,
        }) => alias::remove(name, alias, message.as_deref()),
        ModelsCommand::Compare {
            reference,
            against,
            data,
            metric,
            min_delta,
            promote,
            json,
        } => compare::run(&compare::CompareArgs {
            reference,
            against,
            data,
            rule: cairn_registry::compare::Rule {
                metric: metric.clone(),
                min_delta: *min_delta,
            },
            promote: promote.as_deref(),
            json: *json,
        }),
    }
}

/// The registry's objects, for push, fetch and gc to carry or keep beside the workspace's
/// own: all of them when no targets were named (the whole project), none when the command was
/// aimed at some stages.
pub fn registry_objects(ws: &Workspace, targets: &[String]) -> Result<RegistryObjects> {
    if !targets.is_empty() {
        return Ok(RegistryObjects::default());
    }
    Ok(cairn_registry::objects(&Registry::read(ws)?.data))
}
