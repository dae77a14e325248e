//! Packs: on a remote where every request has a cost of its own (S3), small objects travel
//! together. A push concatenates objects under [`PACKED_BELOW`] into packs of about
//! [`PACK_TARGET`] and uploads each pack (`packs/v1/<id>`), then its index (`packs/v1/<id>.idx`,
//! one line per object: digest, offset, length). A fetch reads only the byte ranges it wants.
//!
//! Why: an S3 server spends about as much per request as per 100 KiB of body, so 10,000 small
//! objects cost far more as 10,000 PUTs than as 250 (restic, kopia and git pack for the same
//! reason). Each object is still verified against its own digest when it arrives.
//!
//! The index is written after its pack and is what makes the pack visible, so an interrupted
//! push leaves at most a pack nobody reads. A pack's id is the BLAKE3 of its index text, known
//! before any byte is read: a rerun of the same push writes the same keys again, and two
//! pushes of the same objects write the same pack. Indexes are immutable and cached locally
//! (`.cairn/cache/packs/v1/`), so a no-op push reads none of them again.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::backend::{Failure, FailureKind, Remote, RemoteResult};
use cairn_core::digest::Digest;

/// Version of the pack layout, in its keys.
pub const LAYOUT: &str = "v1";
/// Objects smaller than this are packed; bigger ones gain little and go up alone.
pub const PACKED_BELOW: u64 = 1 << 20;
/// A pack is closed once it holds this much (so it holds less than this plus [`PACKED_BELOW`]).
pub const PACK_TARGET: u64 = 4 << 20;
/// Packs built in memory and in flight at once: 16 × 5 MiB at most.
pub const PACKS_IN_FLIGHT: usize = 16;
/// Unwanted bytes between two wanted objects of a pack that are read through rather than
/// asked for in a second request.
const READ_THROUGH: u64 = 1 << 20;
/// The largest index a fetch reads (one of a full pack of empty objects would be larger).
const INDEX_MAX: u64 = 64 << 20;
/// First line of an index.
const HEADER: &str = "cairn-pack v1";

/// Prefix of pack and index keys.
pub fn prefix() -> String {
    format!("packs/{LAYOUT}/")
}

/// The remote key of pack `id`.
pub fn pack_key(id: &str) -> String {
    format!("{}{id}", prefix())
}

/// The remote key of the index of pack `id`.
pub fn index_key(id: &str) -> String {
    format!("{}{id}.idx", prefix())
}

/// Where an object lies in a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The object's digest.
    pub digest: Digest,
    /// Its first byte in the pack.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

/// A pack's table of contents, objects in the order of their bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The objects.
    pub entries: Vec<Entry>,
}

impl Index {
    /// The index as stored.
    pub fn text(&self) -> String {
        let mut text = format!("{HEADER}\n");
        for e in &self.entries {
            text.push_str(&format!("{} {} {}\n", e.digest, e.offset, e.len));
        }
        text
    }

    /// The pack's id: the digest of its index.
    pub fn id(&self) -> String {
        cairn_core::hash::digest_bytes(self.text().as_bytes()).to_string()
    }

    /// The pack's size.
    pub fn size(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.offset + e.len)
    }

    /// Reads an index; says what is wrong otherwise.
    pub fn parse(text: &str) -> Result<Index, String> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!("does not start with `{HEADER}`"));
        }
        let mut entries = Vec::new();
        let mut end = 0;
        for (n, line) in lines.enumerate() {
            let bad = || format!("line {}: expected `DIGEST OFFSET LENGTH`", n + 2);
            let mut fields = line.split(' ');
            let (Some(digest), Some(offset), Some(len), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad());
            };
            let (Ok(offset), Ok(len)) = (offset.parse::<u64>(), len.parse::<u64>()) else {
                return Err(bad());
            };
            // Only small objects are packed: a member is held whole in memory on arrival.
            let Ok(digest) = Digest::parse(digest) else {
                return Err(bad());
            };
            if offset != end || len >= PACKED_BELOW {
                return Err(bad());
            }
            end = offset + len;
            entries.push(Entry {
                digest,
                offset,
                len,
            });
        }
        Ok(Index { entries })
    }
}

