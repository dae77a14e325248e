"""`cairn drift` over a prediction log of ROWS predictions, and Evidently on the same data.

The current rows are drawn from the training split (whole rows, with replacement, so every
feature is distributed as in training) with petal_length moved by SHIFT. They go through
/predict/batch to a `cairn serve --log-db` (SQLite, then PostgreSQL), so the logs are the ones
cairn writes, and to current.csv for the file mode and for Evidently. Timed as whole processes
(median of RUNS): `cairn drift --model M --log-db DB --json` and `cairn drift --reference
train.csv --current current.csv --json`; Evidently's DataDriftPreset in its own venv, its
pandas load and its report apart. Run by run.sh.
"""

import argparse
import csv
import http.client
import json
import os
import random
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from common import fmt_s, free_port, median_of, run, wait_for_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 10_000  # cairn serve's default --max-batch


def current_rows(train, features, n, shift, shifted):
    """n rows drawn from the training rows with replacement; `shifted` moved by `shift`."""
    with open(train, newline="") as f:
        rows = [[float(r[c]) for c in features] for r in csv.DictReader(f)]
    rng = random.Random(15)
    k = features.index(shifted)
    out = []
    for r in rng.choices(rows, k=n):
        r = list(r)
        r[k] = round(r[k] + shift, 6)
        out.append(r)
    return rows, out


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def fill(cairn, model, db, bodies, work, name):
    """Serves `model` logging to `db`, posts every body to /predict/batch; returns (seconds
    to answer them all, seconds until the log had written them all)."""
    port = free_port()
    err = open(os.path.join(work, f"fill-{name}.err"), "w")
    server = subprocess.Popen([cairn, "serve", "--model", model, "--port", str(port), "--log-db", db,
                               "--require-log"], stdout=subprocess.DEVNULL, stderr=err)
    try:
        if not wait_for_port(port, server):
            sys.exit(f"cairn serve --log-db {db} did not start: see {err.name}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        t0 = time.perf_counter()
        for body in bodies:
            conn.request("POST", "/predict/batch", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                sys.exit(f"/predict/batch answered {r.status}")
        answered = time.perf_counter() - t0
        conn.close()
        while metric(port, "cairn_prediction_log_backlog") > 0:
            time.sleep(0.01)
        written = time.perf_counter() - t0
        dropped = metric(port, "cairn_prediction_log_dropped_total")
        if dropped:
            sys.exit(f"the log dropped {dropped:.0f} entries while filling {db}")
    finally:
        server.terminate()  # SIGTERM: the writer finishes before the server exits
        server.wait()
        err.close()
    return answered, written


def drift(cmd, cwd):
    """One run for the JSON (exit 0: no drift, 1: drift), then the median of RUNS."""
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    report = json.loads(p.stdout)
    seconds, rss = median_of(ARGS.runs, lambda: run(cmd, cwd, check=False))
    return report, seconds, rss


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--evidently-python", required=True)
    ap.add_argument("--postgres", help="postgres:// URL of an empty database for the drift log")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shift", type=float, default=1.0)
    ap.add_argument("--shifted", default="petal_length")
    ap.add_argument("--runs", type=int, default=5)
    ARGS = args = ap.parse_args()
    work = args.work
    features = json.load(open(args.model))["features"]

    print(f"== {args.rows:,} current rows: training rows drawn with replacement, {args.shifted} + {args.shift}")
    train_rows, rows = current_rows(args.train, features, args.rows, args.shift, args.shifted)
    current = os.path.join(work, "current.csv")
    with open(current, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(features)
        w.writerows(rows)
    bodies = [json.dumps({"instances": [dict(zip(features, r)) for r in rows[i:i + BATCH]]}).encode()
              for i in range(0, len(rows), BATCH)]
    print(f"   current.csv {os.path.getsize(current) / 2**20:.1f} MiB; {len(bodies)} bodies of up to {BATCH:,} rows")

    logs = [("SQLite", os.path.join(work, "drift.sqlite"))]
    if args.postgres:
        logs.append(("PostgreSQL", args.postgres))
    results = {}
    for name, db in logs:
        answered, written = fill(args.cairn, args.model, db, bodies, work, name)
        print(f"== {name} log filled through /predict/batch: answered in {fmt_s(answered)}, all written "
              f"after {fmt_s(written)} ({args.rows / written:,.0f} rows/s)")
        if name == "SQLite":
            n = sqlite3.connect(db).execute("SELECT count(*) FROM predictions").fetchone()[0]
            assert n == args.rows, f"{n} rows in {db}, {args.rows} sent"
        cmd = [args.cairn, "drift", "--model", args.model, "--log-db", db, "--json"]
        report, seconds, rss = drift(cmd, work)
        assert report["rows"] == args.rows, f"cairn drift read {report['rows']} rows of {name}, {args.rows} logged"
        results[name] = (report, seconds, rss)
        print(f"   cairn drift --log-db ({name}): {fmt_s(seconds)}, {rss:.0f} MiB, drifted {report['drifted']}")

    cmd = [args.cairn, "drift", "--reference", args.train, "--current", current, "--json"]
    file_report, file_s, file_rss = drift(cmd, work)
    print(f"   cairn drift --reference --current (CSV): {fmt_s(file_s)}, {file_rss:.0f} MiB, drifted {file_report['drifted']}")

    print(f"== Evidently DataDriftPreset on the same CSVs ({min(args.runs, 3)} runs)")
    env = dict(os.environ, ITERATIVE_DO_NOT_TRACK="1", DO_NOT_TRACK="1")
    p = subprocess.run([args.evidently_python, os.path.join(HERE, "evidently_drift.py"), args.train, current,
                        ",".join(features), "--runs", str(min(args.runs, 3))],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"evidently_drift.py failed ({p.returncode}):\n{p.stderr}")
    ev = json.loads(p.stdout.strip().splitlines()[-1])
    assert ev["current_rows"] == args.rows and ev["reference_rows"] == len(train_rows)

    # Per feature, side by side.
    log_report = results["SQLite"][0]
    print()
    print(f"Per feature: {args.rows:,} current rows against {len(train_rows)} training rows")
    head = ("feature", "cairn PSI", "cairn KS p (x4)", "cairn", "Evidently test", "value", "Evidently")
    cells = [head]
    for f in log_report["features"]:
        e = ev["columns"][f["feature"]]
        cells.append((f["feature"], f"{f['psi']:.4f}", f"{f['ks_pvalue']:.3g}", f["status"],
                      e["method"].replace(" p_value", f" p < {e['threshold']}"), f"{e['value']:.3g}",
                      "drift" if e["drift"] else "ok"))
    print_table(cells)

    flagged = {"cairn drift, SQLite log": log_report["drifted"], "cairn drift, CSV files": file_report["drifted"]}
    if "PostgreSQL" in results:
        flagged["cairn drift, PostgreSQL log"] = results["PostgreSQL"][0]["drifted"]
    flagged[f"Evidently {ev['version']}"] = ev["drifted"]
    same = len({tuple(v) for v in flagged.values()}) == 1
    print()
    for k, v in flagged.items():
        print(f"  flagged by {k}: {', '.join(v) or 'none'}")
    print(f"  same flagged features: {'yes' if same else 'NO'}")

    ev_total = ev["load_s"] + ev["run_median_s"]
    print()
    print(f"Summary: drift over {args.rows:,} predictions (cairn: whole processes, medians of {args.runs}; "
          f"Evidently: in-process after import, medians of {len(ev['run_s'])})")
    rows_out = [("case", "time", "vs cairn CSV files", "peak MiB", "flagged")]
    for name in results:
        report, s, rss = results[name]
        rows_out.append((f"cairn drift --log-db, {name}", fmt_s(s), f"{s / file_s:.1f}x", f"{rss:.0f}",
                         ", ".join(report["drifted"])))
    rows_out.append(("cairn drift --reference/--current CSV", fmt_s(file_s), "1.0x", f"{file_rss:.0f}",
                     ", ".join(file_report["drifted"])))
    rows_out.append(("Evidently: load CSVs (pandas)", fmt_s(ev["load_s"]), f"{ev['load_s'] / file_s:.1f}x", "", ""))
    rows_out.append(("Evidently: DataDriftPreset report", fmt_s(ev["run_median_s"]),
                     f"{ev['run_median_s'] / file_s:.1f}x", "", ", ".join(ev["drifted"])))
    rows_out.append(("Evidently: load + report", fmt_s(ev_total), f"{ev_total / file_s:.1f}x",
                     f"{ev['peak_mib']:.0f}", ", ".join(ev["drifted"])))
    print_table(rows_out)
    print()
    sqlite_s = results["SQLite"][1]
    print(f"  cairn drift over {args.rows:,} logged predictions (SQLite) under 1 s: "
          f"{'yes' if sqlite_s < 1 else 'NO'} ({fmt_s(sqlite_s)})")
    if "PostgreSQL" in results:
        pg_s = results["PostgreSQL"][1]
        print(f"  the same from PostgreSQL under 1 s: {'yes' if pg_s < 1 else 'NO'} ({fmt_s(pg_s)})")
    print(f"  Evidently {ev['version']} (pandas {ev['pandas']}; import {fmt_s(ev['import_s'])}, not counted): "
          f"report alone {ev['run_median_s'] / file_s:.1f}x cairn's CSV mode, "
          f"load + report {ev_total / file_s:.1f}x; report alone {ev['run_median_s'] / sqlite_s:.1f}x cairn on the SQLite log")
    methods = sorted({c["method"] for c in ev["columns"].values()})
    print(f"  Evidently chose {', '.join(methods)} (its default for a numeric column with a reference of "
          f"{'at most' if len(train_rows) <= 1000 else 'more than'} 1000 rows), no correction for 4 tests; "
          f"cairn flags PSI >= 0.2 or a Bonferroni-corrected KS p < 0.05")


def print_table(cells):
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(cells[0]))]
    for i, r in enumerate(cells):
        print("  ".join(str(c).ljust(w) if j == 0 else str(c).rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
