//! DVC's `.dvc` files, as `dvc add` writes them beside the data they track:
//!
//! ```yaml
//! outs:
//! - md5: b202f333fba4fd38d4b8e5e693077aab    # a folder's ends in `.dir`
//!   size: 10
//!   nfiles: 3                                # folders only
//!   hash: md5                                # absent in DVC 2 files (see `Algorithm`)
//!   path: raw.csv                            # relative to the .dvc file's folder
//! ```
//!
//! cairn reads them, never writes them: after the rename, the data of a DVC project is a tracked
//! input as data tracked by a `.cairn` pointer is, and is checked against the `.dvc` file with
//! DVC's own hashes (`dvc_data`): a file's MD5, a folder's MD5 of its JSON listing plus `.dir`.
//!
//! A `.dvc` file is someone else's file. Its size is checked before it is read, the fields DVC's
//! schema accepts are taken (those cairn has no use for, as they are) and any other field is
//! refused as DVC refuses it, a digest must be an MD5, and a path must stay inside the `.dvc`
//! file's folder ([`RelPath`] rules) and not be one cairn keeps for itself.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use md5::{Digest as _, Md5};
use rayon::prelude::*;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_norway::Value;

use crate::error::{Error, IoContext, Result};
use crate::rel_path::RelPath;

/// File name suffix of DVC's pointer files.
pub const SUFFIX: &str = ".dvc";

/// A `.dvc` file larger than this is refused unread: `dvc add` writes a few hundred bytes, and a
/// `files:` listing of 100,000 files is some 15 MB.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// How DVC hashed the data's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `hash: md5` (DVC 3): the MD5 of the bytes.
    Md5,
    /// No `hash:` field (DVC 2's `md5-dos2unix`): the MD5 of the bytes read in 1 MiB chunks,
    /// where a chunk whose first 512 bytes look like text has each CRLF made LF first.
    Md5Dos2Unix,
}

/// An MD5 as a `.dvc` file records it: 32 lowercase hex characters, `.dir` after a folder's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Md5Hash {
    hex: String,
    dir: bool,
}

impl Md5Hash {
    /// Checks `text` (DVC lowercases what it reads, and so does this).
    pub fn parse(text: &str) -> std::result::Result<Md5Hash, String> {
        let lower = text.to_ascii_lowercase();
        let (hex, dir) = match lower.strip_suffix(".dir") {
            Some(hex) => (hex, true),
            None => (lower.as_str(), false),
        };
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let shown: String = text.chars().take(80).flat_map(char::escape_debug).collect();
            return Err(format!(
                "'{shown}' is not an MD5 (32 hex characters, with `.dir` after a folder's)"
            ));
        }
        Ok(Md5Hash {
            hex: hex.to_string(),
            dir,
        })
    }

    /// Whether it names a folder's listing.
    pub fn is_dir(&self) -> bool {
        self.dir
    }
}

impl std::fmt::Display for Md5Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.hex, if self.dir { ".dir" } else { "" })
    }
}

/// One tracked path of a `.dvc` file, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DvcOut {
    /// Relative to the `.dvc` file's folder, normalised (`wdir` applied).
    pub path: RelPath,
    /// What the data hashed to, if the file records it (`dvc add --no-commit` and partial
    /// imports leave it out).
    pub md5: Option<Md5Hash>,
    /// How the bytes were hashed.
    pub algorithm: Algorithm,
    /// Bytes (all files for a folder), if recorded.
    pub size: Option<u64>,
    /// Files, for a folder, if recorded.
    pub nfiles: Option<u64>,
}

/// A checked `.dvc` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DvcFile {
    /// What it tracks (`dvc add` writes one).
    pub outs: Vec<DvcOut>,
}

/// The shape DVC's schema gives a `.dvc` file (`SINGLE_STAGE_SCHEMA`): the fields it accepts,
/// and no others (voluptuous refuses extra keys, and so does this). Fields read only to be
/// accepted are never looked at again.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    outs: Option<Vec<RawOut>>,
    #[serde(default)]
    wdir: Option<String>,
    // Accepted, of no use here: a stage checksum, import sources, flags, notes.
    #[serde(default)]
    md5: Option<IgnoredAny>,
    #[serde(default)]
    deps: Option<IgnoredAny>,
    #[serde(default)]
    locked: Option<IgnoredAny>,
    #[serde(default)]
    frozen: Option<IgnoredAny>,
    #[serde(default)]
    meta: Option<IgnoredAny>,
    #[serde(default)]
    always_changed: Option<IgnoredAny>,
    #[serde(default)]
    desc: Option<IgnoredAny>,
}

