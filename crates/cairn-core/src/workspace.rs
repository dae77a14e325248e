//! The workspace: the folder holding `pipeline.yaml` and `.cairn/`, found by walking up from the
//! current directory, and the process lock that keeps two cairn processes from writing it at once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::{Error, IoContext, Result};

/// Name of the folder that marks a workspace.
pub const DOT_DIR: &str = ".cairn";

/// The model registry at the workspace root (written by `cairn models`, committed).
pub const REGISTRY_FILE: &str = "cairn-registry.yaml";

/// The lock file at the workspace root.
pub const LOCK_FILE: &str = "pipeline.lock";

/// Set by `cairn exp run` for the repro it runs in an experiment's copy of the workspace: the
/// `.cairn/` folder (absolute) whose cache, run-cache and staging folder that copy shares, so
/// that what one experiment computed another restores. Only cairn sets it, for its own child
/// process; a workspace's files cannot.
pub const SHARED_STORE_ENV: &str = "CAIRN_SHARED_STORE";

/// Set by `cairn repro` for the commands of a stage: the stage's name.
pub const REPRO_STAGE_ENV: &str = "CAIRN_REPRO_STAGE";
/// Set by `cairn repro` for the commands of a stage: the pid of the repro, which holds the
/// workspace lock while they run.
pub const REPRO_PID_ENV: &str = "CAIRN_REPRO_PID";

/// A cairn workspace on disk.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The folder holding `pipeline.yaml` and `.cairn/`.
    pub root: PathBuf,
}

impl Workspace {
    /// Finds the workspace containing `start` by walking up to the first folder with `.cairn/`.
    pub fn find(start: &Path) -> Result<Workspace> {
        let start = std::fs::canonicalize(start).at(start)?;
        let mut dir = start.as_path();
        loop {
            if std::fs::symlink_metadata(dir.join(DOT_DIR)).is_ok() {
                let ws = Workspace {
                    root: dir.to_path_buf(),
                };
                ws.check_own_parts()?;
                ws.remove_stale_temps();
                return Ok(ws);
            }
            match dir.parent() {
                Some(parent) => dir = parent,
                None => return Err(Error::NoWorkspace(start)),
            }
        }
    }

    /// The workspace containing the current directory.
    pub fn current() -> Result<Workspace> {
        Workspace::current_with_cwd().map(|(ws, _)| ws)
    }

