use serde::{Deserialize, Serialize};

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
    pub path: String,
    /// BLAKE3 of the file.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl Manifest {
    /// The canonical bytes: compact JSON of the sorted entries. Stable across versions, since
    /// directory digests (and so lock files) depend on it.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.entries).unwrap_or_default()
    }

    /// Parses the canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, serde_json::Error> {
        let entries = serde_json::from_slice(bytes)?;
        Ok(Manifest { entries })
    }

    /// The directory's digest.
    pub fn digest(&self) -> String {
        super::digest_bytes(&self.to_bytes())
    }

    /// Total bytes of all files.
    pub fn size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}
