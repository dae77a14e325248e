//! The binary layer: each generated file written into a workspace inside the sandbox folder
//! (reset from a template before each case), then the commands that read it, each killed after
//! [`COMMAND_LIMIT`]. Every command must end with 0, 1 or 2 without a panic, stay under
//! [`RSS_LIMIT_KIB`], never show the file outside; after each case the folder outside must be
//! byte-identical and nothing may have appeared beside the workspace.
//!
//! Generated commands are never run: `repro` runs only for run-cache entries, under the seed
//! pipeline, whose commands only write inside the workspace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::generate::{Kind, Seeds, case, explosive_shape};
use super::{
    Failure, Lab, Ran, SEED_DATA, base_seed, cases_per_parser, copy_dir, remove, run_bounded,
};

/// A command taking longer than this hangs (they take tens of milliseconds).
const COMMAND_LIMIT: Duration = Duration::from_secs(5);
/// A command using more than this explodes (they use tens of MiB; the inputs are at most a
/// few MiB).
const RSS_LIMIT_KIB: i64 = 256 << 10;
/// Inputs per batch: pack indexes or run-cache entries put on one remote, read by one command.
const BATCH: usize = 100;
/// Explosive inputs per parser (see [`case`]): the last cases.
const EXPLOSIVE: usize = 3;
/// Keeps the binary layer's cases apart from the in-process layer's.
const LAYER_SEED: u64 = 0xb1_0000_0000;

/// The workspace outputs of the seed pipeline and the paths `cairn add` tracks.
const OUTPUTS: &[&str] = &[
    "prepared",
    "model-small.txt",
    "model-big.txt",
    "grid-0.1-sgd.txt",
    "grid-0.1-adam.txt",
    "grid-1-sgd.txt",
    "grid-1-adam.txt",
    "sub/copy.txt",
    "data.csv",
    "sub/tracked",
];

/// Template workspaces and remotes, copied into `ws` and `remote` for each case.
struct Templates {
    /// The seed workspace without its outputs (they are in its cache), default remote `remote`.
    checkout: PathBuf,
    /// The same with an empty cache and run-cache.
    fresh: PathBuf,
    /// The seed workspace's push: loose objects and run-cache entries.
    loose: PathBuf,
    /// Every object of the seed cache in one pack.
    pack: Vec<u8>,
    /// The run-cache key of stage `prep` (whose out is a folder).
    prep_key: String,
}

struct Bench<'a> {
    lab: &'a Lab,
    seeds: Seeds,
    templates: Templates,
    ws: PathBuf,
    remote: PathBuf,
    before: Snapshot,
    commands: usize,
    /// The kind of the input being read, and per kind how many commands exited 0, 1 and 2.
    kind: Kind,
    codes: BTreeMap<Kind, [usize; 3]>,
    /// Exit codes of the commands run since the last [`Bench::control`] step.
    exits: Vec<Option<i32>>,
    failures: Vec<Failure>,
}

pub fn run() {
    let started = Instant::now();
    let lab = Lab::new();
    let sandbox = lab.sandbox();
    let seed = sandbox.join("seed");
    let (seeds, (_, pack)) = super::build_seed_workspace(&lab, &seed, &sandbox.join("seed-remote"));
    let templates = Templates::new(&lab, &seed, pack);
    let before = Snapshot::take(&lab);
    let mut bench = Bench {
        lab: &lab,
        seeds,
        templates,
        ws: sandbox.join("ws"),
        remote: sandbox.join("remote"),
        before,
        commands: 0,
        kind: Kind::Pipeline,
        codes: BTreeMap::new(),
        exits: Vec::new(),
        failures: Vec::new(),
    };
    bench.control();
    let per_kind = (cases_per_parser() / 50).max(4);
    let mut exploded = std::collections::HashSet::new();
    let mut inputs: BTreeMap<Kind, usize> = BTreeMap::new();
    for kind in Kind::ALL {
        for n in 0..per_kind {
            // The last cases are explosive; while a parser explodes, once per shape is enough.
            let explosive = n + EXPLOSIVE >= per_kind;
            let shape = (kind, explosive_shape(kind, n));
            if explosive && exploded.contains(&shape) {
                continue;
            }
            let input = case(&bench.seeds, kind, base_seed() ^ LAYER_SEED, n, explosive);
            let problems = bench.one(kind, n, &input);
            if explosive && !problems.is_empty() {
                exploded.insert(shape);
            }
            bench.record(kind, n.to_string(), input, problems);
            *inputs.entry(kind).or_default() += 1;
        }
    }
    // Batches: many pack indexes or run-cache entries on one remote, read by one command.
    for (kind, batches) in [(Kind::PackIndex, 2), (Kind::RunEntry, 2)] {
        for b in 0..batches {
            let first = per_kind + b * BATCH;
            let batch: Vec<(usize, Vec<u8>)> = (first..first + BATCH)
                .map(|n| {
                    (
                        n,
                        case(&bench.seeds, kind, base_seed() ^ LAYER_SEED, n, false),
                    )
                })
                .collect();
            bench.batch(kind, &batch);
            *inputs.entry(kind).or_default() += batch.len();
        }
    }
    let total: usize = inputs.values().sum();
    let per: Vec<String> = inputs
        .iter()
        .map(|(k, n)| {
            let [ok, failed, refused] = bench.codes.get(k).copied().unwrap_or_default();
            format!(
                "{} {n}: commands exited 0/1/2 {ok}/{failed}/{refused}",
                k.name()
            )
        })
        .collect();
    eprintln!(
        "fuzz: binary layer: {total} inputs ({}), {} commands, in {:.1?}",
        per.join(", "),
        bench.commands,
        started.elapsed()
    );
    super::report("binary", &bench.failures);
}

