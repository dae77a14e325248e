//! `-S` on a Python params file, as `dvc exp run -S` does it (DVC edits the assignment's line):
//! the assignment of the key's top-level name (`NAME = …`) or class attribute (`Class.NAME`,
//! `self.NAME` in its `__init__`) gets the new value written as a Python literal; every other
//! line, comments included, stays as it was.
//!
//! Lines are found by their text, not by a full parse, so each candidate rewrite is checked:
//! it is kept only when the file, read again as cairn reads params, holds exactly the values
//! asked for. The first candidate (the shortest span, a trailing comment kept) that passes wins;
//! when none does, the override is refused rather than guessed.

use serde_norway::Value;

use crate::pipeline::params::{parse, same_value};

/// Lines a multi-line value may span.
const MAX_VALUE_LINES: usize = 200;

/// `text` (the Python file `file`) rewritten so that the assignments of `keys` hold their values
/// in `expected` (the file's values with the overrides applied).
pub(super) fn rewrite(
    file: &str,
    text: &str,
    keys: &[&str],
    expected: &Value,
) -> Result<String, String> {
    let mut text = text.to_string();
    for key in keys {
        let parts: Vec<&str> = key.split('.').collect();
        // The assignment: a top-level name, or a class's attribute; deeper parts live inside
        // its value (a dict or list literal), which is written whole.
        let (line, target) = match find(&text, &parts[..1]) {
            Some(line) => (line, 1),
            None => (
                parts
                    .get(..2)
                    .and_then(|class_attribute| find(&text, class_attribute))
                    .ok_or_else(|| format!("cannot find the assignment of '{key}' in {file}"))?,
                2,
            ),
        };
        let value = lookup(expected, &parts[..target])
            .ok_or_else(|| format!("'{key}' is not a value of {file}"))?;
        let literal = python_literal(value)?;
        // What the file must read as with this one assignment changed.
        let mut wanted = parse(file, &text)?;
        let slot = parts[..target]
            .iter()
            .try_fold(&mut wanted, |at, part| match at {
                Value::Mapping(m) => m.get_mut(*part),
                _ => None,
            })
            .ok_or_else(|| format!("'{key}' is not a value of {file}"))?;
        *slot = value.clone();
        let rewritten = candidates(&text, line, &literal)
            .find(|candidate| parse(file, candidate).is_ok_and(|v| same_value(&v, &wanted)));
        text = rewritten.ok_or_else(|| {
            format!(
                "cannot rewrite the assignment of '{key}' on line {} of {file}; \
                     change it there by hand",
                line + 1
            )
        })?;
    }
    Ok(text)
}

/// The index of the last line assigning `path` (`[NAME]` at the top, `[Class, NAME]` in the
/// class's block).
fn find(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let assigns = |line: &str, name: &str| {
        let rest = line.trim_start();
        let rest = rest.strip_prefix("self.").unwrap_or(rest);
        rest.strip_prefix(name).is_some_and(|after| {
            let after = after.trim_start();
            (after.starts_with('=') && !after.starts_with("==")) || after.starts_with(':')
        })
    };
    match path {
        [name] => lines
            .iter()
            .rposition(|l| !l.starts_with([' ', '\t']) && assigns(l, name)),
        [class, name] => {
            let start = lines.iter().position(|l| {
                l.strip_prefix("class ")
                    .and_then(|r| r.trim_start().strip_prefix(class))
                    .is_some_and(|r| r.trim_start().starts_with([':', '(']))
            })?;
            let end = lines[start + 1..]
                .iter()
                .position(|l| !l.trim().is_empty() && !l.starts_with([' ', '\t', '#']))
                .map_or(lines.len(), |n| start + 1 + n);
            (start + 1..end)
                .rev()
                .find(|&i| lines[i].starts_with([' ', '\t']) && assigns(lines[i], name))
        }
        _ => None,
    }
}

