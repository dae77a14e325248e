//! Reading YAML that someone else wrote, strictly: a key repeated in any mapping is an error
//! naming the key and its lines, never "the last one wins".
//!
//! serde_norway refuses repeated keys only when it builds a `serde_norway::Value` (or `Mapping`);
//! through a derived struct, a `BTreeMap` or an `IndexMap` it silently keeps the last entry. So
//! the text is first read as a `Value` (which also finds repeats nested inside untagged enums,
//! whose own errors serde swallows), then into the typed shape.
//!
//! Before either, the values are counted with aliases followed, and a document of more than
//! [`MAX_VALUES`] is refused: a few kilobytes of anchors and aliases (`&a [x, x, …]`,
//! `&b [*a, *a, …]`, `[*b, *b, …]`) otherwise expand to gigabytes.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, Visitor};

/// The most values (scalars, lists, mappings, aliases counted as what they stand for) a file
/// cairn reads may hold: a 30,000-item foreach list in a vars file is some 60,000.
pub const MAX_VALUES: u64 = 2_000_000;

/// Parses `text` into `T`, refusing any mapping with a repeated key and documents that expand
/// to more than [`MAX_VALUES`] values.
pub fn from_str_unique<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    count_values(text)?;
    if let Err(e) = serde_norway::from_str::<serde_norway::Value>(text) {
        let message = e.to_string();
        if message.contains("duplicate entry") {
            return Err(duplicate_message(text, &e, &message));
        }
        // Any other error is the typed parse's to report (it says the same or more).
    }
    serde_norway::from_str(text).map_err(|e| e.to_string())
}

/// Walks the document as serde_norway presents it (aliases replayed) without building it, and
/// stops at [`MAX_VALUES`]. Syntax errors are left to the real parse, which reports them.
fn count_values(text: &str) -> Result<(), String> {
    let left = Cell::new(MAX_VALUES);
    let counter = Counter { left: &left };
    match counter.deserialize(serde_norway::Deserializer::from_str(text)) {
        Err(e) if left.get() == 0 => Err(e.to_string()),
        _ => Ok(()),
    }
}

#[derive(Clone, Copy)]
struct Counter<'a> {
    left: &'a Cell<u64>,
}

impl Counter<'_> {
    fn tick<E: de::Error>(self) -> Result<(), E> {
        match self.left.get() {
            0 => Err(E::custom(format!(
                "the document holds more than {MAX_VALUES} values once its aliases are \
                 followed (an alias bomb?); write the values out or split the file"
            ))),
            n => {
                self.left.set(n - 1);
                Ok(())
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.tick()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.tick()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.tick()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.tick()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.tick()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.tick()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.tick()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.tick()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.tick()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.tick()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.tick()?;
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.tick()?;
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.tick()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.tick()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged value (`!tag x`): the tag, then what it tags.
        use de::VariantAccess;
        self.tick()?;
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
}

/// serde_norway's duplicate-key message gives the line of the mapping, not of the repeats (and no
/// line at all for the top-level mapping): add the lines where the key is written.
fn duplicate_message(text: &str, e: &serde_norway::Error, message: &str) -> String {
    let out = message
        .replace("duplicate entry with key", "repeated key")
        .replace("duplicate entry with null key", "repeated null key")
        .replace("duplicate entry in YAML map", "repeated key in a mapping");
    let lines = match (duplicate_key(message), e.location()) {
        (Some(key), Some(loc)) => key_lines(text, &key, loc.line(), loc.column()),
        _ => Vec::new(),
    };
    if lines.len() < 2 {
        return format!("{out}; each key may appear once");
    }
    // serde_norway's position is the mapping's first key: say where the repeats are instead.
    let (head, mapping_at) = match (out.rfind(" at line "), e.location()) {
        (Some(i), Some(loc)) => (&out[..i], format!(" in the mapping at line {}", loc.line())),
        _ => (out.as_str(), String::new()),
    };
    let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
    format!(
        "{head} on lines {}{mapping_at}; each key may appear once",
        lines.join(", ")
    )
}

/// The key out of serde_norway's `duplicate entry with key "k"` / `with key 1` message.
fn duplicate_key(message: &str) -> Option<String> {
    let rest = &message[message.find("with key ")? + "with key ".len()..];
    if let Some(quoted) = rest.strip_prefix('"') {
        // A Rust debug string: find the closing quote, undoing \" and \\.
        let mut key = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(key),
                '\\' => key.push(chars.next()?),
                c => key.push(c),
            }
        }
        return None;
    }
    let end = rest.find(" at line").unwrap_or(rest.len());
    Some(rest[..end].trim_matches('`').to_string())
}

