//! The raw shape of `pipeline.yaml`, as written, before templating. Unknown fields are refused
//! (so a misspelt `dep:` is an error with its line, not a silently ignored key).

use indexmap::IndexMap;
use serde::Deserialize;
use serde_norway::Value;

/// The whole file. Its sections are read as written; `${…}` is resolved later, field by field,
/// as DVC does, so a value's type is checked only once it is resolved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PipelineFile {
    /// Extra template variables: params files (`file.yaml` or `file.yaml:key,key`) or mappings.
    #[serde(default)]
    pub vars: Vec<Value>,
    /// Stages in file order.
    #[serde(default)]
    pub stages: IndexMap<String, StageShape>,
    /// Params files shown beside the stages' params (as in dvc.yaml).
    #[serde(default)]
    pub params: Vec<Value>,
    /// Metrics files.
    #[serde(default)]
    pub metrics: Vec<Value>,
    /// Plots: paths, or names with properties.
    #[serde(default)]
    pub plots: Vec<Value>,
    /// Named artifacts.
    #[serde(default)]
    pub artifacts: IndexMap<String, Value>,
    /// Datasets.
    #[serde(default)]
    pub datasets: Vec<Value>,
}

/// A stage as written (maybe a `foreach`/`matrix` template): field names are checked here,
/// where the parser still knows lines; values stay unresolved.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct StageShape {
    pub cmd: Option<Value>,
    pub deps: Option<Value>,
    pub params: Option<Value>,
    pub outs: Option<Vec<OutShape>>,
    pub metrics: Option<Vec<OutShape>>,
    pub plots: Option<Vec<OutShape>>,
    pub wdir: Option<Value>,
    pub frozen: Option<Value>,
    pub always_changed: Option<Value>,
    pub desc: Option<Value>,
    pub meta: Option<Value>,
    #[serde(default)]
    pub vars: Vec<Value>,
    pub foreach: Option<Value>,
    #[serde(rename = "do")]
    pub body: Option<Box<StageShape>>,
    pub matrix: Option<Value>,
}

impl StageShape {
    /// The fields a concrete stage resolves, by name, in a fixed order.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, Value)> + '_ {
        let outs = |o: &Option<Vec<OutShape>>| {
            o.as_ref()
                .map(|l| Value::Sequence(l.iter().map(|o| o.0.clone()).collect()))
        };
        [
            ("cmd", self.cmd.clone()),
            ("wdir", self.wdir.clone()),
            ("deps", self.deps.clone()),
            ("params", self.params.clone()),
            ("outs", outs(&self.outs)),
            ("metrics", outs(&self.metrics)),
            ("plots", outs(&self.plots)),
            ("frozen", self.frozen.clone()),
            ("always_changed", self.always_changed.clone()),
            ("desc", self.desc.clone()),
            ("meta", self.meta.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// An out as written, its flag names checked (so a misspelt flag is named with its line).
#[derive(Debug, Clone)]
pub(super) struct OutShape(pub Value);

impl<'de> Deserialize<'de> for OutShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<OutShape, D::Error> {
        let value = Value::deserialize(d)?;
        if let Value::Mapping(entries) = &value {
            for (path, flags) in entries {
                if let Value::Mapping(flags) = flags {
                    for name in flags.keys() {
                        let known = name.as_str().is_some_and(|n| OUT_FLAGS.contains(&n));
                        if !known {
                            return Err(serde::de::Error::custom(format!(
                                "out '{}': unknown field `{}`, expected one of {}",
                                super::interpolate::to_str(path).unwrap_or_default(),
                                super::interpolate::to_str(name).unwrap_or_default(),
                                OUT_FLAGS
                                    .iter()
                                    .map(|f| format!("`{f}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )));
                        }
                    }
                }
            }
        }
        Ok(OutShape(value))
    }
}

/// The flags an out may have (DVC's out schema, and plot properties for plots).
const OUT_FLAGS: &[&str] = &[
    "cache", "persist", "push", "remote", "desc", "type", "labels", "meta", "x", "y", "template",
    "title", "x_label", "y_label",
];

/// `cmd:` — one command or a list run in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Cmd {
    One(String),
    Many(Vec<String>),
}

impl Cmd {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Cmd::One(c) => vec![c.clone()],
            Cmd::Many(v) => v.clone(),
        }
    }
}

/// A `params:` entry: `key`, `section.key`, or `{file.yaml: [keys]}` (no keys, or null: the
/// whole file).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum ParamSpec {
    Key(String),
    File(IndexMap<String, Option<Vec<String>>>),
}

/// An `outs:`/`metrics:`/`plots:` entry: a path, or `{path: {cache: …, persist: …}}`.
#[derive(Debug, Clone)]
pub(super) enum OutSpec {
    Path(String),
    Flags(IndexMap<String, OutFlags>),
}

/// By hand rather than `untagged`: an untagged enum's error is "did not match any variant",
/// where a user needs to read which field of which out is wrong.
impl<'de> Deserialize<'de> for OutSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<OutSpec, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(path) => Ok(OutSpec::Path(path)),
            Value::Mapping(entries) => {
                let mut outs = IndexMap::new();
                for (path, flags) in entries {
                    let Value::String(path) = path else {
                        return Err(D::Error::custom(
                            "an out's path must be a string (`- PATH` or `- PATH: {cache: false}`)",
                        ));
                    };
                    let flags = match flags {
                        Value::Null => OutFlags::default(),
                        flags => serde_norway::from_value(flags)
                            .map_err(|e| D::Error::custom(format!("out '{path}': {e}")))?,
                    };
                    outs.insert(path, flags);
                }
                Ok(OutSpec::Flags(outs))
            }
            _ => Err(D::Error::custom(
                "an out is a path (`- PATH`) or a path with flags (`- PATH: {cache: false}`)",
            )),
        }
    }
}

/// Flags of an out in mapping form. Plot display properties are accepted and ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutFlags {
    pub cache: Option<bool>,
    pub persist: Option<bool>,
    #[allow(dead_code)]
    pub desc: Option<String>,
    pub push: Option<bool>,
    pub remote: Option<String>,
    /// Free-form, as in dvc.yaml.
    #[allow(dead_code)]
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[allow(dead_code)]
    pub labels: Option<Vec<String>>,
    #[allow(dead_code)]
    pub meta: Option<Value>,
    #[allow(dead_code)]
    pub x: Option<Value>,
    #[allow(dead_code)]
    pub y: Option<Value>,
    #[allow(dead_code)]
    pub template: Option<String>,
    #[allow(dead_code)]
    pub title: Option<String>,
    #[allow(dead_code)]
    pub x_label: Option<String>,
    #[allow(dead_code)]
    pub y_label: Option<String>,
}
