"""cairn's model registry vs MLflow's, on one model with N versions (default 10,000): list all
versions, show one, resolve an alias, promote (move an alias). Run through bench/registry/run.sh,
with the venv's Python (it imports mlflow).

How each side is timed, and why:
- cairn: the whole process, `cairn models ...` as a user or a script runs it, start-up included
  (stdout to /dev/null).
- MLflow: in-process MlflowClient calls against a sqlite backend, after `import mlflow`, the
  client's creation and one warm-up call of each op, so neither the interpreter's start
  (`import mlflow` alone takes seconds) nor the sqlite engine's set-up is counted. That is
  generous to MLflow: a CLI or a fresh script would pay both on every call. Its list returns
  Python objects; cairn's prints them (JSON, or a table).
Both: one warm-up, then --runs runs of each op; the table shows medians.

The registry files are generated, not registered one by one (each `cairn models register`
hashes the model and rewrites the whole file, which for 10,000 versions is minutes spent on
set-up, not on what is measured): version 1 is registered through the CLI, so its bytes are in
the cache, and versions 2..N copy its line with fake digests (sha256 of the number), which
`models show` does not look at. MLflow's database is populated through its own client
(create_model_version in a loop) and cached under the cache folder, keyed by N.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import fmt_s, run  # noqa: E402

HERE = Path(__file__).resolve().parent
NAME = "iris"


def sh(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))} in {cwd}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def cairn_workspace(cairn, work: Path, n: int) -> Path:
    """A fresh workspace whose registry holds `iris` versions 1..n, production -> 1."""
    ws = work / f"cairn-{n}"
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir(parents=True)
    sh([cairn, "init"], ws)
    sh([sys.executable, HERE.parent / "serve" / "export_model.py", "model.json"], ws)
    sh([cairn, "models", "register", "model.json", "--name", NAME], ws)
    sh([cairn, "models", "promote", f"models:/{NAME}/1", "--alias", "production"], ws)
    # Take version 1's line and its history line as cairn wrote them, and repeat the version
    # line for 2..n: the generated file is in cairn's own canonical format.
    path = ws / "cairn-registry.yaml"
    lines = path.read_text().splitlines()
    v1 = next(line for line in lines if '"version": 1,' in line)
    indent, entry = v1[: v1.index("{")], json.loads(v1[v1.index("{"):])
    out = []
    for line in lines:
        out.append(line)
        if line == v1:
            for i in range(2, n + 1):
                entry.update(version=i, digest=hashlib.sha256(str(i).encode()).hexdigest())
                out.append(indent + json.dumps(entry))
    path.write_text("\n".join(out) + "\n")
    # The check that cairn reads it whole, before anything is timed.
    listed = json.loads(sh([cairn, "models", "list", NAME, "--json"], ws))
    versions = listed["versions"] if isinstance(listed, dict) else listed
    if len(versions) != n:
        sys.exit(f"cairn lists {len(versions)} versions, expected {n}")
    return ws


def mlflow_db(cache: Path, work: Path, n: int) -> Path:
    """A copy of a sqlite MLflow registry with `iris` versions 1..n, production -> 1; the
    populated original is cached by n (populating takes minutes)."""
    from mlflow import MlflowClient

    cached = cache / f"mlflow-{n}.db"
    if not cached.exists():
        print(f"   populating MLflow with {n} versions (once; cached as {cached})", flush=True)
        tmp = cached.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        uri = f"sqlite:///{tmp}"
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.create_registered_model(NAME)
        start = time.perf_counter()
        for i in range(1, n + 1):
            client.create_model_version(NAME, f"file:///models/{NAME}/{i}", run_id=None)
        print(f"   {n} create_model_version calls: {time.perf_counter() - start:.0f} s", flush=True)
        client.set_registered_model_alias(NAME, "production", 1)
        tmp.rename(cached)
    db = work / f"mlflow-{n}.db"
    shutil.copyfile(cached, db)
    return db


def time_cairn(cairn, args, ws, runs):
    """Median seconds of `cairn args(i)` for i in 1..runs, after a warm-up (i=0). (common.run's
    peak RSS is left out: the forked child counts this Python's pages until it execs.)"""
    run([cairn, *args(0)], ws)
    return statistics.median(run([cairn, *args(i)], ws)[0] for i in range(1, runs + 1))


def time_mlflow(fn, runs):
    """Median seconds of fn(i) for i in 1..runs, after a warm-up call fn(0)."""
    fn(0)
    times = []
    for i in range(1, runs + 1):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--cache", required=True, type=Path)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    a.cache.mkdir(parents=True, exist_ok=True)
    n, runs, cairn = a.n, a.runs, os.path.abspath(a.cairn)
    if n < runs + 3:
        sys.exit("--n must exceed --runs + 2 (promote moves the alias to a new version each run)")

    # cairn first, before mlflow is imported: a fork of this process with mlflow loaded (some
    # 200 MiB) would add its page-table copy to every cairn run's time.
    # Promote moves production to a version it is not at yet (n, n-1, ...) so that both sides
    # really write: cairn skips the write when the alias is already there. Resolve runs
    # before it, at version 1.
    mid = n // 2
    # list twice on cairn's side: --json (what a script reads) and the table (what a person
    # reads); MLflow's client has one call for both.
    labels = ["list (all versions) --json", "list (all versions) table", f"show (version {mid}) --json",
              "resolve (@production) --json", "promote (move alias)"]
    ws = cairn_workspace(cairn, a.work, n)
    cairn_ops = [
        lambda i: ["models", "list", NAME, "--json"],
        lambda i: ["models", "list", NAME],
        lambda i: ["models", "show", f"models:/{NAME}/{mid}", "--json"],
        lambda i: ["models", "show", f"models:/{NAME}@production", "--json"],
        lambda i: ["models", "promote", f"models:/{NAME}/{n - i}", "--alias", "production"],
    ]
    cairn_times = [time_cairn(cairn, args, ws, runs) for args in cairn_ops]
    floor = time_cairn(cairn, lambda i: ["--version"], ws, runs)

    db = mlflow_db(a.cache, a.work, n)
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def mlflow_list(_):
        versions, token = [], None
        while True:
            page = client.search_model_versions(f"name='{NAME}'", max_results=100_000, page_token=token)
            versions += page
            token = page.token
            if not token:
                return versions

    listed = len(mlflow_list(0))
    if listed != n:
        sys.exit(f"MLflow lists {listed} versions, expected {n}")
    mlflow_ops = [
        mlflow_list,
        mlflow_list,
        lambda i: client.get_model_version(NAME, str(mid)),
        lambda i: client.get_model_version_by_alias(NAME, "production"),
        lambda i: client.set_registered_model_alias(NAME, "production", str(n - i)),
    ]
    mlflow_times = [time_mlflow(fn, runs) for fn in mlflow_ops]
    rows = list(zip(labels, cairn_times, mlflow_times))

    print()
    print(f"registry with {n} versions of one model; medians of {runs} runs")
    print(f"cairn: whole process (`cairn models ...`); MLflow {mlflow.__version__}: in-process "
          f"MlflowClient on sqlite, import and warm-up excluded")
    head = ("op", "cairn", "mlflow", "mlflow / cairn")
    cells = [head] + [(label, fmt_s(c), fmt_s(m), f"{m / c:.1f}x") for label, c, m in rows]
    cells.append(("(cairn --version: process floor)", fmt_s(floor), "", ""))
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for i, r in enumerate(cells):
        print("  ".join(x.ljust(w) if j == 0 else x.rjust(w) for j, (x, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    slow = [label for label, c, _ in rows if c >= 0.050]
    print()
    print("target, each cairn op on", n, "versions well under 50 ms:",
          "met" if not slow else f"NOT met by {', '.join(slow)}")


if __name__ == "__main__":
    main()
