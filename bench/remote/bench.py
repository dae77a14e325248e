"""cairn vs DVC: push, pull into a fresh clone, and no-op push of the same data, to a folder
remote and to s3s-fs on 127.0.0.1, with each remote's ceiling: `cp -r` of the same bytes for
the folder; for s3s-fs a bare parallel upload and download of the same bytes, no hashing, no
cache, both as one object per file (how DVC sends them) and as 4 MiB objects (how cairn packs
files under 1 MiB). Run through bench/remote/run.sh."""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import fmt_s, free_port, run, wait_for_port  # noqa: E402

KEY, SECRET = "cairnbench", "cairnbench-secret-key"


def generate(root: Path, files: int, total_mib: int, seed: int) -> Path:
    """`files` files of random bytes (sizes vary ±50 % around the mean), 100 per folder."""
    data = root / f"data-{files}-{total_mib}-{seed}"
    if (data / ".complete").exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    rng = random.Random(seed)
    mean = total_mib * 1024 * 1024 // files
    for i in range(files):
        path = data / "data" / f"d{i // 100:03d}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(mean // 2, mean * 3 // 2)))
    (data / ".complete").touch()
    return data


def sh(cmd, cwd, env=None):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))} in {cwd}\n{p.stdout}\n{p.stderr}")
    return p.stdout


# Deleting many files makes ext4's inode allocator slow for a while afterwards: it skips
# recently freed inodes one by one (`recently_deleted` in the kernel), which for a minute or
# more adds milliseconds to every file created and would time the deletions, not the tools.
# So nothing is deleted while timing: old trees are renamed into TRASH, which is emptied at the
# start (followed by a sync and a pause) and at the end.
TRASH = None


def discard(path: Path):
    if path.exists():
        path.rename(TRASH / f"{time.monotonic_ns()}-{path.name}")


def empty_trash(work: Path):
    global TRASH
    TRASH = work / "trash"
    if TRASH.exists():
        shutil.rmtree(TRASH)
        subprocess.run(["sync"], check=True)
        time.sleep(10)
    TRASH.mkdir()


# Touching this much memory just before a timed command makes the guest's free pages backed
# by the host again. This VM hands free memory back (virtio-balloon free page reporting), and
# the first write to a handed-back page costs the host a fault: writing a GiB of new file data
# then takes 1-2.5 s instead of 0.8 s, depending on what the balloon did last. Warm, the figures
# measure the tools rather than the balloon; `--cold` skips it.
WARM_GIB = 3


def timed(cmd, cwd, env, check=True):
    """`run`, after writing back what earlier commands left in the page cache (a command that
    writes a GiB right after another would otherwise be throttled for the other's writes) and,
    unless --cold, warming the guest's memory."""
    subprocess.run(["sync"], check=True)
    if WARM_GIB:
        subprocess.run([sys.executable, "-c", f"b = bytearray({WARM_GIB} << 30); "
                        f"b[::4096] = b'\\1' * len(range(0, {WARM_GIB} << 30, 4096))"], check=True)
    return run(cmd, cwd, env, check=check)


def fresh(path: Path) -> Path:
    discard(path)
    path.mkdir(parents=True)
    return path


class Tool:
    """One tool's workspace and how to clone it (its committed files only)."""

    def __init__(self, name, exe, work: Path, data: Path, env):
        self.name, self.exe, self.env = name, str(exe), env
        self.ws = fresh(work / f"{name}-ws")
        if name == "cairn":
            sh([self.exe, "init"], self.ws, env)
        else:
            sh([self.exe, "init", "--no-scm", "-q"], self.ws, env)
            sh([self.exe, "config", "core.autostage", "false"], self.ws, env)
        sh(["cp", "-al", str(data / "data"), str(self.ws / "data")], self.ws)
        self.add = run([self.exe, "add", "data"], self.ws, env)

    def set_remote(self, url, endpoint=None):
        if self.name == "cairn":
            sh(["sh", "-c", "rm -f .cairn/config.yaml"], self.ws)
            sh([self.exe, "remote", "add", "r", url, "--default"], self.ws, self.env)
            if endpoint:
                sh([self.exe, "remote", "modify", "r", "endpoint_url", endpoint], self.ws, self.env)
        else:
            sh([self.exe, "remote", "add", "-f", "-d", "r", url], self.ws, self.env)
            if endpoint:
                sh([self.exe, "remote", "modify", "r", "endpointurl", endpoint], self.ws, self.env)

    def clone(self, dest: Path) -> Path:
        fresh(dest)
        if self.name == "cairn":
            (dest / ".cairn").mkdir()
            shutil.copy(self.ws / ".cairn/config.yaml", dest / ".cairn/config.yaml")
            shutil.copy(self.ws / "data.cairn", dest / "data.cairn")
        else:
            (dest / ".dvc").mkdir()
            shutil.copy(self.ws / ".dvc/config", dest / ".dvc/config")
            shutil.copy(self.ws / "data.dvc", dest / "data.dvc")
        return dest

    def time(self, args, cwd=None, check=True):
        return timed([self.exe, *args], cwd or self.ws, self.env, check=check)


