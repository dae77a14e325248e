//! Configured remotes: adding, listing, removing and changing them, and opening one.
//! Remotes live in `.cairn/config.yaml` (committed); credentials only ever in
//! `.cairn/config.local.yaml` (git-ignored), whatever the command line says.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::error::{Error, Result};
use cairn_core::workspace::{Config, RemoteSettings, Workspace};

use super::backend::Remote;
use super::folder::FolderRemote;
use super::s3::{S3Remote, S3Settings, Timeouts};
use super::watch::Watched;

/// Settings a remote accepts besides `url`.
pub const KEYS: &[&str] = &[
    "url",
    "endpoint_url",
    "region",
    "profile",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "connect_timeout",
    "read_timeout",
];

/// Settings that are a number of seconds to wait (S3 only).
pub const TIMEOUT_KEYS: &[&str] = &["connect_timeout", "read_timeout"];

/// The longest timeout accepted, in seconds (a day).
const MAX_TIMEOUT: f64 = 86_400.0;

/// Settings that are secrets: written to the local config only, never printed.
pub const SECRET_KEYS: &[&str] = &["access_key_id", "secret_access_key", "session_token"];

/// Requests in flight to an S3 remote when `--jobs` is not given. Each one mostly waits on the
/// network (tens of milliseconds per small object), not on the CPU, so many more than the
/// cores pay off: on loopback, 201 small downloads took 1.0 s with 8 and 0.22 s with 64.
const S3_JOBS: usize = 64;

/// A remote ready to use.
pub struct OpenRemote {
    /// Its name in the config.
    pub name: String,
    /// The store.
    pub store: Box<dyn Remote>,
    /// Transfers at once when `--jobs` is not given.
    pub default_jobs: usize,
    /// What it is and where, for messages: `folder /path`, `s3://bucket/prefix at ENDPOINT`.
    pub place: String,
}

/// Where a remote URL points.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    Folder(PathBuf),
    S3 { bucket: String, prefix: String },
}

fn parse_url(url: &str, root: &Path) -> std::result::Result<Location, String> {
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("'{url}' names no bucket; write s3://BUCKET/PREFIX"));
        }
        return Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        });
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(format!(
            "'{url}': scheme '{scheme}' is not supported; use a folder path or s3://bucket/prefix"
        ));
    }
    if url.is_empty() {
        return Err("the URL is empty; use a folder path or s3://bucket/prefix".into());
    }
    Ok(Location::Folder(root.join(url)))
}

fn config_path(ws: &Workspace, local: bool) -> PathBuf {
    ws.config_path(local)
}

/// The name of the remote to use: `--remote`, else the default, else the only one.
pub fn resolve_name(config: &Config, wanted: Option<&str>, file: &Path) -> Result<String> {
    if let Some(name) = wanted {
        if !config.remotes.contains_key(name) {
            return Err(unknown_remote(config, name, file));
        }
        return Ok(name.to_string());
    }
    if let Some(name) = &config.core.remote {
        if !config.remotes.contains_key(name) {
            return Err(Error::invalid(
                file,
                format!(
                    "the default remote '{name}' is not configured; run `cairn remote default NAME`"
                ),
            ));
        }
        return Ok(name.clone());
    }
    match config.remotes.keys().collect::<Vec<_>>().as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(Error::Usage(
            "no remote is configured: run `cairn remote add NAME URL --default`".into(),
        )),
        _ => Err(Error::Usage(
            "several remotes and no default: pass --remote NAME or run `cairn remote default NAME`"
                .into(),
        )),
    }
}

fn unknown_remote(config: &Config, name: &str, file: &Path) -> Error {
    let known: Vec<&str> = config.remotes.keys().map(String::as_str).collect();
    Error::invalid(
        file,
        format!(
            "no remote named '{name}' (configured: {}); add it with `cairn remote add {name} URL`",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ),
    )
}

