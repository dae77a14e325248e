//! Names the commit in `cairn --version`: `0.1.0 (abc1234 2026-12-07)`, from git when the build
//! runs in a checkout, else from CAIRN_COMMIT (a tarball or container build sets it), else
//! the bare version.

use std::path::Path;
use std::process::Command;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    println!("cargo:rerun-if-env-changed=CAIRN_COMMIT");
    let commit = git_commit().or_else(|| {
        std::env::var("CAIRN_COMMIT")
            .ok()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
    });
    let full = match commit {
        Some(commit) => format!("{version} ({commit})"),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=CAIRN_VERSION={full}");
}

/// `abc1234 2026-12-07` for HEAD, or None when there is no git or no repository.
fn git_commit() -> Option<String> {
    let git_dir = git(&["rev-parse", "--git-dir"])?;
    let git_dir = Path::new(&git_dir);
    // A new commit moves the ref HEAD points to; a checkout rewrites HEAD itself.
    println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        // Worktrees keep branch refs in the common dir.
        let common = git(&["rev-parse", "--git-common-dir"])
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| git_dir.to_path_buf());
        println!(
            "cargo:rerun-if-changed={}",
            common.join(&reference).display()
        );
        println!(
            "cargo:rerun-if-changed={}",
            common.join("packed-refs").display()
        );
    }
    let line = git(&["log", "-1", "--format=%h %cs", "--abbrev=7"])?;
    (!line.is_empty()).then_some(line)
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
