//! Running stale stages: a small worker pool that starts a stage as soon as everything upstream
//! of it is done, so independent stages run at once (`--jobs`). Each stage is checked right
//! before it would run — after its upstream ran — so a stage whose upstream produced identical
//! outs does not run. A stale stage is first restored from the cache when its exact inputs were
//! seen before (the run-cache, or its own lock entry with outs deleted); otherwise its command
//! runs, its deps are hashed again to make sure they did not change during the run, and its outs
//! are stored and recorded in `pipeline.lock`.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};

use super::run_cache::{RunCache, RunEntry};
use super::staleness::{Observed, Reason, check};
use crate::cache::ObjectStore;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::hash::Hasher;
use crate::lock::{Lock, LockedPath, LockedStage};
use crate::pipeline::{Pipeline, Stage};
use crate::workspace::Workspace;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Run selected stages even when up to date.
    pub force: bool,
    /// Do not restore from the run-cache.
    pub no_run_cache: bool,
    /// Go on with independent stages after a failure.
    pub keep_going: bool,
    /// Stages at once.
    pub jobs: usize,
}

/// What happened to one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do.
    UpToDate,
    /// Its command ran.
    Ran,
    /// Its outs were restored from the cache instead.
    Restored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

/// Counts of what a run did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Stages whose command ran.
    pub ran: Vec<String>,
    /// Stages restored from the cache.
    pub restored: Vec<String>,
    /// Stages that were up to date.
    pub up_to_date: usize,
    /// Stages not run because something upstream failed.
    pub skipped: Vec<String>,
}

/// One `repro` over a set of stages.
pub struct Executor<'a> {
    ws: &'a Workspace,
    pipeline: &'a Pipeline,
    store: &'a ObjectStore,
    hasher: &'a Hasher,
    run_cache: RunCache,
    lock: Mutex<Lock>,
    options: Options,
    path_env: OsString,
}