/// Lines (1-based) of the block mapping starting at `line`/`column` (serde_norway's mark of the
/// mapping) where `key` is written as a key: same indentation, plain or quoted, then `:`.
fn key_lines(text: &str, key: &str, line: usize, column: usize) -> Vec<usize> {
    let indent = column.saturating_sub(1);
    let mut found = Vec::new();
    for (n, l) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        let trimmed = l.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let here = l.len() - trimmed.len();
        if here < indent && n + 1 > line {
            break;
        }
        if here != indent {
            continue;
        }
        let written = [
            key.to_string(),
            format!("'{}'", key.replace('\'', "''")),
            format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\"")),
        ];
        if written.iter().any(|w| {
            trimmed
                .strip_prefix(w.as_str())
                .is_some_and(|r| r.trim_start().starts_with(':'))
        }) {
            found.push(n + 1);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_alias_bomb_is_refused_before_it_expands() {
        let wide = vec!["lol"; 1000].join(",");
        let b = vec!["*a"; 100].join(",");
        let c = vec!["*b"; 100].join(",");
        let text = format!("a: &a [{wide}]\nb: &b [{b}]\nc: [{c}]\n");
        let err = super::from_str_unique::<serde_norway::Value>(&text).unwrap_err();
        assert!(err.contains("alias bomb"), "{err}");
        // Aliases within the bound are fine.
        let ok = super::from_str_unique::<serde_norway::Value>("a: &a [1, 2]\nb: *a\n").unwrap();
        assert_eq!(ok["b"][1], serde_norway::Value::from(2));
    }

    use super::*;
    use indexmap::IndexMap;
    use std::collections::BTreeMap;

    #[test]
    fn derived_maps_alone_keep_the_last_entry() {
        // Why this module exists: serde_norway 0.9 keeps the last of repeated keys here.
        let m: IndexMap<String, u8> = serde_norway::from_str("a: 1\na: 2\n").unwrap();
        assert_eq!(m["a"], 2);
        let m: BTreeMap<String, u8> = serde_norway::from_str("a: 1\na: 2\n").unwrap();
        assert_eq!(m["a"], 2);
    }

    #[test]
    fn repeated_keys_are_refused_with_their_lines() {
        let err = from_str_unique::<IndexMap<String, u8>>("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(
            err.contains("repeated key") && err.contains("\"a\""),
            "{err}"
        );
        assert!(err.contains("repeated key \"a\" on lines 1, 3;"), "{err}");

        let text = "stages:\n  x:\n    cmd: a\n  # comment\n  'x':\n    cmd: b\n";
        let err = from_str_unique::<serde_norway::Value>(text).unwrap_err();
        assert!(
            err.contains("stages: repeated key \"x\" on lines 2, 5 in the mapping at line 2;"),
            "{err}"
        );

        let err = from_str_unique::<serde_norway::Value>("s: [{p: 1, p: 2}]\n").unwrap_err();
        assert!(
            err.contains("repeated key") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn other_errors_are_the_typed_parse_errors() {
        let err = from_str_unique::<BTreeMap<String, u8>>("a: x\n").unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
    }
}
