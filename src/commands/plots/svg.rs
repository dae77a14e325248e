//! Plots drawn as SVG by cairn (no script, no network): line and scatter charts of numeric
//! series, and confusion matrices as shaded grids. Text and axes use `currentColor`, so a page
//! in dark mode shows them light.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Series colours, readable on light and dark backgrounds.
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
];
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
const MARGIN: (f64, f64, f64, f64) = (56.0, 24.0, 40.0, 48.0); // left, right, top, bottom

/// A named list of points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Escapes text for SVG and HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart (or, with `scatter`, points only) of `series`, with axes, ticks and a legend.
pub fn chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    scatter: bool,
) -> String {
    let all = series.iter().flat_map(|s| &s.points);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    // A constant series still gets a visible range.
    if x1 - x0 <= 1e-12 * x0.abs().max(1.0) {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    if y1 - y0 <= 1e-12 * y0.abs().max(1.0) {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let (left, right, top, bottom) = MARGIN;
    let (w, h) = (WIDTH - left - right, HEIGHT - top - bottom);
    let px = |x: f64| left + (x - x0) / (x1 - x0) * w;
    let py = |y: f64| top + h - (y - y0) / (y1 - y0) * h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{t}" font-family="sans-serif" font-size="12" fill="currentColor">"#,
        t = escape(title)
    );
    let _ = write!(
        svg,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let _ = write!(
        svg,
        r#"<g stroke="currentColor" stroke-opacity="0.6"><line x1="{left}" y1="{b}" x2="{r}" y2="{b}"/><line x1="{left}" y1="{top}" x2="{left}" y2="{b}"/></g>"#,
        b = top + h,
        r = left + w
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let (xv, yv) = (x0 + f * (x1 - x0), y0 + f * (y1 - y0));
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            px(xv),
            top + h + 16.0,
            tick(xv)
        );
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 6.0,
            py(yv) + 4.0,
            tick(yv)
        );
        let _ = write!(
            svg,
            r#"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="currentColor" stroke-opacity="0.1"/>"#,
            left + w,
            y = py(yv)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + w / 2.0,
        HEIGHT - 8.0,
        escape(x_label)
    );
    let _ = write!(
        svg,
        r#"<text transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        top + h / 2.0,
        escape(y_label)
    );
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        if scatter {
            for &(x, y) in &s.points {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.2}" cy="{:.2}" r="2.5" fill="{colour}"/>"#,
                    px(x),
                    py(y)
                );
            }
        } else {
            let points: Vec<String> = s
                .points
                .iter()
                .map(|&(x, y)| format!("{:.2},{:.2}", px(x), py(y)))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                points.join(" ")
            );
        }
        let ly = top + 4.0 + 16.0 * i as f64;
        let _ = write!(
            svg,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
            left + w - 180.0,
            ly,
            left + w - 165.0,
            ly + 9.0,
            escape(&s.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A confusion matrix: rows are the actual class, columns the predicted one, each cell shaded
/// by its share of its row and labelled with its count.
pub fn confusion(title: &str, counts: &BTreeMap<(String, String), f64>) -> String {
    let mut classes: Vec<&String> = counts.keys().flat_map(|(a, p)| [a, p]).collect();
    classes.sort();
    classes.dedup();
    let n = classes.len().max(1) as f64;
    let cell = (300.0 / n).clamp(24.0, 80.0);
    let (left, top) = (110.0, 40.0);
    let size = (left + cell * n + 20.0, top + cell * n + 40.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" role="img" aria-label="{t}" font-family="sans-serif" font-size="12" fill="currentColor">"#,
        size.0,
        size.1,
        t = escape(title)
    );
    let _ = write!(
        svg,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        size.0 / 2.0,
        escape(title)
    );
    for (r, actual) in classes.iter().enumerate() {
        let total: f64 = classes
            .iter()
            .map(|p| {
                counts
                    .get(&((*actual).clone(), (*p).clone()))
                    .copied()
                    .unwrap_or(0.0)
            })
            .sum();
        let y = top + cell * r as f64;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 6.0,
            y + cell / 2.0 + 4.0,
            escape(actual)
        );
        for (c, predicted) in classes.iter().enumerate() {
            let count = counts
                .get(&((*actual).clone(), (*predicted).clone()))
                .copied()
                .unwrap_or(0.0);
            let share = if total > 0.0 { count / total } else { 0.0 };
            let x = left + cell * c as f64;
            let _ = write!(
                svg,
                r##"<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="#4e79a7" fill-opacity="{:.3}" stroke="currentColor" stroke-opacity="0.2"/><text x="{}" y="{}" text-anchor="middle">{}</text>"##,
                0.08 + 0.85 * share,
                x + cell / 2.0,
                y + cell / 2.0 + 4.0,
                tick(count)
            );
        }
    }
    for (c, predicted) in classes.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            left + cell * c as f64 + cell / 2.0,
            top + cell * n + 16.0,
            escape(predicted)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">predicted</text>"#,
        left + cell * n / 2.0,
        size.1 - 6.0
    );
    svg.push_str("</svg>");
    svg
}

/// A number for an axis: short.
fn tick(v: f64) -> String {
    if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_survive_constant_and_empty_series() {
        let s = [Series {
            label: "<b>&".into(),
            points: vec![(0.0, 1.0), (1.0, 1.0)],
        }];
        let svg = chart("t<", "x", "y", &s, false);
        assert!(svg.contains("&lt;b&gt;&amp;") && svg.contains("t&lt;") && !svg.contains("NaN"));
        assert!(!chart("empty", "x", "y", &[], true).contains("NaN"));
        let mut counts = BTreeMap::new();
        counts.insert(("a".to_string(), "b".to_string()), 3.0);
        let grid = confusion("c", &counts);
        assert!(grid.contains(">3<") && grid.contains(">predicted<"));
    }
}
