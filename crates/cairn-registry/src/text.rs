//! The registry file's text. cairn writes one layout: YAML whose versions and alias moves are
//! one JSON-style flow mapping per line, so that registering or promoting adds exactly one line
//! to a `git diff`, and a registry of 10,000 versions (some 5 MB) reads in milliseconds.
//!
//! Why two readers: a YAML parser reads such a file at about 35 MB/s here, 150 ms for 10,000
//! versions, while every `cairn models` command and every `serve --model models:/…` start has
//! to read it whole. Lines in the layout cairn writes are read by a line scanner that hands each
//! entry to serde_json (ten times faster); any line that is not in that layout (a hand edit in
//! block style, a comment at the end of a line, a YAML formatter's output) sends the whole file
//! to the YAML parser instead, which accepts every way of writing the same data. Both give the
//! same [`RegistryData`]; the scanner also knows each entry's line, for messages.

use std::collections::{BTreeMap, HashMap};
use std::io;

use serde::{Deserialize, Serialize};

use crate::file::{AliasMove, FORMAT, Place, RegisteredModel, RegistryData, Version};
use crate::names::yaml_key;

/// The first lines of every registry file cairn writes.
const HEADER: &str = "\
# The model registry of this workspace, written by `cairn models`. Review it like code: each
# registration and each alias move appends one line; aliases are where their history left them.
";

/// What was read, and where each entry was.
#[derive(Debug, Default)]
pub struct Read {
    /// The registry.
    pub data: RegistryData,
    /// The line of each place, when the scanner read the file (none when YAML did).
    lines: HashMap<Place, usize>,
    /// The text, for finding lines the scanner did not record.
    text: String,
}

impl Read {
    /// The line `place` is on, when it can be told.
    pub fn line(&self, place: &Place) -> Option<usize> {
        self.lines
            .get(place)
            .copied()
            .or_else(|| self.search(place))
    }

    /// A model's or an alias's line found by its key, for files the YAML parser read.
    fn search(&self, place: &Place) -> Option<usize> {
        let key_line = |key: &str, from: usize| {
            let key = format!("{}:", yaml_key(key));
            self.text
                .lines()
                .enumerate()
                .skip(from)
                .find(|(_, l)| l.trim_start().starts_with(&key))
                .map(|(i, _)| i + 1)
        };
        match place {
            Place::Model(name) => key_line(name, 0),
            Place::Alias(name, alias) => key_line(alias, key_line(name, 0)?),
            Place::Version(name, _) | Place::Move(name, _) => key_line(name, 0),
        }
    }
}

/// Writes `data` in cairn's layout.
pub fn write(data: &RegistryData) -> String {
    // About 500 bytes a version: one allocation for a big registry.
    let entries: usize = data
        .models
        .values()
        .map(|m| m.versions.len() + m.history.len())
        .sum();
    let mut out = String::with_capacity(HEADER.len() + 64 + entries * 512);
    out.push_str(HEADER);
    out.push_str(&format!("format: {FORMAT}\n"));
    if data.models.is_empty() {
        out.push_str("models: {}\n");
        return out;
    }
    out.push_str("models:\n");
    for (name, model) in &data.models {
        out.push_str(&format!("  {}:\n", yaml_key(name)));
        if model.aliases.is_empty() {
            out.push_str("    aliases: {}\n");
        } else {
            out.push_str("    aliases:\n");
            for (alias, version) in &model.aliases {
                out.push_str(&format!("      {}: {version}\n", yaml_key(alias)));
            }
        }
        list(&mut out, "versions", &model.versions);
        list(&mut out, "history", &model.history);
    }
    out
}

/// `    NAME:` and one `      - {…}` line per item.
fn list<T: Serialize>(out: &mut String, name: &str, items: &[T]) {
    if items.is_empty() {
        out.push_str(&format!("    {name}: []\n"));
        return;
    }
    out.push_str(&format!("    {name}:\n"));
    for item in items {
        out.push_str("      - ");
        out.push_str(&flow_line(item));
        out.push('\n');
    }
}