impl<'a> Executor<'a> {
    /// An executor for the workspace; `lock` is the current `pipeline.lock`.
    pub fn new(
        ws: &'a Workspace,
        pipeline: &'a Pipeline,
        store: &'a ObjectStore,
        hasher: &'a Hasher,
        lock: Lock,
        options: Options,
    ) -> Executor<'a> {
        // The running cairn's folder goes first on PATH, so a stage's `cairn …` is this binary.
        let mut path_env = OsString::new();
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            path_env.push(dir);
            path_env.push(":");
        }
        path_env.push(std::env::var_os("PATH").unwrap_or_default());
        Executor {
            ws,
            pipeline,
            store,
            hasher,
            run_cache: RunCache::at(&ws.runs_dir()),
            lock: Mutex::new(lock),
            options,
            path_env,
        }
    }

    /// Runs the `selected` stages (indices in topological order). Returns what happened, or the
    /// error of the stage that failed (with `--keep-going`, every failure is printed and the
    /// error counts them).
    pub fn run(&self, selected: &[usize]) -> Result<Summary> {
        let n = selected.len();
        let position = |stage: usize| selected.iter().position(|&s| s == stage);
        let upstream: Vec<Vec<usize>> = selected
            .iter()
            .map(|&i| {
                self.pipeline
                    .graph
                    .upstream(i)
                    .iter()
                    .filter_map(|&u| position(u))
                    .collect()
            })
            .collect();
        struct Board {
            states: Vec<State>,
            stop: bool,
            errors: Vec<Error>,
            summary: Summary,
        }
        let board = Mutex::new(Board {
            states: vec![State::Pending; n],
            stop: false,
            errors: Vec::new(),
            summary: Summary::default(),
        });
        let wake = Condvar::new();
        let lock_board = || board.lock().unwrap_or_else(|p| p.into_inner());

        let worker = || loop {
            let mut b = lock_board();
            let k = loop {
                if b.stop {
                    return;
                }
                let mut next = None;
                let mut pending = false;
                for k in 0..n {
                    if b.states[k] != State::Pending {
                        continue;
                    }
                    pending = true;
                    if upstream[k]
                        .iter()
                        .any(|&u| matches!(b.states[u], State::Failed | State::Skipped))
                    {
                        b.states[k] = State::Skipped;
                        let name = self.pipeline.stages[selected[k]].name.clone();
                        b.summary.skipped.push(name);
                        wake.notify_all();
                        continue;
                    }
                    if upstream[k].iter().all(|&u| b.states[u] == State::Done) {
                        next = Some(k);
                        break;
                    }
                }
                match next {
                    Some(k) => break k,
                    None if !pending => return,
                    None => b = wake.wait(b).unwrap_or_else(|p| p.into_inner()),
                }
            };
            b.states[k] = State::Running;
            drop(b);

            let stage = &self.pipeline.stages[selected[k]];
            let result = self.stage(stage);
            let mut b = lock_board();
            match result {
                Ok(outcome) => {
                    b.states[k] = State::Done;
                    match outcome {
                        Outcome::Ran => b.summary.ran.push(stage.name.clone()),
                        Outcome::Restored => b.summary.restored.push(stage.name.clone()),
                        Outcome::UpToDate => b.summary.up_to_date += 1,
                    }
                }
                Err(e) => {
                    b.states[k] = State::Failed;
                    b.errors.push(e);
                    if !self.options.keep_going {
                        b.stop = true;
                    }
                }
            }
            wake.notify_all();
        };
        std::thread::scope(|s| {
            for _ in 0..self.options.jobs.clamp(1, n.max(1)) {
                s.spawn(worker);
            }
        });

        let b = board.into_inner().unwrap_or_else(|p| p.into_inner());
        for name in &b.summary.skipped {
            crate::report::err(format!(
                "skipped stage '{name}': a stage it depends on failed"
            ));
        }
        let mut errors = b.errors;
        match errors.len() {
            0 => Ok(b.summary),
            1 => Err(errors.remove(0)),
            k => {
                for e in &errors {
                    crate::report::err(format!("error: {e}"));
                }
                Err(Error::Failed(format!("{k} stages failed")))
            }
        }
    }

    fn stage(&self, stage: &Stage) -> Result<Outcome> {
        let locked = self.lock_guard().stages.get(&stage.name).cloned();
        let (reasons, observed) = check(stage, self.pipeline, locked.as_ref(), self.hasher)?;
        if stage.frozen {
            // A frozen stage never runs; the only reason it can have is a missing out, which
            // fails it as DVC's "missing data" does.
            let missing: Vec<&str> = reasons
                .iter()
                .filter_map(|r| match r {
                    Reason::FrozenOutMissing { path, .. } => Some(path.as_str()),
                    _ => None,
                })
                .collect();
            if !missing.is_empty() {
                let (noun, verb, them) = if missing.len() == 1 {
                    ("out", "is", "it")
                } else {
                    ("outs", "are", "them")
                };
                let list: Vec<String> = missing.iter().map(|p| format!("'{p}'")).collect();
                return Err(stage_error(
                    stage,
                    format!(
                        "the stage is frozen and its {noun} {} {verb} missing; restore {them} \
                         (`cairn checkout {name}` or `cairn pull {name}`) or unfreeze the stage \
                         (remove `frozen: true` from {}) so that repro makes {them}",
                        list.join(", "),
                        self.pipeline.file.display(),
                        name = stage.name,
                    ),
                ));
            }
            crate::report::out(format!("Stage '{}' is frozen, skipping", stage.name));
            return Ok(Outcome::UpToDate);
        }
        if reasons.is_empty() && !self.options.force {
            crate::report::out(format!("Stage '{}' didn't change, skipping", stage.name));
            return Ok(Outcome::UpToDate);
        }
        if let Some(Reason::DepMissing { path, tracked_by }) = reasons
            .iter()
            .find(|r| matches!(r, Reason::DepMissing { .. }))
        {
            let tracked = match tracked_by {
                Some(_) => crate::tracked::tracking(&self.ws.root, path)?,
                None => None,
            };
            return Err(match tracked {
                Some(t) => Error::TrackedMissing {
                    stage: stage.name.clone(),
                    path: path.clone(),
                    fix: t.fix(&crate::tracked::DataState::Missing),
                    pointer: t.pointer,
                },
                None => stage_error(stage, format!("dep '{path}' does not exist")),
            });
        }

        let key = RunCache::key(&observed.inputs)?;
        // A forced or always-changed stage runs for real.
        let may_restore = !self.options.force && !stage.always_changed;
        if let Some(entry) = self
            .restorable(stage, &key, locked.as_ref())
            .filter(|_| may_restore)
        {
            match self.restore(stage, &observed, &entry) {
                Ok(()) => {
                    self.record(stage, observed.inputs, entry.outs)?;
                    crate::report::out(format!("Stage '{}' restored from run-cache", stage.name));
                    return Ok(Outcome::Restored);
                }
                // A damaged object is dropped (so the run below stores good bytes again) and
                // the stage runs instead.
                Err(Error::Corrupt { digest, path, .. }) => {
                    crate::report::err(format!(
                        "warning: cache object {} is corrupted; removing it and running stage '{}' instead",
                        path.display(),
                        stage.name
                    ));
                    self.store.remove(&digest)?;
                }
                Err(e) => return Err(e),
            }
        }

        let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        crate::report::out(format!(
            "Running stage '{}'{}",
            stage.name,
            if why.is_empty() {
                " (forced)".to_string()
            } else {
                format!(" ({})", why.join(", "))
            }
        ));
        for out in &stage.outs {
            crate::confine::check_placeable(&self.ws.root, &out.path)?;
            let abs = self.ws.root.join(&out.path);
            if let Some(parent) = abs.parent() {
                // What a killed run of this stage left half-written beside its outs.
                crate::confine::remove_stale_temps(parent, true);
            }
            if !out.persist {
                remove_path(&abs)?;
            } else if self.store.links_outs() {
                // A persistent out is edited by its command: a hard or symbolic link into the
                // cache would edit the cached object (root ignores its read-only mode).
                crate::cache::unlink_from_cache(&abs)?;
            }
            if let Some(parent) = abs.parent() {
                std::fs::create_dir_all(parent).at(parent)?;
            }
        }
        for cmd in &stage.cmd {
            self.run_command(stage, cmd)?;
        }

        for out in &stage.outs {
            if std::fs::symlink_metadata(self.ws.root.join(&out.path)).is_err() {
                return Err(stage_error(
                    stage,
                    format!(
                        "the command did not produce '{}', which the stage declares as an out",
                        out.path
                    ),
                ));
            }
        }
        // Deps are hashed again: an edit made while the stage ran must not be recorded as the
        // input of this run.
        for dep in &observed.inputs.deps {
            let now = self.hasher.hash_dep(&dep.path)?;
            if now.as_ref().map(|h| &h.digest) != Some(&dep.digest) {
                return Err(stage_error(
                    stage,
                    format!(
                        "dep '{}' changed while the stage ran; run `cairn repro` again",
                        dep.path
                    ),
                ));
            }
        }
        let mut outs = Vec::new();
        for out in &stage.outs {
            let abs = self.ws.root.join(&out.path);
            let hashed = self.hasher.hash(&out.path)?.ok_or_else(|| {
                stage_error(
                    stage,
                    format!("out '{}' disappeared after the command", out.path),
                )
            })?;
            if out.cache {
                crate::confine::check_inside(&self.ws.root, &abs)?;
                self.store.insert_path(&abs, &hashed)?;
                crate::gitignore::ignore(&self.ws.root, &out.path)?;
                if self.store.links_outs() {
                    match &hashed.manifest {
                        None => self.store.checkout_file(&hashed.digest, &abs)?,
                        Some(_) => self.store.checkout_dir(&hashed.digest, &abs, None)?,
                    }
                }
            }
            outs.push(LockedPath::new(&out.path, &hashed)?);
        }
        if stage.outs.iter().all(|o| o.cache) && !stage.always_changed {
            self.run_cache.put(&key, &RunEntry { outs: outs.clone() })?;
        }
        self.record(stage, observed.inputs, outs)?;
        Ok(Outcome::Ran)
    }

    fn lock_guard(&self) -> std::sync::MutexGuard<'_, Lock> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the stage's new entry into `pipeline.lock` (dropping entries of stages the pipeline
    /// no longer has).
    fn record(&self, stage: &Stage, inputs: LockedStage, outs: Vec<LockedPath>) -> Result<()> {
        let mut lock = self.lock_guard();
        lock.stages
            .insert(stage.name.clone(), LockedStage { outs, ..inputs });
        let names: std::collections::HashSet<&str> = self
            .pipeline
            .stages
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        lock.stages.retain(|name, _| names.contains(name.as_str()));
        lock.write(&self.ws.lock_path())
    }

    /// Outs recorded for exactly these inputs whose bytes are all at hand: the run-cache entry
    /// for `key`, or the stage's own lock entry if its inputs are unchanged (outs deleted or
    /// modified by hand).
    fn restorable(
        &self,
        stage: &Stage,
        key: &Digest,
        locked: Option<&LockedStage>,
    ) -> Option<RunEntry> {
        let from_lock = locked
            .filter(|l| RunCache::key(l).is_ok_and(|k| k == *key))
            .map(|l| RunEntry {
                outs: l.outs.clone(),
            });
        let from_run_cache = if self.options.no_run_cache {
            None
        } else {
            self.run_cache.get(key)
        };
        [from_lock, from_run_cache]
            .into_iter()
            .flatten()
            .find(|e| outs_match(stage, e) && self.all_cached(e))
    }

    fn all_cached(&self, entry: &RunEntry) -> bool {
        entry.outs.iter().all(|o| {
            if !self.store.contains(&o.digest) {
                return false;
            }
            if !o.is_dir() {
                return true;
            }
            self.store
                .manifest(&o.digest)
                .map(|m| m.entries.iter().all(|e| self.store.contains(&e.digest)))
                .unwrap_or(false)
        })
    }

    fn restore(&self, stage: &Stage, observed: &Observed, entry: &RunEntry) -> Result<()> {
        for out in &entry.outs {
            crate::confine::check_placeable(&self.ws.root, &out.path)?;
            let abs = self.ws.root.join(&out.path);
            let current = observed
                .outs
                .iter()
                .find(|(p, _)| p == &out.path)
                .and_then(|(_, h)| h.as_ref());
            if current.map(|h| &h.digest) == Some(&out.digest) {
                continue;
            }
            if out.is_dir() {
                let manifest = current.and_then(|h| h.manifest.as_ref());
                self.store.checkout_dir(&out.digest, &abs, manifest)?;
            } else {
                self.store.checkout_file(&out.digest, &abs)?;
            }
            if stage.outs.iter().any(|o| o.path == out.path && o.cache) {
                crate::gitignore::ignore(&self.ws.root, &out.path)?;
            }
        }
        Ok(())
    }

    fn run_command(&self, stage: &Stage, cmd: &str) -> Result<()> {
        crate::report::out(format!("> {cmd}"));
        let dir = self.ws.root.join(&stage.wdir);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(cmd)
            .current_dir(&dir)
            .env("PATH", &self.path_env)
            // A cairn command of the stage that needs the workspace lock, which this process
            // holds, fails at once instead of waiting for it forever.
            .env(crate::workspace::REPRO_STAGE_ENV, &stage.name)
            .env(
                crate::workspace::REPRO_PID_ENV,
                std::process::id().to_string(),
            );
        let status = if self.options.jobs > 1 {
            // Several stages at once: prefix every line with the stage's name so the outputs stay
            // readable when they interleave.
            command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .stdin(Stdio::null());
            let mut child = command.spawn().at(&dir)?;
            let prefix = format!("[{}] ", stage.name);
            let out = child.stdout.take();
            let err = child.stderr.take();
            std::thread::scope(|s| {
                if let Some(out) = out {
                    let prefix = &prefix;
                    s.spawn(move || relay(out, prefix, false));
                }
                if let Some(err) = err {
                    let prefix = &prefix;
                    s.spawn(move || relay(err, prefix, true));
                }
            });
            child.wait().at(&dir)?
        } else {
            command.status().at(&dir)?
        };
        if status.success() {
            return Ok(());
        }
        let how = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => "failed".to_string(),
        };
        Err(stage_error(stage, format!("command `{cmd}` {how}")))
    }
}