impl Templates {
    fn new(lab: &Lab, seed: &Path, pack: Vec<u8>) -> Templates {
        let sandbox = lab.sandbox();
        let remote = sandbox.join("remote").display().to_string();
        lab.setup(seed, &["remote", "add", "case", &remote, "--default"]);
        let checkout = sandbox.join("tpl-checkout");
        copy_dir(seed, &checkout);
        for out in OUTPUTS {
            remove(&checkout.join(out));
        }
        let fresh = sandbox.join("tpl-fresh");
        copy_dir(&checkout, &fresh);
        for dir in [".cairn/cache", ".cairn/runs"] {
            remove(&fresh.join(dir));
            std::fs::create_dir_all(fresh.join(dir)).expect("mkdir");
        }
        remove(&fresh.join(".cairn/state"));
        let loose = sandbox.join("tpl-remote");
        copy_dir(&sandbox.join("seed-remote"), &loose);
        let prep_key = super::walk_files(&seed.join(".cairn/runs/v1"))
            .into_iter()
            .find(|(_, path)| {
                std::fs::read_to_string(path).is_ok_and(|t| t.contains("path: prepared\n"))
            })
            .map(|(rel, _)| rel)
            .expect("prep's run-cache entry");
        Templates {
            checkout,
            fresh,
            loose,
            pack,
            prep_key,
        }
    }
}

