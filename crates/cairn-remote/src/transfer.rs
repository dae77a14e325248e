//! Moving many objects at once: a fixed number of worker threads take jobs from a shared list,
//! retry transient failures with exponential backoff, and stop taking new work once something
//! failed for good. A progress bar (bytes and objects) is drawn on a terminal only.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::backend::{Failure, FailureKind, RemoteResult};
use cairn_core::digest::Digest;

/// Attempts per operation, the first included.
const ATTEMPTS: u32 = 5;
/// Attempts at most when one of them timed out: a server that does not answer is given three
/// chances, so that an operation waits at most about three timeouts, not five.
const TIMED_OUT_ATTEMPTS: u32 = 3;
/// Wait before the first retry; doubled for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// One unit of work.
pub struct Job {
    /// The remote key.
    pub key: String,
    /// The object's digest, for a job that moves one object.
    pub digest: Option<Digest>,
    /// What the job moves, for messages.
    pub label: String,
    /// Bytes it moves, when known (0 otherwise).
    pub size: u64,
    /// Which of the caller's items (a pack, a span of one) the job moves; 0 when unused.
    pub item: usize,
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Jobs that completed.
    pub done: u64,
    /// Bytes they moved.
    pub bytes: u64,
    /// Jobs whose key the other side does not have, by label.
    pub not_found: Vec<String>,
    /// Jobs that failed, with why.
    pub failed: Vec<String>,
    /// Jobs never started because an earlier one failed for good.
    pub skipped: u64,
    /// Whether a failure was a timeout (the remote did not answer in time).
    pub timed_out: bool,
}

/// Runs `work` for every job on `threads` threads. `work` returns the bytes it moved; `verb`
/// says what is moving ("pushing objects") on the progress bar.
pub fn run<F>(jobs: &[Job], threads: usize, verb: &str, work: F) -> Outcome
where
    F: Fn(&Job) -> RemoteResult<u64> + Sync,
{
    run_batched(jobs, threads, 1, verb, |batch| {
        batch.iter().map(|job| work(job)).collect()
    })
}

/// Like [`run`] with `in_flight` jobs at once, given `per_thread` at a time to `work` on each of
/// `in_flight / per_thread` threads: for a client that multiplexes requests, dozens of threads
/// blocked on one request each spend more CPU switching than sending. `work` returns one result
/// per job; a job that failed transiently is retried on its own.
pub fn run_batched<F>(
    jobs: &[Job],
    in_flight: usize,
    per_thread: usize,
    verb: &str,
    work: F,
) -> Outcome
where
    F: Fn(&[&Job]) -> Vec<RemoteResult<u64>> + Sync,
{
    if jobs.is_empty() {
        return Outcome::default();
    }
    // Keys sorted by digest put consecutive jobs in one shard folder (`v1/ab/`), where the
    // workers would queue for that folder's lock; ordered by the key's last characters
    // (random) they spread over all shards.
    let mut order: Vec<&Job> = jobs.iter().collect();
    order.sort_unstable_by(|a, b| a.key.bytes().rev().cmp(b.key.bytes().rev()));
    let jobs = order;
    let total: u64 = jobs.iter().map(|j| j.size).sum();
    let bar = bar(total, verb, jobs.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let not_found = Mutex::new(Vec::new());
    let failed = Mutex::new(Vec::new());
    let timed_out = AtomicBool::new(false);
    let per_thread = per_thread.clamp(1, in_flight.max(1));
    let threads = in_flight.div_ceil(per_thread).clamp(1, jobs.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let start = next.fetch_add(per_thread, Ordering::Relaxed);
                    if start >= jobs.len() {
                        break;
                    }
                    let batch = &jobs[start..jobs.len().min(start + per_thread)];
                    for (job, result) in batch.iter().zip(work(batch)) {
                        let again = || {
                            let mut alone = work(&[job]);
                            alone.pop().unwrap_or_else(|| {
                                Err(Failure::new(FailureKind::Permanent, "no result"))
                            })
                        };
                        // Once something failed for good, a transient failure of the rest of
                        // the batch is not retried: that would make a dead server cost one
                        // round of retries per job in the batch, one after another.
                        let result = match result {
                            Err(f) if stop.load(Ordering::Relaxed) => Err(f),
                            other => retried(other, again),
                        };
                        match result {
                            Ok(moved) => {
                                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                                bytes.fetch_add(moved, Ordering::Relaxed);
                                bar.inc(job.size);
                                bar.set_label(format!("{verb} {n}/{}", jobs.len()));
                            }
                            Err(f) if f.kind == FailureKind::NotFound => {
                                lock(&not_found).push(job.label.clone());
                            }
                            Err(f) => {
                                // A transfer that failed even after retries: the store is down or
                                // refusing. Finish what is in flight, start nothing new.
                                stop.store(true, Ordering::Relaxed);
                                if f.kind == FailureKind::TimedOut {
                                    timed_out.store(true, Ordering::Relaxed);
                                }
                                lock(&failed).push(format!("{}: {f}", job.label));
                            }
                        }
                    }
                }
            });
        }
    });
    bar.finish();
    let started = next.load(Ordering::Relaxed).min(jobs.len()) as u64;
    let mut outcome = Outcome {
        done: done.into_inner(),
        bytes: bytes.into_inner(),
        not_found: not_found.into_inner().unwrap_or_else(|p| p.into_inner()),
        failed: failed.into_inner().unwrap_or_else(|p| p.into_inner()),
        skipped: jobs.len() as u64 - started,
        timed_out: timed_out.into_inner(),
    };
    outcome.not_found.sort();
    outcome
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `op` until it succeeds, fails for good, or [`ATTEMPTS`] transient failures happened
/// ([`TIMED_OUT_ATTEMPTS`] once one of them is a timeout).
pub fn with_retries<T>(mut op: impl FnMut() -> RemoteResult<T>) -> RemoteResult<T> {
    let first = op();
    retried(first, op)
}