/// An out as DVC's output schema has it (`dvc/output.py`, `SCHEMA`).
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
struct RawOut {
    path: String,
    #[serde(default)]
    md5: Option<Value>,
    #[serde(default)]
    hash: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    nfiles: Option<u64>,
    #[serde(default)]
    files: Option<Vec<RawListed>>,
    // Accepted, of no use here.
    #[serde(default)]
    checksum: Option<IgnoredAny>,
    #[serde(default)]
    etag: Option<IgnoredAny>,
    #[serde(default)]
    isexec: Option<IgnoredAny>,
    #[serde(default)]
    version_id: Option<IgnoredAny>,
    #[serde(default)]
    cloud: Option<IgnoredAny>,
    #[serde(default)]
    persist: Option<IgnoredAny>,
    #[serde(default)]
    desc: Option<IgnoredAny>,
    #[serde(default, rename = "type")]
    kind: Option<IgnoredAny>,
    #[serde(default)]
    labels: Option<IgnoredAny>,
    #[serde(default)]
    meta: Option<IgnoredAny>,
    #[serde(default)]
    cache: Option<IgnoredAny>,
    #[serde(default)]
    remote: Option<IgnoredAny>,
    #[serde(default)]
    push: Option<IgnoredAny>,
    #[serde(default)]
    fs_config: Option<IgnoredAny>,
}

/// One file of an out's `files:` listing (DVC's `DIR_FILES_SCHEMA`, written for cloud-versioned
/// remotes instead of a `.dir` object).
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
struct RawListed {
    relpath: String,
    #[serde(default)]
    md5: Option<Value>,
    // Accepted, of no use here.
    #[serde(default)]
    size: Option<IgnoredAny>,
    #[serde(default)]
    nfiles: Option<IgnoredAny>,
    #[serde(default)]
    isexec: Option<IgnoredAny>,
    #[serde(default)]
    version_id: Option<IgnoredAny>,
    #[serde(default)]
    checksum: Option<IgnoredAny>,
    #[serde(default)]
    etag: Option<IgnoredAny>,
    #[serde(default)]
    cloud: Option<IgnoredAny>,
}

impl DvcFile {
    /// Reads and checks the `.dvc` file at `path`; `shown` is how messages name it.
    pub fn read(path: &Path, shown: &str) -> Result<DvcFile> {
        let meta = std::fs::symlink_metadata(path).at(path)?;
        if !meta.is_file() {
            return Err(Error::refused(
                path,
                "is not a regular file; cairn reads .dvc files only as regular files (not \
                 through symbolic links)",
            ));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(Error::invalid(
                path,
                format!(
                    "{} bytes is more than a .dvc file may hold ({MAX_FILE_BYTES}); restore it \
                     from git",
                    meta.len()
                ),
            ));
        }
        let mut bytes = Vec::new();
        // Read no more than the limit even if the file grew since it was looked at.
        File::open(path)
            .at(path)?
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .at(path)?;
        let parsed = match std::str::from_utf8(&bytes) {
            Ok(text) => DvcFile::parse(text),
            Err(_) => Err("not UTF-8 text".to_string()),
        };
        parsed.map_err(|e| {
            Error::invalid(
                path,
                format!(
                    "{e}; this is DVC's pointer file for data: restore it from git, or remove \
                     {shown} and track the data with cairn (`cairn add`)"
                ),
            )
        })
    }

    /// Parses and checks `.dvc` text.
    pub fn parse(text: &str) -> std::result::Result<DvcFile, String> {
        if text.trim().is_empty() {
            return Err("the file is empty".into());
        }
        let raw: RawFile = crate::yaml::from_str_unique(text)?;
        let wdir = match raw.wdir.as_deref().map(str::trim) {
            None | Some("" | ".") => None,
            Some(w) => Some(RelPath::parse(w).map_err(|e| format!("wdir: {e}"))?),
        };
        let mut outs = Vec::new();
        for (i, out) in raw.outs.unwrap_or_default().into_iter().enumerate() {
            outs.push(check_out(out, wdir.as_ref()).map_err(|e| format!("outs[{i}]: {e}"))?);
        }
        Ok(DvcFile { outs })
    }
}

