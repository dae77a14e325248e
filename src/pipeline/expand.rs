//! From the written stages to concrete ones: `foreach` and `matrix` expansion, `${…}`
//! substitution, wdir-relative paths made workspace-relative, params resolved to files and keys.

use indexmap::IndexMap;
use serde_yaml::Value;

use super::definition::{OutSpec, ParamSpec, StageDef};
use super::template::{Context, item_name};
use super::{Out, OutKind, ParamRef, Stage};
use crate::workspace::normalize_relative;

/// The default params file.
pub const DEFAULT_PARAMS: &str = "params.yaml";

/// Expands one written stage into concrete stages (several for foreach/matrix).
pub(super) fn expand(name: &str, def: &StageDef, ctx: &Context) -> Result<Vec<Stage>, String> {
    if name.contains('@') || name.contains(char::is_whitespace) || name.is_empty() {
        return Err(format!(
            "stage name '{name}' may not be empty or contain '@' or spaces"
        ));
    }
    if let Some(foreach) = &def.foreach {
        let body = def
            .body
            .as_deref()
            .ok_or_else(|| format!("stage '{name}': 'foreach' needs a 'do' section"))?;
        if def.cmd.is_some() || def.matrix.is_some() {
            return Err(format!(
                "stage '{name}': with 'foreach', put the stage fields under 'do' (and no 'matrix')"
            ));
        }
        let items = ctx
            .resolve_value(foreach)
            .map_err(|e| format!("stage '{name}': foreach: {e}"))?;
        let mut out = Vec::new();
        match items {
            Value::Sequence(list) => {
                for (i, item) in list.iter().enumerate() {
                    let suffix = item_name(item).unwrap_or_else(|| i.to_string());
                    let mut c = ctx.clone();
                    c.set("item", item.clone());
                    out.push(concrete(&format!("{name}@{suffix}"), body, &c)?);
                }
            }
            Value::Mapping(map) => {
                for (key, item) in &map {
                    let key = item_name(key)
                        .ok_or_else(|| format!("stage '{name}': foreach keys must be scalars"))?;
                    let mut c = ctx.clone();
                    c.set("key", Value::String(key.clone()));
                    c.set("item", item.clone());
                    out.push(concrete(&format!("{name}@{key}"), body, &c)?);
                }
            }
            _ => {
                return Err(format!(
                    "stage '{name}': foreach must be a list or a mapping"
                ));
            }
        }
        if out.is_empty() {
            return Err(format!("stage '{name}': foreach has no items"));
        }
        return Ok(out);
    }
    if def.body.is_some() {
        return Err(format!("stage '{name}': 'do' only goes with 'foreach'"));
    }
    if let Some(matrix) = &def.matrix {
        return expand_matrix(name, def, matrix, ctx);
    }
    Ok(vec![concrete(name, def, ctx)?])
}

fn expand_matrix(
    name: &str,
    def: &StageDef,
    matrix: &IndexMap<String, Value>,
    ctx: &Context,
) -> Result<Vec<Stage>, String> {
    // Every combination, the first axis varying slowest.
    let mut combos: Vec<Vec<(String, Value, String)>> = vec![vec![]];
    for (axis, values) in matrix {
        let values = ctx
            .resolve_value(values)
            .map_err(|e| format!("stage '{name}': matrix.{axis}: {e}"))?;
        let Value::Sequence(values) = values else {
            return Err(format!("stage '{name}': matrix.{axis} must be a list"));
        };
        let mut next = Vec::new();
        for combo in &combos {
            for (i, v) in values.iter().enumerate() {
                let label = item_name(v).unwrap_or_else(|| format!("{axis}{i}"));
                let mut c = combo.clone();
                c.push((axis.clone(), v.clone(), label));
                next.push(c);
            }
        }
        combos = next;
    }
    let mut plain = def.clone();
    plain.matrix = None;
    combos
        .into_iter()
        .map(|combo| {
            let mut item = serde_yaml::Mapping::new();
            for (axis, v, _) in &combo {
                item.insert(Value::String(axis.clone()), v.clone());
            }
            let labels: Vec<&str> = combo.iter().map(|(_, _, l)| l.as_str()).collect();
            let mut c = ctx.clone();
            c.set("item", Value::Mapping(item));
            concrete(&format!("{name}@{}", labels.join("-")), &plain, &c)
        })
        .collect()
}

