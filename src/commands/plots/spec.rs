//! Which plots a pipeline declares, as DVC reads them: every stage's `plots` outs (a file, or a
//! folder whose files are each a plot) and the top-level `plots:` section, whose entries are a
//! path, a path with properties, or a named plot whose `y` maps files to fields.

use cairn_core::pipeline::{OutKind, Pipeline};
use serde_norway::Value;

/// One plot: where its data comes from and how to draw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlotSpec {
    /// Its name: the path, or the top-level entry's name.
    pub id: String,
    /// Data files, each with the fields to draw from it (none: the default, the last column).
    pub files: Vec<(String, Vec<String>)>,
    /// The field along x (none: the row number, as DVC's `step`).
    pub x: Option<String>,
    /// `linear`, `scatter`, `confusion`, … (DVC's template names).
    pub template: Option<String>,
    pub title: Option<String>,
    pub x_label: Option<String>,
    pub y_label: Option<String>,
}

/// Every plot of the pipeline: the stages' first, in stage order, then the top-level ones; a
/// path both name is listed once (the top-level entry, which has properties, wins).
pub fn specs(pipeline: &Pipeline) -> Result<Vec<PlotSpec>, String> {
    let mut specs: Vec<PlotSpec> = Vec::new();
    for out in pipeline.stages.iter().flat_map(|s| &s.outs) {
        if out.kind == OutKind::Plot && !specs.iter().any(|s| s.id == out.path) {
            specs.push(PlotSpec {
                id: out.path.clone(),
                files: vec![(out.path.clone(), Vec::new())],
                ..PlotSpec::default()
            });
        }
    }
    for entry in &pipeline.top.plots {
        let spec = top_level(entry)?;
        specs.retain(|s| s.id != spec.id);
        specs.push(spec);
    }
    Ok(specs)
}

/// A top-level `plots:` entry.
fn top_level(entry: &Value) -> Result<PlotSpec, String> {
    let (id, props) = match entry {
        Value::String(path) => return Ok(default_for(path)),
        Value::Mapping(m) if m.len() == 1 => {
            let Some((Value::String(id), props)) = m.iter().next() else {
                return Err("a plot's name must be a string".into());
            };
            (id.clone(), props)
        }
        _ => {
            return Err(
                "a top-level plot is a path (`- plots/roc.csv`) or one name with properties (`- roc: {x: fpr, y: {plots/roc.csv: tpr}}`)".into(),
            );
        }
    };
    let props = match props {
        Value::Null => return Ok(default_for(&id)),
        Value::Mapping(m) => m,
        _ => {
            return Err(format!(
                "plot '{id}': its properties are a mapping (x, y, template, title, x_label, y_label)"
            ));
        }
    };
    let text = |key: &str| -> Result<Option<String>, String> {
        match props.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("plot '{id}': `{key}` must be a string")),
        }
    };
    let mut spec = PlotSpec {
        id: id.clone(),
        template: text("template")?,
        title: text("title")?,
        x_label: text("x_label")?,
        y_label: text("y_label")?,
        ..PlotSpec::default()
    };
    for key in props.keys() {
        let known = ["x", "y", "template", "title", "x_label", "y_label"];
        match key.as_str() {
            Some(k) if known.contains(&k) => {}
            _ => {
                return Err(format!(
                    "plot '{id}': unknown property {key:?}; a plot has {}",
                    known.join(", ")
                ));
            }
        }
    }
    spec.x = match props.get("x") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        // `x: {file: field}`: one field for x across the files.
        Some(Value::Mapping(m)) => m.values().find_map(|v| v.as_str().map(str::to_string)),
        Some(_) => {
            return Err(format!(
                "plot '{id}': `x` is a field, or a mapping of a file to its field"
            ));
        }
    };
    spec.files = match props.get("y") {
        None | Some(Value::Null) => vec![(id.clone(), Vec::new())],
        Some(Value::Mapping(files)) => {
            let mut out = Vec::new();
            for (file, fields) in files {
                let Some(file) = file.as_str() else {
                    return Err(format!("plot '{id}': the files of `y` are paths"));
                };
                out.push((file.to_string(), fields_of(&id, fields)?));
            }
            out
        }
        Some(fields) => vec![(id.clone(), fields_of(&id, fields)?)],
    };
    Ok(spec)
}

fn default_for(path: &str) -> PlotSpec {
    PlotSpec {
        id: path.to_string(),
        files: vec![(path.to_string(), Vec::new())],
        ..PlotSpec::default()
    }
}

/// `y: field` or `y: [a, b]`.
fn fields_of(id: &str, value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Sequence(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("plot '{id}': a `y` field is a string"))
            })
            .collect(),
        _ => Err(format!(
            "plot '{id}': `y` is a field, a list of fields, or a mapping of files to fields"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PlotSpec, String> {
        top_level(&serde_norway::from_str(text).expect("yaml"))
    }

    #[test]
    fn dvc_forms_of_top_level_plots() {
        assert_eq!(
            parse("plots/a.csv").map(|s| s.files),
            Ok(vec![("plots/a.csv".into(), vec![])])
        );
        let roc = parse("roc.json: {x: fpr, y: tpr, template: simple}").expect("roc");
        assert_eq!(
            (roc.x.as_deref(), roc.files[0].1.clone()),
            (Some("fpr"), vec!["tpr".to_string()])
        );
        let named =
            parse("Loss:\n  x: step\n  y:\n    train.csv: loss\n    test.csv: [loss, acc]\n")
                .expect("named");
        assert_eq!(named.id, "Loss");
        assert_eq!(
            named.files[1],
            ("test.csv".into(), vec!["loss".into(), "acc".into()])
        );
        let err = parse("a.csv: {colour: red}").expect_err("unknown");
        assert!(err.contains("colour") && err.contains("template"), "{err}");
    }
}
