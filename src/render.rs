//! How results look: sizes, warnings. The library crates return data; only the binary prints.

/// How many items a warning lists before "and N more".
const SHOWN: usize = 5;

/// Bytes as MiB with one decimal, for summaries.
pub fn mib(bytes: u64) -> String {
    cairn_remote::mib(bytes)
}

/// Writes `text` to stdout as it is (a closed pipe ends the process quietly, see `main`).
pub fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// A number for a table: rounded to 5 decimals (DVC's default precision), no trailing zeros.
pub fn number(v: f64) -> String {
    let s = format!("{v:.5}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Left-aligned columns separated by two spaces.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Written straight into one buffer sized up front: `exp show` lays out a thousand rows of
    // two hundred cells, where a `format!` per cell and a growing string dominate.
    let line_width: usize = widths.iter().map(|w| w + 2).sum();
    let mut out = String::with_capacity(rows.len() * (line_width + 1));
    for row in rows {
        let start = out.len();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            out.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(cell.chars().count()),
            ));
        }
        let kept = out[start..].trim_end().len();
        out.truncate(start + kept);
        out.push('\n');
    }
    out
}

/// A GitHub-flavoured Markdown table, the first row its header (`|` in a cell escaped).
pub fn markdown_table(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let escaped: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", escaped.join(" | ")));
        if i == 0 {
            out.push_str(&format!("|{}\n", " --- |".repeat(row.len())));
        }
    }
    out
}

/// Each line as a warning on stderr.
pub fn warn_all(lines: &[String]) {
    for line in lines {
        eprintln!("warning: {line}");
    }
}

/// The first few `items` as warnings saying `what`, then how many more `rest` there are.
pub fn warn_first_few(what: &str, rest: &str, items: &[String]) {
    for item in items.iter().take(SHOWN) {
        eprintln!("warning: {what}: {item}");
    }
    if items.len() > SHOWN {
        eprintln!("warning: … and {} more {rest}", items.len() - SHOWN);
    }
}

/// The first few `items` as notes saying `what`, then how many more there are: things a
/// command left alone on purpose, not problems.
pub fn note_first_few(what: &str, items: &[String]) {
    for item in items.iter().take(SHOWN) {
        eprintln!("note: {what}: {item}");
    }
    if items.len() > SHOWN {
        eprintln!("note: … and {} more {what}", items.len() - SHOWN);
    }
}

/// Prints what the library crates report: lines as they come, progress as bars on stderr when
/// it is a terminal (indicatif hides them when it is piped).
pub struct Terminal;

impl cairn_core::report::Sink for Terminal {
    fn out(&self, line: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        // Before a stage's command writes to the same stdout.
        let _ = out.flush();
    }

    fn err(&self, line: &str) {
        eprintln!("{line}");
    }

    fn bar(
        &self,
        label: &str,
        total: u64,
        unit: cairn_core::report::Unit,
    ) -> Box<dyn cairn_core::report::Bar> {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let template = match unit {
            cairn_core::report::Unit::Bytes => {
                "{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}".to_string()
            }
            cairn_core::report::Unit::Count(what) => {
                format!("{{msg}} {{pos}}/{{len}} {what} [{{bar:30}}]")
            }
        };
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        Box::new(Bar(bar))
    }
}

struct Bar(indicatif::ProgressBar);

impl cairn_core::report::Bar for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn set_label(&self, label: String) {
        self.0.set_message(label);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
