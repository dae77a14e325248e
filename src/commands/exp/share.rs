//! `cairn exp push` and `pull`: experiments through a remote, so that a teammate or CI sees
//! them. A record travels as `exps/v1/NAME.json`; the outs its lock names travel as objects,
//! as `cairn push` and `pull` move them.

use std::process::ExitCode;

use cairn_core::exp::{self, ExpRecord};
use cairn_core::lock::{Lock, LockedPath};
use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};

/// Where records live on a remote.
const PREFIX: &str = "exps/v1/";
/// Largest record fetched.
const MAX_RECORD: u64 = 16 << 20;

/// The objects an experiment's lock references, but for the files its record keeps.
fn objects(record: &ExpRecord) -> Result<Vec<LockedPath>> {
    let Some(text) = record.files.get(cairn_core::workspace::LOCK_FILE) else {
        return Ok(Vec::new());
    };
    let lock = Lock::parse(
        text,
        std::path::Path::new(&format!("experiment {}", record.name)),
    )?;
    // Files the record keeps whole (metrics, often uncached) travel in it, not as objects.
    Ok(lock
        .stages
        .into_values()
        .flat_map(|s| s.outs)
        .filter(|o| !record.files.contains_key(o.path.as_str()))
        .collect())
}

fn chosen(ws: &Workspace, names: &[String]) -> Result<Vec<ExpRecord>> {
    if names.is_empty() {
        exp::list(ws)
    } else {
        names.iter().map(|n| exp::read(ws, n)).collect()
    }
}

/// `cairn exp push [NAME…] [--remote R]`.
pub fn push(names: &[String], remote: Option<&str>) -> Result<ExitCode> {
    let (ws, cwd) = Workspace::current_with_cwd()?;
    let records = chosen(&ws, names)?;
    let mut also = Vec::new();
    for r in &records {
        also.extend(objects(r)?);
    }
    let options = cairn_remote::TransferOptions {
        remote: remote.map(str::to_string),
        targets: Vec::new(),
        jobs: None,
        run_cache: true,
        also,
        also_if_present: Vec::new(),
    };
    let report = cairn_remote::push(&ws, &cwd, &options, false)?;
    let open = cairn_remote::config::open(&ws, remote)?;
    for r in &records {
        let bytes = serde_json::to_vec(r).map_err(|e| Error::Failed(e.to_string()))?;
        open.store
            .put_bytes(&format!("{PREFIX}{}.json", r.name), bytes)
            .map_err(|e| Error::Remote {
                remote: open.name.clone(),
                message: e.to_string(),
            })?;
    }
    println!(
        "pushed {} experiments to '{}' ({} objects sent)",
        records.len(),
        open.name,
        report.pushed
    );
    Ok(ExitCode::SUCCESS)
}

/// `cairn exp pull [NAME…] [--remote R]`.
pub fn pull(names: &[String], remote: Option<&str>) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let open = cairn_remote::config::open(&ws, remote)?;
    let remote_error = |e: cairn_remote::backend::Failure| Error::Remote {
        remote: open.name.clone(),
        message: e.to_string(),
    };
    let keys = open.store.list(PREFIX).map_err(remote_error)?;
    let mut pulled = Vec::new();
    for key in keys {
        let Some(name) = key
            .strip_prefix(PREFIX)
            .and_then(|k| k.strip_suffix(".json"))
        else {
            continue;
        };
        if exp::check_name(name).is_err() || (!names.is_empty() && !names.iter().any(|n| n == name))
        {
            continue;
        }
        let bytes = cairn_remote::backend::get_small(open.store.as_ref(), &key, MAX_RECORD)
            .map_err(remote_error)?;
        let record: ExpRecord = serde_json::from_slice(&bytes).map_err(|e| Error::Remote {
            remote: open.name.clone(),
            message: format!("{key}: not an experiment record: {e}"),
        })?;
        if record.name != name {
            return Err(Error::Remote {
                remote: open.name.clone(),
                message: format!("{key} holds experiment '{}'", record.name),
            });
        }
        exp::write(&ws, &record)?;
        pulled.push(record);
    }
    for n in names {
        if !pulled.iter().any(|r| &r.name == n) {
            return Err(Error::Usage(format!(
                "remote '{}' has no experiment '{n}'",
                open.name
            )));
        }
    }
    let mut wanted = Vec::new();
    for r in &pulled {
        wanted.extend(objects(r)?);
    }
    if !wanted.is_empty() {
        let _lock = ws.lock("exp pull")?;
        cairn_remote::fetch_objects(&ws, remote, wanted)?;
    }
    println!("pulled {} experiments from '{}'", pulled.len(), open.name);
    Ok(ExitCode::SUCCESS)
}