/// Where an operation ends whose first attempt gave `first`, retrying it as [`with_retries`].
fn retried<T>(first: RemoteResult<T>, mut op: impl FnMut() -> RemoteResult<T>) -> RemoteResult<T> {
    let mut wait = FIRST_BACKOFF;
    let mut attempt = 1;
    let mut result = first;
    loop {
        let limit = match &result {
            Err(f) if f.kind == FailureKind::Transient => ATTEMPTS,
            Err(f) if f.kind == FailureKind::TimedOut => TIMED_OUT_ATTEMPTS,
            _ => return result,
        };
        match result {
            Err(_) if attempt < limit => {
                std::thread::sleep(wait);
                wait *= 2;
                attempt += 1;
                result = op();
            }
            Err(f) => {
                let message = format!("{} (gave up after {attempt} attempts)", f.message);
                return Err(Failure::new(f.kind, message));
            }
            Ok(_) => return result,
        }
    }
}

fn bar(total: u64, verb: &str, jobs: usize) -> Box<dyn cairn_core::report::Bar> {
    cairn_core::report::bar(
        &format!("{verb} 0/{jobs}"),
        total,
        cairn_core::report::Unit::Bytes,
    )
}

/// Bytes as MiB with one decimal, for summaries.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(n: usize) -> Vec<Job> {
        (0..n)
            .map(|i| Job {
                key: format!("k{i:02}"),
                digest: None,
                label: format!("job {i}"),
                size: 1,
                item: i,
            })
            .collect()
    }

    #[test]
    fn a_batch_member_that_failed_transiently_is_retried_alone() {
        let calls = Mutex::new(Vec::new());
        let outcome = run_batched(&jobs(10), 6, 3, "testing", |batch| {
            lock(&calls).push(batch.len());
            batch
                .iter()
                // k07 fails the first time it is tried, in its batch.
                .map(|job| match (job.key.as_str(), batch.len()) {
                    ("k07", n) if n > 1 => Err(Failure::new(FailureKind::Transient, "busy")),
                    _ => Ok(job.size),
                })
                .collect()
        });
        assert_eq!((outcome.done, outcome.bytes, outcome.skipped), (10, 10, 0));
        assert!(outcome.failed.is_empty());
        let calls = calls.into_inner().unwrap();
        assert_eq!(calls.iter().filter(|&&n| n == 1).count(), 2, "{calls:?}");
        assert_eq!(calls.iter().sum::<usize>(), 11, "{calls:?}");
    }

    #[test]
    fn a_permanent_failure_in_a_batch_is_reported_and_the_rest_of_it_counted() {
        let outcome = run_batched(&jobs(4), 4, 4, "testing", |batch| {
            batch
                .iter()
                .map(|job| match job.key.as_str() {
                    "k02" => Err(Failure::new(FailureKind::Permanent, "refused")),
                    _ => Ok(job.size),
                })
                .collect()
        });
        assert_eq!(outcome.done, 3);
        assert_eq!(outcome.failed, ["job 2: refused"]);
    }

    #[test]
    fn a_timeout_is_tried_three_times_in_all() {
        let mut calls = 0;
        let result: RemoteResult<()> = with_retries(|| {
            calls += 1;
            Err(Failure::new(FailureKind::TimedOut, "no answer"))
        });
        assert_eq!(calls, TIMED_OUT_ATTEMPTS);
        let failure = result.expect_err("timed out");
        assert_eq!(failure.kind, FailureKind::TimedOut);
        assert!(failure.message.ends_with("(gave up after 3 attempts)"));
    }

    #[test]
    fn after_a_failure_for_good_the_rest_of_a_batch_is_not_retried() {
        let calls = Mutex::new(0);
        let outcome = run_batched(&jobs(4), 4, 4, "testing", |batch| {
            *lock(&calls) += 1;
            batch
                .iter()
                .map(|job| match job.key.as_str() {
                    // First in the batch: its failure stops the rest.
                    "k00" => Err(Failure::new(FailureKind::Permanent, "refused")),
                    _ => Err(Failure::new(FailureKind::TimedOut, "no answer")),
                })
                .collect()
        });
        assert_eq!(*lock(&calls), 1, "nothing was retried");
        assert_eq!(outcome.failed.len(), 4);
        assert!(outcome.timed_out);
    }
}
