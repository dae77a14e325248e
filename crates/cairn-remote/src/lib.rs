//! Remotes (a folder or S3) and moving cache objects to and from them: push and fetch, which
//! return what they did for the caller to show.
//!
//! Only objects the other side lacks move: a push lists the remote once instead of asking per
//! object, a fetch asks only for what the cache lacks. Every object that arrives is hashed before
//! it enters the cache ([`ObjectStore::insert_staged`]); a mismatch names the object and the path
//! that wanted it, and nothing of it is placed.

pub mod backend;
pub mod config;
mod folder;
mod pack;
mod route;
mod s3;
mod transfer;
mod watch;

pub use backend::Remote;
pub use config::OpenRemote;
pub use transfer::mib;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use cairn_core::cache::ObjectStore;
use cairn_core::digest::Digest;
use cairn_core::error::{Error, Result};
use cairn_core::hash::DigestWriter;
use cairn_core::lock::LockedPath;
use cairn_core::refs;
use cairn_core::repro::run_cache::{RunCache, RunEntry};
use cairn_core::workspace::Workspace;

use backend::{Failure, FailureKind, digest_of_key, object_key, objects_prefix, runs_prefix};
use transfer::{Job, Outcome, lock, with_retries};

/// The largest run-cache entry a fetch accepts (they are a few hundred bytes).
const RUN_ENTRY_MAX: u64 = 1 << 20;

/// How many failures an error message lists before "and N more".
const SHOWN_FAILURES: usize = 5;

/// What a push or fetch moves, and how.
#[derive(Debug, Clone, Default)]
pub struct TransferOptions {
    /// The remote by name; `None` for the default one.
    pub remote: Option<String>,
    /// Stage names, foreach groups, pointer files or the paths they track (relative to the
    /// current directory); empty for everything.
    pub targets: Vec<String>,
    /// Transfers at once; `None` for the remote's default.
    pub jobs: Option<usize>,
    /// Also move run-cache entries (and the objects they keep).
    pub run_cache: bool,
    /// Objects the caller names beyond what the targets select (the model registry's
    /// versions), each with a name for messages in place of its path; they travel to and from
    /// the default remote (or `remote`).
    pub also: Vec<LockedPath>,
    /// Objects a fetch brings when the remote has them and only warns about when it does not
    /// (the registry's lock entries); a push sends them as it sends `also`.
    pub also_if_present: Vec<LockedPath>,
}

fn threads(options: &TransferOptions, remote: &OpenRemote) -> usize {
    options.jobs.unwrap_or(remote.default_jobs)
}

/// What a push did.
#[derive(Debug, Default)]
pub struct PushReport {
    /// The name of the remote `--remote` names or the default one (else the first one used).
    pub remote: String,
    /// Objects sent, to every remote.
    pub pushed: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Packs sent, and how many of the objects went in them.
    pub packs: u64,
    /// Objects that went in packs.
    pub in_packs: u64,
    /// Objects the remotes already had.
    pub already: u64,
    /// What went to each remote, the default one first.
    pub remotes: Vec<PushedTo>,
    /// Objects the targets need that the cache does not have (not sent).
    pub not_in_cache: Vec<String>,
    /// Outs not sent (`push: false`, or another remote than `--remote`), with why.
    pub left_out: Vec<String>,
    /// Run-cache entries sent.
    pub run_entries: u64,
    /// Whether what the remote held was replaced (`--force`).
    pub forced: bool,
    /// What the caller should warn about (damaged pack indexes on the remote).
    pub warnings: Vec<String>,
}

/// What a push sent to one remote.
#[derive(Debug, Default, Clone)]
pub struct PushedTo {
    /// The remote's name.
    pub remote: String,
    /// Objects sent.
    pub pushed: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Packs sent.
    pub packs: u64,
    /// Objects that went in packs.
    pub in_packs: u64,
    /// Objects the remote already had.
    pub already: u64,
}

/// What a fetch did.
#[derive(Debug, Default)]
pub struct FetchReport {
    /// The name of the remote `--remote` names or the default one (else the first one used).
    pub remote: String,
    /// Every remote read, the default one first.
    pub remotes: Vec<String>,
    /// Objects fetched.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Objects already in the cache.
    pub already: u64,
    /// Objects the remote does not have, with the path that wants each.
    pub not_on_remote: Vec<String>,
    /// Outs not fetched (`push: false`, or another remote than `--remote`), with why.
    pub left_out: Vec<String>,
    /// The workspace paths of the `push: false` outs left out, which a pull leaves as they are
    /// when the cache lacks them.
    pub unpushed: Vec<String>,
    /// Run-cache entries fetched.
    pub run_entries: u64,
    /// The targets as `checkout` takes them (stage names, pointer files).
    pub checkout_targets: Vec<String>,
    /// What the caller should warn about (damaged indexes, refused run-cache entries).
    pub warnings: Vec<String>,
}