/// Groups `objects` (digest and size, in the order given) into packs of about [`PACK_TARGET`].
pub fn plan(objects: &[(Digest, u64)]) -> Vec<Index> {
    let mut packs = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut offset = 0;
    for (digest, len) in objects {
        entries.push(Entry {
            digest: digest.clone(),
            offset,
            len: *len,
        });
        offset += len;
        if offset >= PACK_TARGET {
            packs.push(Index {
                entries: std::mem::take(&mut entries),
            });
            offset = 0;
        }
    }
    if !entries.is_empty() {
        packs.push(Index { entries });
    }
    packs
}

/// The pack's bytes: the objects of `index` read from `object_path(digest)`, one after another.
pub fn build(index: &Index, object_path: impl Fn(&Digest) -> PathBuf) -> RemoteResult<Vec<u8>> {
    let mut body = Vec::with_capacity(index.size() as usize);
    for e in &index.entries {
        let path = object_path(&e.digest);
        let read = std::fs::File::open(&path).and_then(|f| {
            use std::io::Read;
            // One byte more than expected shows a grown file.
            f.take(e.len + 1).read_to_end(&mut body)
        });
        match read {
            Ok(n) if n as u64 == e.len => {}
            Ok(n) => {
                return Err(Failure::new(
                    FailureKind::Permanent,
                    format!(
                        "cache object {} is {n} bytes, not {}: it is damaged; delete it and make \
                         it again (`cairn add` or `cairn repro` of the path it holds)",
                        path.display(),
                        e.len
                    ),
                ));
            }
            Err(err) => {
                return Err(Failure::new(
                    FailureKind::Permanent,
                    format!("reading {}: {err}", path.display()),
                ));
            }
        }
    }
    Ok(body)
}

/// Where a packed object is on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The pack's id.
    pub pack: String,
    /// Where in it.
    pub offset: u64,
    /// How long.
    pub len: u64,
}

/// Every packed object on a remote, by digest.
#[derive(Debug, Default)]
pub struct Catalog {
    places: HashMap<Digest, Place>,
}

impl Catalog {
    /// Adds the objects of pack `id`.
    pub fn add(&mut self, id: &str, index: &Index) {
        for e in &index.entries {
            self.places.insert(
                e.digest.clone(),
                Place {
                    pack: id.to_string(),
                    offset: e.offset,
                    len: e.len,
                },
            );
        }
    }

    /// Where `digest` is, if it is packed.
    pub fn get(&self, digest: &str) -> Option<&Place> {
        self.places.get(digest)
    }
}

/// The local copy of the index of pack `id`, under `dir`.
pub fn cached_index(dir: &Path, id: &str) -> PathBuf {
    dir.join(id)
}

/// The ids of the packs whose index is on the remote, from a listing of [`prefix`].
pub fn ids_in(keys: &[String]) -> Vec<String> {
    keys.iter()
        .filter_map(|k| k.strip_prefix(&prefix())?.strip_suffix(".idx"))
        .filter(|id| cairn_core::hash::is_digest(id))
        .map(str::to_string)
        .collect()
}

