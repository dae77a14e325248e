//! From the written stages to concrete ones: `foreach` and `matrix` expansion, `${…}`
//! resolution field by field, wdir-relative paths made workspace-relative, params resolved to
//! files and keys.

use std::collections::HashMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_norway::Value;

use super::context::Context;
use super::definition::{Cmd, OutSpec, ParamSpec, StageShape};
use super::interpolate::{Scope, has_interpolation, resolve, to_str};
use super::params::Params;
use super::{Out, OutKind, ParamRef, Stage};
use crate::workspace::normalize_relative;

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

/// What expansion needs besides the definition: where files are, and the params cache that
/// `vars:` files load through.
pub(super) struct Loader<'a> {
    /// The workspace root.
    pub root: &'a Path,
    /// The pipeline file's folder, workspace-relative (`""` at the root): paths in the file are
    /// relative to it.
    pub base: &'a str,
    /// Loaded params and vars files.
    pub params: &'a mut Params,
}

/// Expands one written stage into concrete stages (several for foreach/matrix), as DVC's
/// `EntryDefinition`, `ForeachDefinition` and `MatrixDefinition` do. `before` is the number of
/// stages the pipeline has so far, for the limit on the whole pipeline.
pub(super) fn expand(
    name: &str,
    def: &StageShape,
    vars: &Context,
    loader: &mut Loader,
    before: usize,
) -> Result<Vec<Stage>, String> {
    if name.contains(['@', ':']) || name.contains(char::is_whitespace) || name.is_empty() {
        return Err(format!(
            "stage name '{name}' may not be empty or contain '@', ':' or spaces"
        ));
    }
    let scope = Scope::new(vars);
    if let Some(matrix) = &def.matrix {
        if def.foreach.is_some() || def.body.is_some() {
            return Err(format!(
                "stage '{name}': 'matrix' and 'foreach'/'do' cannot be used together"
            ));
        }
        return expand_matrix(name, def, matrix, &scope, loader, before);
    }
    if let Some(foreach) = &def.foreach {
        let body = def
            .body
            .as_deref()
            .ok_or_else(|| format!("stage '{name}': 'foreach' needs a 'do' section"))?;
        if def.fields().next().is_some() || !def.vars.is_empty() {
            return Err(format!(
                "stage '{name}': with 'foreach', put the stage fields under 'do'"
            ));
        }
        return expand_foreach(name, body, foreach, &scope, loader, before);
    }
    if def.body.is_some() {
        return Err(format!("stage '{name}': 'do' only goes with 'foreach'"));
    }
    check_count(name, "the stage", Some(1), before)?;
    Ok(vec![concrete(name, def, &scope, loader)?])
}

fn expand_foreach(
    name: &str,
    body: &StageShape,
    foreach: &Value,
    scope: &Scope,
    loader: &mut Loader,
    before: usize,
) -> Result<Vec<Stage>, String> {
    let items =
        resolve(foreach, scope, None).map_err(|e| format!("stage '{name}': foreach: {e}"))?;
    let what = format!("stage '{name}': foreach items");
    let mut names = HashMap::new();
    let mut out = Vec::new();
    match &items {
        Value::Sequence(list) => {
            check_count(name, "foreach", Some(list.len()), before)?;
            out.reserve(list.len());
            // As DVC: when any item is a list or mapping, every item is named by its index.
            let by_index = list.iter().any(|i| i.is_sequence() || i.is_mapping());
            for (i, item) in list.iter().enumerate() {
                let suffix = if by_index {
                    i.to_string()
                } else {
                    to_str(item).map_err(|e| format!("{what}: item {i} {e}"))?
                };
                let full = format!("{name}@{suffix}");
                check_unique(&mut names, &full, i, &what)?;
                let item_scope = Scope {
                    item: Some(item),
                    ..*scope
                };
                out.push(concrete(&full, body, &item_scope, loader)?);
            }
        }
        Value::Mapping(map) => {
            check_count(name, "foreach", Some(map.len()), before)?;
            out.reserve(map.len());
            for (i, (key, item)) in map.iter().enumerate() {
                let key = Value::String(
                    to_str(key).map_err(|e| format!("stage '{name}': a foreach key {e}"))?,
                );
                let full = format!("{name}@{}", key.as_str().unwrap_or_default());
                check_unique(&mut names, &full, i, &what)?;
                let item_scope = Scope {
                    item: Some(item),
                    key: Some(&key),
                    ..*scope
                };
                out.push(concrete(&full, body, &item_scope, loader)?);
            }
        }
        _ => {
            return Err(format!(
                "stage '{name}': foreach must be a list or a mapping"
            ));
        }
    }
    Ok(out)
}

