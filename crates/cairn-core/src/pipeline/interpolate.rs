//! `${…}` as DVC resolves it (`dvc/parsing/interpolate.py`, `context.py`): every string of a
//! stage definition, mapping keys included, is resolved; a string that is exactly one `${x}`
//! becomes x's value (a number stays a number), any other string gets each value's text. The
//! text is Python's (`1e-05`, `1.5e+20`, `true`), and a mapping inside `cmd` unpacks to
//! `--key value` arguments with values shell-quoted, so the command cairn runs is the one DVC
//! runs.

use serde_norway::{Mapping, Value};

use super::context::Context;

/// What `${…}` can see: the merged variables and, inside a foreach or matrix, `item` and `key`
/// (which hide variables of the same name, as in DVC).
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub vars: &'a Context,
    pub item: Option<&'a Value>,
    pub key: Option<&'a Value>,
}

impl<'a> Scope<'a> {
    /// The variables alone.
    pub fn new(vars: &'a Context) -> Scope<'a> {
        Scope {
            vars,
            item: None,
            key: None,
        }
    }

    /// The names this scope sets for each generated stage (`item`, `key`).
    pub fn reserved(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.item.is_some() {
            names.push("item");
        }
        if self.key.is_some() {
            names.push("key");
        }
        names
    }

    /// The value `expr` (`a.b`, `a[0]`, `a[b]`, `list[-1]`) names.
    fn select(&self, expr: &str) -> Result<&'a Value, String> {
        let parts = parse_expr(expr)?;
        let unknown = || format!("unknown variable '${{{expr}}}'");
        let (first, rest) = parts.split_first().ok_or_else(unknown)?;
        let mut value = match *first {
            "item" if self.item.is_some() => self.item,
            "key" if self.key.is_some() => self.key,
            name => self.vars.vars().get(name),
        }
        .ok_or_else(unknown)?;
        for part in rest {
            value = match value {
                Value::Mapping(m) => m.get(*part),
                Value::Sequence(s) => part.parse::<i64>().ok().and_then(|i| {
                    // Python indexing: -1 is the last.
                    let i = if i < 0 { s.len() as i64 + i } else { i };
                    usize::try_from(i).ok().and_then(|i| s.get(i))
                }),
                _ => None,
            }
            .ok_or_else(unknown)?;
        }
        Ok(value)
    }
}

/// `a.b[0][c]` → `["a", "b", "0", "c"]`, each part trimmed, as DVC's grammar
/// `word ("." word | "[" word "]")*` with a word any run of characters but `.[]`.
fn parse_expr(expr: &str) -> Result<Vec<&str>, String> {
    let bad = || {
        format!(
            "'${{{expr}}}' is not a variable name; write `${{a.b}}`, `${{a[0]}}` or `${{a[b]}}`"
        )
    };
    let word_end = |s: &str| s.find(['.', '[', ']']).unwrap_or(s.len());
    let mut parts = Vec::new();
    let mut rest = expr;
    let mut first = true;
    while first || !rest.is_empty() {
        let bracket = if first {
            false
        } else if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            false
        } else if let Some(r) = rest.strip_prefix('[') {
            rest = r;
            true
        } else {
            return Err(bad());
        };
        first = false;
        let end = word_end(rest);
        let word = rest[..end].trim();
        if word.is_empty() {
            return Err(bad());
        }
        parts.push(word);
        rest = &rest[end..];
        if bracket {
            rest = rest.strip_prefix(']').ok_or_else(bad)?;
        }
    }
    Ok(parts)
}

/// The `${…}` in `text`: (start, end, inner) byte spans, as DVC's `(?<!\\)\${(.*?)}`. An
/// unclosed `${` is an error (DVC passes it on to the shell, which fails on it).
fn matches(text: &str) -> Result<Vec<(usize, usize, &str)>, String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("${") {
        let start = from + i;
        if start > 0 && text.as_bytes()[start - 1] == b'\\' {
            from = start + 2;
            continue;
        }
        let inner_start = start + 2;
        let close = text[inner_start..]
            .find(['}', '\n'])
            .filter(|&j| text.as_bytes()[inner_start + j] == b'}')
            .ok_or_else(|| format!("unclosed '${{' in '{text}'"))?;
        let end = inner_start + close + 1;
        found.push((start, end, &text[inner_start..end - 1]));
        from = end;
    }
    Ok(found)
}

/// Whether `text` holds a `${…}` (unclosed ones count: they are errors where they are resolved).
pub fn is_interpolated(text: &str) -> bool {
    !matches!(matches(text), Ok(m) if m.is_empty())
}

/// Whether any string in `value` (keys included) holds a `${…}`.
pub fn has_interpolation(value: &Value) -> bool {
    match value {
        Value::String(s) => is_interpolated(s),
        Value::Sequence(items) => items.iter().any(has_interpolation),
        Value::Mapping(m) => m
            .iter()
            .any(|(k, v)| has_interpolation(k) || has_interpolation(v)),
        Value::Tagged(t) => has_interpolation(&t.value),
        _ => false,
    }
}

