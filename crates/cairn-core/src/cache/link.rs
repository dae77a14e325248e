//! Placing a cached object in the workspace: reflink (copy-on-write clone), copy, hardlink or
//! symlink, in the order the config gives, always after checking the object's bytes.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::check_digest;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::workspace::LinkType;

/// Places `object` (which must hash to `digest`) at `dest` atomically.
/// The file is made in `tmp_dir` (`.cairn/tmp/`, where a killed process's leftovers are found
/// and removed) and renamed into place; where `dest` is on another file system it is made beside
/// `dest` instead.
pub(super) fn place(
    object: &Path,
    digest: &Digest,
    dest: &Path,
    order: &[LinkType],
    tmp_dir: &Path,
) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "place-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    match place_via(object, digest, dest, order, &tmp_dir.join(&name)) {
        Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::EXDEV) => {
            let parent = dest.parent().unwrap_or(Path::new("."));
            let beside = format!("{}{name}", crate::confine::TEMP_PREFIX);
            place_via(object, digest, dest, order, &parent.join(beside))
        }
        placed => placed,
    }
}

fn place_via(
    object: &Path,
    digest: &Digest,
    dest: &Path,
    order: &[LinkType],
    tmp: &Path,
) -> Result<()> {
    let tmp = tmp.to_path_buf();
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
                if actual == *digest {
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
                if let Err(e) = fs::rename(&tmp, dest) {
                    let _ = fs::remove_file(&tmp);
                    return Err(e).at(dest);
                }
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

fn corrupt(object: &Path, digest: &Digest, actual: Digest) -> Error {
    Error::Corrupt {
        digest: digest.clone(),
        path: object.to_path_buf(),
        actual,
    }
}