/// `item` as one line of JSON with a space after each `:` and `,`, which YAML reads as the
/// same flow mapping (YAML 1.1 parsers want the space after `:`).
fn flow_line<T: Serialize>(item: &T) -> String {
    struct Spaced;
    impl serde_json::ser::Formatter for Spaced {
        fn begin_array_value<W: ?Sized + io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_key<W: ?Sized + io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
            w.write_all(b": ")
        }
    }
    let mut bytes = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, Spaced);
    // Our own types, with string keys and finite numbers (checked before writing): this
    // cannot fail, and would show as an empty mapping, refused when read back, if it did.
    if item.serialize(&mut ser).is_err() {
        return "{}".into();
    }
    String::from_utf8(bytes).unwrap_or_else(|_| "{}".into())
}

/// Reads a registry file's text. `Err` is a message for the file's name to prefix.
pub fn read(text: &str) -> Result<Read, String> {
    match scan(text) {
        Some((data, lines)) => Ok(Read {
            data,
            lines,
            text: text.to_string(),
        }),
        None => Ok(Read {
            data: parse_yaml(text)?,
            lines: HashMap::new(),
            text: text.to_string(),
        }),
    }
}

/// The whole file through the YAML parser.
fn parse_yaml(text: &str) -> Result<RegistryData, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        format: u32,
        #[serde(default)]
        models: Option<BTreeMap<String, RegisteredModel>>,
    }
    let file: File = cairn_core::yaml::from_str_unique(text)?;
    check_format(file.format)?;
    Ok(RegistryData {
        models: file.models.unwrap_or_default(),
    })
}

fn check_format(format: u32) -> Result<(), String> {
    if format == FORMAT {
        Ok(())
    } else {
        Err(format!(
            "format {format} is not one this cairn reads (it reads format {FORMAT}); a newer cairn wrote it: upgrade cairn"
        ))
    }
}

/// The scanner: `None` as soon as a line is not in cairn's layout (the YAML parser reads such
/// files), or an entry is not what cairn writes.
fn scan(text: &str) -> Option<(RegistryData, HashMap<Place, usize>)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    let (_, format) = lines.next()?;
    check_format(format.strip_prefix("format: ")?.parse().ok()?).ok()?;
    let mut data = RegistryData::default();
    let mut places = HashMap::new();
    match lines.next() {
        None => return Some((data, places)),
        Some((_, "models: {}")) => return lines.next().is_none().then_some((data, places)),
        Some((_, "models:")) => {}
        Some(_) => return None,
    }
    while let Some((line, heading)) = lines.next() {
        let name = key(heading.strip_prefix("  ")?.strip_suffix(':')?)?;
        let mut model = RegisteredModel::default();
        places.insert(Place::Model(name.clone()), line);
        match lines.next()?.1 {
            "    aliases: {}" => {}
            "    aliases:" => {
                while let Some((line, entry)) = lines.next_if(|(_, l)| l.starts_with("      ")) {
                    let (alias, version) = entry.trim_start().split_once(": ")?;
                    let alias = key(alias)?;
                    let version = version.parse().ok()?;
                    places.insert(Place::Alias(name.clone(), alias.clone()), line);
                    if model.aliases.insert(alias, version).is_some() {
                        return None;
                    }
                }
            }
            _ => return None,
        }
        model.versions = items::<Version>(&mut lines, "versions", |i, line| {
            places.insert(Place::Version(name.clone(), i), line);
        })?;
        model.history = items::<AliasMove>(&mut lines, "history", |i, line| {
            places.insert(Place::Move(name.clone(), i), line);
        })?;
        if data.models.insert(name, model).is_some() {
            return None;
        }
    }
    Some((data, places))
}

/// `    NAME: []`, or `    NAME:` and its `      - {…}` lines.
fn items<'a, T: serde::de::DeserializeOwned>(
    lines: &mut std::iter::Peekable<impl Iterator<Item = (usize, &'a str)>>,
    name: &str,
    mut place: impl FnMut(usize, usize),
) -> Option<Vec<T>> {
    let (_, heading) = lines.next()?;
    let heading = heading.strip_prefix("    ")?.strip_prefix(name)?;
    if heading == ": []" {
        return Some(Vec::new());
    }
    if heading != ":" {
        return None;
    }
    let mut items = Vec::new();
    while let Some((line, entry)) = lines.next_if(|(_, l)| l.starts_with("      - {")) {
        let json = entry.strip_prefix("      - ")?;
        place(items.len(), line);
        items.push(serde_json::from_str(json).ok()?);
    }
    Some(items)
}

