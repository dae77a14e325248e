//! What the library crates tell while they work — a stage starting, a command's output, a wait
//! for a lock, a progress bar — goes through this facade, as log records go through the `log`
//! crate: the binary installs the [`Sink`] that decides how it looks (lines on stdout and stderr,
//! bars only on a terminal). Without one nothing is said, which is what a library caller or a
//! test gets. Results that a caller acts on are returned, never only reported.

use std::sync::OnceLock;

/// What a unit of progress counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes (hashing, transfers).
    Bytes,
    /// Things, named (`"trees"`).
    Count(&'static str),
}

/// Where reports go.
pub trait Sink: Send + Sync {
    /// A line for the person running the command (stdout).
    fn out(&self, line: &str);
    /// A warning, a note, a wait (stderr).
    fn err(&self, line: &str);
    /// Work of `total` units called `label` begins.
    fn bar(&self, label: &str, total: u64, unit: Unit) -> Box<dyn Bar>;
}

/// The progress of one piece of work.
pub trait Bar: Send + Sync {
    /// `n` more units are done.
    fn inc(&self, n: u64);
    /// What the work is doing now.
    fn set_label(&self, label: String);
    /// The work is over; the bar goes.
    fn finish(&self);
}

static SINK: OnceLock<Box<dyn Sink>> = OnceLock::new();

/// Installs the sink for the rest of the process (the first one wins).
pub fn install(sink: Box<dyn Sink>) {
    let _ = SINK.set(sink);
}

/// Says `line` on stdout.
pub fn out(line: impl AsRef<str>) {
    if let Some(sink) = SINK.get() {
        sink.out(line.as_ref());
    }
}

/// Says `line` on stderr.
pub fn err(line: impl AsRef<str>) {
    if let Some(sink) = SINK.get() {
        sink.err(line.as_ref());
    }
}

/// A progress bar for work of `total` units.
pub fn bar(label: &str, total: u64, unit: Unit) -> Box<dyn Bar> {
    match SINK.get() {
        Some(sink) => sink.bar(label, total, unit),
        None => Box::new(NoBar),
    }
}

/// A bar that shows nothing.
pub struct NoBar;

impl Bar for NoBar {
    fn inc(&self, _: u64) {}
    fn set_label(&self, _: String) {}
    fn finish(&self) {}
}