def same_tree(a: Path, b: Path):
    return subprocess.run(["diff", "-rq", str(a), str(b)], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser()
    for a in ("--cairn", "--dvc", "--s3s", "--ceiling", "--work"):
        ap.add_argument(a, required=True)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--total-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-s3", action="store_true")
    ap.add_argument("--skip-folder", action="store_true")
    ap.add_argument("--ceiling-jobs", default="64", help="requests in flight for the ceiling")
    ap.add_argument("--cold", action="store_true", help="do not warm the guest's memory before each timed command")
    args = ap.parse_args()
    global WARM_GIB
    if args.cold:
        WARM_GIB = 0
    args.ceiling, args.s3s = (str(Path(p).resolve()) for p in (args.ceiling, args.s3s))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    empty_trash(work)
    env = dict(os.environ, DVC_NO_ANALYTICS="1", AWS_ACCESS_KEY_ID=KEY,
               AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_ENDPOINT_URL", None)

    print(f"data: {args.files} files, {args.total_mib} MiB, seed {args.seed}; {args.runs} runs, medians")
    data = generate(work, args.files, args.total_mib, args.seed)
    cairn = Tool("cairn", Path(args.cairn).resolve(), work, data, env)
    dvc = Tool("dvc", Path(args.dvc).resolve(), work, data, env)
    results = {}  # case -> tool -> [(seconds, rss)]

    def record(case, tool, measured):
        results.setdefault(case, {}).setdefault(tool, []).append(measured)
        took = f"{measured[0]:.2f} s, {measured[1]:.0f} MiB" if measured else "failed"
        print(f"  {case}, {tool}: {took}", flush=True)

    record("add (not a remote op)", "cairn", cairn.add)
    record("add (not a remote op)", "dvc", dvc.add)

    def transfer_round(kind, url_of, endpoint=None, i=0):
        for tool in (cairn, dvc):
            tool.set_remote(url_of(tool.name, i), endpoint)
            record(f"{kind}: push", tool.name, tool.time(["push"]))
            record(f"{kind}: no-op push", tool.name, tool.time(["push"]))
            clone = tool.clone(work / f"{tool.name}-clone-{kind}-{i}")
            pulled = tool.time(["pull"], clone, check=False)
            # A pull that fails or leaves different bytes is shown as failed, not timed.
            ok = same_tree(data / "data", clone / "data")
            if not ok and tool is cairn:
                sys.exit(f"cairn pull into {clone} did not reproduce the data")
            record(f"{kind}: pull (fresh clone)", tool.name, pulled if ok else None)
            discard(clone)

    for i in range(0 if args.skip_folder else args.runs):
        remotes = work / "folder-remotes"
        transfer_round("folder", lambda name, i: str(fresh(remotes / f"{name}-{i}")), i=i)
        # The folder's ceiling: `cp -r` of the same bytes. A push writes them once; a pull
        # twice (into the cache, then into the workspace), whichever tool does it.
        floor = fresh(work / f"cp-floor-{i}")
        record("folder: push", "ceiling", timed(["cp", "-r", str(data / "data"), str(floor / "once")], work, env))
        a = timed(["cp", "-r", str(floor / "once"), str(floor / "twice")], work, env)
        b = timed(["cp", "-r", str(floor / "twice"), str(floor / "thrice")], work, env)
        record("folder: pull (fresh clone)", "ceiling", (a[0] + b[0], max(a[1], b[1])))
        discard(floor)
        discard(remotes)

    if not args.skip_s3:
        empty_trash(work)  # the folder rounds' trees: tens of GiB
        root = fresh(work / "s3s-root")
        (root / "bench").mkdir()
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [args.s3s, "--host", "127.0.0.1", "--port", str(port), "--access-key", KEY,
             "--secret-key", SECRET, str(root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not wait_for_port(port, server):
                sys.exit(f"{args.s3s} did not start on port {port}")
            for i in range(args.runs):
                transfer_round("s3s-fs", lambda name, i: f"s3://bench/{name}-{i}", endpoint, i)
                # Two ceilings: the same bytes as one object per file (how DVC sends them) and
                # as 4 MiB objects (how cairn packs files under 1 MiB), 16 in flight as cairn.
                for tool, prefix, extra in (("ceiling-files", f"ceiling-{i}", [args.ceiling_jobs]),
                                            ("ceiling", f"ceiling-packed-{i}", ["16", "4"])):
                    up = timed([args.ceiling, "up", endpoint, "bench", prefix, str(data / "data"), *extra], work, env)
                    down_dir = fresh(work / "ceiling-down")
                    down = timed([args.ceiling, "down", endpoint, "bench", prefix, str(down_dir), *extra[:1]], work, env)
                    record("s3s-fs: push", tool, up)
                    record("s3s-fs: pull (fresh clone)", tool, down)
                    discard(down_dir)
        finally:
            server.terminate()
            server.wait()

    head = ("case", "cairn", "dvc", "dvc / cairn*", "ceiling (server, cp -r)", "ceiling / cairn*",
            "ceiling, 1 object/file", "peak MiB cairn", "peak MiB dvc")
    rows = [head]
    for case, by_tool in results.items():
        med = {t: None if None in v else statistics.median(s for s, _ in v) for t, v in by_tool.items()}
        rss = {t: max((m[1] for m in v if m), default=0) for t, v in by_tool.items()}
        ceiling = med.get("ceiling")
        per_file = med.get("ceiling-files")
        dvc_s = med["dvc"]
        # Ratios are taken within each round, then the median of those: the tools of one round
        # ran minutes apart, on a machine whose speed drifts over a whole run.
        def ratio(tool):
            pairs = [(o[0], c[0]) for o, c in zip(by_tool.get(tool, []), by_tool["cairn"]) if o and c]
            return statistics.median(o / c for o, c in pairs) if pairs else None
        rows.append((case, fmt_s(med["cairn"]), fmt_s(dvc_s) if dvc_s else "failed",
                     f"{ratio('dvc'):.1f}x" if dvc_s else "",
                     fmt_s(ceiling) if ceiling else "", f"{ratio('ceiling'):.0%}" if ceiling else "",
                     fmt_s(per_file) if per_file else "",
                     f"{rss['cairn']:.0f}", f"{rss['dvc']:.0f}" if dvc_s else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for n, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("* the median of each round's own ratio")
    shutil.rmtree(TRASH, ignore_errors=True)


if __name__ == "__main__":
    main()