/// Rewrites of `text` with the value of the assignment on `line` replaced by `literal`: ending
/// on that line or one of the next, before a `#` on it (keeping the comment) or at its end.
fn candidates<'t>(
    text: &'t str,
    line: usize,
    literal: &'t str,
) -> impl Iterator<Item = String> + 't {
    let lines: Vec<&'t str> = text.lines().collect();
    let head = lines.get(line).map_or("", |l| {
        // Up to the `=` of the assignment (after any annotation).
        let mut at = 0;
        while let Some(i) = l[at..].find('=') {
            let i = at + i;
            if l[i + 1..].starts_with('=') {
                at = i + 2;
                continue;
            }
            return &l[..=i];
        }
        l
    });
    let last = (line + MAX_VALUE_LINES).min(lines.len());
    (line..last).flat_map(move |end| {
        let tail_line = lines[end];
        let from = if end == line { head.len() } else { 0 };
        // A `#` starts a comment only outside a string: one after balanced quotes.
        let cuts: Vec<usize> = tail_line[from..]
            .match_indices('#')
            .map(|(i, _)| from + i)
            .filter(|&i| {
                let before = &tail_line[from..i];
                before.matches('"').count().is_multiple_of(2)
                    && before.matches('\'').count().is_multiple_of(2)
            })
            .chain(std::iter::once(tail_line.len()))
            .collect();
        let lines = lines.clone();
        cuts.into_iter().map(move |cut| {
            let comment = &tail_line[cut..];
            let mut out: Vec<String> = lines[..line].iter().map(|l| l.to_string()).collect();
            let gap = if comment.is_empty() { "" } else { "  " };
            out.push(format!("{head} {literal}{gap}{comment}"));
            out.extend(lines[end + 1..].iter().map(|l| l.to_string()));
            let mut joined = out.join("\n");
            joined.push('\n');
            joined
        })
    })
}

fn lookup<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |at, part| match at {
        Value::Mapping(m) => m.get(*part),
        _ => None,
    })
}

/// `value` as Python source.
fn python_literal(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.is_nan() => "float('nan')".into(),
            Some(f) if n.is_f64() && f.is_infinite() => if f > 0.0 {
                "float('inf')"
            } else {
                "-float('inf')"
            }
            .into(),
            _ => n.to_string(),
        },
        // JSON's string escapes are all Python ones too.
        Value::String(s) => serde_json::to_string(s).map_err(|e| e.to_string())?,
        Value::Sequence(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_literal)
                .collect::<Result<Vec<_>, _>>()?
                .join(", ")
        ),
        Value::Mapping(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| Ok(format!("{}: {}", python_literal(k)?, python_literal(v)?)))
                .collect::<Result<Vec<_>, String>>()?
                .join(", ")
        ),
        Value::Tagged(t) => python_literal(&t.value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(text: &str) -> Value {
        parse("p.py", text).expect("python")
    }

    #[test]
    fn rewrites_the_assignment_line_and_keeps_everything_else() {
        let before = "import os\n# seed\nSEED = 1  # the seed\nLR: float = 0.5\n\nclass TrainMore:\n    \
                      epochs = 1\nclass Train:\n    \
                      epochs = 3\n    layers = {\n        'a': 1,\n    }\n    def __init__(self):\n        \
                      self.depth = 4\n\nOTHER = os.getcwd()\n";
        let after_expected = expected(
            "SEED = 7\nLR = 0.25\nclass TrainMore:\n    epochs = 1\nclass Train:\n    epochs = 3\n    layers = {'a': 9}\n    depth = 'deep'\n",
        );
        let got = rewrite(
            "p.py",
            before,
            &["SEED", "LR", "Train.layers.a", "Train.depth"],
            &after_expected,
        )
        .expect("rewrite");
        assert!(got.contains("SEED = 7  # the seed\n"), "{got}");
        assert!(got.contains("LR: float = 0.25\n"), "{got}");
        assert!(got.contains("    layers = {\"a\": 9}\n"), "{got}");
        assert!(got.contains("        self.depth = \"deep\"\n"), "{got}");
        assert!(got.starts_with("import os\n# seed\n") && got.contains("OTHER = os.getcwd()"));
        assert!(same_value(&expected(&got), &after_expected));
    }

    #[test]
    fn refuses_what_it_cannot_find_or_rewrite() {
        let text = "NAME = 'a#b'\n";
        let got = rewrite("p.py", text, &["NAME"], &expected("NAME = 'c'\n")).expect("rewrite");
        assert_eq!(got, "NAME = \"c\"\n");
        let text = "if True:\n    SEED = 1\n";
        assert!(rewrite("p.py", text, &["SEED"], &expected("SEED = 2\n")).is_err());
    }
}
