//! Data tracked by pointer files: cairn's `PATH.cairn` (`cairn add`) and DVC's `PATH.dvc`
//! (`dvc add`; read, never written, so that a DVC project's data stays tracked after the
//! rename). Such data is an input like any other, and more: `status` reports it when it is
//! missing (naming the pointer and what brings the data back) or differs from its pointer, and
//! `repro` refuses to start a stage whose dep is tracked data that is missing, saying the same,
//! instead of calling the pipeline invalid.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::dvc_file::{Comparison, DvcFile, DvcOut};
use crate::error::{IoContext, Result};
use crate::hash::Hasher;
use crate::lock::LockedPath;
use crate::pointer::Pointer;
use crate::rel_path::RelPath;

/// Which tool wrote a pointer file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `PATH.cairn`, written by `cairn add`.
    Cairn,
    /// `PATH.dvc`, written by `dvc add`.
    Dvc,
}

impl Kind {
    /// The pointer file name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Kind::Cairn => crate::pointer::SUFFIX,
            Kind::Dvc => crate::dvc_file::SUFFIX,
        }
    }

    /// The kind of pointer file `name` is, if it is one (a bare `.dvc` or `.cairn` is not).
    fn of(name: &str) -> Option<Kind> {
        [Kind::Cairn, Kind::Dvc].into_iter().find(|k| {
            name.strip_suffix(k.suffix())
                .is_some_and(|stem| !stem.is_empty())
        })
    }
}

/// One path a pointer file tracks.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The pointer file, workspace-relative.
    pub pointer: String,
    /// The data, workspace-relative.
    pub path: RelPath,
    record: Record,
}

#[derive(Debug, Clone)]
enum Record {
    Cairn(LockedPath),
    Dvc(DvcOut),
}

/// How tracked data compares with its pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DataState {
    /// As recorded.
    Present,
    /// Not in the workspace.
    Missing,
    /// Different from what the pointer records.
    Modified {
        /// What differs.
        detail: String,
    },
    /// The pointer records no hash to compare with (`dvc add --no-commit`, partial imports).
    Unrecorded,
}

impl Tracked {
    /// Which tool's pointer tracks it.
    pub fn kind(&self) -> Kind {
        match self.record {
            Record::Cairn(_) => Kind::Cairn,
            Record::Dvc(_) => Kind::Dvc,
        }
    }

    /// Compares the data in the workspace at `root` with its pointer: BLAKE3 through the state
    /// table for a `.cairn` pointer, DVC's MD5 (computed now, never remembered) for a `.dvc`.
    pub fn state(&self, root: &Path, hasher: &Hasher) -> Result<DataState> {
        let abs = root.join(&self.path);
        match std::fs::metadata(&abs) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DataState::Missing),
            Err(e) => return Err(e).at(&abs),
        }
        Ok(match &self.record {
            Record::Cairn(locked) => match hasher.hash(&self.path)? {
                None => DataState::Missing,
                Some(now) if now.digest == locked.digest => DataState::Present,
                Some(now) => DataState::Modified {
                    detail: format!(
                        "BLAKE3 {}…, recorded {}…",
                        now.digest.short(),
                        locked.digest.short()
                    ),
                },
            },
            Record::Dvc(out) => match out.compare(&abs)? {
                Comparison::Same => DataState::Present,
                Comparison::Differs(detail) => DataState::Modified { detail },
                Comparison::Unrecorded => DataState::Unrecorded,
            },
        })
    }

    /// What brings the data back to what its pointer records, or records it as it is.
    pub fn fix(&self, state: &DataState) -> String {
        let (pointer, path) = (&self.pointer, &self.path);
        match (self.kind(), state) {
            (_, DataState::Present) => String::new(),
            (Kind::Cairn, DataState::Missing | DataState::Unrecorded) => format!(
                "run `cairn checkout {pointer}` (`cairn pull {pointer}` if the cache lacks it)"
            ),
            (Kind::Cairn, DataState::Modified { .. }) => format!(
                "run `cairn add {path}` to record it as it is, or `cairn checkout {pointer}` to \
                 bring back what is recorded"
            ),
            (Kind::Dvc, DataState::Missing) => format!(
                "run `dvc pull {pointer}`, or put the data back and run `cairn add {path}` to \
                 track it with cairn"
            ),
            (Kind::Dvc, DataState::Modified { .. }) => format!(
                "run `cairn add {path}` to track it with cairn as it is (or `dvc add {path}`), \
                 or `dvc checkout {pointer}` to bring back what is recorded"
            ),
            (Kind::Dvc, DataState::Unrecorded) => format!(
                "{pointer} records no MD5 for it: run `cairn add {path}` to track it with cairn \
                 (or `dvc commit {pointer}`)"
            ),
        }
    }
}

/// What the pointer file at workspace-relative `rel` tracks, workspace-relative.
pub fn read(root: &Path, rel: &str, kind: Kind) -> Result<Vec<Tracked>> {
    let abs = root.join(rel);
    let dir = RelPath::parse(rel)
        .ok()
        .and_then(|p| p.parent().and_then(|d| RelPath::parse(d).ok()));
    let within = |path: &RelPath| match &dir {
        Some(dir) => dir.join(path),
        None => path.clone(),
    };
    Ok(match kind {
        Kind::Cairn => Pointer::read(&abs)?
            .workspace_outs(rel)
            .into_iter()
            .map(|out| Tracked {
                pointer: rel.to_string(),
                path: out.path.clone(),
                record: Record::Cairn(out),
            })
            .collect(),
        Kind::Dvc => DvcFile::read(&abs, rel)?
            .outs
            .into_iter()
            .map(|out| Tracked {
                pointer: rel.to_string(),
                path: within(&out.path),
                record: Record::Dvc(out),
            })
            .collect(),
    })
}

