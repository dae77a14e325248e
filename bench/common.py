"""Shared helpers for cairn's side-by-side benchmarks: timing, peak memory, tables."""

import os
import resource
import statistics
import subprocess
import sys
import time


def run(cmd, cwd, env=None, check=True, quiet=True):
    """Runs cmd (a list) in cwd; returns (seconds, peak RSS in MiB of that process tree)."""
    wrapped = [sys.executable, "-c", _MEASURE, *cmd]
    start = time.perf_counter()
    p = subprocess.run(
        wrapped,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
    )
    seconds = time.perf_counter() - start
    if check and p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)} in {cwd}\n{p.stdout}\n{p.stderr}")
    rss = 0.0
    for line in (p.stderr or "").splitlines():
        if line.startswith("__peak_rss_kib__ "):
            rss = int(line.split()[1]) / 1024
    return seconds, rss


# Runs the command as a child and reports the child's peak RSS (children only, so the python
# wrapper itself does not count).
_MEASURE = r"""
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
print("__peak_rss_kib__", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(rc)
"""


def median_of(n, fn):
    """Calls fn() n times (fn returns (seconds, rss)); returns (median seconds, max rss)."""
    results = [fn() for _ in range(n)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def fmt_s(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def table(rows, anchor):
    """Prints an aligned table: case, cairn, anchor, ratio (anchor / cairn), memory."""
    head = ("case", "cairn", anchor, f"{anchor} / cairn", "peak MiB cairn", f"peak MiB {anchor}")
    cells = [head] + [
        (case, fmt_s(a), fmt_s(b), f"{b / a:.1f}x", f"{ma:.0f}", f"{mb:.0f}")
        for case, (a, ma), (b, mb) in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for i, r in enumerate(cells):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
