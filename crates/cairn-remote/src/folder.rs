//! A remote that is a folder (a mounted disk, a network share, another directory). An object
//! appears under its key only once all its bytes are written, so an interrupted push never
//! leaves a partial object under a real key.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::backend::{Failure, FailureKind, Remote, RemoteResult};

/// A folder remote rooted at `root`.
#[derive(Debug)]
pub struct FolderRemote {
    root: PathBuf,
}

impl FolderRemote {
    /// The remote in folder `root`, which need not exist yet.
    pub fn new(root: PathBuf) -> FolderRemote {
        FolderRemote { root }
    }
}

fn io_failure(what: &str, path: &Path, e: io::Error) -> Failure {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => FailureKind::NotFound,
        io::ErrorKind::Interrupted | io::ErrorKind::TimedOut => FailureKind::Transient,
        _ => FailureKind::Permanent,
    };
    Failure::new(kind, format!("{what} {}: {e}", path.display()))
}

impl Remote for FolderRemote {
    fn list(&self, prefix: &str) -> RemoteResult<Vec<String>> {
        let base = self.root.join(prefix.trim_end_matches('/'));
        let mut keys = Vec::new();
        for entry in walkdir::WalkDir::new(&base).min_depth(1) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if e.io_error().map(io::Error::kind) == Some(io::ErrorKind::NotFound) => {
                    continue;
                }
                Err(e) => {
                    return Err(Failure::new(
                        FailureKind::Permanent,
                        format!("listing {}: {e}", base.display()),
                    ));
                }
            };
            let name = entry.file_name().to_string_lossy();
            if !entry.file_type().is_file() || name.starts_with('.') {
                continue;
            }
            if let Ok(rel) = entry.path().strip_prefix(&self.root) {
                keys.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(keys)
    }

    fn put(&self, key: &str, src: &Path) -> RemoteResult<()> {
        let dest = self.root.join(key);
        let dir = dest.parent().unwrap_or(&self.root);
        // Try first, create the folder only when it is missing: one call fewer per object.
        match put_unnamed(src, dir, &dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(|e| io_failure("creating", dir, e))?;
                put_unnamed(src, dir, &dest)
            }
            other => other,
        }
        .map_err(|e| io_failure("writing", &dest, e))?;
        Ok(())
    }

    fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> RemoteResult<()> {
        let dest = self.root.join(key);
        let dir = dest.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|e| io_failure("creating", dir, e))?;
        let written = tempfile::Builder::new()
            .prefix(".cairn-tmp-")
            .tempfile_in(dir)
            .and_then(|mut tmp| {
                tmp.write_all(&bytes)?;
                tmp.persist(&dest).map_err(|e| e.error)
            });
        written.map_err(|e| io_failure("writing", &dest, e))?;
        Ok(())
    }

    fn get_range(&self, key: &str, start: u64, end: u64, out: &mut dyn Write) -> RemoteResult<()> {
        let src = self.root.join(key);
        let mut file = fs::File::open(&src).map_err(|e| io_failure("reading", &src, e))?;
        file.seek(SeekFrom::Start(start))
            .map_err(|e| io_failure("reading", &src, e))?;
        let mut range = file.take(end.saturating_sub(start));
        let copied = io::copy(&mut range, out).map_err(|e| io_failure("reading", &src, e))?;
        if copied < end.saturating_sub(start) {
            return Err(Failure::new(
                FailureKind::Permanent,
                format!("{} ends before byte {end}", src.display()),
            ));
        }
        Ok(())
    }

    fn get(&self, key: &str, out: &mut dyn Write) -> RemoteResult<()> {
        let src = self.root.join(key);
        let mut file = fs::File::open(&src).map_err(|e| io_failure("reading", &src, e))?;
        // No bigger than the object: zeroing a large buffer per small object costs more than
        // the object.
        let len = file.metadata().map_or(0, |m| m.len());
        let mut buf = vec![0u8; len.saturating_add(1).clamp(4096, 256 << 10) as usize];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_failure("reading", &src, e)),
            };
            out.write_all(&buf[..n]).map_err(|e| {
                Failure::new(FailureKind::Permanent, format!("writing {key} here: {e}"))
            })?;
        }
    }
}

/// Copies `src` to `dest` (in `dir`), replacing it, so that `dest` appears whole or not at all.
///
/// On Linux the bytes go into an unnamed file in `dir` (`O_TMPFILE`), which is then linked
/// under its name. Compared with a named temporary file renamed into place this saves a
/// directory entry created and removed per object, and `dir` stays unlocked while the file is
/// made and filled, which matters with several uploads into one folder at a time.
/// Filesystems without `O_TMPFILE` (network shares, some FUSE mounts) take the rename path.
fn put_unnamed(src: &Path, dir: &Path, dest: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let unnamed = fs::OpenOptions::new()
            .write(true)
            .mode(0o444)
            .custom_flags(libc::O_TMPFILE)
            .open(dir);
        match unnamed {
            Ok(mut file) => {
                io::copy(&mut fs::File::open(src)?, &mut file)?;
                match link_unnamed(&file, dest) {
                    Ok(()) => return Ok(()),
                    // Something is there already: replaced below (by a rename), as what is
                    // there may be damaged (`cairn push --force` sends objects to replace
                    // them); when another push placed the same object first, the same bytes.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    // No /proc to link through: fall back below.
                    Err(e) if e.kind() == io::ErrorKind::NotFound && dir.is_dir() => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
            // Not supported here (EOPNOTSUPP, EISDIR or EINVAL on older kernels).
            Err(_) => {}
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix(".cairn-tmp-")
        .tempfile_in(dir)?;
    fs::copy(src, tmp.path())?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

/// Gives the unnamed file `file` the name `dest`. `linkat` through `/proc/self/fd` needs no
/// privilege (`AT_EMPTY_PATH` would need `CAP_DAC_READ_SEARCH`).
#[cfg(target_os = "linux")]
fn link_unnamed(file: &fs::File, dest: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = CString::new(dest.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