/// Resolves every `${…}` in `value`, keys and values, recursively. `field` is the stage field
/// being resolved (`cmd`, `deps`, …), which decides what may be interpolated: only a mapping in
/// `cmd` (unpacked to arguments) and only primitives elsewhere; `None` (foreach and matrix
/// data, top-level sections) allows any value.
pub fn resolve(value: &Value, scope: &Scope, field: Option<&str>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => resolve_str(s, scope, field)?,
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .map(|v| resolve(v, scope, field))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(m) => {
            let mut out = Mapping::with_capacity(m.len());
            for (k, v) in m {
                let k = resolve(k, scope, field)?;
                let v = resolve(v, scope, field)?;
                if out.insert(k.clone(), v).is_some() {
                    return Err(format!(
                        "two keys are '{}' once resolved",
                        to_str(&k).unwrap_or_default()
                    ));
                }
            }
            Value::Mapping(out)
        }
        other => other.clone(),
    })
}

/// Resolves one string: exactly `${x}` gives x's value itself; otherwise a string.
pub fn resolve_str(text: &str, scope: &Scope, field: Option<&str>) -> Result<Value, String> {
    let found = matches(text)?;
    if let [(0, end, inner)] = found[..]
        && end == text.len()
    {
        let value = scope.select(inner)?;
        check_kind(value, inner, field)?;
        return Ok(value.clone());
    }
    interpolate_found(text, &found, scope, field).map(Value::String)
}

fn interpolate_found(
    text: &str,
    found: &[(usize, usize, &str)],
    scope: &Scope,
    field: Option<&str>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(start, end, inner) in found {
        let value = scope.select(inner)?;
        check_kind(value, inner, field)?;
        out.push_str(&text[at..start]);
        out.push_str(&to_str(value).map_err(|e| format!("'${{{inner}}}' in '{text}': {e}"))?);
        at = end;
    }
    out.push_str(&text[at..]);
    // `\${` keeps a literal `${`.
    Ok(out.replace("\\${", "${"))
}

/// DVC's `validate_value`: a list or mapping may be interpolated only into foreach/matrix data
/// and top-level sections, and a mapping into `cmd`.
fn check_kind(value: &Value, inner: &str, field: Option<&str>) -> Result<(), String> {
    let Some(field) = field else { return Ok(()) };
    match value {
        Value::Mapping(_) if field == "cmd" => Ok(()),
        Value::Mapping(_) | Value::Sequence(_) => Err(format!(
            "'${{{inner}}}' in '{field}' is a {}; only a mapping in 'cmd' (unpacked to --key value) or a single value can be interpolated",
            if value.is_mapping() {
                "mapping"
            } else {
                "list"
            }
        )),
        _ => Ok(()),
    }
}

/// The text a value becomes inside a string, as DVC's `to_str`.
pub fn to_str(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::Null => {
            return Err("is null (DVC would write 'None'); give it a value".into());
        }
        Value::Mapping(m) => unpack(m)?,
        Value::Sequence(_) => {
            return Err(
                "is a list; only a single value or a mapping can be written into text".into(),
            );
        }
        Value::Tagged(t) => to_str(&t.value)?,
    })
}

/// A mapping as command-line arguments, as DVC's `to_str(dict)`: nested keys joined by `.`,
/// `true` as `--flag`, `false` left out, lists as `--k a b`, strings shell-quoted.
fn unpack(map: &Mapping) -> Result<String, String> {
    let mut flat = Vec::new();
    flatten(map, "", &mut flat);
    let mut out = String::new();
    for (k, v) in flat {
        match v {
            Value::Bool(true) => out.push_str(&format!("--{k} ")),
            Value::Bool(false) => {}
            Value::String(s) => out.push_str(&format!("--{k} {} ", shell_quote(s))),
            Value::Sequence(items) => {
                for (n, item) in items.iter().enumerate() {
                    let text = match item {
                        Value::String(s) => shell_quote(s),
                        Value::Sequence(_) | Value::Mapping(_) => {
                            return Err(format!("cannot interpolate nested iterable in '{k}'"));
                        }
                        // Python's str(), as DVC writes list items.
                        Value::Bool(true) => "True".into(),
                        Value::Bool(false) => "False".into(),
                        other => to_str(other).map_err(|e| format!("'{k}': {e}"))?,
                    };
                    if n == 0 {
                        out.push_str(&format!("--{k} {text} "));
                    } else {
                        out.push_str(&format!("{text} "));
                    }
                }
            }
            Value::Mapping(_) => {} // an empty mapping: nothing to pass
            other => {
                let text = to_str(other).map_err(|e| format!("'{k}': {e}"))?;
                out.push_str(&format!("--{k} {text} "));
            }
        }
    }
    Ok(out.trim_end().to_string())
}

