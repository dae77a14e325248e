//! `cairn exp apply`, `branch`, `remove`.

use std::path::Path;
use std::process::{Command, ExitCode};

use cairn_core::exp::{self, ExpRecord, Status};
use cairn_core::rel_path::RelPath;
use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};

/// The experiment `name`, which must have finished well.
fn succeeded(ws: &Workspace, name: &str) -> Result<ExpRecord> {
    let record = exp::read(ws, name)?;
    if record.status != Status::Succeeded {
        return Err(Error::Usage(format!(
            "experiment '{name}' is {:?}, not succeeded: only a finished experiment's params and lock can be applied",
            record.status
        )
        .to_lowercase()));
    }
    Ok(record)
}

/// Writes the experiment's kept files (params, lock, metrics) under `root`, each path checked
/// to stay inside it.
fn write_files(root: &Path, record: &ExpRecord) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for (file, text) in &record.files {
        let rel = RelPath::parse(file).map_err(|e| {
            Error::invalid(
                format!("experiment {}", record.name),
                format!("file {file}: {e}"),
            )
        })?;
        // A record may come from a remote: it writes its lock and its data files, nothing of
        // git's or cairn's, never through a link.
        let own = rel.as_str() == cairn_core::workspace::LOCK_FILE
            || rel.as_str() == "params.yaml"
            || record.overrides.iter().any(|o| o.file == rel.as_str());
        if !own && let Some(why) = cairn_core::confine::reserved(rel.as_str()) {
            return Err(Error::refused(
                root.join(rel.as_str()),
                format!("experiment {}: will not write it: {why}", record.name),
            ));
        }
        cairn_core::confine::check_no_links(root, rel.as_str())?;
        let path = root.join(rel.as_str());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Io {
                path: parent.to_path_buf(),
                source: e,
            })?;
        }
        cairn_core::atomic::write(&path, text.as_bytes())?;
        written.push(file.clone());
    }
    Ok(written)
}

/// `cairn exp apply NAME`.
pub fn apply(name: &str) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let record = succeeded(&ws, name)?;
    let _lock = ws.lock("exp apply")?;
    let written = write_files(&ws.root, &record)?;
    let report = cairn_core::repro::checkout_workspace(&ws, &[])?;
    println!(
        "applied {name}: {} ({} outs checked out)",
        written.join(", "),
        report.restored.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `cairn exp branch NAME BRANCH`: BRANCH from the experiment's parent commit, with one commit
/// holding its params and lock. The workspace is not touched (a temporary git worktree is).
pub fn branch(name: &str, branch: &str) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let record = succeeded(&ws, name)?;
    let parent = record.parent.clone().ok_or_else(|| {
        Error::Usage(format!(
            "experiment '{name}' was not run in a git repository: there is no commit to branch from"
        ))
    })?;
    git(&ws.root, &["check-ref-format", "--branch", branch])
        .map_err(|_| Error::Usage(format!("'{branch}' is not a branch name git accepts")))?;
    let worktree = ws.tmp_dir().join(format!("exp-branch-{name}"));
    let _ = std::fs::remove_dir_all(&worktree);
    let shown = worktree.display().to_string();
    git(
        &ws.root,
        &["worktree", "add", "--quiet", "-b", branch, &shown, &parent],
    )?;
    let result = (|| -> Result<()> {
        // The experiment's files sit where they sit in the workspace, below the repository root.
        let prefix = git(&ws.root, &["rev-parse", "--show-prefix"])?;
        let root = worktree.join(prefix.trim());
        let written = write_files(&root, &record)?;
        // What the repository ignores (outs, metrics kept out of git) stays out of the commit.
        let tracked: Vec<&String> = written
            .iter()
            .filter(|f| git(&root, &["check-ignore", "-q", "--", f]).is_err())
            .collect();
        let mut add = vec!["add", "--"];
        add.extend(tracked.iter().map(|f| f.as_str()));
        git(&root, &add)?;
        let message = format!(
            "cairn exp {name}: {}",
            record
                .overrides
                .iter()
                .map(|o| o.shown())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let name_cfg = git(&ws.root, &["config", "user.name"]).unwrap_or_default();
        let mut commit: Vec<&str> = Vec::new();
        if name_cfg.trim().is_empty() {
            commit.extend(["-c", "user.name=cairn", "-c", "user.email=cairn@localhost"]);
        }
        commit.extend(["commit", "--quiet", "-m", &message]);
        git(&root, &commit)?;
        Ok(())
    })();
    let _ = git(&ws.root, &["worktree", "remove", "--force", &shown]);
    result?;
    println!(
        "branch {branch}: {name} on {}",
        &parent[..parent.len().min(7)]
    );
    Ok(ExitCode::SUCCESS)
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| Error::Failed(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `cairn exp remove NAME… | --all | --queued`.
pub fn remove(names: &[String], all: bool, queued: bool) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let chosen: Vec<String> = if all || queued {
        exp::list_summaries(&ws)?
            .into_iter()
            .filter(|r| all || r.status == Status::Queued)
            .map(|r| r.name)
            .collect()
    } else if names.is_empty() {
        return Err(Error::Usage(
            "name experiments to remove, or --all, or --queued".into(),
        ));
    } else {
        names.to_vec()
    };
    for name in &chosen {
        exp::remove(&ws, name)?;
    }
    println!("removed {} experiments", chosen.len());
    Ok(ExitCode::SUCCESS)
}