fn expand_matrix(
    name: &str,
    def: &StageShape,
    matrix: &Value,
    scope: &Scope,
    loader: &mut Loader,
    before: usize,
) -> Result<Vec<Stage>, String> {
    let matrix =
        resolve(matrix, scope, None).map_err(|e| format!("stage '{name}': matrix: {e}"))?;
    let Value::Mapping(matrix) = matrix else {
        return Err(format!(
            "stage '{name}': matrix must be a mapping of names to lists"
        ));
    };
    // Each axis's values with their labels; the number of combinations is checked before any
    // combination is made.
    let mut axes: Vec<(Value, Vec<(Value, String)>)> = Vec::with_capacity(matrix.len());
    let mut count = Some(1usize);
    for (axis, values) in matrix {
        let axis_name = to_str(&axis).map_err(|e| format!("stage '{name}': a matrix name {e}"))?;
        let Value::Sequence(values) = values else {
            return Err(format!("stage '{name}': matrix.{axis_name} must be a list"));
        };
        count = count.and_then(|c| c.checked_mul(values.len()));
        if count.is_none_or(|c| c > MAX_STAGES_PER_DEFINITION) {
            // Over the limit already: the other axes need not be looked at, nor this one kept.
            continue;
        }
        let mut labelled = Vec::with_capacity(values.len());
        let mut seen = HashMap::with_capacity(values.len());
        for (i, v) in values.into_iter().enumerate() {
            // As DVC: a list or mapping is named by its axis and index.
            let label = if v.is_sequence() || v.is_mapping() {
                format!("{axis_name}{i}")
            } else {
                to_str(&v).map_err(|e| format!("stage '{name}': matrix.{axis_name}[{i}] {e}"))?
            };
            check_unique(
                &mut seen,
                &label,
                i,
                &format!("stage '{name}': matrix.{axis_name} values"),
            )?;
            labelled.push((v, label));
        }
        axes.push((Value::String(axis_name), labelled));
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
            item.insert(axis.clone(), v.clone());
            labels.push(label.as_str());
        }
        let key = labels.join("-");
        let full = format!("{name}@{key}");
        check_unique(
            &mut names,
            &full,
            n,
            &format!("stage '{name}': matrix combinations"),
        )?;
        let item = Value::Mapping(item);
        let key = Value::String(key);
        let item_scope = Scope {
            item: Some(&item),
            key: Some(&key),
            ..*scope
        };
        out.push(concrete(&full, &plain, &item_scope, loader)?);
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

/// Joins a folder and a path, both workspace-relative.
fn join(dir: &str, path: &str) -> String {
    if dir.is_empty() {
        path.to_string()
    } else {
        format!("{dir}/{path}")
    }
}

/// Reads a resolved field into its type; the error names the field and what it should be.
fn typed<T: DeserializeOwned>(field: &str, value: Value, shape: &str) -> Result<T, String> {
    serde_norway::from_value(value).map_err(|e| {
        let e = e.to_string();
        if e.contains("did not match any variant") {
            format!("'{field}': {shape}")
        } else {
            format!("'{field}': {e}")
        }
    })
}

/// One concrete stage: its stage `vars` merged into a copy of the variables, then every field
/// resolved and read into its type.
fn concrete(
    name: &str,
    def: &StageShape,
    scope: &Scope,
    loader: &mut Loader,
) -> Result<Stage, String> {
    let err = |e: String| format!("stage '{name}': {e}");
    if def.foreach.is_some() || def.matrix.is_some() || def.body.is_some() {
        return Err(err("'foreach'/'matrix' cannot be nested".into()));
    }
    // The stage's folder: wdir (resolved against the file's variables) inside the file's.
    let wdir_written = match &def.wdir {
        None => String::new(),
        Some(w) => to_str(&resolve(w, scope, None).map_err(|e| err(format!("wdir: {e}")))?)
            .map_err(|e| err(format!("wdir {e}")))?,
    };
    let wdir = match wdir_written.trim() {
        "" | "." => loader.base.to_string(),
        w => {
            let joined = join(loader.base, w);
            if joined.is_empty() {
                String::new()
            } else {
                normalize_relative(&joined).map_err(|e| err(format!("wdir: {e}")))?
            }
        }
    };
    let wdir = if wdir == "." { String::new() } else { wdir };

    let local;
    let scope = if def.vars.is_empty() {
        scope
    } else {
        if let Some(v) = def.vars.iter().find(|v| has_interpolation(v)) {
            return Err(err(format!(
                "vars: '{}' holds '${{…}}'; vars are not interpolated, write the value",
                serde_norway::to_string(v).unwrap_or_default().trim()
            )));
        }
        let mut vars = scope.vars.clone();
        let reserved = scope.reserved();
        for (i, entry) in def.vars.iter().enumerate() {
            vars.merge_entry(
                entry,
                &format!("{name}.vars[{i}]"),
                &wdir,
                loader.root,
                loader.params,
                &reserved,
            )
            .map_err(|e| err(format!("vars: {e}")))?;
        }
        local = (vars, *scope);
        &Scope {
            vars: &local.0,
            ..local.1
        }
    };

    let mut cmd = None;
    let mut deps: Vec<String> = Vec::new();
    let mut param_specs: Vec<ParamSpec> = Vec::new();
    let mut out_specs: [Vec<OutSpec>; 3] = Default::default();
    let mut frozen = false;
    let mut always_changed = false;
    let mut desc = None;
    for (field, raw) in def.fields() {
        if field == "wdir" {
            continue;
        }
        let value = resolve(&raw, scope, Some(field)).map_err(|e| err(format!("{field}: {e}")))?;
        match field {
            "cmd" => {
                cmd = Some(
                    typed::<Cmd>(field, value, "a command, or a list of commands run in order")
                        .map_err(err)?,
                )
            }
            "deps" => deps = typed(field, value, "a list of paths").map_err(err)?,
            "params" => {
                param_specs = typed(
                    field,
                    value,
                    "a list of keys (`- train.lr`) or files with keys (`- conf.yaml: [a, b]`, or no keys for the whole file)",
                )
                .map_err(err)?
            }
            "outs" | "metrics" | "plots" => {
                let i = ["outs", "metrics", "plots"]
                    .iter()
                    .position(|f| *f == field)
                    .unwrap_or(0);
                out_specs[i] = typed(field, value, "a list of paths").map_err(err)?;
            }
            "frozen" => frozen = typed(field, value, "true or false").map_err(err)?,
            "always_changed" => always_changed = typed(field, value, "true or false").map_err(err)?,
            "desc" => desc = Some(typed::<String>(field, value, "text").map_err(err)?),
            _ => {} // meta: free-form
        }
    }
    let cmd = cmd
        .ok_or_else(|| err("missing 'cmd' (the command that makes the outs)".into()))?
        .to_vec();
    if cmd.is_empty() || cmd.iter().any(|c| c.trim().is_empty()) {
        return Err(err("'cmd' is empty".into()));
    }

    let path = |p: &str, field: &str| -> Result<String, String> {
        normalize_relative(&join(&wdir, p)).map_err(|e| err(format!("{field}: {e}")))
    };
    let deps = deps
        .iter()
        .map(|d| path(d, "deps"))
        .collect::<Result<Vec<_>, _>>()?;

    let mut params = Vec::new();
    for spec in param_specs {
        match spec {
            ParamSpec::Key(key) => params.push(ParamRef {
                file: path(DEFAULT_PARAMS, "params")?,
                key,
            }),
            ParamSpec::File(files) => {
                for (file, keys) in files {
                    let file = path(&file, "params")?;
                    let keys = keys.unwrap_or_default();
                    if keys.is_empty() {
                        params.push(ParamRef {
                            file: file.clone(),
                            key: String::new(),
                        });
                    }
                    for key in keys {
                        params.push(ParamRef {
                            file: file.clone(),
                            key,
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
        (&out_specs[0], OutKind::Out, "outs"),
        (&out_specs[1], OutKind::Metric, "metrics"),
        (&out_specs[2], OutKind::Plot, "plots"),
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
    Ok(Stage {
        name: name.to_string(),
        desc,
        cmd,
        wdir,
        deps,
        params,
        outs,
        frozen,
        always_changed,
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
