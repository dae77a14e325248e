//! Saying what a remote is waited for: when no remote operation has made progress for
//! [`STALL`] while one is in flight, one line on stderr names the remote, where it is and the
//! oldest operation waiting (`cairn: waiting for s3://bucket at http://… (listing v1/)…`), so
//! that a slow or dead server is not a silent hang. It is said again only after progress
//! resumed and stopped again.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::backend::{Remote, RemoteResult};

/// How long without progress before saying what is waited for.
pub const STALL: Duration = Duration::from_secs(5);
/// How often the watching thread looks.
const TICK: Duration = Duration::from_millis(250);

/// A remote whose operations are watched.
pub struct Watched {
    inner: Box<dyn Remote>,
    state: Arc<State>,
}

struct State {
    /// The remote and where it is, for the message.
    place: String,
    board: Mutex<Board>,
}

struct Board {
    next: u64,
    /// Operations in flight: when each started and what it does.
    in_flight: BTreeMap<u64, (Instant, String)>,
    /// Time spent with an operation in flight since the last progress, up to `busy_since`:
    /// the time between retries, or spent on local work, is not waiting for the remote.
    waited: Duration,
    /// Since when an operation is in flight, if one is.
    busy_since: Option<Instant>,
    /// Whether this stall was already reported.
    said: bool,
}

impl State {
    fn new(place: String) -> State {
        State {
            place,
            board: Mutex::new(Board {
                next: 0,
                in_flight: BTreeMap::new(),
                waited: Duration::ZERO,
                busy_since: None,
                said: false,
            }),
        }
    }

    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An operation doing `what` starts; returns its id.
    fn begin(&self, what: String, now: Instant) -> u64 {
        let mut b = self.board();
        let id = b.next;
        b.next += 1;
        b.in_flight.insert(id, (now, what));
        b.busy_since.get_or_insert(now);
        id
    }

    /// Operation `id` ended (however).
    fn end(&self, id: u64, now: Instant) {
        let mut b = self.board();
        b.in_flight.remove(&id);
        if b.in_flight.is_empty()
            && let Some(since) = b.busy_since.take()
        {
            b.waited += now.saturating_duration_since(since);
        }
    }

    /// An operation completed, or bytes moved.
    fn progressed(&self, now: Instant) {
        let mut b = self.board();
        b.waited = Duration::ZERO;
        if b.busy_since.is_some() {
            b.busy_since = Some(now);
        }
        b.said = false;
    }

    /// The message to print now, if any.
    fn stalled(&self, now: Instant) -> Option<String> {
        let mut b = self.board();
        if b.said {
            return None;
        }
        let since = b.busy_since?;
        if b.waited + now.saturating_duration_since(since) < STALL {
            return None;
        }
        let (_, what) = b.in_flight.values().min_by_key(|(t, _)| *t)?;
        let line = format!("cairn: waiting for {} ({what})…", self.place);
        b.said = true;
        Some(line)
    }
}

/// One operation in flight; leaves the board when dropped.
struct Op<'a> {
    state: &'a State,
    id: u64,
}

impl Op<'_> {
    /// Ends the operation; a success is progress.
    fn end<T>(self, result: RemoteResult<T>) -> RemoteResult<T> {
        if result.is_ok() {
            self.state.progressed(Instant::now());
        }
        result
    }
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        self.state.end(self.id, Instant::now());
    }
}

/// Passes writes on, each one progress.
struct Counting<'a> {
    out: &'a mut dyn Write,
    state: &'a State,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if n > 0 {
            self.state.progressed(Instant::now());
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Watched {
    /// Watches `inner`, which `place` names in messages (`s3://bucket at ENDPOINT`).
    pub fn new(inner: Box<dyn Remote>, place: String) -> Watched {
        let state = Arc::new(State::new(place));
        let weak: Weak<State> = Arc::downgrade(&state);
        // Ends with the remote. Not started is fine: the operations then run unwatched.
        let _ = std::thread::Builder::new()
            .name("remote-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    let Some(state) = weak.upgrade() else { break };
                    if let Some(line) = state.stalled(Instant::now()) {
                        cairn_core::report::err(&line);
                    }
                }
            });
        Watched { inner, state }
    }

    fn begin(&self, what: String) -> Op<'_> {
        Op {
            state: &self.state,
            id: self.state.begin(what, Instant::now()),
        }
    }
}

