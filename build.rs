//! `cairn --version` names the commit it was built from: `git` when the source is a checkout,
//! else `CAIRN_COMMIT` (a container or release build from a tarball sets it), else nothing.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CAIRN_COMMIT");
    // A new commit or branch moves HEAD or the ref it points to.
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(r) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed=.git/{r}");
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let commit = std::env::var("CAIRN_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let hash = git(&["rev-parse", "--short=9", "HEAD"])?;
            let date = git(&["log", "-1", "--format=%cs"]).unwrap_or_default();
            Some(format!("{hash} {date}").trim().to_string())
        });
    let version = env!("CARGO_PKG_VERSION");
    let long = match commit {
        Some(c) => format!("{version} ({c})"),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=CAIRN_LONG_VERSION={long}");
}
