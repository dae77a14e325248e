//! `cairn metrics show|diff` and `cairn params diff`: the metrics files the pipeline's stages
//! declare and the params they track, now and (for diffs) at a git revision, as aligned tables
//! or JSON. Nested values are flattened to dotted keys; lists (a confusion matrix) are skipped,
//! as DVC does.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode};

use serde::Serialize;
use serde_json::Value;

use crate::cli::{DiffArgs, MetricsCommand, ParamsCommand};
use crate::render::{emit, markdown_table, number, table};
use cairn_core::pipeline::{OutKind, Pipeline};
use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};

/// Flattened values by dotted key.
type Flat = BTreeMap<String, Value>;

/// `cairn metrics …`.
pub fn metrics_command(cmd: &MetricsCommand) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let pipeline = Pipeline::load(&ws)?;
    let declared = metrics_files(&pipeline);
    if declared.is_empty() {
        eprintln!(
            "no stage declares `metrics` files and the pipeline has no top-level `metrics:` section"
        );
    }
    match cmd {
        MetricsCommand::Show { json } => {
            let mut shown: BTreeMap<String, Flat> = BTreeMap::new();
            for file in expand_dirs(&ws, &declared, None) {
                match std::fs::read(ws.root.join(&file)) {
                    Ok(bytes) => {
                        let flat = flatten_file(&file, &file, &bytes)?;
                        shown.insert(file, flat);
                    }
                    Err(_) => eprintln!("{file}: missing (run `cairn repro` to make it)"),
                }
            }
            if *json {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&shown).unwrap_or_default()
                ));
            } else {
                let mut rows = vec![["Path", "Key", "Value"].map(String::from).to_vec()];
                for (file, values) in &shown {
                    for (key, value) in values {
                        rows.push(vec![file.to_string(), key.clone(), show(value)]);
                    }
                }
                emit(&table(&rows));
            }
        }
        MetricsCommand::Diff(args) => {
            check_revision(&ws, &args.rev)?;
            let mut entries = Vec::new();
            for file in expand_dirs(&ws, &declared, Some(&args.rev)) {
                let now = match std::fs::read(ws.root.join(&file)) {
                    Ok(bytes) => flatten_file(&file, &file, &bytes)?,
                    Err(_) => Flat::new(),
                };
                let then = match git_show(&ws, &args.rev, &file) {
                    Some(bytes) => flatten_file(&format!("{}:{file}", args.rev), &file, &bytes)?,
                    None => Flat::new(),
                };
                entries.extend(compare(&file, &then, &now, args.all));
            }
            print_diff(&entries, args)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn params …`.
pub fn params_command(cmd: &ParamsCommand) -> Result<ExitCode> {
    let ParamsCommand::Diff(args) = cmd;
    let ws = Workspace::current()?;
    let mut pipeline = Pipeline::load(&ws)?;
    check_revision(&ws, &args.rev)?;
    // Tracked keys per params file, in a stable order; `""` is the whole file.
    let mut tracked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for param in pipeline.stages.iter().flat_map(|s| &s.params) {
        let keys = tracked.entry(param.file.clone()).or_default();
        if !keys.contains(&param.key) {
            keys.push(param.key.clone());
        }
    }
    // Top-level params files are shown whole, as DVC shows them; a file tracked whole needs
    // no key of it listed apart.
    for file in expand_dirs(&ws, &pipeline.top.params, Some(&args.rev)) {
        tracked.insert(file, vec![String::new()]);
    }
    for keys in tracked.values_mut() {
        if keys.iter().any(String::is_empty) {
            *keys = vec![String::new()];
        }
    }
    let mut entries = Vec::new();
    for (file, keys) in &tracked {
        // Read as the file is read now (its extension picks JSON, TOML, Python or YAML).
        let old_file: Option<serde_norway::Value> = git_show(&ws, &args.rev, file)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|text| cairn_core::pipeline::params::parse(file, &text).ok());
        // A top-level file the stages do not read is loaded here; one that is gone now has no
        // values now.
        if pipeline.params.get(file, "").is_none() {
            pipeline.params.load(&ws.root, file)?;
        }
        let mut now = Flat::new();
        let mut then = Flat::new();
        for key in keys {
            if let Some(v) = pipeline.params.get(file, key) {
                flatten_into(key, &to_json(v), &mut now);
            }
            if let Some(v) = old_file.as_ref().and_then(|f| lookup(f, key)) {
                flatten_into(key, &to_json(v), &mut then);
            }
        }
        entries.extend(compare(file, &then, &now, args.all));
    }
    print_diff(&entries, args)?;
    Ok(ExitCode::SUCCESS)
}

/// The `metrics` outs of every stage, in stage order, then the top-level `metrics:` entries
/// (a file both name is listed once).
pub(crate) fn metrics_files(pipeline: &Pipeline) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    let stages = pipeline
        .stages
        .iter()
        .flat_map(|s| &s.outs)
        .filter(|out| out.kind == OutKind::Metric)
        .map(|out| &out.path);
    for path in stages.chain(&pipeline.top.metrics) {
        if !files.contains(path) {
            files.push(path.clone());
        }
    }
    files
}

/// The deepest folder a metrics or params directory is searched to.
const MAX_DIR_DEPTH: usize = 32;

/// `paths` with each directory replaced by the files in it (as DVC expands a metrics or params
/// directory): in the workspace, and with `rev` at that revision too. Listed once each, in
/// order.
pub(crate) fn expand_dirs(ws: &Workspace, paths: &[String], rev: Option<&str>) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    let mut add = |file: String| {
        if !files.contains(&file) {
            files.push(file);
        }
    };
    for path in paths {
        let mut found = Vec::new();
        if ws.root.join(path).is_dir() {
            files_under(&ws.root, path, 0, &mut found);
        }
        if let Some(rev) = rev {
            found.extend(files_at(ws, rev, path));
        }
        if found.is_empty() {
            add(path.clone());
        } else {
            found.sort();
            found.into_iter().for_each(&mut add);
        }
    }
    files
}

/// The regular files under workspace-relative folder `dir` (symbolic links are not followed).
fn files_under(root: &Path, dir: &str, depth: usize, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let rel = format!("{dir}/{}", entry.file_name().to_string_lossy());
        match entry.file_type() {
            Ok(t) if t.is_file() => found.push(rel),
            Ok(t) if t.is_dir() && depth < MAX_DIR_DEPTH => {
                files_under(root, &rel, depth + 1, found)
            }
            _ => {}
        }
    }
}

/// The files under workspace-relative `dir` at `rev`, when it was a directory there.
fn files_at(ws: &Workspace, rev: &str, dir: &str) -> Vec<String> {
    if let Some(exp) = experiment(ws, rev) {
        let prefix = format!("{dir}/");
        return exp
            .files
            .keys()
            .filter(|f| f.starts_with(&prefix))
            .cloned()
            .collect();
    }
    // Paths come out relative to the workspace (git's current directory).
    let spec = format!("./{dir}/");
    git(
        ws,
        &["ls-tree", "-r", "-z", "--name-only", rev, "--", &spec],
    )
    .map(|out| {
        out.split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    })
    .unwrap_or_default()
}

/// Parses a metrics file and flattens it: `.toml` and `.py` files as params files of those
/// formats are read, anything else as JSON or YAML. `name` says where the bytes came from,
/// `path` (the file's path) picks the format.
pub(crate) fn flatten_file(name: &str, path: &str, bytes: &[u8]) -> Result<Flat> {
    use cairn_core::pipeline::params::{self, Format};
    let value: Value = match Format::of(path) {
        Format::Toml | Format::Python => {
            let text = std::str::from_utf8(bytes)
                .map_err(|e| Error::data(name, format!("not UTF-8 text: {e}")))?;
            let value = params::parse(path, text).map_err(|e| Error::data(name, e))?;
            to_json(&value)
        }
        Format::Json | Format::Yaml => match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(_) => serde_norway::from_slice::<serde_norway::Value>(bytes)
                .map(|v| to_json(&v))
                .map_err(|e| Error::data(name, format!("not a JSON or YAML metrics file: {e}")))?,
        },
    };
    let mut flat = Flat::new();
    flatten_into("", &value, &mut flat);
    Ok(flat)
}

fn flatten_into(prefix: &str, value: &Value, out: &mut Flat) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_into(&key, v, out);
            }
        }
        Value::Array(_) => {}
        scalar => {
            out.insert(prefix.to_string(), scalar.clone());
        }
    }
}

pub(crate) fn to_json(value: &serde_norway::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn lookup<'v>(value: &'v serde_norway::Value, key: &str) -> Option<&'v serde_norway::Value> {
    if key.is_empty() {
        return Some(value);
    }
    key.split('.').try_fold(value, |v, part| match v {
        serde_norway::Value::Mapping(m) => m.get(part),
        serde_norway::Value::Sequence(s) => s.get(part.parse::<usize>().ok()?),
        _ => None,
    })
}

/// One changed (or, with `--all`, unchanged) value.
#[derive(Debug, Serialize)]
struct Entry {
    #[serde(skip)]
    path: String,
    #[serde(skip)]
    key: String,
    old: Option<Value>,
    new: Option<Value>,
    /// `new - old` when both are numbers.
    change: Option<f64>,
}

fn compare(path: &str, then: &Flat, now: &Flat, all: bool) -> Vec<Entry> {
    let mut keys: Vec<&String> = then.keys().chain(now.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (old, new) = (then.get(key), now.get(key));
            let same = match (old.and_then(Value::as_f64), new.and_then(Value::as_f64)) {
                (Some(a), Some(b)) => a == b,
                _ => old == new,
            };
            (all || !same).then(|| Entry {
                path: path.to_string(),
                key: key.clone(),
                change: old
                    .and_then(Value::as_f64)
                    .zip(new.and_then(Value::as_f64))
                    .map(|(a, b)| b - a),
                old: old.cloned(),
                new: new.cloned(),
            })
        })
        .collect()
}

fn print_diff(entries: &[Entry], args: &DiffArgs) -> Result<()> {
    if args.json {
        let mut by_path: BTreeMap<&str, BTreeMap<&str, &Entry>> = BTreeMap::new();
        for e in entries {
            by_path.entry(&e.path).or_default().insert(&e.key, e);
        }
        let json = serde_json::to_string_pretty(&by_path)
            .map_err(|e| Error::Failed(format!("JSON: {e}")))?;
        emit(&format!("{json}\n"));
    } else if entries.is_empty() {
        emit(&format!("no changes since {}\n", args.rev));
    } else {
        let mut rows = vec![
            ["Path", "Key", "Old", "New", "Change"]
                .map(String::from)
                .to_vec(),
        ];
        for e in entries {
            let side = |v: &Option<Value>| v.as_ref().map_or_else(|| "-".to_string(), show);
            let change = e.change.map_or_else(
                || "-".to_string(),
                |c| format!("{}{}", if c > 0.0 { "+" } else { "" }, number(c)),
            );
            rows.push(vec![
                e.path.clone(),
                e.key.clone(),
                side(&e.old),
                side(&e.new),
                change,
            ]);
        }
        emit(&if args.md {
            markdown_table(&rows)
        } else {
            table(&rows)
        });
    }
    Ok(())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
/// A value for a table: numbers rounded to 5 decimals (as DVC's default precision).
pub(crate) fn show(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => n.as_f64().map_or_else(|| n.to_string(), number),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn git(ws: &Workspace, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .args(args)
        .current_dir(&ws.root)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// The experiment named `rev`, when there is one (experiment names are looked at before git
/// revisions, as an experiment is what a user named last).
fn experiment(ws: &Workspace, rev: &str) -> Option<cairn_core::exp::ExpRecord> {
    cairn_core::exp::check_name(rev).ok()?;
    if !cairn_core::exp::exps_dir(ws)
        .join(format!("{rev}.json"))
        .is_file()
    {
        return None;
    }
    cairn_core::exp::read(ws, rev).ok()
}

/// A usage error unless `rev` names an experiment or a commit of the git repository holding
/// the workspace.
pub(crate) fn check_revision(ws: &Workspace, rev: &str) -> Result<()> {
    if experiment(ws, rev).is_some() {
        return Ok(());
    }
    if git(ws, &["rev-parse", "--git-dir"]).is_none() {
        return Err(Error::Usage(format!(
            "{} is not in a git repository (or git is not installed): diffs compare with a git revision",
            ws.root.display()
        )));
    }
    match git(
        ws,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    ) {
        Some(_) => Ok(()),
        None => Err(Error::Usage(format!(
            "'{rev}' is neither an experiment nor a git revision of {}; try HEAD, a branch name or `cairn exp show`",
            ws.root.display()
        ))),
    }
}

/// The bytes of workspace-relative `path` at `rev` (an experiment, or a git revision), if it
/// existed there.
pub(crate) fn git_show(ws: &Workspace, rev: &str, path: &str) -> Option<Vec<u8>> {
    if let Some(exp) = experiment(ws, rev) {
        return exp.files.get(path).map(|text| text.clone().into_bytes());
    }
    // `./` makes the path relative to the workspace even when it is a subfolder of the repository.
    git(
        ws,
        &["show", &format!("{rev}:./{}", Path::new(path).display())],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_flatten_to_dotted_keys_and_lists_are_skipped() {
        let v: Value = serde_json::json!({"a": 1, "b": {"c": 0.5, "d": [1, 2]}, "s": "x"});
        let mut flat = Flat::new();
        flatten_into("", &v, &mut flat);
        assert_eq!(flat.keys().collect::<Vec<_>>(), vec!["a", "b.c", "s"]);
    }

    #[test]
    fn compare_reports_changes_with_numeric_deltas() {
        let then: Flat = [
            ("acc".to_string(), serde_json::json!(0.9)),
            ("same".to_string(), serde_json::json!(1)),
        ]
        .into();
        let now: Flat = [
            ("acc".to_string(), serde_json::json!(0.95)),
            ("same".to_string(), serde_json::json!(1.0)),
            ("new".to_string(), serde_json::json!("x")),
        ]
        .into();
        let e = compare("m.json", &then, &now, false);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].key, "acc");
        assert!((e[0].change.unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(e[1].key, "new");
        assert!(e[1].old.is_none() && e[1].change.is_none());
        assert_eq!(compare("m.json", &then, &now, true).len(), 3);
    }

    #[test]
    fn tables_align_and_numbers_round() {
        let rows = vec![
            vec!["Path".to_string(), "Key".into()],
            vec!["metrics.json".into(), "a".into()],
        ];
        assert_eq!(table(&rows), "Path          Key\nmetrics.json  a\n");
        assert_eq!(number(0.966666666), "0.96667");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(-0.0000001), "0");
    }
}