    /// The workspace containing the current directory, and that directory (paths on the
    /// command line are relative to it).
    pub fn current_with_cwd() -> Result<(Workspace, PathBuf)> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::Failed(format!("current directory: {e}")))?;
        Ok((Workspace::find(&cwd)?, cwd))
    }

    /// Creates `.cairn/` in `dir` (idempotent) and returns the workspace.
    pub fn init(dir: &Path) -> Result<(Workspace, bool)> {
        let root = std::fs::canonicalize(dir).at(dir)?;
        let ws = Workspace { root };
        ws.check_own_parts()?;
        let existed = ws.dot().is_dir();
        for sub in [ws.dot(), ws.cache_dir(), ws.tmp_dir(), ws.runs_dir()] {
            std::fs::create_dir_all(&sub).at(&sub)?;
        }
        let config = ws.config_path(false);
        if !config.exists() {
            crate::atomic::write(&config, b"# cairn settings: remotes, cache link type\n")?;
        }
        // What stays out of git inside .cairn/: everything but the committed config.
        let ignore = ws.dot().join(".gitignore");
        if !ignore.exists() {
            crate::atomic::write(
                &ignore,
                b"/cache/\n/tmp/\n/runs/\n/state\n/lock\n/registry.lock\n/exps/\n/config.local.yaml\n",
            )?;
        }
        Ok((ws, existed))
    }

    /// `.cairn/`.
    pub fn dot(&self) -> PathBuf {
        self.root.join(DOT_DIR)
    }
    /// The object cache, `.cairn/cache/`.
    pub fn cache_dir(&self) -> PathBuf {
        self.store_dot().join("cache")
    }
    /// Partial writes, renamed into place when complete.
    pub fn tmp_dir(&self) -> PathBuf {
        self.store_dot().join("tmp")
    }
    /// Run-cache entries.
    pub fn runs_dir(&self) -> PathBuf {
        self.store_dot().join("runs")
    }
    /// Where the cache, run-cache and staging folder are: `.cairn/`, or the one
    /// [`SHARED_STORE_ENV`] names (an absolute path to a folder).
    fn store_dot(&self) -> PathBuf {
        match std::env::var_os(SHARED_STORE_ENV).map(PathBuf::from) {
            Some(shared) if shared.is_absolute() && shared.is_dir() => shared,
            _ => self.dot(),
        }
    }
    /// Local copies of the pack indexes of remotes (`.cairn/cache/packs/v1`): only a speed-up.
    pub fn pack_index_dir(&self) -> PathBuf {
        self.cache_dir().join("packs").join("v1")
    }
    /// The state table of known file digests.
    pub fn state_path(&self) -> PathBuf {
        self.dot().join("state")
    }
    /// The root's pipeline file: `pipeline.yaml`, or `dvc.yaml` when only that exists.
    pub fn pipeline_path(&self) -> PathBuf {
        let dvc = self.root.join("dvc.yaml");
        let own = self.root.join("pipeline.yaml");
        if !own.exists() && dvc.exists() {
            dvc
        } else {
            own
        }
    }
    /// `pipeline.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }
    /// The model registry, [`REGISTRY_FILE`].
    pub fn registry_path(&self) -> PathBuf {
        self.root.join(REGISTRY_FILE)
    }
    /// `params.yaml`, the default params file.
    pub fn params_path(&self) -> PathBuf {
        self.root.join("params.yaml")
    }

    /// `.cairn/config.yaml` (committed), or with `local` `.cairn/config.local.yaml` (not: where
    /// credentials go).
    pub fn config_path(&self, local: bool) -> PathBuf {
        self.dot().join(if local {
            "config.local.yaml"
        } else {
            "config.yaml"
        })
    }

    /// Reads `.cairn/config.yaml` with `.cairn/config.local.yaml` laid over it.
    pub fn config(&self) -> Result<Config> {
        let mut config = Config::read(&self.config_path(false))?;
        let local = Config::read(&self.config_path(true))?;
        config.merge(local);
        Ok(config)
    }

    /// Refuses a workspace whose own parts (`.cairn/` and what cairn keeps in it) are symbolic
    /// links or not what they should be: a committed `.cairn/cache -> /somewhere` would make
    /// cairn write into, or `gc` delete from, wherever it points.
    fn check_own_parts(&self) -> Result<()> {
        let dot = self.dot();
        let parts = [
            (dot.clone(), true),
            (self.cache_dir(), true),
            (self.cache_dir().join(crate::cache::LAYOUT), true),
            (self.cache_dir().join("packs"), true),
            (self.tmp_dir(), true),
            (self.runs_dir(), true),
            (self.runs_dir().join(crate::repro::run_cache::LAYOUT), true),
            (self.state_path(), false),
            (dot.join("lock"), false),
            (self.config_path(false), false),
            (self.config_path(true), false),
        ];
        for (path, folder) in parts {
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let what = if folder { "folder" } else { "file" };
            if meta.file_type().is_symlink() || meta.is_dir() != folder {
                let kind = if meta.file_type().is_symlink() {
                    "a symbolic link"
                } else if folder {
                    "not a folder"
                } else {
                    "not a regular file"
                };
                return Err(Error::refused(
                    &path,
                    format!(
                        "is {kind}; cairn keeps its own files only in a real {what} inside the                          workspace: remove it (cairn rebuilds caches with `cairn pull` or                          `cairn repro`) and run `cairn init`"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Takes the workspace's exclusive lock, waiting (and saying so on stderr) while another
    /// cairn process holds it. Released when the returned guard drops, or when the process dies.
    pub fn lock(&self, what: &str) -> Result<WorkspaceLock> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dot().join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .at(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                if let Some(e) = inside_repro(holder, what) {
                    return Err(e);
                }
                crate::report::err(format!(
                    "cairn: waiting for another cairn process ({}) to release {} before {what}",
                    if holder.is_empty() { "unknown" } else { holder },
                    path.display()
                ));
                file.lock().at(&path)?;
            }
            Err(TryLockError::Error(e)) => return Err(e).at(&path),
        }
        // Who holds it, for the message another process prints while it waits.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "pid {}, {what}", std::process::id());
        Ok(WorkspaceLock { _file: file })
    }

    /// Removes what cairn processes that died (`kill -9`, a power cut) left in the places cairn
    /// writes through temporary files: `.cairn/tmp/`, and the folders of the files it replaces
    /// atomically (the root, `.cairn/`, pack index copies, run-cache entries). Every command does
    /// this when it finds the workspace; no lock is needed, as only files whose writer is gone
    /// are removed.
    pub fn remove_stale_temps(&self) {
        crate::confine::remove_stale_temps(&self.tmp_dir(), false);
        for dir in [
            self.root.clone(),
            self.dot(),
            self.pack_index_dir(),
            self.runs_dir().join(crate::repro::run_cache::LAYOUT),
        ] {
            crate::confine::remove_stale_temps(&dir, true);
        }
    }
}

/// The error for a command run by a stage of the `cairn repro` that holds the lock (`holder`
/// is what the lock file says: `pid N, repro`): waiting would be waiting forever, for the
/// process that waits for this one.
fn inside_repro(holder: &str, what: &str) -> Option<Error> {
    let stage = std::env::var(REPRO_STAGE_ENV).ok()?;
    let repro = std::env::var(REPRO_PID_ENV).ok()?;
    let held_by = holder.strip_prefix("pid ")?.split(',').next()?.trim();
    if held_by != repro.trim() {
        return None;
    }
    let instead = if what == "add" {
        "declare the path as an out of the stage instead".to_string()
    } else {
        format!("run `cairn {what}` before or after `cairn repro`, not from a stage")
    };
    Some(Error::Usage(format!(
        "`cairn {what}` cannot run inside stage '{stage}' while `cairn repro` holds the \
         workspace lock; {instead}"
    )))
}

/// Normalises a workspace-relative path (`./a//b/../c` → `a/c`), refusing absolute paths and
/// paths that leave the workspace.
pub fn normalize_relative(path: &str) -> std::result::Result<String, String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if Path::new(path).is_absolute() || path.starts_with('/') || path.starts_with('\\') {
        return Err(format!(
            "'{path}' is absolute; paths are relative to the workspace root"
        ));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("'{path}' leaves the workspace"));
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(format!("'{path}' is the workspace root itself"));
    }
    Ok(parts.join("/"))
}

/// Normalises an absolute path (an external dependency, as DVC allows): `/a//b/./c` →
/// `/a/b/c`. `..` is refused rather than resolved (through a symbolic link it would not mean
/// what the text says), and so is the root folder.
pub fn normalize_absolute(path: &str) -> std::result::Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("'{path}' is not an absolute path"));
    }
    if path.contains('\0') {
        return Err("a path holds a NUL character".into());
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "'{path}' holds '..'; write an absolute path without '..'"
                ));
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(format!(
            "'{path}' is the root folder; name a file or folder in it"
        ));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Held while a command writes the workspace.
