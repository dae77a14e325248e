"""cairn vs DVC on the same pipelines: no-op status/repro of three stages; cold repro, no-op
status and status-after-one-change over a dependency of many files; peak memory.

Usage: bench.py CAIRN DVC [--files N] [--total-mib M] [--runs R]
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import median_of, run, table  # noqa: E402

THREE_STAGES = {
    "prep": ("sort data/in.txt > prep.txt", ["data/in.txt"], "prep.txt"),
    "train": ("wc -l prep.txt > model.txt", ["prep.txt"], "model.txt"),
    "evaluate": ("cat model.txt prep.txt | wc -c > metrics.txt", ["model.txt", "prep.txt"], "metrics.txt"),
}


def pipeline_yaml(stages):
    lines = ["stages:"]
    for name, (cmd, deps, out) in stages.items():
        lines += [f"  {name}:", f"    cmd: {cmd}", "    deps:"]
        lines += [f"      - {d}" for d in deps]
        lines += ["    outs:", f"      - {out}"]
    return "\n".join(lines) + "\n"


def make_repo(root, tool, stages, data_setup):
    os.makedirs(root)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    data_setup(root)
    text = pipeline_yaml(stages)
    if tool == "dvc":
        subprocess.run([DVC, "init", "-q"], cwd=root, check=True)
        # Keep DVC's state database inside the repo so "cold" runs can drop it.
        subprocess.run([DVC, "config", "core.site_cache_dir", os.path.join(root, ".dvc", "site")], cwd=root, check=True)
        subprocess.run([DVC, "config", "core.analytics", "false"], cwd=root, check=True)
        with open(os.path.join(root, "dvc.yaml"), "w") as f:
            f.write(text)
    else:
        subprocess.run([CAIRN, "init"], cwd=root, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(root, "pipeline.yaml"), "w") as f:
            f.write(text)


def small_data(root):
    os.makedirs(os.path.join(root, "data"))
    rng = random.Random(1)
    with open(os.path.join(root, "data", "in.txt"), "w") as f:
        f.writelines(f"{rng.random()}\n" for _ in range(1000))


def many_files(n, total_mib):
    size = total_mib * 1024 * 1024 // n

    def setup(root):
        d = os.path.join(root, "data", "files")
        os.makedirs(d)
        rng = random.Random(7)
        for i in range(n):
            with open(os.path.join(d, f"{i:05d}.bin"), "wb") as f:
                f.write(rng.randbytes(size))

    return setup


def cmd(tool, *args):
    return [CAIRN if tool == "cairn" else DVC, *args]


def main():
    global CAIRN, DVC
    ap = argparse.ArgumentParser()
    ap.add_argument("cairn")
    ap.add_argument("dvc")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--total-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    CAIRN, DVC = os.path.abspath(a.cairn), os.path.abspath(a.dvc)
    work = tempfile.mkdtemp(prefix="cairn-bench-pipeline-")
    rows = []
    try:
        # (1) three small stages: no-op status and repro.
        for tool in ("cairn", "dvc"):
            root = os.path.join(work, f"small-{tool}")
            make_repo(root, tool, THREE_STAGES, small_data)
            run(cmd(tool, "repro"), root)
        for case, args in (("no-op status, 3 stages", ["status"]), ("no-op repro, 3 stages", ["repro"])):
            res = {t: median_of(a.runs, lambda t=t: run(cmd(t, *args), os.path.join(work, f"small-{t}"))) for t in ("cairn", "dvc")}
            rows.append((case, res["cairn"], res["dvc"]))

        # (2)-(4) one stage over N files.
        big = {"count": ("ls data/files | wc -l > count.txt", ["data/files"], "count.txt")}
        setup = many_files(a.files, a.total_mib)
        print(f"writing {a.files} files, {a.total_mib} MiB, twice ...", file=sys.stderr)
        for tool in ("cairn", "dvc"):
            make_repo(os.path.join(work, f"big-{tool}"), tool, big, setup)

        def cold(tool):
            root = os.path.join(work, f"big-{tool}")
            for p in (".cairn/state", "pipeline.lock", ".dvc/site", ".dvc/tmp", "dvc.lock", ".dvc/cache"):
                path = os.path.join(root, p)
                if os.path.isdir(path):
                    shutil.rmtree(path)
                elif os.path.exists(path):
                    os.remove(path)
            return run(cmd(tool, "repro"), root)

        cold_runs = max(1, a.runs // 2)
        res = {t: median_of(cold_runs, lambda t=t: cold(t)) for t in ("cairn", "dvc")}
        rows.append((f"cold repro over {a.files} files / {a.total_mib} MiB", res["cairn"], res["dvc"]))
        # Write back the cold repros' GiB of cache files (the kernel would otherwise be doing it
        # during the next measurements), let the files age past cairn's racy-mtime window, then
        # record the state once.
        import time
        subprocess.run(["sync"], check=True)
        time.sleep(2.5)
        for t in ("cairn", "dvc"):
            run(cmd(t, "status"), os.path.join(work, f"big-{t}"))
        res = {t: median_of(a.runs, lambda t=t: run(cmd(t, "status"), os.path.join(work, f"big-{t}"))) for t in ("cairn", "dvc")}
        rows.append((f"no-op status over {a.files} files", res["cairn"], res["dvc"]))

        def one_changed(tool):
            root = os.path.join(work, f"big-{tool}")
            with open(os.path.join(root, "data", "files", "00042.bin"), "ab") as f:
                f.write(b"x")
            return run(cmd(tool, "status"), root)

        res = {t: median_of(a.runs, lambda t=t: one_changed(t)) for t in ("cairn", "dvc")}
        rows.append(("status after one file changes", res["cairn"], res["dvc"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    table(rows, "dvc")


if __name__ == "__main__":
    main()
