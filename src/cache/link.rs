//! Placing a cached object in the workspace: reflink (copy-on-write clone), copy, hardlink or
//! symlink, in the order the config gives, always after checking the object's bytes.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::check_digest;
use crate::error::{Error, IoContext, Result};

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

/// Places `object` (which must hash to `digest`) at `dest` atomically.
pub(super) fn place(object: &Path, digest: &str, dest: &Path, order: &[LinkType]) -> Result<()> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".{}.cairn-tmp-{}",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    let mut last_err = None;
    for link in order {
        let placed = match link {
            LinkType::Copy => {
                // Hash while copying: one read of the object both checks and places it.
                let mut file = fs::File::create(&tmp).at(&tmp)?;
                let actual = super::copy_hashing(object, &mut file, &tmp)?;
                drop(file);
                if actual == digest {
                    Ok(())
                } else {
                    Err(corrupt(object, digest, actual))
                }
            }
            // Clone first and hash the clone: where reflinks are unsupported the attempt fails at
            // once and the copy below hashes the object, so it is read only once either way.
            LinkType::Reflink => reflink_copy::reflink(object, &tmp)
                .at(&tmp)
                .and_then(|()| check_digest(&tmp, digest, object)),
            LinkType::Hardlink => check_digest(object, digest, object)
                .and_then(|()| fs::hard_link(object, &tmp).at(&tmp)),
            LinkType::Symlink => check_digest(object, digest, object)
                .and_then(|()| std::os::unix::fs::symlink(object, &tmp).at(&tmp)),
        };
        match placed {
            Ok(()) => {
                if matches!(link, LinkType::Copy | LinkType::Reflink) {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644));
                }
                fs::rename(&tmp, dest).at(dest)?;
                return Ok(());
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                if matches!(e, Error::Corrupt { .. }) {
                    return Err(e);
                }
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| Error::Failed("no link type configured".into())))
}

fn corrupt(object: &Path, digest: &str, actual: String) -> Error {
    Error::Corrupt {
        digest: digest.to_string(),
        path: object.to_path_buf(),
        actual,
    }
}
