//! The one error type of the library. Every variant carries what it concerns (a path, a stage,
//! a remote) so that the message a user reads names the thing at fault; `exit_code` maps it to
//! the documented exit codes: 2 for invalid input the user must fix, 1 for work that failed.

use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// Errors of the cairn library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// No `.cairn/` in the current directory or any parent.
    #[error(
        "no cairn workspace in {} or any parent directory: run `cairn init` in the project's root",
        .0.display()
    )]
    NoWorkspace(PathBuf),
    /// A definition file (pipeline.yaml, params.yaml, config, lock, pointer file) is invalid.
    #[error("{}: {message}", file.display())]
    Invalid { file: PathBuf, message: String },
    /// A data file (CSV, model) is not what the command needs.
    #[error("{}: {message}", path.display())]
    Data { path: PathBuf, message: String },
    /// A path cairn will not read or write: it leads outside the workspace (through `..` or a
    /// symbolic link), is reserved, or is not a regular file or folder.
    #[error("{}: {message}", path.display())]
    Refused { path: PathBuf, message: String },
    /// A command-line argument is invalid.
    #[error("{0}")]
    Usage(String),
    /// A stage failed while running.
    #[error("stage '{stage}': {message}")]
    Stage { stage: String, message: String },
    /// Bytes whose BLAKE3 digest is not the one they are stored under.
    #[error(
        "corrupted object {digest} at {}: its content hashes to {actual}; remove it and fetch it again (`cairn pull`) or rerun the stage that made it",
        path.display()
    )]
    Corrupt {
        digest: Digest,
        path: PathBuf,
        actual: Digest,
    },
    /// An object the workspace needs is in neither the cache nor the workspace.
    #[error("{}: object {digest} is not in the cache; run `cairn pull` or `cairn repro`", path.display())]
    Missing { digest: Digest, path: PathBuf },
    /// A stage's dep is data a pointer file tracks (`.cairn`, or DVC's `.dvc`) and it is not
    /// in the workspace: the data is to be fetched, the pipeline is not wrong.
    #[error("stage '{stage}': dep '{path}' is missing; it is tracked by {pointer}: {fix}")]
    TrackedMissing {
        stage: String,
        path: String,
        pointer: String,
        fix: String,
    },
    /// A remote store failed or refused.
    #[error("remote '{remote}': {message}")]
    Remote { remote: String, message: String },
    /// Anything else that failed at run time (exit 1).
    #[error("{0}")]
    Failed(String),
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit code documented for this error: 2 when the user's input is invalid,
    /// 1 when work failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NoWorkspace(_)
            | Error::Invalid { .. }
            | Error::Data { .. }
            | Error::Refused { .. }
            | Error::Usage(_) => 2,
            Error::Io { .. }
            | Error::Stage { .. }
            | Error::Corrupt { .. }
            | Error::Missing { .. }
            | Error::TrackedMissing { .. }
            | Error::Remote { .. }
            | Error::Failed(_) => 1,
        }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Invalid {
            file: file.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Refused`].
    pub fn refused(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Refused {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Data`].
    pub fn data(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Attaches the path an I/O error concerns.
pub trait IoContext<T> {
    /// Turns an `io::Error` into [`Error::Io`] naming `path`.
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
