//! Finding the pipeline files of a workspace, as DVC finds its dvc.yaml files: any folder may
//! hold one. In each folder `pipeline.yaml` is read, or `dvc.yaml` when there is none, so a DVC
//! project works after a rename, or without one.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// The names a pipeline file may have, the preferred first.
pub const FILE_NAMES: [&str; 2] = ["pipeline.yaml", "dvc.yaml"];

/// Every pipeline file in the workspace at `root`, workspace-relative: the root's first, then by
/// path. Hidden folders (`.git`, `.cairn`, `.dvc`), `target` and folders tracked by a pointer
/// file or matched by `.cairnignore`/`.dvcignore` are not walked; only regular files count (a
/// link is not followed to a definition elsewhere), except at the root, where the file is the
/// user's own.
pub fn files(root: &Path) -> Result<Vec<String>> {
    let ignores = crate::ignore_file::Ignores::load(root)?;
    // Folder → index into FILE_NAMES of the best name found there.
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for (i, name) in FILE_NAMES.iter().enumerate() {
        if root.join(name).is_file() {
            found.entry(String::new()).or_insert(i);
        }
    }
    let walker = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            if !e.file_type().is_dir() {
                return !ignores.is_ignored(e.path(), false);
            }
            if ignores.is_ignored(e.path(), true) {
                return false;
            }
            let name = e.file_name().to_string_lossy();
            let tracked = e.path().parent().is_some_and(|p| {
                [".cairn", ".dvc"]
                    .iter()
                    .any(|s| p.join(format!("{name}{s}")).is_file())
            });
            !name.starts_with('.') && name != "target" && !tracked
        });
    for entry in walker {
        let entry = entry.map_err(|e| Error::Failed(e.to_string()))?;
        if entry.depth() < 2 || !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        let Some(rank) = FILE_NAMES.iter().position(|n| *n == name) else {
            continue;
        };
        let Some(dir) = entry
            .path()
            .parent()
            .and_then(|d| d.strip_prefix(root).ok())
            .and_then(|d| d.to_str())
        else {
            continue;
        };
        let best = found.entry(dir.to_string()).or_insert(rank);
        *best = (*best).min(rank);
    }
    Ok(found
        .into_iter()
        .map(|(dir, rank)| {
            if dir.is_empty() {
                FILE_NAMES[rank].to_string()
            } else {
                format!("{dir}/{}", FILE_NAMES[rank])
            }
        })
        .collect())
}

/// Whether `path` (workspace-relative) names a pipeline file.
pub fn is_pipeline_file(path: &str) -> bool {
    FILE_NAMES
        .iter()
        .any(|n| path == *n || path.ends_with(&format!("/{n}")))
}

/// A target as `repro`, `status`, `push` and the rest take it: a stage (`train`, or a foreach
/// group's name for all its stages), a stage of a given file (`dvc.yaml:train`,
/// `sub/pipeline.yaml:train`), or a whole file (`sub/pipeline.yaml`).
#[derive(Debug, Clone)]
pub struct Target {
    /// The stage name it selects (qualified for a file below the root), if it names one.
    name: Option<String>,
    /// The `sub/pipeline.yaml:` prefix of a whole file's stages; `None` for a stage target and
    /// `Some("")` for the root file (whose stages have no prefix).
    file_prefix: Option<String>,
}

impl Target {
    /// Reads a target as written on the command line.
    pub fn parse(target: &str) -> Target {
        let target = target.strip_prefix("./").unwrap_or(target);
        let qualify = |file: &str, stage: &str| {
            if FILE_NAMES.contains(&file) {
                stage.to_string()
            } else {
                format!("{file}:{stage}")
            }
        };
        if let Some((file, stage)) = target.rsplit_once(':')
            && is_pipeline_file(file)
        {
            let file = file.strip_prefix("./").unwrap_or(file);
            return Target {
                name: Some(qualify(file, stage)),
                file_prefix: None,
            };
        }
        if is_pipeline_file(target) {
            let prefix = if FILE_NAMES.contains(&target) {
                String::new()
            } else {
                format!("{target}:")
            };
            return Target {
                name: None,
                file_prefix: Some(prefix),
            };
        }
        Target {
            name: Some(target.to_string()),
            file_prefix: None,
        }
    }

    /// Whether stage `name` is one this target selects.
    pub fn selects(&self, name: &str) -> bool {
        match (&self.name, &self.file_prefix) {
            (Some(full), _) => {
                name == full
                    || name
                        .strip_prefix(full.as_str())
                        .is_some_and(|r| r.starts_with('@'))
            }
            (None, Some(prefix)) if prefix.is_empty() => !name.contains(':'),
            (None, Some(prefix)) => name.starts_with(prefix.as_str()),
            (None, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_stages_groups_and_files() {
        let t = Target::parse("train");
        assert!(t.selects("train") && t.selects("train@a") && !t.selects("training"));
        let t = Target::parse("dvc.yaml:train");
        assert!(t.selects("train@a") && !t.selects("sub/dvc.yaml:train"));
        let t = Target::parse("sub/dvc.yaml:train");
        assert!(t.selects("sub/dvc.yaml:train") && !t.selects("train"));
        let t = Target::parse("./sub/pipeline.yaml");
        assert!(t.selects("sub/pipeline.yaml:a") && !t.selects("a"));
        let t = Target::parse("pipeline.yaml");
        assert!(t.selects("a") && !t.selects("sub/pipeline.yaml:a"));
    }

    #[test]
    fn finds_files_and_prefers_pipeline_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "dvc.yaml",
            "a/dvc.yaml",
            "a/pipeline.yaml",
            "b/c/dvc.yaml",
            ".git/dvc.yaml",
            "target/dvc.yaml",
            "data/dvc.yaml",
        ] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), "").unwrap();
        }
        std::fs::write(root.join("data.cairn"), "").unwrap();
        assert_eq!(
            files(root).unwrap(),
            ["dvc.yaml", "a/pipeline.yaml", "b/c/dvc.yaml"]
        );
    }
}