impl Bench<'_> {
    /// Resets the workspace from `template` and the remote to empty (or a copy of `remote`).
    fn reset(&self, template: &Path, remote: Option<&Path>) {
        remove(&self.ws);
        copy_dir(template, &self.ws);
        remove(&self.remote);
        match remote {
            Some(from) => copy_dir(from, &self.remote),
            None => std::fs::create_dir_all(&self.remote).expect("mkdir"),
        }
    }

    fn write(&self, root: &Path, rel: &str, bytes: &[u8]) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write input");
    }

    /// Runs `cairn ARGS` in the workspace; the problem with how it ended, if any.
    fn cairn(&mut self, args: &[&str]) -> Option<String> {
        self.commands += 1;
        let ran: Ran = run_bounded(
            self.lab.command(&self.ws, args),
            COMMAND_LIMIT,
            &self.lab.sandbox().join("out"),
            Some(RSS_LIMIT_KIB),
            || 0,
        );
        self.exits.push(ran.code);
        if let Some(code @ 0..=2) = ran.code {
            self.codes.entry(self.kind).or_default()[code as usize] += 1;
        }
        ran.problem(RSS_LIMIT_KIB)
            .map(|p| format!("`cairn {}` {p}", args.join(" ")))
    }

    /// Runs each command until one has a problem, then checks the sandbox; every problem found.
    fn commands(&mut self, commands: &[&[&str]]) -> Vec<String> {
        let mut problems: Vec<String> = commands
            .iter()
            .find_map(|args| self.cairn(args))
            .into_iter()
            .collect();
        problems.extend(self.before.differences(self.lab));
        problems
    }

    /// One input through the commands that read it; every problem found.
    fn one(&mut self, kind: Kind, n: usize, input: &[u8]) -> Vec<String> {
        self.kind = kind;
        let t = &self.templates;
        let (checkout, fresh, loose) = (t.checkout.clone(), t.fresh.clone(), t.loose.clone());
        match kind {
            Kind::Pipeline | Kind::Params | Kind::Lock | Kind::Pointer => {
                self.reset(&checkout, None);
                let rel = match kind {
                    Kind::Pipeline => "pipeline.yaml",
                    Kind::Params => "params.yaml",
                    Kind::Lock => "pipeline.lock",
                    _ if n.is_multiple_of(2) => "data.csv.cairn",
                    _ => "sub/tracked.cairn",
                };
                self.write(&self.ws, rel, input);
                let mut commands: Vec<&[&str]> = vec![&["status"], &["checkout"]];
                if matches!(kind, Kind::Pipeline | Kind::Params) {
                    commands.push(&["dag"]);
                }
                self.commands(&commands)
            }
            Kind::Manifest => {
                // A pointer to a folder whose listing is the input: in the local cache, or on
                // the remote for `pull` to fetch.
                let digest = cairn_core::digest::Digest::of_bytes(input).to_string();
                let object = format!("v1/{}/{}", &digest[..2], &digest[2..]);
                let pointer =
                    format!("outs:\n- path: tracked\n  digest: {digest}\n  size: 4\n  nfiles: 2\n");
                if n.is_multiple_of(2) {
                    self.reset(&checkout, None);
                    self.write(&self.ws, &format!(".cairn/cache/{object}"), input);
                    self.write(&self.ws, "sub/tracked.cairn", pointer.as_bytes());
                    self.commands(&[&["checkout"], &["status"]])
                } else {
                    self.reset(&fresh, Some(&loose));
                    self.write(&self.remote, &object, input);
                    self.write(&self.ws, "sub/tracked.cairn", pointer.as_bytes());
                    self.commands(&[&["pull"], &["status"]])
                }
            }
            Kind::PackIndex => {
                self.reset(&fresh, None);
                self.put_pack(input);
                self.commands(&[&["pull"], &["status"]])
            }
            Kind::DvcFile => {
                // DVC's pointer to `sub/raw.csv`: status checks the data against it with MD5s,
                // add takes the path over.
                self.reset(&checkout, None);
                self.write(&self.ws, "sub/raw.csv.dvc", input);
                if n.is_multiple_of(2) {
                    self.commands(&[&["status"], &["status", "--json"]])
                } else {
                    self.commands(&[&["status"], &["add", "sub/raw.csv"]])
                }
            }
            Kind::RunEntry => {
                // Stage `prep` has not run here (no lock, no out); its run-cache entry is the
                // input, so `repro prep` restores what the entry says instead of running.
                self.reset(
                    &checkout,
                    if n.is_multiple_of(2) {
                        None
                    } else {
                        Some(&loose)
                    },
                );
                remove(&self.ws.join("pipeline.lock"));
                // Its dep, which `cairn add` tracks.
                self.write(&self.ws, "data.csv", SEED_DATA.as_bytes());
                remove(&self.ws.join(".cairn/runs"));
                std::fs::create_dir_all(self.ws.join(".cairn/runs/v1")).expect("mkdir");
                let key = self.templates.prep_key.clone();
                if n.is_multiple_of(2) {
                    self.write(&self.ws, &format!(".cairn/runs/v1/{key}"), input);
                    self.commands(&[&["repro", "prep"], &["status"]])
                } else {
                    self.write(&self.remote, &format!("runs/v1/{key}"), input);
                    self.commands(&[&["fetch", "--run-cache"], &["repro", "prep"]])
                }
            }
        }
    }

    /// Runs every scenario with the seed documents unchanged: each command must succeed, or
    /// the failures the fuzzing finds could be the scenario's own.
    fn control(&mut self) {
        for kind in Kind::ALL {
            for (i, doc) in self.seeds.docs(kind).to_vec().into_iter().enumerate() {
                // The repository's own pipeline and params do not go with the seed workspace.
                if matches!(kind, Kind::Pipeline | Kind::Params) && i > 0 {
                    continue;
                }
                for n in 0..2 {
                    self.exits.clear();
                    let problems = self.one(kind, n, &doc);
                    assert!(
                        problems.is_empty() && self.exits.iter().all(|c| *c == Some(0)),
                        "the {} scenario fails with seed document {i} unchanged ({n}): {problems:?}, exits {:?}\n{}",
                        kind.name(),
                        self.exits,
                        String::from_utf8_lossy(
                            &std::fs::read(self.lab.sandbox().join("out/stderr"))
                                .unwrap_or_default()
                        )
                    );
                }
            }
        }
        self.codes.clear();
        self.commands = 0;
    }

    /// Puts `index` on the remote as a pack index with the seed pack, named as a push names it
    /// (the digest of the index as cairn writes it), so that an index that parses is used.
    fn put_pack(&self, index: &[u8]) {
        let canonical = canonical_index(index);
        let named = canonical.as_ref().map_or(index, |c| c.as_bytes());
        let id = cairn_core::digest::Digest::of_bytes(named).to_string();
        self.write(&self.remote, &format!("packs/v1/{id}.idx"), index);
        self.write(
            &self.remote,
            &format!("packs/v1/{id}"),
            &self.templates.pack,
        );
    }

    /// Many inputs read by one command; on a problem, each input alone names the culprit.
    fn batch(&mut self, kind: Kind, batch: &[(usize, Vec<u8>)]) {
        self.kind = kind;
        let problems = self.run_batch(kind, batch);
        if problems.is_empty() {
            return;
        }
        let before = self.failures.len();
        for (n, input) in batch {
            let alone = self.run_batch(kind, std::slice::from_ref(&(*n, input.clone())));
            self.record(kind, n.to_string(), input.clone(), alone);
        }
        if self.failures.len() == before {
            let (first, last) = (batch[0].0, batch[batch.len() - 1].0);
            let all: Vec<u8> = batch.iter().flat_map(|(_, i)| i.iter().copied()).collect();
            self.record(kind, format!("{first}-{last}"), all, problems);
        }
    }

    fn run_batch(&mut self, kind: Kind, batch: &[(usize, Vec<u8>)]) -> Vec<String> {
        match kind {
            Kind::PackIndex => {
                self.reset(&self.templates.fresh.clone(), None);
                for (_, input) in batch {
                    self.put_pack(input);
                }
                self.commands(&[&["pull"]])
            }
            _ => {
                let fresh = self.templates.fresh.clone();
                let loose = self.templates.loose.clone();
                self.reset(&fresh, Some(&loose));
                for (_, input) in batch {
                    let key = cairn_core::digest::Digest::of_bytes(input).to_string();
                    self.write(&self.remote, &format!("runs/v1/{key}"), input);
                }
                self.commands(&[&["fetch", "--run-cache"]])
            }
        }
    }

    fn record(&mut self, kind: Kind, case: String, input: Vec<u8>, problems: Vec<String>) {
        if problems.is_empty() {
            return;
        }
        self.failures.push(Failure {
            layer: "binary",
            kind,
            case,
            what: problems.join("\n  "),
            input,
        });
        // What a case wrote outside must not be blamed on the next one.
        self.before.restore(self.lab);
    }
}

