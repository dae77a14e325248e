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
    // Reflink and copy fill one file, made once: a failed clone leaves it empty for the copy.
    // (Creating and deleting a file per failed clone would also leave ext4 slow to allocate
    // inodes for a while: it skips recently freed ones one by one.)
    let mut made: Option<fs::File> = None;
    let known = super::was_fetched(digest);
    let check = |file: &Path| {
        if known {
            Ok(())
        } else {
            check_digest(file, digest, object)
        }
    };
    let mut last_err = None;
    for link in order {
        let placed = match link {
            LinkType::Copy if known => made_file(&mut made, &tmp).and_then(|file| {
                let mut src = fs::File::open(object).at(object)?;
                std::io::copy(&mut src, file).at(&tmp).map(drop)
            }),
            LinkType::Copy => made_file(&mut made, &tmp).and_then(|file| {
                // Hash while copying: one read of the object both checks and places it.
                let actual = super::copy_hashing(object, file, &tmp)?;
                if actual == digest {
                    Ok(())
                } else {
                    Err(corrupt(object, digest, actual))
                }
            }),
            // Clone first and hash the clone: where reflinks are unsupported the attempt fails at
            // once and the copy hashes the object, so it is read only once either way.
            LinkType::Reflink => made_file(&mut made, &tmp).and_then(|file| {
                let src = fs::File::open(object).at(object)?;
                reflink_copy::reflink_file(&src, file)
                    .at(&tmp)
                    .and_then(|()| check(&tmp))
            }),
            LinkType::Hardlink | LinkType::Symlink => {
                if made.take().is_some() {
                    let _ = fs::remove_file(&tmp);
                }
                check(object).and_then(|()| {
                    if *link == LinkType::Hardlink {
                        fs::hard_link(object, &tmp).at(&tmp)
                    } else {
                        std::os::unix::fs::symlink(object, &tmp).at(&tmp)
                    }
                })
            }
        };
        match placed {
            Ok(()) => {
                if let Some(file) = made.take() {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = file.set_permissions(fs::Permissions::from_mode(0o644));
                }
                fs::rename(&tmp, dest).at(dest)?;
                return Ok(());
            }
            Err(e) => {
                let corrupted = matches!(e, Error::Corrupt { .. });
                // A failed clone leaves the file empty; a failed copy may have written some.
                if (corrupted || *link == LinkType::Copy) && made.take().is_some() {
                    let _ = fs::remove_file(&tmp);
                }
                if corrupted {
                    return Err(e);
                }
                last_err = Some(e);
            }
        }
    }
    drop(made);
    let _ = fs::remove_file(&tmp);
    Err(last_err.unwrap_or_else(|| Error::Failed("no link type configured".into())))
}

/// The temporary file reflink and copy fill, created on first use.
fn made_file<'a>(made: &'a mut Option<fs::File>, tmp: &Path) -> Result<&'a mut fs::File> {
    match made {
        Some(file) => Ok(file),
        None => Ok(made.insert(fs::File::create(tmp).at(tmp)?)),
    }
}

fn corrupt(object: &Path, digest: &str, actual: String) -> Error {
    Error::Corrupt {
        digest: digest.to_string(),
        path: object.to_path_buf(),
        actual,
    }
}
