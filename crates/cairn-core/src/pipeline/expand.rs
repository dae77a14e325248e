//! From the written stages to concrete ones: `foreach` and `matrix` expansion, `${…}`
//! substitution, wdir-relative paths made workspace-relative, params resolved to files and keys.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_norway::Value;

use super::definition::{OutSpec, ParamSpec, StageDef};
use super::template::{Context, item_name};
use super::{Out, OutKind, ParamRef, Stage};
use crate::workspace::{normalize_absolute, normalize_relative};

/// The default params file.
pub const DEFAULT_PARAMS: &str = "params.yaml";

/// At most this many stages from one `foreach` or `matrix`.
pub const MAX_STAGES_PER_DEFINITION: usize = 50_000;

/// At most this many stages in a whole pipeline, after expansion.
pub const MAX_STAGES: usize = 100_000;

/// Refuses to expand a definition into `count` stages when that is over a limit, given the
/// `before` stages the pipeline already has. Called before anything is allocated for them.
fn check_count(name: &str, what: &str, count: Option<usize>, before: usize) -> Result<(), String> {
    let shown = count.map_or_else(|| format!("more than {}", group(usize::MAX)), group);
    match count {
        Some(n) if n <= MAX_STAGES_PER_DEFINITION => {}
        _ => {
            return Err(format!(
                "stage '{name}': {what} gives {shown} stages; one foreach or matrix may give at most {}",
                group(MAX_STAGES_PER_DEFINITION)
            ));
        }
    }
    match count.and_then(|n| n.checked_add(before)) {
        Some(total) if total <= MAX_STAGES => Ok(()),
        _ => Err(format!(
            "stage '{name}': the pipeline would have more than {max} stages ({} before this one, which gives {shown}); a pipeline may have at most {max}",
            group(before),
            max = group(MAX_STAGES)
        )),
    }
}

/// `12345` as `12,345`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Refuses a second item giving a name an earlier one gave.
fn check_unique(
    names: &mut HashMap<String, usize>,
    name: &str,
    item: usize,
    what: &str,
) -> Result<(), String> {
    if let Some(first) = names.insert(name.to_string(), item) {
        return Err(format!(
            "{what} {first} and {item} (counting from 0) both give the name '{name}'; each must give its own stage name"
        ));
    }
    Ok(())
}

