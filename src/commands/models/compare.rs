//! `cairn models compare REF --against REF`: both scored on the same held-out data, every
//! metric side by side, the decision as the exit code, and the promotion when asked.

use std::path::Path;
use std::process::ExitCode;

use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};
use cairn_registry::compare::{Comparison, Rule, compare};
use cairn_registry::provenance::Stamp;
use cairn_registry::{ModelRef, Registry};

use super::resolve::{Resolved, parse, resolve};
use crate::render::{emit, number, table};

/// What `models compare` was asked.
pub struct CompareArgs<'a> {
    pub reference: &'a str,
    pub against: &'a str,
    pub data: &'a Path,
    pub rule: Rule,
    pub promote: Option<&'a str>,
    pub json: bool,
}

/// `cairn models compare`: exit 0 when the candidate wins, 1 when it does not.
pub fn run(args: &CompareArgs) -> Result<ExitCode> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::Failed(format!("current directory: {e}")))?;
    let ws = Workspace::find(&cwd).ok();
    let candidate_ref = parse("models compare", args.reference)?;
    let against_ref = parse("--against", args.against)?;
    let promote_as = match (args.promote, &candidate_ref) {
        (Some(_), ModelRef::Path(_)) => {
            return Err(Error::Usage(format!(
                "--promote needs the candidate as a registry reference: register {} first (`cairn models register {} --name NAME`) and compare models:/NAME/VERSION",
                args.reference, args.reference
            )));
        }
        (Some(alias), _) => Some(alias),
        (None, _) => None,
    };
    let candidate = resolve(ws.as_ref(), &cwd, &candidate_ref)?;
    let data = cwd.join(args.data);
    // An alias no version holds yet (the first production model): nothing to beat.
    let against = match unheld_alias(ws.as_ref(), &against_ref)? {
        true => None,
        false => Some(resolve(ws.as_ref(), &cwd, &against_ref)?),
    };
    let comparison = match &against {
        Some(against) => compare(
            (&candidate.model, &candidate.path),
            (&against.model, &against.path),
            &data,
            &args.rule,
        )?,
        None => {
            let mut alone = compare(
                (&candidate.model, &candidate.path),
                (&candidate.model, &candidate.path),
                &data,
                &args.rule,
            )?;
            alone.wins = true;
            alone
        }
    };
    let promoted = match (promote_as, comparison.wins, &candidate.version, &ws) {
        (Some(alias), true, Some((name, version)), Some(ws)) => {
            let stamp = Stamp::now(&ws.root);
            let why = format!(
                "models compare: {} {} {} against {}",
                comparison.metric,
                number(candidate_value(&comparison)),
                if comparison.lower_is_better {
                    "(lower is better)"
                } else {
                    "(higher is better)"
                },
                against.as_ref().map_or("no holder", |a| a.label.as_str())
            );
            Some(Registry::update(ws, |data| {
                data.promote(name, *version, alias, Some(why), &stamp)
            })?)
        }
        _ => None,
    };
    if args.json {
        let value = serde_json::json!({
            "candidate": candidate.label,
            "against": against.as_ref().map(|a| &a.label),
            "comparison": &comparison,
            "promoted": promoted.as_ref().map(|m| serde_json::json!({
                "name": m.name, "alias": m.alias, "from": m.from, "to": m.to,
            })),
        });
        println!("{value}");
    } else {
        print(&candidate, against.as_ref(), args.against, &comparison);
        if let Some(moved) = &promoted {
            super::alias::say(moved);
        }
    }
    Ok(if comparison.wins {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether `reference` is an alias of a registered model that no version holds.
fn unheld_alias(ws: Option<&Workspace>, reference: &ModelRef) -> Result<bool> {
    let (ModelRef::Alias { name, alias }, Some(ws)) = (reference, ws) else {
        return Ok(false);
    };
    let registry = Registry::read(ws)?;
    let model = registry.data.model(name)?;
    Ok(!model.aliases.contains_key(alias))
}

fn candidate_value(c: &Comparison) -> f64 {
    c.metrics
        .iter()
        .find(|r| r.name == c.metric)
        .map_or(f64::NAN, |r| r.candidate)
}

fn print(candidate: &Resolved, against: Option<&Resolved>, asked: &str, comparison: &Comparison) {
    let against_label = against.map_or(asked.to_string(), |a| a.label.clone());
    let mut rows = vec![vec![
        "METRIC".to_string(),
        candidate.label.clone(),
        against_label.clone(),
        "BETTER".to_string(),
    ]];
    for row in &comparison.metrics {
        let better = if against.is_none() {
            String::new()
        } else if row.candidate == row.against {
            "=".into()
        } else if (row.candidate < row.against) == row.lower_is_better {
            "candidate".into()
        } else {
            "against".into()
        };
        let marker = if row.name == comparison.metric {
            " *"
        } else {
            ""
        };
        rows.push(vec![
            format!("{}{marker}", row.name),
            number(row.candidate),
            if against.is_some() {
                number(row.against)
            } else {
                "-".into()
            },
            better,
        ]);
    }
    emit(&table(&rows));
    let verdict = if against.is_none() {
        format!(
            "{} wins: no version holds {against_label} yet",
            candidate.label
        )
    } else {
        let outcome = if comparison.wins {
            "wins"
        } else {
            "does not win"
        };
        let by = number(comparison.improvement.abs());
        let how = match comparison.improvement {
            i if i > 0.0 => format!("better by {by}"),
            i if i < 0.0 => format!("worse by {by}"),
            _ => "the same".to_string(),
        };
        format!(
            "{} {outcome}: {} {how} (rule: better by more than {}) on {} rows",
            candidate.label,
            comparison.metric,
            number(comparison.min_delta),
            comparison.rows
        )
    };
    println!("\n{verdict}");
}