fn check_out(raw: RawOut, wdir: Option<&RelPath>) -> std::result::Result<DvcOut, String> {
    let written = match wdir {
        Some(w) => format!("{w}/{}", raw.path),
        None => raw.path.clone(),
    };
    let path = RelPath::parse(&written).map_err(|e| format!("path: {e}"))?;
    if let Some(why) = crate::confine::reserved(&path) {
        return Err(format!("path: '{path}': {why}"));
    }
    let algorithm = match raw.hash.as_deref() {
        Some("md5") => Algorithm::Md5,
        None => Algorithm::Md5Dos2Unix,
        Some(other) => {
            return Err(format!(
                "hash '{}': cairn checks DVC's md5 (or DVC 2's, where no `hash:` is written) \
                 only",
                other.escape_debug()
            ));
        }
    };
    let mut md5 = md5_field(raw.md5).map_err(|e| format!("md5: {e}"))?;
    // As DVC does: a `files:` listing stands for the folder's hash (`Tree.from_list`).
    if let Some(files) = raw.files {
        md5 = listed_md5(files)?;
        if md5.as_ref().is_some_and(|m| !m.is_dir()) {
            return Err("files: a listing is a folder's".into());
        }
    }
    if md5.as_ref().is_some_and(|m| !m.is_dir()) && raw.nfiles.is_some() {
        return Err("nfiles: a file's out has no file count".into());
    }
    Ok(DvcOut {
        path,
        md5,
        algorithm,
        size: raw.size,
        nfiles: raw.nfiles,
    })
}

/// An `md5:` value: text, or a number YAML read from an all-digit MD5 (DVC takes its text).
/// Null or empty is "not recorded".
fn md5_field(value: Option<Value>) -> std::result::Result<Option<Md5Hash>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Md5Hash::parse(&s).map(Some),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => {
            Md5Hash::parse(&n.to_string()).map(Some)
        }
        Some(_) => Err("not an MD5 (32 hex characters)".into()),
    }
}

/// The folder hash a `files:` listing stands for; `None` if a file's MD5 is not recorded.
fn listed_md5(files: Vec<RawListed>) -> std::result::Result<Option<Md5Hash>, String> {
    let mut listing = Vec::with_capacity(files.len());
    for (i, file) in files.into_iter().enumerate() {
        let relpath =
            RelPath::parse(&file.relpath).map_err(|e| format!("files[{i}]: relpath: {e}"))?;
        match md5_field(file.md5).map_err(|e| format!("files[{i}]: md5: {e}"))? {
            Some(m) if m.is_dir() => {
                return Err(format!(
                    "files[{i}]: md5: a listed file's MD5 has no `.dir`"
                ));
            }
            Some(m) => listing.push((relpath.to_string(), m.hex)),
            None => return Ok(None),
        }
    }
    Ok(Some(listing_md5(listing)))
}

/// Reads `path` (or up to `buf.len()` bytes) into `buf` until it is full or the file ends, as
/// Python's buffered `read(n)` does; returns how many bytes it read.
fn read_chunk(file: &mut File, buf: &mut [u8], path: &Path) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).at(path)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// dvc-data's chunk size for `md5-dos2unix`: the text test is made per chunk.
const CHUNK: usize = 1 << 20;

/// dvc-data's `istextblock`: empty, or no NUL and at most 30 % of bytes outside printable ASCII
/// and `\n\r\t\f\b`.
fn is_text(block: &[u8]) -> bool {
    if block.is_empty() {
        return true;
    }
    if block.contains(&0) {
        return false;
    }
    let nontext = block
        .iter()
        .filter(|&&b| !((32..127).contains(&b) || matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x08)))
        .count();
    // nontext / len <= 0.30, in integers.
    nontext * 100 <= block.len() * 30
}

