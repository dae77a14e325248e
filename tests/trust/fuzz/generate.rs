//! Generated inputs: valid seed documents of each kind, mutated by a seeded xorshift generator
//! (byte flips, truncation, duplicated, dropped and swapped lines, swapped keys, invalid UTF-8)
//! and filled with hostile fragments (paths that leave the workspace, YAML tags, anchors and
//! alias bombs, huge numbers, deep nesting, long strings, `${…}` templates, huge `matrix` and
//! `foreach`). Case `i` of a kind depends only on the seeds, the base seed, the kind and `i`, so
//! a failing case is named by its number and made again from it.

use std::path::Path;

/// A xorshift64* generator, seeded through splitmix64 so that nearby seeds differ; it carries
/// whether the case it makes is explosive (see [`case`]).
pub struct Rng {
    state: u64,
    explosive: bool,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng {
            state: (z ^ (z >> 31)) | 1,
            explosive: false,
        }
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The parsers under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Pipeline,
    Params,
    Lock,
    Pointer,
    Manifest,
    PackIndex,
    RunEntry,
    DvcFile,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Pipeline,
        Kind::Params,
        Kind::Lock,
        Kind::Pointer,
        Kind::Manifest,
        Kind::PackIndex,
        Kind::RunEntry,
        Kind::DvcFile,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Pipeline => "pipeline",
            Kind::Params => "params",
            Kind::Lock => "lock",
            Kind::Pointer => "pointer",
            Kind::Manifest => "manifest",
            Kind::PackIndex => "pack-index",
            Kind::RunEntry => "run-entry",
            Kind::DvcFile => "dvc-file",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn syntax(self) -> Syntax {
        match self {
            Kind::Manifest => Syntax::Json,
            Kind::PackIndex => Syntax::Index,
            _ => Syntax::Yaml,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Yaml,
    Json,
    Index,
}

/// Valid documents of each kind, made by the real binary, and what the hostile fragments aim
/// at: a file outside every workspace (reading or writing it is what must never happen).
#[derive(Debug, Clone)]
pub struct Seeds {
    /// Per kind (in [`Kind::ALL`] order), one or more valid documents.
    pub docs: Vec<Vec<Vec<u8>>>,
    /// Digests of objects that exist (in the seed cache and remote).
    pub digests: Vec<String>,
    /// Absolute path of the file outside the sandbox.
    pub secret: String,
    /// Absolute path of the folder holding it.
    pub outside: String,
}

impl Seeds {
    pub fn docs(&self, kind: Kind) -> &[Vec<u8>] {
        &self.docs[kind as usize]
    }

    /// Writes the seeds to `dir`, for a worker process to read with [`Seeds::load`].
    pub fn save(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("mkdir seeds");
        for kind in Kind::ALL {
            for (i, doc) in self.docs(kind).iter().enumerate() {
                std::fs::write(dir.join(format!("{}.{i}", kind.name())), doc).expect("write seed");
            }
        }
        std::fs::write(dir.join("digests"), self.digests.join("\n")).expect("write");
        std::fs::write(dir.join("secret"), &self.secret).expect("write");
        std::fs::write(dir.join("outside"), &self.outside).expect("write");
    }

    pub fn load(dir: &Path) -> Seeds {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("read seeds");
        let docs = Kind::ALL
            .iter()
            .map(|kind| {
                (0..)
                    .map_while(|i| std::fs::read(dir.join(format!("{}.{i}", kind.name()))).ok())
                    .collect()
            })
            .collect();
        Seeds {
            docs,
            digests: read("digests").lines().map(str::to_string).collect(),
            secret: read("secret"),
            outside: read("outside"),
        }
    }
}

/// Case `index` of `kind`. An explosive case is a document that explodes where a parser or
/// what reads it has no limit (an alias bomb with a wide first anchor, a matrix of a million
/// combinations or more, a foreach of 20,000 items, thousands of aliases of one entry): the layers
/// make a few of each kind, last, so that while a parser explodes on them its other cases
/// still run.
pub fn case(seeds: &Seeds, kind: Kind, base: u64, index: usize, explosive: bool) -> Vec<u8> {
    let mut rng = Rng::new(base ^ ((kind as u64) << 40) ^ index as u64);
    if explosive {
        rng.explosive = true;
        return explosive_doc(seeds, kind, index, &mut rng);
    }
    if rng.one_in(5) {
        return hostile(seeds, kind, &mut rng);
    }
    let mut doc = rng.pick(seeds.docs(kind)).clone();
    for _ in 0..1 + rng.below(3) {
        // Half of the mutations keep the document well-formed, so that the hostile values get
        // past the syntax to what reads them.
        if rng.one_in(2) {
            semantic(&mut doc, seeds, kind, &mut rng);
        } else {
            mutate(&mut doc, seeds, kind, &mut rng);
        }
    }
    doc
}

/// Relative paths that a strict path type accepts but that name something that is not the
/// data's to replace (cairn's own files, other tracked data, a parent of an out), are odd
/// file names, or leave the workspace after all.
const PATHS: &[&str] = &[
    "x",
    "sub",
    "sub/tracked",
    "sub/tracked/a.txt",
    "tracked/nested",
    "prepared",
    "prepared/a.txt",
    "data.csv",
    "data.csv.cairn",
    "sub/tracked.cairn",
    "pipeline.yaml",
    "pipeline.lock",
    "params.yaml",
    ".cairn",
    ".cairn/cache",
    ".cairn/cache/v1",
    ".cairn/config.yaml",
    ".cairn/runs/v1",
    ".cairn/lock",
    ".cairn/tmp",
    ".git/hooks/pre-commit",
    "a\\b",
    "..a",
    "...",
    "a b",
    "'a: b'",
    "\"a\\nb\"",
    "\"a\\tb\"",
    "é/ü",
    "~",
    "-",
    "'#x'",
    "'*'",
    "../x",
    "../outside-new.txt",
    "../../outside/secret.txt",
    "sub/../../x",
    "{SECRET}",
    "'{OUTSIDE}/new.txt'",
];

/// Replaces the value of a field with one of the right shape: a path, a real digest, a
/// number. YAML `key: value` lines and list items, JSON `"key":value` pairs, index fields.
fn semantic(doc: &mut Vec<u8>, seeds: &Seeds, kind: Kind, rng: &mut Rng) {
    let text = String::from_utf8_lossy(doc).into_owned();
    let long_name = "n".repeat(300);
    let deep_path = format!("{}f", "d/".repeat(300));
    let path = |rng: &mut Rng| -> String {
        match rng.below(12) {
            0 => long_name.clone(),
            1 => deep_path.clone(),
            _ => {
                let p = *rng.pick(PATHS);
                fill(seeds, p, rng)
            }
        }
    };
    let number = |rng: &mut Rng| -> String {
        rng.pick(&[
            "0",
            "1",
            "2",
            "3",
            "7",
            "1000000",
            "9223372036854775808",
            "18446744073709551615",
            "-1",
            "1.5",
        ])
        .to_string()
    };
    let digest = |rng: &mut Rng| -> String {
        let d = rng.pick(&seeds.digests).clone();
        match rng.below(10) {
            0 => d.to_uppercase(),
            1 => format!("'{d}'"),
            _ => d,
        }
    };
    match kind.syntax() {
        Syntax::Yaml => {
            let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
            let fields: Vec<usize> = (0..lines.len())
                .filter(|i| {
                    let t = lines[*i].trim_start();
                    t.starts_with("- ") || t.contains(": ")
                })
                .collect();
            if fields.is_empty() {
                return;
            }
            let i = *rng.pick(&fields);
            let line = lines[i].clone();
            let (head, key) = match line.find(": ") {
                Some(at) => {
                    let key = line[..at].trim_start().trim_start_matches("- ").to_string();
                    (line[..at + 2].to_string(), key)
                }
                None => {
                    let at = line.find("- ").unwrap_or(0) + 2;
                    (line[..at].to_string(), "-".to_string())
                }
            };
            let value = match key.as_str() {
                "digest" => digest(rng),
                "md5" => rng
                    .pick(&[
                        "b202f333fba4fd38d4b8e5e693077aab",
                        "B202F333FBA4FD38D4B8E5E693077AAB",
                        "b202f333fba4fd38d4b8e5e693077aab.dir",
                        "1234",
                        "''",
                        "null",
                        "12345678901234567890123456789012",
                    ])
                    .to_string(),
                "hash" => rng
                    .pick(&["md5", "md5-dos2unix", "sha256", "''"])
                    .to_string(),
                "size" | "nfiles" | "seed" | "depth" | "lr" | "threshold" => number(rng),
                "schema" => rng
                    .pick(&["cairn-lock/1", "cairn-lock/0", "'cairn-lock/1'"])
                    .to_string(),
                _ => path(rng),
            };
            lines[i] = format!("{head}{value}");
            if rng.one_in(4) {
                // The same field again, for a list item: another entry.
                let again = lines[i].clone();
                lines.insert(i + 1, again);
            }
            *doc = lines.join("\n").into_bytes();
        }
        Syntax::Json => {
            let keys = ["\"path\":", "\"digest\":", "\"size\":"];
            let key = *rng.pick(&keys);
            let at: Vec<usize> = text
                .match_indices(key)
                .map(|(i, _)| i + key.len())
                .collect();
            if at.is_empty() {
                return;
            }
            let start = *rng.pick(&at);
            let rest = &text[start..];
            let len = rest.find([',', '}']).unwrap_or(rest.len());
            let value = match key {
                "\"path\":" => serde_json::to_string(&path(rng)).unwrap_or_default(),
                "\"digest\":" => format!("\"{}\"", digest(rng).trim_matches('\'')),
                _ => number(rng),
            };
            *doc = format!("{}{value}{}", &text[..start], &text[start + len..]).into_bytes();
        }
        Syntax::Index => {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() < 2 {
                return;
            }
            let i = 1 + rng.below(lines.len() - 1);
            let mut fields: Vec<String> = lines[i].split(' ').map(str::to_string).collect();
            let f = rng.below(fields.len());
            fields[f] = if f == 0 {
                digest(rng).trim_matches('\'').to_string()
            } else {
                number(rng)
            };
            lines[i] = fields.join(" ");
            match rng.below(4) {
                0 => {
                    let j = 1 + rng.below(lines.len() - 1);
                    lines.swap(i, j);
                }
                1 => {
                    let again = lines[i].clone();
                    lines.insert(i, again);
                }
                _ => {}
            }
            *doc = (lines.join("\n") + "\n").into_bytes();
        }
    }
}

/// Short fragments, whatever the syntax. `{SECRET}`, `{OUTSIDE}` and `{DIGEST}` are replaced.
const COMMON: &[&str] = &[
    "../",
    "../../",
    "..",
    ".",
    "~",
    "~/x",
    "{SECRET}",
    "{OUTSIDE}/new.txt",
    "../../outside/secret.txt",
    "../outside-new.txt",
    "a/../../b",
    "../../../../../../../../../../../..{SECRET}",
    "./a",
    "a//b",
    ".cairn/cache/v1",
    ".cairn/config.yaml",
    ".git/config",
    "\0",
    "\u{feff}",
    "\u{202e}",
    "é",
    "😀",
    "\r\n",
    "\r",
    "\t",
    " ",
    "",
    "\\",
    "1e308",
    "1e309",
    "-1e309",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "-9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999999999999999999",
    "0.0000000000000000000000000000000001",
    "-0",
    "{DIGEST}",
    "${",
    "${}",
    "${key}",
    "${item}",
    "${item.depth}",
    "${models}",
    "${train.seed}",
    "${lrs}",
    "${${x}}",
    "\\${x}",
];

const YAML: &[&str] = &[
    "{a: 1}",
    "[1]",
    "[]",
    "{}",
    "? [1, 2]\n: x",
    "? {a: 1}\n: y",
    "!tag x",
    "!!binary aGVsbG8=",
    "!!str",
    "!!int x",
    "!!float 1e400",
    "!!map {}",
    "!!seq []",
    "!!python/object:os.system",
    "!<tag:yaml.org,2002:str> x",
    "&a x",
    "*a",
    "*undefined",
    "&a [*a]",
    "<<: *a",
    "<<: {a: 1}",
    "null",
    "~",
    "''",
    "\"\"",
    "true",
    "yes",
    "-",
    "- ",
    ":",
    ": ",
    "---",
    "...",
    "--- |\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "|",
    ">",
    "|-\n  x",
    "#",
    "'",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\x00\"",
    ".inf",
    "-.inf",
    ".nan",
    "0x7fffffffffffffff",
    "0o777",
    "1_000",
    "2001-12-14t21:59:43.10-05:00",
    "\"${item}\"",
    "foreach: [a, b]",
    "do: {cmd: x}",
    "matrix: {a: [1, 2]}",
    "vars: [{SECRET}]",
    "vars: [../../outside/secret.txt]",
    "wdir: ..",
    "params: [{SECRET}]",
    "params: [{'{SECRET}': []}]",
    "outs: [{SECRET}]",
    "cache: false",
    "persist: true",
    "frozen: true",
    "nfiles: 18446744073709551615",
    "size: -1",
    "schema: cairn-lock/2",
];

const JSON: &[&str] = &[
    "\"../x\"",
    "\"{SECRET}\"",
    "\"a/../../b\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\\\\"",
    "\"\"",
    "null",
    "true",
    "{}",
    "[]",
    "{\"path\": \"a\", \"path\": \"b\"}",
    "{\"path\": \"a\", \"digest\": \"{DIGEST}\", \"size\": 1}",
    "{\"path\": \"a/b\", \"digest\": \"{DIGEST}\", \"size\": 1}",
    "{\"path\": \".cairn/x\", \"digest\": \"{DIGEST}\", \"size\": 1}",
    ",",
    ":",
    "\"",
    "[",
    "]",
    "{",
    "}",
    "NaN",
    "Infinity",
    "1.7976931348623157e309",
    "\"{DIGEST}\"",
];

const INDEX: &[&str] = &[
    "cairn-pack v1",
    "cairn-pack v2",
    "cairn-pack v1 ",
    "{DIGEST} 0 0",
    "{DIGEST} 0 1048575",
    "{DIGEST} 0 1048576",
    "{DIGEST} 18446744073709551615 1",
    "{DIGEST} 0 18446744073709551615",
    "{DIGEST}  0 1",
    "{DIGEST} +0 1",
    "{DIGEST} 0x0 1",
    "{DIGEST}",
    " ",
    "\n",
];

/// A hostile fragment for `syntax`, placeholders filled.
fn fragment(seeds: &Seeds, syntax: Syntax, rng: &mut Rng) -> Vec<u8> {
    if rng.one_in(12) {
        return big_fragment(seeds, syntax, rng);
    }
    let own = match syntax {
        Syntax::Yaml => YAML,
        Syntax::Json => JSON,
        Syntax::Index => INDEX,
    };
    let text = if rng.one_in(2) {
        rng.pick(COMMON)
    } else {
        rng.pick(own)
    };
    fill(seeds, text, rng).into_bytes()
}

fn fill(seeds: &Seeds, text: &str, rng: &mut Rng) -> String {
    let digest = rng.pick(&seeds.digests).clone();
    text.replace("{SECRET}", &seeds.secret)
        .replace("{OUTSIDE}", &seeds.outside)
        .replace("{DIGEST}", &digest)
}

/// Long strings, deep nesting, alias bombs, huge matrices and foreach lists.
fn big_fragment(seeds: &Seeds, syntax: Syntax, rng: &mut Rng) -> Vec<u8> {
    let depth = *rng.pick(&[64usize, 127, 128, 129, 300, 5000]);
    match (syntax, rng.below(8)) {
        (_, 0) => "x"
            .repeat(*rng.pick(&[1000usize, 70_000, 200_000]))
            .into_bytes(),
        (_, 1) => format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
        (Syntax::Json, _) => {
            let n = *rng.pick(&[1000usize, 20_000]);
            let entries: Vec<String> = (0..n)
                .map(|i| {
                    format!(
                        "{{\"path\":\"d{}/f{i}\",\"digest\":\"{}\",\"size\":{i}}}",
                        i % 7,
                        rng.pick(&seeds.digests)
                    )
                })
                .collect();
            format!("[{}]", entries.join(",")).into_bytes()
        }
        (Syntax::Index, _) => {
            let mut text = String::from("cairn-pack v1\n");
            let mut offset = 0u64;
            for _ in 0..*rng.pick(&[1000usize, 50_000]) {
                let len = rng.below(4) as u64;
                text.push_str(&format!("{} {offset} {len}\n", rng.pick(&seeds.digests)));
                offset += len;
            }
            text.into_bytes()
        }
        (Syntax::Yaml, 2) => format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)).into_bytes(),
        (Syntax::Yaml, 3) => {
            let mut text = String::new();
            for level in 0..depth.min(400) {
                text.push_str(&" ".repeat(level));
                text.push_str("- \n");
            }
            text.into_bytes()
        }
        (Syntax::Yaml, 4) => alias_bomb(rng).into_bytes(),
        (Syntax::Yaml, 5) => matrix_bomb(rng).into_bytes(),
        (Syntax::Yaml, 6) => {
            let n = *rng.pick(&[1000usize, 5000]);
            let items: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
            format!(
                "foreach: [{}]\ndo:\n  cmd: echo ${{item}}\n  outs: ['o-${{item}}']",
                items.join(", ")
            )
            .into_bytes()
        }
        _ => format!("{}: v", "k".repeat(*rng.pick(&[1024usize, 70_000]))).into_bytes(),
    }
}

