//! Trust boundary: what a shared remote holds (objects, pack indexes, run-cache entries) and how remotes fail.
