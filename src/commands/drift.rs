//! `cairn drift`: what a model received (its prediction log) or a current CSV, against the
//! model's training profile or a reference CSV; a table for people, JSON for scripts, exit 1
//! when any feature drifted.

use std::process::ExitCode;

use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};
use cairn_ml::drift::{DriftReport, Profile, Thresholds, compare};

use crate::cli::DriftArgs;
use crate::commands::models::resolve;
use crate::render::{emit, number, table};

/// `cairn drift`.
pub fn run(args: &DriftArgs) -> Result<ExitCode> {
    let thresholds = Thresholds {
        psi_drift: args.psi_threshold,
        psi_warning: args.psi_warning,
        ks_alpha: args.ks_alpha,
    };
    let finite = [
        thresholds.psi_drift,
        thresholds.psi_warning,
        thresholds.ks_alpha,
    ];
    if finite.iter().any(|t| !t.is_finite() || *t < 0.0) {
        return Err(Error::Usage(
            "--psi-threshold, --psi-warning and --ks-alpha are numbers ≥ 0".into(),
        ));
    }
    let (what, report) = match (&args.model, &args.log_db, &args.reference, &args.current) {
        (Some(model), Some(db), None, None) => {
            from_log(model, db, args.since.as_deref(), args.window, thresholds)?
        }
        (None, None, Some(reference), Some(current)) => {
            let report = from_files(reference, current, thresholds)?;
            (
                format!("{} against {}", current.display(), reference.display()),
                report,
            )
        }
        _ => {
            return Err(Error::Usage(
                "give --model REF --log-db DB (what a served model received), or --reference CSV --current CSV".into(),
            ));
        }
    };
    if args.json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["compared"] = what.into();
        println!("{value}");
    } else {
        print(&what, &report);
    }
    Ok(if report.drifted.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The model's profile against the rows its log holds for its version.
pub(crate) fn from_log(
    model: &str,
    db: &str,
    since_text: Option<&str>,
    window: Option<u64>,
    thresholds: Thresholds,
) -> Result<(String, DriftReport)> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::Failed(format!("current directory: {e}")))?;
    let ws = Workspace::find(&cwd).ok();
    let reference = resolve::parse("--model", model)?;
    let resolved = resolve::resolve(ws.as_ref(), &cwd, &reference)?;
    let m = &resolved.model;
    let profile: &Profile = m.profile.as_ref().ok_or_else(|| {
        Error::data(
            &resolved.label,
            "has no reference profile (it was trained before cairn recorded one): train it again with `cairn train` (or `cairn repro`) and serve the new version",
        )
    })?;
    // The version the server answered as, which the log records.
    let version = match &resolved.version {
        Some((name, v)) => cairn_registry::label(name, *v),
        None => {
            let bytes = std::fs::read(&resolved.path).map_err(|e| Error::Io {
                path: resolved.path.clone(),
                source: e,
            })?;
            cairn_core::hash::digest_bytes(&bytes).to_string()
        }
    };
    let since = since_text.map(parse_since).transpose()?;
    let window = window.map(|w| w as usize);
    let logged =
        cairn_serve::read_inputs(db, &cwd, &version, &m.features, &m.classes, since, window)?;
    if logged.rows == 0 {
        return Err(Error::data(
            db,
            format!(
                "holds no predictions of {version}{}: nothing to compare (is the server logging with --log-db, and serving this version?)",
                since_text
                    .map(|s| format!(" since {s}"))
                    .unwrap_or_default()
            ),
        ));
    }
    let predicted = (!m.classes.is_empty()).then_some(logged.classes.as_slice());
    let report = compare(profile, &logged.columns, &m.classes, predicted, thresholds);
    Ok((
        format!(
            "{} predictions of {version} against its training profile",
            logged.rows
        ),
        report,
    ))
}

/// A current CSV against a reference CSV, on the numeric columns both have.
fn from_files(
    reference: &std::path::Path,
    current: &std::path::Path,
    thresholds: Thresholds,
) -> Result<DriftReport> {
    let reference_columns = cairn_ml::drift::csv_columns(reference)?;
    let current_columns = cairn_ml::drift::csv_columns(current)?;
    let mut names = Vec::new();
    let mut reference_values = Vec::new();
    let mut current_values = Vec::new();
    for (name, values) in reference_columns {
        if let Some((_, now)) = current_columns.iter().find(|(n, _)| *n == name) {
            names.push(name);
            reference_values.push(values);
            current_values.push(now.clone());
        }
    }
    if names.is_empty() {
        return Err(Error::data(
            current,
            format!(
                "shares no numeric column with {}: nothing to compare",
                reference.display()
            ),
        ));
    }
    let profile = Profile::of(&names, &reference_values, Vec::new());
    Ok(compare(&profile, &current_values, &[], None, thresholds))
}

/// RFC 3339, a date, or an age (`90s`, `30m`, `6h`, `7d`) before now; seconds since the epoch.
fn parse_since(text: &str) -> Result<f64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let units = [("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)];
    for (unit, seconds) in units {
        if let Some(n) = text.strip_suffix(unit).and_then(|n| n.parse::<f64>().ok())
            && n.is_finite()
            && n >= 0.0
        {
            return Ok(now - n * seconds);
        }
    }
    cairn_registry::provenance::parse_time(text)
        .map(|t| t.unix_timestamp() as f64)
        .map_err(|e| {
            Error::Usage(format!(
                "--since {text}: {e}, or an age such as 1h, 30m, 7d"
            ))
        })
}

fn print(what: &str, report: &DriftReport) {
    println!("{what} ({} reference rows)\n", report.reference_rows);
    let mut rows = vec![
        [
            "FEATURE",
            "PSI",
            "KS",
            "KS P (CORRECTED)",
            "REF MEAN",
            "MEAN",
            "STATUS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for f in &report.features {
        rows.push(vec![
            f.feature.clone(),
            number(f.psi),
            number(f.ks_statistic),
            format!("{:.3e}", f.ks_pvalue),
            number(f.reference_mean),
            number(f.current_mean),
            f.status.to_string(),
        ]);
    }
    emit(&table(&rows));
    if let Some(mix) = &report.class_mix {
        let shares = |v: &[f64]| {
            mix.classes
                .iter()
                .zip(v)
                .map(|(c, s)| format!("{c} {:.1} %", s * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "\npredicted classes: {} (training: {}); PSI {}",
            shares(&mix.current),
            shares(&mix.reference),
            number(mix.psi)
        );
    }
    let t = &report.thresholds;
    if report.drifted.is_empty() {
        println!(
            "\nno drift (PSI < {}, corrected KS p ≥ {})",
            number(t.psi_drift),
            number(t.ks_alpha)
        );
    } else {
        println!(
            "\ndrift in {}: PSI ≥ {} or corrected KS p < {}",
            report.drifted.join(", "),
            number(t.psi_drift),
            number(t.ks_alpha)
        );
    }
}
