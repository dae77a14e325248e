//! What the registry file holds: per model, its versions (numbered 1, 2, 3… as MLflow numbers
//! them), its aliases and the history of every alias move. Versions and the history only
//! grow; the aliases are where the history has left them, kept beside it so that a reader sees
//! them at once, and checked against it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use cairn_core::digest::Digest;

use crate::names::{check_alias, check_name};

/// Value of the registry file's `format` field.
pub const FORMAT: u32 = 1;

/// The whole registry: models by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryData {
    /// Registered models by name, sorted.
    pub models: BTreeMap<String, RegisteredModel>,
}

/// One registered model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredModel {
    /// Alias → the version it points at.
    #[serde(default)]
    pub aliases: BTreeMap<String, u32>,
    /// The versions, in the order they were registered (numbers increasing).
    #[serde(default)]
    pub versions: Vec<Version>,
    /// Every alias move, in the order they happened.
    #[serde(default)]
    pub history: Vec<AliasMove>,
}

/// What a model file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// A cairn model file (JSON, `"format": "cairn-model"`).
    Cairn,
    /// An ONNX model.
    Onnx,
}

/// One version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Version {
    /// 1, 2, 3…, per model.
    pub version: u32,
    /// BLAKE3 of the model file: its object in the cache (and on remotes).
    pub digest: Digest,
    /// Bytes of the model file.
    pub size: u64,
    /// What the file is.
    pub format: ModelFormat,
    /// `classification` or `regression`, when the file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The algorithm, when the file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// The path it was registered from.
    pub source: String,
    /// Metrics by name (the top-level numbers of a metrics file).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// The pipeline stage whose out the file was, when it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// That stage's params as the lock recorded them, by dotted key (`file:key` outside
    /// params.yaml).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// The stage's whole lock entry, as a JSON object in the cache (it travels with the
    /// model; kept out of this file so that a line stays a line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Digest>,
    /// The git commit checked out when it was registered (`+dirty` when files differed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Who registered it.
    pub by: String,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What moved an alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `cairn models promote`.
    Promote,
    /// `cairn models rollback`.
    Rollback,
    /// `cairn models alias rm`.
    Remove,
}

impl Action {
    /// The word for it, as the file writes it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Promote => "promote",
            Action::Rollback => "rollback",
            Action::Remove => "remove",
        }
    }
}

/// One move of an alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasMove {
    /// The alias.
    pub alias: String,
    /// What moved it.
    pub action: Action,
    /// The version it pointed at before (none: it was new).
    pub from: Option<u32>,
    /// The version it points at after (none: removed).
    pub to: Option<u32>,
    /// Who.
    pub by: String,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Where in the registry a problem is, so the reader can name its line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Place {
    /// The model's heading.
    Model(String),
    /// An entry of `aliases`.
    Alias(String, String),
    /// The `index`th entry of `versions`.
    Version(String, usize),
    /// The `index`th entry of `history`.
    Move(String, usize),
}

/// A registry that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub place: Place,
    /// What is wrong, and what would fix it.
    pub message: String,
}

impl AliasMove {
    /// When it happened.
    pub fn time(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(&self.at, &Rfc3339).ok()
    }
}

impl RegisteredModel {
    /// The version numbered `number`.
    pub fn version(&self, number: u32) -> Option<&Version> {
        // Numbers increase along the list: a binary search finds one among thousands at once.
        self.versions
            .binary_search_by_key(&number, |v| v.version)
            .ok()
            .map(|i| &self.versions[i])
    }

    /// The highest version.
    pub fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }

    /// The version with these bytes, if one has them.
    pub fn with_digest(&self, digest: &Digest) -> Option<&Version> {
        self.versions.iter().find(|v| v.digest == *digest)
    }

    /// The versions `alias` has pointed at, oldest first, as promotions and rollbacks left
    /// them: a promotion pushes, a rollback pops, a removal empties. The last is the holder; a
    /// rollback goes to the one before it.
    pub fn holders(&self, alias: &str) -> Vec<u32> {
        replay(self.history.iter().filter(|m| m.alias == alias))
    }

    /// The version `alias` pointed at just after the moves made up to `until`.
    pub fn holder_at(&self, alias: &str, until: OffsetDateTime) -> Option<u32> {
        let moves = self
            .history
            .iter()
            .filter(|m| m.alias == alias && m.time().is_some_and(|t| t <= until));
        replay(moves).last().copied()
    }

    /// Aliases pointing at `version`, sorted.
    pub fn aliases_of(&self, version: u32) -> Vec<&str> {
        self.aliases
            .iter()
            .filter(|(_, v)| **v == version)
            .map(|(a, _)| a.as_str())
            .collect()
    }
}

