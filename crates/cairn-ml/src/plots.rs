//! Plot files of `cairn evaluate --plots DIR`: the confusion matrix as a tidy CSV
//! (`actual,predicted,count`) for tools and as an SVG heat-map for people; for regression,
//! the actual and predicted values of each test row.

use std::fmt::Write as _;
use std::path::Path;

use crate::metrics::ConfusionMatrix;
use crate::model::Model;
use crate::prepared::{Split, Target};
use crate::staged_dir::StagedDir;
use cairn_core::error::{Error, Result};

/// File name of the confusion matrix CSV.
pub const CONFUSION_CSV: &str = "confusion_matrix.csv";
/// File name of the confusion matrix SVG.
pub const CONFUSION_SVG: &str = "confusion_matrix.svg";
/// File name of the regression predictions CSV.
pub const PREDICTIONS_CSV: &str = "predictions.csv";
/// File name of the regression residuals CSV (`predicted,residual`): residuals against fitted
/// values, the plot that shows bias and uneven spread; `cairn plots` draws it as a scatter.
pub const RESIDUALS_CSV: &str = "residuals.csv";

/// Writes `dir/confusion_matrix.csv`, `dir/confusion_matrix.svg` and, one-vs-rest for each
/// class, its ROC curve (`roc_K_CLASS.csv`: fpr,tpr) and precision–recall curve
/// (`pr_K_CLASS.csv`: recall,precision) from the predicted probabilities, replacing `dir`.
pub fn write_confusion_matrix(
    dir: &Path,
    cm: &ConfusionMatrix,
    model: &Model,
    split: &Split,
) -> Result<()> {
    let curves = curves(model, split);
    let mut names: Vec<&str> = vec![CONFUSION_CSV, CONFUSION_SVG];
    names.extend(curves.iter().map(|(name, _)| name.as_str()));
    let out = StagedDir::new(dir, &names)?;
    for (name, text) in &curves {
        write(&out, name, text.clone())?;
    }
    let mut csv = String::from("actual,predicted,count\n");
    for (a, row) in cm.matrix.iter().enumerate() {
        for (p, count) in row.iter().enumerate() {
            let _ = writeln!(
                csv,
                "{},{},{count}",
                csv_field(&cm.labels[a]),
                csv_field(&cm.labels[p])
            );
        }
    }
    write(&out, CONFUSION_CSV, csv)?;
    write(&out, CONFUSION_SVG, confusion_svg(cm))?;
    out.commit()
}

/// Writes `dir/predictions.csv` (`actual,predicted` per test row) and `dir/residuals.csv`
/// (`predicted,residual`, residual = actual − predicted), replacing `dir`.
pub fn write_predictions(dir: &Path, model: &Model, split: &Split) -> Result<()> {
    let out = StagedDir::new(dir, &[PREDICTIONS_CSV, RESIDUALS_CSV])?;
    let mut predictions = String::from("actual,predicted\n");
    let mut residuals = String::from("predicted,residual\n");
    if let Target::Values(actual) = &split.y {
        for (row, a) in split.x.rows().into_iter().zip(actual) {
            let predicted = model.predict(&row.to_vec()).value;
            let _ = writeln!(predictions, "{a},{predicted}");
            let _ = writeln!(residuals, "{predicted},{}", a - predicted);
        }
    }
    write(&out, PREDICTIONS_CSV, predictions)?;
    write(&out, RESIDUALS_CSV, residuals)?;
    out.commit()
}

