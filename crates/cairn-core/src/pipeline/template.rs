//! `${…}` templating as in dvc.yaml: variables come from `params.yaml`, `vars:` and, inside
//! `foreach`/`matrix`, from `item` (and `key`). A whole-word reference to a mapping inside a
//! command expands to `--key value` pairs, as DVC does for dict unpacking.

use std::sync::Arc;

use serde_norway::{Mapping, Value};

/// The variables visible to a template: layers of mappings, a later layer's top-level names
/// hiding an earlier one's. Layers are shared, so giving each of many foreach items its own
/// context copies no variables: cloning a context costs its number of layers, not its size.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Each a `Value::Mapping`; the last wins.
    layers: Vec<Arc<Value>>,
}

impl Context {
    /// Adds (or replaces) top-level variables.
    pub fn extend(&mut self, vars: &Mapping) {
        self.layers.push(Arc::new(Value::Mapping(vars.clone())));
    }

    /// Adds (or replaces) top-level variables from a loaded file, without copying them. A value
    /// that is not a mapping adds nothing.
    pub fn extend_shared(&mut self, vars: Arc<Value>) {
        if vars.is_mapping() {
            self.layers.push(vars);
        }
    }

    /// Sets one top-level variable.
    pub fn set(&mut self, name: &str, value: Value) {
        // The top layer, when this context alone holds it, takes the name (it hides every
        // other layer, so this is the same as adding a layer); otherwise a new layer does.
        if let Some(Value::Mapping(top)) = self.layers.last_mut().and_then(Arc::get_mut) {
            top.insert(Value::String(name.into()), value);
            return;
        }
        let mut layer = Mapping::new();
        layer.insert(Value::String(name.into()), value);
        self.layers.push(Arc::new(Value::Mapping(layer)));
    }

    /// Looks up a dotted path (`train.c`, `item.name`, `list.0`).
    pub fn lookup(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let first = parts.next()?;
        let mut value = self.layers.iter().rev().find_map(|l| l.get(first))?;
        for part in parts {
            value = match value {
                Value::Mapping(m) => m.get(part)?,
                Value::Sequence(s) => s.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value)
    }

    /// Replaces every `${name}` in `text`. `\${` stays literal.
    pub fn interpolate(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 && rest.as_bytes()[start - 1] == b'\\' {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed '${{' in '{text}'"))?;
            let name = after[..end].trim();
            let value = self
                .lookup(name)
                .ok_or_else(|| format!("unknown variable '${{{name}}}' in '{text}'"))?;
            out.push_str(&render(value).map_err(|e| format!("'${{{name}}}' in '{text}': {e}"))?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Resolves a value that may be a single `${name}` reference into the value it names.
    pub fn resolve_value(&self, value: &Value) -> Result<Value, String> {
        if let Value::String(s) = value {
            let t = s.trim();
            if t.starts_with("${") && t.ends_with('}') && t.matches("${").count() == 1 {
                let name = t[2..t.len() - 1].trim();
                return self
                    .lookup(name)
                    .cloned()
                    .ok_or_else(|| format!("unknown variable '${{{name}}}'"));
            }
        }
        Ok(value.clone())
    }
}

/// The text a value becomes inside a string.
pub fn render(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Err("is null".into()),
        Value::Sequence(items) => items
            .iter()
            .map(render)
            .collect::<Result<Vec<_>, _>>()?
            .join(" "),
        Value::Mapping(m) => {
            let mut parts = Vec::new();
            for (k, v) in m {
                let k = render(k)?;
                match v {
                    Value::Bool(true) => parts.push(format!("--{k}")),
                    Value::Bool(false) => {}
                    Value::Mapping(_) => return Err(format!("'{k}' is a nested mapping")),
                    v => parts.push(format!("--{k} {}", render(v)?)),
                }
            }
            parts.join(" ")
        }
        Value::Tagged(t) => render(&t.value)?,
    })
}

/// A short name for a foreach/matrix item, used after `@` in stage names.
pub fn item_name(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(yaml: &str) -> Context {
        let mut c = Context::default();
        c.extend(&serde_norway::from_str(yaml).unwrap());
        c
    }

    #[test]
    fn interpolates_dotted_and_indexed_names() {
        let c = ctx("train: {c: 0.5, algos: [lr, tree]}\nname: x");
        assert_eq!(
            c.interpolate("a ${train.c} ${ train.algos.1 } ${name}")
                .unwrap(),
            "a 0.5 tree x"
        );
        assert_eq!(
            c.interpolate(r"keep \${literal}").unwrap(),
            "keep ${literal}"
        );
    }

    #[test]
    fn unknown_and_unclosed_are_errors() {
        let c = ctx("a: 1");
        assert!(
            c.interpolate("${b}")
                .unwrap_err()
                .contains("unknown variable '${b}'")
        );
        assert!(c.interpolate("${a").unwrap_err().contains("unclosed"));
    }

    #[test]
    fn later_layers_and_items_hide_earlier_names() {
        let mut base = ctx("a: 1\nb: {c: 2}");
        base.extend(&serde_norway::from_str("b: 3").unwrap());
        assert_eq!(base.interpolate("${a} ${b}").unwrap(), "1 3");
        let mut item = base.clone();
        item.set("item", Value::from("x"));
        item.set("a", Value::from("y"));
        assert_eq!(item.interpolate("${a} ${b} ${item}").unwrap(), "y 3 x");
        // The clone's names do not leak into the context it came from.
        assert!(base.lookup("item").is_none());
        assert_eq!(base.interpolate("${a}").unwrap(), "1");
    }

    #[test]
    fn mappings_unpack_to_flags() {
        let c = ctx("p: {depth: 3, bootstrap: true, quiet: false, crit: gini}");
        assert_eq!(
            c.interpolate("train ${p}").unwrap(),
            "train --depth 3 --bootstrap --crit gini"
        );
    }
}