/// A key as [`yaml_key`] writes it: plain, or a JSON string.
fn key(text: &str) -> Option<String> {
    let key = if text.starts_with('"') {
        serde_json::from_str::<String>(text).ok()?
    } else {
        text.to_string()
    };
    // Only what the writer would write that way: anything else is the YAML parser's to read.
    (yaml_key(&key) == text).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{Action, ModelFormat};
    use cairn_core::digest::Digest;

    fn version(n: u32) -> Version {
        Version {
            version: n,
            digest: Digest::of_bytes(&n.to_le_bytes()),
            size: 1234,
            format: ModelFormat::Cairn,
            task: Some("classification".into()),
            algorithm: Some("forest".into()),
            source: "models/model.json".into(),
            metrics: [
                ("accuracy".to_string(), 0.9666666666666667),
                ("tiny".to_string(), 1e-5),
            ]
            .into(),
            stage: Some("select".into()),
            params: [
                ("select.metric".to_string(), serde_json::json!("accuracy")),
                ("lr".to_string(), serde_json::json!(1e-5)),
                (
                    "weird key: \"x\"".to_string(),
                    serde_json::json!([1, "a b", null]),
                ),
            ]
            .into(),
            run: Some(Digest::of_bytes(b"run")),
            commit: Some("0123456789abcdef0123456789abcdef01234567+dirty".into()),
            by: "Ada Lovelace".into(),
            at: "2026-12-06T19:24:45Z".into(),
            message: Some("new data: 'quoted', \"double\", ünïcode, #hash, {braces}".into()),
        }
    }

    fn sample() -> RegistryData {
        let mut iris = RegisteredModel {
            versions: vec![version(1), version(2)],
            ..RegisteredModel::default()
        };
        iris.aliases.insert("production".into(), 2);
        iris.history.push(AliasMove {
            alias: "production".into(),
            action: Action::Promote,
            from: None,
            to: Some(2),
            by: "ci".into(),
            at: "2026-12-06T19:30:00Z".into(),
            why: Some("wins on f1_macro".into()),
        });
        let mut data = RegistryData::default();
        data.models.insert("iris".into(), iris);
        data.models.insert("1.0".into(), RegisteredModel::default());
        data
    }

    #[test]
    fn what_cairn_writes_both_readers_read_the_same() {
        let data = sample();
        let text = write(&data);
        let (scanned, lines) = scan(&text).expect("the scanner reads cairn's layout");
        assert_eq!(scanned, data);
        assert_eq!(parse_yaml(&text).expect("YAML reads it too"), data);
        let line = lines[&Place::Version("iris".into(), 1)];
        assert!(
            text.lines()
                .nth(line - 1)
                .is_some_and(|l| l.contains("\"version\": 2"))
        );
        assert_eq!(
            write(&RegistryData::default()),
            format!("{HEADER}format: 1\nmodels: {{}}\n")
        );
        assert_eq!(
            read(&write(&RegistryData::default())).map(|r| r.data),
            Ok(RegistryData::default())
        );
    }

    #[test]
    fn a_hand_edit_in_block_style_is_read_by_the_yaml_parser() {
        let data = sample();
        let text = write(&data).replace(
            "      production: 2\n",
            "      production: 2   # moved after the incident\n",
        );
        assert!(scan(&text).is_none());
        let read = read(&text).expect("valid YAML");
        assert_eq!(read.data, data);
        assert_eq!(
            read.line(&Place::Alias("iris".into(), "production".into())),
            Some(
                text.lines()
                    .position(|l| l.contains("production: 2"))
                    .map(|i| i + 1)
                    .unwrap_or(0)
            )
        );
    }

    #[test]
    fn repeated_keys_and_newer_formats_are_refused() {
        let text = write(&sample());
        let twice = text.replace(
            "      production: 2\n",
            "      production: 2\n      production: 1\n",
        );
        let e = read(&twice).expect_err("duplicate alias");
        assert!(e.contains("production"), "{e}");
        let newer = text.replace("format: 1", "format: 2");
        assert!(read(&newer).expect_err("newer").contains("upgrade cairn"));
    }
}