/// Reads the index of pack `id`: the local copy under `dir` when there is one, otherwise from
/// the remote (then kept under `dir`). The inner error says why an index that arrived is
/// damaged (unreadable, or not matching its id): its pack cannot be trusted.
pub fn read_index(
    remote: &dyn Remote,
    dir: &Path,
    id: &str,
) -> RemoteResult<Result<Index, String>> {
    let local = cached_index(dir, id);
    if let Ok(text) = std::fs::read_to_string(&local)
        && let Ok(index) = Index::parse(&text)
        && index.id() == id
    {
        return Ok(Ok(index));
    }
    let bytes = super::backend::get_small(remote, &index_key(id), INDEX_MAX)?;
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(Err("not text".into()));
    };
    let index = match Index::parse(&text) {
        Ok(index) if index.id() == id => index,
        Ok(index) => return Ok(Err(format!("its contents hash to {}", index.id()))),
        Err(why) => return Ok(Err(why)),
    };
    // Only a speed-up: a failure to keep it means reading it again next time.
    let _ = cairn_core::atomic::write(&local, text.as_bytes());
    Ok(Ok(index))
}

/// One request's worth of a pack: bytes `start..end`, holding `members` (sorted by offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span<T> {
    /// The pack's id.
    pub pack: String,
    /// First byte asked for.
    pub start: u64,
    /// One past the last.
    pub end: u64,
    /// The wanted objects inside, with what the caller attached to each.
    pub members: Vec<(Place, T)>,
}

/// Groups wanted objects into requests: one per pack, split where more than [`READ_THROUGH`]
/// unwanted bytes lie between two wanted objects.
pub fn spans<T>(wanted: Vec<(Place, T)>) -> Vec<Span<T>> {
    let mut by_pack: HashMap<String, Vec<(Place, T)>> = HashMap::new();
    for (place, tag) in wanted {
        by_pack
            .entry(place.pack.clone())
            .or_default()
            .push((place, tag));
    }
    let mut spans = Vec::new();
    let mut packs: Vec<_> = by_pack.into_iter().collect();
    packs.sort_by(|a, b| a.0.cmp(&b.0));
    for (pack, mut members) in packs {
        members.sort_by_key(|(p, _)| p.offset);
        let mut current: Option<Span<T>> = None;
        for (place, tag) in members {
            let end = place.offset + place.len;
            match &mut current {
                Some(span) if place.offset <= span.end + READ_THROUGH => {
                    span.end = span.end.max(end);
                    span.members.push((place, tag));
                }
                _ => {
                    spans.extend(current.take());
                    current = Some(Span {
                        pack: pack.clone(),
                        start: place.offset,
                        end,
                        members: vec![(place, tag)],
                    });
                }
            }
        }
        spans.extend(current);
    }
    spans
}

/// Cuts the bytes of a span, as they arrive, into its members: each member's bytes are handed
/// whole to `done` (members are under [`PACKED_BELOW`]), one at a time, so that a span of
/// thousands of tiny objects holds neither thousands of files open nor the span in memory.
/// Bytes between members are dropped.
pub struct Splitter<F> {
    /// Offset in the pack of the next byte to arrive.
    at: u64,
    /// Each member's offset and length, by offset.
    members: Vec<(u64, u64)>,
    /// The first member not yet complete, and its bytes so far.
    next: usize,
    current: Vec<u8>,
    done: F,
}

impl<F: FnMut(usize, &[u8]) -> std::io::Result<()>> Splitter<F> {
    /// A splitter for a span starting at `start` in its pack; `done(i, bytes)` receives member
    /// `i` once all its bytes arrived.
    pub fn new(start: u64, members: Vec<(u64, u64)>, done: F) -> Splitter<F> {
        Splitter {
            at: start,
            members,
            next: 0,
            current: Vec::new(),
            done,
        }
    }

    /// Once every byte was written: how many members were handed over. (Empty members at the
    /// end of a span, or making up all of it, are handed over here.)
    pub fn finish(&mut self) -> std::io::Result<usize> {
        self.complete_empty()?;
        Ok(self.next)
    }

    /// Hands over the members that need no (more) bytes at the current position.
    fn complete_empty(&mut self) -> std::io::Result<()> {
        while let Some(&(offset, len)) = self.members.get(self.next) {
            if self.at < offset || (self.current.len() as u64) < len {
                break;
            }
            let bytes = std::mem::take(&mut self.current);
            (self.done)(self.next, &bytes)?;
            self.current = bytes;
            self.current.clear();
            self.next += 1;
        }
        Ok(())
    }
}