/// One concrete stage from a definition and the variables visible to it.
fn concrete(name: &str, def: &StageDef, ctx: &Context) -> Result<Stage, String> {
    let err = |e: String| format!("stage '{name}': {e}");
    if def.foreach.is_some() || def.matrix.is_some() || def.body.is_some() {
        return Err(err("'foreach'/'matrix' cannot be nested".into()));
    }
    let cmd = def
        .cmd
        .as_ref()
        .ok_or_else(|| err("missing 'cmd' (the command that makes the outs)".into()))?
        .to_vec();
    if cmd.is_empty() || cmd.iter().any(|c| c.trim().is_empty()) {
        return Err(err("'cmd' is empty".into()));
    }
    let cmd = cmd
        .iter()
        .map(|c| ctx.interpolate(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let wdir = match &def.wdir {
        None => String::new(),
        Some(w) => {
            let w = ctx.interpolate(w).map_err(err)?;
            if w.trim() == "." || w.trim().is_empty() {
                String::new()
            } else {
                normalize_relative(&w).map_err(|e| err(format!("wdir: {e}")))?
            }
        }
    };
    let path = |p: &str, field: &str| -> Result<String, String> {
        let p = ctx.interpolate(p).map_err(err)?;
        let joined = if wdir.is_empty() {
            p.clone()
        } else {
            format!("{wdir}/{p}")
        };
        normalize_relative(&joined).map_err(|e| err(format!("{field}: {e}")))
    };
    let deps = def
        .deps
        .iter()
        .map(|d| path(d, "deps"))
        .collect::<Result<Vec<_>, _>>()?;

    let mut params = Vec::new();
    for spec in &def.params {
        match spec {
            ParamSpec::Key(key) => params.push(ParamRef {
                file: DEFAULT_PARAMS.into(),
                key: ctx.interpolate(key).map_err(err)?,
            }),
            ParamSpec::File(files) => {
                for (file, keys) in files {
                    let file = path(file, "params")?;
                    if keys.is_empty() {
                        params.push(ParamRef {
                            file: file.clone(),
                            key: String::new(),
                        });
                    }
                    for key in keys {
                        params.push(ParamRef {
                            file: file.clone(),
                            key: ctx.interpolate(key).map_err(err)?,
                        });
                    }
                }
            }
        }
    }
    params.sort();
    params.dedup();

    let mut outs = Vec::new();
    for (specs, kind, field) in [
        (&def.outs, OutKind::Out, "outs"),
        (&def.metrics, OutKind::Metric, "metrics"),
        (&def.plots, OutKind::Plot, "plots"),
    ] {
        for spec in specs {
            match spec {
                OutSpec::Path(p) => outs.push(Out {
                    path: path(p, field)?,
                    cache: true,
                    persist: false,
                    kind,
                }),
                OutSpec::Flags(map) => {
                    for (p, flags) in map {
                        outs.push(Out {
                            path: path(p, field)?,
                            cache: flags.cache.unwrap_or(true),
                            persist: flags.persist.unwrap_or(false),
                            kind,
                        });
                    }
                }
            }
        }
    }
    let desc = def
        .desc
        .as_ref()
        .map(|d| ctx.interpolate(d))
        .transpose()
        .map_err(err)?;
    Ok(Stage {
        name: name.to_string(),
        desc,
        cmd,
        wdir,
        deps,
        params,
        outs,
        frozen: def.frozen,
        always_changed: def.always_changed,
    })
}