/// A YAML mapping whose anchors expand: a little, the classic "billion laughs" (which
/// serde_norway's repetition limit catches) or, in an explosive case, one with a wide first
/// anchor (which it does not: 20 KB of text become 10^8 values).
pub fn alias_bomb(rng: &mut Rng) -> String {
    let (leaf, fan, levels) = if rng.explosive {
        *rng.pick(&[(10_000usize, 100usize, 2usize), (2000, 200, 2)])
    } else if rng.one_in(8) {
        // serde_norway takes a few hundred milliseconds to refuse it: not too often.
        (10, 10, 9)
    } else {
        // Aliases, but only a thousand values.
        (10, 10, 2)
    };
    let mut text = format!("l0: &l0 [{}]\n", vec!["lol"; leaf].join(","));
    for level in 1..=levels {
        let refs = vec![format!("*l{}", level - 1); fan].join(",");
        text.push_str(&format!("l{level}: &l{level} [{refs}]\n"));
    }
    text
}

/// A stage whose `matrix` has, in an explosive case, millions to billions of combinations.
pub fn matrix_bomb(rng: &mut Rng) -> String {
    let axes = if rng.explosive { 6 + rng.below(6) } else { 2 };
    let mut text = String::from("matrix:\n");
    for a in 0..axes {
        text.push_str(&format!("  a{a}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n"));
    }
    text.push_str("cmd: echo ${item.a0}\nouts: ['o-${item.a0}-${item.a1}']\n");
    text
}