#[derive(Debug)]
pub struct WorkspaceLock {
    _file: File,
}

/// `.cairn/config.yaml`: remotes and cache settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings of the core: the default remote.
    #[serde(default, skip_serializing_if = "Core::is_empty")]
    pub core: Core,
    /// How cached files are placed in the workspace.
    #[serde(default, skip_serializing_if = "CacheSettings::is_empty")]
    pub cache: CacheSettings,
    /// Remotes by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remotes: BTreeMap<String, RemoteSettings>,
}

/// `core:` section of the config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Core {
    /// Name of the remote used when `--remote` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

impl Core {
    fn is_empty(&self) -> bool {
        self.remote.is_none()
    }
}

// A setting of the workspace's config, which the cache reads (not the reverse).
/// How a cached object is placed in the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkType {
    /// A copy-on-write clone: instant, no extra space, where the file system supports it.
    Reflink,
    /// A plain copy.
    Copy,
    /// A hard link to the (read-only) object.
    Hardlink,
    /// A symbolic link to the (read-only) object.
    Symlink,
}

/// `cache:` section of the config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Link types to try in order when placing a cached file: reflink, copy, hardlink, symlink.
    /// Default: reflink, then copy.
    #[serde(default, rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub link_types: Vec<LinkType>,
}