/// Every path tracked by a pointer file of either kind in the workspace at `root`, sorted by
/// pointer file. Not walked: hidden folders (`.git`, `.cairn`, `.dvc`), `target`, folders a
/// pointer tracks, what `.cairnignore`/`.dvcignore` name, and the workspace-relative folders in
/// `skip` (stage outs: what a stage makes is the stage's, and can be large).
pub fn find_all(root: &Path, skip: &BTreeSet<&str>) -> Result<Vec<Tracked>> {
    let ignores = crate::ignore_file::Ignores::load(root)?;
    let mut pointers = Vec::new();
    walk(root, "", skip, &ignores, &mut pointers)?;
    let mut found = Vec::new();
    for (rel, kind) in pointers {
        found.extend(read(root, &rel, kind)?);
    }
    found.sort_by(|a, b| (&a.pointer, &a.path).cmp(&(&b.pointer, &b.path)));
    Ok(found)
}

/// Appends the pointer files under the workspace folder `rel` (`""`: the root) to `found`.
/// Every `status` runs this over the workspace, so it only reads folders (the entry types come
/// with the names) and stats nothing.
fn walk(
    root: &Path,
    rel: &str,
    skip: &BTreeSet<&str>,
    ignores: &crate::ignore_file::Ignores,
    found: &mut Vec<(String, Kind)>,
) -> Result<()> {
    let dir = root.join(rel);
    // The pointer files here, and the folders: most entries are neither, and are dropped.
    let mut pointers = BTreeSet::new();
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(&dir).at(&dir)? {
        let entry = entry.at(&dir)?;
        let file_type = entry.file_type().at(&entry.path())?;
        // A link is neither a pointer file nor a folder to walk.
        if !file_type.is_dir() && !file_type.is_file() {
            continue;
        }
        let name = entry.file_name();
        let bytes = name.as_encoded_bytes();
        if file_type.is_file()
            && !(bytes.ends_with(crate::pointer::SUFFIX.as_bytes())
                || bytes.ends_with(crate::dvc_file::SUFFIX.as_bytes()))
        {
            continue;
        }
        // Names that are not UTF-8 cannot be a pointer's, nor hold one cairn could name.
        let Ok(name) = name.into_string() else {
            continue;
        };
        if file_type.is_dir() {
            dirs.push(name);
        } else if let Some(kind) = Kind::of(&name) {
            pointers.insert((name, kind));
        }
    }
    let at = |name: &str| {
        if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        }
    };
    for (name, kind) in &pointers {
        let path = at(name);
        if !ignores.is_ignored(&root.join(&path), false) {
            found.push((path, *kind));
        }
    }
    for name in dirs {
        let tracked = [Kind::Cairn, Kind::Dvc]
            .into_iter()
            .any(|k| pointers.contains(&(format!("{name}{}", k.suffix()), k)));
        let sub = at(&name);
        if name.starts_with('.')
            || name == "target"
            || tracked
            || skip.contains(sub.as_str())
            || ignores.is_ignored(&root.join(&sub), true)
        {
            continue;
        }
        walk(root, &sub, skip, ignores, found)?;
    }
    Ok(())
}

/// The pointer file tracking the workspace path `rel`, itself or a folder holding it:
/// `rel.cairn` or `rel.dvc` beside it, else beside each folder on the way, innermost first.
/// Looks at a few names only, never walks.
pub fn tracking(root: &Path, rel: &str) -> Result<Option<Tracked>> {
    let Ok(rel) = RelPath::parse(rel) else {
        return Ok(None);
    };
    let mut candidates: Vec<&str> = vec![rel.as_str()];
    candidates.extend(
        rel.match_indices('/')
            .map(|(i, _)| &rel.as_str()[..i])
            .rev(),
    );
    for candidate in candidates {
        for kind in [Kind::Cairn, Kind::Dvc] {
            let pointer = format!("{candidate}{}", kind.suffix());
            if !std::fs::symlink_metadata(root.join(&pointer)).is_ok_and(|m| m.is_file()) {
                continue;
            }
            if let Some(t) = read(root, &pointer, kind)?
                .into_iter()
                .find(|t| t.path == candidate)
            {
                return Ok(Some(t));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_names() {
        assert_eq!(Kind::of("raw.csv.dvc"), Some(Kind::Dvc));
        assert_eq!(Kind::of("raw.csv.cairn"), Some(Kind::Cairn));
        assert_eq!(Kind::of(".dvc"), None);
        assert_eq!(Kind::of("raw.csv"), None);
    }

    #[test]
    fn finds_the_pointer_of_a_path_or_of_a_folder_holding_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(
            root.join("data/imgs.dvc"),
            "outs:\n- md5: 1bcd3c4936f01e9ebd283b52d7a5f4bb.dir\n  hash: md5\n  path: imgs\n",
        )
        .unwrap();
        let t = tracking(root, "data/imgs/sub/a.png").unwrap().unwrap();
        assert_eq!(
            (t.pointer.as_str(), t.path.as_str()),
            ("data/imgs.dvc", "data/imgs")
        );
        assert_eq!(t.kind(), Kind::Dvc);
        assert!(tracking(root, "data/other").unwrap().is_none());
        // A pointer that tracks another path does not track this one.
        std::fs::write(root.join("data/x.dvc"), "outs:\n- path: y\n").unwrap();
        assert!(tracking(root, "data/x").unwrap().is_none());
        let all = find_all(root, &BTreeSet::new()).unwrap();
        let paths: Vec<&str> = all.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths, ["data/imgs", "data/y"]);
        assert_eq!(
            t.state(root, &Hasher::new(root, Default::default()))
                .unwrap(),
            DataState::Missing
        );
    }
}
