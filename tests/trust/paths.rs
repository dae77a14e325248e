//! Trust boundary: paths, digests, symlinks and special files from files others wrote.