/// A timeout setting's value: a number of seconds, more than 0 and at most a day.
fn parse_timeout(key: &str, value: &str) -> std::result::Result<Duration, String> {
    let seconds: f64 = value.trim().parse().map_err(|_| {
        format!("{key} '{value}' is not a number of seconds; write e.g. `{key}: 30`")
    })?;
    if !(seconds > 0.0 && seconds <= MAX_TIMEOUT) {
        return Err(format!(
            "{key} '{value}' is out of range: give a number of seconds above 0 and at most {MAX_TIMEOUT}"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The timeouts `settings` ask for, the defaults for those they leave out.
fn timeouts(settings: &RemoteSettings) -> std::result::Result<Timeouts, String> {
    let mut t = Timeouts::default();
    for (key, slot) in [
        ("connect_timeout", &mut t.connect),
        ("read_timeout", &mut t.read),
    ] {
        if let Some(value) = settings.settings.get(key) {
            *slot = parse_timeout(key, value)?;
        }
    }
    Ok(t)
}

/// Opens the remote named `wanted` (or the default one).
pub fn open(ws: &Workspace, wanted: Option<&str>) -> Result<OpenRemote> {
    // Transfers run on many threads (64 for S3), each touching a little memory of its own.
    cairn_core::memory::without_huge_pages();
    let config = ws.config()?;
    let file = config_path(ws, false);
    let name = resolve_name(&config, wanted, &file)?;
    let settings = &config.remotes[&name];
    let location = parse_url(&settings.url, &ws.root)
        .map_err(|m| Error::invalid(&file, format!("remote '{name}': {m}")))?;
    // Checked for every kind of remote, though only S3 uses them: a typo is caught at once.
    let timeouts =
        timeouts(settings).map_err(|m| Error::invalid(&file, format!("remote '{name}': {m}")))?;
    let get = |k: &str| settings.settings.get(k).cloned().filter(|v| !v.is_empty());
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Ok(match location {
        Location::Folder(dir) => {
            let place = format!("folder {}", dir.display());
            OpenRemote {
                name,
                store: Box::new(Watched::new(
                    Box::new(FolderRemote::new(dir)),
                    place.clone(),
                )),
                default_jobs: 2 * cores,
                place,
            }
        }
        Location::S3 { bucket, prefix } => {
            let credentials = match (get("access_key_id"), get("secret_access_key")) {
                (Some(id), Some(secret)) => Some((id, secret, get("session_token"))),
                (None, None) => None,
                _ => {
                    return Err(Error::invalid(
                        config_path(ws, true),
                        format!(
                            "remote '{name}' has only one of access_key_id and secret_access_key; set both or neither"
                        ),
                    ));
                }
            };
            let s3 = S3Settings {
                bucket,
                prefix,
                endpoint_url: get("endpoint_url"),
                region: get("region"),
                profile: get("profile"),
                credentials,
                timeouts,
            };
            let store = S3Remote::new(&s3)?;
            let place = store.describe();
            OpenRemote {
                name,
                store: Box::new(Watched::new(Box::new(store), place.clone())),
                default_jobs: S3_JOBS,
                place,
            }
        }
    })
}

/// Sets the default remote (in the committed config).
pub fn set_default(ws: &Workspace, name: &str) -> Result<()> {
    let merged = ws.config()?;
    if !merged.remotes.contains_key(name) {
        return Err(unknown_remote(&merged, name, &config_path(ws, false)));
    }
    let path = config_path(ws, false);
    let mut config = Config::read(&path)?;
    config.core.remote = Some(name.to_string());
    config.write(&path)
}

/// Adds remote `name` at `url` (to the local config with `local`), optionally as the default.
pub fn add(ws: &Workspace, name: &str, url: &str, default: bool, local: bool) -> Result<()> {
    let path = config_path(ws, local);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(Error::Usage(format!(
            "remote name '{name}': use letters, digits, '-', '_' and '.'"
        )));
    }
    if ws.config()?.remotes.contains_key(name) {
        return Err(Error::invalid(
            &path,
            format!(
                "remote '{name}' already exists; change it with `cairn remote modify {name} url URL`"
            ),
        ));
    }
    parse_url(url, &ws.root).map_err(Error::Usage)?;
    let mut config = Config::read(&path)?;
    config.remotes.insert(
        name.to_string(),
        RemoteSettings {
            url: url.to_string(),
            ..RemoteSettings::default()
        },
    );
    if default {
        config.core.remote = Some(name.to_string());
    }
    config.write(&path)
}

/// A configured remote as `remote list` shows it: secrets masked.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// Whether it is the default.
    pub default: bool,
    /// Its other settings, secrets shown as `***`.
    pub settings: Vec<(String, String)>,
}

/// Every configured remote (both config files merged), by name.
pub fn list(ws: &Workspace) -> Result<Vec<Listed>> {
    let config = ws.config()?;
    let default = config.core.remote.clone();
    Ok(config
        .remotes
        .iter()
        .map(|(name, r)| Listed {
            name: name.clone(),
            url: r.url.clone(),
            default: default.as_deref() == Some(name.as_str()),
            settings: r
                .settings
                .iter()
                .map(|(k, v)| {
                    let v = if SECRET_KEYS.contains(&k.as_str()) {
                        "***".to_string()
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect(),
        })
        .collect())
}

/// Removes remote `name` from both config files (and as the default).
pub fn remove(ws: &Workspace, name: &str) -> Result<()> {
    let merged = ws.config()?;
    if !merged.remotes.contains_key(name) {
        return Err(unknown_remote(&merged, name, &config_path(ws, false)));
    }
    for local in [false, true] {
        let path = config_path(ws, local);
        let mut config = Config::read(&path)?;
        let had = config.remotes.remove(name).is_some();
        let was_default = config.core.remote.as_deref() == Some(name);
        if was_default {
            config.core.remote = None;
        }
        if had || was_default {
            config.write(&path)?;
        }
    }
    Ok(())
}

/// Sets `key` of remote `name`; secrets always go to the local config. Returns the file written.
pub fn modify(ws: &Workspace, name: &str, key: &str, value: &str, local: bool) -> Result<PathBuf> {
    if !KEYS.contains(&key) {
        return Err(Error::Usage(format!(
            "unknown remote setting '{key}'; valid settings: {}",
            KEYS.join(", ")
        )));
    }
    let merged = ws.config()?;
    if !merged.remotes.contains_key(name) {
        return Err(unknown_remote(&merged, name, &config_path(ws, false)));
    }
    if key == "url" {
        parse_url(value, &ws.root).map_err(Error::Usage)?;
    }
    if TIMEOUT_KEYS.contains(&key) {
        parse_timeout(key, value).map_err(Error::Usage)?;
    }
    let secret = SECRET_KEYS.contains(&key);
    let path = config_path(ws, local || secret);
    let mut config = Config::read(&path)?;
    let entry = config.remotes.entry(name.to_string()).or_default();
    if key == "url" {
        entry.url = value.to_string();
    } else {
        entry.settings.insert(key.to_string(), value.to_string());
    }
    config.write(&path)?;
    // A secret set before this rule existed, or by hand, must not stay in the committed file.
    if secret {
        let committed = config_path(ws, false);
        let mut shared = Config::read(&committed)?;
        if let Some(r) = shared.remotes.get_mut(name)
            && r.settings.remove(key).is_some()
        {
            shared.write(&committed)?;
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let root = Path::new("/ws");
        assert_eq!(
            parse_url("s3://b/p/q/", root),
            Ok(Location::S3 {
                bucket: "b".into(),
                prefix: "p/q".into()
            })
        );
        assert_eq!(
            parse_url("s3://b", root),
            Ok(Location::S3 {
                bucket: "b".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            parse_url("../r", root),
            Ok(Location::Folder(PathBuf::from("/ws/../r")))
        );
        assert_eq!(
            parse_url("/abs", root),
            Ok(Location::Folder(PathBuf::from("/abs")))
        );
        assert!(parse_url("s3:///x", root).is_err());
        assert!(parse_url("gs://b", root).is_err());
    }

    #[test]
    fn timeouts_parse_and_nonsense_is_refused() {
        assert_eq!(
            parse_timeout("read_timeout", "30"),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            parse_timeout("read_timeout", " 0.5 "),
            Ok(Duration::from_millis(500))
        );
        for bad in ["", "abc", "0", "-1", "NaN", "inf", "1e9", "30s"] {
            assert!(parse_timeout("read_timeout", bad).is_err(), "{bad:?}");
        }
        let mut r = RemoteSettings::default();
        assert_eq!(timeouts(&r), Ok(Timeouts::default()));
        r.settings.insert("connect_timeout".into(), "2".into());
        let t = timeouts(&r).expect("valid");
        assert_eq!(t.connect, Duration::from_secs(2));
        assert_eq!(t.read, Timeouts::default().read);
    }
}