fn remote_error(remote: &OpenRemote, message: String) -> Error {
    Error::Remote {
        remote: remote.name.clone(),
        message,
    }
}

fn first_few(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(SHOWN_FAILURES)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n  ");
    if items.len() > SHOWN_FAILURES {
        text.push_str(&format!("\n  … and {} more", items.len() - SHOWN_FAILURES));
    }
    text
}

/// What to do about a remote that did not answer in time.
fn timeout_advice(remote: &OpenRemote) -> String {
    format!(
        "{} did not answer in time: check that the endpoint is right and reachable, \
         or give it longer (`cairn remote modify {name} read_timeout 300`, \
         `cairn remote modify {name} connect_timeout 30`)",
        remote.place,
        name = remote.name
    )
}

/// A failed listing or other single operation, with what to do about it.
fn op_error(remote: &OpenRemote, f: Failure) -> Error {
    let advice = if f.kind == FailureKind::TimedOut {
        timeout_advice(remote)
    } else {
        "check the URL, endpoint and credentials".to_string()
    };
    remote_error(remote, format!("{f}; {advice}"))
}

/// Fails when any transfer of the batch failed for good.
fn check(remote: &OpenRemote, outcome: &Outcome, verb: &str, retry: &str) -> Result<()> {
    if outcome.failed.is_empty() {
        return Ok(());
    }
    let skipped = if outcome.skipped > 0 {
        format!(" ({} not attempted)", outcome.skipped)
    } else {
        String::new()
    };
    let retry = if outcome.timed_out {
        format!("{}; then {retry}", timeout_advice(remote))
    } else {
        retry.to_string()
    };
    Err(remote_error(
        remote,
        format!(
            "{} {verb} failed{skipped}:\n  {}\n{retry}",
            outcome.failed.len(),
            first_few(&outcome.failed)
        ),
    ))
}

fn list_on(remote: &OpenRemote, prefix: &str) -> Result<Vec<String>> {
    with_retries(|| remote.store.list(prefix)).map_err(|f| op_error(remote, f))
}

/// Every object digest on the remote. An S3 store is listed shard by shard (`v1/00/` …
/// `v1/ff/`) in parallel, as a serial walk through its pages would take one round trip per
/// thousand objects; asking first which shards exist keeps a small remote to a few requests.
fn objects_on(remote: &OpenRemote, threads: usize) -> Result<HashSet<Digest>> {
    let prefix = objects_prefix();
    let failed = |f: Failure| op_error(remote, f);
    let keys = match with_retries(|| remote.store.folders(&prefix)).map_err(failed)? {
        None => with_retries(|| remote.store.list(&prefix)).map_err(failed)?,
        Some(shards) => {
            let next = AtomicUsize::new(0);
            let found = Mutex::new(Vec::new());
            let error = Mutex::new(None);
            std::thread::scope(|scope| {
                for _ in 0..threads.clamp(1, 32).min(shards.len()) {
                    scope.spawn(|| {
                        while let Some(shard) = shards.get(next.fetch_add(1, Ordering::Relaxed)) {
                            match with_retries(|| remote.store.list(shard)) {
                                Ok(k) => lock(&found).extend(k),
                                Err(f) => {
                                    *lock(&error) = Some(f);
                                    break;
                                }
                            }
                        }
                    });
                }
            });
            if let Some(f) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(failed(f));
            }
            found.into_inner().unwrap_or_else(|p| p.into_inner())
        }
    };
    Ok(keys.iter().filter_map(|k| digest_of_key(k)).collect())
}