impl Remote for Watched {
    fn list(&self, prefix: &str) -> RemoteResult<Vec<String>> {
        let op = self.begin(format!("listing {prefix}"));
        op.end(self.inner.list(prefix))
    }

    fn folders(&self, prefix: &str) -> RemoteResult<Option<Vec<String>>> {
        let op = self.begin(format!("listing {prefix}"));
        op.end(self.inner.folders(prefix))
    }

    fn put(&self, key: &str, src: &Path) -> RemoteResult<()> {
        let op = self.begin(format!("uploading {key}"));
        op.end(self.inner.put(key, src))
    }

    fn puts_per_thread(&self) -> usize {
        self.inner.puts_per_thread()
    }

    fn put_all(&self, items: &[(&str, &Path)]) -> Vec<RemoteResult<()>> {
        let what = match items {
            [] => return Vec::new(),
            [(key, _)] => format!("uploading {key}"),
            [(key, _), rest @ ..] => format!("uploading {key} and {} more", rest.len()),
        };
        let op = self.begin(what);
        let results = self.inner.put_all(items);
        if results.iter().any(Result::is_ok) {
            self.state.progressed(Instant::now());
        }
        drop(op);
        results
    }

    fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> RemoteResult<()> {
        let op = self.begin(format!("uploading {key}"));
        op.end(self.inner.put_bytes(key, bytes))
    }

    fn packs(&self) -> bool {
        self.inner.packs()
    }

    fn get(&self, key: &str, out: &mut dyn Write) -> RemoteResult<()> {
        let op = self.begin(format!("downloading {key}"));
        let mut out = Counting {
            out,
            state: &self.state,
        };
        op.end(self.inner.get(key, &mut out))
    }

    fn get_range(&self, key: &str, start: u64, end: u64, out: &mut dyn Write) -> RemoteResult<()> {
        let op = self.begin(format!("downloading bytes {start}-{end} of {key}"));
        let mut out = Counting {
            out,
            state: &self.state,
        };
        op.end(self.inner.get_range(key, start, end, &mut out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_said_once_until_progress_resumes() {
        let s = State::new("s3://b at http://127.0.0.1:9".into());
        let t0 = Instant::now();
        // Idle: nothing in flight, nothing to say.
        assert_eq!(s.stalled(t0 + 2 * STALL), None);
        let id = s.begin("listing v1/".into(), t0);
        assert_eq!(s.stalled(t0 + STALL / 2), None);
        let line = s.stalled(t0 + STALL * 2).expect("said");
        assert_eq!(
            line,
            "cairn: waiting for s3://b at http://127.0.0.1:9 (listing v1/)…"
        );
        assert_eq!(s.stalled(t0 + STALL * 3), None, "said once");
        let t1 = t0 + STALL * 3;
        s.progressed(t1);
        s.end(id, t1);
        // Failed attempts with pauses between them add up; the pauses do not count.
        let mut t = t1;
        for _ in 0..3 {
            t += STALL / 2; // the pause
            let id = s.begin("listing packs/v1/".into(), t);
            t += STALL / 3; // an attempt that fails
            s.end(id, t);
        }
        let id = s.begin("listing packs/v1/".into(), t);
        assert_eq!(s.stalled(t), None, "waited 3 × STALL / 3 so far");
        assert!(s.stalled(t + STALL / 10).is_some(), "a new stall is said");
        s.end(id, t);
    }
}