/// The MD5 of a file as DVC computes it with `algorithm`.
pub fn file_md5(path: &Path, algorithm: Algorithm) -> Result<String> {
    let mut file = File::open(path).at(path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; CHUNK];
    let mut converted = Vec::new();
    loop {
        let n = read_chunk(&mut file, &mut buf, path)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if algorithm == Algorithm::Md5Dos2Unix && is_text(&chunk[..n.min(512)]) {
            // `bytes.replace(b"\r\n", b"\n")` within the chunk.
            converted.clear();
            let mut i = 0;
            while i < chunk.len() {
                if !(chunk[i] == b'\r' && chunk.get(i + 1) == Some(&b'\n')) {
                    converted.push(chunk[i]);
                }
                i += 1;
            }
            hasher.update(&converted);
        } else {
            hasher.update(chunk);
        }
        if n < CHUNK {
            break;
        }
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A string as Python's `json.dumps` writes it (`ensure_ascii`): `"` and `\` escaped, `\n`,
/// `\r`, `\t`, `\b`, `\f` by name, anything else outside ` `..`~` as `\uXXXX` (surrogate pairs
/// beyond the BMP).
fn json_string(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// The hash of a folder listing (relative path, file MD5), as dvc-data's `Tree.digest`: the
/// MD5 of `json.dumps([{"md5": …, "relpath": …}, …], sort_keys=True)`, sorted by path, plus
/// `.dir`.
fn listing_md5(mut listing: Vec<(String, String)>) -> Md5Hash {
    // Python sorts strings by code point, which is the order of their UTF-8 bytes.
    listing.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut json = String::from("[");
    for (i, (relpath, md5)) in listing.iter().enumerate() {
        if i > 0 {
            json.push_str(", ");
        }
        json.push_str("{\"md5\": ");
        json_string(md5, &mut json);
        json.push_str(", \"relpath\": ");
        json_string(relpath, &mut json);
        json.push('}');
    }
    json.push(']');
    Md5Hash {
        hex: hex(&Md5::digest(json.as_bytes())),
        dir: true,
    }
}

/// A folder's files as DVC lists them: every file under it, by `/`-separated path inside it,
/// leaving out what DVC always ignores (`.git` anywhere, `.hg/` and `.dvc/` folders) and the
/// inside of linked folders (DVC walks without following them). A link to a file is followed
/// wherever it leads, as for any dep: the bytes are only hashed (a DVC cache of link type
/// `symlink` may well be outside the workspace).
fn dvc_listing(dir: &Path) -> Result<Vec<(String, std::path::PathBuf, u64)>> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir).into_iter().filter_entry(|e| {
        let name = e.file_name().to_string_lossy();
        e.depth() == 0
            || !(name == ".git" || (e.file_type().is_dir() && (name == ".hg" || name == ".dvc")))
    });
    for entry in walker {
        let entry = entry.map_err(|e| {
            let at = e.path().unwrap_or(dir).to_path_buf();
            Error::Io {
                path: at,
                source: e.into(),
            }
        })?;
        if entry.depth() == 0 || entry.file_type().is_dir() {
            continue;
        }
        let path = entry.path();
        let mut meta = entry.metadata().map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        if meta.file_type().is_symlink() {
            match std::fs::metadata(path) {
                Ok(m) if m.is_dir() => continue,
                Ok(m) => meta = m,
                Err(e) => return Err(e).at(path),
            }
        }
        crate::confine::check_file_type(path, &meta)?;
        let inside = path
            .strip_prefix(dir)
            .ok()
            .and_then(|p| p.to_str())
            .ok_or_else(|| Error::data(path, "file name is not valid UTF-8"))?;
        files.push((inside.to_string(), path.to_path_buf(), meta.len()));
    }
    Ok(files)
}

/// How data compares with what its `.dvc` file records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// As recorded.
    Same,
    /// Different: what differs, for the message.
    Differs(String),
    /// The `.dvc` file records no MD5 to compare with.
    Unrecorded,
}