/// Each class's ROC and precision–recall curves as (file name, CSV), one-vs-rest on the
/// class's predicted probability, a point at every distinct score.
fn curves(model: &Model, split: &Split) -> Vec<(String, String)> {
    let Target::Classes(actual) = &split.y else {
        return Vec::new();
    };
    let probabilities: Vec<Vec<f64>> = split
        .x
        .rows()
        .into_iter()
        .map(|row| model.predict(&row.to_vec()).probabilities)
        .collect();
    let mut files = Vec::new();
    for (k, class) in model.classes.iter().enumerate() {
        let mut scored: Vec<(f64, bool)> = probabilities
            .iter()
            .zip(actual)
            .map(|(p, a)| (p.get(k).copied().unwrap_or(0.0), *a == k))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let positives = scored.iter().filter(|(_, y)| *y).count() as f64;
        let negatives = scored.len() as f64 - positives;
        let (mut tp, mut fp) = (0.0, 0.0);
        let mut roc = String::from("fpr,tpr\n0,0\n");
        let mut pr = String::from("recall,precision\n0,1\n");
        for (i, (score, positive)) in scored.iter().enumerate() {
            if *positive {
                tp += 1.0
            } else {
                fp += 1.0
            }
            // One point per distinct score: ties move together.
            if scored.get(i + 1).is_some_and(|next| next.0 == *score) {
                continue;
            }
            let rate = |n: f64, of: f64| if of > 0.0 { n / of } else { 0.0 };
            let _ = writeln!(roc, "{},{}", rate(fp, negatives), rate(tp, positives));
            let _ = writeln!(pr, "{},{}", rate(tp, positives), rate(tp, tp + fp));
        }
        let safe: String = class
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        files.push((format!("roc_{k}_{safe}.csv"), roc));
        files.push((format!("pr_{k}_{safe}.csv"), pr));
    }
    files
}

fn write(out: &StagedDir, name: &str, text: String) -> Result<()> {
    let path = out.join(name);
    std::fs::write(&path, text).map_err(|source| Error::Io { path, source })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A heat-map: one square per (actual, predicted) pair, shaded by its share of the actual row,
/// with the count written in it and the class names along both axes.
fn confusion_svg(cm: &ConfusionMatrix) -> String {
    const CELL: usize = 72;
    let k = cm.labels.len();
    let longest = cm
        .labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1);
    let left = 60 + longest * 8;
    let top = 90;
    let (width, height) = (left + k * CELL + 30, top + k * CELL + 60);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="16" font-weight="bold">Confusion matrix</text>"#,
        width / 2
    );
    let mid_x = left + k * CELL / 2;
    let _ = writeln!(
        svg,
        r#"<text x="{mid_x}" y="48" text-anchor="middle" font-weight="bold">Predicted</text>"#
    );
    let mid_y = top + k * CELL / 2;
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{mid_y}" text-anchor="middle" font-weight="bold" transform="rotate(-90 16 {mid_y})">Actual</text>"#
    );
    for (i, label) in cm.labels.iter().enumerate() {
        let label = xml_escape(label);
        let cx = left + i * CELL + CELL / 2;
        let _ = writeln!(
            svg,
            r#"<text x="{cx}" y="{}" text-anchor="middle">{label}</text>"#,
            top - 10
        );
        let cy = top + i * CELL + CELL / 2 + 5;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{cy}" text-anchor="end">{label}</text>"#,
            left - 8
        );
    }
    for (a, row) in cm.matrix.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (p, &count) in row.iter().enumerate() {
            let share = if total > 0 {
                count as f64 / total as f64
            } else {
                0.0
            };
            // From white to a strong blue.
            let shade = |full: f64| (255.0 - share * (255.0 - full)).round() as u8;
            let fill = format!(
                "#{:02x}{:02x}{:02x}",
                shade(33.0),
                shade(102.0),
                shade(172.0)
            );
            let ink = if share > 0.5 { "white" } else { "black" };
            let (x, y) = (left + p * CELL, top + a * CELL);
            let _ = writeln!(
                svg,
                r##"<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{fill}" stroke="#888"><title>actual {}, predicted {}: {count}</title></rect>"##,
                xml_escape(&cm.labels[a]),
                xml_escape(&cm.labels[p])
            );
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="middle" font-size="18" fill="{ink}">{count}</text>"#,
                x + CELL / 2,
                y + CELL / 2 + 6
            );
        }
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_names_every_class_and_count_and_escapes_labels() {
        let cm = ConfusionMatrix {
            labels: vec!["a<b".into(), "c".into()],
            matrix: vec![vec![3, 1], vec![0, 7]],
        };
        let svg = confusion_svg(&cm);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        for n in [">3<", ">1<", ">0<", ">7<", ">Predicted<", ">Actual<"] {
            assert!(svg.contains(n), "{n}");
        }
    }
}