/// `index` as a push would have written it, if it has the shape of an index: the header, then
/// `DIGEST OFFSET LENGTH` lines with numbers written plainly, each ending with a newline.
fn canonical_index(index: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(index).ok()?;
    let mut lines = text.lines();
    let header = lines.next()?;
    let mut out = format!("{header}\n");
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        let [digest, offset, len] = fields[..] else {
            return None;
        };
        let (offset, len) = (offset.parse::<u64>().ok()?, len.parse::<u64>().ok()?);
        out.push_str(&format!("{digest} {offset} {len}\n"));
    }
    Some(out)
}

/// What must not change while cases run: the files outside the sandbox (and their bytes), the
/// names in the lab folder and beside the workspace, HOME and TMPDIR (empty).
struct Snapshot {
    outside: Vec<(String, Vec<u8>)>,
    root: Vec<String>,
    sandbox: Vec<String>,
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl Snapshot {
    fn take(lab: &Lab) -> Snapshot {
        let mut sandbox = names(&lab.sandbox());
        for name in ["ws", "remote"] {
            if !sandbox.iter().any(|n| n == name) {
                sandbox.push(name.to_string());
            }
        }
        sandbox.sort();
        Snapshot {
            outside: super::walk_files(&lab.outside())
                .into_iter()
                .map(|(rel, path)| (rel, std::fs::read(path).expect("read")))
                .collect(),
            root: names(lab.root()),
            sandbox,
        }
    }

    /// Every change, described.
    fn differences(&self, lab: &Lab) -> Vec<String> {
        let now = Snapshot::take(lab);
        let mut found = Vec::new();
        if now.outside != self.outside {
            let names: Vec<&String> = now.outside.iter().map(|(n, _)| n).collect();
            found.push(format!(
                "the folder outside the sandbox changed (it holds {names:?})"
            ));
        }
        if now.root != self.root {
            found.push(format!(
                "the lab folder holds {:?}, not {:?}",
                now.root, self.root
            ));
        }
        if now.sandbox != self.sandbox {
            found.push(format!(
                "beside the workspace: {:?}, not {:?}",
                now.sandbox, self.sandbox
            ));
        }
        for dir in ["home", "tmp"] {
            let left = names(&lab.sandbox().join(dir));
            if !left.is_empty() {
                found.push(format!("{dir} (HOME or TMPDIR) holds {left:?}"));
            }
        }
        found
    }

    /// Puts back what a case changed outside the workspace.
    fn restore(&self, lab: &Lab) {
        remove(&lab.outside());
        for (rel, bytes) in &self.outside {
            let path = lab.outside().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("restore");
        }
        std::fs::create_dir_all(lab.outside()).expect("mkdir");
        for (dir, keep) in [
            (lab.root().to_path_buf(), &self.root),
            (lab.sandbox(), &self.sandbox),
        ] {
            for name in names(&dir) {
                if !keep.contains(&name) {
                    remove(&dir.join(name));
                }
            }
        }
        for dir in ["home", "tmp"] {
            for name in names(&lab.sandbox().join(dir)) {
                remove(&lab.sandbox().join(dir).join(name));
            }
        }
    }
}
