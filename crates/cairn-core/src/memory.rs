//! Process-wide memory settings.

/// Turns off transparent huge pages for the rest of the process.
///
/// For processes with many threads or a small steady state (transfers on 64 threads, the model
/// server), where a thread's first touch of fresh memory would make a whole 2 MiB page resident:
/// with them on, a push peaked at twice the size and the server idled at twice the size. The
/// hashing commands keep them, where they save page faults.
pub fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
