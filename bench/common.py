"""Shared helpers for cairn's side-by-side benchmarks: timing, peak memory, tables."""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd, cwd, env=None, check=True, quiet=True):
    """Runs cmd (a list) in cwd; returns (wall seconds, peak RSS in MiB of the process and the
    children it waited for), measured with wait4 so no wrapper process adds to either."""
    out = subprocess.DEVNULL if quiet else None
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err if quiet else None)
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        if check and p.returncode != 0:
            err.seek(0)
            sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)} in {cwd}\n{err.read().decode(errors='replace')}")
    return seconds, usage.ru_maxrss / 1024


def free_port():
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, seconds=10):
    """Waits until something accepts on the loopback `port`; False when `process` (a Popen)
    exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if process.poll() is not None:
                return False
            time.sleep(0.01)
    return False


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


def cairn_logistic_model(scaler, logistic, features, classes, data_digest, accuracy):
    """A fitted scikit-learn StandardScaler and LogisticRegression (max_iter=1000) as a cairn
    model file's contents, so a benchmark's servers answer with the very same model."""
    return {
        "format": "cairn-model",
        "format_version": 1,
        "task": "classification",
        "algorithm": "logistic",
        "hyperparameters": {"max_iter": 1000},
        "seed": 0,
        "features": list(features),
        "target": "species",
        "classes": list(classes),
        "scaler": {"kind": "standard", "mean": scaler.mean_.tolist(), "std": scaler.scale_.tolist()},
        "data_digest": data_digest,
        "training_metrics": {"accuracy": accuracy},
        "predictor": {"kind": "linear", "weights": logistic.coef_.tolist(), "intercepts": logistic.intercept_.tolist()},
    }
