//! The path of a stage's dependency as `pipeline.lock` records it: a workspace path
//! ([`RelPath`]), or an absolute path outside the workspace (DVC's "external dependencies"),
//! which cairn hashes and never writes, deletes, checks out, caches or pushes. Outs stay
//! [`RelPath`]s: only deps may lie outside.
//!
//! Whether an outside path is read is decided by `pipeline.yaml` alone: a lock entry naming one
//! is only ever compared with the deps the pipeline declares, never hashed on its own, so a lock
//! written by someone else cannot make cairn read outside the workspace.

use std::cmp::Ordering;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rel_path::RelPath;

/// A checked dependency path: a [`RelPath`], or an absolute path in normal form (`/`-separated,
/// no empty, `.` or `..` parts, no NUL, not `/` itself).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DepPath(Kind);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Kind {
    Workspace(RelPath),
    External(String),
}

/// Where a dependency is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'a> {
    /// Inside the workspace, relative to its root.
    Workspace(&'a RelPath),
    /// Outside the workspace: an absolute path, only ever read.
    External(&'a Path),
}

impl DepPath {
    /// Normalises `path` (`./a//b` → `a/b`, `/x//y/./z` → `/x/y/z`). A relative path follows
    /// the [`RelPath`] rules; an absolute one may not hold `..` (through a symbolic link it
    /// would not mean what the text says) nor be the root folder.
    pub fn parse(path: &str) -> Result<DepPath, String> {
        if path.contains('\0') {
            return Err("a path holds a NUL character".into());
        }
        if path.starts_with('/') {
            return crate::workspace::normalize_absolute(path).map(|p| DepPath(Kind::External(p)));
        }
        RelPath::parse(path).map(|p| DepPath(Kind::Workspace(p)))
    }

    /// Where it is.
    pub fn location(&self) -> Location<'_> {
        match &self.0 {
            Kind::Workspace(rel) => Location::Workspace(rel),
            Kind::External(abs) => Location::External(Path::new(abs)),
        }
    }

    /// Whether it lies outside the workspace.
    pub fn is_external(&self) -> bool {
        matches!(self.0, Kind::External(_))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Kind::Workspace(rel) => rel.as_str(),
            Kind::External(abs) => abs,
        }
    }
}

impl From<RelPath> for DepPath {
    fn from(rel: RelPath) -> DepPath {
        DepPath(Kind::Workspace(rel))
    }
}

/// By text, as the lock sorts its deps (two equal texts are one kind: only an external path
/// starts with `/`).
impl Ord for DepPath {
    fn cmp(&self, other: &DepPath) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for DepPath {
    fn partial_cmp(&self, other: &DepPath) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for DepPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DepPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for DepPath {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<String> for DepPath {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<DepPath> for String {
    fn eq(&self, other: &DepPath) -> bool {
        self == other.as_str()
    }
}

impl Serialize for DepPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DepPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DepPath, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        let path = DepPath::parse(&text).map_err(serde::de::Error::custom)?;
        // Stored paths are written normalised; one that is not was not written by cairn.
        if path.as_str() != text {
            return Err(serde::de::Error::custom(format!(
                "path '{}' is not in normal form (expected '{}')",
                text.escape_debug(),
                path
            )));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_or_absolute_normal_and_without_dot_dot() {
        let rel = DepPath::parse("./data//x.csv").unwrap();
        assert_eq!(rel.as_str(), "data/x.csv");
        assert!(!rel.is_external());
        let abs = DepPath::parse("/data//shared/./x.csv").unwrap();
        assert_eq!(
            abs.location(),
            Location::External(Path::new("/data/shared/x.csv"))
        );
        for bad in [
            "../x",
            "a/../../x",
            "/data/../etc/passwd",
            "/",
            "//",
            "/a\0b",
            "",
        ] {
            assert!(DepPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stored_paths_must_be_in_normal_form() {
        let ok: DepPath = serde_json::from_str("\"/data/x.csv\"").unwrap();
        assert!(ok.is_external());
        let ok: DepPath = serde_json::from_str("\"data/x.csv\"").unwrap();
        assert!(!ok.is_external());
        for bad in [
            "\"/data//x\"",
            "\"/data/./x\"",
            "\"/a/../b\"",
            "\"../x\"",
            "\"a/./b\"",
        ] {
            assert!(serde_json::from_str::<DepPath>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sorted_by_text() {
        let mut paths: Vec<DepPath> = ["b", "/z", "a/c"]
            .iter()
            .map(|p| DepPath::parse(p).unwrap())
            .collect();
        paths.sort();
        let texts: Vec<&str> = paths.iter().map(DepPath::as_str).collect();
        assert_eq!(texts, ["/z", "a/c", "b"]);
    }
}
