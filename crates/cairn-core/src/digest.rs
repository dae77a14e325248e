//! A BLAKE3 digest as cairn writes it: 64 lowercase hex characters. A [`Digest`] can only be
//! made by hashing or by [`Digest::parse`], and every file and remote field that holds one
//! (lock, pointer files, manifests, run-cache entries, pack indexes, remote listings) is read
//! into this type, so a digest is never a path fragment: a pointer whose `digest:` says
//! `ab/../../secret` is refused where it is read instead of being joined onto the cache folder.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Characters of a digest.
pub const LEN: usize = 64;

/// A checked BLAKE3 digest: exactly [`LEN`] lowercase hex characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Text that is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{shown}' is not a digest (expected {LEN} lowercase hex characters)")]
pub struct InvalidDigest {
    shown: String,
}

impl Digest {
    /// Checks `text` and takes it as a digest.
    pub fn parse(text: &str) -> Result<Digest, InvalidDigest> {
        if is_digest(text) {
            Ok(Digest(text.to_string()))
        } else {
            // Hostile input can be long or hold control characters: show a short, escaped head.
            let shown: String = text.chars().take(80).flat_map(char::escape_debug).collect();
            Err(InvalidDigest { shown })
        }
    }

    /// The digest of a finished BLAKE3 hash.
    pub fn from_hash(hash: blake3::Hash) -> Digest {
        Digest(hash.to_hex().to_string())
    }

    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest::from_hash(blake3::hash(bytes))
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cache's two-level name: the first two characters (the shard folder) and the rest.
    pub fn shard(&self) -> (&str, &str) {
        self.0.split_at(2)
    }

    /// The first 12 characters, for messages.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

/// Whether `s` is a digest as cairn writes them (64 lowercase hex characters).
pub fn is_digest(s: &str) -> bool {
    // Without an early exit the check compiles to a few vector instructions: it runs once per
    // state-table line on every status (10,000 and more).
    s.len() == LEN
        && s.bytes().fold(true, |ok, b| {
            ok & (b.is_ascii_digit() | (b'a'..=b'f').contains(&b))
        })
}

impl Deref for Digest {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Digest {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl AsRef<std::path::Path> for Digest {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = InvalidDigest;
    fn from_str(s: &str) -> Result<Digest, InvalidDigest> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_hex_of_the_right_length_is_a_digest() {
        let good = "ab".repeat(32);
        assert_eq!(Digest::parse(&good).unwrap().as_str(), good);
        for bad in [
            String::new(),
            "AB".repeat(32),
            "ab".repeat(31),
            "ab".repeat(33),
            format!("ab/../../{}", "a".repeat(55)),
            format!("/{}", "a".repeat(63)),
            format!("{}\n", "a".repeat(63)),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_and_writes_as_a_plain_string() {
        let d = Digest::of_bytes(b"x");
        let yaml = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&yaml).unwrap(), d);
        let err = serde_json::from_str::<Digest>("\"../etc/passwd\"").unwrap_err();
        assert!(err.to_string().contains("is not a digest"), "{err}");
    }
}
