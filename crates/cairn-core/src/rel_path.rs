//! A relative path read from a file someone else wrote (the lock, a pointer file, a directory
//! manifest, a run-cache entry): `/`-separated, normalised, never absolute, never leaving the
//! folder it is relative to. Like [`crate::digest::Digest`], it can only be made by checking,
//! and the files that hold one are read into this type, so `../evil` or `/abs/evil` is refused
//! where it is read, before anything is placed.
//!
//! Lexical confinement is half of the boundary; the other half is that no folder on the way to
//! a placed file is a symbolic link, which is checked when placing
//! ([`crate::confine::check_placeable`]).

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A checked relative path: non-empty, `/`-separated, no `.`, `..` or empty parts, no NUL.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

impl RelPath {
    /// Normalises `path` (`./a//b/../c` → `a/c`), refusing absolute paths, paths that leave
    /// the folder they are relative to, and the folder itself.
    ///
    /// Only `/` separates: on Unix a backslash is part of a file name, and a manifest lists
    /// whatever names the folder held.
    pub fn parse(path: &str) -> Result<RelPath, String> {
        if path.is_empty() {
            return Err("empty path".into());
        }
        if path.starts_with('/') {
            return Err(format!(
                "'{}' is absolute; paths are relative to the workspace root",
                path.escape_debug()
            ));
        }
        // Already normal, as every stored path and every listed file is: no second copy.
        if is_normal(path.as_bytes()) {
            return Ok(RelPath(path.to_string()));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(format!("'{}' leaves the workspace", path.escape_debug()));
                    }
                }
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Err(format!("'{}' is the folder itself", path.escape_debug()));
        }
        Ok(RelPath(parts.join("/")))
    }

    /// `self/tail`.
    pub fn join(&self, tail: &RelPath) -> RelPath {
        RelPath(format!("{}/{}", self.0, tail.0))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder holding it, if it is not at the top.
    pub fn parent(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(dir, _)| dir)
    }
}

/// Whether no part of `path` is empty, `.` or `..` (one pass over the bytes: this runs for every
/// file of a tracked folder on every status).
fn is_normal(path: &[u8]) -> bool {
    path.split(|&b| b == b'/')
        .all(|part| !matches!(part, b"" | b"." | b".."))
}

impl Deref for RelPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for RelPath {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl PartialEq<str> for RelPath {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for RelPath {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for RelPath {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<RelPath> for String {
    fn eq(&self, other: &RelPath) -> bool {
        *self == other.0
    }
}

impl PartialEq<RelPath> for str {
    fn eq(&self, other: &RelPath) -> bool {
        self == other.0
    }
}

impl Serialize for RelPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RelPath, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        if text.contains('\0') {
            return Err(serde::de::Error::custom("a path holds a NUL character"));
        }
        // Stored paths are written normalised; one that is not was not written by cairn.
        let path = RelPath::parse(&text).map_err(serde::de::Error::custom)?;
        if path.0 != *text {
            return Err(serde::de::Error::custom(format!(
                "path '{}' is not in normal form (expected '{}')",
                text.escape_debug(),
                path.0
            )));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_paths_must_be_relative_normal_and_inside() {
        let ok: RelPath = serde_json::from_str("\"data/x.csv\"").unwrap();
        assert_eq!(ok, "data/x.csv");
        for bad in [
            "\"../evil\"",
            "\"/abs/evil\"",
            "\"a/../../evil\"",
            "\"a/./b\"",
            "\"\"",
            "\".\"",
            "\"a\\u0000b\"",
        ] {
            assert!(serde_json::from_str::<RelPath>(bad).is_err(), "{bad}");
        }
    }
}