/// The stack of holders `moves` leave.
fn replay<'a>(moves: impl Iterator<Item = &'a AliasMove>) -> Vec<u32> {
    let mut stack = Vec::new();
    for m in moves {
        match m.action {
            Action::Promote => stack.extend(m.to.filter(|to| stack.last() != Some(to))),
            Action::Rollback => {
                stack.pop();
            }
            Action::Remove => stack.clear(),
        }
    }
    stack
}

impl RegistryData {
    /// Every way the registry fails to hold together (a file written by hand can): names and
    /// aliases malformed, version numbers not increasing, digests repeated, times unreadable,
    /// aliases or history naming versions that do not exist, and aliases that are not where
    /// their history left them.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (name, model) in &self.models {
            let mut say = |place: Place, message: String| problems.push(Problem { place, message });
            if let Err(e) = check_name(name) {
                say(Place::Model(name.clone()), e);
            }
            let mut previous = 0u32;
            let mut seen: BTreeMap<&Digest, u32> = BTreeMap::new();
            for (i, v) in model.versions.iter().enumerate() {
                let place = || Place::Version(name.clone(), i);
                if v.version <= previous {
                    say(
                        place(),
                        format!(
                            "{name} version {} comes after version {previous}: versions are numbered 1, 2, 3… in the order they were registered, each once",
                            v.version
                        ),
                    );
                }
                previous = previous.max(v.version);
                if let Some(first) = seen.insert(&v.digest, v.version) {
                    say(
                        place(),
                        format!(
                            "{name} version {} has the same digest as version {first}: the same bytes are one version",
                            v.version
                        ),
                    );
                }
                if OffsetDateTime::parse(&v.at, &Rfc3339).is_err() {
                    say(
                        place(),
                        format!(
                            "{name} version {}: 'at' is not an RFC 3339 time (as 2026-12-06T19:24:45Z)",
                            v.version
                        ),
                    );
                }
                if v.metrics.values().any(|m| !m.is_finite()) {
                    say(
                        place(),
                        format!(
                            "{name} version {}: a metric is not a finite number",
                            v.version
                        ),
                    );
                }
            }
            let exists = |n: &u32| model.version(*n).is_some();
            for (alias, target) in &model.aliases {
                let place = Place::Alias(name.clone(), alias.clone());
                if let Err(e) = check_alias(alias) {
                    say(place.clone(), e);
                }
                if !exists(target) {
                    say(
                        place,
                        format!(
                            "alias {alias} of {name} points at version {target}, which does not exist; {}",
                            existing(model)
                        ),
                    );
                }
            }
            for (i, m) in model.history.iter().enumerate() {
                let place = || Place::Move(name.clone(), i);
                if let Err(e) = check_alias(&m.alias) {
                    say(place(), e);
                }
                for n in m.from.iter().chain(&m.to) {
                    if !exists(n) {
                        say(
                            place(),
                            format!(
                                "a move of alias {} names {name} version {n}, which does not exist; {}",
                                m.alias,
                                existing(model)
                            ),
                        );
                    }
                }
                let shape_ok = match m.action {
                    Action::Promote | Action::Rollback => m.to.is_some(),
                    Action::Remove => m.to.is_none(),
                };
                if !shape_ok {
                    let must = if m.action == Action::Remove {
                        "may not have"
                    } else {
                        "must have"
                    };
                    say(
                        place(),
                        format!(
                            "a {} of alias {} {must} a 'to' version",
                            m.action.name(),
                            m.alias
                        ),
                    );
                }
                if m.time().is_none() {
                    say(
                        place(),
                        format!(
                            "a move of alias {}: 'at' is not an RFC 3339 time (as 2026-12-06T19:24:45Z)",
                            m.alias
                        ),
                    );
                }
            }
            let named: std::collections::BTreeSet<&str> = model
                .history
                .iter()
                .map(|m| m.alias.as_str())
                .chain(model.aliases.keys().map(String::as_str))
                .collect();
            for alias in named {
                let by_history = model.holders(alias).last().copied();
                let recorded = model.aliases.get(alias).copied();
                if by_history != recorded {
                    let shown = |v: Option<u32>| {
                        v.map_or("no version".to_string(), |v| format!("version {v}"))
                    };
                    say(
                        Place::Alias(name.clone(), alias.to_string()),
                        format!(
                            "alias {alias} of {name} is at {} but its history leaves it at {}: move aliases with `cairn models promote`, `rollback` or `alias rm`, which record the move",
                            shown(recorded),
                            shown(by_history)
                        ),
                    );
                }
            }
        }
        problems
    }
}

/// "versions 1 to 7 exist" or "it has no versions".
pub fn existing(model: &RegisteredModel) -> String {
    match (model.versions.first(), model.versions.last()) {
        (Some(first), Some(last)) if first.version == last.version => {
            format!("only version {} exists", first.version)
        }
        (Some(first), Some(last)) => format!(
            "{} versions exist, {} to {}",
            model.versions.len(),
            first.version,
            last.version
        ),
        _ => "it has no versions".into(),
    }
}