/// Expands one written stage into concrete stages (several for foreach/matrix). `before` is the
/// number of stages the pipeline has so far, for the limit on the whole pipeline.
pub(super) fn expand(
    name: &str,
    def: &StageDef,
    ctx: &Context,
    before: usize,
) -> Result<Vec<Stage>, String> {
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
        let mut names = HashMap::new();
        let what = || format!("stage '{name}': foreach items");
        match items {
            Value::Sequence(list) => {
                check_count(name, "foreach", Some(list.len()), before)?;
                out.reserve(list.len());
                for (i, item) in list.into_iter().enumerate() {
                    let suffix = item_name(&item).unwrap_or_else(|| i.to_string());
                    let full = format!("{name}@{suffix}");
                    check_unique(&mut names, &full, i, &what())?;
                    let mut c = ctx.clone();
                    c.set("item", item);
                    out.push(concrete(&full, body, &c)?);
                }
            }
            Value::Mapping(map) => {
                check_count(name, "foreach", Some(map.len()), before)?;
                out.reserve(map.len());
                for (i, (key, item)) in map.into_iter().enumerate() {
                    let key = item_name(&key)
                        .ok_or_else(|| format!("stage '{name}': foreach keys must be scalars"))?;
                    let full = format!("{name}@{key}");
                    check_unique(&mut names, &full, i, &what())?;
                    let mut c = ctx.clone();
                    c.set("key", Value::String(key));
                    c.set("item", item);
                    out.push(concrete(&full, body, &c)?);
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
        return expand_matrix(name, def, matrix, ctx, before);
    }
    check_count(name, "the stage", Some(1), before)?;
    Ok(vec![concrete(name, def, ctx)?])
}

fn expand_matrix(
    name: &str,
    def: &StageDef,
    matrix: &IndexMap<String, Value>,
    ctx: &Context,
    before: usize,
) -> Result<Vec<Stage>, String> {
    // Each axis's values with their labels; the number of combinations is checked before any
    // combination is made.
    let mut axes: Vec<(&str, Vec<(Value, String)>)> = Vec::with_capacity(matrix.len());
    let mut count = Some(1usize);
    for (axis, values) in matrix {
        let values = ctx
            .resolve_value(values)
            .map_err(|e| format!("stage '{name}': matrix.{axis}: {e}"))?;
        let Value::Sequence(values) = values else {
            return Err(format!("stage '{name}': matrix.{axis} must be a list"));
        };
        count = count.and_then(|c| c.checked_mul(values.len()));
        if count.is_none_or(|c| c > MAX_STAGES_PER_DEFINITION) {
            // Over the limit already: the other axes need not be looked at, nor this one kept.
            continue;
        }
        let mut labelled = Vec::with_capacity(values.len());
        let mut seen = HashMap::with_capacity(values.len());
        for (i, v) in values.into_iter().enumerate() {
            let label = item_name(&v).unwrap_or_else(|| format!("{axis}{i}"));
            check_unique(
                &mut seen,
                &label,
                i,
                &format!("stage '{name}': matrix.{axis} values"),
            )?;
            labelled.push((v, label));
        }
        axes.push((axis.as_str(), labelled));
    }
    check_count(name, "matrix", count, before)?;
    let count = count.unwrap_or(0);

    let mut plain = def.clone();
    plain.matrix = None;
    let mut out = Vec::with_capacity(count);
    let mut names = HashMap::with_capacity(count);
    // Every combination, the first axis varying slowest: `index` counts in mixed radix.
    let mut index = vec![0usize; axes.len()];
    for n in 0..count {
        let mut item = serde_norway::Mapping::with_capacity(axes.len());
        let mut labels = Vec::with_capacity(axes.len());
        for ((axis, values), &i) in axes.iter().zip(&index) {
            let (v, label) = &values[i];
            item.insert(Value::String((*axis).to_string()), v.clone());
            labels.push(label.as_str());
        }
        let full = format!("{name}@{}", labels.join("-"));
        check_unique(
            &mut names,
            &full,
            n,
            &format!("stage '{name}': matrix combinations"),
        )?;
        let mut c = ctx.clone();
        c.set("item", Value::Mapping(item));
        out.push(concrete(&full, &plain, &c)?);
        for (k, (_, values)) in axes.iter().enumerate().rev() {
            index[k] += 1;
            if index[k] < values.len() {
                break;
            }
            index[k] = 0;
        }
    }
    Ok(out)
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
        // A dep (only a dep) may be an absolute path outside the workspace, as in DVC.
        if field == "deps" && p.starts_with('/') {
            return normalize_absolute(&p).map_err(|e| err(format!("{field}: {e}")));
        }
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
                    push: true,
                    remote: None,
                }),
                OutSpec::Flags(map) => {
                    for (p, flags) in map {
                        outs.push(Out {
                            path: path(p, field)?,
                            cache: flags.cache.unwrap_or(true),
                            persist: flags.persist.unwrap_or(false),
                            kind,
                            push: flags.push.unwrap_or(true),
                            remote: flags.remote.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_checked_per_definition_and_for_the_whole_pipeline() {
        assert!(check_count("s", "foreach", Some(MAX_STAGES_PER_DEFINITION), 0).is_ok());
        let err = check_count("s", "foreach", Some(MAX_STAGES_PER_DEFINITION + 1), 0).unwrap_err();
        assert!(
            err.contains("stage 's': foreach gives 50,001 stages; one foreach or matrix may give at most 50,000"),
            "{err}"
        );
        let err = check_count("s", "matrix", None, 0).unwrap_err();
        assert!(err.contains("matrix gives more than 18,446,744"), "{err}");
        assert!(check_count("s", "the stage", Some(1), MAX_STAGES - 1).is_ok());
        let err = check_count("s", "foreach", Some(2), MAX_STAGES - 1).unwrap_err();
        assert!(
            err.contains("more than 100,000 stages (99,999 before this one, which gives 2)"),
            "{err}"
        );
    }

    #[test]
    fn groups_digits() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(100_000_000), "100,000,000");
    }
}
