//! Who did something, when, and from which commit: what every version and alias move records.

use std::path::Path;
use std::process::Command;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// git's `user.name` (with `user.email`), else `$USER`, else `unknown`.
    pub by: String,
    /// Now, RFC 3339 in UTC to the second.
    pub at: String,
}

impl Stamp {
    /// Who is running this, in `root`, now.
    pub fn now(root: &Path) -> Stamp {
        // One git process for both (each costs a few milliseconds of a promote).
        let found =
            git(root, &["config", "--get-regexp", r"^user\.(name|email)$"]).unwrap_or_default();
        let value = |key: &str| {
            found
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
                .map(str::to_string)
                .filter(|v| !v.is_empty())
        };
        let (name, email) = (value("user.name"), value("user.email"));
        let by = match (name, email) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (Some(name), None) => name,
            (None, Some(email)) => email,
            (None, None) => std::env::var("USER")
                .ok()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| "unknown".into()),
        };
        Stamp { by, at: now() }
    }
}

/// Now, as the registry writes times.
pub fn now() -> String {
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// A time as `history --at` takes it: RFC 3339, or a date meaning the end of that day in UTC.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{text}T23:59:59Z"), &Rfc3339))
        .map_err(|_| {
            "not a time; give RFC 3339 (2026-12-01T09:00:00Z) or a date (2026-12-01)".into()
        })
}

/// The commit checked out in `root`, `+dirty` when tracked files differ from it; none outside
/// a git repository.
pub fn commit(root: &Path) -> Option<String> {
    let head = git(root, &["rev-parse", "--verify", "--quiet", "HEAD"])?;
    let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"]).is_some();
    Some(if dirty { format!("{head}+dirty") } else { head })
}

/// git's trimmed output, when it succeeds and says something.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}