impl DvcOut {
    /// Compares the data at `abs` (which exists) with what is recorded, with DVC's hashes.
    /// Sizes and file counts are compared first, so changed data is seldom read at all. Nothing
    /// is remembered: an MD5 is computed each time it is asked for.
    pub fn compare(&self, abs: &Path) -> Result<Comparison> {
        let Some(recorded) = &self.md5 else {
            return Ok(Comparison::Unrecorded);
        };
        let meta = std::fs::metadata(abs).at(abs)?;
        crate::confine::check_file_type(abs, &meta)?;
        match (recorded.is_dir(), meta.is_dir()) {
            (true, false) => return Ok(Comparison::Differs("a file, recorded as a folder".into())),
            (false, true) => return Ok(Comparison::Differs("a folder, recorded as a file".into())),
            _ => {}
        }
        if !meta.is_dir() {
            if let Some(size) = self.size.filter(|&s| s != meta.len()) {
                return Ok(Comparison::Differs(format!(
                    "{} bytes, recorded {size}",
                    meta.len()
                )));
            }
            let now = file_md5(abs, self.algorithm)?;
            return Ok(if now == recorded.hex {
                Comparison::Same
            } else {
                Comparison::Differs(format!("MD5 {now}, recorded {recorded}"))
            });
        }
        let files = dvc_listing(abs)?;
        if let Some(n) = self.nfiles.filter(|&n| n != files.len() as u64) {
            return Ok(Comparison::Differs(format!(
                "{} files, recorded {n}",
                files.len()
            )));
        }
        let total = files.iter().fold(0u64, |t, f| t.saturating_add(f.2));
        if let Some(size) = self.size.filter(|&s| s != total) {
            return Ok(Comparison::Differs(format!(
                "{total} bytes, recorded {size}"
            )));
        }
        let algorithm = self.algorithm;
        let listing = files
            .into_par_iter()
            .map(|(inside, path, _)| Ok((inside, file_md5(&path, algorithm)?)))
            .collect::<Result<Vec<_>>>()?;
        let now = listing_md5(listing);
        Ok(if now == *recorded {
            Comparison::Same
        } else {
            Comparison::Differs(format!("listing {now}, recorded {recorded}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What DVC 3.67 (dvc-data 3.18) wrote for `dvc add data/raw.csv data/imgs`, with
    /// `raw.csv` = `a,b\r\n1,2\r\n` and `imgs/` holding `a.txt` = `x`, `sub/b.bin` = `yy\n` and
    /// `é n.txt` = `z`.
    const RAW_CSV: &[u8] = b"a,b\r\n1,2\r\n";
    const RAW_MD5: &str = "b202f333fba4fd38d4b8e5e693077aab";
    /// dvc-data's `file_md5(…, name="md5-dos2unix")` of the same bytes.
    const RAW_MD5_DOS2UNIX: &str = "e5ebd4c02cefbe7955977c67ada242b7";
    const IMGS_MD5: &str = "1bcd3c4936f01e9ebd283b52d7a5f4bb.dir";

    fn imgs(dir: &Path) {
        std::fs::create_dir_all(dir.join("imgs/sub")).unwrap();
        std::fs::write(dir.join("imgs/a.txt"), "x").unwrap();
        std::fs::write(dir.join("imgs/sub/b.bin"), "yy\n").unwrap();
        std::fs::write(dir.join("imgs/é n.txt"), "z").unwrap();
    }

    #[test]
    fn hashes_files_and_folders_as_dvc_does() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw.csv");
        std::fs::write(&raw, RAW_CSV).unwrap();
        assert_eq!(file_md5(&raw, Algorithm::Md5).unwrap(), RAW_MD5);
        assert_eq!(
            file_md5(&raw, Algorithm::Md5Dos2Unix).unwrap(),
            RAW_MD5_DOS2UNIX
        );
        imgs(dir.path());
        let file = DvcFile::parse(&format!(
            "outs:\n- md5: {IMGS_MD5}\n  size: 5\n  nfiles: 3\n  hash: md5\n  path: imgs\n"
        ))
        .unwrap();
        let out = &file.outs[0];
        assert_eq!(
            out.compare(&dir.path().join("imgs")).unwrap(),
            Comparison::Same
        );
        // What DVC leaves out of a listing.
        std::fs::create_dir_all(dir.path().join("imgs/.dvc")).unwrap();
        std::fs::write(dir.path().join("imgs/.dvc/x"), "ignored").unwrap();
        std::fs::write(dir.path().join("imgs/.git"), "ignored").unwrap();
        assert_eq!(
            out.compare(&dir.path().join("imgs")).unwrap(),
            Comparison::Same
        );
        std::fs::write(dir.path().join("imgs/a.txt"), "y").unwrap();
        let Comparison::Differs(what) = out.compare(&dir.path().join("imgs")).unwrap() else {
            panic!("a changed file changes the listing")
        };
        assert!(what.starts_with("listing "), "{what}");
        std::fs::write(dir.path().join("imgs/new"), "").unwrap();
        assert_eq!(
            out.compare(&dir.path().join("imgs")).unwrap(),
            Comparison::Differs("4 files, recorded 3".into())
        );
    }

    #[test]
    fn dos2unix_is_decided_per_chunk_by_its_first_512_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Binary start: the CRLFs of the first chunk stay; the second chunk is text.
        let mut bytes = vec![0u8; 600];
        bytes.extend_from_slice(b"\r\n");
        bytes.resize(CHUNK, b'a');
        bytes.extend_from_slice(b"x\r\ny\r\n");
        std::fs::write(&path, &bytes).unwrap();
        let mut expected = bytes[..CHUNK].to_vec();
        expected.extend_from_slice(b"x\ny\n");
        assert_eq!(
            file_md5(&path, Algorithm::Md5Dos2Unix).unwrap(),
            hex(&Md5::digest(&expected))
        );
        assert!(is_text(b"") && is_text(b"plain\r\n") && !is_text(b"a\0b"));
        assert!(!is_text(&[0x80; 10]) && is_text(b"\x80\x80\x80aaaaaaa"));
    }

    #[test]
    fn json_strings_are_escaped_as_python_does() {
        let mut out = String::new();
        json_string("é \"q\" \\ \n\u{7f}\u{1F600}~", &mut out);
        assert_eq!(out, r#""\u00e9 \"q\" \\ \n\u007f\ud83d\ude00~""#);
    }

    #[test]
    fn dvc_files_are_checked_and_dvc_fields_tolerated() {
        let ok = DvcFile::parse(
            "md5: 0123\nfrozen: true\ndeps:\n- path: https://example.com/x\nmeta: {a: 1}\nouts:\n- md5: B202F333FBA4FD38D4B8E5E693077AAB\n  size: 10\n  path: ./raw.csv\n  cloud: {s3: {etag: x}}\n  desc: the data\n  type: dataset\n  labels: [a]\n  push: false\n",
        )
        .unwrap();
        let out = &ok.outs[0];
        assert_eq!(out.path, "raw.csv");
        assert_eq!(out.algorithm, Algorithm::Md5Dos2Unix);
        assert_eq!(out.md5.as_ref().unwrap().to_string(), RAW_MD5);
        let no_hash = DvcFile::parse("outs:\n- path: x\n  md5: ''\n").unwrap();
        assert_eq!(no_hash.outs[0].md5, None);
        let wdir = DvcFile::parse("wdir: sub\nouts:\n- path: x\n  hash: md5\n").unwrap();
        assert_eq!(wdir.outs[0].path, "sub/x");
        let listed = DvcFile::parse(
            "outs:\n- path: imgs\n  hash: md5\n  files:\n  - relpath: a.txt\n    md5: 9dd4e461268c8034f5c8564e155c67a6\n    size: 1\n  - relpath: sub/b.bin\n    md5: c796c191140b5f9ce61892fab185f8d3\n  - relpath: \"\\xe9 n.txt\"\n    md5: fbade9e36a3f36d3d676c1b808451dd7\n",
        )
        .unwrap();
        assert_eq!(listed.outs[0].md5.as_ref().unwrap().to_string(), IMGS_MD5);
        for (bad, says) in [
            ("outs:\n- path: ../x\n", "leaves the workspace"),
            ("outs:\n- path: /etc/passwd\n", "is absolute"),
            ("outs:\n- path: .git/config\n", ".git"),
            ("outs:\n- path: x\n  md5: ../../etc\n", "is not an MD5"),
            ("outs:\n- path: x\n  md5: [1]\n", "not an MD5"),
            ("outs:\n- path: x\n  size: -1\n", "size"),
            (
                "outs:\n- path: x\n  colour: red\n",
                "unknown field `colour`",
            ),
            ("cmd: rm -rf /\nouts: []\n", "unknown field `cmd`"),
            ("outs:\n- path: x\n  hash: sha256\n", "hash 'sha256'"),
            ("wdir: ..\nouts:\n- path: x\n", "wdir"),
            ("outs:\n- md5: a\n", "missing field `path`"),
            ("outs:\n- path: x\n  path: y\n", "repeated key \"path\""),
            ("", "empty"),
        ] {
            let err = DvcFile::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }
}
