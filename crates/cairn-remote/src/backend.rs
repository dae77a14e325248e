//! The one interface every remote store offers: list keys under a prefix, put a file under a key,
//! stream a key's bytes out. Keys are `/`-separated and relative to the remote's root or prefix:
//! objects are `v1/ab/cdef…` (the cache's own naming), packs of small objects `packs/v1/<id>`
//! with their indexes `packs/v1/<id>.idx`, run-cache entries `runs/v1/<key>`.

use std::fmt;
use std::io::Write;
use std::path::Path;

use cairn_core::digest::Digest;

/// Why one remote operation failed; [`Transient`](FailureKind::Transient) ones are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The key is not on the remote.
    NotFound,
    /// Worth trying again: a dropped connection, a 5xx, throttling.
    Transient,
    /// The remote did not answer within a timeout: tried again, but fewer times than
    /// [`Transient`](FailureKind::Transient), so that waits do not add up to many minutes.
    TimedOut,
    /// Trying again will not help (access denied, no such bucket, a local disk error).
    Permanent,
}

/// A failed remote operation.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Whether to retry.
    pub kind: FailureKind,
    /// What happened, naming the key or file.
    pub message: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Result of a remote operation.
pub type RemoteResult<T> = std::result::Result<T, Failure>;

/// A remote store. Implementations are shared by the transfer threads.
pub trait Remote: Send + Sync {
    /// Every key directly under `prefix` (itself `/`-terminated), relative to the remote's
    /// root. cairn's layouts are flat below the prefixes it lists (`v1/ab/`, `runs/v1/`).
    fn list(&self, prefix: &str) -> RemoteResult<Vec<String>>;
    /// The `/`-terminated folders directly under `prefix` (`v1/00/`, `v1/3f/`, …), each to be
    /// listed on its own and in parallel; `None` when one [`Remote::list`] of `prefix` answers
    /// for the whole tree as cheaply (a local folder).
    fn folders(&self, _prefix: &str) -> RemoteResult<Option<Vec<String>>> {
        Ok(None)
    }
    /// Stores the file `src` under `key`, replacing it; a reader never sees a partial object.
    fn put(&self, key: &str, src: &Path) -> RemoteResult<()>;
    /// How many uploads one transfer thread keeps in flight through [`Remote::put_all`].
    fn puts_per_thread(&self) -> usize {
        1
    }
    /// [`Remote::put`] for each `(key, src)`, in flight together where the remote can; one
    /// result per item, in order.
    fn put_all(&self, items: &[(&str, &Path)]) -> Vec<RemoteResult<()>> {
        items.iter().map(|(key, src)| self.put(key, src)).collect()
    }
    /// Stores `bytes` under `key`, replacing it; a reader never sees a partial object.
    fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> RemoteResult<()>;
    /// Whether a push gathers small objects into packs ([`super::pack`]): worth it where each
    /// request has a cost of its own (S3), not in a folder, which stays a plain copy of the
    /// cache that any tool can inspect. Every remote can read packs.
    fn packs(&self) -> bool {
        false
    }
    /// Writes the object `key` into `out`, streaming, in writes of a useful size (`out` is not
    /// buffered).
    fn get(&self, key: &str, out: &mut dyn Write) -> RemoteResult<()>;
    /// Like [`Remote::get`] for bytes `start..end` of the object; fewer bytes is a failure.
    fn get_range(&self, key: &str, start: u64, end: u64, out: &mut dyn Write) -> RemoteResult<()>;
}

/// The whole of a small object `key` (an index, a run-cache entry): more than `max` bytes is
/// refused, so a remote cannot make cairn hold an unbounded file in memory.
pub fn get_small(remote: &dyn Remote, key: &str, max: u64) -> RemoteResult<Vec<u8>> {
    struct Capped {
        bytes: Vec<u8>,
        max: u64,
        over: bool,
    }
    impl Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if (self.bytes.len() + buf.len()) as u64 > self.max {
                self.over = true;
                return Err(std::io::Error::other("too large"));
            }
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped {
        bytes: Vec::new(),
        max,
        over: false,
    };
    remote.get(key, &mut out).map_err(|f| {
        if out.over {
            Failure::new(
                FailureKind::Permanent,
                format!("{key} is larger than {max} bytes; refused"),
            )
        } else {
            f
        }
    })?;
    Ok(out.bytes)
}

/// The remote key of cache object `digest`.
pub fn object_key(digest: &Digest) -> String {
    let (head, tail) = digest.shard();
    format!("{}/{head}/{tail}", cairn_core::cache::LAYOUT)
}

/// The object digest a remote key names, if it names one.
pub fn digest_of_key(key: &str) -> Option<Digest> {
    let rest = key
        .strip_prefix(cairn_core::cache::LAYOUT)?
        .strip_prefix('/')?;
    let (head, tail) = rest.split_once('/')?;
    if head.len() != 2 {
        return None;
    }
    Digest::parse(&format!("{head}{tail}")).ok()
}

/// Prefix of object keys.
pub fn objects_prefix() -> String {
    format!("{}/", cairn_core::cache::LAYOUT)
}

/// Prefix of run-cache keys.
pub fn runs_prefix() -> String {
    format!("runs/{}/", cairn_core::repro::run_cache::LAYOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_round_trip() {
        let d = Digest::parse(&"ab".repeat(32)).unwrap();
        let key = object_key(&d);
        assert_eq!(key, format!("v1/ab/{}", &d[2..]));
        assert_eq!(digest_of_key(&key), Some(d));
        assert_eq!(digest_of_key("v1/ab/short"), None);
        assert_eq!(digest_of_key("runs/v1/x"), None);
    }
}
