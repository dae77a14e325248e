"""cairn vs DVC on experiments over the Iris reference pipeline of this repository: queueing 8
`-S` experiments, running them 2 at a time, and `exp show` over those 8; then `cairn exp show`
over 1,000 recorded experiments (no DVC number there: making 1,000 DVC experiments, each a
full queued run, takes too long).

Usage: bench.py CAIRN DVC [--runs R] [--keep]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import fmt_s, median_of, run  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FILES = ["pipeline.yaml", "params.yaml", "data/iris.csv", "crates/cairn-ml/src"]
KEY = "train.logistic.hyperparameters.alpha"
ALPHAS = [f"0.0{i}" for i in range(1, 9)]


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, stdout=subprocess.DEVNULL)


def make_repo(root, tool):
    os.makedirs(root)
    git(root, "init", "-q")
    git(root, "config", "user.email", "bench@example.com")
    git(root, "config", "user.name", "bench")
    for f in FILES:
        src, dst = os.path.join(REPO, f), os.path.join(root, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, dst)
    if tool == "dvc":
        os.rename(os.path.join(root, "pipeline.yaml"), os.path.join(root, "dvc.yaml"))
        subprocess.run([DVC, "init", "-q"], cwd=root, check=True, env=ENV)
        subprocess.run([DVC, "config", "core.analytics", "false"], cwd=root, check=True, env=ENV)
        subprocess.run([DVC, "config", "core.site_cache_dir", os.path.join(root, ".dvc", "site")],
                       cwd=root, check=True, env=ENV)
        exe, lock = DVC, "dvc.lock"
    else:
        subprocess.run([CAIRN, "init"], cwd=root, check=True, env=ENV, stdout=subprocess.DEVNULL)
        exe, lock = CAIRN, "pipeline.lock"
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pipeline")
    run([exe, "repro"], root, env=ENV)
    assert os.path.exists(os.path.join(root, lock)), f"no {lock} after repro in {root}"
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")


def queue_and_run(root, exe, run_all):
    """Queues one experiment per alpha, then runs them all; returns (queue s, run s)."""
    t0 = time.perf_counter()
    for a in ALPHAS:
        run([exe, "exp", "run", "--queue", "-S", f"{KEY}={a}"], root, env=ENV)
    t1 = time.perf_counter()
    run_all(root)
    return t1 - t0, time.perf_counter() - t1


def dvc_run_all(root):
    p = subprocess.run([DVC, "exp", "run", "--run-all", "-j", "2"], cwd=root, env=ENV,
                       capture_output=True, text=True, timeout=1800)
    if p.returncode == 0:
        return
    print(f"note: `dvc exp run --run-all -j 2` failed ({p.returncode}), using `dvc queue start -j 2`:\n"
          f"{p.stderr.strip()[-500:]}", file=sys.stderr)
    run([DVC, "queue", "start", "-j", "2"], root, env=ENV)
    while True:
        out = subprocess.run([DVC, "queue", "status"], cwd=root, env=ENV, capture_output=True,
                             text=True, check=True).stdout
        if not any(w in out for w in ("Queued", "Running")):
            return
        time.sleep(0.5)


def cairn_run_all(root):
    run([CAIRN, "exp", "run", "--run-all", "--jobs", "2"], root, env=ENV)


def show_json(root, exe):
    out = subprocess.run([exe, "exp", "show", "--json"], cwd=root, env=ENV, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def dvc_succeeded(root):
    """Names of the experiments `dvc exp show --json` lists with no error and no executor."""
    names = []
    for commit in show_json(root, DVC):
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs") or []:
                if not rev.get("error") and (rev.get("executor") or {}).get("state", "success") == "success":
                    names.append(rev.get("name") or rev.get("rev"))
    return names


def alphas_dvc(root):
    vals = []
    for commit in show_json(root, DVC):
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs") or []:
                p = rev["data"]["params"]["params.yaml"]["data"]
                vals.append(p["train"]["logistic"]["hyperparameters"]["alpha"])
    return sorted(vals)


def cairn_records(root):
    d = os.path.join(root, ".cairn", "exps", "v1")
    return [json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d)) if f.endswith(".json")]


def make_1000(root):
    """Copies one succeeded record to gen0000.json … gen0999.json (name = file stem)."""
    d = os.path.join(root, ".cairn", "exps", "v1")
    src = next(r for r in cairn_records(root) if r["status"] == "succeeded")
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    for i in range(1000):
        rec = dict(src, name=f"gen{i:04d}")
        with open(os.path.join(d, f"gen{i:04d}.json"), "w") as f:
            json.dump(rec, f, indent=2)


def print_table(rows):
    head = ("case", "cairn", "dvc", "dvc / cairn")
    cells = [head] + [
        (case, fmt_s(a), fmt_s(b) if b is not None else "—", f"{b / a:.1f}x" if b is not None else "—")
        for case, a, b in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for i, r in enumerate(cells):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main():
    global CAIRN, DVC, ENV
    ap = argparse.ArgumentParser()
    ap.add_argument("cairn")
    ap.add_argument("dvc")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir and print its path")
    args = ap.parse_args()
    CAIRN, DVC = os.path.abspath(args.cairn), os.path.abspath(args.dvc)
    # The stages run `cairn preprocess/train/...`: this cairn first on PATH, for both tools; DVC's
    # dir next, as DVC starts its queue workers as `dvc exp queue-worker` found on PATH.
    path = os.pathsep.join([os.path.dirname(CAIRN), os.path.dirname(DVC), os.environ["PATH"]])
    ENV = dict(os.environ, PATH=path,
               DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
    tmp = tempfile.mkdtemp(prefix="cairn-bench-exp-")
    try:
        c_root, d_root = os.path.join(tmp, "cairn"), os.path.join(tmp, "dvc")
        make_repo(c_root, "cairn")
        make_repo(d_root, "dvc")

        c_q, c_r = queue_and_run(c_root, CAIRN, cairn_run_all)
        d_q, d_r = queue_and_run(d_root, DVC, dvc_run_all)

        c_ok = [r["name"] for r in cairn_records(c_root) if r["status"] == "succeeded"]
        c_alphas = sorted(r["params"].get(KEY) for r in cairn_records(c_root))
        d_ok = dvc_succeeded(d_root)
        print(f"succeeded: cairn {len(c_ok)}/8 (alpha {c_alphas}), dvc {len(d_ok)}/8 (alpha {alphas_dvc(d_root)})")
        if len(c_ok) != 8 or len(d_ok) != 8:
            sys.exit(f"expected 8 succeeded experiments each; kept {tmp}" if not args.keep else "")

        rows = [
            ("queue 8 exps (-S alpha)", c_q, d_q),
            ("run-all, 2 jobs", c_r, d_r),
            ("queue + run 8 exps", c_q + c_r, d_q + d_r),
        ]
        show = ["exp", "show", "--json"]
        rows.append(("exp show --json, 8 exps", median_of(args.runs, lambda: run([CAIRN, *show], c_root, env=ENV))[0],
                     median_of(args.runs, lambda: run([DVC, *show], d_root, env=ENV))[0]))
        make_1000(c_root)
        n = len(cairn_records(c_root))
        rows.append((f"exp show --json, {n} exps", median_of(args.runs, lambda: run([CAIRN, *show], c_root, env=ENV))[0], None))
        rows.append((f"exp show (table), {n} exps",
                     median_of(args.runs, lambda: run([CAIRN, "exp", "show"], c_root, env=ENV))[0], None))
        print()
        print_table(rows)
        print()
        print(f"wall time, whole processes; exp show: median of {args.runs}. No DVC number for 1,000:"
              " creating 1,000 DVC experiments (each a queued run of the pipeline) takes too long.")
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
