//! What `cairn models` does to the registry's data: register a version, move an alias, find
//! the version a reference names. Pure: the caller reads and writes the file
//! ([`crate::store::Registry`]). Mistakes are usage errors (exit 2) that list what exists.

use std::collections::BTreeMap;

use cairn_core::digest::Digest;
use cairn_core::error::{Error, Result};

use crate::file::{
    Action, AliasMove, ModelFormat, RegisteredModel, RegistryData, Version, existing,
};
use crate::names::{check_alias, check_name};
use crate::provenance::Stamp;
use crate::reference::ModelRef;

/// A version to add, before it has a number.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// BLAKE3 of the model file.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// What it is.
    pub format: ModelFormat,
    /// Its task, when it says.
    pub task: Option<String>,
    /// Its algorithm, when it says.
    pub algorithm: Option<String>,
    /// Where it was registered from.
    pub source: String,
    /// Metrics by name.
    pub metrics: BTreeMap<String, f64>,
    /// The stage that produced it.
    pub stage: Option<String>,
    /// That stage's params.
    pub params: BTreeMap<String, serde_json::Value>,
    /// That stage's lock entry, as a cache object.
    pub run: Option<Digest>,
    /// The commit.
    pub commit: Option<String>,
    /// Why.
    pub message: Option<String>,
}

/// What registering did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A new version, numbered so.
    New(u32),
    /// These bytes were this version already; nothing changed.
    Existing(u32),
}

/// What an alias move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The model.
    pub name: String,
    /// The alias.
    pub alias: String,
    /// Where it pointed before.
    pub from: Option<u32>,
    /// Where it points now.
    pub to: Option<u32>,
}

impl Moved {
    /// Whether anything moved (promoting the version the alias holds moves nothing).
    pub fn changed(&self) -> bool {
        self.from != self.to
    }
}

impl RegistryData {
    /// The model `name`, or an error listing the models there are.
    pub fn model(&self, name: &str) -> Result<&RegisteredModel> {
        self.models
            .get(name)
            .ok_or_else(|| self.unknown_model(name))
    }

    fn unknown_model(&self, name: &str) -> Error {
        if self.models.is_empty() {
            return Error::Usage(format!(
                "no model named '{name}': the registry is empty; register one with `cairn models register PATH --name {name}`"
            ));
        }
        let names: Vec<&str> = self.models.keys().map(String::as_str).collect();
        Error::Usage(format!(
            "no model named '{name}' in the registry; registered: {}",
            names.join(", ")
        ))
    }

    /// The model and version `reference` names; a path is not the registry's to resolve.
    pub fn resolve(&self, reference: &ModelRef) -> Result<(&str, &Version)> {
        let name = reference.name().ok_or_else(|| {
            Error::Usage(format!(
                "'{reference}' is a path, not a registry reference: register it first (`cairn models register {reference} --name NAME`) or write models:/NAME/VERSION"
            ))
        })?;
        let (name, model) = self
            .models
            .get_key_value(name)
            .ok_or_else(|| self.unknown_model(name))?;
        let version = match reference {
            ModelRef::Version { version, .. } => model.version(*version).ok_or_else(|| {
                Error::Usage(format!(
                    "{name} has no version {version}; {}",
                    existing(model)
                ))
            })?,
            ModelRef::Alias { alias, .. } => {
                let number = model
                    .aliases
                    .get(alias)
                    .ok_or_else(|| no_alias(name, model, alias))?;
                // The registry was checked when read: an alias points at a version.
                model.version(*number).ok_or_else(|| {
                    Error::Usage(format!(
                        "{name}@{alias} points at version {number}, which does not exist"
                    ))
                })?
            }
            // `latest` (a path has no name, so it ended above).
            _ => model
                .latest()
                .ok_or_else(|| Error::Usage(format!("{name} has no versions yet")))?,
        };
        Ok((name, version))
    }