impl CacheSettings {
    fn is_empty(&self) -> bool {
        self.link_types.is_empty()
    }
}

/// One remote: its URL and settings (`endpoint_url`, `region`, `profile`, credentials in the
/// local config only).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RemoteSettings {
    /// A folder path or `s3://bucket/prefix`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Every other setting, by name.
    #[serde(flatten, deserialize_with = "scalar_settings")]
    pub settings: BTreeMap<String, String>,
}

/// Remote settings as text, though written by hand as YAML numbers or booleans
/// (`read_timeout: 30`); each is checked where it is used.
fn scalar_settings<'de, D>(d: D) -> std::result::Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let raw = BTreeMap::<String, serde_norway::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(key, value)| match value {
            serde_norway::Value::String(s) => Ok((key, s)),
            serde_norway::Value::Number(n) => Ok((key, n.to_string())),
            serde_norway::Value::Bool(b) => Ok((key, b.to_string())),
            _ => Err(D::Error::custom(format!(
                "setting '{key}' must be a string or a number"
            ))),
        })
        .collect()
}

impl Config {
    /// Reads a config file; a missing file is an empty config.
    pub fn read(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).at(path),
        };
        if text
            .trim()
            .lines()
            .all(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
        {
            return Ok(Config::default());
        }
        crate::yaml::from_str_unique(&text).map_err(|e| Error::invalid(path, e))
    }

    /// Writes a config file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text =
            serde_norway::to_string(self).map_err(|e| Error::invalid(path, e.to_string()))?;
        crate::atomic::write(path, text.as_bytes())
    }

    /// Lays `other` over `self`: its settings win, remotes merge key by key.
    pub fn merge(&mut self, other: Config) {
        if other.core.remote.is_some() {
            self.core.remote = other.core.remote;
        }
        if !other.cache.link_types.is_empty() {
            self.cache.link_types = other.cache.link_types;
        }
        for (name, remote) in other.remotes {
            let entry = self.remotes.entry(name).or_default();
            if !remote.url.is_empty() {
                entry.url = remote.url;
            }
            entry.settings.extend(remote.settings);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_relative;

    #[test]
    fn normalizes_and_refuses_escapes() {
        assert_eq!(normalize_relative("./a//b/../c").unwrap(), "a/c");
        assert!(normalize_relative("/etc/passwd").is_err());
        assert!(normalize_relative("a/../../b").is_err());
        assert!(normalize_relative(".").is_err());
    }

    #[test]
    fn normalizes_absolute_paths_without_dot_dot() {
        use super::normalize_absolute;
        assert_eq!(normalize_absolute("/a//b/./c/").unwrap(), "/a/b/c");
        assert!(normalize_absolute("/a/../b").is_err());
        assert!(normalize_absolute("/").is_err());
        assert!(normalize_absolute("a/b").is_err());
    }
}