/// Every packed object on the remote: its pack indexes, read from the local copies where
/// there are some and from the remote otherwise.
fn packs_on(
    ws: &Workspace,
    remote: &OpenRemote,
    threads: usize,
    warnings: &mut Vec<String>,
) -> Result<pack::Catalog> {
    let ids = pack::ids_in(&list_on(remote, &pack::prefix())?);
    let dir = ws.pack_index_dir();
    let jobs: Vec<Job> = ids
        .iter()
        .enumerate()
        .map(|(item, id)| Job {
            key: pack::index_key(id),
            digest: None,
            label: format!("pack index {}", pack::index_key(id)),
            size: 0,
            item,
        })
        .collect();
    let catalog = Mutex::new(pack::Catalog::default());
    let damaged = Mutex::new(Vec::new());
    let outcome = transfer::run(&jobs, threads, "reading pack indexes", |job| {
        let id = &ids[job.item];
        match pack::read_index(remote.store.as_ref(), &dir, id)? {
            Ok(index) => lock(&catalog).add(id, &index),
            Err(why) => lock(&damaged).push(format!("{}: {why}", job.key)),
        }
        Ok(0)
    });
    // An index gone since the listing: its pack counts as absent.
    check(
        remote,
        &outcome,
        "pack index reads",
        "run the command again",
    )?;
    // Not fatal: a push sends those objects again (rewriting a damaged index of the same
    // pack), a fetch reports them missing.
    for line in lock(&damaged).iter() {
        warnings.push(format!(
            "damaged pack index on remote '{}', its objects count as absent: {line}",
            remote.name
        ));
    }
    Ok(catalog.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Reads the objects of `index` from the cache into one body, uploads it as pack `id`, then its
/// index (which makes it visible), and keeps a copy of the index. Returns the pack's size.
fn push_pack(
    store: &ObjectStore,
    remote: &OpenRemote,
    dir: &Path,
    index: &pack::Index,
    id: &str,
) -> backend::RemoteResult<u64> {
    let body = pack::build(index, |digest| store.path(digest))?;
    let size = body.len() as u64;
    remote.store.put_bytes(&pack::pack_key(id), body)?;
    let text = index.text();
    remote
        .store
        .put_bytes(&pack::index_key(id), text.clone().into_bytes())?;
    // Only a speed-up for the next push: a failure to keep it costs one read then.
    let _ = cairn_core::atomic::write(&pack::cached_index(dir, id), text.as_bytes());
    Ok(size)
}

/// Uploads `objects` (the path that wants it, digest, size) in packs, at most `threads` and
/// [`pack::PACKS_IN_FLIGHT`] at once.
fn push_in_packs(
    ws: &Workspace,
    store: &ObjectStore,
    remote: &OpenRemote,
    mut objects: Vec<(&str, Digest, u64)>,
    threads: usize,
) -> Result<Outcome> {
    // By path: the files of one folder share packs, so a pull of that folder reads few.
    objects.sort_unstable();
    let objects: Vec<(Digest, u64)> = objects.into_iter().map(|(_, d, len)| (d, len)).collect();
    let packs = pack::plan(&objects);
    let ids: Vec<String> = packs.iter().map(pack::Index::id).collect();
    let jobs: Vec<Job> = packs
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(item, (index, id))| Job {
            key: pack::pack_key(id),
            digest: None,
            label: format!("pack {id} ({} objects)", index.entries.len()),
            size: index.size(),
            item,
        })
        .collect();
    let dir = ws.pack_index_dir();
    let in_flight = threads.min(pack::PACKS_IN_FLIGHT);
    let outcome = transfer::run(&jobs, in_flight, "pushing packs", |job| {
        push_pack(store, remote, &dir, &packs[job.item], &ids[job.item])
    });
    check(
        remote,
        &outcome,
        "pack uploads",
        "run `cairn push` again: objects already sent are not sent again",
    )?;
    Ok(outcome)
}

/// Moving the run-cache entry at remote key `key`.
fn run_entry_job(key: String) -> Job {
    Job {
        label: format!("run-cache entry {key}"),
        key,
        digest: None,
        size: 0,
        item: 0,
    }
}

/// The key of the run-cache entry a job moves (the last part of its remote key).
fn run_entry_name(job: &Job) -> backend::RemoteResult<Digest> {
    let name = job.key.rsplit('/').next().unwrap_or_default();
    Digest::parse(name).map_err(|e| Failure::new(FailureKind::Permanent, e.to_string()))
}

fn local_failure(e: Error) -> Failure {
    Failure::new(FailureKind::Permanent, e.to_string())
}

/// Sends what the targets need and the remote lacks (with `force`, everything they need, as
/// loose objects replacing what the remote holds). `cwd` is what targets are relative to. Outs
/// with `push: false` stay; outs with `remote: NAME` go to that remote.
pub fn push(
    ws: &Workspace,
    cwd: &Path,
    options: &TransferOptions,
    force: bool,
) -> Result<PushReport> {
    let args = options;
    let mut selection = refs::select(ws, &args.targets, cwd)?;
    selection.tracked.extend(args.also.iter().cloned());
    selection
        .tracked
        .extend(args.also_if_present.iter().cloned());
    let mut items = with_paths(selection.tracked);
    if args.run_cache {
        items.extend(refs::run_cache_outs(ws)?);
    }
    let plan = route::plan(ws, &selection.routes, items, args.remote.as_deref(), true)?;
    let mut report = PushReport {
        forced: force,
        left_out: plan.left_out,
        ..PushReport::default()
    };
    let mut groups = plan.groups;
    // The default remote is opened unless everything selected goes elsewhere or stays: so a
    // workspace without one hears so, and the run-cache has somewhere to go.
    if args.run_cache || (groups.is_empty() && report.left_out.is_empty()) {
        groups.entry(None).or_default();
    }
    // Every remote is opened before anything moves: one misconfigured fails the push whole.
    let remotes = open_all(ws, groups, args.remote.as_deref())?;
    let store = ObjectStore::open(ws)?;
    for (remote, tracked) in &remotes {
        let sent = push_objects(ws, &store, remote, tracked, args, force, &mut report)?;
        report.pushed += sent.pushed;
        report.bytes += sent.bytes;
        report.packs += sent.packs;
        report.in_packs += sent.in_packs;
        report.already += sent.already;
        report.remotes.push(sent);
    }
    report.remote = report
        .remotes
        .first()
        .map(|r| r.remote.clone())
        .unwrap_or_default();
    if let Some((remote, _)) = remotes.first().filter(|_| args.run_cache) {
        report.run_entries = push_run_entries(ws, remote, args, force)?;
    }
    Ok(report)
}

/// The tracked paths with the workspace path that finds each one's route.
fn with_paths(tracked: Vec<LockedPath>) -> Vec<(String, LockedPath)> {
    tracked
        .into_iter()
        .map(|t| (t.path.to_string(), t))
        .collect()
}

/// Opens the remote of every group (`None`: `wanted`, else the default one), in order.
fn open_all(
    ws: &Workspace,
    groups: std::collections::BTreeMap<Option<String>, Vec<LockedPath>>,
    wanted: Option<&str>,
) -> Result<Vec<(OpenRemote, Vec<LockedPath>)>> {
    groups
        .into_iter()
        .map(|(name, tracked)| Ok((config::open(ws, name.as_deref().or(wanted))?, tracked)))
        .collect()
}

/// Sends to `remote` what `tracked` needs and it lacks; objects the cache lacks are added to
/// the report's `not_in_cache`, warnings to its `warnings`.
fn push_objects(
    ws: &Workspace,
    store: &ObjectStore,
    remote: &OpenRemote,
    tracked: &[LockedPath],
    args: &TransferOptions,
    force: bool,
    report: &mut PushReport,
) -> Result<PushedTo> {
    // Directories whose listing the cache lacks show up below as that listing being absent.
    let (needed, _) = refs::expand(store, tracked)?;
    let mut absent = Vec::new();
    // A forced push believes nothing the remote says it holds: what it holds may be damaged.
    let (on_remote, packed) = if force {
        (HashSet::new(), pack::Catalog::default())
    } else {
        (
            objects_on(remote, threads(args, remote))?,
            packs_on(ws, remote, threads(args, remote), &mut report.warnings)?,
        )
    };
    let mut already = 0u64;
    let mut jobs = Vec::new();
    let mut to_pack = Vec::new();
    for n in &needed {
        if on_remote.contains(&n.digest) || packed.get(&n.digest).is_some() {
            already += 1;
        } else if let Ok(meta) = std::fs::metadata(store.path(&n.digest)) {
            // Forced, every object goes loose: a fetch tries an object's loose key when its
            // copy in a pack is damaged, so this repairs packed objects too.
            if remote.store.packs() && !force && meta.len() < pack::PACKED_BELOW {
                to_pack.push((n.wanted_by.as_str(), n.digest.clone(), meta.len()));
                continue;
            }
            jobs.push(Job {
                key: object_key(&n.digest),
                digest: Some(n.digest.clone()),
                label: format!("object {} ({})", n.digest, n.wanted_by),
                size: meta.len(),
                item: 0,
            });
        } else {
            absent.push(format!("object {} of {}", n.digest, n.wanted_by));
        }
    }
    let in_packs = to_pack.len() as u64;
    let packed_outcome = push_in_packs(ws, store, remote, to_pack, threads(args, remote))?;
    let per_thread = remote.store.puts_per_thread();
    let outcome = transfer::run_batched(
        &jobs,
        threads(args, remote),
        per_thread,
        "pushing objects",
        |batch| {
            let paths: Vec<PathBuf> = batch
                .iter()
                .map(|job| {
                    job.digest
                        .as_ref()
                        .map(|d| store.path(d))
                        .unwrap_or_default()
                })
                .collect();
            // Forced, a push replaces what the remote holds: it must not replace it with a
            // damaged copy of its own.
            let whole: Vec<backend::RemoteResult<()>> = batch
                .iter()
                .zip(&paths)
                .map(|(job, path)| {
                    if force {
                        verify_local(job, path)
                    } else {
                        Ok(())
                    }
                })
                .collect();
            let items: Vec<(&str, &Path)> = batch
                .iter()
                .zip(&paths)
                .zip(&whole)
                .filter(|(_, w)| w.is_ok())
                .map(|((job, path), _)| (job.key.as_str(), path.as_path()))
                .collect();
            let mut sent = remote.store.put_all(&items).into_iter();
            whole
                .into_iter()
                .zip(batch)
                .map(|(w, job)| {
                    w?;
                    sent.next()
                        .unwrap_or_else(|| Err(Failure::new(FailureKind::Permanent, "no result")))
                        .map(|()| job.size)
                })
                .collect()
        },
    );
    check(
        remote,
        &outcome,
        "uploads",
        "run `cairn push` again: objects already sent are not sent again",
    )?;
    for line in absent {
        if !report.not_in_cache.contains(&line) {
            report.not_in_cache.push(line);
        }
    }
    Ok(PushedTo {
        remote: remote.name.clone(),
        pushed: outcome.done + in_packs,
        bytes: outcome.bytes + packed_outcome.bytes,
        packs: packed_outcome.done,
        in_packs,
        already,
    })
}

/// Sends the run-cache entries `remote` lacks (all of them when `force`); returns how many.
fn push_run_entries(
    ws: &Workspace,
    remote: &OpenRemote,
    args: &TransferOptions,
    force: bool,
) -> Result<u64> {
    let there: HashSet<String> = if force {
        HashSet::new()
    } else {
        list_on(remote, &runs_prefix())?.into_iter().collect()
    };
    let runs = RunCache::at(&ws.runs_dir());
    let jobs: Vec<Job> = runs
        .entries()?
        .into_iter()
        .map(|(key, _)| format!("{}{key}", runs_prefix()))
        .filter(|k| !there.contains(k))
        .map(run_entry_job)
        .collect();
    let entries = transfer::run(
        &jobs,
        threads(args, remote),
        "pushing run-cache entries",
        |job| {
            remote
                .store
                .put(&job.key, &runs.path(&run_entry_name(job)?))?;
            Ok(0)
        },
    );
    check(
        remote,
        &entries,
        "uploads",
        "run `cairn push --run-cache` again",
    )?;
    Ok(entries.done)
}

/// Checks that the cache's copy of the object a forced push is about to send is whole.
fn verify_local(job: &Job, path: &Path) -> backend::RemoteResult<()> {
    let actual = cairn_core::hash::digest_file(path).map_err(local_failure)?;
    if job.digest.as_ref() == Some(&actual) {
        return Ok(());
    }
    Err(Failure::new(
        FailureKind::Permanent,
        format!(
            "{} is damaged in this workspace's cache too: its bytes hash to {actual}; \
             not sent. Push it from a workspace whose copy is whole",
            path.display()
        ),
    ))
}

/// Fails when any download of the batch failed for good.
fn check_downloads(remote: &OpenRemote, outcome: &Outcome) -> Result<()> {
    check(
        remote,
        outcome,
        "downloads",
        "run the command again: objects already fetched are kept",
    )
}

/// What a fetch brought from one remote.
#[derive(Debug, Default)]
struct Fetched {
    objects: u64,
    bytes: u64,
    already: u64,
    not_on_remote: Vec<String>,
}

/// Fetches what `selection` tracks (and, with `run_cache`, the run-cache entries of the
/// default remote, and the objects they keep), each out from its own remote, and `optional`
/// from the default remote, warning about those it lacks. With `require`, fails unless every
/// object of `selection` arrived.
fn fetch_routed(
    ws: &Workspace,
    selection: refs::Selection,
    optional: &[LockedPath],
    wanted: Option<&str>,
    jobs: Option<usize>,
    run_cache: bool,
    require: bool,
) -> Result<FetchReport> {
    let mut report = FetchReport {
        checkout_targets: selection.checkout_targets,
        ..FetchReport::default()
    };
    let mut items = with_paths(selection.tracked);
    // Checked before the run-cache entries move: an out naming a remote that is not configured
    // fails the fetch before anything arrives.
    route::plan(ws, &selection.routes, items.clone(), wanted, false)?;
    let mut default = None;
    if run_cache {
        let remote = config::open(ws, wanted)?;
        let threads = jobs.unwrap_or(remote.default_jobs);
        report.run_entries = fetch_run_entries(ws, &remote, threads, &mut report.warnings)?;
        items.extend(refs::run_cache_outs(ws)?);
        default = Some(remote);
    }
    let plan = route::plan(ws, &selection.routes, items, wanted, false)?;
    report.left_out = plan.left_out;
    report.unpushed = selection.routes.unpushed().map(str::to_string).collect();
    let mut groups = plan.groups;
    if default.is_some()
        || !optional.is_empty()
        || (groups.is_empty() && report.left_out.is_empty())
    {
        groups.entry(None).or_default();
    }
    // Every remote is opened before anything moves. The default one, if open already, is the
    // first group's (`None` sorts first).
    let mut remotes = Vec::new();
    for (name, tracked) in groups {
        let is_default = name.is_none();
        let remote = match (name, default.take()) {
            (None, Some(open)) => open,
            (name, _) => config::open(ws, name.as_deref().or(wanted))?,
        };
        remotes.push((remote, tracked, is_default));
    }
    for (remote, tracked, is_default) in remotes {
        let threads = jobs.unwrap_or(remote.default_jobs);
        let got = fetch_into_cache(ws, &remote, &tracked, threads, &mut report.warnings)?;
        if require && !got.not_on_remote.is_empty() {
            return Err(missing_on(&remote, &got.not_on_remote));
        }
        if is_default && !optional.is_empty() {
            let extra = fetch_into_cache(ws, &remote, optional, threads, &mut report.warnings)?;
            report.objects += extra.objects;
            report.bytes += extra.bytes;
            report.already += extra.already;
            for missing in extra.not_on_remote {
                report.warnings.push(format!(
                    "remote '{}': {missing} is not on the remote; the version still serves and reproduces, only where it came from is unknown here",
                    remote.name
                ));
            }
        }
        report.objects += got.objects;
        report.bytes += got.bytes;
        report.already += got.already;
        report.not_on_remote.extend(got.not_on_remote);
        report.remotes.push(remote.name.clone());
    }
    report.remote = report.remotes.first().cloned().unwrap_or_default();
    Ok(report)
}

/// Brings into the cache every object behind `tracked` that it lacks.
fn fetch_into_cache(
    ws: &Workspace,
    remote: &OpenRemote,
    tracked: &[LockedPath],
    threads: usize,
    warnings: &mut Vec<String>,
) -> Result<Fetched> {
    let store = ObjectStore::open(ws)?;
    let mut report = Fetched::default();
    let mut asked: HashSet<Digest> = HashSet::new();
    let mut packed = None;
    // Twice: the first round brings directory listings, the second the files they list.
    for _ in 0..2 {
        let (needed, _) = refs::expand(&store, tracked)?;
        let wanted: Vec<&refs::Needed> = needed
            .iter()
            .filter(|n| !store.contains(&n.digest) && asked.insert(n.digest.clone()))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let packed = match &mut packed {
            Some(catalog) => catalog,
            None => packed.insert(packs_on(ws, remote, threads, warnings)?),
        };
        let mut in_packs = Vec::new();
        let mut alone = Vec::new();
        for n in wanted {
            match packed.get(&n.digest) {
                Some(place) => in_packs.push((place.clone(), n)),
                None => alone.push(n),
            }
        }
        let spans = pack::spans(in_packs);
        let span_jobs: Vec<Job> = spans
            .iter()
            .enumerate()
            .map(|(item, span)| Job {
                key: pack::pack_key(&span.pack),
                digest: None,
                label: format!("{} objects from pack {}", span.members.len(), span.pack),
                size: span.members.iter().map(|(place, _)| place.len).sum(),
                item,
            })
            .collect();
        let from_packs = AtomicU64::new(0);
        let outcome = transfer::run(&span_jobs, threads, "fetching from packs", |job| {
            let span = &spans[job.item];
            let got = download_span(&store, remote, span)?;
            from_packs.fetch_add(span.members.len() as u64, Ordering::Relaxed);
            Ok(got)
        });
        check_downloads(remote, &outcome)?;
        report.objects += from_packs.into_inner();
        report.bytes += outcome.bytes;

        let jobs: Vec<Job> = alone
            .iter()
            .map(|n| Job {
                key: object_key(&n.digest),
                digest: Some(n.digest.clone()),
                label: format!("object {} (for {})", n.digest, n.wanted_by),
                size: n.size,
                item: 0,
            })
            .collect();
        let outcome = transfer::run(&jobs, threads, "fetching objects", |job| {
            download(&store, remote, job)
        });
        check_downloads(remote, &outcome)?;
        report.objects += outcome.done;
        report.bytes += outcome.bytes;
        report.not_on_remote.extend(outcome.not_found);
    }
    let (needed, _) = refs::expand(&store, tracked)?;
    report.already =
        (needed.len() as u64).saturating_sub(report.objects + report.not_on_remote.len() as u64);
    Ok(report)
}

/// Downloads one object into the staging folder, hashing it as it arrives, and lets the cache
/// check the digest.
fn download(store: &ObjectStore, remote: &OpenRemote, job: &Job) -> backend::RemoteResult<u64> {
    let staged = store.temp_file().map_err(local_failure)?;
    let mut out = DigestWriter::new(staged.as_file());
    remote.store.get(&job.key, &mut out)?;
    let (actual, size) = out.finish().map_err(|e| {
        local_failure(Error::Io {
            path: staged.path().to_path_buf(),
            source: e,
        })
    })?;
    let Some(digest) = &job.digest else {
        return Err(Failure::new(FailureKind::Permanent, "not an object"));
    };
    match store.insert_staged(staged, digest, &actual) {
        Ok(()) => Ok(size),
        Err(Error::Corrupt { actual, .. }) => {
            Err(Failure::new(FailureKind::Permanent, corrupted(&actual)))
        }
        Err(e) => Err(local_failure(e)),
    }
}

fn corrupted(actual: &str) -> String {
    format!(
        "corrupted on the remote: its bytes hash to {actual}; refused, nothing placed. \
         Repair the remote with `cairn push --force` from a workspace that has it"
    )
}

/// Fetches the loose copy (`v1/ab/…`) of a packed object whose copy in the pack could not be
/// used, as a forced push leaves: its bytes, or `None` when the remote has no loose copy.
fn loose_copy(
    store: &ObjectStore,
    remote: &OpenRemote,
    n: &refs::Needed,
) -> backend::RemoteResult<Option<u64>> {
    let job = Job {
        key: object_key(&n.digest),
        digest: Some(n.digest.clone()),
        label: format!("object {} (for {})", n.digest, n.wanted_by),
        size: n.size,
        item: 0,
    };
    match download(store, remote, &job) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(f) if f.kind == FailureKind::NotFound => Ok(None),
        Err(f) => Err(Failure::new(
            f.kind,
            format!(
                "object {} (for {}), loose copy {}: {f}",
                n.digest, n.wanted_by, job.key
            ),
        )),
    }
}