/// One mutation of `doc`.
fn mutate(doc: &mut Vec<u8>, seeds: &Seeds, kind: Kind, rng: &mut Rng) {
    let syntax = kind.syntax();
    match rng.below(13) {
        0 => {
            if !doc.is_empty() {
                let i = rng.below(doc.len());
                doc[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let special = b"\0\xff:-[]{}\n \"'&*!$%#|>,\\";
            if !doc.is_empty() {
                let i = rng.below(doc.len());
                doc[i] = *rng.pick(special);
            }
        }
        2 => {
            let at = rng.below(doc.len() + 1);
            doc.truncate(at);
        }
        3 => edit_lines(
            doc,
            |lines, rng| {
                let i = rng.below(lines.len());
                let line = lines[i].clone();
                for _ in 0..1 + rng.below(3) {
                    lines.insert(i, line.clone());
                }
            },
            rng,
        ),
        4 => edit_lines(
            doc,
            |lines, rng| {
                let i = rng.below(lines.len());
                lines.remove(i);
            },
            rng,
        ),
        5 => edit_lines(
            doc,
            |lines, rng| {
                let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                lines.swap(i, j);
            },
            rng,
        ),
        6 => {
            let at = rng.below(doc.len() + 1);
            let frag = fragment(seeds, syntax, rng);
            doc.splice(at..at, frag);
        }
        7 => {
            let frag = fragment(seeds, syntax, rng);
            edit_lines(
                doc,
                |lines, rng| {
                    let i = rng.below(lines.len());
                    let indent: Vec<u8> = lines[i]
                        .iter()
                        .take_while(|b| **b == b' ')
                        .copied()
                        .collect();
                    let mut line = indent;
                    line.extend_from_slice(&frag);
                    lines.insert(i, line);
                },
                rng,
            )
        }
        8 => replace_value(doc, seeds, syntax, rng),
        9 if syntax == Syntax::Yaml => swap_keys(doc, seeds, rng),
        10 => {
            let bad: &[&[u8]] = &[
                b"\xc3\x28",
                b"\xff",
                b"\xed\xa0\x80",
                b"\xf4\x90\x80\x80",
                b"\x80",
            ];
            let at = rng.below(doc.len() + 1);
            doc.splice(at..at, rng.pick(bad).iter().copied());
        }
        11 => {
            // Another (real or hostile) digest in place of one.
            let text = String::from_utf8_lossy(doc).into_owned();
            if let Some(at) = find_digest(&text) {
                let new = if rng.one_in(2) {
                    rng.pick(&seeds.digests).clone()
                } else {
                    String::from_utf8_lossy(&fragment(seeds, syntax, rng)).into_owned()
                };
                let mut out = text[..at].to_string();
                out.push_str(&new);
                out.push_str(&text[at + 64..]);
                *doc = out.into_bytes();
            }
        }
        _ => {
            // The whole document, twice or three times.
            let copy = doc.clone();
            for _ in 0..1 + rng.below(2) {
                doc.extend_from_slice(&copy);
            }
        }
    }
}

fn edit_lines(doc: &mut Vec<u8>, edit: impl FnOnce(&mut Vec<Vec<u8>>, &mut Rng), rng: &mut Rng) {
    let mut lines: Vec<Vec<u8>> = doc.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.is_empty() {
        return;
    }
    edit(&mut lines, rng);
    *doc = lines.join(&b'\n');
}

/// Replaces a value: the rest of a YAML line after `: ` or `- `, a JSON string or number, an
/// index field.
fn replace_value(doc: &mut Vec<u8>, seeds: &Seeds, syntax: Syntax, rng: &mut Rng) {
    let frag = fragment(seeds, syntax, rng);
    let text = String::from_utf8_lossy(doc).into_owned();
    let starts: Vec<usize> = match syntax {
        Syntax::Yaml => text
            .match_indices(": ")
            .chain(text.match_indices("- "))
            .map(|(i, _)| i + 2)
            .collect(),
        Syntax::Json => text.match_indices(':').map(|(i, _)| i + 1).collect(),
        Syntax::Index => text.match_indices(' ').map(|(i, _)| i + 1).collect(),
    };
    if starts.is_empty() {
        return;
    }
    let start = *rng.pick(&starts);
    let rest = &text[start..];
    let len = match syntax {
        Syntax::Yaml => rest.find('\n').unwrap_or(rest.len()),
        Syntax::Json => rest.find([',', '}', ']']).unwrap_or(rest.len()),
        Syntax::Index => rest.find([' ', '\n']).unwrap_or(rest.len()),
    };
    let mut out = text.as_bytes()[..start].to_vec();
    out.extend_from_slice(&frag);
    out.extend_from_slice(&text.as_bytes()[start + len..]);
    *doc = out;
}

/// Swaps the keys of two YAML lines, or puts a hostile key in place of one.
fn swap_keys(doc: &mut Vec<u8>, seeds: &Seeds, rng: &mut Rng) {
    let hostile_keys = [
        "{a: 1}",
        "[1]",
        "? x",
        "<<",
        "!!binary aGk=",
        "''",
        "~",
        "null",
        "1e309",
        "&k key",
        "*k",
        "\"{SECRET}\"",
        "../x",
        "a@b",
        "a b",
        "${key}",
    ];
    let key = *rng.pick(&hostile_keys);
    let hostile = fill(seeds, key, rng);
    edit_lines(
        doc,
        |lines, rng| {
            let keyed: Vec<usize> = (0..lines.len())
                .filter(|i| lines[*i].windows(1).any(|w| w == b":"))
                .collect();
            if keyed.is_empty() {
                return;
            }
            let split = |line: &[u8]| -> (Vec<u8>, Vec<u8>, Vec<u8>) {
                let indent = line.iter().take_while(|b| matches!(b, b' ' | b'-')).count();
                let colon = line.iter().position(|b| *b == b':').unwrap_or(line.len());
                let colon = colon.max(indent);
                (
                    line[..indent].to_vec(),
                    line[indent..colon].to_vec(),
                    line[colon..].to_vec(),
                )
            };
            let i = *rng.pick(&keyed);
            let (indent_i, key_i, rest_i) = split(&lines[i]);
            if rng.one_in(2) {
                lines[i] = [indent_i, hostile.into_bytes(), rest_i].concat();
                return;
            }
            let j = *rng.pick(&keyed);
            let (indent_j, key_j, rest_j) = split(&lines[j]);
            lines[i] = [indent_i, key_j, rest_i].concat();
            lines[j] = [indent_j, key_i, rest_j].concat();
        },
        rng,
    );
}

fn find_digest(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut run = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(b, b'0'..=b'9' | b'a'..=b'f') {
            run += 1;
            if run == 64 {
                return Some(i + 1 - 64);
            }
        } else {
            run = 0;
        }
    }
    None
}

/// Which kind of explosion explosive case `index` of `kind` is: after one explodes, the
/// others of its shape would too.
pub fn explosive_shape(kind: Kind, index: usize) -> usize {
    match kind {
        Kind::Pipeline => index % 3,
        _ => 0,
    }
}

/// A document of `kind` that explodes if its parser or what reads it has no limit: an alias
/// bomb where a free-form value is allowed, a huge matrix or foreach, or (where the types
/// allow no nesting) a long list of aliases to one valid entry.
fn explosive_doc(seeds: &Seeds, kind: Kind, index: usize, rng: &mut Rng) -> Vec<u8> {
    let indented =
        |text: String, by: &str| -> String { text.lines().map(|l| format!("{by}{l}\n")).collect() };
    let digest = rng.pick(&seeds.digests).clone();
    let text = match kind {
        Kind::Pipeline => match explosive_shape(kind, index) {
            0 => format!("stages:\n  s:\n{}", indented(matrix_bomb(rng), "    ")),
            1 => format!(
                "vars:\n  - bomb:\n{}stages:\n  s:\n    foreach: ${{bomb.l2}}\n    do:\n      cmd: echo ${{item}}\n      outs: [o]\n",
                indented(alias_bomb(rng), "      ")
            ),
            _ => {
                let items: Vec<String> = (0..20_000).map(|i| format!("i{i}")).collect();
                format!(
                    "stages:\n  s:\n    foreach: [{}]\n    do:\n      cmd: echo ${{item}}\n      outs: ['o-${{item}}']\n",
                    items.join(", ")
                )
            }
        },
        Kind::Params => alias_bomb(rng).replace("l0:", "models:"),
        Kind::Lock => format!(
            "schema: cairn-lock/1\nstages:\n  prep:\n    cmd: echo\n    params:\n      params.yaml:\n{}",
            indented(alias_bomb(rng), "        ")
        ),
        Kind::Pointer | Kind::RunEntry => {
            // The folder the seed tracks (its manifest is in the cache), 2000 times: serde_norway
            // bounds aliases in a list of entries, each placed is real work.
            let seed = &seeds.docs(kind)[if kind == Kind::Pointer { 1 } else { 0 }];
            let seed = String::from_utf8_lossy(seed).into_owned();
            let digest = find_digest(&seed).map_or(digest, |at| seed[at..at + 64].to_string());
            let path = if kind == Kind::Pointer {
                "tracked"
            } else {
                "prepared"
            };
            format!(
                "outs:\n- &o {{path: {path}, digest: {digest}, size: 9, nfiles: 2}}\n{}",
                "- *o\n".repeat(2000)
            )
        }
        Kind::DvcFile => format!(
            "meta:\n{}outs:\n- md5: b202f333fba4fd38d4b8e5e693077aab\n  hash: md5\n  path: raw.csv\n",
            indented(alias_bomb(rng), "  ")
        ),
        Kind::Manifest => {
            // Ends with a path listed twice, so it is refused, not placed (placing 20,000 files
            // is real work, not an explosion).
            let mut entries: Vec<String> = (0..20_000)
                .map(|i| {
                    format!(
                        "{{\"path\":\"d{}/f{i}\",\"digest\":\"{digest}\",\"size\":1}}",
                        i % 7
                    )
                })
                .collect();
            entries.push(entries[0].clone());
            format!("[{}]", entries.join(","))
        }
        Kind::PackIndex => {
            let mut text = String::from("cairn-pack v1\n");
            for i in 0..100_000u64 {
                text.push_str(&format!("{} {i} 1\n", rng.pick(&seeds.digests)));
            }
            text
        }
    };
    text.into_bytes()
}

/// A document of `kind` written to be hostile rather than mutated from a seed.
fn hostile(seeds: &Seeds, kind: Kind, rng: &mut Rng) -> Vec<u8> {
    let path = |rng: &mut Rng| -> String {
        let paths = [
            "../x",
            "../../outside/new.txt",
            "../../outside/secret.txt",
            "../../../outside/new.txt",
            "{SECRET}",
            "{OUTSIDE}/new.txt",
            "a/../../x",
            "../../../../../../../../../../../..{SECRET}",
            ".",
            "..",
            "''",
            "~",
            "sub",
            "sub/..",
            "sub/tracked",
            "tracked/..",
            ".cairn",
            ".cairn/config.yaml",
            ".cairn/cache/v1",
            ".git/hooks/pre-commit",
            "data.csv.cairn",
            "prepared",
            "prepared/a.txt",
            "a\\..\\..\\x",
            "\"a\\0b\"",
            "x",
        ];
        let path = *rng.pick(&paths);
        fill(seeds, path, rng)
    };
    let number = |rng: &mut Rng| -> String {
        rng.pick(&[
            "0",
            "1",
            "-1",
            "4",
            "18446744073709551615",
            "18446744073709551616",
            "1e308",
            "1.5",
            "null",
            "'8'",
        ])
        .to_string()
    };
    let digest = |rng: &mut Rng| -> String {
        if rng.one_in(4) {
            let bad = *rng.pick(&[
                "ab/../../x",
                "{SECRET}",
                "''",
                "[]",
                "{DIGEST}x",
                "{DIGEST}",
            ]);
            fill(seeds, bad, rng)
        } else {
            rng.pick(&seeds.digests).clone()
        }
    };
    let value = |rng: &mut Rng| -> String {
        String::from_utf8_lossy(&fragment(seeds, Syntax::Yaml, rng)).into_owned()
    };
    let outs = |rng: &mut Rng, list_indent: &str| -> String {
        let mut text = String::new();
        for _ in 0..1 + rng.below(3) {
            text.push_str(&format!(
                "{list_indent}- path: {}\n{list_indent}  digest: {}\n{list_indent}  size: {}\n",
                path(rng),
                digest(rng),
                number(rng)
            ));
            if rng.one_in(2) {
                text.push_str(&format!("{list_indent}  nfiles: {}\n", number(rng)));
            }
        }
        text
    };
    let text = match kind {
        Kind::Pointer | Kind::RunEntry => format!("outs:\n{}", outs(rng, "")),
        Kind::DvcFile => {
            let md5 = |rng: &mut Rng| -> String {
                let md5 = *rng.pick(&[
                    "b202f333fba4fd38d4b8e5e693077aab",
                    "e5ebd4c02cefbe7955977c67ada242b7",
                    "00000000000000000000000000000000.dir",
                    "../../x",
                    "{SECRET}",
                    "''",
                    "[]",
                    "{DIGEST}",
                ]);
                fill(seeds, md5, rng)
            };
            let mut text = String::new();
            if rng.one_in(4) {
                text.push_str(&format!("wdir: {}\n", path(rng)));
            }
            text.push_str("outs:\n");
            for _ in 0..1 + rng.below(3) {
                text.push_str(&format!("- path: {}\n  md5: {}\n", path(rng), md5(rng)));
                if rng.one_in(2) {
                    text.push_str("  hash: md5\n");
                }
                if rng.one_in(2) {
                    text.push_str(&format!("  size: {}\n", number(rng)));
                }
                if rng.one_in(3) {
                    text.push_str(&format!("  nfiles: {}\n", number(rng)));
                }
                if rng.one_in(4) {
                    text.push_str(&format!(
                        "  files:\n  - relpath: {}\n    md5: {}\n",
                        path(rng),
                        md5(rng)
                    ));
                }
            }
            text
        }
        Kind::Lock => {
            let name = rng
                .pick(&["prep", "train@small", "a@b", "''", "../x", "sub", "x y"])
                .to_string();
            let mut text = format!(
                "schema: cairn-lock/1\nstages:\n  {name}:\n    cmd: {}\n",
                value(rng)
            );
            if rng.one_in(2) {
                text.push_str(&format!("    deps:\n{}", outs(rng, "    ")));
            }
            if rng.one_in(3) {
                text.push_str(&format!(
                    "    params:\n      {}:\n        {}: {}\n",
                    path(rng),
                    value(rng),
                    value(rng)
                ));
            }
            if rng.one_in(8) {
                text.push_str("    params:\n      params.yaml:\n        bomb:\n");
                for line in alias_bomb(rng).lines() {
                    text.push_str(&format!("          {line}\n"));
                }
            }
            text.push_str(&format!("    outs:\n{}", outs(rng, "    ")));
            text
        }
        Kind::Pipeline => {
            let mut text = String::from("stages:\n  s:\n");
            match rng.below(7) {
                6 => {
                    let n = if rng.explosive {
                        20_000
                    } else {
                        *rng.pick(&[500usize, 1000])
                    };
                    let items: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
                    text.push_str(&format!(
                        "    foreach: [{}]\n    do:\n      cmd: echo ${{item}}\n      outs: ['o-${{item}}']\n",
                        items.join(", ")
                    ));
                }
                0 => {
                    for line in matrix_bomb(rng).lines() {
                        text.push_str(&format!("    {line}\n"));
                    }
                }
                1 => {
                    text = format!(
                        "vars:\n  - bomb:\n{}stages:\n  s:\n    foreach: ${{bomb.l2}}\n    do:\n      cmd: echo ${{item}}\n      outs: [o]\n",
                        alias_bomb(rng)
                            .lines()
                            .map(|l| format!("      {l}\n"))
                            .collect::<String>()
                    );
                }
                2 => {
                    text.push_str(&format!(
                        "    wdir: {}\n    cmd: echo hi\n    deps: [{}]\n    outs: [{}]\n",
                        path(rng),
                        path(rng),
                        path(rng)
                    ));
                }
                3 => {
                    text = format!(
                        "vars:\n  - {}\nstages:\n  s:\n    cmd: echo ${{{}}}\n    params: [{}]\n    outs: [o]\n",
                        path(rng),
                        value(rng),
                        value(rng)
                    );
                }
                4 => {
                    text.push_str(&format!(
                        "    foreach: {}\n    do:\n      cmd: echo ${{item}} ${{key}}\n      outs: ['o-${{key}}']\n",
                        value(rng)
                    ));
                }
                _ => {
                    text.push_str(&format!(
                        "    cmd: echo\n    outs:\n      - {}:\n          cache: {}\n          persist: {}\n    metrics: [{}]\n    plots: [{}]\n",
                        path(rng),
                        value(rng),
                        value(rng),
                        path(rng),
                        path(rng)
                    ));
                }
            }
            text
        }
        Kind::Params => match rng.below(16) {
            0 => alias_bomb(rng).replace("l0:", "models:"),
            1 | 2 => {
                let n = *rng.pick(&[100usize, 1000]);
                let models: String = (0..n)
                    .map(|i| format!("  m{i}: {{depth: {i}}}\n"))
                    .collect();
                format!("train: {{seed: 1, lr: 0.1}}\nlrs: [1]\nmodels:\n{models}")
            }
            3 | 4 => {
                let n = *rng.pick(&[100usize, 500]);
                let lrs: Vec<String> = (0..n).map(|i| i.to_string()).collect();
                format!(
                    "train: {{seed: 1, lr: 0.1}}\nmodels: {{a: {{depth: 1}}}}\nlrs: [{}]\n",
                    lrs.join(", ")
                )
            }
            _ => format!(
                "train: {{seed: {}, lr: {}}}\nmodels: {{{}: {{depth: {}, flags: {}}}}}\nlrs: {}\n",
                value(rng),
                value(rng),
                value(rng),
                value(rng),
                value(rng),
                value(rng)
            ),
        },
        Kind::Manifest => {
            let mut entries = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let p = path(rng);
                let p = serde_json::to_string(&p).unwrap_or_default();
                entries.push(format!(
                    "{{\"path\":{p},\"digest\":\"{}\",\"size\":{}}}",
                    digest(rng),
                    number(rng)
                ));
            }
            format!("[{}]", entries.join(","))
        }
        Kind::PackIndex => {
            let mut text = String::from("cairn-pack v1\n");
            let mut offset = 0u64;
            for _ in 0..1 + rng.below(6) {
                let len = *rng.pick(&[0u64, 1, 5, 1000, 1_048_575]);
                text.push_str(&format!("{} {offset} {len}\n", rng.pick(&seeds.digests)));
                if !rng.one_in(8) {
                    offset += len;
                }
            }
            text
        }
    };
    text.into_bytes()
}