fn relay(stream: impl std::io::Read, prefix: &str, to_stderr: bool) {
    for line in BufReader::new(stream).split(b'\n').map_while(|l| l.ok()) {
        let line = String::from_utf8_lossy(&line);
        if to_stderr {
            crate::report::err(format!("{prefix}{line}"));
        } else {
            crate::report::out(format!("{prefix}{line}"));
        }
    }
}

fn stage_error(stage: &Stage, message: String) -> Error {
    Error::Stage {
        stage: stage.name.clone(),
        message,
    }
}

/// Whether a run-cache entry (possibly fetched from a shared remote, so written by someone else)
/// records exactly the outs `stage` declares, each once: an entry naming other paths
/// (`../x`, `pipeline.yaml`, another stage's out) is never placed.
fn outs_match(stage: &Stage, entry: &RunEntry) -> bool {
    let declared: std::collections::BTreeSet<&str> =
        stage.outs.iter().map(|o| o.path.as_str()).collect();
    let recorded: std::collections::BTreeSet<&str> =
        entry.outs.iter().map(|o| o.path.as_str()).collect();
    recorded.len() == entry.outs.len() && declared == recorded
}

/// Removes a file, link or directory; a missing path is fine.
pub fn remove_path(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).at(path),
        Ok(_) => std::fs::remove_file(path).at(path),
    }
}