impl<F: FnMut(usize, &[u8]) -> std::io::Result<()>> Write for Splitter<F> {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let total = buf.len();
        while !buf.is_empty() {
            let Some(&(offset, len)) = self.members.get(self.next) else {
                break;
            };
            let n = if self.at < offset {
                // A gap: skip it.
                buf.len().min((offset - self.at) as usize)
            } else {
                let n = buf.len().min((len - self.current.len() as u64) as usize);
                self.current.extend_from_slice(&buf[..n]);
                n
            };
            self.at += n as u64;
            buf = &buf[n..];
            self.complete_empty()?;
        }
        self.at += buf.len() as u64;
        Ok(total)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::parse(&format!("{n:02x}").repeat(32)).unwrap()
    }

    #[test]
    fn an_index_round_trips_and_bad_ones_are_refused() {
        let index = plan(&[(digest(1), 10), (digest(2), 0), (digest(3), 5)]).remove(0);
        assert_eq!(index.size(), 15);
        assert_eq!(Index::parse(&index.text()), Ok(index.clone()));
        assert_ne!(index.id(), plan(&[(digest(1), 10)])[0].id());
        assert!(Index::parse("nope\n").is_err());
        let gap = format!("{HEADER}\n{} 0 10\n{} 11 5\n", digest(1), digest(2));
        assert_eq!(
            Index::parse(&gap),
            Err("line 3: expected `DIGEST OFFSET LENGTH`".into())
        );
    }

    #[test]
    fn packs_close_once_they_reach_the_target() {
        let objects: Vec<_> = (0..10).map(|i| (digest(i), PACK_TARGET / 4 + 1)).collect();
        let packs = plan(&objects);
        assert_eq!(
            packs.iter().map(|p| p.entries.len()).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        assert_eq!(packs[1].entries[0].offset, 0);
    }

    #[test]
    fn spans_read_through_small_gaps_and_split_at_big_ones() {
        let at = |pack: &str, offset, len| Place {
            pack: pack.into(),
            offset,
            len,
        };
        let spans = spans(vec![
            (at("b", 10, 5), 'x'),
            (at("a", READ_THROUGH * 3, 1), 'z'),
            (at("a", 0, 100), 'y'),
            (at("a", 100 + READ_THROUGH, 7), 'w'),
        ]);
        let shape: Vec<_> = spans
            .iter()
            .map(|s| {
                let tags: String = s.members.iter().map(|m| m.1).collect();
                (s.pack.as_str(), s.start, s.end, tags)
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("a", 0, 107 + READ_THROUGH, "yw".to_string()),
                ("a", READ_THROUGH * 3, READ_THROUGH * 3 + 1, "z".to_string()),
                ("b", 10, 15, "x".to_string()),
            ]
        );
    }

    #[test]
    fn a_splitter_hands_each_member_its_bytes_whatever_the_pieces() {
        let pack: Vec<u8> = (0..100u8).collect();
        for piece in [1, 3, 7, 64] {
            let mut got = Vec::new();
            let members = vec![(10, 0), (10, 5), (20, 0), (30, 20), (50, 0)];
            let mut split = Splitter::new(10, members, |i, bytes: &[u8]| {
                got.push((i, bytes.to_vec()));
                Ok(())
            });
            for chunk in pack[10..60].chunks(piece) {
                split.write_all(chunk).unwrap();
            }
            assert_eq!(split.finish().unwrap(), 5);
            drop(split);
            assert_eq!(
                got,
                [
                    (0, vec![]),
                    (1, pack[10..15].to_vec()),
                    (2, vec![]),
                    (3, pack[30..50].to_vec()),
                    (4, vec![])
                ]
            );
        }
    }
}
