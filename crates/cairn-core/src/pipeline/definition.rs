//! The raw shape of `pipeline.yaml`, as written, before templating. Unknown fields are refused
//! (so a misspelt `dep:` is an error with its line, not a silently ignored key).

use indexmap::IndexMap;
use serde::Deserialize;
use serde_norway::Value;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PipelineFile {
    /// Extra template variables: params files (`file.yaml` or `file.yaml:key,key`) or mappings.
    #[serde(default)]
    pub vars: Vec<VarsEntry>,
    /// Stages in file order.
    pub stages: IndexMap<String, StageDef>,
}

/// One `vars:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum VarsEntry {
    /// A YAML file (optionally `file:key1,key2`).
    File(String),
    /// Inline variables.
    Inline(serde_norway::Mapping),
}

/// A stage as written (maybe a `foreach`/`matrix` template).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct StageDef {
    pub cmd: Option<Cmd>,
    #[serde(default)]
    pub deps: Vec<String>,
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    #[serde(default)]
    pub outs: Vec<OutSpec>,
    #[serde(default)]
    pub metrics: Vec<OutSpec>,
    #[serde(default)]
    pub plots: Vec<OutSpec>,
    pub wdir: Option<String>,
    #[serde(default)]
    pub frozen: bool,
    #[serde(default)]
    pub always_changed: bool,
    pub desc: Option<String>,
    /// Free-form, ignored (as in dvc.yaml).
    #[allow(dead_code)]
    pub meta: Option<Value>,
    #[serde(default)]
    pub vars: Vec<VarsEntry>,
    pub foreach: Option<Value>,
    #[serde(rename = "do")]
    pub body: Option<Box<StageDef>>,
    pub matrix: Option<IndexMap<String, Value>>,
}

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

/// A `params:` entry: `key`, `section.key`, or `{file.yaml: [keys]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum ParamSpec {
    Key(String),
    File(IndexMap<String, Vec<String>>),
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