    /// Adds `new` as the next version of `name` (creating the model), unless a version of it
    /// already has these bytes.
    pub fn register(&mut self, name: &str, new: NewVersion, stamp: &Stamp) -> Result<Registered> {
        check_name(name).map_err(Error::Usage)?;
        let model = self.models.entry(name.to_string()).or_default();
        if let Some(same) = model.with_digest(&new.digest) {
            return Ok(Registered::Existing(same.version));
        }
        let number = model.latest().map_or(1, |v| v.version + 1);
        model.versions.push(Version {
            version: number,
            digest: new.digest,
            size: new.size,
            format: new.format,
            task: new.task,
            algorithm: new.algorithm,
            source: new.source,
            metrics: new
                .metrics
                .into_iter()
                .filter(|(_, v)| v.is_finite())
                .collect(),
            stage: new.stage,
            params: new.params,
            run: new.run,
            commit: new.commit,
            by: stamp.by.clone(),
            at: stamp.at.clone(),
            message: new.message,
        });
        Ok(Registered::New(number))
    }

    /// Points `alias` of `name` at `version`, recording the move.
    pub fn promote(
        &mut self,
        name: &str,
        version: u32,
        alias: &str,
        why: Option<String>,
        stamp: &Stamp,
    ) -> Result<Moved> {
        check_alias(alias).map_err(Error::Usage)?;
        let model = self.model_mut(name)?;
        if model.version(version).is_none() {
            return Err(Error::Usage(format!(
                "{name} has no version {version} to promote; {}",
                existing(model)
            )));
        }
        let from = model.aliases.get(alias).copied();
        if from != Some(version) {
            model.record(alias, Action::Promote, from, Some(version), why, stamp);
        }
        Ok(moved(name, alias, from, Some(version)))
    }

    /// Points `alias` of `name` back at the version that held it before the current one.
    pub fn rollback(
        &mut self,
        name: &str,
        alias: &str,
        why: Option<String>,
        stamp: &Stamp,
    ) -> Result<Moved> {
        let model = self.model_mut(name)?;
        let from = *model
            .aliases
            .get(alias)
            .ok_or_else(|| no_alias(name, model, alias))?;
        let holders = model.holders(alias);
        let Some(&to) = holders.len().checked_sub(2).and_then(|i| holders.get(i)) else {
            return Err(Error::Usage(format!(
                "{name}@{alias} has no earlier version to roll back to: it has held only version {from} since it was set; promote another version instead (`cairn models promote models:/{name}/N --alias {alias}`)"
            )));
        };
        model.record(alias, Action::Rollback, Some(from), Some(to), why, stamp);
        Ok(moved(name, alias, Some(from), Some(to)))
    }

    /// Removes `alias` of `name`, recording the move.
    pub fn remove_alias(
        &mut self,
        name: &str,
        alias: &str,
        why: Option<String>,
        stamp: &Stamp,
    ) -> Result<Moved> {
        let model = self.model_mut(name)?;
        let from = *model
            .aliases
            .get(alias)
            .ok_or_else(|| no_alias(name, model, alias))?;
        model.record(alias, Action::Remove, Some(from), None, why, stamp);
        Ok(moved(name, alias, Some(from), None))
    }

    fn model_mut(&mut self, name: &str) -> Result<&mut RegisteredModel> {
        if !self.models.contains_key(name) {
            return Err(self.unknown_model(name));
        }
        self.models
            .get_mut(name)
            .ok_or_else(|| Error::Usage(format!("no model named '{name}'")))
    }
}

impl RegisteredModel {
    /// Moves `alias` and appends the move to the history.
    fn record(
        &mut self,
        alias: &str,
        action: Action,
        from: Option<u32>,
        to: Option<u32>,
        why: Option<String>,
        stamp: &Stamp,
    ) {
        match to {
            Some(to) => self.aliases.insert(alias.to_string(), to),
            None => self.aliases.remove(alias),
        };
        self.history.push(AliasMove {
            alias: alias.to_string(),
            action,
            from,
            to,
            by: stamp.by.clone(),
            at: stamp.at.clone(),
            why,
        });
    }
}

fn moved(name: &str, alias: &str, from: Option<u32>, to: Option<u32>) -> Moved {
    Moved {
        name: name.to_string(),
        alias: alias.to_string(),
        from,
        to,
    }
}