/// Downloads the wanted objects of one span of a pack in one request and places each that
/// hashes to its digest. Returns their bytes.
fn download_span(
    store: &ObjectStore,
    remote: &OpenRemote,
    span: &pack::Span<&refs::Needed>,
) -> backend::RemoteResult<u64> {
    let mut bytes = 0;
    // Members whose bytes in the pack are damaged: their index in the span, what they hash to.
    let mut damaged = Vec::new();
    let members = span
        .members
        .iter()
        .map(|(p, _)| (p.offset, p.len))
        .collect();
    let mut split = pack::Splitter::new(span.start, members, |i, body: &[u8]| {
        let n = span.members[i].1;
        match store.insert_fetched(body, &n.digest) {
            Ok(()) => bytes += body.len() as u64,
            Err(Error::Corrupt { actual, .. }) => damaged.push((i, actual)),
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
        Ok(())
    });
    let key = pack::pack_key(&span.pack);
    let got = remote
        .store
        .get_range(&key, span.start, span.end, &mut split);
    if let Err(f) = got {
        if f.kind != FailureKind::NotFound {
            return Err(f);
        }
        // The pack is gone though its index lists it: loose copies, if a forced push left
        // them, still serve.
        let mut bytes = 0;
        for (_, n) in &span.members {
            match loose_copy(store, remote, n)? {
                Some(b) => bytes += b,
                None => {
                    return Err(Failure::new(
                        FailureKind::Permanent,
                        format!(
                            "{key} is missing on the remote, though its index lists it: {f}. \
                             Repair the remote with `cairn push --force` from a workspace \
                             that has its objects"
                        ),
                    ));
                }
            }
        }
        return Ok(bytes);
    }
    let completed = split
        .finish()
        .map_err(|e| Failure::new(FailureKind::Permanent, e.to_string()))?;
    if completed < span.members.len() {
        return Err(Failure::new(
            FailureKind::Transient,
            format!("{key} ended before byte {}", span.end),
        ));
    }
    // A damaged member may have a whole loose copy (a forced push sends objects loose).
    let mut refused = Vec::new();
    for (i, actual) in damaged {
        let n = span.members[i].1;
        match loose_copy(store, remote, n) {
            Ok(Some(b)) => bytes += b,
            Ok(None) => refused.push(format!(
                "object {} (for {}) in {key}: {}",
                n.digest,
                n.wanted_by,
                corrupted(&actual)
            )),
            Err(f) if f.kind == FailureKind::Permanent => refused.push(f.message),
            Err(f) => return Err(f),
        }
    }
    if refused.is_empty() {
        Ok(bytes)
    } else {
        Err(Failure::new(FailureKind::Permanent, refused.join("\n  ")))
    }
}

/// Copies the run-cache entries the remote has and the workspace lacks; returns how many.
fn fetch_run_entries(
    ws: &Workspace,
    remote: &OpenRemote,
    threads: usize,
    warnings: &mut Vec<String>,
) -> Result<u64> {
    let runs = RunCache::at(&ws.runs_dir());
    let jobs: Vec<Job> = list_on(remote, &runs_prefix())?
        .into_iter()
        .filter(|key| {
            let name = key.rsplit('/').next().unwrap_or_default();
            Digest::parse(name).is_ok_and(|d| !runs.path(&d).is_file())
        })
        .map(run_entry_job)
        .collect();
    let refused = Mutex::new(Vec::new());
    let outcome = transfer::run(&jobs, threads, "fetching run-cache entries", |job| {
        let name = run_entry_name(job)?;
        let bytes = backend::get_small(remote.store.as_ref(), &job.key, RUN_ENTRY_MAX)?;
        // Someone else's file: an entry that does not parse (a bad digest or path) is left on
        // the remote and never used. It is only a cache, so the fetch goes on.
        let text = String::from_utf8_lossy(&bytes);
        match cairn_core::yaml::from_str_unique::<RunEntry>(&text) {
            Ok(entry) => runs.put(&name, &entry).map_err(local_failure)?,
            Err(e) => lock(&refused).push(format!("{}: {e}", job.key)),
        }
        Ok(0)
    });
    check(remote, &outcome, "downloads", "run the command again")?;
    let refused = refused.into_inner().unwrap_or_else(|p| p.into_inner());
    for line in &refused {
        warnings.push(format!(
            "run-cache entry on remote '{}' refused, not used: {line}",
            remote.name
        ));
    }
    Ok(outcome.done - refused.len() as u64)
}

/// The error for objects the workspace needs that are not on the remote.
fn missing_on(remote: &OpenRemote, missing: &[String]) -> Error {
    remote_error(
        remote,
        format!(
            "{} objects are not on the remote:\n  {}\npush them from a workspace that has them \
             (`cairn push`; `cairn push --force` if it says they are already on the remote)",
            missing.len(),
            first_few(missing)
        ),
    )
}

/// Fetches what the targets select into the cache, each out from its remote; fails unless
/// every object arrived. Outs with `push: false` are left out (no remote has them), and so are
/// outs of another remote than `--remote`. The caller holds the workspace lock (a `repro` beside
/// a fetch would clear the staging folder the downloads land in, and rewrite the lock and the
/// outs this reads).
pub fn fetch(ws: &Workspace, cwd: &Path, options: &TransferOptions) -> Result<FetchReport> {
    let mut selection = refs::select(ws, &options.targets, cwd)?;
    selection.tracked.extend(options.also.iter().cloned());
    fetch_routed(
        ws,
        selection,
        &options.also_if_present,
        options.remote.as_deref(),
        options.jobs,
        options.run_cache,
        true,
    )
}

/// Fetches exactly `objects` (named as [`TransferOptions::also`] names them) into the cache
/// from `remote` (the default one when `None`), failing unless every one arrived verified. For
/// a model the registry names that the cache lacks. The caller holds the workspace lock.
pub fn fetch_objects(
    ws: &Workspace,
    remote: Option<&str>,
    objects: Vec<LockedPath>,
) -> Result<FetchReport> {
    let selection = refs::Selection {
        tracked: objects,
        ..refs::Selection::default()
    };
    fetch_routed(ws, selection, &[], remote, None, false, true)
}

/// For `repro --pull`: fetches into the cache (never the workspace) everything the lock and the
/// pointer files reference, plus the run-cache, from the default remote (and the remotes outs
/// name). Objects the remote does not have are only reported (`not_on_remote`): the stages that
/// need them will run.
pub fn fetch_for_repro(ws: &Workspace) -> Result<FetchReport> {
    let selection = refs::select(ws, &[], &ws.root)?;
    fetch_routed(ws, selection, &[], None, None, true, false)
}