/// Leaves of nested mappings with dotted keys, in order.
fn flatten<'a>(map: &'a Mapping, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in map {
        let k = to_str(k).unwrap_or_default();
        let k = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Mapping(m) if !m.is_empty() => flatten(m, &k, out),
            v => out.push((k, v)),
        }
    }
}

/// Python's `shlex.quote`.
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if s.is_empty() {
        "''".into()
    } else if s.chars().all(safe) {
        s.into()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

/// A number as Python's `str()` writes it: integers plainly, floats in their shortest form
/// with `.0` when whole and exponents outside 1e-4..1e16 (`1e-05`, `1.5e+20`).
pub fn number(n: &serde_norway::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    python_float(f)
}

fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the shortest digits that read back exactly, as Python's repr does.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let point = exp as usize + 1;
            let (int, frac) = if digits.len() > point {
                (digits[..point].to_string(), digits[point..].to_string())
            } else {
                (format!("{digits:0<point$}"), "0".to_string())
            };
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{rest}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        serde_norway::from_str(s).unwrap()
    }

    fn interpolate(text: &str, scope: &Scope, field: Option<&str>) -> Result<String, String> {
        interpolate_found(text, &matches(text)?, scope, field)
    }

    fn ctx(yaml: &str) -> Context {
        let mut c = Context::default();
        c.merge_entry(
            &v(yaml),
            "test",
            "",
            std::path::Path::new("/nonexistent"),
            &mut Default::default(),
            &[],
        )
        .unwrap();
        c
    }

    #[test]
    fn numbers_are_written_as_python_writes_them() {
        for (f, s) in [
            (1e-5, "1e-05"),
            (1.5e20, "1.5e+20"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (100.0, "100.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (123.456, "123.456"),
            (-2.5e-7, "-2.5e-07"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ] {
            assert_eq!(python_float(f), s, "{f}");
        }
        assert_eq!(to_str(&v("3")).unwrap(), "3");
        assert_eq!(to_str(&v("1e-5")).unwrap(), "1e-05");
    }

    #[test]
    fn expressions_take_dots_and_brackets() {
        assert_eq!(parse_expr("a.b[0][c]").unwrap(), ["a", "b", "0", "c"]);
        assert_eq!(parse_expr(" item ").unwrap(), ["item"]);
        for bad in ["", "a..b", "a[", "a[]", "a]", "a.", "[a]"] {
            assert!(parse_expr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exact_references_keep_their_type_and_text_gets_python_text() {
        let c = ctx("n: 1e-5\nflag: true\nl: [a, b]\nd: {x: 1}");
        let s = Scope::new(&c);
        assert_eq!(resolve_str("${n}", &s, Some("cmd")).unwrap(), v("1e-5"));
        assert_eq!(
            resolve_str("${flag}", &s, Some("frozen")).unwrap(),
            v("true")
        );
        assert_eq!(
            resolve_str("a ${n} ${flag} \\${x}", &s, Some("cmd")).unwrap(),
            v("'a 1e-05 true ${x}'")
        );
        assert_eq!(resolve_str("${l[1]} ${l[-1]}", &s, None).unwrap(), v("b b"));
        assert!(resolve_str("${l}", &s, Some("deps")).is_err());
        assert!(resolve_str("x ${d}", &s, Some("outs")).is_err());
        assert!(
            resolve_str("${nope}", &s, None)
                .unwrap_err()
                .contains("unknown variable '${nope}'")
        );
        assert!(
            resolve_str("${n", &s, None)
                .unwrap_err()
                .contains("unclosed")
        );
    }

    #[test]
    fn mappings_unpack_as_dvc_unpacks_them() {
        let c = ctx(
            "p: {depth: 3, on: true, off: false, name: has space, q: \"it's\", lr: 1e-5, l: [1, x y, true], nest: {a: 1}}",
        );
        assert_eq!(
            interpolate("train ${p}", &Scope::new(&c), Some("cmd")).unwrap(),
            "train --depth 3 --on --name 'has space' --q 'it'\"'\"'s' --lr 1e-05 --l 1 'x y' True --nest.a 1"
        );
        let c = ctx("p: {l: [[1]]}");
        assert!(
            interpolate("${p}", &Scope::new(&c), Some("cmd"))
                .unwrap_err()
                .contains("nested iterable in 'l'")
        );
    }

    #[test]
    fn item_and_key_hide_variables() {
        let c = ctx("item: 1\nkey: 2");
        let item = v("{a: x}");
        let key = v("k");
        let s = Scope {
            vars: &c,
            item: Some(&item),
            key: Some(&key),
        };
        assert_eq!(interpolate("${item.a} ${key}", &s, None).unwrap(), "x k");
        assert_eq!(s.reserved(), ["item", "key"]);
    }
}
