use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::rel_path::RelPath;

/// A directory's listing: one entry per file, sorted by path. Stored in the cache as an object;
/// its digest is the directory's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Manifest {
    /// Files in the directory, sorted by path.
    pub entries: Vec<ManifestEntry>,
}

/// One file of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path inside the directory, `/`-separated.
    pub path: RelPath,
    /// BLAKE3 of the file.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
}

impl Manifest {
    /// The canonical bytes: compact JSON of the sorted entries. Stable across versions, since
    /// directory digests (and so lock files) depend on it.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A Vec of plain structs of strings and numbers always serialises.
        serde_json::to_vec(&self.entries).unwrap_or_default()
    }

    /// Parses the canonical bytes. Every path must be relative and stay inside the directory
    /// (the types check that), and no path may repeat or be both a file and a folder of others:
    /// a manifest from a remote is someone else's file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, String> {
        let entries: Vec<ManifestEntry> =
            serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let files: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        if files.len() != entries.len() {
            return Err("a path is listed twice".into());
        }
        for e in &entries {
            let mut dir = e.path.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/') {
                if files.contains(parent) {
                    return Err(format!("'{parent}' is listed as a file and as a folder"));
                }
                dir = parent;
            }
        }
        Ok(Manifest { entries })
    }

    /// The directory's digest.
    pub fn digest(&self) -> Digest {
        super::digest_bytes(&self.to_bytes())
    }

    /// Total bytes of all files.
    pub fn size(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |total, e| total.saturating_add(e.size))
    }
}