/// The error for an alias `name` does not have, listing those it has.
fn no_alias(name: &str, model: &RegisteredModel, alias: &str) -> Error {
    if model.aliases.is_empty() {
        return Error::Usage(format!(
            "{name} has no alias '{alias}' (it has none); set one with `cairn models promote models:/{name}/N --alias {alias}`"
        ));
    }
    let aliases: Vec<String> = model
        .aliases
        .iter()
        .map(|(a, v)| format!("{a} (version {v})"))
        .collect();
    Error::Usage(format!(
        "{name} has no alias '{alias}'; its aliases: {}",
        aliases.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(at: &str) -> Stamp {
        Stamp {
            by: "test".into(),
            at: at.into(),
        }
    }

    fn new(bytes: &[u8]) -> NewVersion {
        NewVersion {
            digest: Digest::of_bytes(bytes),
            size: bytes.len() as u64,
            format: ModelFormat::Cairn,
            task: None,
            algorithm: None,
            source: "m.json".into(),
            metrics: BTreeMap::new(),
            stage: None,
            params: BTreeMap::new(),
            run: None,
            commit: None,
            message: None,
        }
    }

    fn three() -> RegistryData {
        let mut data = RegistryData::default();
        let s = stamp("2026-12-01T10:00:00Z");
        for b in [b"a", b"b", b"c"] {
            data.register("iris", new(b), &s).expect("register");
        }
        data
    }

    #[test]
    fn versions_count_up_and_the_same_bytes_are_one_version() {
        let mut data = three();
        let s = stamp("2026-12-01T10:00:00Z");
        assert_eq!(
            data.register("iris", new(b"d"), &s).ok(),
            Some(Registered::New(4))
        );
        assert_eq!(
            data.register("iris", new(b"b"), &s).ok(),
            Some(Registered::Existing(2))
        );
        assert_eq!(
            data.register("wine", new(b"b"), &s).ok(),
            Some(Registered::New(1))
        );
        assert!(data.problems().is_empty());
    }

    #[test]
    fn rollback_steps_back_through_every_earlier_holder() {
        let mut data = three();
        for (v, at) in [
            (1, "2026-12-01T11:00:00Z"),
            (2, "2026-12-02T11:00:00Z"),
            (3, "2026-12-03T11:00:00Z"),
        ] {
            data.promote("iris", v, "production", None, &stamp(at))
                .expect("promote");
        }
        let back = |data: &mut RegistryData| {
            data.rollback("iris", "production", None, &stamp("2026-12-04T00:00:00Z"))
        };
        assert_eq!(
            back(&mut data).map(|m| (m.from, m.to)).ok(),
            Some((Some(3), Some(2)))
        );
        assert_eq!(
            back(&mut data).map(|m| (m.from, m.to)).ok(),
            Some((Some(2), Some(1)))
        );
        let e = back(&mut data).expect_err("nothing before version 1");
        assert!(e.to_string().contains("no earlier version"), "{e}");
        assert!(data.problems().is_empty(), "{:?}", data.problems());
        let iris = data.model("iris").expect("iris");
        assert_eq!(iris.aliases.get("production"), Some(&1));
        let at = |t: &str| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .expect("time")
        };
        assert_eq!(
            iris.holder_at("production", at("2026-12-02T12:00:00Z")),
            Some(2)
        );
        assert_eq!(
            iris.holder_at("production", at("2026-12-01T10:30:00Z")),
            None
        );
    }

    #[test]
    fn mistakes_list_what_exists() {
        let mut data = three();
        let s = stamp("2026-12-01T10:00:00Z");
        let e = data
            .promote("iris", 9, "production", None, &s)
            .expect_err("no v9");
        assert!(e.to_string().contains("3 versions exist, 1 to 3"), "{e}");
        let e = data
            .resolve(&ModelRef::parse("models:/wine/1").expect("ref"))
            .expect_err("no wine");
        assert!(e.to_string().contains("registered: iris"), "{e}");
        data.promote("iris", 2, "staging", None, &s)
            .expect("promote");
        let e = data
            .resolve(&ModelRef::parse("models:/iris@production").expect("ref"))
            .expect_err("no alias");
        assert!(e.to_string().contains("staging (version 2)"), "{e}");
        let e = data
            .remove_alias("iris", "production", None, &s)
            .expect_err("no alias");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            data.promote("iris", 2, "staging", None, &s)
                .map(|m| m.changed())
                .ok(),
            Some(false)
        );
    }

    #[test]
    fn an_alias_moved_by_hand_disagrees_with_its_history() {
        let mut data = three();
        data.promote(
            "iris",
            1,
            "production",
            None,
            &stamp("2026-12-01T11:00:00Z"),
        )
        .expect("promote");
        if let Some(iris) = data.models.get_mut("iris") {
            iris.aliases.insert("production".into(), 3);
        }
        let problems = data.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .message
                .contains("history leaves it at version 1"),
            "{problems:?}"
        );
    }
}
