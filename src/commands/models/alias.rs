//! `cairn models promote`, `rollback` and `alias rm`: alias moves, each recorded in the
//! registry's history.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::workspace::Workspace;
use cairn_registry::provenance::Stamp;
use cairn_registry::{Moved, Registry};

/// `cairn models promote REF --alias A`.
pub fn promote(reference: &str, alias: &str, message: Option<&str>) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let reference = super::resolve::parse("models promote", reference)?;
    let stamp = Stamp::now(&ws.root);
    let moved = Registry::update(&ws, |data| {
        let (name, version) = data.resolve(&reference)?;
        let (name, version) = (name.to_string(), version.version);
        data.promote(&name, version, alias, message.map(str::to_string), &stamp)
    })?;
    say(&moved);
    Ok(ExitCode::SUCCESS)
}

/// `cairn models rollback NAME --alias A`.
pub fn rollback(name: &str, alias: &str, message: Option<&str>) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let stamp = Stamp::now(&ws.root);
    let moved = Registry::update(&ws, |data| {
        data.rollback(name, alias, message.map(str::to_string), &stamp)
    })?;
    say(&moved);
    Ok(ExitCode::SUCCESS)
}

/// `cairn models alias rm NAME ALIAS`.
pub fn remove(name: &str, alias: &str, message: Option<&str>) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let stamp = Stamp::now(&ws.root);
    let moved = Registry::update(&ws, |data| {
        data.remove_alias(name, alias, message.map(str::to_string), &stamp)
    })?;
    say(&moved);
    Ok(ExitCode::SUCCESS)
}

/// One line saying what moved.
pub fn say(moved: &Moved) {
    let at = format!("{}@{}", moved.name, moved.alias);
    match (moved.from, moved.to) {
        _ if !moved.changed() => {
            println!(
                "{at} is version {} already; nothing moved",
                moved.to.unwrap_or_default()
            )
        }
        (None, Some(to)) => println!("{at} → version {to}"),
        (Some(from), Some(to)) => println!("{at}: version {from} → {to}"),
        (Some(from), None) => println!("{at} removed (it was version {from})"),
        (None, None) => {}
    }
}
